"""More activation modules (PReLU, SELU, CELU, Mish, Softsign, Hardswish, Hardsigmoid, Threshold, Tanhshrink,
GLU, Softshrink, Hardshrink, Softmin): thin Modules over fgrad.facade.nn._functional_more, printing as
PyTorch's."""
from __future__ import annotations

import numpy as np

from fgrad.facade import _dtypes
from fgrad.facade._tensor import make
from fgrad.facade.nn import _functional_more as FM
from fgrad.facade.nn.module import Module
from fgrad.facade.nn.parameter import Parameter

__all__ = ["PReLU", "SELU", "CELU", "Mish", "Softsign", "Hardswish", "Hardsigmoid", "Threshold", "Tanhshrink",
           "GLU", "Softshrink", "Hardshrink", "Softmin"]


class _Inplace(Module):
    """An activation with only an `inplace` flag (printed when set)."""
    _function = None

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._function(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class PReLU(Module):
    """x where x > 0, else a * x with a learned slope `a` (one, or one per channel), initialised to `init`.

    >>> import fgrad as torch
    >>> torch.nn.PReLU(3)
    PReLU(num_parameters=3)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        np_dtype = _dtypes.default_float_numpy() if dtype is None else _dtypes.to_numpy(dtype)
        self.weight = Parameter(make(np.full((num_parameters,), init, dtype=np_dtype)))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input):
        return FM.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class SELU(_Inplace):
    """scale * elu(x, alpha) with PyTorch's self-normalising constants."""
    _function = staticmethod(FM.selu)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6."""
    _function = staticmethod(FM.hardswish)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""
    _function = staticmethod(FM.hardsigmoid)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""
    _function = staticmethod(FM.mish)


class CELU(Module):
    """x where x > 0, else alpha * (exp(x / alpha) - 1).

    >>> import fgrad as torch
    >>> torch.nn.CELU(0.5)
    CELU(alpha=0.5)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return FM.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):
        return FM.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input):
        return FM.tanhshrink(input)


class Threshold(Module):
    """x where x > threshold, else value.

    >>> import fgrad as torch
    >>> torch.nn.Threshold(0.1, 20)
    Threshold(threshold=0.1, value=20)
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return FM.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """a * sigmoid(b) for the two halves of the input along dim."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return FM.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softshrink(Module):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return FM.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    """x outside [-lambd, lambd], else 0."""

    def forward(self, input):
        return FM.hardshrink(input, self.lambd)


class Softmin(Module):
    """softmax(-x) along dim."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return FM.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
