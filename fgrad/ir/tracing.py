"""The two interpreters: evaluation on numpy values, and tracing into a Program.

Tracing follows the current-interpreter discipline: while a function is traced, the trace is on top of
the interpreter stack and every `bind` records an equation. A tracer from an enclosing (still running)
trace becomes an extra input of the inner program, its *capture*; a tracer whose trace has ended
raises EscapedTracerError. The traces of the eager transforms are *concrete*: Python asking a tracer for its
value (`if x < 3`) gets this call's value, computed on demand (fgrad.ir.concrete).
"""
from __future__ import annotations

import operator
import threading
from contextlib import contextmanager

import numpy as np

from fgrad.ir import pytree
from fgrad.ir.concrete import ConcreteValues, concrete_value_of
from fgrad.ir.core import Equation, Literal, Program, TracerBase, Var, typeof
from fgrad.ir.errors import EscapedTracerError, TracerConversionError
from fgrad.ir.source import equation_source, restored_source, set_current_source
from fgrad.ir.primitive import (EvalInterpreter, current_interpreter, interpreter_depth, pop_interpreter,
                                push_interpreter)
from fgrad.ir.types import ArrayType, canonical_dtype


class Tracer(TracerBase):
    """A value inside a trace. Array methods and operators are installed by fgrad.numpy."""
    # Not "trace" and "var": x.trace() and x.var() are numpy's methods. `owner` is the trace that made it.
    # `weak`: the tracer stands for a Python scalar argument, which promotes as a Python scalar does (weakly).
    __slots__ = ("owner", "ir_var", "weak", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, trace, var: Var, weak: bool = False):
        self.owner = trace
        self.ir_var = var
        self.weak = weak

    type = property(lambda self: self.ir_var.type)
    shape = property(lambda self: self.ir_var.type.shape)
    dtype = property(lambda self: self.ir_var.type.dtype)
    ndim = property(lambda self: len(self.ir_var.type.shape))
    size = property(lambda self: self.ir_var.type.size)

    def __repr__(self) -> str:
        return f"Tracer({self.ir_var.type})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def conversion_error(self, what: str) -> Exception:
        """The error for `what` asking for this tracer's concrete value: it has none while its trace runs, and
        a tracer whose trace has ended has escaped (which is the thing to fix)."""
        if not self.owner.alive:
            return EscapedTracerError(self)
        return TracerConversionError(self, what)

    def concrete(self, what: str):
        """This tracer's numpy value on this call, for Python code that needs one (`what` it asked for): known
        under the eager transforms (grad, vjp, jvp, jacobians; see fgrad.ir.concrete), otherwise the
        conversion error naming the alternatives."""
        value = concrete_value_of(self)
        if value is None:
            raise self.conversion_error(what)
        return value

    def __bool__(self):
        return bool(self.concrete("bool() (an `if`, `while`, `and`/`or` or `assert` on the value)"))

    def __float__(self):
        return float(self.concrete("float()"))

    def __int__(self):
        return int(self.concrete("int()"))

    def __index__(self):
        return operator.index(self.concrete(
            "an integer conversion (`__index__`, e.g. using it as a Python index or in range(); to pick elements "
            "by a traced index use fnp.take(a, i, axis=0))")[()])

    def __complex__(self):
        return complex(self.concrete("complex()"))

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        return format(self.concrete(f"format() with the spec {spec!r} (e.g. f'{{x:{spec}}}')")[()], spec)

    def __array__(self, dtype=None, copy=None):
        if not self.owner.alive:
            raise EscapedTracerError(self)
        raise TypeError(f"{self!r} is a traced value and cannot become a numpy array (np.asarray, np.array). "
                        "Use the fgrad.numpy (fnp) function instead of the numpy one inside traced functions; to "
                        "index a numpy array W by a traced index i, write fnp.take(W, i, axis=0).")

    def __setitem__(self, index, value):
        raise TypeError("fgrad arrays are immutable: item assignment on a traced value is not supported. "
                        "Use x = x.at[index].set(value) (or .add / .multiply) instead.")


_sweep = threading.local()     # .name: the `sweep` traced Vars are marked with (see reverse_sweep)


@contextmanager
def reverse_sweep():
    """Inside this block, Vars that traces create are marked `sweep="reverse"` (reverse mode's backward walk
    runs in it), so a picture of an adjoint program can colour its two halves. Per thread."""
    before = getattr(_sweep, "name", None)
    _sweep.name = "reverse"
    try:
        yield
    finally:
        _sweep.name = before


class TraceInterpreter:
    """Records every bound primitive as an Equation.

    `concrete` is None for an abstract trace (jit, make_ir), or for a trace of an eager transform the
    ConcreteValues that compute its tracers' values on demand; `depth` is its place on the interpreter stack.
    """

    def __init__(self, concrete: bool = False):
        self.inputs = []
        self.equations = []
        self.captures = {}      # id(outer tracer) -> (outer tracer, Var)
        self.constants = {}     # id(array) -> (array, Literal)
        self.alive = True
        self.concrete = ConcreteValues(self, {}) if concrete else None
        self.depth = interpreter_depth() + 1

    def new_input(self, type: ArrayType, weak: bool = False, value=None) -> Tracer:
        """A new input; `value` (an array, a scalar or an outer tracer) is its value on this call, for a
        concrete trace."""
        v = Var(type)
        self.inputs.append(v)
        if self.concrete is not None and value is not None:
            self.concrete.sources[v] = value
        return Tracer(self, v, weak)

    def to_atom(self, x):
        if type(x) is Tracer:
            if x.owner is self:
                return x.ir_var
            if not x.owner.alive:
                raise EscapedTracerError(x)
            return self._capture(x)
        return self._constant(x)

    def _capture(self, outer: Tracer) -> Var:
        hit = self.captures.get(id(outer))
        if hit is None:
            hit = self.captures[id(outer)] = (outer, Var(outer.ir_var.type))
        return hit[1]

    def _constant(self, x) -> Literal:
        hit = self.constants.get(id(x))
        if hit is None:
            value = np.asarray(x)
            canonical_dtype(value.dtype)
            hit = self.constants[id(x)] = (x, Literal(value))   # keep x alive so its id stays unique
        return hit[1]

    def process(self, prim, args, params):
        in_atoms = tuple([self.to_atom(a) for a in args])
        out_type = prim.shape_rule(*[a.type for a in in_atoms], **params)
        sweep = getattr(_sweep, "name", None)
        if prim.multiple_results:
            outs = tuple(Var(t, sweep=sweep) for t in out_type)
            self.equations.append(Equation(prim, in_atoms, params, outs, equation_source()))
            return [Tracer(self, v) for v in outs]
        out = Var(out_type, sweep=sweep)
        self.equations.append(Equation(prim, in_atoms, params, (out,), equation_source()))
        return Tracer(self, out)


def trace_flat(fun, in_types, weak=(), values=None) -> tuple[Program, list]:
    """Trace `fun(*tracers) -> list of outputs` into a Program.

    Returns the program and its captured values: the program's inputs are the `in_types` inputs followed
    by one input per captured outer tracer; call it with `eval_program(program, *args, *captured)`.
    `weak[i]` marks input i as standing for a Python scalar (see `is_weak`). `values` (the eager transforms)
    are the inputs' values on this call: the tracers then have concrete values for Python control flow.
    """
    trace = TraceInterpreter(concrete=values is not None)
    push_interpreter(trace)
    try:
        weak = list(weak) + [False] * (len(in_types) - len(weak))
        values = [None] * len(in_types) if values is None else values
        tracers = [trace.new_input(t, w, v) for t, w, v in zip(in_types, weak, values)]
        outs = fun(*tracers)
        out_atoms = tuple(trace.to_atom(_as_output(o)) for o in outs)
    finally:
        pop_interpreter(trace)
        trace.alive = False
    captured = [outer for outer, _ in trace.captures.values()]
    capture_vars = [v for _, v in trace.captures.values()]
    program = Program(tuple(trace.inputs + capture_vars), tuple(trace.equations), out_atoms)
    return program, captured


def _as_output(x):
    if type(x) is Tracer or isinstance(x, np.ndarray):
        return x
    if isinstance(x, (bool, int, float, np.generic)):
        return np.asarray(x)
    raise TypeError(f"a traced function returned {type(x).__name__} {x!r}; outputs must be arrays, scalars, "
                    "or pytrees (tuples, lists, dicts, namedtuples) of them")


def trace_pytree(fun, args, kwargs=None, static_argnums=(), concrete=False):
    """Trace `fun(*args)` where args and the result are pytrees of arrays and scalars.

    Static arguments are passed through unchanged. Returns (program, captured, out_tree); the program's
    inputs are the leaves of the non-static args (then the captures), its outputs the result's leaves.
    `concrete=True` (the eager transforms) gives the tracers the values of `args` for Python control flow.
    """
    kwargs = kwargs or {}
    static_argnums = tuple(i % len(args) for i in static_argnums) if args else ()
    dynamic = [a for i, a in enumerate(args) if i not in static_argnums]
    leaves, in_tree = pytree.tree_flatten((dynamic, kwargs))
    out_tree_box = []

    def flat_fun(*tracers):
        dyn, kw = pytree.tree_unflatten(in_tree, tracers)
        it = iter(dyn)
        full = [a if i in static_argnums else next(it) for i, a in enumerate(args)]
        result = fun(*full, **kw)
        out_leaves, out_tree = pytree.tree_flatten(result)
        out_tree_box.append(out_tree)
        return out_leaves

    program, captured = trace_flat(flat_fun, input_types(fun, args, kwargs, static_argnums, leaves),
                                   [is_weak(x) for x in leaves], leaves if concrete else None)
    return program, captured, out_tree_box[0], leaves


def is_weak(x) -> bool:
    """Whether `x` promotes as a Python scalar does: by kind only, so a float32 array times it stays float32.
    Python scalars are weak, and so are the tracers that stand for them when a function is traced on them."""
    return type(x) in (bool, int, float) or (type(x) is Tracer and x.weak)


def input_types(fun, args, kwargs, static_argnums, leaves) -> list:
    """The ArrayType of each input leaf, or a TypeError naming the argument that holds a value fgrad cannot trace."""
    try:
        return [typeof(x) for x in leaves]
    except TypeError:
        pass
    partial_hint = "bind it with functools.partial(fun, ...)"
    static_hint = f"mark it static with static_argnums=... (make_ir, jit) or {partial_hint}"
    named = [(f"argument {i}", a, static_hint) for i, a in enumerate(args) if i not in static_argnums]
    named += [(f"keyword argument {k!r}", v, partial_hint) for k, v in kwargs.items()]
    for where, arg, hint in named:
        for leaf in pytree.tree_leaves(arg):
            try:
                typeof(leaf)
            except TypeError as e:
                name = getattr(fun, "__name__", None) or type(fun).__name__
                part = "" if leaf is arg else " (a leaf of it)"
                raise TypeError(
                    f"{where} of {name}{part} is {type(leaf).__name__} {_short_repr(leaf)}, which fgrad cannot trace "
                    f"({e}). Traced arguments are arrays, Python scalars, or pytrees (tuples, lists, dicts, "
                    f"namedtuples) of them: for a Python value that steers the computation, {hint}; for a container, "
                    "register its type with fgrad.tree_util.register_pytree_node") from None
    raise AssertionError("unreachable: some input leaf failed to type")


def _short_repr(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def eval_program(program: Program, *args):
    """Run `program` by binding each equation in the current interpreter (inline when tracing).

    Returns the list of outputs. Traced inline, the new Vars keep the name hints of the program's.
    """
    env = dict(zip(program.inputs, args))

    def read(atom):
        return atom.value if type(atom) is Literal else env[atom]

    evaluating = type(current_interpreter()) is EvalInterpreter     # no Vars to name: skip the hints
    with restored_source():        # each equation bound keeps its own source (see fgrad.ir.source)
        for eqn in program.equations:
            set_current_source(eqn.source)
            out = eqn.prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
            if eqn.prim.multiple_results:
                env.update(zip(eqn.outputs, out))
            else:
                env[eqn.outputs[0]] = out
            if not evaluating:
                keep_reader_marks(eqn.outputs, out if eqn.prim.multiple_results else (out,), env)
    return [read(v) for v in program.outputs]


def keep_reader_marks(program_vars, values, env) -> None:
    """Carry the name hints and sweep marks of a program's Vars over to the tracers replaying them."""
    for v, x in zip(program_vars, values):
        if v.hint is not None and v.hint[1] in env:
            name_hint(x, v.hint[0], env[v.hint[1]])
        if v.sweep is not None and type(x) is Tracer and x.ir_var.sweep is None:
            x.ir_var.sweep = v.sweep


def name_hint(x, suffix: str, of) -> None:
    """Let the printer name tracer `x` after tracer `of` (e.g. `a_ct` for the cotangent of `a`), if both
    belong to one trace and `x` has no hint yet. Anything else (a constant, another trace's value) is left
    as it is: hints only help the reader."""
    if type(x) is Tracer and type(of) is Tracer and x.owner is of.owner and x is not of and x.ir_var.hint is None:
        x.ir_var.hint = (suffix, of.ir_var)
