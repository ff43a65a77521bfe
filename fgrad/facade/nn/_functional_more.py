"""More of torch.nn.functional: activations (selu, celu, mish, softsign, hardswish, hardsigmoid, threshold,
tanhshrink, glu, prelu, softshrink, hardshrink, softmin), distances (normalize, cosine_similarity,
pairwise_distance), normalisation (group_norm, instance_norm), channel dropout (dropout1d/2d/3d),
interpolate (nearest, bilinear) and losses (smooth_l1, huber, kl_div, margin_ranking, cosine_embedding,
triplet_margin, poisson_nll, gaussian_nll).

As in fgrad.facade.nn.functional: what PyTorch computes in one kernel is one facade op named as PyTorch's
node and written with fgrad ops (its backward is their adjoint, with PyTorch's choice at each kink written
next to the select that makes it); what PyTorch composes in C++ or Python (softsign, tanhshrink, normalize,
cosine_similarity, kl_div, margin/cosine/triplet/poisson/gaussian losses, instance_norm) calls the facade's
ops in PyTorch's order, so the graph holds PyTorch's nodes.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fgrad import ops
from fgrad.facade import _dtypes, _elementwise, _inplace, _random, _reductions, _shapes
from fgrad.facade._grad_mode import no_grad
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._tensor import Size, make
from fgrad.facade.nn import _layers_functional as _LF
from fgrad.facade.nn import _loss_common as _common
from fgrad.facade._operands import numpy_names

__all__ = ["selu", "celu", "mish", "softsign", "hardswish", "hardsigmoid", "threshold", "tanhshrink", "glu",
           "prelu", "softshrink", "hardshrink", "softmin", "selu_", "celu_", "threshold_",
           "normalize", "cosine_similarity", "pairwise_distance", "group_norm", "instance_norm",
           "dropout1d", "dropout2d", "dropout3d", "interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear", "smooth_l1_loss", "huber_loss", "kl_div", "margin_ranking_loss",
           "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss", "gaussian_nll_loss"]


def _zeros_like_traced(x):
    t = ops.typeof(x)
    return ops.full(t.shape, 0, t.dtype)


def _inplace_or_not(input, result, inplace: bool):
    if not inplace:
        return result
    _inplace.check_leaf_inplace(input)
    return _inplace.inplace(input, result)


# ---- activations ----------------------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu_family_fn(x, alpha, scale, input_scale):
    # PyTorch's elu kernel: x * scale where x > 0, else (exp(x * input_scale) - 1) * alpha * scale; at 0 the
    # negative branch's derivative (alpha * scale * input_scale), as its elu_backward. expm1 reads only the
    # non-positive part (a large x would overflow into a NaN cotangent).
    positive = ops.gt(x, 0)
    negative = ops.select(positive, _zeros_like_traced(x), x)
    return ops.select(positive, ops.mul(x, scale),
                      ops.mul(ops.expm1(ops.mul(negative, input_scale)), alpha * scale))


_SELU = FacadeOp("selu", _elu_family_fn, "EluBackward0", variant=None)
_SELU_INPLACE = FacadeOp("selu_", _elu_family_fn, "EluBackward1", variant=None)
_CELU = FacadeOp("celu", _elu_family_fn, "CeluBackward0", variant=None)
_CELU_INPLACE = FacadeOp("celu_", _elu_family_fn, "CeluBackward1", variant=None)


def selu(input, inplace: bool = False):
    """scale * (x where x > 0, else alpha * (exp(x) - 1)) with PyTorch's constants (EluBackward0, as PyTorch).

    >>> import fgrad as torch
    >>> torch.nn.functional.selu(torch.tensor([1.0, 0.0]))
    tensor([1.0507, 0.0000])
    """
    static = (SELU_ALPHA, SELU_SCALE, 1.0)
    if inplace:
        return _inplace_or_not(input, apply(_SELU_INPLACE, (input,), static), True)
    return apply(_SELU, (input,), static)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else alpha * (exp(x / alpha) - 1) (CeluBackward0)."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    static = (float(alpha), 1.0, 1.0 / float(alpha))
    if inplace:
        return _inplace_or_not(input, apply(_CELU_INPLACE, (input,), static), True)
    return apply(_CELU, (input,), static)


def celu_(input, alpha: float = 1.0):
    return celu(input, alpha, inplace=True)


def _stable_softplus(x):
    # log1p(exp(x)) as max(x, 0) + log1p(exp(-|x|)), each side by a select that reads x only where it is
    # taken: exp never overflows, so the derivative (sigmoid) stays finite for large x.
    positive = ops.gt(x, 0)
    x_pos = ops.select(positive, x, _zeros_like_traced(x))
    x_neg = ops.select(positive, _zeros_like_traced(x), x)
    return ops.select(positive, ops.add(x_pos, ops.log1p(ops.exp(ops.neg(x_pos)))), ops.log1p(ops.exp(x_neg)))


_MISH = FacadeOp("mish", lambda x: ops.mul(x, ops.tanh(_stable_softplus(x))), "MishBackward0", variant=None)


def mish(input, inplace: bool = False):
    """x * tanh(softplus(x)) (MishBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.mish(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 0.8651])
    """
    return _inplace_or_not(input, apply(_MISH, (input,)), inplace)


def softsign(input):
    """x / (1 + |x|), composed as PyTorch's (DivBackward0 over AddBackward0, AbsBackward0)."""
    return _elementwise.div(input, _elementwise.add(_elementwise.abs(input), 1))


def tanhshrink(input):
    """x - tanh(x), composed as PyTorch's (SubBackward0)."""
    return _elementwise.sub(input, _elementwise.tanh(input))


def _hardswish_fn(x):
    # PyTorch's x * min(max(x + 3, 0), 6) / 6. The factor is a constant (0 or 6) from -3 down and from 3 up,
    # so the derivative is x / 3 + 1/2 on the open interval (-3, 3), 0 at and below -3, 1 at and above 3,
    # as PyTorch 2.13's hardswish_backward.
    t = ops.typeof(x)
    factor = ops.select(ops.le(x, -3.0), ops.full(t.shape, 0, t.dtype),
                        ops.select(ops.ge(x, 3.0), ops.full(t.shape, 6, t.dtype), ops.add(x, 3.0)))
    return ops.div(ops.mul(x, factor), 6.0)


def _hardsigmoid_fn(x):
    # min(max(x + 3, 0), 6) / 6; the gradient 1/6 strictly inside (-3, 3) and 0 at the ends, as PyTorch's.
    t = ops.typeof(x)
    inner = ops.select(ops.le(x, -3.0), ops.full(t.shape, 0, t.dtype),
                       ops.select(ops.ge(x, 3.0), ops.full(t.shape, 6, t.dtype), ops.add(x, 3.0)))
    return ops.div(inner, 6.0)


_HARDSWISH = FacadeOp("hardswish", _hardswish_fn, "HardswishBackward0")
_HARDSIGMOID = FacadeOp("hardsigmoid", _hardsigmoid_fn, "HardsigmoidBackward0")


def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6 (HardswishBackward0)."""
    return _inplace_or_not(input, apply(_HARDSWISH, (input,)), inplace)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6 (HardsigmoidBackward0)."""
    return _inplace_or_not(input, apply(_HARDSIGMOID, (input,)), inplace)


def _threshold_fn(x, threshold, value):
    # x where x > threshold, else value; no gradient where x <= threshold, as PyTorch's threshold_backward.
    t = ops.typeof(x)
    return ops.select(ops.gt(x, threshold), x, ops.full(t.shape, value, t.dtype))


_THRESHOLD = FacadeOp("threshold", _threshold_fn, "ThresholdBackward0")
_THRESHOLD_INPLACE = FacadeOp("threshold_", _threshold_fn, "ThresholdBackward1")


def threshold(input, threshold, value, inplace: bool = False):
    """x where x > threshold, else value (ThresholdBackward0; in place ThresholdBackward1).

    >>> import fgrad as torch
    >>> torch.nn.functional.threshold(torch.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    static = (float(threshold), float(value))
    if inplace:
        return _inplace_or_not(input, apply(_THRESHOLD_INPLACE, (input,), static), True)
    return apply(_THRESHOLD, (input,), static)


def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, inplace=True)


def _shrink_fn(x, lambd, soft):
    # softshrink: x - lambd above lambd, x + lambd below -lambd, else 0; hardshrink keeps x outside [-l, l].
    # Between the ends softshrink is x * 0 (so -0.0 for negative x and NaN propagates, as PyTorch's kernel),
    # hardshrink a plain 0.
    t = ops.typeof(x)
    above, below = ops.gt(x, lambd), ops.lt(x, -lambd)
    if soft:
        return ops.select(above, ops.sub(x, lambd), ops.select(below, ops.add(x, lambd), ops.mul(x, 0.0)))
    return ops.select(above, x, ops.select(below, x, ops.full(t.shape, 0, t.dtype)))


_SOFTSHRINK = FacadeOp("softshrink", _shrink_fn, "SoftshrinkBackward0")
_HARDSHRINK = FacadeOp("hardshrink", _shrink_fn, "HardshrinkBackward0")


def softshrink(input, lambd: float = 0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (SoftshrinkBackward0)."""
    if lambd < 0:
        dtype = input._data.dtype
        raise RuntimeError(f"lambda must be in range [0, {np.finfo(dtype).max:g}] for input dtype "
                           f"{_dtypes.from_numpy(dtype)._legacy[:-len('Tensor')]}, but found {lambd:g}")
    return apply(_SOFTSHRINK, (input,), (float(lambd), True))


def hardshrink(input, lambd: float = 0.5):
    """x outside [-lambd, lambd], 0 inside (HardshrinkBackward0)."""
    return apply(_HARDSHRINK, (input,), (float(lambd), False))


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along dim (SoftmaxBackward0 over NegBackward0, as PyTorch)."""
    if dim is None:
        dim = _common._softmax_dim("softmin", input.dim(), _stacklevel)
    return _reductions.softmax(_elementwise.neg(input), dim, dtype)


def _halves(x, axis):
    shape = ops.typeof(x).shape
    half = shape[axis] // 2
    starts, stops = [0] * len(shape), list(shape)
    stops[axis] = half
    first = ops.static_slice(x, tuple(starts), tuple(stops))
    starts[axis], stops[axis] = half, shape[axis]
    return first, ops.static_slice(x, tuple(starts), tuple(stops))


def _glu_fn(x, axis):
    first, second = _halves(x, axis)
    return ops.mul(first, ops.logistic(second))


_GLU = FacadeOp("glu", _glu_fn, "GluBackward0", variant=None)


def glu(input, dim: int = -1):
    """a * sigmoid(b) for the halves a, b of input along dim (GluBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.glu(torch.tensor([2.0, 0.0]))
    tensor([1.])
    """
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    axis = dim % input.dim() if -input.dim() <= dim < input.dim() else dim
    if not 0 <= axis < input.dim():
        raise IndexError(f"Dimension out of range (expected to be in range of [{-input.dim()}, "
                         f"{input.dim() - 1}], but got {dim})")
    if input.shape[axis] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {input.shape[axis]}")
    return apply(_GLU, (input,), (axis,))


def _prelu_fn(x, weight, weight_shape):
    # x where x > 0, else weight * x (weight per channel, dim 1); PyTorch's gradient at 0 is weight's side.
    w = ops.broadcast_to(ops.reshape(weight, weight_shape), ops.typeof(x).shape)
    return ops.select(ops.gt(x, 0), x, ops.mul(w, x))


_PRELU = FacadeOp("_prelu_kernel", _prelu_fn, "PreluKernelBackward0", variant=None)


def prelu(input, weight):
    """x where x > 0, else weight * x, one weight or one per channel (dim 1) (PreluKernelBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.prelu(torch.tensor([-2.0, 3.0]), torch.tensor([0.25]))
    tensor([-0.5000,  3.0000])
    """
    count = weight.numel()
    if count != 1:
        if input.dim() == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.dim() > 1 else 1
        if channels != count:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{count} and channel size = {channels}.")
    if count == 1 or input.dim() < 2:
        weight_shape = (1,) * input.dim() if count == 1 else (count,)
    else:
        weight_shape = (1, count) + (1,) * (input.dim() - 2)
    weight_shape = weight_shape if input.dim() else ()
    return apply(_PRELU, (input, weight), (weight_shape,))


# ---- distances ------------------------------------------------------------------------------------------

def _clamp_min_fn(x, low):
    # max(x, low); the gradient passes where x >= low, as PyTorch's clamp_min backward.
    t = ops.typeof(x)
    return ops.select(ops.ge(x, low), x, ops.full(t.shape, low, t.dtype))


# clamp_min(Tensor, Scalar) as normalize and ATen's losses call it: ClampMinBackward0.
_CLAMP_MIN = FacadeOp("clamp_min", _clamp_min_fn, "ClampMinBackward0")


def _clamp_min(x, low: float):
    return apply(_CLAMP_MIN, (x,), (float(low),))


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None):
    """input / max(||input||_p over dim, eps), as PyTorch composes it (DivBackward0 over ExpandBackward0,
    ClampMinBackward0, NormBackward1).

    >>> import fgrad as torch
    >>> torch.nn.functional.normalize(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    denom = _shapes.expand_as(_clamp_min(_reductions.norm(input, p, dim, keepdim=True), eps), input)
    if out is not None:
        return _elementwise.div(input, denom, out=out)
    return _elementwise.div(input, denom)


@numpy_names
def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """sum(x1 / ||x1|| * x2 / ||x2||) over dim, the norms clamped to >= eps, as ATen's (SumBackward1).

    >>> import fgrad as torch
    >>> torch.nn.functional.cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    if x1.shape != x2.shape:
        x1, x2 = _shapes.broadcast_tensors(x1, x2)
    n1 = _reductions.norm(x1, 2, dim, keepdim=True)
    n2 = _reductions.norm(x2, 2, dim, keepdim=True)
    with no_grad():             # as ATen: the norms' values are clamped, their gradient is the norm's
        n1.clamp_min_(eps)
        n2.clamp_min_(eps)
    return _reductions.sum(_elementwise.mul(_elementwise.div(x1, n1), _elementwise.div(x2, n2)), dim)


# at::norm(x, p, dim) as ATen's C++ calls it (NormBackward1): the facade's vector norm under that node name.
_NORM_DIM = FacadeOp("norm", _reductions._NORM.fn, "NormBackward1", variant=None)


@numpy_names
def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """||x1 - x2 + eps||_p over the last dim (NormBackward1, as PyTorch).

    >>> import fgrad as torch
    >>> torch.nn.functional.pairwise_distance(torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2), eps=0.0)
    tensor([5.])
    """
    out_dim = max(x1.dim(), x2.dim()) - 1
    diff = _elementwise.add(_elementwise.sub(x1, x2), eps)
    axes = (out_dim,) if out_dim >= 0 else ()        # two 0-d tensors: a norm over no dim
    return apply(_NORM_DIM, (diff,), (float(p), axes, bool(keepdim), diff._data.dtype))


# ---- normalisation ----------------------------------------------------------------------------------------

def _group_norm_fn(x, weight, bias, groups, eps, has_weight, has_bias):
    # Statistics per (sample, group) over the group's channels and positions; the affine per channel.
    shape = ops.typeof(x).shape
    grouped = ops.reshape(x, (shape[0], groups, -1))
    count = ops.typeof(grouped).shape[2]
    mean = ops.div(ops.reduce_sum(grouped, (2,)), count)
    centred = ops.sub(grouped, ops.expand_dims(mean, (2,)))
    var = ops.div(ops.reduce_sum(ops.mul(centred, centred), (2,)), count)
    y = ops.reshape(ops.mul(centred, ops.expand_dims(ops.rsqrt(ops.add(var, eps)), (2,))), shape)
    affine_shape = (1, shape[1]) + (1,) * (len(shape) - 2)
    if has_weight:
        y = ops.mul(y, ops.reshape(weight, affine_shape))
    if has_bias:
        y = ops.add(y, ops.reshape(bias, affine_shape))
    return y


_GROUP_NORM = FacadeOp("group_norm", _group_norm_fn, "NativeGroupNormBackward0", variant=None)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over each group of num_groups channels (and the positions), then scale and shift per channel
    (NativeGroupNormBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.group_norm(torch.tensor([[1.0, 3.0]]), 1)
    tensor([[-1.0000,  1.0000]])
    """
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    channels = input.shape[1]
    _verify_batch_size([input.shape[0] * channels // num_groups, num_groups] + list(input.shape[2:]))
    if channels % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {_LF._shape_text(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t.numel() != channels):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {_LF._shape_text(t.shape)} and input of shape "
                               f"{_LF._shape_text(input.shape)}")
    args = (input, _LF._or_empty(weight), _LF._or_empty(bias))
    return apply(_GROUP_NORM, args, (int(num_groups), float(eps), weight is not None, bias is not None))


def _verify_batch_size(size) -> None:
    # PyTorch's check that training statistics see more than one value per channel.
    count = size[0]
    for d in size[2:]:
        count *= d
    if count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {Size(size)}")


def _verify_spatial_size(shape) -> None:
    count = 1
    for d in shape[2:]:
        count *= d
    if count == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {Size(shape)}")


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5):
    """Normalize each (sample, channel) over its positions, as PyTorch: batch_norm on the input viewed as one
    sample of N * C channels, viewed back (ViewBackward0 over NativeBatchNormBackward0); running statistics
    move by the mean over the batch of the per-instance updates.

    >>> import fgrad as torch
    >>> torch.nn.functional.instance_norm(torch.tensor([[[1.0, 3.0]]]))
    tensor([[[-1.0000,  1.0000]]])
    """
    if use_input_stats:
        _verify_spatial_size(input.shape)
    n, c = input.shape[0], input.shape[1]
    rows = _shapes.view(_shapes.contiguous(input), 1, n * c, *input.shape[2:])
    weight_rows = None if weight is None else _shapes.repeat(weight, n)
    bias_rows = None if bias is None else _shapes.repeat(bias, n)
    stats = [None if s is None else make(np.tile(s._data, n)) for s in (running_mean, running_var)]
    out = _LF.batch_norm(rows, stats[0], stats[1], weight_rows, bias_rows, use_input_stats, momentum, eps)
    for stat, updated in zip((running_mean, running_var), stats):
        if stat is not None and use_input_stats:
            stat._data[...] = updated._data.reshape(n, c).mean(axis=0).astype(stat._data.dtype)
            stat._vc[0] += 1
    return _shapes.view(out, *input.shape)


# ---- channel dropout ------------------------------------------------------------------------------------

def _feature_dropout(input, p: float, training: bool, inplace: bool):
    # PyTorch's feature dropout: one bernoulli(1 - p) draw per (sample, channel), scaled by 1 / (1 - p),
    # broadcast over the positions; input * noise (MulBackward0).
    if not training or p == 0.0 or input.numel() == 0:
        return input
    data = input._data
    if p == 1.0:
        noise = np.zeros((), dtype=data.dtype)
    else:
        noise_shape = tuple(data.shape[:2]) + (1,) * (data.ndim - 2)
        keep = _random.bernoulli_scalar(_random.default_generator, int(np.prod(noise_shape)), 1.0 - p, data.dtype)
        noise = (keep.reshape(noise_shape) / data.dtype.type(1.0 - p)).astype(data.dtype)
    return _inplace_or_not(input, _elementwise.mul(input, make(noise)), inplace)


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p in training, scaling the rest."""
    _check_p(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if input.dim() == 3:
        return _feature_dropout(input, p, training, inplace)
    if inplace:
        raise NotImplementedError("dropout1d(inplace=True) on unbatched input is not supported by fgrad")
    return _shapes.squeeze(_feature_dropout(_shapes.unsqueeze(input, 0), p, training, False), 0)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) input with probability p in training, scaling the rest; 3-D input
    is taken as (N, C, L), with PyTorch's warning."""
    _check_p(p)
    if input.dim() not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", stacklevel=2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a "
                      "batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, "
                      "please switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p in training."""
    _check_p(p)
    if input.dim() not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.dim()}-D input to dropout3d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout3d exists to provide channel-wise dropout on "
                      "inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 4D or 5D inputs).", stacklevel=2)
    if input.dim() == 4:
        return _shapes.squeeze(_feature_dropout(_shapes.unsqueeze(input, 0), p, training, False), 0)
    return _feature_dropout(input, p, training, inplace)


# ---- interpolate ----------------------------------------------------------------------------------------

def _source_scale(in_size: int, out_size: int, scale, align_corners: bool) -> float:
    # ATen's area_pixel_compute_scale: (in - 1) / (out - 1) with align_corners, else 1 / scale_factor when
    # one was given (and not recomputed), else in / out.
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else in_size / out_size


def _nearest_index(in_size: int, out_size: int, scale) -> np.ndarray:
    # ATen's nearest_idx: min(floor(dst * scale), in - 1), the scale as a float (PyTorch's float arithmetic).
    s = np.float32(_source_scale(in_size, out_size, scale, False))
    return np.minimum(np.floor(np.arange(out_size, dtype=np.float32) * s).astype(np.int64), in_size - 1)


def _bilinear_matrix(in_size: int, out_size: int, scale, align_corners: bool, dtype) -> np.ndarray:
    """(out, in): row i weights PyTorch's two source pixels of output pixel i (area_pixel_compute_source_index,
    clamped at 0 without align_corners, the second index clamped at the edge)."""
    s = _source_scale(in_size, out_size, scale, align_corners)
    dst = np.arange(out_size, dtype=np.float32)
    src = dst * np.float32(s) if align_corners else np.maximum(np.float32(s) * (dst + np.float32(0.5)) - np.float32(0.5),
                                                                np.float32(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < in_size - 1)
    frac = (src - i0).astype(np.float32)
    m = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(m, (np.arange(out_size), i0), 1.0 - frac)
    np.add.at(m, (np.arange(out_size), i1), frac)
    return m.astype(dtype)


def _nearest_fn(x, *indices):
    nsp = len(indices)
    ndim = len(ops.typeof(x).shape)
    for a, index in enumerate(indices):
        x = ops.gather(x, index, ndim - nsp + a)
    return x


_NEAREST = {1: FacadeOp("upsample_nearest1d", _nearest_fn, "UpsampleNearest1DBackward0", nondiff=(1,),
                        variant=None),
            2: FacadeOp("upsample_nearest2d", _nearest_fn, "UpsampleNearest2DBackward0", nondiff=(1, 2),
                        variant=None)}
_LINEAR = {1: FacadeOp("upsample_linear1d", _LF._adaptive_fn, "UpsampleLinear1DBackward0", nondiff=(1,),
                       variant=None),
           2: FacadeOp("upsample_bilinear2d", _LF._adaptive_fn, "UpsampleBilinear2DBackward0", nondiff=(1, 2),
                       variant=None)}


def _output_sizes(input, size, scale_factor, nsp: int, recompute_scale_factor):
    spatial = tuple(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = (int(size),) * nsp if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        if len(sizes) != nsp:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(spatial)} and output size of {size}. Please "
                             "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, "
                             "...,oK) format.")
        return sizes, (None,) * nsp
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = (float(scale_factor),) * nsp if isinstance(scale_factor, (int, float)) else \
        tuple(float(s) for s in scale_factor)
    if len(scales) != nsp:
        raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {list(spatial)} and scale_factor of shape {list(scales)}. "
                         "Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, "
                         "s2, ...,sK) format.")
    sizes = tuple(int(math.floor(n * s)) for n, s in zip(spatial, scales))
    return sizes, ((None,) * nsp if recompute_scale_factor else scales)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial dims of (N, C, L) or (N, C, H, W) input to `size` or by `scale_factor`:
    mode "nearest" (UpsampleNearest2DBackward0), "linear"/"bilinear" (UpsampleBilinear2DBackward0) with
    PyTorch's align_corners conventions.

    >>> import fgrad as torch
    >>> torch.nn.functional.interpolate(torch.tensor([[[1.0, 2.0]]]), scale_factor=2)
    tensor([[[1., 1., 2., 2.]]])
    """
    modes = {"nearest": None, "linear": 1, "bilinear": 2}
    if mode not in modes:
        raise NotImplementedError(f"interpolate: mode={mode!r} is not supported by fgrad (nearest, linear, "
                                  "bilinear)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by fgrad")
    nsp = input.dim() - 2
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if nsp not in (1, 2) or (modes[mode] is not None and modes[mode] != nsp):
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs "
                                  f"{'3D or 4D' if mode == 'nearest' else str(modes[mode] + 2) + 'D'} input")
    sizes, scales = _output_sizes(input, size, scale_factor, nsp, recompute_scale_factor)
    spatial = tuple(input.shape[2:])
    if mode == "nearest":
        indices = tuple(_nearest_index(n, o, s) for n, o, s in zip(spatial, sizes, scales))
        return apply(_NEAREST[nsp], (input,) + indices)
    align = bool(align_corners)
    matrices = tuple(_bilinear_matrix(n, o, s, align, input._data.dtype) for n, o, s in zip(spatial, sizes, scales))
    return apply(_LINEAR[nsp], (input,) + matrices)


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """Deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---- losses ---------------------------------------------------------------------------------------------

def _smooth_l1_fn(x, target, dtype, reduction, beta):
    # |d| < beta: 0.5 d^2 / beta, else |d| - 0.5 beta (PyTorch's kernel); the gradient d / beta then sign(d).
    d = ops.sub(ops.convert_element_type(x, dtype), ops.convert_element_type(target, dtype))
    z = ops.abs(d)
    loss = ops.select(ops.lt(z, beta), ops.div(ops.mul(ops.mul(z, z), 0.5), beta), ops.sub(z, 0.5 * beta))
    return _common._reduce(loss, reduction)


def _huber_fn(x, target, dtype, reduction, delta):
    # |d| < delta: 0.5 d^2, else delta (|d| - 0.5 delta) (PyTorch's kernel).
    d = ops.sub(ops.convert_element_type(x, dtype), ops.convert_element_type(target, dtype))
    z = ops.abs(d)
    loss = ops.select(ops.lt(z, delta), ops.mul(ops.mul(z, z), 0.5), ops.mul(ops.sub(z, 0.5 * delta), delta))
    return _common._reduce(loss, reduction)


_SMOOTH_L1 = FacadeOp("smooth_l1_loss", _smooth_l1_fn, "SmoothL1LossBackward0")
_HUBER = FacadeOp("huber_loss", _huber_fn, "HuberLossBackward0")


def _warn_size(input, target):
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({Size(target.shape)}) that is different to the input size "
                      f"({Size(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
    """0.5 (x - y)^2 / beta where |x - y| < beta, else |x - y| - beta / 2 (SmoothL1LossBackward0); beta = 0
    is l1_loss, as PyTorch.

    >>> import fgrad as torch
    >>> torch.nn.functional.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2))
    tensor(1.3125)
    """
    _warn_size(input, target)
    reduction = _common._reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _common.l1_loss(input, target, reduction=reduction)
    input, target, dtype = _common._float_pair(input, target)
    return apply(_SMOOTH_L1, (input, target), (dtype, reduction, float(beta)))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """0.5 (x - y)^2 where |x - y| < delta, else delta (|x - y| - delta / 2) (HuberLossBackward0); with
    `weight`, the elementwise loss times weight, then reduced (MeanBackward0/SumBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0)
    tensor(2.0625)
    """
    _warn_size(input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input_shape = input.shape
    input, target, dtype = _common._float_pair(input, target)
    if weight is None:
        return apply(_HUBER, (input, target), (dtype, _common._reduction(reduction), float(delta)))
    if weight.shape != input_shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = _elementwise.mul(apply(_HUBER, (input, target), (dtype, "none", float(delta))), weight)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return _reductions.sum(weighted)
    if reduction == "mean":
        return _reductions.mean(weighted)
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def _xlogy_fn(x, y):
    # x * log(y), 0 where x == 0 (also for y == 0), NaN where y is NaN, as torch.xlogy.
    t = ops.typeof(x)
    safe_y = ops.select(ops.eq(x, 0), ops.full(t.shape, 1, t.dtype), y)
    product = ops.mul(x, ops.log(safe_y))
    return ops.select(ops.ne(y, y), y, product)


_XLOGY = FacadeOp("xlogy", _xlogy_fn, "XlogyBackward0", variant=None)


def _loss_reduction(loss, reduction: str):
    """ATen's apply_loss_reduction on a facade tensor (MeanBackward0 / SumBackward0)."""
    if reduction == "mean":
        return _reductions.mean(loss)
    if reduction == "sum":
        return _reductions.sum(loss)
    return loss


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
    """The pointwise KL divergence target * (log(target) - input) of log-probabilities `input` (targets as
    probabilities, or log-probabilities with log_target), reduced by mean, sum, "batchmean" (sum / batch
    size) or not; composed as PyTorch's.

    >>> import fgrad as torch
    >>> torch.nn.functional.kl_div(torch.tensor([[-1.0, -1.0]]), torch.tensor([[0.5, 0.5]]), reduction="batchmean")
    tensor(0.3069)
    """
    if size_average is not None or reduce is not None:
        reduction = _common._reduction(reduction, size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    batchmean = reduction == "batchmean"
    inner_reduction = "sum" if batchmean else reduction
    if log_target:
        loss = _elementwise.mul(_elementwise.exp(target), _elementwise.sub(target, input))
    else:
        loss = _elementwise.sub(apply(_XLOGY, (target, target)), _elementwise.mul(target, input))
    reduced = _loss_reduction(loss, inner_reduction)
    if batchmean and input.dim() != 0:
        reduced = _elementwise.div(reduced, input.shape[0])
    return reduced


def _legacy_reduction(reduction, size_average, reduce):
    return _common._reduction(reduction, size_average, reduce)


def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(0, -target * (input1 - input2) + margin), reduced; composed as PyTorch's.

    >>> import fgrad as torch
    >>> torch.nn.functional.margin_ranking_loss(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([1.0]))
    tensor(1.)
    """
    reduction = _legacy_reduction(reduction, size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {Size(input1.shape)}, input2: {Size(input2.shape)}, target: "
                           f"{Size(target.shape)} ")
    loss = _elementwise.add(_elementwise.mul(_elementwise.neg(target), _elementwise.sub(input1, input2)), margin)
    return _loss_reduction(_clamp_min(loss, 0), reduction)


COSINE_EMBEDDING_EPSILON = 1e-12


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                          reduction: str = "mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1 (ATen's formula,
    its 1e-12 in the squared magnitudes), reduced.

    >>> import fgrad as torch
    >>> torch.nn.functional.cosine_embedding_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]),
    ...                                           torch.tensor([1]))
    tensor(1.)
    """
    reduction = _legacy_reduction(reduction, size_average, reduce)
    dim = target.dim()
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    expected = 2 if dim == 1 else 1
    if input1.dim() != expected or input2.dim() != expected:
        raise RuntimeError(f"{dim}D target tensor expects {expected}D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    prod_sum = _reductions.sum(_elementwise.mul(input1, input2), dim)
    mag1 = _elementwise.add(_reductions.sum(_elementwise.mul(input1, input1), dim), COSINE_EMBEDDING_EPSILON)
    mag2 = _elementwise.add(_reductions.sum(_elementwise.mul(input2, input2), dim), COSINE_EMBEDDING_EPSILON)
    cos = _elementwise.div(prod_sum, _elementwise.sqrt(_elementwise.mul(mag1, mag2)))
    zeros = make(np.zeros(cos.shape, cos._data.dtype))
    pos = _elementwise.rsub(cos, 1)
    neg = _clamp_min(_elementwise.sub(cos, margin), 0)
    output = _elementwise.add(_elementwise.where(_elementwise.eq(target, 1), pos, zeros),
                              _elementwise.where(_elementwise.eq(target, -1), neg, zeros))
    return _loss_reduction(output, reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None, reduction: str = "mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with pairwise_distance d (the smaller of d(a, n) and d(p, n) with
    swap), reduced; composed as PyTorch's.

    >>> import fgrad as torch
    >>> a = torch.tensor([[0.0, 0.0]])
    >>> torch.nn.functional.triplet_margin_loss(a, torch.tensor([[3.0, 4.0]]), a, eps=0.0)
    tensor(6.)
    """
    reduction = _legacy_reduction(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.dim(), positive.dim(), negative.dim())
    if len(set(dims)) != 1:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D "
                           "inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _elementwise.minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
    loss = _clamp_min(_elementwise.sub(_elementwise.add(dist_pos, margin), dist_neg), 0)
    return _loss_reduction(loss, reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean"):
    """exp(input) - target * input (log_input) or input - target * log(input + eps), plus the Stirling term
    where target > 1 with full, reduced; composed as PyTorch's.

    >>> import fgrad as torch
    >>> torch.nn.functional.poisson_nll_loss(torch.tensor([0.0]), torch.tensor([1.0]))
    tensor(1.)
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(reduction, size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_input:
        loss = _elementwise.sub(_elementwise.exp(input), _elementwise.mul(target, input))
    else:
        loss = _elementwise.sub(input, _elementwise.mul(target, _elementwise.log(_elementwise.add(input, eps))))
    if full:
        stirling = _elementwise.add(
            _elementwise.sub(_elementwise.mul(target, _elementwise.log(target)), target),
            _elementwise.mul(_elementwise.log(_elementwise.mul(target, 2 * math.pi)), 0.5))
        loss = _elementwise.add(loss, _elementwise.masked_fill(stirling, _elementwise.le(target, 1), 0))
    return _loss_reduction(loss, reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
    """0.5 (log(var) + (input - target)^2 / var) (+ 0.5 log(2 pi) with full), var clamped to >= eps without
    gradient through the clamp, with PyTorch's checks of var's shape; composed as PyTorch's.

    >>> import fgrad as torch
    >>> torch.nn.functional.gaussian_nll_loss(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([2.0]))
    tensor(1.3466)
    """
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _elementwise.mul(var, make(np.ones(input.shape, input._data.dtype)))
    elif bool((var._data < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = _shapes.unsqueeze(var, -1)
        elif input.dim() == var.dim() and sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = _shapes.clone(var)
    with no_grad():             # as PyTorch: the values are clamped, the graph (CloneBackward0) is not
        var.clamp_(min=eps)
    loss = _elementwise.mul(_elementwise.add(_elementwise.log(var),
                                             _elementwise.div(_elementwise.pow(_elementwise.sub(input, target), 2),
                                                              var)), 0.5)
    if full:
        loss = _elementwise.add(loss, 0.5 * math.log(2 * math.pi))
    return _loss_reduction(loss, reduction)
