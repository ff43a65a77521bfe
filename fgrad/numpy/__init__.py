"""The NumPy-compatible front end: `import fgrad.numpy as fnp`.

The functions take numpy's names and signatures and bind fgrad ops, so one function body serves both
tracing and plain evaluation: inside a trace they record equations; on concrete values (numpy arrays,
Python scalars) the ops run their numpy implementations at once, so `fnp.sin(np.ones(3))` is a numpy array.

    >>> import numpy as np, fgrad, fgrad.numpy as fnp
    >>> fnp.sum(fnp.sin(np.zeros(3)) + 1.0)
    np.float64(3.0)

Semantics follow numpy (broadcasting, dtype promotion, creation functions default to float64), except:
- Python scalars are weak, as in JAX: a float32 array times 2.0 stays float32 (`fnp.array` of traced values
  and Python scalars promotes the same way).
- Results are new arrays the caller owns: where numpy returns an argument or a view of one (`reshape`,
  `transpose`, `broadcast_to`, `asarray` of an array, `array(copy=False)`), fgrad.numpy returns a writable copy,
  as JAX's independent arrays (fgrad.ir.ownership; results that are already new arrays are not copied).
- Results are `fnp.Array`s: numpy arrays (a subclass, made by a zero-copy view) with JAX's functional updates
  `x.at[idx].set(v)` / `.add` / `.multiply` (`.mul`) / `.divide` / `.power` / `.min` / `.max` / `.get()`, which
  return updated copies (`.set` keeps the last of repeated indices, the others apply every repeat as
  np.add.at does). Traced values have the same `.at` and are immutable; concrete Arrays stay mutable, as
  numpy's. `fnp.asarray(a)` makes an Array of a numpy array.
- Indexing with a traced boolean mask is an error: the result's shape would depend on values. Slice bounds
  are static; index with traced integer arrays instead (`x[i + fnp.arange(3)]`). A numpy array indexed by a
  traced value (`W[i]`) cannot dispatch here; write `fnp.take(W, i, axis=0)`.
- `round`, `floor`, `ceil` and `trunc` have zero derivative (a stop_gradient around an exact computation
  through an int64 round trip). Float `floor_divide`, `remainder` and `divmod` are numpy's fmod-based
  definitions, bit for bit (1.0 // 0.1 is 9.0, inf // 1.5 is nan, 1.0 % inf is 1.0), eager and jitted.
- `power` by a concrete scalar 0.5 is `sqrt`, as numpy's (nan at -inf, -0.0 at -0.0); other powers are C's pow.
- `power` of integer arrays by an integer array computes in float64: exact while results stay below 2**53.

numpy functions applied to traced values dispatch here through `__array_ufunc__` / `__array_function__`
(`np.sin(x)`, `np.sum(x)`, `ndarray + x`), or raise a TypeError naming the function: never a silent constant.
"""
from __future__ import annotations

# One module per family; `_arguments` holds what they share. Every public name is imported here, then
# `_ownership` wraps the functions (eager results the caller owns) and `_interop` installs the methods of
# traced arrays and numpy's dispatch to this namespace.
from fgrad.numpy import _interop, _ownership
from fgrad.numpy._arguments import asarray
from fgrad.numpy._array import Array
from fgrad.numpy._constants import bool_, e, float32, float64, inf, int32, int64, nan, newaxis, pi
from fgrad.numpy._creation import (allclose, arange, array, diag, eye, full, full_like, identity, linspace, ones,
                                   ones_like, zeros, zeros_like)
from fgrad.numpy._elementwise import (abs, absolute, add, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,
                                      arctanh, around, bitwise_and, bitwise_or, bitwise_xor, ceil, clip, copy, cos,
                                      cosh, divide, divmod, equal, exp, exp2, expm1, floor, floor_divide, fmod,
                                      greater, greater_equal, hypot, invert, isfinite, isinf, isnan, less,
                                      less_equal, log, log1p, log2, log10, logaddexp, logical_and, logical_not,
                                      logical_or, logical_xor, maximum, minimum, mod, multiply, negative, nonzero,
                                      not_equal, positive, power, reciprocal, remainder, round, sign, sin, sinh,
                                      sqrt, square, subtract, tan, tanh, true_divide, trunc, where)
from fgrad.numpy._einsum import einsum
from fgrad.numpy._indexing import take, take_along_axis
from fgrad.numpy._linalg import dot, linalg, matmul, outer, tensordot, vdot
from fgrad.numpy._reductions import (all, amax, amin, any, argmax, argmin, argsort, cumprod, cumsum, max, mean,
                                     min, prod, sort, std, sum, var)
from fgrad.numpy._shapes import (broadcast_to, concat, concatenate, diagonal, diff, expand_dims, flip, hstack,
                                 moveaxis, ndim, ravel, reshape, shape, size, squeeze, stack, swapaxes, trace,
                                 transpose, vstack)

__all__ = [
    # the array type fgrad returns (a numpy ndarray with JAX's `.at` updates)
    "Array",
    # constants and dtypes
    "pi", "e", "inf", "nan", "newaxis", "float32", "float64", "int32", "int64", "bool_",
    # elementwise
    "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "abs", "absolute", "sign", "negative",
    "positive", "square", "power", "add", "subtract", "multiply", "divide", "true_divide", "floor_divide",
    "remainder", "mod", "fmod", "divmod", "maximum", "minimum", "clip", "where", "nonzero", "logaddexp", "copy",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "invert",
    "isnan", "isinf", "isfinite", "round", "around", "floor", "ceil", "trunc",
    "reciprocal", "exp2", "log2", "log10", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "hypot",
    # reductions, scans and sorts
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "prod", "all", "any", "cumsum", "cumprod", "argmax",
    "argmin", "sort", "argsort",
    # shapes and joining
    "shape", "ndim", "size", "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
    "broadcast_to", "flip", "diagonal", "diag", "trace", "diff",
    "concatenate", "concat", "stack", "vstack", "hstack",
    # creation
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye", "identity",
    "array", "asarray", "allclose",
    # indexing and products
    "take", "take_along_axis", "einsum", "matmul", "dot", "vdot", "outer", "tensordot", "linalg",
]

_ownership.install(globals())
_interop.install(globals())
