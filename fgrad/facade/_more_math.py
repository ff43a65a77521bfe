"""More of torch's namespace, elementwise functions and reductions: sgn, heaviside, logit, xlogy, logaddexp,
nan_to_num, erf/erfc, nansum/nanmean, cummax/cummin, logcumsumexp, kthvalue, quantile/nanquantile, cov,
corrcoef, histc, msort.

The differentiable ones are facade ops over fgrad ops (one node each, named as PyTorch's) or compositions
of facade functions; where an op picks elements (cummax, kthvalue, quantile), the positions are computed
with numpy on the data (integers have no gradient) and the values are gathered, so the gradient reaches the
picked elements as PyTorch's does.

>>> import fgrad as torch
>>> torch.logaddexp(torch.tensor([0.0]), torch.tensor([0.0]))
tensor([0.6931])
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.facade import _dtypes, _operands
from fgrad.facade._elementwise import (_binary, _binary_fn, _float_binary, _float_unary, clamp, div, sign, sqrt, sub,
                                       torch_abs)
from fgrad.facade._linalg import diag, matmul
from fgrad.facade._methods import lerp
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _axes, _cast, _dtype_name, _f, as_tensor_arg
from fgrad.facade._reductions import _keep, _stable_shift, mean, return_types, sum, take_along_axis
from fgrad.facade._shapes import permute, reshape, squeeze, t, unsqueeze
from fgrad.facade._tensor import Tensor, _dim, make

__all__ = ["sgn", "heaviside", "logit", "xlogy", "logaddexp", "logaddexp2", "nan_to_num", "erf", "erfc",
           "nansum", "nanmean", "cummax", "cummin", "logcumsumexp", "kthvalue", "quantile", "nanquantile", "cov",
           "corrcoef", "histc", "msort", "copysign", "deg2rad", "rad2deg", "fix", "float_power", "fmax", "fmin", "gcd",
           "lcm", "bitwise_left_shift", "bitwise_right_shift", "isposinf", "isneginf", "signbit", "positive", "ldexp",
           "aminmax"]

# torch's numpy-style argument names (axis=, keepdims=) on the ops that take dim / keepdim: the facade's one
# helper for them, _operands.numpy_names, where this tree has it (it comes with the argument-conventions work)
numpy_names = getattr(_operands, "numpy_names", None) or (lambda fn: fn)


def _float_input(input):
    dtype = input._data.dtype
    return dtype if dtype.kind == "f" else _f()


# ---- elementwise ----------------------------------------------------------------------------------------

def sgn(input):
    """sign for real tensors (sgn extends it to complex ones)."""
    return sign(input)


def heaviside(input, values):
    """0 where input < 0, `values` where input == 0, 1 where input > 0 (no gradient, as PyTorch's)."""
    values = as_tensor_arg(values)
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    x, v = np.broadcast_arrays(input._data, values._data)
    return make(np.asarray(np.where(x == 0, v, x > 0), x.dtype))     # NaN is not > 0: 0, as PyTorch's


def nan_where(mask, x):
    """NaN where `mask`, with a NaN derivative to x there (PyTorch's gradient at NaN inputs), and a zero one
    elsewhere: x times a constant that is NaN on the mask. Used as the branch of a select, whose other
    positions get a zero cotangent, which a NaN derivative there would turn into NaN."""
    return ops.mul(x, ops.select(mask, ops.full(x.shape, math.nan, x.dtype), ops.full(x.shape, 0.0, x.dtype)))


def _logit_fn(x, lo, dtype, clamped):
    # log(x) - log1p(-x): its derivative 1 / x + 1 / (1 - x) is inf at 0 and 1, as PyTorch's (x / (1 - x) under
    # the log would give inf * 0 = nan there). With eps, x clamped to [eps, 1 - eps] first, the gradient 0
    # outside (PyTorch passes it at the bounds themselves); without, NaN with a NaN gradient outside [0, 1].
    x = _cast(x, dtype)
    if clamped:
        inside = ops.select(ops.ge(x, lo), ops.le(x, ops.sub(1.0, lo)), False)
        x = ops.select(inside, x, stop_gradient(ops.minimum(ops.maximum(x, lo), ops.sub(1.0, lo))))
    x = ops.add(x, 0.0)             # -0.0 as +0.0: the derivative 1 / x at zero is +inf, as PyTorch's
    value = ops.sub(ops.log(x), ops.log1p(ops.neg(x)))
    if clamped:
        return value
    outside = ops.select(ops.lt(x, 0), True, ops.gt(x, 1))
    return ops.select(outside, nan_where(outside, x), value)


_LOGIT = FacadeOp("logit", _logit_fn, "LogitBackward0", nondiff=(1,))


def logit(input, eps=None):
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given.

    >>> import fgrad as torch
    >>> torch.logit(torch.tensor([0.5, 0.75]))
    tensor([0.0000, 1.0986])
    """
    dtype = _float_input(input)
    return apply(_LOGIT, (input, np.asarray(0.0 if eps is None else eps, dtype)), (dtype, eps is not None))


def x_times_log(x, y, log, edge):
    """x * log(y) (log: ops.log, edge 0; or ops.log1p, edge -1) with PyTorch's values and gradients: 0 where
    x == 0 unless y is NaN; the gradient log(y) to x, also where x == 0, except where y <= edge, where it is 0
    (and where y is inf: PyTorch's is inf there); x / y to y (nan at x == 0, y == edge, as PyTorch's). Where
    x == 0 and y is outside log's domain (or
    inf), log reads a stand-in value, so no branch holds an inf or nan that a zero cotangent would turn
    into nan."""
    zero = ops.select(ops.eq(x, 0), ops.eq(y, y), False)
    masked = ops.select(zero, ops.select(ops.le(y, edge), True, ops.eq(y, math.inf)), False)
    product = ops.mul(x, log(ops.select(masked, edge + 1.0, y)))
    # where x == 0 and y == edge, PyTorch's y-gradient x / (y - edge) is 0 / 0 = nan: 0 * sqrt(u * u) at
    # u = 0 is 0 with a nan derivative (read at 1.0 elsewhere); adding it also makes -0.0 results +0.0
    at_edge = ops.select(zero, ops.eq(y, edge), False)
    u = ops.select(at_edge, ops.sub(y, edge), 1.0)
    return ops.select(zero, ops.add(product, ops.mul(ops.sqrt(ops.mul(u, u)), 0.0)), product)


def _xlogy_fn(x, y):
    return x_times_log(x, y, ops.log, 0.0)


_xlogy = _float_binary("xlogy", "XlogyBackward0", _xlogy_fn)


def xlogy(input, other):
    """input * log(other), 0 where input is 0 (unless other is NaN).

    >>> import fgrad as torch
    >>> torch.xlogy(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]))
    tensor([0., 0.])
    """
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("xlogy() needs at least one tensor argument")
    return _xlogy(input, other)


def _logaddexp_fn(log_base):
    def fn(a, b):
        # max + log1p(exp(-|a - b|)); NaN where an input is NaN, and the common infinity where both are the
        # same one (a - b is NaN), each with PyTorch's NaN gradients to both inputs.
        big = ops.maximum(a, b)
        same_inf = ops.select(ops.eq(a, b), ops.eq(ops.abs(a), math.inf), False)
        gap = ops.select(same_inf, 0.0, torch_abs(ops.sub(a, b)))    # derivative 0 at a tie: max splits there
        if log_base == 2.0:
            tail = ops.div(ops.log1p(ops.exp2(ops.neg(gap))), math.log(2.0))
        else:
            tail = ops.log1p(ops.exp(ops.neg(gap)))
        # sign(a) * sqrt(a * b) is the infinity, and its derivatives b / 2sqrt(ab), a / 2sqrt(ab) are inf / inf;
        # read at 1.0 elsewhere, where they are finite
        a_inf, b_inf = ops.select(same_inf, a, 1.0), ops.select(same_inf, b, 1.0)
        at_inf = ops.mul(ops.sign(a_inf), ops.sqrt(ops.mul(a_inf, b_inf)))
        value = ops.select(same_inf, at_inf, ops.add(big, tail))
        either_nan = ops.select(ops.ne(a, a), True, ops.ne(b, b))
        return ops.select(either_nan, nan_where(either_nan, ops.add(a, b)), value)
    return fn


logaddexp = _float_binary("logaddexp", "LogaddexpBackward0", _logaddexp_fn(math.e))
logaddexp2 = _float_binary("logaddexp2", "Logaddexp2Backward0", _logaddexp_fn(2.0))


def _nan_to_num_fn(x, nan, posinf, neginf):
    # the gradient passes where x is finite, 0 where a value was replaced (PyTorch's)
    out = ops.select(ops.ne(x, x), nan, x)
    out = ops.select(ops.eq(x, math.inf), posinf, out)
    return ops.select(ops.eq(x, -math.inf), neginf, out)


_NAN_TO_NUM = FacadeOp("nan_to_num", _nan_to_num_fn, "NanToNumBackward0", nondiff=(1, 2, 3))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (the dtype's largest / lowest values by
    default).

    >>> import fgrad as torch
    >>> torch.nan_to_num(torch.tensor([float('nan'), 1.0]))
    tensor([0., 1.])
    """
    dtype = input._data.dtype
    if dtype.kind != "f":
        return input.clone()
    info = np.finfo(dtype)
    values = [np.asarray(v, dtype) for v in (nan, info.max if posinf is None else posinf,
                                             info.min if neginf is None else neginf)]
    return apply(_NAN_TO_NUM, (input, *values))


erf = _float_unary("erf", "ErfBackward0", ops.erf)
erfc = _float_unary("erfc", "ErfcBackward0", ops.erfc)


# ---- NaN-ignoring reductions -------------------------------------------------------------------------------

def _nan_free(x, dtype):
    x = _cast(x, dtype)
    return ops.select(ops.ne(x, x), 0, x) if dtype.kind == "f" else x     # no gradient to the NaNs


def _nansum_fn(x, axes, keepdim, dtype):
    return _keep(ops.reduce_sum(_nan_free(x, dtype), axes), axes, keepdim)


def _nanmean_fn(x, axes, keepdim, dtype):
    count = ops.reduce_sum(_cast(ops.eq(x, x), dtype), axes)
    return _keep(ops.div(ops.reduce_sum(_nan_free(x, dtype), axes), count), axes, keepdim)


_NANSUM = FacadeOp("nansum", _nansum_fn, "NansumBackward0")
_NANMEAN = FacadeOp("nanmean", _nanmean_fn, "DivBackward0")


def _reduced_axes(input, dim):
    ndim = input._data.ndim
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim)), False
    return _axes(dim, ndim), True


@numpy_names
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum treating NaN as zero (no gradient to the NaNs); ints sum in int64."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    axes, has_dim = _reduced_axes(input, dim)
    return apply(_NANSUM, (input,), (axes, bool(keepdim) and has_dim, out_dtype))


@numpy_names
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the non-NaN elements (NaN where there are none)."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{_dtype_name(input._data.dtype)}")
    axes, has_dim = _reduced_axes(input, dim)
    return apply(_NANMEAN, (input,), (axes, bool(keepdim) and has_dim, out_dtype))


# ---- running extremes and running log-sum-exp ---------------------------------------------------------------

class _Cummax(return_types._ValuesIndices):
    _name = "cummax"


class _Cummin(return_types._ValuesIndices):
    _name = "cummin"


class _Kthvalue(return_types._ValuesIndices):
    _name = "kthvalue"


return_types.cummax, return_types.cummin, return_types.kthvalue = _Cummax, _Cummin, _Kthvalue

_CUMMAX = FacadeOp("cummax", lambda x, index, axis: take_along_axis(x, index, axis), "CummaxBackward0",
                   nondiff=(1,))
_CUMMIN = FacadeOp("cummin", lambda x, index, axis: take_along_axis(x, index, axis), "CumminBackward0",
                   nondiff=(1,))


def _running_extreme_indices(data, axis, better):
    """The index of the running maximum (better = np.greater_equal) or minimum along `axis`: ties and NaNs
    take the latest index, and a NaN stays the extreme once seen (PyTorch's cummax/cummin)."""
    moved = np.moveaxis(data, axis, -1)
    index = np.zeros(moved.shape, np.int64)
    best = moved[..., 0].copy()
    at = np.zeros(moved.shape[:-1], np.int64)
    for i in range(moved.shape[-1]):
        x = moved[..., i]
        if data.dtype.kind == "f":
            take = np.isnan(x) | (~np.isnan(best) & better(x, best))
        else:
            take = better(x, best)
        best = np.where(take, x, best)
        at = np.where(take, i, at)
        index[..., i] = at
    return np.moveaxis(index, -1, axis)


def _running_extreme(input, dim, op, result, better):
    if input._data.ndim == 0:
        return result(input.clone(), make(np.zeros((), np.int64)))
    axis = _dim(dim, input._data.ndim)
    if input._data.size == 0:
        return result(input.clone(), make(np.zeros(input._data.shape, np.int64)))
    index = _running_extreme_indices(input._data, axis, better)
    return result(apply(op, (input, index), (axis,)), make(index))


@numpy_names
def cummax(input, dim):
    """(values, indices) of the running maximum along `dim` (the gradient goes to the element picked).

    >>> import fgrad as torch
    >>> torch.cummax(torch.tensor([1, 3, 2, 5]), 0).indices
    tensor([0, 1, 1, 3])
    """
    return _running_extreme(input, dim, _CUMMAX, _Cummax, np.greater_equal)


@numpy_names
def cummin(input, dim):
    """(values, indices) of the running minimum along `dim`."""
    return _running_extreme(input, dim, _CUMMIN, _Cummin, np.less_equal)


def _logcumsumexp_fn(x, axis):
    shift = _stable_shift(x, (axis,))
    return ops.add(ops.log(ops.cumsum(ops.exp(ops.sub(x, shift)), axis)), shift)


_LOGCUMSUMEXP = FacadeOp("logcumsumexp", _logcumsumexp_fn, "LogcumsumexpBackward0", variant=None)


@numpy_names
def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along `dim`, shifted by the maximum so it does not overflow."""
    if input._data.dtype.kind != "f":
        raise RuntimeError("logcumsumexp(): expected input to have floating point dtype")
    if input._data.ndim == 0:
        return input.clone()
    return apply(_LOGCUMSUMEXP, (input,), (_dim(dim, input._data.ndim),))


# ---- order statistics ---------------------------------------------------------------------------------------

_KTHVALUE = FacadeOp("kthvalue", lambda x, index, axis: take_along_axis(x, index, axis), "KthvalueBackward0",
                     nondiff=(1,))


@numpy_names
def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest element along `dim` (k counts from 1).

    >>> import fgrad as torch
    >>> torch.kthvalue(torch.tensor([3.0, 1.0, 2.0]), 2).values
    tensor(2.)
    """
    ndim = input._data.ndim
    axis = _dim(dim, ndim) if ndim else 0
    data = input._data if ndim else input._data.reshape(1)
    n = data.shape[axis]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    order = np.argsort(data, axis=axis, kind="stable")
    index = np.take(order, [k - 1], axis=axis).astype(np.int64)
    values = apply(_KTHVALUE, (input if ndim else reshape(input, 1), index), (axis,))
    if not keepdim or not ndim:
        values, index = squeeze(values, axis), index.squeeze(axis)
    return _Kthvalue(values, make(index))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name, input, q, dim, keepdim, interpolation, ignore_nan):
    dtype = input._data.dtype
    if dtype.kind != "f":
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                         f"Got {interpolation}")
    q_is_tensor = isinstance(q, Tensor)
    if q_is_tensor and q._data.dtype != dtype:
        raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
    qs = q._data if q_is_tensor else np.asarray(q, dtype)
    if qs.ndim > 1:
        raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
    if ((qs < 0) | (qs > 1)).any():
        if qs.ndim == 0:
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {qs.item()}")
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    if input._data.size == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    ndim = input._data.ndim
    if dim is None:
        x = reshape(input, -1)
        out_shape = (1,) * ndim if keepdim else ()
    else:
        axis = _dim(dim, ndim) if ndim else 0
        x = permute(input, [i for i in range(ndim) if i != axis] + [axis]) if ndim else reshape(input, 1)
        kept = list(input._data.shape)
        if ndim:
            kept[axis] = 1
        out_shape = tuple(kept) if keepdim else tuple(s for i, s in enumerate(input._data.shape) if i != axis)
    data = x._data
    order = np.argsort(data, axis=-1, kind="stable")             # NaNs last
    sorted_ = np.take_along_axis(data, order, -1)
    nan_rows = np.isnan(sorted_)
    qv = qs.reshape(-1).astype(dtype)
    if ignore_nan:
        valid = (~nan_rows).sum(-1, keepdims=True) - 1
        ranks = qv * valid.astype(dtype)
        ranks = np.where(ranks < 0, 0, ranks).astype(dtype)
    else:
        last = data.shape[-1] - 1
        ranks = np.broadcast_to(qv * dtype.type(last), data.shape[:-1] + qv.shape)
        ranks = np.where(nan_rows.any(-1, keepdims=True), dtype.type(last), ranks).astype(dtype)
    if interpolation == "lower":
        ranks = np.floor(ranks)
    elif interpolation == "higher":
        ranks = np.ceil(ranks)
    elif interpolation == "nearest":
        ranks = np.round(ranks)
    below = ranks.astype(np.int64)
    values = apply(_QUANTILE, (x, np.take_along_axis(order, below, -1)), (x._data.ndim - 1,))
    if interpolation in ("linear", "midpoint"):
        weights = np.full_like(ranks, 0.5) if interpolation == "midpoint" else (ranks - below).astype(dtype)
        above = np.ceil(ranks).astype(np.int64)
        values_above = apply(_QUANTILE, (x, np.take_along_axis(order, above, -1)), (x._data.ndim - 1,))
        values = lerp(values, values_above, make(weights))
    # values: (*rest, len(q)) -> (len(q), *out_shape), or out_shape for a scalar q
    values = permute(values, [values._data.ndim - 1] + list(range(values._data.ndim - 1)))
    if qs.ndim == 0:
        return reshape(values, out_shape)
    return reshape(values, (qv.size,) + out_shape)


_QUANTILE = FacadeOp("quantile", lambda x, index, axis: take_along_axis(x, index, axis), "QuantileBackward0",
                     nondiff=(1,))


@numpy_names
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """The q-th quantiles along `dim` (of all elements when None), interpolating between order statistics
    ('linear', 'lower', 'higher', 'midpoint', 'nearest'); NaN where a slice has a NaN. A 1-D q puts its
    dim first.

    >>> import fgrad as torch
    >>> torch.quantile(torch.tensor([1.0, 2.0, 3.0, 4.0]), 0.5)
    tensor(2.5000)
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


@numpy_names
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """quantile ignoring NaNs (NaN only where a slice has nothing else)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


def msort(input):
    """input sorted along dim 0 (the values of sort(dim=0))."""
    return input.sort(dim=0).values


# ---- covariance, correlation, histogram -----------------------------------------------------------------------

def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in input's rows (observations in columns), optionally with
    frequency weights (integers) and observation weights.

    >>> import fgrad as torch
    >>> torch.cov(torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input._data.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input._data.ndim} dimensions")
    x = input if input._data.ndim == 2 else reshape(input, (1, -1))
    if x._data.dtype.kind != "f":
        x = x.to(_f())
    n = x._data.shape[1]
    w = None
    if fweights is not None:
        if fweights._data.dtype.kind not in "iu":
            raise RuntimeError("cov(): expected fweights to have integral dtype")
        if (fweights._data < 0).any():
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights
    if aweights is not None:
        if aweights._data.dtype.kind != "f":
            raise RuntimeError("cov(): expected aweights to have floating point dtype")
        if (aweights._data < 0).any():
            raise RuntimeError("cov(): aweights cannot be negative")
        w = aweights if w is None else w * aweights
    if w is None:
        avg = mean(x, 1)
        w_sum = n
        norm_factor = float(n - correction)
    else:
        w = w.to(x.dtype)
        w_sum = sum(w)
        avg = div(sum(x * w, 1), w_sum)
        if aweights is None or correction == 0:
            norm_factor = w_sum - correction
        else:
            norm_factor = w_sum - correction * div(sum(w * aweights), w_sum)
    if (norm_factor._data if isinstance(norm_factor, Tensor) else norm_factor) <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm_factor = 0.0
    centred = sub(x, unsqueeze(avg, 1))
    c = matmul(centred, t(centred if w is None else centred * w))
    return squeeze(div(c, norm_factor))


def corrcoef(input):
    """Pearson correlation coefficients of the variables in input's rows, clipped to [-1, 1]."""
    c = cov(input)
    if c._data.ndim == 0:
        return div(c, c)
    stddev = sqrt(diag(c))
    c = div(c, unsqueeze(stddev, 1))
    c = div(c, unsqueeze(stddev, 0))
    return clamp(c, -1, 1)


def histc(input, bins=100, min=0, max=0):
    """Counts of input's values in `bins` equal bins over [min, max] (the data's range when both are 0);
    values outside are left out, max itself counts in the last bin. No gradient, as PyTorch's."""
    data = input._data
    if data.dtype.kind != "f":
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_dtype_name(data.dtype)}'")
    if bins <= 0:
        raise RuntimeError("torch.histc: bins must be > 0, but got {} for dimension 0".format(bins))
    lo, hi = data.dtype.type(min), data.dtype.type(max)
    if lo == hi and data.size:
        lo, hi = data.min(), data.max()
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    values = data.reshape(-1)
    values = values[(values >= lo) & (values <= hi)]
    position = ((values - lo) * data.dtype.type(bins) / (hi - lo)).astype(np.int64)
    position = np.minimum(position, bins - 1)
    return make(np.bincount(position, minlength=bins).astype(data.dtype))


# ---- more elementwise functions -------------------------------------------------------------------------------

def _copysign_fn(x, y):
    # |x| with y's sign (-0.0 counts as negative: 1 / -0.0 is -inf); the gradient sign(x) * sign(result) to x,
    # 0 at x == 0 (PyTorch's), none to y
    negative = ops.select(ops.eq(y, 0), ops.lt(ops.div(1.0, ops.select(ops.eq(y, 0), y, 1.0)), 0), ops.lt(y, 0))
    magnitude = torch_abs(x)
    return ops.select(negative, ops.neg(magnitude), magnitude)


copysign = _float_binary("copysign", "CopysignBackward0", _copysign_fn)
deg2rad = _float_unary("deg2rad", "Deg2RadBackward0", lambda x: ops.mul(x, math.pi / 180.0))
rad2deg = _float_unary("rad2deg", "Rad2DegBackward0", lambda x: ops.mul(x, 180.0 / math.pi))


def fix(input):
    """trunc (its other name): rounded toward zero."""
    return input.trunc()


def float_power(input, exponent):
    """input ** exponent computed in float64."""
    base = input.to(_dtypes.float64) if isinstance(input, Tensor) else input
    power = exponent.to(_dtypes.float64) if isinstance(exponent, Tensor) else exponent
    if not isinstance(base, Tensor):
        base = make(np.asarray(base, np.float64))
    return base.pow(power)


def _nan_ignoring(prefer):
    # the value of `prefer` (ge / le) that is not NaN; ties and a NaN `y` give x (and x's gradient), as PyTorch's
    def fn(x, y):
        take_x = ops.select(prefer(x, y), True, ops.ne(y, y))
        return ops.select(take_x, x, y)
    return fn


_FMAX = FacadeOp("fmax", _binary_fn(_nan_ignoring(ops.ge)), "FmaxBackward0")
_FMIN = FacadeOp("fmin", _binary_fn(_nan_ignoring(ops.le)), "FminBackward0")


def fmax(input, other):
    """The elementwise maximum ignoring NaN (NaN only where both are); the dtype of the operands'."""
    return _binary(_FMAX, input, as_tensor_arg(other))


def fmin(input, other):
    """The elementwise minimum ignoring NaN (NaN only where both are)."""
    return _binary(_FMIN, input, as_tensor_arg(other))


def _integer_binary(name, np_fn):
    def fn(input, other):
        a, b = as_tensor_arg(input), as_tensor_arg(other)
        for t in (a, b):
            if t._data.dtype.kind not in "iub":
                raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_dtype_name(t._data.dtype)}'")
        return make(np.asarray(np_fn(a._data, b._data)))
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} of integer tensors (no gradient)."
    return fn


gcd = _integer_binary("gcd", np.gcd)
lcm = _integer_binary("lcm", np.lcm)
bitwise_left_shift = _integer_binary("lshift", np.left_shift)
bitwise_right_shift = _integer_binary("rshift", np.right_shift)


def isposinf(input):
    return make(np.isposinf(input._data) if input._data.dtype.kind == "f" else np.zeros(input._data.shape, bool))


def isneginf(input):
    return make(np.isneginf(input._data) if input._data.dtype.kind == "f" else np.zeros(input._data.shape, bool))


def signbit(input):
    """Whether the sign bit is set (True for -0.0 and negative NaN)."""
    return make(np.signbit(input._data))


def positive(input):
    """input itself (unary +)."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def ldexp(input, other):
    """input * 2 ** other (a float result)."""
    x = input if input.dtype.is_floating_point else input.to(_dtypes.get_default_dtype())
    return x * (2.0 ** as_tensor_arg(other).to(x.dtype))


class _Aminmax(tuple):
    """torch.return_types.aminmax: (min, max)."""

    def __new__(cls, low, high):
        return tuple.__new__(cls, (low, high))

    min = property(lambda self: self[0])
    max = property(lambda self: self[1])

    def __repr__(self):
        return f"torch.return_types.aminmax(\nmin={self[0]!r},\nmax={self[1]!r})"


return_types.aminmax = _Aminmax


@numpy_names
def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) over `dim` (all elements when None), as amin and amax."""
    if input._data.size == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity.")
    axes = () if dim is None else dim
    return _Aminmax(input.amin(axes, keepdim), input.amax(axes, keepdim))
