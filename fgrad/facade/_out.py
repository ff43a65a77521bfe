"""The `out=` argument of torch's functions: the result written into a given tensor, which is returned.

    >>> import fgrad as torch
    >>> y = torch.empty(2, 2)
    >>> torch.matmul(torch.ones(2, 3), torch.ones(3, 2), out=y) is y
    True

PyTorch's rules, checked in this order: no autograd through `out=` (an argument or `out` requiring grad
with grad mode on raises); the result's dtype must cast to out's (no float into an integer tensor; index
results need out's dtype exactly); out of another shape is resized, with PyTorch's deprecation warning
when it had elements. The write is an in-place update of `out` (its version counter moves), also when
`out` is a view (the base sees the values).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from fgrad.facade._dtypes import c_type_name, to_numpy
from fgrad.facade._grad_mode import no_grad, state as _grad_state
from fgrad.facade._inplace import _can_cast, copy_
from fgrad.facade._operands import _dtype_name
from fgrad.facade._tensor import Tensor

__all__ = ["accepts_out", "OUT_FUNCTIONS", "INDEX_FUNCTIONS", "EXACT_DTYPE_FUNCTIONS"]

# The torch functions (of those the facade has) that take out=; creation functions are left out.
OUT_FUNCTIONS = (
    "abs", "absolute", "acos", "acosh", "add", "addcdiv", "addcmul", "addmm", "amax", "amin", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "bmm", "cat",
    "ceil", "clamp", "clip", "concat", "concatenate", "cos", "cosh", "cumprod", "cumsum", "div", "divide", "dot",
    "eq", "exp", "exp2", "expm1", "floor", "floor_divide", "fmod", "frac", "ge", "greater", "greater_equal", "gt",
    "hstack", "le", "lerp", "less", "less_equal", "log", "log10", "log1p", "log2", "logaddexp", "logical_and",
    "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "matmul", "maximum", "mean", "minimum", "mm",
    "mul", "multiply", "mv", "ne", "neg", "negative", "not_equal", "outer", "pow", "prod", "reciprocal",
    "remainder", "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "stack", "sub",
    "subtract", "sum", "tan", "tanh", "true_divide", "trunc", "vstack", "where", "xlogy", "ger", "inner")
INDEX_FUNCTIONS = ("argmax", "argmin")           # int64 results: out must be int64, checked first
# out's dtype must be the result's
EXACT_DTYPE_FUNCTIONS = ("matmul", "mm", "bmm", "mv", "dot", "addmm", "outer", "ger", "inner")

RESIZE_WARNING = ("An output with one or more elements was resized since it had shape [{old}], which does not match "
                  "the required output shape [{new}]. This behavior is deprecated, and in a future PyTorch release "
                  "outputs will not be resized unless they have zero elements. You can explicitly reuse an out "
                  "tensor t by resizing it, inplace, to zero elements with t.resize_(0).")


def accepts_out(fn, name: str):
    """`fn` with PyTorch's `out=` keyword. The dtype rule is the op's kind's: elementwise results cast to
    out's dtype; matrix products want it exactly; index results (argmax, argmin) want int64, checked first."""
    exact_dtype = name in EXACT_DTYPE_FUNCTIONS or name in INDEX_FUNCTIONS

    @functools.wraps(fn)
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        return _write_out(name, fn, args, kwargs, out, exact_dtype)
    return with_out


def _write_out(name, fn, args, kwargs, out, exact_dtype):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if name in INDEX_FUNCTIONS:
        _check_dtype(np.int64, out, exact=True)
    if _grad_state.enabled and _any_requires_grad((out, *args, *kwargs.values())):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    with no_grad():
        result = fn(*args, **kwargs)
        if not isinstance(result, Tensor):
            raise TypeError(f"{name}(out=...) is supported for single-tensor results only")
        _check_dtype(result.dtype, out, exact_dtype)
        if tuple(out.shape) != tuple(result.shape):
            _resize(out, tuple(result.shape))
        copy_(out, result)
    return out


def _any_requires_grad(values) -> bool:
    for v in values:
        if isinstance(v, Tensor) and v.requires_grad:
            return True
        if isinstance(v, (list, tuple)) and _any_requires_grad(v):
            return True
    return False


def _check_dtype(dtype, out, exact):
    src = np.dtype(dtype) if isinstance(dtype, (type, np.dtype)) else np.dtype(to_numpy(dtype))
    dst = out._data.dtype
    if exact and src != dst:
        raise RuntimeError(f"Expected out tensor to have dtype {c_type_name(src)}, but got {c_type_name(dst)} "
                           "instead")
    if src != dst and not _can_cast(src, dst):
        raise RuntimeError(f"result type {_dtype_name(src)} can't be cast to the desired output type "
                           f"{_dtype_name(dst)}")


def _resize(out: Tensor, shape: tuple) -> None:
    if out._base is not None:
        raise RuntimeError(f"out= is a view of another tensor with shape {list(out.shape)}, and the result has shape "
                           f"{list(shape)}: a view cannot be resized; pass a tensor of the result's shape")
    if out._data.size:
        warnings.warn(RESIZE_WARNING.format(old=", ".join(map(str, out.shape)), new=", ".join(map(str, shape))),
                      UserWarning, stacklevel=4)
    out._data = np.zeros(shape, out._data.dtype)
    out._vc[0] += 1
