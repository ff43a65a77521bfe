"""Order statistics and moments as PyTorch computes them: median (global and per dim), mode, std_mean, var_mean,
bincount; and the reordering ops roll and tile.

PyTorch's conventions kept here: the median is the lower one (element (n - 1) // 2 of the sorted values) and NaN if a
NaN is present; per dim its index is that element's in a stable sort (the later of equal values), or the first NaN's;
the global median's gradient is split evenly among the elements equal to it (derivatives.yaml's
evenly_distribute_backward), the per-dim one's goes to the index. mode is the most frequent value, the smallest of
equally frequent ones, at its last index; it compares every pair of a lane's elements (n**2 work per lane).
"""
from __future__ import annotations

import math

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.transforms.custom import custom_vjp
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import as_tensor_arg, numpy_names
from fgrad.facade._reductions import _var_args, _var_fn, return_types, take_along_axis
from fgrad.facade._shapes import _shape_arg, repeat
from fgrad.facade._tensor import Tensor, _dim, make

__all__ = ["median", "mode", "std_mean", "var_mean", "bincount", "roll", "tile"]


# ---- median ---------------------------------------------------------------------------------------------------

def _lower_median(x):
    """Element (n - 1) // 2 of x's sorted values, NaN if there is a NaN."""
    flat = ops.reshape(x, (-1,))
    n = flat.shape[0]
    lower = ops.gather(ops.sort(flat), np.array((n - 1) // 2, np.int64), 0)
    has_nan = ops.ne(ops.reduce_sum(ops.convert_element_type(ops.ne(flat, flat), np.int64)), 0)
    return ops.select(has_nan, math.nan, lower)


# The global median's gradient, PyTorch's evenly_distribute_backward: split evenly among the elements equal to the
# median (the NaNs, when it is NaN). A custom rule: no composition of the primitives has that value and derivative
# at infinite and NaN medians too.
_median_split_evenly = custom_vjp(_lower_median)


def _median_forward(x):
    # x itself (not a reshaped view) is the residual, so the facade's checks of in-place writes cover it
    value = _lower_median(x)
    return value, (x, value)


def _median_backward(residuals, out_ct):
    x, value = residuals
    chosen = ops.select(ops.ne(value, value), ops.ne(x, x), ops.eq(x, value))
    count = ops.reduce_sum(ops.convert_element_type(chosen, x.dtype))
    return (ops.select(chosen, ops.div(out_ct, count), 0),)


_median_split_evenly.defvjp(_median_forward, _median_backward)


def _median_all_fn(x):
    return _median_split_evenly(x) if x.dtype.kind == "f" else _lower_median(x)


def _median_dim_fn(x, axis, keepdim):
    n = x.shape[axis]
    order = ops.argsort(x, axis)
    nan_count = ops.reduce_sum(ops.convert_element_type(ops.ne(x, x), np.int64), (axis,))
    position = ops.select(ops.gt(nan_count, 0), ops.sub(n, nan_count), (n - 1) // 2)   # the first NaN if any
    index = ops.squeeze(take_along_axis(order, ops.expand_dims(position, axis), axis), axis)
    values = ops.squeeze(take_along_axis(x, ops.expand_dims(index, axis), axis), axis)
    if keepdim:
        return ops.expand_dims(values, axis), ops.expand_dims(index, axis)
    return values, index


_MEDIAN_ALL = FacadeOp("median", _median_all_fn, "MedianBackward0")
_MEDIAN_DIM = FacadeOp("median", _median_dim_fn, "MedianBackward1")


@numpy_names
def median(input, dim=None, keepdim=False):
    """The lower median of all elements (MedianBackward0), or (values, indices) along `dim` (MedianBackward1).

    >>> torch.tensor([3.0, 1.0, 2.0, 4.0]).median()
    tensor(2.)
    """
    if dim is None:
        if input._data.size == 0:
            return make(np.array(np.nan, input._data.dtype))
        return apply(_MEDIAN_ALL, (input,))
    ndim = input._data.ndim
    axis = _dim(dim, ndim)
    _check_nonempty("median", input, axis)
    if ndim == 0:
        return return_types.median(input.clone(), make(np.zeros((), np.int64)))
    values, index = apply(_MEDIAN_DIM, (input,), (axis, bool(keepdim)), multi=True)
    return return_types.median(values, index)


def _check_nonempty(name: str, input, axis: int):
    if input._data.ndim and input._data.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")


# ---- mode -------------------------------------------------------------------------------------------------------

def _largest(dtype) -> float:
    return math.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max


def _mode_fn(x, axis, keepdim):
    # counts[..., i, ...] = how many elements of i's lane equal it (a NaN equals nothing, so it is never the mode
    # of a lane with a number in it)
    pairs = ops.eq(ops.expand_dims(x, axis + 1), ops.expand_dims(x, axis))
    counts = ops.reduce_sum(ops.convert_element_type(pairs, np.int64), (axis + 1,))
    most = ops.expand_dims(ops.reduce_max(counts, (axis,)), axis)
    candidates = ops.select(ops.eq(counts, most), stop_gradient(x), _largest(x.dtype))
    value = ops.expand_dims(ops.reduce_min(candidates, (axis,)), axis)
    positions = ops.iota(tuple(x.shape), np.int64, axis)
    index = ops.reduce_max(ops.select(ops.eq(x, value), positions, -1), (axis,))
    index = ops.select(ops.lt(index, 0), 0, index)                     # an all-NaN lane: its first element
    values = ops.squeeze(take_along_axis(x, ops.expand_dims(index, axis), axis), axis)
    if keepdim:
        return ops.expand_dims(values, axis), ops.expand_dims(index, axis)
    return values, index


_MODE = FacadeOp("mode", _mode_fn, "ModeBackward0")


@numpy_names
def mode(input, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along `dim` (the smallest of equally frequent ones) and its last
    index (ModeBackward0).

    >>> torch.tensor([3.0, 1.0, 3.0, 1.0, 2.0]).mode()
    torch.return_types.mode(
    values=tensor(1.),
    indices=tensor(3))
    """
    ndim = input._data.ndim
    axis = _dim(dim, ndim)
    _check_nonempty("mode", input, axis)
    if ndim == 0:
        return return_types.mode(input.clone(), make(np.zeros((), np.int64)))
    values, index = apply(_MODE, (input,), (axis, bool(keepdim)), multi=True)
    return return_types.mode(values, index)


# ---- std_mean, var_mean -----------------------------------------------------------------------------------------

def _moments_fn(x, axes, correction, keepdim, take_sqrt):
    spread = _var_fn(x, axes, correction, keepdim, take_sqrt)
    count = math.prod(x.shape[a] for a in axes)
    mean = ops.div(ops.reduce_sum(x, axes), count)
    return spread, (ops.expand_dims(mean, axes) if keepdim else mean)


_STD_MEAN = FacadeOp("std_mean", _moments_fn, "StdMeanBackward0", variant=None)
_VAR_MEAN = FacadeOp("var_mean", _moments_fn, "VarMeanBackward0", variant=None)


@numpy_names
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over `dim` in one op (StdMeanBackward0); arguments as torch.std's.

    >>> torch.std_mean(torch.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    args = _var_args(input, dim, unbiased, keepdim, correction) + (True,)
    return apply(_STD_MEAN, (input,), args, multi=True)


@numpy_names
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over `dim` in one op (VarMeanBackward0); arguments as torch.var's.

    >>> torch.var_mean(torch.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    args = _var_args(input, dim, unbiased, keepdim, correction) + (False,)
    return apply(_VAR_MEAN, (input,), args, multi=True)


# ---- bincount ---------------------------------------------------------------------------------------------------

def _bincount_fn(values, weights, length):
    zeros = ops.full((length,), 0, weights.dtype)
    return ops.scatter_add(zeros, ops.convert_element_type(values, np.int64), weights, 0)


_BINCOUNT = FacadeOp("bincount", _bincount_fn, "BincountBackward0")


def bincount(input, weights=None, minlength=0):
    """How often each value 0..max occurs in the 1-d non-negative int tensor `input` (at least `minlength` bins), or
    the sums of `weights` per value. Not differentiable, as in PyTorch (whose backward raises); the result does not
    require grad.

    >>> torch.bincount(torch.tensor([0, 2, 2]))
    tensor([1, 0, 2])
    """
    data = input._data
    if data.ndim != 1 or data.dtype.kind not in "iu":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if data.size and data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    length = max(int(data.max()) + 1 if data.size else 0, int(minlength))
    if weights is None:
        weights_data = np.ones(data.shape, np.int64)
    else:
        weights = as_tensor_arg(weights)
        if weights._data.shape != data.shape:
            raise RuntimeError("weights should be 1-d and have the same length as input")
        kind = weights._data.dtype
        weights_data = weights.detach()._data.astype(kind if kind.kind == "f" else np.float64)
    return apply(_BINCOUNT, (data, weights_data), (length,))


# ---- roll, tile -------------------------------------------------------------------------------------------------

def _roll_fn(x, shifts, axes):
    if axes is None:        # the flattened tensor, rolled, in its own shape
        return ops.reshape(_roll_fn(ops.reshape(x, (-1,)), shifts, (0,)), tuple(x.shape))
    for shift, axis in zip(shifts, axes):
        n = x.shape[axis]
        x = ops.gather(x, (np.arange(n, dtype=np.int64) - shift) % max(n, 1), axis)
    return x


_ROLL = FacadeOp("roll", _roll_fn, "RollBackward0")


def roll(input, shifts, dims=None):
    """input's elements shifted by `shifts` along `dims`, wrapping around; the flattened tensor when dims is None
    (RollBackward0).

    >>> torch.roll(torch.tensor([1, 2, 3, 4]), 1)
    tensor([4, 1, 2, 3])
    """
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return apply(_ROLL, (input,), ((int(shifts[0]),), None))
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    axes = tuple(_dim(d, input._data.ndim) for d in dims)
    return apply(_ROLL, (input,), (tuple(int(s) for s in shifts), axes))


def tile(input, *dims):
    """input repeated `dims` times along each dim; fewer dims than input has are padded with 1s in front
    (RepeatBackward0, as torch.tile is repeat).

    >>> torch.tensor([1, 2]).tile(2)
    tensor([1, 2, 1, 2])
    """
    dims = _shape_arg(dims)
    ndim = input._data.ndim
    return repeat(input, (1,) * (ndim - len(dims)) + dims)


for _name in ("median", "mode", "roll", "tile", "bincount"):
    setattr(Tensor, _name, globals()[_name])
for _name in ("median", "mode"):
    setattr(return_types, _name, type(_name, (return_types._ValuesIndices,), {"_name": _name}))
