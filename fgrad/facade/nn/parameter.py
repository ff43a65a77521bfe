"""`Parameter` and `Buffer`: the tensors a Module registers when they are assigned as attributes."""
from __future__ import annotations

import numpy as np

from fgrad.facade import _tensor
from fgrad.facade._tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a parameter (requires grad unless told otherwise).

    It shares storage with `data`, as PyTorch's does.

    >>> import fgrad as torch
    >>> torch.nn.Parameter(torch.ones(2))
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _tensor.make(np.empty((0,), dtype=np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        if data._grad_fn is not None:
            data = data.detach()
        return Tensor._make_subclass(cls, data, requires_grad)

    def __init__(self, data=None, requires_grad=True):
        pass        # everything happens in __new__ (Tensor's legacy constructor takes other arguments)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(_tensor.make(np.array(self._data, copy=True)), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (np.array(self._data), self._requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(_tensor.make(data), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute (torch.nn.Buffer).

    The Module stores a plain Tensor sharing its storage; `persistent=False` keeps it out of state_dict.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _tensor.make(np.empty((0,), dtype=np.float32))
        t = Tensor._make_subclass(cls, data, data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass
