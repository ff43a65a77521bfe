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


# What a primitive is, for the passes that treat families alike (see `Primitive`).
KINDS = {
    "elementwise": "one scalar function per element of equal-shaped inputs; `numba` is its scalar template",
    "index": "each output element is an input element at a computed index, or a static fill value "
             "(views, slices, gathers, iota); `numba` names the index arithmetic the codegen applies",
    "reduction": "folds the elements of `axes` of its input into one accumulator; `numba` names the fold",
    "call": "code of its own over whole arrays (BLAS, scans, sorts, scatters); `numba` names or writes it",
    "custom": "holds a primal Program in params['primal'] that backends inline (custom_vjp, custom_jvp)",
    "control": "holds sub-Programs in its params (cond, while, scan)",
}

# Every trait a block declares, with its meaning. A trait left undeclared (MISSING) fails the registry test.
TRAITS = {
    "commutative": "swapping the two inputs gives the same bits (add, mul, eq, ne; not maximum: signed zeros)",
    "linear_in": "the input positions in which the primitive is jointly linear with the others held fixed, or "
                 "'all' (a variadic primitive linear in all its inputs); mul is bilinear, not jointly linear: ()",
    "expensive": "costs far more than an add (exp, sin, ...): the codegen stores it once rather than "
                 "recomputing it at another index",
    "vector_math": "the name of its branch-free vectorisable form in fgrad.backend.vecmath, or None",
    "simplify": "its algebraic identities, rule(s, inputs, params, out_type) -> atom | Rewrite | None, or None",
    "copies_input": "every output element is an element of input 0, bit for bit (a uniform input gives a "
                    "uniform output of that value)",
    "distributes_over_add": "f(a) + f(b) == f(a + b) bit for bit (with the other inputs and params equal): "
                            "output elements are input 0's elements, moved, or the static +0.0 fill",
    "keeps_order": "only the shape changes; the elements keep their row-major order (a reshape)",
    "aliases_input": "the numpy impl may return a view of input 0 (sharing its memory)",
}

# The implementation variants a block may declare (`impl_variants`), with what they reproduce.
IMPL_VARIANTS = {
    "torch": "PyTorch's CPU kernels' rounding order (the PyTorch facade runs its programs with it)",
}


class Primitive:
    """One primitive with all its rules and traits; see fgrad/ops for the blocks that declare them.

    Rule signatures (params are keyword-only):
      shape_rule(*in_types, **params) -> ArrayType            (a tuple of them if multiple_results)
      impl(*arrays, **params) -> np.ndarray                    numpy reference semantics
      jvp: per-input tuple of (x_dot, out, *primals, **params) -> out_dot, None for a zero derivative;
           or for variadic primitives a function (i, x_dot, out, *primals, **params) -> out_dot
      vjp: per-input tuple of (out_ct, out, *primals, **params) -> in_ct, None for a zero derivative;
           or for variadic primitives a function (i, out_ct, out, *primals, **params) -> in_ct
      batch(args, dims, **params) -> (out, out_dim): `dims[i]` is the batch axis of args[i] or None;
           called only when some input is batched. Written with fgrad ops, so batched programs are programs.
      A primitive with several results has joint rules instead: jvp(primals, tangents, **params) -> (outs,
      out_dots); vjp(cts, outs, primals, needs, **params) -> in_cts (needs[i]: does input i want one). It may
      declare `vjp_fwd(primals, needs, **params) -> (outs, residuals)`: reverse mode then runs it in the
      forward sweep and hands `residuals=` to its vjp (a loop records what its reverse sweep reads).
      numba: the emitter the Numba codegen looks up (what it is depends on `kind`, see KINDS)
    `kind` is one of KINDS; the traits (TRAITS) are keyword arguments, declared in every block (the op
    families in fgrad/ops fill the ones their family shares).

    `effectful=True` marks a primitive run for what it does, not for a value (fgrad.debug's callback): it has
    no outputs, and the passes keep it where dead code would go (simplify, the residual split, codegen keeps
    effects in program order).

    `impl_variants` (optional, {} by default) maps a variant name (one of IMPL_VARIANTS) to another numpy
    implementation with the impl's signature, shapes and dtypes that rounds like some other system, e.g.
    {"torch": torch_sum}: reduce_sum adding in torch.sum's order. A backend asks for a variant by name
    (`impl_for`); a primitive without that variant runs its impl. The registry test runs every variant
    against the impl on the primitive's samples.
    """

    def __init__(self, name, *, kind, shape_rule, impl, jvp=MISSING, vjp=MISSING, batch=MISSING,
                 numba=MISSING, multiple_results=False, vjp_fwd=None, impl_variants=None, effectful=False,
                 **traits):
        if kind not in KINDS:
            raise ValueError(f"primitive '{name}': kind {kind!r} is not one of {sorted(KINDS)}")
        unknown = set(traits) - set(TRAITS)
        if unknown:
            raise TypeError(f"primitive '{name}': unknown traits {sorted(unknown)}; the traits are {sorted(TRAITS)}")
        unknown = set(impl_variants or ()) - set(IMPL_VARIANTS)
        if unknown:
            raise TypeError(f"primitive '{name}': unknown implementation variants {sorted(unknown)}; the variants "
                            f"are {sorted(IMPL_VARIANTS)} (fgrad.ir.primitive.IMPL_VARIANTS says what each means)")
        self.name = name
        self.kind = kind
        self.shape_rule = shape_rule
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        self.batch = batch
        self.numba = numba
        self.multiple_results = multiple_results
        self.effectful = effectful
        self.vjp_fwd = vjp_fwd
        self.impl_variants = dict(impl_variants or {})
        for trait in TRAITS:
            setattr(self, trait, traits.get(trait, MISSING))
        REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"{self.name}_p"

    def bind(self, *args, **params):
        """Apply the primitive through the current interpreter."""
        return _state.stack[-1].process(self, args, Params(params))

    def impl_for(self, variant):
        """The numpy implementation of `variant` (a name from `impl_variants`), or `impl` when this primitive
        declares no such variant or `variant` is None.

        >>> from fgrad.ops import reduce_sum_p, sin_p
        >>> reduce_sum_p.impl_for("torch") is not reduce_sum_p.impl, sin_p.impl_for("torch") is sin_p.impl
        (True, True)
        """
        return self.impl_variants.get(variant, self.impl) if variant is not None else self.impl

    def jvp_rule(self, i: int):
        """The JVP rule for input `i`, None if its derivative is declared zero."""
        return _rule_for(self, self.jvp, i, "JVP")

    def vjp_rule(self, i: int):
        """The VJP rule for input `i`, None if its derivative is declared zero."""
        return _rule_for(self, self.vjp, i, "VJP")

    def undeclared(self) -> list:
        """The rule slots and traits this primitive's block left undeclared (empty for a complete block)."""
        slots = ["jvp", "vjp", "batch", "numba"] + list(TRAITS)
        return [s for s in slots if getattr(self, s) is MISSING]


def primitives_where(**facts) -> frozenset:
    """The names of the registered primitives whose traits (or kind) have these values, e.g.
    `primitives_where(kind="elementwise")`: how passes derive their sets from the blocks."""
    return frozenset(name for name, p in REGISTRY.items() if all(getattr(p, k) == v for k, v in facts.items()))


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
