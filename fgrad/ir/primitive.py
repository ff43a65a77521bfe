"""Primitives and `bind`: a primitive hands itself to the *current interpreter*.

There are two interpreters: evaluation on concrete numpy values (the default, at the bottom of
the stack) and tracing, which records equations into a Program. Transforms are Program -> Program
functions; running a derived program binds its equations again, so inside an outer trace it is
traced inline (that is how nested transforms compose).
"""
from __future__ import annotations

import threading

from fgrad.ir.core import Params, TracerBase

class _Missing:
    """The value of a rule slot nobody filled. Distinct from None, which in a per-input rule tuple means
    "this input's derivative is zero", declared on purpose."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


class Primitive:
    """One primitive with all its rules (see fgrad/ops for the blocks that declare them).

    Rule signatures (params are keyword-only):
      shape_rule(*in_types, **params) -> ArrayType            (a tuple of them if multiple_results)
      impl(*arrays, **params) -> np.ndarray                    numpy reference semantics
      jvp: per-input tuple of (x_dot, out, *primals, **params) -> out_dot, None for a zero derivative;
           or for variadic primitives a function (i, x_dot, out, *primals, **params) -> out_dot
      vjp: per-input tuple of (out_ct, out, *primals, **params) -> in_ct, None for a zero derivative;
           or for variadic primitives a function (i, out_ct, out, *primals, **params) -> in_ct
      batch(args, dims, **params) -> (out, out_dim)
      numba: the emitter the Numba codegen looks up: a scalar template ("np.sin({0})"), a callable
             (args, **params) -> str, ((dtype kind, template), ...) chosen by the inputs' kind, or a tag
    """

    def __init__(self, name, *, shape_rule, impl, jvp=MISSING, vjp=MISSING, batch=MISSING,
                 numba=MISSING, multiple_results=False):
        self.name = name
        self.shape_rule = shape_rule
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        self.batch = batch
        self.numba = numba
        self.multiple_results = multiple_results
        REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"{self.name}_p"

    def bind(self, *args, **params):
        """Apply the primitive through the current interpreter."""
        return _state.stack[-1].process(self, args, Params(params))

    def jvp_rule(self, i: int):
        """The JVP rule for input `i`, None if its derivative is declared zero."""
        return _rule_for(self, self.jvp, i, "JVP")

    def vjp_rule(self, i: int):
        """The VJP rule for input `i`, None if its derivative is declared zero."""
        return _rule_for(self, self.vjp, i, "VJP")


REGISTRY: dict[str, Primitive] = {}


class MissingRuleError(NotImplementedError):
    pass


def _rule_for(prim, rules, i, kind):
    if rules is MISSING:
        raise MissingRuleError(f"primitive '{prim.name}' has no {kind} rule; add it to the block that declares "
                               f"{prim.name}_p in fgrad/ops")
    if isinstance(rules, tuple):
        return rules[i]
    return lambda *args, **params: rules(i, *args, **params)


# ---- the interpreter stack -------------------------------------------------------------------

class EvalInterpreter:
    """The bottom of the stack: apply each primitive's numpy implementation."""
    alive = True

    def process(self, prim, args, params):
        for a in args:
            if isinstance(a, TracerBase):
                from fgrad.ir.errors import EscapedTracerError
                raise EscapedTracerError(a)
        return prim.impl(*args, **params)


class _State(threading.local):
    def __init__(self):
        self.stack = [EvalInterpreter()]


_state = _State()


def current_interpreter():
    return _state.stack[-1]


def push_interpreter(interp):
    _state.stack.append(interp)


def pop_interpreter(interp):
    popped = _state.stack.pop()
    assert popped is interp, "interpreter stack out of order"


def interpreter_depth() -> int:
    return len(_state.stack)
