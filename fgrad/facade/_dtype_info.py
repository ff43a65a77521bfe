"""torch.finfo / torch.iinfo, and the dtypes fgrad names but does not compute in (float16, int8, ...).

fgrad's IR computes in float32, float64, int32, int64 and bool (uint8 is stored only), so `torch.float16`,
`torch.int8`, `torch.int16`, `torch.bfloat16` and `torch.complex64` exist as names (they print, compare, and
`finfo`/`iinfo` describe them, as code that inspects dtypes needs) but a tensor of one cannot be made: the
attempt raises a TypeError saying which dtypes fgrad has.

>>> import fgrad as torch
>>> torch.finfo(torch.float32).eps
1.1920928955078125e-07
>>> torch.iinfo(torch.int8).max
127
"""
from __future__ import annotations

import numpy as np

from fgrad.facade import _dtypes

__all__ = ["finfo", "iinfo", "float16", "half", "bfloat16", "int8", "int16", "short", "complex64", "cfloat",
           "complex128", "cdouble"]


class NamedOnlyDtype(_dtypes.dtype):
    """A PyTorch dtype fgrad can name but not compute in: using it for a tensor raises a TypeError."""
    __slots__ = ()

    @property
    def dtype(self):
        # numpy's np.dtype(obj) reads obj.dtype: this is where creating a tensor of this dtype ends up.
        raise TypeError(f"fgrad tensors do not support {self!r}: fgrad computes in torch.float32, torch.float64, "
                        "torch.int32, torch.int64 and torch.bool (torch.uint8 is stored only); use one of those")


def _named_only(name, numpy_dtype, legacy):
    return NamedOnlyDtype(name, numpy_dtype, legacy)


float16 = half = _named_only("float16", np.float16, "HalfTensor")
# numpy has no bfloat16: its numpy slot holds float32 (same exponent range), and finfo reads its own table
bfloat16 = _named_only("bfloat16", np.float32, "BFloat16Tensor")
int8 = _named_only("int8", np.int8, "CharTensor")
int16 = short = _named_only("int16", np.int16, "ShortTensor")
complex64 = cfloat = _named_only("complex64", np.complex64, "ComplexFloatTensor")
complex128 = cdouble = _named_only("complex128", np.complex128, "ComplexDoubleTensor")
NamedOnlyDtype.is_complex = property(lambda self: self.numpy.kind == "c")


def _as_dtype(d):
    if d is None:
        return _dtypes.get_default_dtype()
    if isinstance(d, _dtypes.dtype):
        return d
    return _dtypes.from_numpy(_dtypes.to_numpy(d))


# (bits, eps, max, tiny, resolution) of bfloat16, which numpy cannot describe
_BFLOAT16 = (16, 0.0078125, 3.3895313892515355e+38, 1.1754943508222875e-38, 0.01)


class finfo:
    """Machine limits of a floating-point dtype, as torch.finfo: bits, eps, max, min, tiny (= smallest_normal),
    resolution, dtype. `finfo()` describes the default dtype.

    >>> import fgrad as torch
    >>> torch.finfo(torch.float64).max
    1.7976931348623157e+308
    """

    def __init__(self, type=None):
        d = _as_dtype(type)
        if not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            "'torch.finfo'")
        if d.name == "bfloat16":
            self.bits, self.eps, self.max, self.tiny, self.resolution = _BFLOAT16
        else:
            info = np.finfo(d.numpy)
            self.bits = int(info.bits)
            self.eps = float(info.eps)
            self.max = float(info.max)
            self.tiny = float(info.tiny)
            self.resolution = float(10.0 ** -int(info.precision))  # PyTorch rounds to a power of ten
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = d.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, as torch.iinfo: bits, min, max, dtype.

    >>> import fgrad as torch
    >>> torch.iinfo(torch.int32).min
    -2147483648
    """

    def __init__(self, type):
        d = _as_dtype(type)
        if d.name == "bool":
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if d.is_floating_point or d.is_complex:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                            "'torch.iinfo'")
        info = np.iinfo(d.numpy)
        self.bits = int(info.bits)
        self.min = int(info.min)
        self.max = int(info.max)
        self.dtype = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
