"""torch.autograd.forward_ad: forward-mode AD on facade tensors, on the primitives' JVP rules.

Inside `with dual_level():`, `make_dual(x, t)` gives a tensor carrying the tangent `t`; every facade op on
tensors that carry tangents gives its outputs the tangents the JVP of its program computes
(fgrad.transforms.jvp over the op's traced program, fgrad.facade._op._apply_dual), and `unpack_dual(y)` returns
`(primal, tangent)`. Leaving the level drops the tangents.

>>> import fgrad as torch
>>> import fgrad.autograd.forward_ad as fwAD
>>> with fwAD.dual_level():
...     x = fwAD.make_dual(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
...     fwAD.unpack_dual(x.sin() * 2).tangent
tensor([2.0000, 1.0806])
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from fgrad.facade._dual import set_tangent, state, tangent_of
from fgrad.facade._op import FacadeOp, apply, share_storage
from fgrad.facade._tensor import Tensor, make

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual", "UnpackedDualTensor"]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level() -> int:
    """Start the (one) dual level; returns its index, 0."""
    if state.level >= 0:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    state.level = 0
    return state.level


def exit_dual_level(*, level=None) -> None:
    """End the dual level: every tangent made in it is dropped."""
    if level is None:
        level = state.level
    if level != state.level or level < 0:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that was created. This is "
                           "not supported.")
    state.level = -1
    state.tangents.clear()


class dual_level:
    """The context in which dual tensors live: `with dual_level(): ...` (also a decorator)."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with dual_level():
                return fn(*args, **kwargs)
        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        return wrapped


def make_dual(tensor, tangent, *, level=None):
    """A view of `tensor` carrying `tangent` (same shape; cast to tensor's dtype) at the current dual level."""
    if state.level < 0:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure "
                           "to enter_dual_level() first.")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual expects Tensors for both the primal and the tangent, got "
                        f"{type(tensor).__name__} and {type(tangent).__name__}")
    if tensor._data.dtype.kind != "f" or tangent._data.dtype.kind != "f":
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor.dtype}"
                         if tensor._data.dtype.kind != "f" else
                         f"Expected tangent to be floating point or complex, but got: {tangent.dtype}")
    if tangent._data.shape != tensor._data.shape:
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than that of the original "
                           f"Tensor, this is not supported. Tensor is of size {list(tensor._data.shape)} while the "
                           f"given forward gradient is of size {list(tangent._data.shape)}.")
    dual = _view(tensor, _MAKE_DUAL)
    if tangent._data.dtype != tensor._data.dtype:
        tangent = make(tangent._data.astype(tensor._data.dtype))
    set_tangent(dual, tangent)
    return dual


def unpack_dual(tensor, *, level=None):
    """(primal, tangent) of `tensor` as a namedtuple; tangent is None when it carries none."""
    if not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    tangent = tangent_of(tensor) if state.level >= 0 else None
    state.busy = True          # the primal is a view without the tangent
    try:
        primal = _view(tensor, _UNPACK_DUAL)
    finally:
        state.busy = False
    return UnpackedDualTensor(primal, tangent)


# PyTorch's nodes for the two views: make_dual's output is a view, unpack_dual's primal an identity
_MAKE_DUAL = FacadeOp("make_dual", lambda x: x, "ViewBackward0", view=True)
_UNPACK_DUAL = FacadeOp("unpack_dual", lambda x: x, "Identity", view=True)


def _view(tensor, op):
    """A view of `tensor` sharing its storage, recorded as `op`'s node when it requires grad."""
    if tensor.requires_grad:
        return apply(op, (tensor,))
    view = make(tensor._data)
    share_storage(tensor, view)
    return view
