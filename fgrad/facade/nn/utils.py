"""torch.nn.utils for the facade: gradient clipping and flattening parameters to one vector."""
from __future__ import annotations

import math

import numpy as np

from fgrad.facade import _shapes
from fgrad.facade._grad_mode import no_grad
from fgrad.facade._tensor import Tensor, make

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None):
    """The norm of the norms of `tensors` (as one vector's norm), a 0-d tensor of their dtype."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return make(np.array(0.0, dtype=np.float32))
    dtype = tensors[0]._data.dtype
    # Each tensor's norm rounded to its dtype, then the norm of those (PyTorch's _foreach_norm, then vector_norm).
    norms = np.array([_vector_norm(t._data.astype(np.float64), norm_type) for t in tensors], dtype=dtype)
    total = np.asarray(_vector_norm(norms.astype(np.float64), norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    return make(total)


def _vector_norm(x: np.ndarray, p: float) -> float:
    x = np.abs(x.reshape(-1))
    if p == math.inf:
        return float(x.max()) if x.size else 0.0
    if p == -math.inf:
        return float(x.min()) if x.size else math.inf
    if p == 0:
        return float(np.count_nonzero(x))
    return float(np.sum(x ** p) ** (1.0 / p))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)) in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    coefficient = float(max_norm) / (float(total_norm._data) + 1e-6)
    with no_grad():
        for g in grads:
            # clamp(max_norm / (total + 1e-6), max=1) in the gradient's dtype, then g *= it (PyTorch's mul_).
            scale = g._data.dtype.type(min(g._data.dtype.type(coefficient), 1.0))
            g._data *= scale
            g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None):
    """Scale all gradients together so that their total norm is at most max_norm; returns the total norm
    before clipping.

    >>> import fgrad as torch
    >>> w = torch.ones(4, requires_grad=True); w.sum().backward()
    >>> torch.nn.utils.clip_grad_norm_([w], 1.0), w.grad
    (tensor(2.), tensor([0.5000, 0.5000, 0.5000, 0.5000]))
    """
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                g = p.grad._data
                np.clip(g, g.dtype.type(-clip_value), g.dtype.type(clip_value), out=g)
                p.grad._vc[0] += 1


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated into one vector (CatBackward0).

    >>> import fgrad as torch
    >>> torch.nn.utils.parameters_to_vector([torch.ones(2, 2), torch.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    from fgrad.facade._shapes import cat
    return cat([_shapes.view(p, -1) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of `vec` into the parameters' data (no graph)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    offset = 0
    for p in parameters:
        n = p.numel()
        p._data = np.array(vec._data[offset:offset + n].reshape(p._data.shape), dtype=p._data.dtype)
        p._vc[0] += 1
        offset += n


# `from torch.nn.utils.rnn import pad_sequence`: a submodule by name (an empty __path__ makes this module a
# package to the import system, which then finds it in sys.modules), as fgrad.facade.autograd's.
import sys as _sys  # noqa: E402

from fgrad.facade.nn import rnn_utils as rnn  # noqa: E402

__path__ = []
_sys.modules[f"{__name__}.rnn"] = rnn
