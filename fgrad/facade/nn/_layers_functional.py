"""torch.nn.functional's layer functions: convolution, pooling, dropout, normalization, embedding, padding,
one_hot and the smooth activations.

Each is one facade op named as PyTorch's node and written with fgrad ops, so its backward is the adjoint
fgrad derives from the primitives' rules:

- conv1d/conv2d bind the `conv_general_dilated` primitive (fgrad.ops.conv); the bias add is in the same op,
  as PyTorch's ConvolutionBackward0 covers input, weight and bias.
- max_pool2d is composed, exactly: the k*k strided slices of the (-inf padded) input, their running
  `maximum`, a chain of selects that finds the first slice equal to it (PyTorch's first maximum), and one
  gather of that element; the gather's gradient (a scatter-add) goes to that element alone, as PyTorch's.
- avg_pool2d sums each window by a convolution with a ones kernel (every channel alone) and divides by
  PyTorch's divisor per output element (count_include_pad, ceil_mode, divisor_override), a constant.
- adaptive_avg_pool2d is separable: a mean over PyTorch's row windows, then its column windows, as two
  products with constant averaging matrices.
None of them needs a primitive of its own: each composition computes the same values and routes the
gradient as PyTorch does, and each costs a few elementwise passes (max) or one product (average).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.ops.indexing import gather_p
from fgrad.facade import _elementwise, _inplace, _random, _reductions, _shapes
from fgrad.facade._operands import _dtype_name
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._tensor import Tensor, make

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "dropout", "batch_norm", "layer_norm", "embedding", "pad", "one_hot", "gelu",
           "leaky_relu", "elu", "softplus", "silu", "hardtanh", "relu6", "logsigmoid"]


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _tuple(value, n: int, name: str) -> tuple:
    """An int or a sequence of n ints (PyTorch's _pair/_single)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1 and n > 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={list(value)}")
    return value


# ---- convolution ----------------------------------------------------------------------------------------

def _conv_fn(x, w, bias, stride, pads, dilation, groups, has_bias):
    out = ops.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, feature_group_count=groups)
    if has_bias:
        out = ops.add(out, ops.reshape(bias, (1, -1) + (1,) * len(stride)))
    return out


_CONV = FacadeOp("convolution", _conv_fn, "ConvolutionBackward0", variant=None)


def _conv_padding(padding, nsp: int, weight_shape, dilation, stride) -> tuple:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nsp
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(weight_shape[2:], dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))      # the odd one out on the high side, as PyTorch
        return tuple(pads)
    return tuple((p, p) for p in _tuple(padding, nsp, "padding"))


def _check_conv(name: str, input, weight, bias, nsp: int, groups: int, pads, dilation):
    if input.dim() not in (nsp + 1, nsp + 2):
        raise RuntimeError(f"Expected {nsp + 1}D (unbatched) or {nsp + 2}D (batched) input to {name}, but got input "
                           f"of size: {_shape_text(input.shape)}")
    if weight.dim() != nsp + 2:
        raise RuntimeError(f"weight should have at least three dimensions" if weight.dim() < 3 else
                           f"Expected {nsp + 2}-dimensional weight for {nsp + 2}-dimensional input, but got "
                           f"{weight.dim()}-dimensional weight of size {_shape_text(weight.shape)} instead")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"expected scalar type {_dtype_name(input._data.dtype)} but found "
                           f"{_dtype_name(weight._data.dtype)}")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise RuntimeError(f"Given weight of size {_shape_text(weight.shape)}, expected bias to be 1-dimensional "
                           f"with {weight.shape[0]} elements, but got bias of size {_shape_text(bias.shape)} instead")
    batched_shape = tuple(input.shape) if input.dim() == nsp + 2 else (1,) + tuple(input.shape)
    channels = batched_shape[1]
    if weight.shape[1] * groups != channels:
        raise RuntimeError(f"Given groups={groups}, weight of size {_shape_text(weight.shape)}, expected input"
                           f"{_shape_text(batched_shape)} to have {weight.shape[1] * groups} channels, but got "
                           f"{channels} channels instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but "
                           f"got weight of size {_shape_text(weight.shape)} instead")
    padded = [s + lo + hi for s, (lo, hi) in zip(batched_shape[2:], pads)]
    span = [d * (k - 1) + 1 for k, d in zip(weight.shape[2:], dilation)]
    if any(p < k for p, k in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel "
                           f"size: ({' x '.join(map(str, span))}). Kernel size can't be greater than actual input "
                           "size")


def _conv(name, nsp, input, weight, bias, stride, padding, dilation, groups):
    stride = _tuple(stride, nsp, "stride")
    dilation = _tuple(dilation, nsp, "dilation")
    groups = int(groups)
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    pads = _conv_padding(padding, nsp, tuple(weight.shape), dilation, stride)
    _check_conv(name, input, weight, bias, nsp, groups, pads, dilation)
    unbatched = input.dim() == nsp + 1
    if unbatched:
        input = _shapes.unsqueeze(input, 0)            # PyTorch's too: UnsqueezeBackward0 ... SqueezeBackward1
    if any(lo != hi for lo, hi in pads):
        # "same" with an even span: PyTorch pads a copy by the odd one out (ConstantPadNdBackward0), then
        # convolves with the symmetric rest.
        warnings.warn("Using padding='same' with even kernel lengths and odd dilation may require a zero-padded "
                      "copy of the input be created", UserWarning, stacklevel=3)
        extra = []
        for lo, hi in reversed(pads):
            extra += [0, hi - lo]
        input = pad(input, tuple(extra))
        pads = tuple((lo, lo) for lo, _ in pads)
    # An absent bias is an empty constant in its place: the node has PyTorch's three next_functions.
    args = (input, weight, _EMPTY if bias is None else bias)
    out = apply(_CONV, args, (stride, pads, dilation, groups, bias is not None))
    return _shapes.squeeze(out, 0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A 1-D convolution (cross-correlation) over (N, C, L) or (C, L) input (ConvolutionBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.conv1d(torch.ones(1, 1, 4), torch.ones(1, 1, 2))
    tensor([[[2., 2., 2.]]])
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A 2-D convolution over (N, C, H, W) or (C, H, W) input; padding an int, a pair, "valid" or "same"
    (stride 1), groups splitting the channels (ConvolutionBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(2, 1, 2, 2), padding=1).shape
    torch.Size([1, 2, 4, 4])
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


# ---- pooling ----------------------------------------------------------------------------------------------

def _pool_out_size(size, k, s, p, d, ceil_mode) -> int:
    """PyTorch's pooling_output_shape: in ceil mode the last window must start inside the input or its
    left padding."""
    span = d * (k - 1) + 1
    numerator = size + 2 * p - span + ((s - 1) if ceil_mode else 0)
    out = numerator // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(name, input, kernel_size, stride, padding, dilation, ceil_mode, nsp=2):
    """kernel, stride, padding and dilation as nsp-tuples, and the output's spatial size, with PyTorch's checks."""
    k = _tuple(kernel_size, nsp, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tuple(stride, nsp, "stride")
    p = _tuple(padding, nsp, "padding")
    d = _tuple(dilation, nsp, "dilation")
    if input.dim() not in (nsp + 1, nsp + 2):
        raise RuntimeError(f"non-empty {nsp + 1}D or {nsp + 2}D (batch mode) tensor expected for input")
    for kk, pp, dd in zip(k, p, d):
        if pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pp}, "
                               f"kernel_size={kk} and dilation={dd}")
    if nsp == 2 and any(pp > kk // 2 for kk, pp in zip(k, p)):
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got padW = {p[1]}, "
                           f"padH = {p[0]}, kW = {k[1]}, kH = {k[0]}")
    spatial = tuple(input.shape[-nsp:])
    out = tuple(_pool_out_size(n, kk, ss, pp, dd, bool(ceil_mode)) for n, kk, ss, pp, dd in zip(spatial, k, s, p, d))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, input.shape[-nsp - 1:]))}). Calculated output "
                           f"size: ({'x'.join(map(str, (input.shape[-nsp - 1],) + out))}). Output size is too small")
    return k, s, p, d, out


def _window_slices(x, k, s, d, out) -> list:
    """The k[0]*k[1]*... strided slices of x (N, C, *S), one per window offset in row-major order: slice j
    holds element j of every window, (N, C, *out)."""
    shape = ops.typeof(x).shape
    parts = []
    for offsets in np.ndindex(*k):
        starts = (0, 0) + tuple(o * dd for o, dd in zip(offsets, d))
        stops = shape[:2] + tuple(st + (n - 1) * ss + 1 for st, n, ss in zip(starts[2:], out, s))
        parts.append(ops.static_slice(x, starts, stops, (1, 1) + tuple(s)))
    return parts


def _max_pool_fn(x, k, s, p, d, out, unbatched, with_indices):
    if unbatched:
        x = ops.expand_dims(x, 0)
    shape = ops.typeof(x).shape
    # Pad with -inf up to where the last window ends (ceil mode may reach past the right padding).
    highs = tuple(max((o - 1) * ss + dd * (kk - 1) + 1 - n - pp, 0)
                  for o, ss, dd, kk, n, pp in zip(out, s, d, k, shape[2:], p))
    xp = ops.pad(x, ((0, 0), (0, 0)) + tuple((pp, h) for pp, h in zip(p, highs)), -np.inf)
    padded = ops.typeof(xp).shape
    slices = _window_slices(stop_gradient(xp), k, s, d, out)
    largest = slices[0]
    for part in slices[1:]:
        largest = ops.maximum(largest, part)
    # Each window's value is its first element that holds the maximum (or a NaN): PyTorch's first-maximum
    # rule. Selects on the window offsets pick where it sits in the padded input (flat), and one gather
    # takes it, so the gradient is one scatter-add to those elements, as PyTorch's backward (no padded copy
    # per offset). The comparisons carry no derivative.
    offsets = _window_offsets(k, d, padded)
    offset = ops.full(ops.typeof(largest).shape, offsets[-1], np.dtype(np.int64))
    best = ops.full(ops.typeof(largest).shape, len(slices) - 1, np.dtype(np.int64)) if with_indices else None
    for j in range(len(slices) - 2, -1, -1):
        nan = ops.ne(slices[j], slices[j])
        wins = ops.select(nan, nan, ops.eq(slices[j], largest))
        offset = ops.select(wins, offsets[j], offset)
        if with_indices:
            best = ops.select(wins, ops.full(ops.typeof(best).shape, j, np.dtype(np.int64)), best)
    positions = ops.add(offset, _window_starts(padded, s, out))
    values = gather_p.bind(ops.reshape(xp, (-1,)), positions, axis=0)
    if unbatched:
        values = ops.squeeze(values, 0)
    if not with_indices:
        return values
    index = _input_index(best, k, s, p, d, shape[2:], out)
    return values, (ops.squeeze(index, 0) if unbatched else index)


def _window_offsets(k, d, padded) -> list:
    """Where each window offset (row-major) sits relative to its window's first element, in the flattened
    padded input (N, C, *S)."""
    strides = [int(np.prod(padded[2 + a + 1:], dtype=np.int64)) for a in range(len(k))]
    return [sum(o * dd * st for o, dd, st in zip(offsets, d, strides)) for offsets in np.ndindex(*k)]


def _window_starts(padded, s, out) -> np.ndarray:
    """The flat position of each window's first element in the padded input (N, C, *S), shaped (N, C, *out):
    a constant of the traced shape."""
    strides = [int(np.prod(padded[a + 1:], dtype=np.int64)) for a in range(len(padded))]
    starts = np.zeros(padded[:2] + tuple(out), np.int64)
    for axis, stride in enumerate(strides):
        step = stride * (s[axis - 2] if axis >= 2 else 1)
        count = padded[axis] if axis < 2 else out[axis - 2]
        shape = [1] * len(padded)
        shape[axis] = count
        starts += (np.arange(count, dtype=np.int64) * step).reshape(shape)
    return starts


def _input_index(best, k, s, p, d, in_spatial, out):
    """Where each window's maximum sits in its (unpadded) input plane, flattened: PyTorch's indices."""
    shape = ops.typeof(best).shape
    nsp = len(k)
    flat = None
    remainder = best
    for a in range(nsp):
        inner = int(np.prod(k[a + 1:]))
        offset = ops.rem(remainder, inner) if a < nsp - 1 else remainder
        along = ops.div(ops.sub(remainder, offset), inner) if a < nsp - 1 else remainder
        remainder = offset
        start = ops.sub(ops.mul(ops.iota(shape, np.dtype(np.int64), 2 + a), s[a]), p[a])
        position = ops.add(start, ops.mul(along, d[a]))
        flat = position if flat is None else ops.add(ops.mul(flat, in_spatial[a]), position)
    return ops.convert_element_type(flat, np.dtype(np.int64))


_MAX_POOL = FacadeOp("max_pool2d", _max_pool_fn, "MaxPool2DWithIndicesBackward0", variant=None)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum of each kernel_size window (stride defaults to kernel_size; padding counts as -inf); with
    return_indices also where each maximum sits in its input plane (MaxPool2DWithIndicesBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.max_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    k, s, p, d, out = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    static = (k, s, p, d, out, input.dim() == 3, bool(return_indices))
    return apply(_MAX_POOL, (input,), static, multi=bool(return_indices))


def _as_2d(value, fill):
    """A 1-D pooling argument as the 2-D one PyTorch's 1-D pooling passes (a unit first axis)."""
    if value is None:
        return None
    value = _tuple(value, 1, "argument")
    return (fill,) + value


def _pool_1d(input, name):
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{name}() Expected 2D or 3D input tensor, but got {_shape_text(input.shape)}")
    return _shapes.unsqueeze(input, -2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """max_pool2d's 1-D form over (N, C, L) or (C, L) input: PyTorch's too is max_pool2d on a unit row."""
    x = _pool_1d(input, "max_pool1d")
    out = max_pool2d(x, _as_2d(kernel_size, 1), _as_2d(stride, 1), _as_2d(padding, 0), _as_2d(dilation, 1),
                     ceil_mode, return_indices)
    if return_indices:
        return _shapes.squeeze(out[0], -2), _shapes.squeeze(out[1], -2)
    return _shapes.squeeze(out, -2)


def _avg_divisor(in_spatial, out, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """PyTorch's divisor of each output element (avg_pool2d's CPU kernel), as a constant array *out."""
    if divisor_override:
        return np.full(out, float(divisor_override))
    per_axis = []
    for n, o, kk, ss, pp in zip(in_spatial, out, k, s, p):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, n + pp)
        size = end - start
        clipped = np.minimum(end, n) - np.maximum(start, 0)
        per_axis.append(size if count_include_pad else clipped)
    divisor = per_axis[0].astype(np.float64)
    for extra in per_axis[1:]:
        divisor = np.multiply.outer(divisor, extra)
    return divisor


def _avg_pool_fn(x, divisor, k, s, p, out, unbatched):
    if unbatched:
        x = ops.expand_dims(x, 0)
    shape = ops.typeof(x).shape
    nsp = len(k)
    highs = tuple(max((o - 1) * ss + kk - n - pp, 0) for o, ss, kk, n, pp in zip(out, s, k, shape[2:], p))
    # Every channel alone against a ones kernel: one product sums each window.
    planes = ops.reshape(x, (shape[0] * shape[1], 1) + shape[2:])
    ones = np.ones((1, 1) + tuple(k), dtype=ops.typeof(x).dtype)
    sums = ops.conv_general_dilated(planes, ones, s, tuple((pp, h) for pp, h in zip(p, highs)))
    sums = ops.static_slice(sums, (0,) * (2 + nsp), (shape[0] * shape[1], 1) + tuple(out))
    y = ops.div(ops.reshape(sums, shape[:2] + tuple(out)), ops.convert_element_type(divisor, ops.typeof(x).dtype))
    return ops.squeeze(y, 0) if unbatched else y


_AVG_POOL = FacadeOp("avg_pool2d", _avg_pool_fn, "AvgPool2DBackward0", nondiff=(1,), variant=None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each kernel_size window (stride defaults to kernel_size) (AvgPool2DBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    k, s, p, _, out = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    divisor = _avg_divisor(tuple(input.shape[-2:]), out, k, s, p, ceil_mode, count_include_pad, divisor_override)
    return apply(_AVG_POOL, (input, divisor), (k, s, p, out, input.dim() == 3))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """avg_pool2d's 1-D form over (N, C, L) or (C, L) input (avg_pool2d on a unit row, as PyTorch's)."""
    x = _pool_1d(input, "avg_pool1d")
    out = avg_pool2d(x, _as_2d(kernel_size, 1), _as_2d(stride, 1), _as_2d(padding, 0), ceil_mode, count_include_pad)
    return _shapes.squeeze(out, -2)


def _adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages PyTorch's window floor(i * size / out) .. ceil((i + 1) * size / out)."""
    m = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _adaptive_fn(x, *matrices):
    # A mean over each axis's windows in turn, from the last axis: x @ M^T along it.
    nsp = len(matrices)
    ndim = ops.typeof(x).ndim
    for a, m in reversed(list(enumerate(matrices))):
        axis = ndim - nsp + a
        moved = ops.moveaxis(x, axis, ndim - 1)
        x = ops.moveaxis(ops.matmul(moved, ops.transpose(m)), ndim - 1, axis)
    return x


_ADAPTIVE_AVG = FacadeOp("adaptive_avg_pool2d", _adaptive_fn, "AdaptiveAvgPool2DBackward0", nondiff=(1, 2),
                         variant=None)


def adaptive_avg_pool2d(input, output_size):
    """The mean over PyTorch's adaptive windows, giving output_size (an int, a pair, None keeps a size)
    (AdaptiveAvgPool2DBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 1)
    tensor([[[[7.5000]]]])
    """
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {_shape_text(input.shape)}")
    sizes = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) or output_size is None else \
        tuple(output_size)
    spatial = tuple(input.shape[-2:])
    sizes = tuple(n if o is None else int(o) for o, n in zip(sizes, spatial))
    if sizes == (1, 1):
        return _reductions.mean(input, (-1, -2), keepdim=True)       # PyTorch's too (MeanBackward1)
    matrices = tuple(_adaptive_matrix(n, o, input._data.dtype) for n, o in zip(spatial, sizes))
    return apply(_ADAPTIVE_AVG, (input,) + matrices)


def adaptive_avg_pool1d(input, output_size):
    """adaptive_avg_pool2d's 1-D form (on a unit row, as PyTorch's)."""
    x = _pool_1d(input, "adaptive_avg_pool1d")
    size = output_size if isinstance(output_size, (int, np.integer)) else tuple(output_size)[0]
    return _shapes.squeeze(adaptive_avg_pool2d(x, (1, size)), -2)


# ---- dropout ----------------------------------------------------------------------------------------------

def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p), in training; the identity
    otherwise. The mask is PyTorch's CPU draw (bernoulli_(1 - p) from the default generator), and the result
    input * mask as PyTorch records it (MulBackward0).

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.nn.functional.dropout(torch.ones(6), 0.5)
    tensor([2., 0., 2., 2., 2., 2.])
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    data = input._data
    if p == 1.0:
        noise = np.zeros((), dtype=data.dtype)
    else:
        # one mask per batch member under torch.func.vmap(randomness="different"); refused in "error" mode
        gen = _random.generator_of(None, per_member=True)
        noise = _random.sample(lambda s: (_random.bernoulli_scalar(gen, math.prod(s), 1.0 - p, data.dtype).reshape(s)
                                          / data.dtype.type(1.0 - p)).astype(data.dtype), data.shape)
    result = _elementwise.mul(input, make(noise))
    if inplace:
        _inplace.check_leaf_inplace(input)
        return _inplace.inplace(input, result)
    return result


# ---- normalization ----------------------------------------------------------------------------------------

def _normalize_fn(x, weight, bias, running_mean, running_var, axes, eps, has_weight, has_bias, use_stats, shape,
                  affine_shape):
    # (x - mean) / sqrt(var + eps) * weight + bias over `axes`; the statistics are the batch's (training) or
    # the running ones (constants). Absent arguments are empty placeholders (see _EMPTY).
    dtype = ops.typeof(x).dtype
    if use_stats:
        mean, var = (ops.reshape(ops.convert_element_type(v, dtype), shape) for v in (running_mean, running_var))
    else:
        count = int(np.prod([ops.typeof(x).shape[a] for a in axes]))
        mean = ops.div(ops.reduce_sum(x, axes), count)
        mean = ops.reshape(mean, shape)
        centred = ops.sub(x, mean)
        var = ops.reshape(ops.div(ops.reduce_sum(ops.mul(centred, centred), axes), count), shape)
    y = ops.mul(ops.sub(x, mean), ops.rsqrt(ops.add(var, eps)))
    if has_weight:
        y = ops.mul(y, ops.reshape(weight, affine_shape))
    if has_bias:
        y = ops.add(y, ops.reshape(bias, affine_shape))
    return y


# PyTorch's nodes have an edge per (input, weight, bias), None for an absent one: an absent argument is this
# empty constant in its place. The running statistics are never differentiated.
_EMPTY = np.zeros(0, np.float32)
_BATCH_NORM = FacadeOp("batch_norm", _normalize_fn, "NativeBatchNormBackward0", nondiff=(3, 4), variant=None)
_LAYER_NORM = FacadeOp("layer_norm", _normalize_fn, "NativeLayerNormBackward0", nondiff=(3, 4), variant=None)


def _or_empty(t):
    return _EMPTY if t is None else t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) over the batch and spatial dims: by the batch's statistics in training
    (then running_mean/var move toward them by `momentum`, the variance unbiased, as PyTorch), else by the
    running statistics (NativeBatchNormBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.batch_norm(torch.tensor([[1.0], [3.0]]), None, None, training=True)
    tensor([[-1.0000],
            [ 1.0000]])
    """
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected input with at least 2 dimensions (got {input.dim()}D input)")
    channels = input.shape[1]
    axes = (0,) + tuple(range(2, input.dim()))
    count = int(np.prod([input.shape[a] for a in axes]))
    if training and count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"torch.Size({list(input.shape)})")
    shape = (1, channels) + (1,) * (input.dim() - 2)
    use_stats = not training
    if use_stats and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    stats = (running_mean._data, running_var._data) if use_stats else (_EMPTY, _EMPTY)
    args = (input, _or_empty(weight), _or_empty(bias)) + stats
    out = apply(_BATCH_NORM, args,
                (axes, float(eps), weight is not None, bias is not None, use_stats, shape, shape))
    if training and running_mean is not None:
        _update_running_stats(input._data, axes, count, running_mean, running_var, momentum)
    return out


def _update_running_stats(data, axes, count, running_mean, running_var, momentum):
    # PyTorch's CPU batch_norm_cpu_update_stats: running = momentum * batch + (1 - momentum) * running, the
    # batch variance unbiased (sum of squares / (count - 1)); computed in double, stored in the stats' dtype.
    mean = data.astype(np.float64).mean(axis=axes)
    var = ((data.astype(np.float64) - mean.reshape((1, -1) + (1,) * (data.ndim - 2))) ** 2).sum(axis=axes)
    var = var / (count - 1)
    for stat, value in ((running_mean, mean), (running_var, var)):
        stat._data[...] = (momentum * value + (1.0 - momentum) * stat._data.astype(np.float64)).astype(stat._data.dtype)
        stat._vc[0] += 1


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last len(normalized_shape) dims, then scale and shift (NativeLayerNormBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.layer_norm(torch.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    normalized_shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(int(d) for d in normalized_shape)
    n = len(normalized_shape)
    if tuple(input.shape[input.dim() - n:]) != normalized_shape or input.dim() < n:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size"
                           f"{_shape_text(input.shape)}")
    axes = tuple(range(input.dim() - n, input.dim()))
    shape = tuple(input.shape[:input.dim() - n]) + (1,) * n
    affine_shape = (1,) * (input.dim() - n) + normalized_shape
    args = (input, _or_empty(weight), _or_empty(bias), _EMPTY, _EMPTY)
    # The statistics keep the leading dims; the affine parameters broadcast over them.
    return apply(_LAYER_NORM, args,
                 (axes, float(eps), weight is not None, bias is not None, False, shape, affine_shape))


# ---- embedding, padding, one_hot -----------------------------------------------------------------------

def _embedding_fn(weight, indices, padding_idx):
    rows = ops.gather(weight, indices, axis=0)
    if padding_idx is None:
        return rows
    # The padding row's gradient is zero (PyTorch's embedding_backward skips it); its value passes.
    at_padding = ops.broadcast_to(ops.expand_dims(ops.eq(indices, padding_idx), -1), ops.typeof(rows).shape)
    return ops.select(at_padding, stop_gradient(rows), rows)


_EMBEDDING = FacadeOp("embedding", _embedding_fn, "EmbeddingBackward0", nondiff=(1,), variant=None)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """The rows of `weight` at the integer indices `input` (EmbeddingBackward0); the padding_idx row gets no
    gradient.

    >>> import fgrad as torch
    >>> torch.nn.functional.embedding(torch.tensor([2, 0]), torch.arange(6.0).view(3, 2))
    tensor([[4., 5.],
            [0., 1.]])
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by fgrad")
    data = input._data if isinstance(input, Tensor) else np.asarray(input)
    if data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{_dtype_name(data.dtype)}Tensor instead (while checking "
                           "arguments for embedding)")
    n = weight.shape[0]
    if data.size and (data.min() < 0 or data.max() >= n):
        raise IndexError("index out of range in self")
    if padding_idx is not None:
        padding_idx = int(padding_idx)
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= n
    return apply(_EMBEDDING, (weight, np.ascontiguousarray(data)), (padding_idx,))


def _pad_fn(x, widths, value):
    return ops.pad(ops.static_slice(x, tuple(max(-lo, 0) for lo, _ in widths),
                                    tuple(n - max(-hi, 0) for n, (_, hi) in zip(ops.typeof(x).shape, widths))),
                   tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths), value)


_PAD = FacadeOp("constant_pad_nd", _pad_fn, "ConstantPadNdBackward0", variant=None)


_NON_CONSTANT_RANKS = ("Supported combinations for non-constant padding:\n"
                       "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                       "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                       "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last len(pad) // 2 dims: pad = (left of the last dim, right of it, left of the one before, ...);
    negative widths crop. mode "constant" fills `value` (ConstantPadNdBackward0); "reflect" mirrors about
    the edge element, "replicate" repeats it, "circular" wraps around (1 to 3 padded dims of a batched or
    unbatched input; ReflectionPad2DBackward0, ReplicationPad2DBackward0, CopySlices as PyTorch names them).

    >>> import fgrad as torch
    >>> torch.nn.functional.pad(torch.ones(2), (1, 2))
    tensor([0., 1., 1., 0., 0.])
    >>> torch.nn.functional.pad(torch.arange(4.0).view(1, 4), (2, 1), mode="reflect")
    tensor([[2., 1., 0., 1., 2., 3., 2.]])
    """
    pad = tuple(int(p) for p in pad)
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if mode != "constant":
        return _pad_by_index(input, pad, mode, value)
    if len(pad) // 2 > input.dim():
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.dim()}")
    widths = [(0, 0)] * input.dim()
    for i in range(len(pad) // 2):
        widths[input.dim() - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return apply(_PAD, (input,), (tuple(widths), 0.0 if value is None else float(value)))


def _pad_by_index(input, pad, mode: str, value):
    """reflect, replicate and circular padding, with PyTorch's checks: each padded axis a gather of the
    input's positions (constant indices), so the gradient is their scatter-add."""
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    n = len(pad) // 2
    if not 1 <= n <= 3 or input.dim() not in (n + 1, n + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.\n"
                                  + _NON_CONSTANT_RANKS)
    shape = tuple(input.shape)
    widths = tuple((pad[2 * i], pad[2 * i + 1]) for i in reversed(range(n)))      # first padded axis first
    for axis, (lo, hi) in zip(range(input.dim() - n, input.dim()), widths):
        size = shape[axis]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {axis} of input {_shape_text(shape)}")
        if mode == "circular" and (lo > size or hi > size or
                                   max(lo, 0) + max(hi, 0) > 0 and size + min(lo, 0) + min(hi, 0) < max(lo, hi)):
            # PyTorch checks the pads against the input's size; where a crop on the other side leaves fewer
            # elements than a pad, it reads memory it never wrote. fgrad refuses that case too.
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + lo + hi < 0:
            raise RuntimeError(f"The input size {size}, plus negative padding {lo} and {hi} resulted in a negative "
                               f"output size, which is invalid. Check dimension {axis} of your input.")
    return apply(_index_pad_op(mode, n), (input,), (widths, mode))


def _pad_positions(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The input position each output position of one padded axis reads. reflect and replicate index the
    whole input and crop afterwards (PyTorch's kernels); circular crops first and wraps the rest (its
    _pad_circular)."""
    if mode == "circular":
        kept = size + min(lo, 0) + min(hi, 0)
        return max(-lo, 0) + (np.arange(kept + max(lo, 0) + max(hi, 0)) - max(lo, 0)) % max(kept, 1)
    v = np.arange(size + lo + hi) - lo
    if mode == "reflect":
        return np.where(v < 0, -v, np.where(v >= size, 2 * (size - 1) - v, v))
    return np.clip(v, 0, size - 1)


def _index_pad_fn(x, widths, mode):
    ndim = ops.typeof(x).ndim
    for axis, (lo, hi) in zip(range(ndim - len(widths), ndim), widths):
        if (lo, hi) != (0, 0):
            x = ops.gather(x, _pad_positions(ops.typeof(x).shape[axis], lo, hi, mode).astype(np.int64), axis)
    return x


_INDEX_PAD_OPS = {}


def _index_pad_op(mode: str, n: int) -> FacadeOp:
    """The facade op of one padding mode over n axes, its node named as PyTorch's."""
    op = _INDEX_PAD_OPS.get((mode, n))
    if op is None:
        node = {"reflect": f"ReflectionPad{n}DBackward0", "replicate": f"ReplicationPad{n}DBackward0",
                "circular": "CopySlices"}[mode]
        op = _INDEX_PAD_OPS[(mode, n)] = FacadeOp(f"{mode}_pad{n}d", _index_pad_fn, node, variant=None)
    return op


def one_hot(tensor, num_classes: int = -1):
    """(..., num_classes) int64 with a 1 at each index (num_classes = max + 1 when -1).

    >>> import fgrad as torch
    >>> torch.nn.functional.one_hot(torch.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    data = tensor._data
    if data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if data.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(data.max()) + 1
    if data.size and data.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if data.size and data.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return make((data[..., None] == np.arange(num_classes)).astype(np.int64))


# ---- activations ------------------------------------------------------------------------------------------

def _gelu_fn(x, approximate):
    if approximate == "tanh":
        inner = ops.mul(ops.add(x, ops.mul(ops.mul(ops.mul(x, x), x), 0.044715)), math.sqrt(2.0 / math.pi))
        return ops.mul(ops.mul(x, 0.5), ops.add(ops.tanh(inner), 1.0))
    return ops.mul(ops.mul(x, 0.5), ops.add(ops.erf(ops.mul(x, 1.0 / math.sqrt(2.0))), 1.0))


_GELU = FacadeOp("gelu", _gelu_fn, "GeluBackward0", variant=None)


def gelu(input, approximate: str = "none"):
    """x * Phi(x) (the Gaussian CDF; approximate="tanh" for its tanh form) (GeluBackward0)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return apply(_GELU, (input,), (approximate,))


def _leaky_fn(x, slope):
    # The gradient at 0 is the slope (PyTorch: x > 0 ? grad : grad * slope).
    return ops.select(ops.gt(x, 0), x, ops.mul(x, slope))


_LEAKY = FacadeOp("leaky_relu", _leaky_fn, "LeakyReluBackward0")
_LEAKY_INPLACE = FacadeOp("leaky_relu_", _leaky_fn, "LeakyReluBackward1")     # PyTorch's in-place node


def _maybe_inplace(input, op, inplace_op, inplace: bool, static):
    if not inplace:
        return apply(op, (input,), static)
    _inplace.check_leaf_inplace(input)
    return _inplace.inplace(input, apply(inplace_op, (input,), static))


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x (LeakyReluBackward0; in place LeakyReluBackward1)."""
    return _maybe_inplace(input, _LEAKY, _LEAKY_INPLACE, inplace, (float(negative_slope),))


def _elu_fn(x, alpha):
    # expm1 of the non-positive part only: a large x would overflow, and its inf times the select's zero
    # cotangent would be NaN. At 0 the negative branch's derivative (alpha), as PyTorch.
    negative = ops.select(ops.gt(x, 0), ops.full(ops.typeof(x).shape, 0, ops.typeof(x).dtype), x)
    return ops.select(ops.gt(x, 0), x, ops.mul(ops.expm1(negative), alpha))


_ELU = FacadeOp("elu", _elu_fn, "EluBackward0", variant=None)
_ELU_INPLACE = FacadeOp("elu_", _elu_fn, "EluBackward1", variant=None)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else alpha * (exp(x) - 1) (EluBackward0; in place EluBackward1)."""
    return _maybe_inplace(input, _ELU, _ELU_INPLACE, inplace, (float(alpha),))


def _softplus_fn(x, beta, threshold):
    scaled = ops.mul(x, beta)
    linear = ops.gt(scaled, threshold)
    # exp of the clamped value: above the threshold exp could overflow, and inf * 0 would poison the gradient.
    clamped = ops.select(linear, ops.full(ops.typeof(x).shape, threshold, ops.typeof(x).dtype), scaled)
    return ops.select(linear, x, ops.div(ops.log1p(ops.exp(clamped)), beta))


_SOFTPLUS = FacadeOp("softplus", _softplus_fn, "SoftplusBackward0", variant=None)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta, and x where beta * x > threshold (SoftplusBackward0)."""
    return apply(_SOFTPLUS, (input,), (float(beta), float(threshold)))


_SILU = FacadeOp("silu", lambda x: ops.mul(x, ops.logistic(x)), "SiluBackward0", variant=None)


def silu(input, inplace: bool = False):
    """x * sigmoid(x) (SiluBackward0)."""
    return apply(_SILU, (input,))


def _hardtanh_fn(x, lo, hi):
    # The gradient passes strictly inside (lo, hi), as PyTorch's hardtanh_backward.
    t = ops.typeof(x)
    value = ops.select(ops.lt(x, lo), ops.full(t.shape, lo, t.dtype),
                       ops.select(ops.gt(x, hi), ops.full(t.shape, hi, t.dtype), x))
    frozen = stop_gradient(value)
    return ops.select(ops.le(x, lo), frozen, ops.select(ops.ge(x, hi), frozen, value))


_HARDTANH = FacadeOp("hardtanh", _hardtanh_fn, "HardtanhBackward0")


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """x clipped to [min_val, max_val] (HardtanhBackward0)."""
    return apply(_HARDTANH, (input,), (float(min_val), float(max_val)))


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6) (HardtanhBackward0, as PyTorch's)."""
    return hardtanh(input, 0.0, 6.0)


def _logsigmoid_fn(x):
    # -softplus(-x) computed stably: min(x, 0) - log1p(exp(-|x|)), each piece by a select so that the
    # derivative at 0 is sigmoid(0) = 0.5 (min's and abs's kink conventions would give 1).
    t = ops.typeof(x)
    negative = ops.lt(x, 0)
    low = ops.select(negative, x, ops.full(t.shape, 0, t.dtype))
    minus_abs = ops.select(negative, x, ops.neg(x))
    return ops.sub(low, ops.log1p(ops.exp(minus_abs)))


_LOGSIGMOID = FacadeOp("log_sigmoid", _logsigmoid_fn, "LogSigmoidBackward0", variant=None)


def logsigmoid(input):
    """log(sigmoid(x)), stable for large |x| (LogSigmoidBackward0)."""
    return apply(_LOGSIGMOID, (input,))
