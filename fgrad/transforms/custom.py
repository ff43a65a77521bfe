"""User-defined derivative rules: `custom_vjp` and `custom_jvp`.

Calling a decorated function traces its primal into a Program and binds a call primitive holding it
(`custom_vjp_call` / `custom_jvp_call`). The impl evaluates the primal; the rules call the user's:
- custom_vjp under reverse mode runs the user's fwd and bwd. Under forward mode (which JAX refuses)
  fgrad differentiates the primal program itself, since a VJP rule says nothing about JVPs.
- custom_jvp under forward mode runs the user's rule. Under reverse mode it takes the VJP of the
  rule's tangent map t -> jvp_rule(primals, t)[1] at t = 0: that map is linear, so its VJP is its
  transpose, which is what reverse mode needs.
These primitives live here, not in fgrad/ops, because their rules run the jvp and vjp transforms.
"""
from __future__ import annotations

import functools
import inspect

from fgrad.ir import Literal, MissingRuleError, Primitive, eval_program, is_float, pytree, trace_flat
from fgrad.ir.tracing import is_weak
from fgrad.ops.base import batch_size, is_tracer, typeof
from fgrad.ops.core import batch_to_front
from fgrad.ops.elementwise import cast
from fgrad.transforms.jvp import instantiate, jvp_eval, zeros_of
from fgrad.transforms.simplify import simplify
from fgrad.transforms.vjp import vjp_eval
from fgrad.transforms.vmap import batch_program, vmap

__all__ = ["custom_vjp", "custom_jvp", "custom_vjp_call_p", "custom_jvp_call_p"]


class UserFunction:
    """A user's function in equation params: hashes and compares by identity, prints by its name
    (so program text stays stable across processes)."""
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __eq__(self, other) -> bool:
        return type(other) is UserFunction and other.fn is self.fn

    def __hash__(self) -> int:
        return hash(id(self.fn))

    def __repr__(self) -> str:
        return getattr(self.fn, "__name__", None) or type(self.fn).__name__


class Static:
    """A nondiff argument in equation params: hashes by value when it can, else by identity."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def _key(self):
        try:
            hash(self.value)
            return (True, self.value)
        except TypeError:
            return (False, id(self.value))

    def __eq__(self, other) -> bool:
        return type(other) is Static and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return describe_static(self.value)


def describe_static(value) -> str:
    """Stable text for a static value in program text: no memory addresses, which would differ between runs."""
    if isinstance(value, (bool, int, float, str, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe_static(v) for v in value) + ("," if len(value) == 1 and type(value) is tuple else "")
        return f"({inner})" if type(value) is tuple else f"[{inner}]"
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type(value).__name__
    return f"<{type(value).__name__}>"


# ---- the shared shape of both call primitives -------------------------------------------------------

def _call_type(*in_types, primal, **params):
    if tuple(in_types) != primal.in_types:
        raise TypeError(f"custom call inputs {in_types} do not match its primal program's {primal.in_types}")
    return primal.out_types


def _call_impl(*args, primal, **params):
    return eval_program(primal, *args)


def full_args(nondiff, diff_args) -> list:
    """The user's argument list: the diff args with the static nondiff args put back at their positions."""
    args = list(diff_args)
    for i, static in nondiff:
        args.insert(i, static.value)
    return args


def static_values(nondiff) -> list:
    return [static.value for _, static in nondiff]


def split_consts(primals, num_consts):
    n = len(primals) - num_consts
    return list(primals[:n]), list(primals[n:])


def refuse_differentiated_closure(fun, kind, differentiated):
    if any(differentiated):
        raise TypeError(f"{kind} function {fun!r} closes over a traced value that an enclosing transform is "
                        "differentiating, and its custom rule cannot say how the output depends on it. Pass that "
                        f"value to {fun!r} as an explicit argument instead.")


def tree_leaves_like(what: str, tree, expected_tree, types) -> list:
    """`tree`'s leaves, checked against `expected_tree` and the shapes of `types`, cast to their dtypes;
    None (as a whole or as a leaf) is a zero."""
    if tree is None:
        return [None] * len(types)
    leaves, tree_def = pytree.tree_flatten(tree, is_leaf=lambda x: x is None)
    if tree_def != expected_tree:
        leaves, tree_def = pytree.tree_flatten(tree)
    if tree_def != expected_tree:
        raise TypeError(f"{what} must have the structure {expected_tree!r}, got {tree_def!r}")
    out = []
    for k, (leaf, t) in enumerate(zip(leaves, types)):
        if leaf is None:
            out.append(None)
            continue
        if typeof(leaf).shape != t.shape:
            raise TypeError(f"{what}: leaf {k} has shape {typeof(leaf).shape} but should have shape {t.shape} ({t})")
        out.append(cast(leaf, t.dtype))
    return out


def trace_primal(fun, args, nondiff_argnums):
    """Trace `fun(*args)` with the nondiff args static: (program, captured, diff leaves, in_tree, out_tree, nondiff)."""
    nondiff = tuple((i, Static(args[i])) for i in sorted(nondiff_argnums))
    for i, static in nondiff:
        if is_tracer(static.value):
            raise TypeError(f"argument {i} of {fun!r} is in nondiff_argnums but is a traced array; nondiff "
                            "arguments must be static Python values. Pass it as a regular argument (its "
                            "cotangent may be None)")
    diff_args = [a for i, a in enumerate(args) if i not in nondiff_argnums]
    leaves, in_tree = pytree.tree_flatten(diff_args)
    out_tree_box = []

    def flat_primal(*tracers):
        out = fun(*full_args(nondiff, pytree.tree_unflatten(in_tree, tracers)))
        out_leaves, out_tree = pytree.tree_flatten(out)
        out_tree_box.append(out_tree)
        return out_leaves

    program, captured = trace_flat(flat_primal, [typeof(x) for x in leaves], [is_weak(x) for x in leaves])
    return program, captured, leaves, in_tree, out_tree_box[0], nondiff


def positional_args(fun, args, kwargs) -> tuple:
    """Keyword arguments moved to their positions and defaults filled in (as JAX does), so nondiff_argnums and
    the rules see one argument list, the same whether or not the caller spelled out the defaults."""
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):      # no signature to read (some builtins): positional calls only
        if kwargs:
            raise
        return args
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(f"{fun!r}: custom_vjp/custom_jvp functions cannot take keyword-only arguments")
    return bound.args


# ---- custom_vjp ----------------------------------------------------------------------------------------

def _custom_vjp_jvp(primals, tangents, *, primal, fun, num_consts, **params):
    # A VJP rule defines reverse mode only; forward mode differentiates the primal program itself.
    refuse_differentiated_closure(fun, "custom_vjp", [t is not None for t in tangents[len(primals) - num_consts:]])
    outs = custom_vjp_call_p.bind(*primals, primal=primal, fun=fun, num_consts=num_consts, **params)
    try:
        _, out_dots = jvp_eval(primal, primals, tangents)
    except MissingRuleError as e:
        raise MissingRuleError(
            f"forward-mode differentiation (jvp, jacfwd, hessian) of custom_vjp function {fun!r}: a custom VJP "
            f"defines reverse mode only, so fgrad differentiates the computation of {fun!r} itself, but {e}. Give "
            f"{fun!r} a custom_jvp rule instead, or use reverse mode (grad, vjp, jacrev).") from e
    return outs, out_dots


def _custom_vjp_vjp(cts, outs, primals, needs, *, primal, fun, fwd, bwd, in_tree, out_tree, nondiff, num_consts):
    diff, _ = split_consts(primals, num_consts)
    refuse_differentiated_closure(fun, "custom_vjp", needs[len(diff):])
    diff_args = pytree.tree_unflatten(in_tree, diff)
    fwd_out = fwd(*full_args(nondiff, diff_args))
    if not isinstance(fwd_out, (tuple, list)) or len(fwd_out) != 2:
        raise TypeError(f"the fwd rule {fwd!r} of custom_vjp function {fun!r} must return a pair (output, "
                        f"residuals), got {type(fwd_out).__name__}")
    fwd_primal_tree = pytree.tree_structure(fwd_out[0])
    if fwd_primal_tree != out_tree:
        raise TypeError(f"the fwd rule {fwd!r} returned an output of structure {fwd_primal_tree!r}, but "
                        f"{fun!r} returns {out_tree!r}; they must match")
    out_ct = pytree.tree_unflatten(out_tree, [instantiate(ct, t) for ct, t in zip(cts, primal.out_types)])
    arg_cts = bwd(*static_values(nondiff), fwd_out[1], out_ct)
    if not isinstance(arg_cts, (tuple, list)) or len(arg_cts) != len(in_tree.children):
        raise TypeError(f"the bwd rule {bwd!r} of custom_vjp function {fun!r} must return a tuple with one "
                        f"cotangent per differentiable argument ({len(in_tree.children)}), got "
                        f"{type(arg_cts).__name__}" + (f" of length {len(arg_cts)}"
                                                       if isinstance(arg_cts, (tuple, list)) else ""))
    in_cts = []
    types = iter(primal.in_types)
    for k, (ct, arg_tree) in enumerate(zip(arg_cts, in_tree.children)):
        arg_types = [next(types) for _ in range(arg_tree.num_leaves)]
        in_cts += tree_leaves_like(f"cotangent {k} returned by the bwd rule {bwd!r}", ct, arg_tree, arg_types)
    return in_cts + [None] * num_consts


# ---- batching: the primal program and the user's rules are batched (the rules by vmap), as in JAX -------

def batched_call_args(fun, kind, args, dims, num_consts):
    """Every argument with its batch axis first (unbatched ones broadcast), and the batch size. A closed-over
    value that is batched cannot be, since the user's rules see it as a Python closure, not an argument."""
    if any(d is not None for d in dims[len(dims) - num_consts:]):
        raise TypeError(f"vmap of {kind} function {fun!r}: it closes over a value that vmap maps, and its custom "
                        f"rules see that value as a closure, not as an argument. Pass it to {fun!r} as an explicit "
                        "argument instead.")
    size = batch_size(args, dims)
    return [batch_to_front(a, d, size) for a, d in zip(args, dims)], size


def batched_primal(primal, size: int):
    program, captured = batch_program(primal, [0] * len(primal.inputs), size)
    assert not captured, "a batched program binds only its own inputs"
    return program


def diff_positions(nondiff) -> set:
    return {i for i, _ in nondiff}


def _custom_vjp_batch(args, dims, *, primal, fun, fwd, bwd, in_tree, out_tree, nondiff, num_consts):
    args, size = batched_call_args(fun, "custom_vjp", args, dims, num_consts)
    skip = diff_positions(nondiff)

    def batched_fwd(*full):
        diff = [a for i, a in enumerate(full) if i not in skip]
        return vmap(lambda *per_example: fwd(*full_args(nondiff, per_example)))(*diff)

    def batched_bwd(*static_and_rest):
        statics, residuals, out_ct = static_and_rest[:-2], static_and_rest[-2], static_and_rest[-1]
        return vmap(lambda res, ct: bwd(*statics, res, ct))(residuals, out_ct)

    batched_fwd.__name__ = f"vmap({fwd!r})"
    batched_bwd.__name__ = f"vmap({bwd!r})"
    outs = custom_vjp_call_p.bind(*args, primal=batched_primal(primal, size), fun=fun, fwd=UserFunction(batched_fwd),
                                  bwd=UserFunction(batched_bwd), in_tree=in_tree, out_tree=out_tree, nondiff=nondiff,
                                  num_consts=num_consts)
    return outs, [0] * len(outs)


# A call: backends inline its primal program. Its traits are those of an opaque computation.
_CALL_TRAITS = dict(commutative=False, linear_in=(), expensive=True, vector_math=None, simplify=None,
                    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)

custom_vjp_call_p = Primitive(
    "custom_vjp_call", kind="custom", shape_rule=_call_type, impl=_call_impl,
    jvp=_custom_vjp_jvp, vjp=_custom_vjp_vjp, batch=_custom_vjp_batch, numba="inline", multiple_results=True,
    **_CALL_TRAITS)


class custom_vjp:
    """A function with a user-defined VJP: decorate, then `f.defvjp(fwd, bwd)`.

    `fwd(*args) -> (out, residuals)`; `bwd(*nondiff_args, residuals, out_ct) -> tuple` with one cotangent
    (or None for zero) per differentiable argument. Forward mode differentiates `f` itself.

    >>> import fgrad, fgrad.numpy as fnp
    >>> @fgrad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    >>> fgrad.grad(lambda x: 3.0 * clip_gradient(x))(2.0)
    array(1.)
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(nondiff_argnums))
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd):
        """Set the rules: fwd(*args) -> (out, residuals); bwd(*nondiff_args, residuals, out_ct) -> tuple of cts."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.fun.__name__} has no rules; call "
                            f"{self.fun.__name__}.defvjp(fwd, bwd) before using it")
        args = positional_args(self.fun, args, kwargs)
        program, captured, leaves, in_tree, out_tree, nondiff = trace_primal(self.fun, args, self.nondiff_argnums)
        outs = custom_vjp_call_p.bind(*leaves, *captured, primal=program, fun=UserFunction(self.fun),
                                      fwd=UserFunction(self.fwd), bwd=UserFunction(self.bwd), in_tree=in_tree,
                                      out_tree=out_tree, nondiff=nondiff, num_consts=len(captured))
        return pytree.tree_unflatten(out_tree, outs)


# ---- custom_jvp ----------------------------------------------------------------------------------------

def call_jvp_rule(rule, fun, nondiff, in_tree, out_tree, primal, diff, tangents) -> list:
    """The user's rule on (primals, tangents) with zero tangents instantiated; the output tangent leaves."""
    in_types = primal.in_types[:len(diff)]
    tangents = [instantiate(t, ty) for t, ty in zip(tangents, in_types)]
    result = rule(*static_values(nondiff), tuple(pytree.tree_unflatten(in_tree, diff)),
                  tuple(pytree.tree_unflatten(in_tree, tangents)))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"the JVP rule {rule!r} of custom_jvp function {fun!r} must return a pair "
                        f"(primal_out, tangent_out), got {type(result).__name__}")
    out_dots = tree_leaves_like(f"the tangent output of the JVP rule {rule!r}", result[1], out_tree,
                                primal.out_types)
    return [instantiate(d, t) for d, t in zip(out_dots, primal.out_types)]


def _custom_jvp_jvp(primals, tangents, *, primal, fun, jvp, in_tree, out_tree, nondiff, num_consts):
    diff, _ = split_consts(primals, num_consts)
    refuse_differentiated_closure(fun, "custom_jvp", [t is not None for t in tangents[len(diff):]])
    outs = custom_jvp_call_p.bind(*primals, primal=primal, fun=fun, jvp=jvp, in_tree=in_tree, out_tree=out_tree,
                                  nondiff=nondiff, num_consts=num_consts)
    return outs, call_jvp_rule(jvp, fun, nondiff, in_tree, out_tree, primal, diff, tangents[:len(diff)])


def _custom_jvp_vjp(cts, outs, primals, needs, *, primal, fun, jvp, in_tree, out_tree, nondiff, num_consts):
    # The rule is linear in its tangents, so the VJP of the tangent map at t = 0 is its transpose. A VJP that
    # still reads the tangents shows a rule that is not linear: its VJP at 0 would be a wrong gradient.
    diff, _ = split_consts(primals, num_consts)
    refuse_differentiated_closure(fun, "custom_jvp", needs[len(diff):])
    tangent_types = list(primal.in_types[:len(diff)])

    def tangent_map(*tangents):
        return call_jvp_rule(jvp, fun, nondiff, in_tree, out_tree, primal, diff, tangents)

    program, captured = trace_flat(tangent_map, tangent_types)
    wrt = [i for i, t in enumerate(tangent_types) if is_float(t.dtype)]
    given = [i for i, ct in enumerate(cts) if ct is not None]

    def transpose(*args):
        tangents, ct_args = args[:len(tangent_types)], iter(args[len(tangent_types):])
        full_cts = [next(ct_args) if ct is not None else None for ct in cts]
        return vjp_eval(program, list(tangents) + captured, wrt, full_cts)[1]

    transposed, extra = trace_flat(transpose, tangent_types + [primal.out_types[i] for i in given])
    transposed = simplify(transposed)
    refuse_nonlinear_rule(jvp, fun, transposed, [transposed.inputs[i] for i in wrt])
    wrt_cts = eval_program(transposed, *[zeros_of(t) for t in tangent_types], *[cts[i] for i in given], *extra)
    in_cts = [None] * len(primals)
    for i, ct in zip(wrt, wrt_cts):
        in_cts[i] = ct
    return in_cts


def refuse_nonlinear_rule(rule, fun, transposed, tangent_vars):
    """A TypeError if the transposed tangent map `transposed` reads one of the tangents `tangent_vars`."""
    tangent_vars = set(tangent_vars)
    reads = [a for eqn in transposed.equations for a in eqn.inputs] + list(transposed.outputs)
    if any(type(a) is not Literal and a in tangent_vars for a in reads):
        raise TypeError(f"the JVP rule {rule!r} of custom_jvp function {fun!r} is not linear in its tangents, and "
                        "reverse mode (grad, vjp, jacrev) transposes it: its tangent output must be a linear function "
                        "of the input tangents, such as `g(x) * x_dot` (never `x_dot ** 2`, `abs(x_dot)` or a "
                        "branch on x_dot). Forward mode (jvp, jacfwd) runs the rule as it is.")


def _custom_jvp_batch(args, dims, *, primal, fun, jvp, in_tree, out_tree, nondiff, num_consts):
    args, size = batched_call_args(fun, "custom_jvp", args, dims, num_consts)

    def batched_rule(*statics_primals_tangents):
        statics, primals, tangents = (statics_primals_tangents[:-2], statics_primals_tangents[-2],
                                      statics_primals_tangents[-1])
        return vmap(lambda p, t: jvp(*statics, p, t))(primals, tangents)

    batched_rule.__name__ = f"vmap({jvp!r})"
    outs = custom_jvp_call_p.bind(*args, primal=batched_primal(primal, size), fun=fun, jvp=UserFunction(batched_rule),
                                  in_tree=in_tree, out_tree=out_tree, nondiff=nondiff, num_consts=num_consts)
    return outs, [0] * len(outs)


custom_jvp_call_p = Primitive(
    "custom_jvp_call", kind="custom", shape_rule=_call_type, impl=_call_impl,
    jvp=_custom_jvp_jvp, vjp=_custom_jvp_vjp, batch=_custom_jvp_batch, numba="inline", multiple_results=True,
    **_CALL_TRAITS)


class custom_jvp:
    """A function with a user-defined JVP: decorate, then `f.defjvp(rule)`.

    `rule(*nondiff_args, primals, tangents) -> (out, out_dot)`, primals and tangents being tuples of the
    differentiable arguments. Reverse mode transposes the rule, so it must be linear in the tangents.

    >>> import fgrad, fgrad.numpy as fnp
    >>> @fgrad.custom_jvp
    ... def log1pexp(x):
    ...     return fnp.log1p(fnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (x_dot,) = primals, tangents
    ...     return log1pexp(x), x_dot / (1.0 + fnp.exp(-x))
    >>> fgrad.grad(log1pexp)(1000.0)
    array(1.)
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(nondiff_argnums))
        self.jvp = None

    def defjvp(self, jvp):
        """Set the rule: jvp(*nondiff_args, primals, tangents) -> (out, out_dot). Returns it (usable as a decorator)."""
        self.jvp = jvp
        return jvp

    def __call__(self, *args, **kwargs):
        if self.jvp is None:
            raise TypeError(f"custom_jvp function {self.fun.__name__} has no rule; call "
                            f"{self.fun.__name__}.defjvp(rule) before using it")
        args = positional_args(self.fun, args, kwargs)
        program, captured, leaves, in_tree, out_tree, nondiff = trace_primal(self.fun, args, self.nondiff_argnums)
        outs = custom_jvp_call_p.bind(*leaves, *captured, primal=program, fun=UserFunction(self.fun),
                                      jvp=UserFunction(self.jvp), in_tree=in_tree, out_tree=out_tree,
                                      nondiff=nondiff, num_consts=len(captured))
        return pytree.tree_unflatten(out_tree, outs)
