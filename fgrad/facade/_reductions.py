"""Reductions: sum, mean, max/min, amax/amin, argmax, prod, var/std, norm, logsumexp, softmax, cumsum."""
from __future__ import annotations

import builtins
import math

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.facade import _dtypes
from fgrad.facade._creation import zeros_like
from fgrad.facade._elementwise import maximum, minimum, torch_abs
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _axes, _cast, _dtype_name, _f, numpy_names
from fgrad.facade._tensor import Tensor, _dim

__all__ = ["sum", "mean", "take_along_axis", "return_types", "max", "min", "amax", "amin", "argmax", "argmin",
           "prod", "var", "std", "norm", "logsumexp", "softmax", "log_softmax", "cumsum",
           "cumprod"]


# ---- reductions -----------------------------------------------------------------------------------------

def _keep(y, axes, keepdim):
    return ops.expand_dims(y, axes) if keepdim and axes else y


def _sum_fn(x, axes, keepdim, dtype):
    return _keep(ops.reduce_sum(_cast(x, dtype), axes), axes, keepdim)


_SUM_ALL = FacadeOp("sum", _sum_fn, "SumBackward0")
_SUM_DIM = FacadeOp("sum", _sum_fn, "SumBackward1")


class _AllDims:
    """The default `dim` of sum and mean: PyTorch records SumBackward0 for x.sum() but SumBackward1 for
    x.sum(dim=None) or x.sum(dim=[]), all of them a sum over every element."""

    def __repr__(self):
        return "None"


ALL_DIMS = _AllDims()


def _all_dims(dim) -> bool:
    return dim is ALL_DIMS or dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0)


@numpy_names
def sum(input, dim=ALL_DIMS, keepdim=False, *, dtype=None):
    """The sum over `dim` (all elements when None): SumBackward0 / SumBackward1. Ints and bools sum in int64."""
    if dtype is not None:
        out_dtype = _dtypes.to_numpy(dtype)
    else:
        out_dtype = input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64)
    ndim = input._data.ndim
    if _all_dims(dim):
        op = _SUM_ALL if dim is ALL_DIMS else _SUM_DIM
        return apply(op, (input,), (tuple(range(ndim)), bool(keepdim) and dim is not ALL_DIMS, out_dtype))
    return apply(_SUM_DIM, (input,), (_axes(dim, ndim), bool(keepdim), out_dtype))


def _mean_fn(x, axes, keepdim, dtype):
    x = _cast(x, dtype)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return _keep(ops.div(ops.reduce_sum(x, axes), count), axes, keepdim)


_MEAN_ALL = FacadeOp("mean", _mean_fn, "MeanBackward0")
_MEAN_DIM = FacadeOp("mean", _mean_fn, "MeanBackward1")


@numpy_names
def mean(input, dim=ALL_DIMS, keepdim=False, *, dtype=None):
    """The mean over `dim` (all elements when None): the sum divided by the count, as PyTorch on CPU."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {_dtype_name(out_dtype)}")
    ndim = input._data.ndim
    if _all_dims(dim):
        op = _MEAN_ALL if dim is ALL_DIMS else _MEAN_DIM
        return apply(op, (input,), (tuple(range(ndim)), bool(keepdim) and dim is not ALL_DIMS, out_dtype))
    return apply(_MEAN_DIM, (input,), (_axes(dim, ndim), bool(keepdim), out_dtype))


def _chooser_all(op):
    # PyTorch's max()/min() backward spreads the gradient evenly over the elements equal to the result, and
    # over the NaNs when the result is NaN (the primitive's rule, JAX's, gives NaN everywhere then): the NaN
    # case is the mean of the NaN elements, and the extremum is taken over the others.
    def fn(x):
        reduce = ops.reduce_max if op == "max" else ops.reduce_min
        if x.dtype.kind != "f":
            return reduce(x)
        is_nan = ops.ne(x, x)
        extremum = reduce(ops.select(is_nan, -math.inf if op == "max" else math.inf, x))
        nan_count = ops.reduce_sum(ops.convert_element_type(is_nan, x.dtype))
        nan_mean = ops.div(ops.reduce_sum(ops.select(is_nan, x, 0.0)), ops.maximum(nan_count, 1.0))
        return ops.select(ops.gt(nan_count, 0), nan_mean, extremum)
    return fn


_MAX_ALL = FacadeOp("max", _chooser_all("max"), "MaxBackward1")
_MIN_ALL = FacadeOp("min", _chooser_all("min"), "MinBackward1")


def take_along_axis(x, indices, axis):
    """x[..., indices[...], ...] along `axis` (np.take_along_axis; index shape may be smaller on the other
    axes, as torch.gather's), as a gather from the flattened x, so the gradient is a scatter-add."""
    x_shape = x.shape
    index_shape = indices.shape
    strides = [int(np.prod(x_shape[d + 1:], dtype=np.int64)) for d in range(len(x_shape))]
    linear = ops.mul(ops.convert_element_type(indices, np.int64), strides[axis])
    for d in range(len(index_shape)):
        if d != axis and index_shape[d] > 1:
            linear = ops.add(linear, ops.mul(ops.iota(index_shape, np.int64, d), strides[d]))
    return ops.gather(ops.reshape(x, (-1,)), linear, 0)


def _chooser_dim(pick):
    def fn(x, axis, keepdim):
        index = ops.argmax(x if pick == "max" else ops.neg(x), axis)
        values = take_along_axis(x, ops.expand_dims(index, axis), axis)
        if not keepdim:
            values = ops.squeeze(values, axis)
            return values, index
        return values, ops.expand_dims(index, axis)
    return fn


_MAX_DIM = FacadeOp("max", _chooser_dim("max"), "MaxBackward0")
_MIN_DIM = FacadeOp("min", _chooser_dim("min"), "MinBackward0")


class return_types:
    """PyTorch's named tuples for (values, indices) results."""

    class _ValuesIndices(tuple):
        _name = "values_indices"

        def __new__(cls, values, indices):
            return tuple.__new__(cls, (values, indices))

        values = property(lambda self: self[0])
        indices = property(lambda self: self[1])

        def __repr__(self):
            return (f"torch.return_types.{self._name}(\nvalues={self[0]!r},\nindices={self[1]!r})")

    class max(_ValuesIndices):
        _name = "max"

    class min(_ValuesIndices):
        _name = "min"

    class sort(_ValuesIndices):
        _name = "sort"

    class topk(_ValuesIndices):
        _name = "topk"


def _chooser(input, dim, keepdim, pick, other):
    if isinstance(dim, Tensor) and other is None:
        return (maximum if pick == "max" else minimum)(input, dim)
    if other is not None:
        return (maximum if pick == "max" else minimum)(input, other)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(f"{pick}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return apply(_MAX_ALL if pick == "max" else _MIN_ALL, (input,))
    axis = _dim(dim, input._data.ndim) if input._data.ndim else 0
    if input._data.ndim == 0:
        return getattr(return_types, pick)(input.clone(), zeros_like(input, dtype=np.int64))
    values, indices = apply(_MAX_DIM if pick == "max" else _MIN_DIM, (input,), (axis, bool(keepdim)), multi=True)
    return getattr(return_types, pick)(values, indices)


@numpy_names
def max(input, dim=None, keepdim=False, *, other=None):
    """max(): the maximum (ties share the gradient, MaxBackward1); max(dim): (values, indices) with the
    gradient to the first maximum (MaxBackward0); max(other): elementwise maximum."""
    return _chooser(input, dim, keepdim, "max", other)


@numpy_names
def min(input, dim=None, keepdim=False, *, other=None):
    """The minimum, as `max`."""
    return _chooser(input, dim, keepdim, "min", other)


def _extreme_fn(op):
    def fn(x, axes, keepdim):
        return _keep(op(x, axes), axes, keepdim)
    return fn


_AMAX = FacadeOp("amax", _extreme_fn(ops.reduce_max), "AmaxBackward0")
_AMIN = FacadeOp("amin", _extreme_fn(ops.reduce_min), "AminBackward0")


@numpy_names
def amax(input, dim=(), keepdim=False):
    """The maximum over `dim`; ties share the gradient evenly (AmaxBackward0)."""
    axes = tuple(range(input._data.ndim)) if dim in ((), [], None) else _axes(dim, input._data.ndim)
    return apply(_AMAX, (input,), (axes, bool(keepdim)))


@numpy_names
def amin(input, dim=(), keepdim=False):
    axes = tuple(range(input._data.ndim)) if dim in ((), [], None) else _axes(dim, input._data.ndim)
    return apply(_AMIN, (input,), (axes, bool(keepdim)))


def _arg_fn(pick):
    def fn(x, axis, keepdim, flat):
        if flat:
            x = ops.reshape(x, (-1,))
        index = ops.argmax(x if pick == "max" else ops.neg(x), axis)
        return ops.expand_dims(index, axis) if keepdim and not flat else index
    return fn


_ARGMAX = FacadeOp("argmax", _arg_fn("max"), "")
_ARGMIN = FacadeOp("argmin", _arg_fn("min"), "")


@numpy_names
def argmax(input, dim=None, keepdim=False):
    """The index of the first maximum (of the flattened tensor when dim is None)."""
    if dim is None:
        return apply(_ARGMAX, (input,), (0, False, True))
    return apply(_ARGMAX, (input,), (_dim(dim, input._data.ndim), bool(keepdim), False))


@numpy_names
def argmin(input, dim=None, keepdim=False):
    if dim is None:
        return apply(_ARGMIN, (input,), (0, False, True))
    return apply(_ARGMIN, (input,), (_dim(dim, input._data.ndim), bool(keepdim), False))


def _product(x, axis):
    """The product over one axis as a balanced tree of multiplications (exact gradients with zeros)."""
    n = x.shape[axis]
    ndim = len(x.shape)
    while n > 1:
        if n % 2:
            widths = [(0, 0, 0)] * ndim
            widths[axis] = (0, 1, 0)
            x = ops.pad(x, widths, 1)
            n += 1
        half = n // 2
        starts, stops = [0] * ndim, list(x.shape)
        stops[axis] = half
        left = ops.static_slice(x, starts, stops)
        starts[axis], stops[axis] = half, n
        right = ops.static_slice(x, starts, stops)
        x = ops.mul(left, right)
        n = half
    if n == 0:
        shape = list(x.shape)
        shape[axis] = 1
        return ops.full(tuple(shape), 1, x.dtype)
    return x


def _prod_fn(x, axis, keepdim, dtype, flat):
    x = _cast(x, dtype)
    if flat:
        return ops.reshape(_product(ops.reshape(x, (-1,)), 0), ())
    y = _product(x, axis)
    return y if keepdim else ops.squeeze(y, axis)


_PROD_ALL = FacadeOp("prod", _prod_fn, "ProdBackward0")
_PROD_DIM = FacadeOp("prod", _prod_fn, "ProdBackward1")


@numpy_names
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product over `dim` (all when None): ProdBackward0 / ProdBackward1."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    if dim is None:
        return apply(_PROD_ALL, (input,), (0, False, out_dtype, True))
    axis = _dim(dim, input._data.ndim)
    if input._data.ndim == 0:
        return apply(_PROD_ALL, (input,), (0, False, out_dtype, True))
    return apply(_PROD_DIM, (input,), (axis, bool(keepdim), out_dtype, False))


def _var_fn(x, axes, correction, keepdim, take_sqrt):
    # std's gradient is 0 where std is 0, as PyTorch masks its 0 / 0. (Next to an infinite element the
    # mean's term of the gradient is inf - inf = nan, where PyTorch's 2 (x - mean) / (n - c) leaves it out;
    # leaving it out here would make the second derivative wrong.)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    mu = ops.div(ops.reduce_sum(x, axes), count)
    centered = ops.sub(x, ops.expand_dims(mu, axes))
    var_ = ops.div(ops.reduce_sum(ops.mul(centered, centered), axes), builtins.max(count - correction, 0))
    if take_sqrt:
        zero = ops.eq(var_, 0)
        var_ = ops.select(zero, 0.0, ops.sqrt(ops.select(zero, 1.0, var_)))
    return _keep(var_, axes, keepdim)


_VAR = FacadeOp("var", _var_fn, "VarBackward0", variant=None)
_STD = FacadeOp("std", _var_fn, "StdBackward0", variant=None)


def _var_args(input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):                      # var(unbiased) in the old signature
        unbiased, dim = dim, None
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"std and var only support floating point and complex dtypes")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    ndim = input._data.ndim
    axes = tuple(range(ndim)) if dim is None else _axes(dim, ndim)
    return (axes, int(correction), bool(keepdim))


@numpy_names
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The variance over `dim` with Bessel's correction by default (VarBackward0)."""
    return apply(_VAR, (input,), _var_args(input, dim, unbiased, keepdim, correction) + (False,))


@numpy_names
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The standard deviation (StdBackward0)."""
    return apply(_STD, (input,), _var_args(input, dim, unbiased, keepdim, correction) + (True,))


def _norm_fn(x, p, axes, keepdim, dtype):
    x = _cast(x, dtype)
    if p == 2:
        # sqrt of a sum of squares, with the gradient 0 (not nan) at the zero vector, as PyTorch's
        s = ops.reduce_sum(ops.mul(x, x), axes)
        zero = ops.eq(s, 0)
        y = ops.select(zero, 0, ops.sqrt(ops.select(zero, 1, s)))
    elif p == 1:
        y = ops.reduce_sum(torch_abs(x), axes)
    elif p == math.inf:
        y = ops.reduce_max(ops.abs(x), axes)
    elif p == -math.inf:
        y = ops.reduce_min(ops.abs(x), axes)
    elif p == 0:
        y = ops.reduce_sum(_cast(ops.ne(x, 0), x.dtype), axes)
    else:
        y = ops.pow(ops.reduce_sum(ops.pow(ops.abs(x), float(p)), axes), 1.0 / p)
    return _keep(y, axes, keepdim)


_NORM = FacadeOp("norm", _norm_fn, "LinalgVectorNormBackward0", variant=None)


@numpy_names
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over `dim` (all elements when None); 'fro' is the 2-norm."""
    p = 2 if p in ("fro", None) else p
    if p == "nuc":
        raise NotImplementedError("the nuclear norm needs an SVD, which fgrad does not have")
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_dtype_name(out_dtype)}")
    ndim = input._data.ndim
    axes = tuple(range(ndim)) if dim is None else _axes(dim, ndim)
    return apply(_NORM, (input,), (float(p), axes, bool(keepdim), out_dtype))


def _logsumexp_fn(x, axes, keepdim):
    shift = _stable_shift(x, axes)
    total = ops.reduce_sum(ops.exp(ops.sub(x, shift)), axes)
    y = ops.add(ops.log(total), ops.squeeze(shift, axes))
    return _keep(y, axes, keepdim)


def _stable_shift(x, axes):
    """max over `axes` (kept), held constant for the derivative; 0 where it is infinite, so that all -inf
    (or +inf) rows give -inf (+inf) rather than nan."""
    m = stop_gradient(ops.reduce_max(x, axes))
    m = ops.select(ops.eq(ops.abs(m), math.inf), 0, m)
    return ops.expand_dims(m, axes)


_LOGSUMEXP = FacadeOp("logsumexp", _logsumexp_fn, "LogsumexpBackward0", variant=None)


@numpy_names
def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over `dim`, computed stably (LogsumexpBackward0)."""
    dtype = input._data.dtype if input._data.dtype.kind == "f" else _f()
    x = input if input._data.dtype == dtype else input.to(dtype)
    return apply(_LOGSUMEXP, (x,), (_axes(dim, input._data.ndim), bool(keepdim)))


def _softmax_fn(x, axis, dtype):
    x = _cast(x, dtype)
    e = ops.exp(ops.sub(x, _stable_shift(x, (axis,))))
    return ops.div(e, ops.expand_dims(ops.reduce_sum(e, axis), axis))


def _log_softmax_fn(x, axis, dtype):
    x = _cast(x, dtype)
    z = ops.sub(x, _stable_shift(x, (axis,)))
    return ops.sub(z, ops.expand_dims(ops.log(ops.reduce_sum(ops.exp(z), axis)), axis))


_SOFTMAX = FacadeOp("softmax", _softmax_fn, "SoftmaxBackward0", variant=None)
_LOG_SOFTMAX = FacadeOp("log_softmax", _log_softmax_fn, "LogSoftmaxBackward0", variant=None)


def _converted(input, dtype):
    return input if dtype is None or _dtypes.to_numpy(dtype) == input._data.dtype else input.to(dtype)


def _softmax_args(input, dim, dtype):
    if dim is None:
        raise TypeError("softmax() missing required argument 'dim' (fgrad, like PyTorch's functional API, "
                        "needs the dim)")
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError(f"\"softmax_lastdim_kernel_impl\" not implemented for '{_dtype_name(out_dtype)}'")
    return (_dim(dim, input._data.ndim) if input._data.ndim else 0, out_dtype)


@numpy_names
def softmax(input, dim=None, dtype=None):
    """exp(input) normalized over `dim` (SoftmaxBackward0); with `dtype`, the input is converted first
    (ToCopyBackward0), as PyTorch does."""
    input = _converted(input, dtype)
    if input._data.ndim == 0:
        return apply(_SOFTMAX, (input.reshape(1),), _softmax_args(input, 0, dtype)).reshape(())
    return apply(_SOFTMAX, (input,), _softmax_args(input, dim, dtype))


@numpy_names
def log_softmax(input, dim=None, dtype=None):
    """log(softmax(input)) over `dim`, computed stably (LogSoftmaxBackward0)."""
    input = _converted(input, dtype)
    if input._data.ndim == 0:
        return apply(_LOG_SOFTMAX, (input.reshape(1),), _softmax_args(input, 0, dtype)).reshape(())
    return apply(_LOG_SOFTMAX, (input,), _softmax_args(input, dim, dtype))


def _cumsum_fn(x, axis, dtype):
    # PyTorch's running sums start from +0.0, so none is -0.0 (numpy's first is the first element): + 0.0.
    sums = ops.cumsum(_cast(x, dtype), axis)
    return ops.add(sums, 0.0) if dtype.kind == "f" else sums


_CUMSUM = FacadeOp("cumsum", _cumsum_fn, "CumsumBackward0")


@numpy_names
def cumsum(input, dim, *, dtype=None):
    """Running sums along `dim` (CumsumBackward0); ints sum in int64."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    if input._data.ndim == 0:
        return input.to(out_dtype).clone()
    return apply(_CUMSUM, (input,), (_dim(dim, input._data.ndim), out_dtype))


def _cumprod_fn(x, axis, dtype):
    return ops.cumprod(_cast(x, dtype), axis)


_CUMPROD = FacadeOp("cumprod", _cumprod_fn, "CumprodBackward0")


@numpy_names
def cumprod(input, dim, *, dtype=None):
    """Running products along `dim` (CumprodBackward0); ints multiply in int64. The gradient is exact where
    the input has zeros (nothing divides by the product)."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    if input._data.ndim == 0:
        return input.to(out_dtype).clone()
    return apply(_CUMPROD, (input,), (_dim(dim, input._data.ndim), out_dtype))
