"""Reductions and scans along axes: reduce_max, reduce_min, argmax, cumsum, cumprod, sort and argsort.

(reduce_sum lives in fgrad.ops.core: broadcast_to's VJP needs it.) The scans and sorts run along one
`axis`; their Numba emitters are lane emitters (fgrad.ops.base.LaneScan / LaneFunction): the codegen loops
over every other axis and applies the scan or the function to each lane.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive
from fgrad.ops.base import LaneFunction, LaneScan, as_value, typeof, zero_rules
from fgrad.ops.core import (broadcast_to, convert_element_type, moveaxis, normalize_axes, normalize_axis,
                            reduce_sum, reduced_type, reduction_batch, reshape, restore_reduced)
from fgrad.ops.creation import iota
from fgrad.ops.elementwise import add, cast, div, eq, mul
from fgrad.ops.indexing import gather, scatter_add
from fgrad.ops.slicing import pad, static_slice

__all__ = ["reduce_max", "reduce_max_p", "reduce_min", "reduce_min_p", "argmax", "argmax_p", "cumsum",
           "cumsum_p", "cumprod", "cumprod_p", "sort", "sort_p", "argsort", "argsort_p", "take_along_axis",
           "INDEX_DTYPES"]

INDEX_DTYPES = (np.dtype("int32"), np.dtype("int64"))

# Traits every primitive of this module shares: they compute new values (no copies, no views).
_COMPUTED = dict(commutative=False, expensive=False, vector_math=None, copies_input=False,
                 distributes_over_add=False, keeps_order=False, aliases_input=False)


def _axis_batch(op):
    """The batching rule of an op along one static `axis`: batch axis first, `axis` shifted by one."""
    def rule(args, dims, *, axis, **params):
        return op(moveaxis(args[0], dims[0], 0), axis + 1, **params), 0
    return rule


# ---- reduce_max / reduce_min ------------------------------------------------------------------------

def _chooser_type(name: str, numpy_name: str):
    """The shape rule of a reduction that picks an element: an empty reduced axis has no answer."""
    def rule(x: ArrayType, *, axes) -> ArrayType:
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:
            raise ValueError(f"{name} over axes {axes} of an array of shape {x.shape}: axis {empty[0]} has size 0 "
                             f"(zero-size array to reduction operation {numpy_name} which has no identity); reduce "
                             "over non-empty axes only")
        return reduced_type(x, axes=axes)
    return rule


def _tie_locations(out, x, axes):
    """1.0 where `x` attains the reduced extremum `out`, else 0.0; and how many elements tie for it."""
    hits = convert_element_type(eq(x, restore_reduced(out, typeof(x).shape, axes)), typeof(x).dtype)
    return hits, reduce_sum(hits, axes)


# Tied elements split the derivative equally (JAX's convention): each gets x_dot / count.
def _chooser_jvp(x_dot, out, x, *, axes):
    hits, counts = _tie_locations(out, x, axes)
    return div(reduce_sum(mul(x_dot, hits), axes), counts)


def _chooser_vjp(out_ct, out, x, *, axes):
    hits, counts = _tie_locations(out, x, axes)
    return mul(restore_reduced(div(out_ct, counts), typeof(x).shape, axes), hits)


def _chooser_simplify(s, inputs, params, out_type):
    # The extremum of equal values is that value.
    fill = s.fill(inputs[0])
    return s.uniform(fill, out_type) if fill is not None and out_type.size else None


reduce_max_p = Primitive(
    "reduce_max", kind="reduction", shape_rule=_chooser_type("reduce_max", "maximum"),
    impl=lambda x, *, axes: np.asarray(np.max(x, axis=axes)),
    jvp=(_chooser_jvp,), vjp=(_chooser_vjp,), batch=reduction_batch(lambda x, axes: reduce_max(x, axes)),
    numba="reduce_max", linear_in=(), simplify=_chooser_simplify, **_COMPUTED)


def reduce_max(x, axes=None):
    """The maximum of `x` over `axes` (all when None); NaN propagates, ties share the derivative.

    >>> reduce_max(np.array([[1.0, 5.0], [3.0, 2.0]]), axes=1)
    array([5., 3.])
    """
    x = as_value(x)
    axes = normalize_axes(axes, typeof(x).ndim)
    if not axes:
        return x
    return reduce_max_p.bind(x, axes=axes)


reduce_min_p = Primitive(
    "reduce_min", kind="reduction", shape_rule=_chooser_type("reduce_min", "minimum"),
    impl=lambda x, *, axes: np.asarray(np.min(x, axis=axes)),
    jvp=(_chooser_jvp,), vjp=(_chooser_vjp,), batch=reduction_batch(lambda x, axes: reduce_min(x, axes)),
    numba="reduce_min", linear_in=(), simplify=_chooser_simplify, **_COMPUTED)


def reduce_min(x, axes=None):
    """The minimum of `x` over `axes` (all when None); NaN propagates, ties share the derivative.

    >>> reduce_min(np.array([[1.0, 5.0], [3.0, 2.0]]), axes=0)
    array([1., 2.])
    """
    x = as_value(x)
    axes = normalize_axes(axes, typeof(x).ndim)
    if not axes:
        return x
    return reduce_min_p.bind(x, axes=axes)


# ---- argmax ---------------------------------------------------------------------------------------

def _argmax_type(x: ArrayType, *, axis, index_dtype) -> ArrayType:
    if not 0 <= axis < x.ndim:
        raise ValueError(f"argmax axis {axis} is out of bounds for an array of shape {x.shape}")
    if x.shape[axis] == 0:
        raise ValueError(f"attempt to get argmax of an empty sequence: axis {axis} of shape {x.shape} has size 0")
    if index_dtype not in INDEX_DTYPES:
        raise TypeError(f"argmax index_dtype must be int32 or int64, got {index_dtype}")
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i != axis), index_dtype)


argmax_p = Primitive(
    "argmax", kind="call", shape_rule=_argmax_type,
    impl=lambda x, *, axis, index_dtype: np.asarray(np.argmax(x, axis=axis)).astype(index_dtype),
    jvp=zero_rules(1), vjp=zero_rules(1),
    batch=_axis_batch(lambda x, axis, index_dtype: argmax_p.bind(x, axis=axis, index_dtype=index_dtype)),
    numba="argmax", linear_in=(), simplify=None, **_COMPUTED)


def argmax(x, axis, index_dtype=np.int64):
    """The index of the first maximum along `axis` (of the flattened array when None), as numpy's; NaN counts
    as the maximum. Indices carry no derivative.

    >>> argmax(np.array([[1.0, 5.0, 5.0], [3.0, 2.0, 0.0]]), axis=1)
    array([1, 0])
    """
    x = as_value(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(int(axis), typeof(x).ndim)
    return argmax_p.bind(x, axis=axis, index_dtype=np.dtype(index_dtype))


# ---- cumsum ---------------------------------------------------------------------------------------

def _scan_type(name: str):
    def rule(x: ArrayType, *, axis, reverse) -> ArrayType:
        if not 0 <= axis < x.ndim:
            raise ValueError(f"{name} axis {axis} is out of bounds for an array of shape {x.shape}")
        if x.dtype == np.bool_:
            raise TypeError(f"the {name} primitive does not take bool arrays; the {name} op counts them in int64, "
                            "as numpy does")
        return x
    return rule


def _scan_impl(np_fn):
    def impl(x, *, axis, reverse):
        if reverse:
            return np.flip(np_fn(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
        return np_fn(x, axis=axis, dtype=x.dtype)
    return impl


def _cumsum_simplify(s, inputs, params, out_type):
    # A running sum of +0.0 stays +0.0 (of -0.0 it depends on where the sum starts).
    fill = s.fill(inputs[0])
    positive_zero = fill is not None and fill == 0 and not (fill.dtype.kind == "f" and np.signbit(fill))
    return s.uniform(fill, out_type) if positive_zero else None


# cumsum is linear; its transpose is the running sum in the other direction.
cumsum_p = Primitive(
    "cumsum", kind="call", shape_rule=_scan_type("cumsum"), impl=_scan_impl(np.cumsum),
    jvp=(lambda x_dot, out, x, *, axis, reverse: cumsum(x_dot, axis, reverse=reverse),),
    vjp=(lambda out_ct, out, x, *, axis, reverse: cumsum(out_ct, axis, reverse=not reverse),),
    batch=_axis_batch(lambda x, axis, reverse: cumsum(x, axis, reverse=reverse)),
    numba=LaneScan(init=0, step="{acc} + {x}"), linear_in=(0,), simplify=_cumsum_simplify, **_COMPUTED)


def _scan_operand(x, axis):
    x = as_value(x)
    if typeof(x).dtype in (np.bool_, np.int32):
        x = cast(x, np.int64)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return x, normalize_axis(int(axis), typeof(x).ndim)


def cumsum(x, axis, reverse=False):
    """Running sums along `axis` (of the flattened array when None), from the end when `reverse`.
    Bool and int32 sum in int64, as numpy's.

    >>> cumsum(np.array([1.0, 2.0, 3.0]), axis=0, reverse=True)
    array([6., 5., 3.])
    """
    x, axis = _scan_operand(x, axis)
    return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))


# ---- cumprod --------------------------------------------------------------------------------------
# The derivative of a running product must not divide by it (zeros in x would give nan). It is taken
# through the Hillis-Steele form of the scan, y_{k+1}[i] = y_k[i] * y_k[i - d] for d = 1, 2, 4, ...: log2(n)
# levels of shifted products, each differentiated by the product rule, as JAX differentiates its
# associative scan. The values themselves come from the sequential impl (numpy's order of rounding).

def _shift(y, d: int, axis: int, fill, reverse: bool):
    """y moved by `d` along `axis` (towards the end, or the start when `reverse`), `fill` in the gap."""
    n = typeof(y).shape[axis]
    ndim = typeof(y).ndim
    starts, stops = [0] * ndim, list(typeof(y).shape)
    widths = [(0, 0, 0)] * ndim
    if reverse:
        starts[axis] = min(d, n)
        widths[axis] = (0, min(d, n), 0)
    else:
        stops[axis] = max(n - d, 0)
        widths[axis] = (min(d, n), 0, 0)
    return pad(static_slice(y, starts, stops), widths, fill)


def _unshift(w, d: int, axis: int, reverse: bool):
    """The transpose of `_shift` (with a zero fill): the element at i goes back to i - d (or i + d)."""
    return _shift(w, d, axis, 0, not reverse)


def _prefix_levels(x, axis, reverse):
    """[y_0 = x, y_1, ...]: the levels of the Hillis-Steele running product, the last one the result."""
    n = typeof(x).shape[axis]
    levels, d = [x], 1
    while d < n:
        levels.append(mul(levels[-1], _shift(levels[-1], d, axis, 1, reverse)))
        d *= 2
    return levels


def _cumprod_jvp(x_dot, out, x, *, axis, reverse):
    levels = _prefix_levels(x, axis, reverse)
    y_dot, d = x_dot, 1
    for y in levels[:-1]:
        y_dot = add(mul(y_dot, _shift(y, d, axis, 1, reverse)), mul(y, _shift(y_dot, d, axis, 0, reverse)))
        d *= 2
    return y_dot


def _cumprod_vjp(out_ct, out, x, *, axis, reverse):
    levels = _prefix_levels(x, axis, reverse)
    ct = out_ct
    for k in reversed(range(len(levels) - 1)):
        d, y = 2 ** k, levels[k]
        ct = add(mul(ct, _shift(y, d, axis, 1, reverse)), _unshift(mul(ct, y), d, axis, reverse))
    return ct


cumprod_p = Primitive(
    "cumprod", kind="call", shape_rule=_scan_type("cumprod"), impl=_scan_impl(np.cumprod),
    jvp=(_cumprod_jvp,), vjp=(_cumprod_vjp,),
    batch=_axis_batch(lambda x, axis, reverse: cumprod(x, axis, reverse=reverse)),
    numba=LaneScan(init=1, step="{acc} * {x}"), linear_in=(), simplify=None, **_COMPUTED)


def cumprod(x, axis, reverse=False):
    """Running products along `axis` (of the flattened array when None), from the end when `reverse`.
    Bool and int32 multiply in int64, as numpy's. The derivative is exact where x has zeros.

    >>> cumprod(np.array([1.0, 2.0, 3.0]), axis=0)
    array([1., 2., 6.])
    """
    x, axis = _scan_operand(x, axis)
    return cumprod_p.bind(x, axis=axis, reverse=bool(reverse))


# ---- sort / argsort -------------------------------------------------------------------------------
# Both sort stably (mergesort), NaNs last, as numpy. sort's derivative moves each tangent or cotangent
# with its element: a gather (scatter-add) through the permutation argsort gives.

def _sort_type(x: ArrayType, *, axis) -> ArrayType:
    if not 0 <= axis < x.ndim:
        raise ValueError(f"sort axis {axis} is out of bounds for an array of shape {x.shape}")
    return x


def _argsort_type(x: ArrayType, *, axis) -> ArrayType:
    _sort_type(x, axis=axis)
    return ArrayType(x.shape, np.int64)


def _lane_positions(perm, axis: int):
    """Flat positions of take_along_axis(x, perm, axis) in x.reshape(-1): perm's index along `axis`, every
    other axis's own index, each times its row-major stride."""
    shape = typeof(perm).shape
    strides = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]
    flat = mul(perm, strides[axis]) if strides[axis] != 1 else perm
    for k, stride in enumerate(strides):
        if k != axis:
            flat = add(flat, mul(iota(shape, np.int64, k), stride))
    return flat


def take_along_axis(x, indices, axis: int):
    """numpy.take_along_axis for `indices` of x's shape (int64, non-negative), as one flat gather.

    >>> take_along_axis(np.array([[3.0, 1.0, 2.0]]), np.array([[1, 2, 0]]), 1)
    array([[1., 2., 3.]])
    """
    return gather(reshape(x, (-1,)), _lane_positions(indices, axis), 0)


def _sort_vjp(out_ct, out, x, *, axis):
    shape = typeof(x).shape
    positions = _lane_positions(argsort(x, axis), axis)
    zeros = broadcast_to(np.zeros((), typeof(out_ct).dtype), (int(np.prod(shape, dtype=np.int64)),))
    return reshape(scatter_add(zeros, positions, out_ct, 0), shape)


sort_p = Primitive(
    "sort", kind="call", shape_rule=_sort_type, impl=lambda x, *, axis: np.sort(x, axis=axis, kind="stable"),
    jvp=(lambda x_dot, out, x, *, axis: take_along_axis(x_dot, argsort(x, axis), axis),),
    vjp=(_sort_vjp,),
    batch=_axis_batch(lambda x, axis: sort(x, axis)),
    numba=LaneFunction("np.sort({lane})"), linear_in=(), simplify=None, **_COMPUTED)


def sort(x, axis=-1):
    """The elements of `x` sorted along `axis` (of the flattened array when None), NaNs last, as numpy.sort.

    >>> sort(np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    x = as_value(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return sort_p.bind(x, axis=normalize_axis(int(axis), typeof(x).ndim))


argsort_p = Primitive(
    "argsort", kind="call", shape_rule=_argsort_type,
    impl=lambda x, *, axis: np.argsort(x, axis=axis, kind="stable").astype(np.int64),
    jvp=zero_rules(1), vjp=zero_rules(1),
    batch=_axis_batch(lambda x, axis: argsort(x, axis)),
    numba=LaneFunction("np.argsort({lane}, kind='mergesort')"), linear_in=(), simplify=None, **_COMPUTED)


def argsort(x, axis=-1):
    """The indices that sort `x` along `axis` (stable, NaNs last), as numpy.argsort(kind="stable"), int64.

    >>> argsort(np.array([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    x = as_value(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return argsort_p.bind(x, axis=normalize_axis(int(axis), typeof(x).ndim))
