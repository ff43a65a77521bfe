"""fgrad.numpy's shapes family: shape queries, reshapes and axis moves, diagonals and differences, joining."""
from __future__ import annotations

import builtins

import numpy as np

import fgrad.ops as ops
from fgrad.numpy._arguments import arg, check_order, stacked
from fgrad.numpy._elementwise import not_equal, subtract
from fgrad.numpy._indexing import getitem
from fgrad.numpy._reductions import reduction_axes, sum
from fgrad.ops.base import typeof
from fgrad.ops.core import normalize_axis


def shape(a) -> tuple:
    """numpy.shape.

    >>> fnp.shape(np.zeros((2, 3)))
    (2, 3)
    """
    return typeof(arg(a)).shape


def ndim(a) -> int:
    """numpy.ndim.

    >>> fnp.ndim(np.zeros((2, 3)))
    2
    """
    return typeof(arg(a)).ndim


def size(a) -> int:
    """numpy.size.

    >>> fnp.size(np.zeros((2, 3)))
    6
    """
    return typeof(arg(a)).size


def reshape(a, shape=None, order="C", *, newshape=None):
    """numpy.reshape (one -1 allowed; row-major only).

    >>> fnp.reshape(np.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    check_order(order)
    return ops.reshape(arg(a), shape if shape is not None else newshape)


def ravel(a, order="C"):
    """numpy.ravel: the row-major flattened array.

    >>> fnp.ravel(np.ones((2, 3))).shape
    (6,)
    """
    check_order(order)
    return ops.reshape(arg(a), (-1,))


def transpose(a, axes=None):
    """numpy.transpose: reverse the axes, or permute them by `axes`.

    >>> fnp.transpose(np.ones((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    return ops.transpose(arg(a), axes)


def swapaxes(a, axis1, axis2):
    """numpy.swapaxes.

    >>> fnp.swapaxes(np.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    a = arg(a)
    ndim_ = typeof(a).ndim
    perm = list(range(ndim_))
    i, j = normalize_axis(int(axis1), ndim_), normalize_axis(int(axis2), ndim_)
    perm[i], perm[j] = perm[j], perm[i]
    return ops.transpose(a, perm)


def moveaxis(a, source, destination):
    """numpy.moveaxis: move axes to new positions, the others keep their order.

    >>> fnp.moveaxis(np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    a = arg(a)
    ndim_ = typeof(a).ndim
    source = [source] if isinstance(source, (int, np.integer)) else list(source)
    destination = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    source = [normalize_axis(int(s), ndim_) for s in source]
    destination = [normalize_axis(int(d), ndim_) for d in destination]
    order = [axis for axis in range(ndim_) if axis not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return ops.transpose(a, order)


def expand_dims(a, axis):
    """numpy.expand_dims: size-1 axes at `axis` (positions in the result).

    >>> fnp.expand_dims(np.ones(3), (0, 2)).shape
    (1, 3, 1)
    """
    return ops.expand_dims(arg(a), axis)


def squeeze(a, axis=None):
    """numpy.squeeze: drop size-1 axes (all of them when axis is None).

    >>> fnp.squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    return ops.squeeze(arg(a), axis)


def broadcast_to(array, shape):
    """numpy.broadcast_to.

    >>> fnp.broadcast_to(np.array([1.0, 2.0]), (3, 2)).shape
    (3, 2)
    """
    return ops.broadcast_to(arg(array), shape)


def flip(m, axis=None):
    """numpy.flip: reverse the order of elements along `axis` (int, tuple, or None for every axis).

    >>> fnp.flip(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([[2., 1.],
           [4., 3.]])
    """
    m = arg(m)
    axes = reduction_axes(m, axis)
    return getitem(m, tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(typeof(m).ndim)))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """numpy.diagonal: the elements a[..., i, i + offset] of the (axis1, axis2) planes, along a new last axis.

    >>> fnp.diagonal(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([1., 4.])
    """
    a = arg(a)
    shape_ = typeof(a).shape
    axis1, axis2 = normalize_axis(int(axis1), len(shape_)), normalize_axis(int(axis2), len(shape_))
    if axis1 == axis2:
        raise ValueError("axis1 and axis2 cannot be the same")
    offset = int(offset)
    rows, cols = shape_[axis1], shape_[axis2]
    n = builtins.max(0, builtins.min(rows + builtins.min(offset, 0), cols - builtins.max(offset, 0)))
    planes = moveaxis(a, (axis1, axis2), (-2, -1))
    i = np.arange(n, dtype=np.int64) - builtins.min(offset, 0)
    return getitem(planes, (Ellipsis, i, i + offset))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """numpy.trace: the sum along the diagonal (see `diagonal`).

    >>> fnp.trace(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.float64(5.0)
    """
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diff(a, n=1, axis=-1):
    """numpy.diff: the n-th discrete difference a[1:] - a[:-1] along `axis` (bool arrays: a[1:] != a[:-1]).

    >>> fnp.diff(np.array([1.0, 4.0, 9.0]))
    array([3., 5.])
    """
    a = arg(a)
    ndim_ = typeof(a).ndim
    if ndim_ == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis(int(axis), ndim_)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    later = tuple(slice(1, None) if d == axis else slice(None) for d in range(ndim_))
    earlier = tuple(slice(None, -1) if d == axis else slice(None) for d in range(ndim_))
    for _ in range(n):
        after, before = getitem(a, later), getitem(a, earlier)
        a = not_equal(after, before) if typeof(a).dtype == np.bool_ else subtract(after, before)
    return a


# ---- joining ---------------------------------------------------------------------------------------

def concatenate(arrays, axis=0, dtype=None):
    """numpy.concatenate (axis=None joins the flattened arrays); dtypes promote as numpy's.

    >>> fnp.concatenate([np.zeros(2), np.ones(1)])
    array([0., 0., 1.])
    """
    xs = [arg(x) for x in arrays]
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    if dtype is not None:
        xs = [ops.cast(x, dtype) for x in xs]
    return ops.concatenate(xs, axis)


concat = concatenate


def stack(arrays, axis=0):
    """numpy.stack: join arrays of one shape along a new axis.

    >>> fnp.stack([np.zeros(2), np.ones(2)], axis=1).shape
    (2, 2)
    """
    return stacked([arg(x) for x in arrays], axis)


def _atleast_1d(x):
    return ops.reshape(x, (1,)) if typeof(x).ndim == 0 else x


def _atleast_2d(x):
    ndim_ = typeof(x).ndim
    if ndim_ == 0:
        return ops.reshape(x, (1, 1))
    return ops.expand_dims(x, 0) if ndim_ == 1 else x


def vstack(tup):
    """numpy.vstack: rows on top of each other (1-D arrays become rows).

    >>> fnp.vstack([np.zeros(2), np.ones(2)]).shape
    (2, 2)
    """
    return ops.concatenate([_atleast_2d(arg(x)) for x in tup], 0)


def hstack(tup):
    """numpy.hstack: along the second axis (the first for 1-D arrays).

    >>> fnp.hstack([np.zeros(2), np.ones(3)]).shape
    (5,)
    """
    xs = [_atleast_1d(arg(x)) for x in tup]
    if not xs:
        raise ValueError("need at least one array to concatenate")
    return ops.concatenate(xs, 0 if typeof(xs[0]).ndim == 1 else 1)
