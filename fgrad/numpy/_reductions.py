"""fgrad.numpy's reductions, scans, sorts and arg-reductions."""
from __future__ import annotations

import builtins
import math

import numpy as np

import fgrad.ops as ops
from fgrad.numpy._arguments import arg
from fgrad.numpy._elementwise import logical_not, truth
from fgrad.ops.base import float_dtype, typeof
from fgrad.ops.core import normalize_axes, normalize_axis


def reduction_axes(x, axis) -> tuple:
    return normalize_axes(axis, typeof(x).ndim)


def _keepdims(out, axes: tuple, keepdims: bool):
    return ops.expand_dims(out, axes) if keepdims and axes else out


def _count(x, axes: tuple) -> int:
    shape = typeof(x).shape
    return math.prod(shape[a] for a in axes)


def _accumulation_dtype(x, dtype):
    """`x` in the dtype numpy sums and multiplies it in: `dtype` if given; bool and int32 count in int64."""
    if dtype is not None:
        return ops.cast(x, dtype)
    if typeof(x).dtype in (np.bool_, np.int32):
        return ops.cast(x, np.int64)
    return x


def sum(a, axis=None, dtype=None, keepdims=False):
    """numpy.sum over `axis` (int, tuple or None for all).

    >>> fnp.sum(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([4., 6.])
    """
    a = _accumulation_dtype(arg(a), dtype)
    axes = reduction_axes(a, axis)
    return _keepdims(ops.reduce_sum(a, axes), axes, keepdims)


def mean(a, axis=None, dtype=None, keepdims=False):
    """numpy.mean: the sum divided by the count (ints compute in float64).

    >>> fnp.mean(np.array([1, 2, 3, 4]))
    np.float64(2.5)
    """
    a = arg(a)
    a = ops.cast(a, dtype if dtype is not None else float_dtype(typeof(a).dtype))
    axes = reduction_axes(a, axis)
    return _keepdims(ops.div(ops.reduce_sum(a, axes), _count(a, axes)), axes, keepdims)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """numpy.var: the mean squared deviation, divided by count - ddof, in numpy's order of operations.

    >>> fnp.var(np.array([1.0, 2.0, 3.0, 4.0]), ddof=1)
    np.float64(1.6666666666666667)
    """
    a = arg(a)
    a = ops.cast(a, dtype if dtype is not None else float_dtype(typeof(a).dtype))
    axes = reduction_axes(a, axis)
    count = _count(a, axes)
    mean_kept = _keepdims(ops.div(ops.reduce_sum(a, axes), count), axes, True)
    centered = ops.sub(a, mean_kept)
    squares = ops.mul(centered, centered)
    return _keepdims(ops.div(ops.reduce_sum(squares, axes), builtins.max(count - ddof, 0)), axes, keepdims)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """numpy.std: sqrt(var).

    >>> fnp.std(np.array([1.0, 3.0]))
    np.float64(1.0)
    """
    return ops.sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def max(a, axis=None, keepdims=False):
    """numpy.max (NaN propagates; tied maxima share the derivative).

    >>> fnp.max(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([5., 3.])
    """
    a = arg(a)
    axes = reduction_axes(a, axis)
    return _keepdims(ops.reduce_max(a, axes), axes, keepdims)


def min(a, axis=None, keepdims=False):
    """numpy.min (NaN propagates; tied minima share the derivative).

    >>> fnp.min(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=0)
    array([1., 2.])
    """
    a = arg(a)
    axes = reduction_axes(a, axis)
    return _keepdims(ops.reduce_min(a, axes), axes, keepdims)


amax = max
amin = min


def _take_last(x, start: int, stop: int):
    """x[..., start:stop]."""
    shape = typeof(x).shape
    return ops.static_slice(x, (0,) * (len(shape) - 1) + (start,), shape[:-1] + (stop,))


def _product_of_last_axis(x):
    """The product along the last axis by pairwise halving: only multiplications, so the derivative is exact
    with zeros in the input (nothing divides by the product), in log2(n) steps."""
    shape = typeof(x).shape
    n = shape[-1]
    if n == 0:
        return ops.full(shape[:-1], 1, typeof(x).dtype)
    while n > 1:
        half = n // 2
        pairs = ops.mul(_take_last(x, 0, half), _take_last(x, half, 2 * half))
        x = pairs if n % 2 == 0 else ops.concatenate([pairs, _take_last(x, 2 * half, n)], axis=-1)
        n -= half
    return ops.squeeze(x, len(shape) - 1)


def prod(a, axis=None, dtype=None, keepdims=False):
    """numpy.prod. Multiplies pairwise (a tree, not numpy's left-to-right loop, so float results can differ
    in the last place); the gradient is exact with zeros in the input.

    >>> fnp.prod(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2., 12.])
    """
    a = _accumulation_dtype(arg(a), dtype)
    axes = reduction_axes(a, axis)
    if not axes:
        return a
    shape = typeof(a).shape
    kept = [i for i in range(len(shape)) if i not in axes]
    rows = ops.reshape(ops.transpose(a, kept + list(axes)),
                       [shape[i] for i in kept] + [math.prod(shape[i] for i in axes)])
    return _keepdims(_product_of_last_axis(rows), axes, keepdims)


def all(a, axis=None, keepdims=False):
    """numpy.all: no element is zero (False).

    >>> fnp.all(np.array([[True, False], [True, True]]), axis=1)
    array([False,  True])
    """
    zeros = ops.cast(logical_not(a), np.int64)
    axes = reduction_axes(zeros, axis)
    return _keepdims(ops.eq(ops.reduce_sum(zeros, axes), 0), axes, keepdims)


def any(a, axis=None, keepdims=False):
    """numpy.any: some element is nonzero (True).

    >>> fnp.any(np.array([[True, False], [False, False]]), axis=1)
    array([ True, False])
    """
    nonzeros = ops.cast(truth(a), np.int64)
    axes = reduction_axes(nonzeros, axis)
    return _keepdims(ops.gt(ops.reduce_sum(nonzeros, axes), 0), axes, keepdims)


def cumsum(a, axis=None, dtype=None):
    """numpy.cumsum along `axis` (of the flattened array when None); bool and int32 count in int64.

    >>> fnp.cumsum(np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    a = arg(a)
    if dtype is not None:
        a = ops.cast(a, dtype)
    return ops.cumsum(a, axis)


def cumprod(a, axis=None, dtype=None):
    """numpy.cumprod along `axis` (of the flattened array when None); bool and int32 multiply in int64. Its
    gradient is exact where `a` has zeros.

    >>> fnp.cumprod(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.])
    """
    a = arg(a)
    if dtype is not None:
        a = ops.cast(a, dtype)
    return ops.cumprod(a, axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """numpy.sort along `axis` (of the flattened array when None): stable, NaNs last. The gradient moves with
    the elements.

    >>> fnp.sort(np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    if order is not None:
        raise TypeError("fnp.sort does not take `order` (structured arrays are not supported)")
    return ops.sort(arg(a), axis)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """numpy.argsort along `axis` (of the flattened array when None), as int64: stable (equal elements keep
    their order, whatever `kind` says), NaNs last. Indices carry no derivative.

    >>> fnp.argsort(np.array([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    if order is not None:
        raise TypeError("fnp.argsort does not take `order` (structured arrays are not supported)")
    return ops.argsort(arg(a), axis)


def argmax(a, axis=None, keepdims=False):
    """numpy.argmax: the first index of the maximum (of the flattened array when axis is None), int64.

    >>> fnp.argmax(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([1, 0])
    """
    a = arg(a)
    out = ops.argmax(a, axis)
    if not keepdims:
        return out
    ndim = typeof(a).ndim
    if axis is None:
        return ops.reshape(out, (1,) * ndim)
    return ops.expand_dims(out, normalize_axis(int(axis), ndim))


def argmin(a, axis=None, keepdims=False):
    """numpy.argmin: the first index of the minimum, as the argmax of the negated values (NaN still wins,
    as in numpy; bools negate by logical_not).

    >>> fnp.argmin(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([0, 1])
    """
    a = arg(a)
    flipped = logical_not(a) if typeof(a).dtype == np.bool_ else ops.neg(a)
    return argmax(flipped, axis=axis, keepdims=keepdims)
