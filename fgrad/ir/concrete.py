"""Concrete values of tracers, for the eager transforms (grad, vjp, jvp, jacobians outside jit).

A trace started by an eager transform knows the values its inputs have on this call. Python control flow on
a tracer (`if x < 3`, `while y < 100`, `float(x)`, `range(n)`) asks for the tracer's value; `ConcreteValues`
computes it then, on demand, by running the numpy `impl` of just the equations it depends on (memoised), so
a function that never asks costs nothing extra. The derivative program is then specialised to the path this
call took, as in JAX.

A value is unknown (None) when it depends on a value no one knows: an input or capture from an abstract
trace (jit, make_ir, vmap, lax control flow bodies), or any tracer while `abstract_values()` is in force (a
jitted function traced inline by an outer transform keeps jit's semantics). Unknown values make the
conversion raise the usual TracerConversionError.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from fgrad.ir.core import Literal, TracerBase, Var
from fgrad.ir.primitive import EvalInterpreter, interpreter_depth, pop_interpreter, push_interpreter


class _Hidden(threading.local):
    def __init__(self):
        self.depth = 0          # traces at interpreter depth <= this have no concrete values


_hidden = _Hidden()


@contextmanager
def abstract_values():
    """Within this block the tracers of the traces running now have no concrete values (traces started inside
    it still have theirs): how `jit` keeps its abstract semantics when an outer transform traces it inline."""
    saved = _hidden.depth
    _hidden.depth = interpreter_depth()
    try:
        yield
    finally:
        _hidden.depth = saved


def values_hidden(depth: int) -> bool:
    """Whether a trace pushed at interpreter depth `depth` is inside an `abstract_values()` block."""
    return depth <= _hidden.depth


class ConcreteValues:
    """The values of one trace's variables on this call, computed when first asked for.

    `sources` gives each input Var its value: a numpy array or Python scalar, or a tracer of an enclosing
    trace (whose value is asked for in turn). Captured outer tracers are sources too, found in the trace's
    `captures`. Equations are found through the trace's `equations` list, indexed only when a value is asked.
    """

    def __init__(self, trace, sources: dict):
        self.trace = trace
        self.sources = sources
        self.known = {}          # Var -> np.ndarray, or None for a value that depends on an unknown one
        self.producers = {}      # Var -> the Equation computing it (filled lazily, see `_index`)
        self.indexed = 0         # how many of trace.equations `producers` covers
        self.captures_indexed = 0

    def value_of(self, target: Var):
        """The numpy value of `target`, or None if it is not known on this call."""
        self._index()
        stack = [target]
        while stack:
            var = stack[-1]
            if var in self.known:
                stack.pop()
                continue
            eqn = self.producers.get(var)
            if eqn is None:
                self.known[var] = self._source_value(var)
                stack.pop()
                continue
            pending = [a for a in eqn.inputs if type(a) is Var and a not in self.known]
            if pending:
                stack.extend(pending)
                continue
            self._evaluate(eqn)
            stack.pop()
        return self.known[target]

    def _index(self):
        equations = self.trace.equations
        for eqn in equations[self.indexed:]:
            for v in eqn.outputs:
                self.producers[v] = eqn
        self.indexed = len(equations)
        captures = self.trace.captures
        if len(captures) != self.captures_indexed:
            for outer, var in captures.values():
                self.sources.setdefault(var, outer)
            self.captures_indexed = len(captures)

    def _source_value(self, var: Var):
        source = self.sources.get(var)
        if source is None:
            return None
        if isinstance(source, TracerBase):
            return concrete_value_of(source)
        return np.asarray(source)

    def _evaluate(self, eqn):
        args = [a.value if type(a) is Literal else self.known[a] for a in eqn.inputs]
        if any(a is None for a in args):
            self.known.update((v, None) for v in eqn.outputs)
            return
        # Rules that run sub-programs (custom calls, control flow) bind through the current interpreter,
        # which here is the trace itself: evaluate under a fresh eval interpreter so nothing is recorded.
        interp = EvalInterpreter()
        push_interpreter(interp)
        try:
            out = eqn.prim.impl(*args, **eqn.params)
        finally:
            pop_interpreter(interp)
        outs = out if eqn.prim.multiple_results else [out]
        self.known.update((v, np.asarray(x)) for v, x in zip(eqn.outputs, outs))


def concrete_value_of(tracer):
    """The concrete numpy value of `tracer` on this call, or None if it has none (an abstract trace, a trace
    that ended, or a jitted function traced inline)."""
    trace = tracer.owner
    values = getattr(trace, "concrete", None)
    if values is None or not trace.alive or values_hidden(trace.depth):
        return None
    return values.value_of(tracer.ir_var)
