"""torch.nn.init: fill a tensor in place (under no_grad) from a distribution or with a constant.

The draws are PyTorch's (fgrad.facade._random), in the order PyTorch 2.13's init functions make them, so
after `torch.manual_seed(s)` a layer initialises to PyTorch's values bit for bit. Two exceptions, for
reasons of arithmetic rather than randomness: orthogonal_ orthogonalises with numpy's QR (LAPACK's
rounding differs from MKL's in the last bits), and trunc_normal_'s rejection sampling for narrow bounds
(the rarely used branch, acceptance probability <= 0.3) compares against numpy's float32 log, which can
differ from PyTorch's vectorised log by an ulp and then accept a different candidate.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fgrad.facade import _grad_mode, _random

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]

_LINEAR_GAINS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): relu sqrt(2), tanh 5/3, leaky_relu
    sqrt(2 / (1 + slope**2)), ...

    >>> round(calculate_gain("leaky_relu", math.sqrt(5)) ** 2, 4)
    0.3333
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = math.prod(tensor.shape[2:]) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with values drawn from U(a, b).

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.nn.init.uniform_(torch.empty(3), -1, 1)
    tensor([-0.0075,  0.5364, -0.8230])
    """
    with _grad_mode.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with values drawn from N(mean, std**2)."""
    with _grad_mode.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Fill with values from N(mean, std**2) restricted to [a, b], by rejection as PyTorch 2.13 does: when
    [a, b] holds more than 30% of the mass, whole fresh normal draws replace the values outside it until
    none is left; otherwise uniform candidates on [a, b] are accepted with probability pdf/peak."""
    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                      "may be incorrect.", stacklevel=2)
    with _grad_mode.no_grad():
        mass = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std)
        if mass > 0.3:
            _trunc_normal_by_redrawing(tensor, mean, std, a, b, generator)
        else:
            _trunc_normal_by_acceptance(tensor, mean, std, a, b, generator)
    return tensor


def _fresh_like(data: np.ndarray) -> np.ndarray:
    """empty_like(data): the same layout, so samples land in the same memory order."""
    return np.empty_like(data, order="K")


def _sample_normal_like(data, mean, std, generator) -> np.ndarray:
    out = _fresh_like(data)
    values = _random.normal(_random.generator_of(generator), out.size, out.dtype, mean, std,
                            contiguous=out.flags.c_contiguous)
    _random.fill_in_memory_order(out, values)
    return out


def _sample_uniform_like(data, a, b, generator) -> np.ndarray:
    out = _fresh_like(data)
    _random.fill_in_memory_order(out, _random.uniform(_random.generator_of(generator), out.size, out.dtype, a, b))
    return out


def _trunc_normal_by_redrawing(tensor, mean, std, a, b, generator):
    dtype = tensor._data.dtype
    lo, hi = dtype.type(a), dtype.type(b)            # the bounds as the tensor's dtype holds them
    tensor.normal_(mean, std, generator=generator)
    result = tensor._data
    while True:
        outside = (result < lo) | (result > hi)
        if not outside.any():
            break
        result = np.where(outside, _sample_normal_like(tensor._data, mean, std, generator), result)
    if result is not tensor._data:
        tensor._data[...] = result
        tensor._vc[0] += 1


def _trunc_normal_by_acceptance(tensor, mean, std, a, b, generator):
    """Candidates uniform on [a, b], accepted while log(u) <= -((x - mean)/std)**2 / 2 - log_peak, the
    arithmetic in the tensor's dtype as PyTorch's in-place chain computes it."""
    dtype = tensor._data.dtype
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2

    def log_pdf(x):
        x = x - dtype.type(mean)
        x = x / dtype.type(std)
        x = x * x
        x = x * dtype.type(-0.5)
        return x - dtype.type(log_peak)

    def rejected(candidates):
        accept_draw = _sample_uniform_like(tensor._data, 0.0, 1.0, generator)
        return np.log(accept_draw) > log_pdf(candidates)

    tensor.uniform_(a, b, generator=generator)
    pending = rejected(tensor._data)
    if not pending.any():
        return
    result = tensor._data.copy()
    while True:
        candidates = _sample_uniform_like(tensor._data, a, b, generator)
        result = np.where(pending, candidates, result)
        pending = np.where(pending, rejected(candidates), pending)
        if not pending.any():
            break
    tensor._data[...] = result
    tensor._vc[0] += 1


def constant_(tensor, val: float):
    """Fill with `val`."""
    with _grad_mode.no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    with _grad_mode.no_grad():
        return tensor.zero_()


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a 2-d tensor)."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with _grad_mode.no_grad():
        tensor._data[...] = np.eye(*tensor.shape, dtype=tensor._data.dtype)
        tensor._vc[0] += 1
    return tensor


def dirac_(tensor, groups: int = 1):
    """The Dirac delta of a convolution weight (out, in, *kernel): identity on the channels of each group."""
    dimensions = tensor.dim()
    if dimensions not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    centre = tuple(s // 2 for s in sizes[2:])
    with _grad_mode.no_grad():
        tensor._data[...] = 0
        for g in range(groups):
            for d in range(min_dim):
                tensor._data[(g * out_chans_per_grp + d, d) + centre] = 1
        tensor._vc[0] += 1
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He). nn.Linear uses a=sqrt(5), which makes the
    bound 1/sqrt(in_features)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """N(0, std**2) with std = gain / sqrt(fan) (He)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0, std, generator)


def orthogonal_(tensor, gain: float = 1, generator=None):
    """A (semi-)orthogonal matrix: Q of the QR factorisation of a standard normal (rows, rest) matrix, its
    columns' signs fixed by R's diagonal (Saxe et al. 2013), times `gain`. The normal draws are PyTorch's;
    Q is numpy's, equal to PyTorch's up to the last bits."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    dtype = tensor._data.dtype
    flattened = _random.normal(_random.generator_of(generator), rows * cols, dtype).reshape(rows, cols)
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened.astype(np.float64))
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with _grad_mode.no_grad():
        tensor._data[...] = q.astype(dtype).reshape(tensor._data.shape)
        tensor._vc[0] += 1
        tensor.mul_(gain)
    return tensor


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """N(0, std**2) with ceil(sparsity * rows) entries of each column set to zero, the rows chosen by a
    randperm of the default generator per column (as PyTorch does)."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    with _grad_mode.no_grad():
        tensor.normal_(0, std, generator=generator)
        for col in range(cols):
            zero_rows = _random.permutation(_random.default_generator, rows)[:num_zeros]
            tensor._data[zero_rows, col] = 0
        tensor._vc[0] += 1
    return tensor


def _deprecated(method):
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.", FutureWarning,
                      stacklevel=2)
        return method(*args, **kwargs)

    deprecated_init.__name__ = old_name
    deprecated_init.__doc__ = f"Deprecated alias of {new_name}."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
