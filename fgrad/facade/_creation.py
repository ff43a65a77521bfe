"""Tensor creation: tensor, as_tensor, from_numpy, zeros/ones/full/empty(_like), arange, linspace, eye.

Random tensors are fgrad.facade._sampling's."""
from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from fgrad.facade import _dtypes
from fgrad.facade._tensor import Tensor, legacy_data, make


def _shape(size) -> tuple:
    """zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(torch.Size([2, 3])) all mean (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    shape = tuple(int(d) for d in size)
    for d in shape:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: [{', '.join(map(str, shape))}]")
    return shape


def _finish(array, requires_grad):
    t = make(array)
    if requires_grad:
        t._set_requires_grad(True, "Only Tensors of floating point and complex dtype can require gradients")
    return t


def _dtype_or(dtype, default) -> np.dtype:
    return default if dtype is None else _dtypes.to_numpy(dtype)


def _python_data(data, dtype=None):
    """Nested Python data (with 0-d tensors allowed inside) as a numpy array: of `dtype` when given, else
    with PyTorch's dtype inference."""
    def unwrap(x):
        if isinstance(x, Tensor):
            if x._data.ndim and isinstance(data, (list, tuple)):
                return [unwrap(v) for v in x._data.tolist()]
            return x._data.item() if x._data.ndim == 0 else x._data.tolist()
        if isinstance(x, (list, tuple, range)):     # PyTorch reads any sequence, ranges too
            return [unwrap(v) for v in x]
        if isinstance(x, np.ndarray):
            return x.tolist()
        return x
    values = unwrap(data)
    _check_numbers(values)
    try:
        array = np.array(values)
    except ValueError:
        raise ValueError(_ragged_message(values)) from None
    if array.dtype == object:
        raise ValueError(_ragged_message(values))
    if dtype is not None:
        return np.array(values, dtype=dtype)
    if array.dtype.kind == "f":
        array = array.astype(_dtypes.default_float_numpy())
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    elif array.dtype.kind == "c":
        raise TypeError("fgrad tensors do not support complex numbers")
    elif array.dtype.kind not in "b":
        raise TypeError(f"Could not infer dtype of {type(values).__name__}")
    return array


def _check_numbers(values):
    """PyTorch's error for data that holds something other than numbers (None, a string, an object), with
    where it is and what tensor() takes."""
    stack = [(values, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((v, where + (i,)) for i, v in reversed(list(enumerate(item))))
        elif not isinstance(item, (bool, int, float, complex, np.number, np.bool_)):
            at = f" at index {list(where)}" if where else ""
            message = (f"Could not infer dtype of {type(item).__name__}: tensor() takes numbers, bools, (nested) "
                       f"lists or tuples of them, numpy arrays or tensors, but got {item!r}{at}. Pass numbers "
                       "(float('nan') for a missing value)")
            raise (TypeError if isinstance(item, (str, bytes)) else RuntimeError)(message)


def _ragged_message(values) -> str:
    def walk(x, dim):
        if not isinstance(x, list) or not x:
            return None
        lengths = [len(v) if isinstance(v, list) else None for v in x]
        first = lengths[0]
        for v, n in zip(x, lengths):
            if n != first:
                return f"expected sequence of length {first} at dim {dim + 1} (got {n})"
        for v in x:
            found = walk(v, dim + 1)
            if found:
                return found
        return None
    return walk(values, 0) or "could not build a tensor from the given data"


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of `data` (numbers, nested lists, numpy arrays, tensors).

    Python floats become float32 (the default dtype), ints int64, bools bool; numpy arrays keep their dtype.

    >>> import fgrad as torch
    >>> torch.tensor([1.0, 2.0])
    tensor([1., 2.])
    """
    _check_device(device)
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() or "
                      "sourceTensor.clone().detach().requires_grad_(True), rather than "
                      "torch.tensor(sourceTensor).", UserWarning, stacklevel=2)
        array = np.array(data._data, copy=True)
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data, copy=True)
        if array.dtype.kind in "iu" and array.dtype not in (np.int32, np.int64):
            array = array.astype(np.int64)
        _dtypes.from_numpy(array.dtype)
    else:
        array = _python_data(data, None if dtype is None else _dtypes.to_numpy(dtype))
    if dtype is not None:
        array = array.astype(_dtypes.to_numpy(dtype), copy=False)
    return _finish(np.asarray(array, order="C"), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing memory with a numpy array (or returning a tensor) when no conversion is needed."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray):
        target = data.dtype if dtype is None else _dtypes.to_numpy(dtype)
        _dtypes.from_numpy(target)
        return make(data if data.dtype == target else data.astype(target))
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing `ndarray`'s memory."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    try:
        _dtypes.from_numpy(ndarray.dtype)
    except TypeError:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype.name}. The only supported types are: "
                        "float64, float32, int64, int32, and bool.") from None
    return make(ndarray)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def _check_device(device):
    if device is not None:
        from fgrad.facade._tensor import device as device_cls
        device_cls(device)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    _check_device(device)
    return _finish(np.zeros(_shape(size), _dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None):
    _check_device(device)
    return _finish(np.ones(_shape(size), _dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


empty = zeros


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value` (its dtype inferred from the value, as PyTorch's)."""
    _check_device(device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    default = _dtypes.scalar_dtype(fill_value)
    return _finish(np.full(_shape((size,)), fill_value, _dtype_or(dtype, default)), requires_grad)


def _like(input, dtype):
    return input._data.dtype if dtype is None else _dtypes.to_numpy(dtype)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.zeros(input._data.shape, _like(input, dtype)), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.ones(input._data.shape, _like(input, dtype)), requires_grad)


empty_like = zeros_like


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.full(input._data.shape, fill_value, _like(input, dtype)), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(int(n), None if m is None else int(m), dtype=_dtype_or(dtype, _dtypes.default_float_numpy())),
                   requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values start, start + step, ... below end: int64 for int arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = values
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    is_int = builtins.all(isinstance(v, (int, np.integer)) for v in values)
    default = np.dtype(np.int64) if is_int else _dtypes.default_float_numpy()
    target = _dtype_or(dtype, default)
    n = builtins.max(0, math.ceil((end - start) / step))
    if is_int:
        array = (start + step * np.arange(n, dtype=np.int64)).astype(target)
    else:
        array = (start + step * np.arange(n, dtype=np.float64)).astype(target)
    return _finish(array, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """`steps` evenly spaced values from start to end, computed as PyTorch's CPU kernel (the first half
    from start, the second from end) so float32 results are the same."""
    target = _dtype_or(dtype, _dtypes.default_float_numpy())
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    compute = target if target.kind == "f" else np.dtype(np.float64)
    s, e = compute.type(start), compute.type(end)
    if steps == 1:
        return _finish(np.array([s], dtype=target), requires_grad)
    step = (e - s) / compute.type(builtins.max(steps - 1, 1))
    index = np.arange(steps)
    halfway = steps // 2
    values = np.where(index < halfway, s + step * index.astype(compute),
                      e - step * (steps - index - 1).astype(compute))
    return _finish(values.astype(target), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, requires_grad=False):
    lin = linspace(start, end, steps, dtype=_dtypes.float64)._data
    return _finish(np.power(base, lin).astype(_dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


# ---- legacy typed constructors: torch.FloatTensor, torch.LongTensor, ... ---------------------------------------

class LegacyTensorType(type):
    """The type of torch.FloatTensor and its siblings: calling one builds a Tensor of its dtype (as the legacy
    `Tensor(...)` constructor: sizes give zeros, a sequence gives data); `isinstance(t, torch.FloatTensor)`
    asks whether `t` is a float32 Tensor, as in PyTorch (the result's type is Tensor itself).

    >>> import fgrad as torch
    >>> t = torch.LongTensor([1, 2])
    >>> t, isinstance(t, torch.LongTensor), isinstance(t, torch.FloatTensor)
    (tensor([1, 2]), True, False)
    """

    def __call__(cls, *args, device=None):
        _check_device(device)
        data = legacy_data(args, cls.dtype.numpy, cls.__name__)
        return data if isinstance(data, Tensor) else make(data)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype.numpy

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _legacy_type(dtype):
    return LegacyTensorType(dtype._legacy, (), {"dtype": dtype, "__module__": "torch"})


FloatTensor = _legacy_type(_dtypes.float32)
DoubleTensor = _legacy_type(_dtypes.float64)
IntTensor = _legacy_type(_dtypes.int32)
LongTensor = _legacy_type(_dtypes.int64)
BoolTensor = _legacy_type(_dtypes.bool_)
ByteTensor = _legacy_type(_dtypes.uint8)
