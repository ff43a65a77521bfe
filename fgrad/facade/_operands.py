"""The operand helpers every family of facade ops shares: Tensor / scalar / array operands, PyTorch's type
promotion (torch.result_type), its broadcasting and dim errors, and `out=` arguments."""
from __future__ import annotations

import builtins
import functools
import inspect

import numpy as np

from fgrad import ops
from fgrad.ir.tracing import Tracer
from fgrad.facade import _dtypes
from fgrad.facade._creation import tensor
from fgrad.facade._tensor import Tensor, _dim, facade_op_on_traced_value

_f = _dtypes.default_float_numpy


def _cast(x, dtype):
    return ops.convert_element_type(x, dtype)


def _dtype_name(np_dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int32": "Int", "int64": "Long", "bool": "Bool"}[
        np.dtype(np_dtype).name]


# ---- operands and promotion -------------------------------------------------------------------------

_SCALARS = (int, float, bool)


def _is_scalar(x) -> bool:
    return isinstance(x, _SCALARS) or isinstance(x, np.generic)


def as_tensor_arg(x) -> Tensor:
    """A Tensor operand from a Tensor, a numpy array or nested lists."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Tracer):
        raise facade_op_on_traced_value(x)
    return tensor(x)


def _scalar_result(dtype: np.dtype, value) -> np.dtype:
    """torch.result_type(tensor, python scalar): the scalar only matters when its category is higher."""
    kind = dtype.kind
    if isinstance(value, (bool, np.bool_)):
        return dtype
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64) if kind == "b" else dtype
    return dtype if kind == "f" else _f()


def binary_operands(a, b):
    """(a, b, dtype) for a binary elementwise op: Python scalars become 0-d arrays of the result dtype."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        da, db = a._data.dtype, b._data.dtype
        if da == db:
            return a, b, da
        return a, b, result_type(a, b)
    if isinstance(a, Tensor):
        if _is_scalar(b):
            b = b.item() if isinstance(b, np.generic) else b
            dtype = _scalar_result(a._data.dtype, b)
            return a, np.asarray(b, dtype), dtype
        return binary_operands(a, as_tensor_arg(b))
    if isinstance(b, Tensor):
        b2, a2, dtype = binary_operands(b, a)
        return a2, b2, dtype
    return binary_operands(as_tensor_arg(a), b)


def result_type(*operands) -> np.dtype:
    """torch.result_type of Tensors and Python scalars."""
    dim, zero, scalars = [], [], []
    for x in operands:
        if isinstance(x, Tensor):
            (dim if x._data.ndim else zero).append(x._data.dtype)
        elif isinstance(x, np.ndarray):
            (dim if x.ndim else zero).append(x.dtype)
        else:
            scalars.append(x)
    return _dtypes.result_type(dim, zero, scalars)


def _check_broadcast(*shapes):
    """PyTorch's broadcasting error (runs while an op is traced, so once per signature)."""
    ndim = builtins.max(len(s) for s in shapes)
    a, b = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
    for axis in range(-1, -ndim - 1, -1):
        da = a[axis] if len(a) >= -axis else 1
        db = b[axis] if len(b) >= -axis else 1
        if da != db and da != 1 and db != 1:
            raise RuntimeError(f"The size of tensor a ({da}) must match the size of tensor b ({db}) at "
                               f"non-singleton dimension {ndim + axis}")
    for s in shapes[2:]:
        _check_broadcast(a, s)


def _axes(dim, ndim: int) -> tuple:
    """dim (int, tuple or list) as sorted non-negative axes, with PyTorch's errors."""
    if isinstance(dim, (list, tuple)):
        axes = tuple(_dim(d, ndim) for d in dim)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"dim {axes[0]} appears multiple times in the list of dims")
        return tuple(sorted(axes))
    return (_dim(dim, ndim),)


# numpy's names for PyTorch's arguments, which PyTorch's argument parser accepts for every op taking them
NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim"}


def numpy_names(fn):
    """`fn` also taking numpy's names for its arguments (axis= for dim=, keepdims= for keepdim=), as PyTorch's
    ops do; giving both names is PyTorch's TypeError. The one place the facade accepts these aliases: the
    op families decorate every function with a `dim` or `keepdim` parameter (a test checks).

    >>> import fgrad as torch
    >>> torch.ones(2, 3).sum(axis=1, keepdims=True).shape
    torch.Size([2, 1])
    """
    params = list(inspect.signature(fn).parameters)
    # alias -> (argument name, its position when passed positionally)
    aliases = {alias: (name, params.index(name)) for alias, name in NUMPY_NAMES.items() if name in params}
    if not aliases:
        raise TypeError(f"{fn.__name__} has no dim or keepdim parameter for numpy's names to stand for")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            for alias, (name, position) in aliases.items():
                if alias in kwargs:
                    if name in kwargs or len(args) > position:
                        raise TypeError(f"{fn.__name__}() got an unexpected keyword argument '{alias}' ({alias} is "
                                        f"numpy's name for {name}: give one of them)")
                    kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    wrapper.numpy_names = tuple(aliases)
    return wrapper


def _axes_or_none(dim, input):
    return None if dim is None else _axes(dim, input._data.ndim)


def _out(result, out):
    """`result`, or written into the `out=` tensor."""
    if out is None:
        return result
    out.copy_(result)
    return out
