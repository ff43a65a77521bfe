"""PyTorch's dtype objects and type promotion, over the numpy dtypes fgrad's IR supports.

`import fgrad as torch` must print what PyTorch prints, so the dtype objects repr as `torch.float32`.
Promotion follows torch.result_type, which differs from numpy's: an int tensor times a Python float is
float32 (the default dtype), and a 0-d tensor does not raise the dtype of a dimensioned one of the same
category (`float32[3] + float64[]` is float32).
"""
from __future__ import annotations

import numpy as np


class dtype:
    """A PyTorch dtype: `fgrad.float32` prints as `torch.float32` and knows its numpy dtype."""
    __slots__ = ("name", "numpy", "is_floating_point", "is_signed", "itemsize", "_legacy")

    def __init__(self, name: str, numpy_dtype, legacy: str):
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.is_floating_point = self.numpy.kind == "f"
        self.is_signed = self.numpy.kind in "if"
        self.itemsize = self.numpy.itemsize
        self._legacy = legacy

    is_complex = False

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))

    def to_real(self):
        return self


float32 = dtype("float32", np.float32, "FloatTensor")
float64 = dtype("float64", np.float64, "DoubleTensor")
int32 = dtype("int32", np.int32, "IntTensor")
int64 = dtype("int64", np.int64, "LongTensor")
bool_ = dtype("bool", np.bool_, "BoolTensor")
# uint8 holds bytes (a generator's state, images as loaded); fgrad's ops do not compute on it
uint8 = dtype("uint8", np.uint8, "ByteTensor")

DTYPES = (float32, float64, int32, int64, bool_, uint8)
ALIASES = {"float": float32, "double": float64, "int": int32, "long": int64}
_BY_NUMPY = {d.numpy: d for d in DTYPES}
_BY_NAME = {**{d.name: d for d in DTYPES}, **ALIASES}

_default_float = float32


def from_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy(np_dtype) -> dtype:
    """The PyTorch dtype of a numpy dtype, or a TypeError naming the supported ones."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        pass
    d = np.dtype(np_dtype)
    if d in _BY_NUMPY:
        return _BY_NUMPY[d]
    raise TypeError(f"fgrad tensors do not support dtype {d}; use one of float32, float64, int32, int64, bool, "
                    "uint8")


def to_numpy(d) -> np.dtype:
    """The numpy dtype of a PyTorch dtype (numpy dtypes and Python types float/int/bool are accepted too)."""
    if type(d) is dtype:
        return d.numpy
    if d is float:
        return _default_float.numpy
    if d is int:
        return np.dtype(np.int64)
    if d is bool:
        return np.dtype(np.bool_)
    return from_numpy(np.dtype(d)).numpy


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d) -> None:
    """The dtype of Python floats and of float tensors created without a dtype (float32 or float64)."""
    global _default_float
    d = from_numpy(to_numpy(d))
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def default_float_numpy() -> np.dtype:
    return _default_float.numpy


def legacy_type_name(np_dtype) -> str:
    """`torch.FloatTensor` style names, as PyTorch's error messages print them."""
    return "torch." + from_numpy(np_dtype)._legacy


_C_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int", "int16": "short int",
                 "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}


def c_type_name(np_dtype) -> str:
    """The C++ type name some of PyTorch's messages use for a dtype ("long int" for int64)."""
    name = np.dtype(np_dtype).name
    return _C_TYPE_NAMES.get(name, name)


# ---- promotion (torch.result_type) --------------------------------------------------------------

_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def category(np_dtype) -> int:
    """0 for bool, 1 for integers, 2 for floats."""
    return _CATEGORY[np_dtype.kind]


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types: the higher category wins; within one, the wider type (int + float is the float)."""
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    return a if a.itemsize >= b.itemsize else b


def scalar_dtype(value) -> np.dtype:
    """The dtype a Python scalar takes on its own (a float is the default float dtype)."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    return _default_float.numpy


def result_type(tensor_dtypes_dim, tensor_dtypes_zero, scalars) -> np.dtype:
    """torch.result_type of dimensioned tensors, 0-d tensors and Python scalars (weakest to strongest:
    scalars, then 0-d tensors, then dimensioned tensors; a weaker operand only matters when its category
    is higher)."""
    dim = _promote_all(tensor_dtypes_dim)
    zero = _promote_all(tensor_dtypes_zero)
    wrapped = _promote_all([scalar_dtype(s) for s in scalars])
    return _combine(dim, _combine(zero, wrapped))


def _promote_all(dtypes):
    out = None
    for d in dtypes:
        out = d if out is None else promote_types(out, d)
    return out


def _combine(higher, lower):
    if higher is None:
        return lower
    if lower is None:
        return higher
    if _CATEGORY[lower.kind] > _CATEGORY[higher.kind]:
        return promote_types(higher, lower)
    return higher
