"""Forward-mode AD state for torch.autograd.forward_ad: which tensors carry a tangent at the current dual level.

A tangent is kept beside its tensor, keyed by the tensor's id and checked through a weak reference (Tensor has
fixed slots, and a tangent lives only as long as its dual level). fgrad.facade._op.apply reads this to push
tangents through each op with the JVP of the op's program (fgrad.transforms.jvp); the public functions are in
fgrad.facade.forward_ad.
"""
from __future__ import annotations

import weakref


class DualState:
    """`level`: the current dual level (-1: none); `tangents`: id(tensor) -> (weakref to tensor, tangent);
    `busy`: set while an op's tangents are computed, so that computation is ordinary (first order)."""
    __slots__ = ("level", "tangents", "busy")

    def __init__(self):
        self.level = -1
        self.tangents = {}
        self.busy = False


state = DualState()


def tangent_of(tensor):
    """The tangent `tensor` carries at the current level, or None."""
    entry = state.tangents.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


def set_tangent(tensor, tangent) -> None:
    key = id(tensor)
    tangents = state.tangents

    def forget(_ref, key=key):
        entry = tangents.get(key)
        if entry is not None and entry[0] is _ref:
            del tangents[key]

    tangents[key] = (weakref.ref(tensor, forget), tangent)


def carries_tangent(*tensors) -> bool:
    """Whether any of `tensors` carries a tangent (ops with a numpy fast path take the general one then)."""
    return bool(state.tangents) and any(tangent_of(t) is not None for t in tensors)
