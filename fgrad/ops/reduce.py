"""Reductions: reduce_sum, reduce_max, reduce_min, argmax, cumsum."""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive
from fgrad.ops.base import as_value, typeof, zero_rules
from fgrad.ops.shape import broadcast_to, expand_dims, normalize_axes, normalize_axis, reshape


def _reduce_type(x: ArrayType, *, axes) -> ArrayType:
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def restore_reduced(y, x_shape: tuple, axes: tuple):
    """Broadcast a reduced value back over the reduced `axes` of `x_shape` (keepdims, then broadcast)."""
    return broadcast_to(expand_dims(y, axes), x_shape)


reduce_sum_p = Primitive(
    "reduce_sum", shape_rule=_reduce_type,
    impl=lambda x, *, axes: np.sum(x, axis=axes, dtype=np.result_type(x)),
    jvp=(lambda x_dot, out, x, *, axes: reduce_sum(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: restore_reduced(out_ct, typeof(x).shape, axes),),
    numba="reduce_sum")


def reduce_sum(x, axes=None):
    """The sum of `x` over `axes` (all when None). Bool sums count in int64, as numpy's."""
    x = as_value(x)
    t = typeof(x)
    if t.dtype == np.bool_:
        x = convert_element_type(x, np.int64)
    axes = normalize_axes(axes, t.ndim)
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)


# ---- reduce_max / reduce_min ------------------------------------------------------------------------

def _chooser_type(name: str, numpy_name: str):
    """The shape rule of a reduction that picks an element: an empty reduced axis has no answer."""
    def rule(x: ArrayType, *, axes) -> ArrayType:
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:
            raise ValueError(f"{name} over axes {axes} of an array of shape {x.shape}: axis {empty[0]} has size 0 "
                             f"(zero-size array to reduction operation {numpy_name} which has no identity); reduce "
                             "over non-empty axes only")
        return _reduce_type(x, axes=axes)
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


reduce_max_p = Primitive(
    "reduce_max", shape_rule=_chooser_type("reduce_max", "maximum"),
    impl=lambda x, *, axes: np.asarray(np.max(x, axis=axes)),
    jvp=(_chooser_jvp,), vjp=(_chooser_vjp,),
    numba="reduce_max")


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
    "reduce_min", shape_rule=_chooser_type("reduce_min", "minimum"),
    impl=lambda x, *, axes: np.asarray(np.min(x, axis=axes)),
    jvp=(_chooser_jvp,), vjp=(_chooser_vjp,),
    numba="reduce_min")


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

INDEX_DTYPES = (np.dtype("int32"), np.dtype("int64"))


def _argmax_type(x: ArrayType, *, axis, index_dtype) -> ArrayType:
    if not 0 <= axis < x.ndim:
        raise ValueError(f"argmax axis {axis} is out of bounds for an array of shape {x.shape}")
    if x.shape[axis] == 0:
        raise ValueError(f"attempt to get argmax of an empty sequence: axis {axis} of shape {x.shape} has size 0")
    if index_dtype not in INDEX_DTYPES:
        raise TypeError(f"argmax index_dtype must be int32 or int64, got {index_dtype}")
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i != axis), index_dtype)


argmax_p = Primitive(
    "argmax", shape_rule=_argmax_type,
    impl=lambda x, *, axis, index_dtype: np.asarray(np.argmax(x, axis=axis)).astype(index_dtype),
    jvp=zero_rules(1), vjp=zero_rules(1),
    numba="argmax")


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

def _cumsum_type(x: ArrayType, *, axis, reverse) -> ArrayType:
    if not 0 <= axis < x.ndim:
        raise ValueError(f"cumsum axis {axis} is out of bounds for an array of shape {x.shape}")
    if x.dtype == np.bool_:
        raise TypeError("the cumsum primitive does not take bool arrays (it would be a running `or`); the cumsum "
                        "op counts them in int64, as numpy does")
    return x


def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return np.cumsum(x, axis=axis, dtype=x.dtype)


# cumsum is linear; its transpose is the running sum in the other direction.
cumsum_p = Primitive(
    "cumsum", shape_rule=_cumsum_type, impl=_cumsum_impl,
    jvp=(lambda x_dot, out, x, *, axis, reverse: cumsum(x_dot, axis, reverse=reverse),),
    vjp=(lambda out_ct, out, x, *, axis, reverse: cumsum(out_ct, axis, reverse=not reverse),),
    numba="cumsum")


def cumsum(x, axis, reverse=False):
    """Running sums along `axis` (of the flattened array when None), from the end when `reverse`.
    Bool and int32 sum in int64, as numpy's.

    >>> cumsum(np.array([1.0, 2.0, 3.0]), axis=0, reverse=True)
    array([6., 5., 3.])
    """
    x = as_value(x)
    if typeof(x).dtype in (np.bool_, np.int32):
        x = cast(x, np.int64)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(int(axis), typeof(x).ndim)
    return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))


# Elementwise ops the rules above call; imported last because fgrad.ops.elementwise imports this module
# (through fgrad.ops.shape).
from fgrad.ops.elementwise import cast, convert_element_type, div, eq, mul  # noqa: E402
