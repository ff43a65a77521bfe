"""fgrad.lax: structured control flow with JAX's signatures, differentiable (reverse mode through while loops
included), batchable and compiled as real loops.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.lax.fori_loop(0, 3, lambda i, x: x * 2.0, 1.0)
    array(8.)
    >>> def newton(a):           # sqrt(a) by Newton's method: a data-dependent trip count
    ...     return fgrad.lax.while_loop(lambda x: fnp.abs(x * x - a) > 1e-12, lambda x: 0.5 * (x + a / x), a)
    >>> float(fgrad.grad(newton)(4.0))        # d sqrt(a) / da at 4, through the loop
    0.25

`conv_general_dilated` (fgrad.ops.conv) is JAX's convolution, a primitive with every rule.

Carries, operands, xs and outputs are pytrees. Each function is traced once; the values it closes over become
explicit operands of the control-flow equation (its sub-programs close over nothing). A branch or loop body
must keep the types it is given: a mismatch is a TypeError naming the branch or carry leaf and both types.
"""
from __future__ import annotations

import builtins

import numpy as np

from fgrad.ir import ArrayType, pytree, trace_flat, typeof
from fgrad.ir.tracing import is_weak
from fgrad.numpy._array import as_arrays
from fgrad.ops import add, conv_general_dilated, convert_element_type, lt, maximum, minimum, ne, stop_gradient
from fgrad.ops.base import as_value, is_tracer
from fgrad.transforms.control_flow import COUNT_DTYPE, INDEX_DTYPE, cond_p, scan_p, unify_captures, while_p

__all__ = ["cond", "switch", "fori_loop", "while_loop", "scan", "map", "stop_gradient", "conv_general_dilated"]


# ---- tracing a user function on pytrees -----------------------------------------------------------------

class Traced:
    """`fun` traced on the leaves of `args`: its program (captures as trailing inputs), the captured values,
    and its output's tree."""

    def __init__(self, fun, args, what: str):
        leaves, in_tree = pytree.tree_flatten(args)
        out_box = []

        def flat(*tracers):
            out = fun(*pytree.tree_unflatten(in_tree, tracers))
            out_leaves, out_tree = pytree.tree_flatten(out)
            out_box.append(out_tree)
            return out_leaves

        try:
            types = [x.t if isinstance(x, _Example) else typeof(x) for x in leaves]
        except TypeError as e:
            raise TypeError(f"{what}: {e}") from None
        weak = [not isinstance(x, _Example) and is_weak(x) for x in leaves]
        self.program, self.captured = trace_flat(flat, types, weak)
        self.out_tree = out_box[0]
        self.n_in = len(leaves)

    @property
    def out_types(self):
        return self.program.out_types


def _leaf_names(tree_value, prefix: str) -> list:
    return [prefix + path for path, _ in pytree.tree_leaves_with_path(tree_value)]


def _check_same_types(what: str, names, expected, got, hint: str):
    for name, e, g in zip(names, expected, got):
        if e != g:
            raise TypeError(f"{what}: {name} has type {g} but {hint} {e}; control flow needs the same types (cast "
                            "with .astype, or make the initial value the same dtype and shape)")


def _operand_leaves(operands):
    leaves, tree = pytree.tree_flatten(operands)
    return [as_value(x) for x in leaves], tree


# ---- cond / switch ---------------------------------------------------------------------------------------

def switch(index, branches, *operands):
    """Apply `branches[index](*operands)`, index clamped to the valid range (as JAX's lax.switch).

    >>> fgrad.lax.switch(5, [lambda x: x + 1.0, lambda x: x * 10.0], 2.0)     # clamped to the last branch
    array(20.)
    """
    branches = list(branches)
    if not branches:
        raise ValueError("switch needs at least one branch")
    for k, b in enumerate(branches):
        if not callable(b):
            raise TypeError(f"switch: branch {k} is {type(b).__name__}, not a function")
    index = as_value(index)
    t = typeof(index)
    if t.shape != ():
        raise TypeError(f"switch's index must be a scalar, got {t}; to pick per element use fnp.where or select")
    if t.dtype.kind not in "iub":
        raise TypeError(f"switch's index must be an integer scalar, got {t}")
    index = convert_element_type(index, INDEX_DTYPE)
    index = minimum(maximum(index, 0), len(branches) - 1)
    return _cond(index, branches, operands, "switch", [f"branch {k}" for k in range(len(branches))])


def cond(pred, true_fun, false_fun, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`: one branch runs, both are traced and must
    return the same types (as JAX's lax.cond). Differentiating differentiates the branch taken.

    >>> fgrad.lax.cond(True, lambda x: x + 1.0, lambda x: x - 1.0, 2.0)
    array(3.)
    """
    pred = as_value(pred)
    t = typeof(pred)
    if t.shape != ():
        raise TypeError(f"cond's predicate must be a scalar, got {t}: a branch runs for the whole array. To choose "
                        "per element use fnp.where(pred, x, y); for a batch, vmap the cond")
    index = convert_element_type(ne(pred, 0) if t.dtype.kind != "b" else pred, INDEX_DTYPE)
    return _cond(index, [false_fun, true_fun], operands, "cond", ["false_fun", "true_fun"])


def _cond(index, branches, operands, what, names):
    leaves, tree = _operand_leaves(operands)
    traced = [Traced(b, operands, f"{what} operands") for b in branches]
    first = traced[0]
    for name, tr in zip(names, traced):
        if tr.out_tree != first.out_tree:
            raise TypeError(f"{what}: {name} returns {tr.out_tree!r} but {names[0]} returns {first.out_tree!r}; "
                            "every branch must return the same structure")
        out_names = [f"output leaf {k}" for k in range(len(tr.out_types))]
        _check_same_types(f"{what}: {name}", out_names, first.out_types, tr.out_types,
                          f"{names[0]} returns it as")
    programs, captured = unify_captures([(tr.program, tr.captured) for tr in traced], len(leaves))
    outs = cond_p.bind(index, *leaves, *captured, branches=tuple(programs))
    return pytree.tree_unflatten(first.out_tree, as_arrays(outs))


# ---- while_loop -------------------------------------------------------------------------------------------

def while_loop(cond_fun, body_fun, init_val):
    """Repeat `val = body_fun(val)` while `cond_fun(val)`, from `init_val` (as JAX's lax.while_loop).

    Unlike JAX, fgrad differentiates it in reverse mode too: the trip count and what each iteration's reverse
    sweep needs are recorded on a tape, and the reverse loop runs that many iterations backwards.

    >>> fgrad.lax.while_loop(lambda x: x < 100.0, lambda x: x * 2.0, 1.0)
    array(128.)
    """
    leaves, tree = _operand_leaves(init_val)
    names = _leaf_names(init_val, "init_val")
    cond_tr = Traced(cond_fun, (init_val,), "while_loop's init_val")
    if cond_tr.out_tree != pytree.LEAF or cond_tr.out_types[0] != ArrayType((), np.bool_):
        got = cond_tr.out_types[0] if cond_tr.out_tree == pytree.LEAF else repr(cond_tr.out_tree)
        raise TypeError(f"while_loop's cond_fun must return a bool scalar, got {got}")
    body_tr = Traced(body_fun, (init_val,), "while_loop's init_val")
    _check_carry("while_loop: body_fun", tree, names, leaves, body_tr)
    outs = while_p.bind(*cond_tr.captured, *body_tr.captured, *leaves,
                        cond=_captures_first(cond_tr), body=_captures_first(body_tr),
                        n_cond_consts=len(cond_tr.captured), n_body_consts=len(body_tr.captured), record=False)
    return pytree.tree_unflatten(tree, as_arrays(outs))


def _captures_first(tr: Traced):
    """The traced program with its captured values (trailing inputs) first: the loop's constants."""
    from fgrad.ir import Program
    p = tr.program
    n = len(tr.captured)
    if not n:
        return p
    return Program(p.inputs[-n:] + p.inputs[:-n], p.equations, p.outputs)


def _check_carry(what, tree, names, leaves, traced: Traced, n_returned=None):
    if n_returned is None and traced.out_tree != tree:
        raise TypeError(f"{what} returns {traced.out_tree!r} but the carry is {tree!r}; a loop body must return "
                        "the carry's structure")
    types = [typeof(x) for x in leaves]
    _check_same_types(what, names, types, traced.out_types[:len(types)], "enters the loop as")


# ---- fori_loop ----------------------------------------------------------------------------------------------

def fori_loop(lower, upper, body_fun, init_val, *, unroll=None):
    """`val = body_fun(i, val)` for i in range(lower, upper), as JAX's lax.fori_loop. With static (Python int)
    bounds it is a scan; with traced bounds a while_loop — both differentiable in reverse mode in fgrad.

    >>> fgrad.lax.fori_loop(0, 4, lambda i, x: x + i, 0)
    array(6)
    """
    static = not is_tracer(lower) and not is_tracer(upper)
    if static:
        lo, hi = _static_int(lower, "lower"), _static_int(upper, "upper")
        i0 = np.asarray(lo, _index_dtype(lower, upper))

        def step(carry, _):
            i, val = carry
            return (add(i, 1), body_fun(i, val)), ()
        (_, out), _ = scan(step, (i0, init_val), None, length=builtins.max(hi - lo, 0),
                           unroll=1 if unroll is None else unroll)
        return out
    dtype = _index_dtype(lower, upper)
    lower, upper = convert_element_type(as_value(lower), dtype), convert_element_type(as_value(upper), dtype)

    def keep_going(carry):
        return lt(carry[0], carry[1])

    def step_while(carry):
        i, hi, val = carry
        return add(i, 1), hi, body_fun(i, val)
    return while_loop(keep_going, step_while, (lower, upper, init_val))[2]


def _static_int(x, what):
    value = np.asarray(x)
    if value.shape != () or value.dtype.kind not in "iu":
        raise TypeError(f"fori_loop's {what} must be an integer scalar, got {typeof(x)}")
    return int(value)


def _index_dtype(lower, upper):
    kinds = [typeof(x).dtype for x in (lower, upper) if not isinstance(x, (int, np.integer)) or is_tracer(x)]
    return np.dtype(np.result_type(*kinds)) if kinds else COUNT_DTYPE


# ---- scan / map ---------------------------------------------------------------------------------------------

def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """`carry, y = f(carry, x)` for each x along the leading axis of `xs`, as JAX's lax.scan: returns the final
    carry and the stacked ys. `reverse=True` scans from the end (the ys keep their positions).

    >>> carry, ys = fgrad.lax.scan(lambda c, x: (c + x, c * x), 0.0, fnp.array([1.0, 2.0, 3.0]))
    >>> carry, ys
    (array(6.), array([0., 2., 9.]))
    """
    init_leaves, carry_tree = _operand_leaves(init)
    x_leaves, x_tree = _operand_leaves(xs)
    steps = _scan_length(x_leaves, length)
    if isinstance(unroll, bool):
        unroll = steps if unroll else 1
    if not isinstance(unroll, (int, np.integer)) or unroll < 1:
        raise ValueError(f"scan's unroll must be a positive int (or a bool), got {unroll!r}")
    x_slices = [_slice_type(x) for x in x_leaves]
    names = _leaf_names(init, "carry")
    x_example = pytree.tree_unflatten(x_tree, [_Example(t) for t in x_slices])
    body = Traced(lambda c, x: _pair(f(c, x)), (init, x_example), "scan's init")
    out_tree = body.out_tree
    if out_tree.node_type is not tuple or len(out_tree.children) != 2:
        raise TypeError(f"scan's f must return a pair (carry, y), got {out_tree!r}")
    carry_out, y_tree = out_tree.children
    if carry_out != carry_tree:
        raise TypeError(f"scan: f returns the carry as {carry_out!r} but it enters as {carry_tree!r}; a loop body "
                        "must return the carry's structure")
    _check_carry("scan: f", carry_tree, names, init_leaves, body, n_returned=True)
    program = _captures_first(body)
    outs = scan_p.bind(*body.captured, *init_leaves, *x_leaves, body=program, length=steps, reverse=bool(reverse),
                       n_consts=len(body.captured), n_carries=len(init_leaves), unroll=int(unroll))
    n = len(init_leaves)
    outs = as_arrays(outs)
    return pytree.tree_unflatten(carry_tree, outs[:n]), pytree.tree_unflatten(y_tree, outs[n:])


def _pair(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"scan's f must return a pair (carry, y), got {type(out).__name__}")
    return tuple(out)


class _Example:
    """A stand-in for one slice of xs while f is traced: only its type matters."""

    def __init__(self, t):
        self.t = t


def _slice_type(x) -> ArrayType:
    t = typeof(x)
    if not t.shape:
        raise TypeError(f"scan's xs leaves must have a leading axis to scan over, got a scalar {t}")
    return ArrayType(t.shape[1:], t.dtype)


def _scan_length(x_leaves, length) -> int:
    lengths = {typeof(x).shape[0] for x in x_leaves if typeof(x).shape}
    if length is not None:
        length = int(length)
        lengths.add(length)
    if len(lengths) > 1:
        listed = ", ".join(str(typeof(x)) for x in x_leaves)
        raise ValueError(f"scan got xs of different leading sizes ({listed}) and length={length}; every x must be "
                         "stacked along a leading axis of the same length")
    if not lengths:
        raise ValueError("scan needs xs or length=... to know how many steps to take")
    return lengths.pop()


def map(f, xs):
    """`f` applied to each slice of `xs` along its leading axis, stacked: a scan without a carry (JAX's lax.map).

    >>> fgrad.lax.map(lambda x: x * 2.0, fnp.arange(3.0))
    array([0., 2., 4.])
    """
    _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
    return ys
