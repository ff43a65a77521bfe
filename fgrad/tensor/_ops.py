"""The facade's ops: PyTorch's functions as compositions of fgrad ops, each one node named as PyTorch's.

Every op here is a `FacadeOp(name, fn, node_name)` plus a wrapper that does what PyTorch does before its
kernel runs: argument checking with PyTorch's messages, type promotion (torch.result_type), dims
normalized. `fn` receives the arrays (tracers while it is traced, once per input signature) followed by
the static arguments, and may only call fgrad.ops; its primitives' VJP rules are the op's backward.
Kink conventions follow PyTorch where they differ from the primitives' (JAX's): abs and relu have
derivative 0 at 0, clamp passes the gradient at its bounds.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.tensor import _dtypes
from fgrad.tensor._grad_mode import state as _grad_state
from fgrad.tensor._kernels import FacadeOp
from fgrad.tensor._tensor import Tensor, _dim, apply, make

_f = _dtypes.default_float_numpy


def _cast(x, dtype):
    return ops.convert_element_type(x, dtype)


def _as_float(x, dtype):
    """x cast to the float dtype an op computes in."""
    return _cast(x, dtype)


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
    from fgrad.tensor._creation import tensor
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


def _binary_fn(op):
    def fn(x, y, dtype):
        _check_broadcast(x.shape, y.shape)
        return op(_cast(x, dtype), _cast(y, dtype))
    return fn


def _binary(facade_op, a, b):
    a, b, dtype = binary_operands(a, b)
    return apply(facade_op, (a, b), (dtype,))


# ---- arithmetic ---------------------------------------------------------------------------------------

_ADD = FacadeOp("add", _binary_fn(ops.add), "AddBackward0")
_SUB = FacadeOp("sub", _binary_fn(ops.sub), "SubBackward0")
_MUL = FacadeOp("mul", _binary_fn(ops.mul), "MulBackward0")


def _scaled(op):
    def fn(x, y, dtype, alpha):
        _check_broadcast(x.shape, y.shape)
        return op(_cast(x, dtype), ops.mul(_cast(y, dtype), alpha))
    return fn


_ADD_SCALED = FacadeOp("add", _scaled(ops.add), "AddBackward0")
_SUB_SCALED = FacadeOp("sub", _scaled(ops.sub), "SubBackward0")


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other (AddBackward0)."""
    if alpha != 1:
        a, b, dtype = binary_operands(input, other)
        return _out(apply(_ADD_SCALED, (a, b), (dtype, alpha)), out)
    return _out(_binary(_ADD, input, other), out)


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other (SubBackward0)."""
    if isinstance(input, Tensor) and input._data.dtype == np.bool_ and _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                           "`^` or `logical_xor()` operator instead.")
    if alpha != 1:
        a, b, dtype = binary_operands(input, other)
        return _out(apply(_SUB_SCALED, (a, b), (dtype, alpha)), out)
    return _out(_binary(_SUB, input, other), out)


subtract = sub


def _is_bool(x) -> bool:
    return isinstance(x, (bool, np.bool_)) or (isinstance(x, Tensor) and x._data.dtype == np.bool_)


def mul(input, other, *, out=None):
    """input * other (MulBackward0)."""
    return _out(_binary(_MUL, input, other), out)


multiply = mul


def _div_fn(x, y, dtype):
    _check_broadcast(x.shape, y.shape)
    return ops.div(_cast(x, dtype), _cast(y, dtype))


_DIV = FacadeOp("div", _div_fn, "DivBackward0")


def div(input, other, *, rounding_mode=None, out=None):
    """input / other: true division (ints divide in the default float dtype) (DivBackward0)."""
    if rounding_mode is not None:
        return _out(_rounded_div(input, other, rounding_mode), out)
    a, b, dtype = binary_operands(input, other)
    if dtype.kind != "f":
        dtype = _f()
    return _out(apply(_DIV, (a, b), (dtype,)), out)


divide = true_divide = div


def _rounded_div(a, b, mode):
    a, b, dtype = binary_operands(a, b)
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "floor":
            value = np.floor_divide(x.astype(dtype), y.astype(dtype))
        elif mode == "trunc":
            value = np.trunc(np.true_divide(x, y)).astype(dtype) if dtype.kind == "f" else \
                (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))).astype(dtype)
        else:
            raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                             f"'{mode}'")
    return make(np.asarray(value, dtype))


def floor_divide(input, other):
    """input // other, rounded toward -inf (no gradient, as PyTorch's)."""
    return _rounded_div(input, other, "floor")


def remainder(input, other):
    """Python's modulo (the sign of the divisor)."""
    a, b, dtype = binary_operands(input, other)
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    with np.errstate(divide="ignore", invalid="ignore"):
        return make(np.asarray(np.mod(x.astype(dtype), y.astype(dtype)), dtype))


fmod = remainder


def _integer_power(exponent) -> bool:
    return isinstance(exponent, (int, np.integer)) or (isinstance(exponent, float) and exponent.is_integer()
                                                        and builtins.abs(exponent) < 2 ** 31)


_POW_INT = FacadeOp("pow", lambda x, dtype, y: ops.integer_pow(_cast(x, dtype), y=y), "PowBackward0")
_POW_SCALAR = FacadeOp("pow", lambda x, dtype, y: ops.pow(_cast(x, dtype), y), "PowBackward0")
_POW = FacadeOp("pow", _binary_fn(ops.pow), "PowBackward1")
_RPOW = FacadeOp("pow", lambda x, dtype, base: ops.pow(base, _cast(x, dtype)), "PowBackward2")


def pow(input, exponent, *, out=None):
    """input ** exponent: PowBackward0 for a scalar exponent, PowBackward1 for a tensor, PowBackward2 for a
    scalar base."""
    if not isinstance(input, Tensor):
        if not _is_scalar(input):
            input = as_tensor_arg(input)
        else:
            exponent = as_tensor_arg(exponent)
            dtype = _scalar_result(exponent._data.dtype, input)
            return _out(apply(_RPOW, (exponent,), (dtype, float(input) if dtype.kind == "f" else int(input))), out)
    if _is_scalar(exponent):
        exponent = exponent.item() if isinstance(exponent, np.generic) else exponent
        dtype = _scalar_result(input._data.dtype, exponent)
        if _integer_power(exponent):
            if dtype.kind in "iub" and exponent < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            return _out(apply(_POW_INT, (input,), (dtype, int(exponent))), out)
        return _out(apply(_POW_SCALAR, (input,), (dtype, float(exponent))), out)
    a, b, dtype = binary_operands(input, exponent)
    if dtype.kind != "f":
        raise RuntimeError("fgrad's pow of integer tensors needs a scalar exponent (PyTorch computes "
                           "integer powers elementwise); cast to float first")
    return _out(apply(_POW, (a, b), (dtype,)), out)


def _rsub_fn(x, dtype, value):
    return ops.sub(value, _cast(x, dtype))


_RSUB = FacadeOp("rsub", _rsub_fn, "RsubBackward1")


def rsub(input, other, alpha=1):
    """other - input (RsubBackward1 for a scalar `other`)."""
    if _is_scalar(other):
        other = other.item() if isinstance(other, np.generic) else other
        dtype = _scalar_result(input._data.dtype, other)
        value = np.asarray(other * alpha, dtype).item()
        if alpha != 1:
            return apply(_RSUB, (mul(input, alpha),), (dtype, value / alpha))
        return apply(_RSUB, (input,), (dtype, value))
    return sub(other, input, alpha=alpha)


def _out(result, out):
    if out is None:
        return result
    out.copy_(result)
    return out


# ---- unary elementwise ---------------------------------------------------------------------------------

def _float_unary(name, node, op):
    """A float op (ints compute in the default float dtype, as PyTorch's)."""
    facade_op = FacadeOp(name, lambda x, dtype: op(_cast(x, dtype)), node)

    def fn(input, *, out=None):
        dtype = input._data.dtype
        return _out(apply(facade_op, (input,), (dtype if dtype.kind == "f" else _f(),)), out)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} ({node})."
    return fn


exp = _float_unary("exp", "ExpBackward0", ops.exp)
log = _float_unary("log", "LogBackward0", ops.log)
log1p = _float_unary("log1p", "Log1PBackward0", ops.log1p)
expm1 = _float_unary("expm1", "Expm1Backward0", ops.expm1)
sqrt = _float_unary("sqrt", "SqrtBackward0", ops.sqrt)
sin = _float_unary("sin", "SinBackward0", ops.sin)
cos = _float_unary("cos", "CosBackward0", ops.cos)
tan = _float_unary("tan", "TanBackward0", ops.tan)
tanh = _float_unary("tanh", "TanhBackward0", ops.tanh)
sigmoid = _float_unary("sigmoid", "SigmoidBackward0", ops.logistic)
rsqrt = _float_unary("rsqrt", "RsqrtBackward0", lambda x: ops.pow(x, -0.5))
reciprocal = _float_unary("reciprocal", "ReciprocalBackward0", lambda x: ops.div(1.0, x))
log2 = _float_unary("log2", "Log2Backward0", lambda x: ops.div(ops.log(x), math.log(2.0)))
log10 = _float_unary("log10", "Log10Backward0", lambda x: ops.div(ops.log(x), math.log(10.0)))
exp2 = _float_unary("exp2", "Exp2Backward0", lambda x: ops.pow(2.0, x))


def _same_dtype_unary(name, node, op):
    facade_op = FacadeOp(name, op, node)

    def fn(input, *, out=None):
        return _out(apply(facade_op, (input,)), out)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} ({node})."
    return fn


def _neg_fn(x):
    return ops.neg(x)


neg = _same_dtype_unary("neg", "NegBackward0", _neg_fn)
negative = neg

# d|x|/dx is 0 at 0 (PyTorch's sign(x) * grad); the primitive's rule takes +1 there, so 0 is selected apart.
abs = _same_dtype_unary("abs", "AbsBackward0", lambda x: ops.select(ops.ne(x, 0), ops.abs(x), 0))
absolute = abs
sign = _same_dtype_unary("sign", "SignBackward0", ops.sign)
# relu passes the gradient only where x > 0 (PyTorch's threshold_backward; 0 at 0).
relu = _same_dtype_unary("relu", "ReluBackward0", lambda x: ops.select(ops.gt(x, 0), x, 0))
square = _same_dtype_unary("square", "PowBackward0", lambda x: ops.integer_pow(x, y=2))


def _check_neg_bool(input):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")


def _clamp_fn(x, dtype, lo, hi):
    # The gradient passes where lo <= x <= hi, bounds included (PyTorch's clamp_backward).
    x = _cast(x, dtype)
    if lo is not None:
        x = ops.select(ops.lt(x, lo), lo, x)
    if hi is not None:
        x = ops.select(ops.gt(x, hi), hi, x)
    return x


_CLAMP = FacadeOp("clamp", _clamp_fn, "ClampBackward1")


def _clamp_tensors_fn(x, lo, hi, dtype):
    x = _cast(x, dtype)
    x = ops.select(ops.lt(x, _cast(lo, dtype)), _cast(lo, dtype), x)
    return ops.select(ops.gt(x, _cast(hi, dtype)), _cast(hi, dtype), x)


_CLAMP_TENSORS = FacadeOp("clamp", _clamp_tensors_fn, "ClampBackward0")


def clamp(input, min=None, max=None, *, out=None):
    """input limited to [min, max] (ClampBackward1 for scalar bounds, ClampBackward0 for tensor bounds)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = min if isinstance(min, Tensor) else full_like(input, -math.inf if min is None else min)
        hi = max if isinstance(max, Tensor) else full_like(input, math.inf if max is None else max)
        dtype = result_type(input, lo, hi)
        return _out(apply(_CLAMP_TENSORS, (input, lo, hi), (dtype,)), out)
    dtype = input._data.dtype
    for bound in (min, max):
        if bound is not None:
            dtype = _scalar_result(dtype, bound)
    lo = None if min is None else np.asarray(min, dtype).item()
    hi = None if max is None else np.asarray(max, dtype).item()
    return _out(apply(_CLAMP, (input,), (dtype, lo, hi)), out)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def _minmax_fn(op):
    def fn(x, y, dtype):
        _check_broadcast(x.shape, y.shape)
        return op(_cast(x, dtype), _cast(y, dtype))
    return fn


_MAXIMUM = FacadeOp("maximum", _minmax_fn(ops.maximum), "MaximumBackward0")
_MINIMUM = FacadeOp("minimum", _minmax_fn(ops.minimum), "MinimumBackward0")


def maximum(input, other, *, out=None):
    """Elementwise maximum; ties split the gradient (MaximumBackward0)."""
    return _out(_binary(_MAXIMUM, input, as_tensor_arg(other)), out)


def minimum(input, other, *, out=None):
    """Elementwise minimum; ties split the gradient (MinimumBackward0)."""
    return _out(_binary(_MINIMUM, input, as_tensor_arg(other)), out)


def _where_fn(cond, x, y, dtype):
    return ops.select(cond, _cast(x, dtype), _cast(y, dtype))


_WHERE = FacadeOp("where", _where_fn, "WhereBackward0", nondiff=(0,))


def where(condition, input=None, other=None):
    """input where condition, else other (WhereBackward0); with one argument, the indices of nonzeros."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition)
    if condition._data.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_dtype_name(condition._data.dtype)}")
    dtype = result_type(input, other)
    x = input if isinstance(input, Tensor) else np.asarray(input, dtype)
    y = other if isinstance(other, Tensor) else np.asarray(other, dtype)
    return apply(_WHERE, (condition, x, y), (dtype,))


def _masked_fill_fn(x, mask, value):
    return ops.select(mask, value, x)


_MASKED_FILL = FacadeOp("masked_fill", _masked_fill_fn, "MaskedFillBackward0", nondiff=(1,))


def masked_fill(input, mask, value):
    """input with `value` where mask is True (MaskedFillBackward0)."""
    if isinstance(value, Tensor):
        value = value.item()
    return apply(_MASKED_FILL, (input, mask), (np.asarray(value, input._data.dtype).item(),))


# ---- comparisons and logic: bool results, no gradient -------------------------------------------------

def _comparison(name, op):
    facade_op = FacadeOp(name, _binary_fn(op), "")

    def fn(input, other, *, out=None):
        return _out(_binary(facade_op, input, other), out)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} (a bool tensor)."
    return fn


eq = _comparison("eq", ops.eq)
ne = _comparison("ne", ops.ne)
lt = _comparison("lt", ops.lt)
le = _comparison("le", ops.le)
gt = _comparison("gt", ops.gt)
ge = _comparison("ge", ops.ge)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _numpy_result(fn, *tensors, dtype=None):
    value = np.asarray(fn(*[t._data if isinstance(t, Tensor) else t for t in tensors]))
    return make(value if dtype is None else value.astype(dtype))


def _logical(name, np_fn):
    def fn(input, other=None):
        if other is None:
            return _numpy_result(np_fn, input)
        return _numpy_result(np_fn, input, other)
    fn.__name__ = name
    return fn


logical_and = _logical("logical_and", np.logical_and)
logical_or = _logical("logical_or", np.logical_or)
logical_xor = _logical("logical_xor", np.logical_xor)
logical_not = _logical("logical_not", np.logical_not)


def _bitwise(np_fn):
    def fn(input, other):
        a = input._data if isinstance(input, Tensor) else input
        b = other._data if isinstance(other, Tensor) else other
        if np.asarray(a).dtype.kind == "f" or np.asarray(b).dtype.kind == "f":
            raise RuntimeError(f"\"{np_fn.__name__}_cpu\" not implemented for 'Float'")
        return make(np.asarray(np_fn(a, b)))
    return fn


bitwise_and = _bitwise(np.bitwise_and)
bitwise_or = _bitwise(np.bitwise_or)
bitwise_xor = _bitwise(np.bitwise_xor)


def bitwise_not(input):
    if input._data.dtype.kind == "f":
        raise RuntimeError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return make(np.asarray(np.invert(input._data)))


def isnan(input):
    return _numpy_result(np.isnan, input)


def isinf(input):
    return _numpy_result(np.isinf, input)


def isfinite(input):
    return _numpy_result(np.isfinite, input)


def _no_grad_float(np_fn):
    def fn(input):
        return make(np.asarray(np_fn(input._data)))
    return fn


floor = _no_grad_float(np.floor)
ceil = _no_grad_float(np.ceil)
trunc = _no_grad_float(np.trunc)
frac = _no_grad_float(lambda x: x - np.trunc(x))


def round(input, *, decimals=0):
    """Round half to even (no gradient)."""
    return make(np.asarray(np.round(input._data, decimals)))


def equal(input, other) -> bool:
    """True when both tensors have the same shape and values."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return make(np.isclose(input._data, as_tensor_arg(other)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def all(input, dim=None, keepdim=False):
    return _numpy_result(lambda x: np.all(x, axis=_axes_or_none(dim, input), keepdims=keepdim), input)


def any(input, dim=None, keepdim=False):
    return _numpy_result(lambda x: np.any(x, axis=_axes_or_none(dim, input), keepdims=keepdim), input)


def nonzero(input, *, as_tuple=False):
    idx = np.nonzero(input._data)
    if as_tuple:
        return tuple(make(i.astype(np.int64)) for i in idx)
    return make(np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), np.int64))


def count_nonzero(input, dim=None):
    return make(np.asarray(np.count_nonzero(input._data, axis=_axes_or_none(dim, input)), np.int64))


def _axes_or_none(dim, input):
    return None if dim is None else _axes(dim, input._data.ndim)


# ---- reductions -----------------------------------------------------------------------------------------

def _axes(dim, ndim: int) -> tuple:
    """dim (int, tuple or list) as sorted non-negative axes, with PyTorch's errors."""
    if isinstance(dim, (list, tuple)):
        axes = tuple(_dim(d, ndim) for d in dim)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"dim {axes[0]} appears multiple times in the list of dims")
        return tuple(sorted(axes))
    return (_dim(dim, ndim),)


def _keep(y, axes, keepdim):
    return ops.expand_dims(y, axes) if keepdim and axes else y


def _sum_fn(x, axes, keepdim, dtype):
    return _keep(ops.reduce_sum(_cast(x, dtype), axes), axes, keepdim)


_SUM_ALL = FacadeOp("sum", _sum_fn, "SumBackward0")
_SUM_DIM = FacadeOp("sum", _sum_fn, "SumBackward1")


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum over `dim` (all elements when None): SumBackward0 / SumBackward1. Ints and bools sum in int64."""
    if dtype is not None:
        out_dtype = _dtypes.to_numpy(dtype)
    else:
        out_dtype = input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64)
    ndim = input._data.ndim
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return apply(_SUM_ALL, (input,), (tuple(range(ndim)), False, out_dtype))
    return apply(_SUM_DIM, (input,), (_axes(dim, ndim), bool(keepdim), out_dtype))


def _mean_fn(x, axes, keepdim, dtype):
    x = _cast(x, dtype)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return _keep(ops.div(ops.reduce_sum(x, axes), count), axes, keepdim)


_MEAN_ALL = FacadeOp("mean", _mean_fn, "MeanBackward0")
_MEAN_DIM = FacadeOp("mean", _mean_fn, "MeanBackward1")


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean over `dim` (all elements when None): the sum divided by the count, as PyTorch on CPU."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {_dtype_name(out_dtype)}")
    ndim = input._data.ndim
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return apply(_MEAN_ALL, (input,), (tuple(range(ndim)), False, out_dtype))
    return apply(_MEAN_DIM, (input,), (_axes(dim, ndim), bool(keepdim), out_dtype))


def _chooser_all(op):
    def fn(x):
        return ops.reduce_max(x) if op == "max" else ops.reduce_min(x)
    return fn


_MAX_ALL = FacadeOp("max", _chooser_all("max"), "MaxBackward1")
_MIN_ALL = FacadeOp("min", _chooser_all("min"), "MinBackward1")


def take_along_axis(x, indices, axis):
    """x[..., indices[...], ...] along `axis` (np.take_along_axis; index shape may be smaller on the other
    axes, as torch.gather's), as a gather from the flattened x, so the gradient is a scatter-add."""
    x_shape = x.shape
    index_shape = indices.shape
    strides = [int(np.prod(x_shape[d + 1:], dtype=np.int64)) for d in range(len(x_shape))]
    linear = ops.mul(ops.convert_element_type(indices, np.int64), strides[axis])
    for d in range(len(index_shape)):
        if d != axis and index_shape[d] > 1:
            linear = ops.add(linear, ops.mul(ops.iota(index_shape, np.int64, d), strides[d]))
    return ops.gather(ops.reshape(x, (-1,)), linear, 0)


def _chooser_dim(pick):
    def fn(x, axis, keepdim):
        index = ops.argmax(x if pick == "max" else ops.neg(x), axis)
        values = take_along_axis(x, ops.expand_dims(index, axis), axis)
        if not keepdim:
            values = ops.squeeze(values, axis)
            return values, index
        return values, ops.expand_dims(index, axis)
    return fn


_MAX_DIM = FacadeOp("max", _chooser_dim("max"), "MaxBackward0")
_MIN_DIM = FacadeOp("min", _chooser_dim("min"), "MinBackward0")


class return_types:
    """PyTorch's named tuples for (values, indices) results."""

    class _ValuesIndices(tuple):
        _name = "values_indices"

        def __new__(cls, values, indices):
            return tuple.__new__(cls, (values, indices))

        values = property(lambda self: self[0])
        indices = property(lambda self: self[1])

        def __repr__(self):
            return (f"torch.return_types.{self._name}(\nvalues={self[0]!r},\nindices={self[1]!r})")

    class max(_ValuesIndices):
        _name = "max"

    class min(_ValuesIndices):
        _name = "min"

    class sort(_ValuesIndices):
        _name = "sort"

    class topk(_ValuesIndices):
        _name = "topk"


def _chooser(input, dim, keepdim, pick, other):
    if isinstance(dim, Tensor) and other is None:
        return (maximum if pick == "max" else minimum)(input, dim)
    if other is not None:
        return (maximum if pick == "max" else minimum)(input, other)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(f"{pick}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return apply(_MAX_ALL if pick == "max" else _MIN_ALL, (input,))
    axis = _dim(dim, input._data.ndim) if input._data.ndim else 0
    if input._data.ndim == 0:
        return getattr(return_types, pick)(input.clone(), zeros_like(input, dtype=np.int64))
    values, indices = apply(_MAX_DIM if pick == "max" else _MIN_DIM, (input,), (axis, bool(keepdim)), multi=True)
    return getattr(return_types, pick)(values, indices)


def max(input, dim=None, keepdim=False, *, other=None):
    """max(): the maximum (ties share the gradient, MaxBackward1); max(dim): (values, indices) with the
    gradient to the first maximum (MaxBackward0); max(other): elementwise maximum."""
    return _chooser(input, dim, keepdim, "max", other)


def min(input, dim=None, keepdim=False, *, other=None):
    """The minimum, as `max`."""
    return _chooser(input, dim, keepdim, "min", other)


def _extreme_fn(op):
    def fn(x, axes, keepdim):
        return _keep(op(x, axes), axes, keepdim)
    return fn


_AMAX = FacadeOp("amax", _extreme_fn(ops.reduce_max), "AmaxBackward0")
_AMIN = FacadeOp("amin", _extreme_fn(ops.reduce_min), "AminBackward0")


def amax(input, dim=(), keepdim=False):
    """The maximum over `dim`; ties share the gradient evenly (AmaxBackward0)."""
    axes = tuple(range(input._data.ndim)) if dim in ((), [], None) else _axes(dim, input._data.ndim)
    return apply(_AMAX, (input,), (axes, bool(keepdim)))


def amin(input, dim=(), keepdim=False):
    axes = tuple(range(input._data.ndim)) if dim in ((), [], None) else _axes(dim, input._data.ndim)
    return apply(_AMIN, (input,), (axes, bool(keepdim)))


def _arg_fn(pick):
    def fn(x, axis, keepdim, flat):
        if flat:
            x = ops.reshape(x, (-1,))
        index = ops.argmax(x if pick == "max" else ops.neg(x), axis)
        return ops.expand_dims(index, axis) if keepdim and not flat else index
    return fn


_ARGMAX = FacadeOp("argmax", _arg_fn("max"), "")
_ARGMIN = FacadeOp("argmin", _arg_fn("min"), "")


def argmax(input, dim=None, keepdim=False):
    """The index of the first maximum (of the flattened tensor when dim is None)."""
    if dim is None:
        return apply(_ARGMAX, (input,), (0, False, True))
    return apply(_ARGMAX, (input,), (_dim(dim, input._data.ndim), bool(keepdim), False))


def argmin(input, dim=None, keepdim=False):
    if dim is None:
        return apply(_ARGMIN, (input,), (0, False, True))
    return apply(_ARGMIN, (input,), (_dim(dim, input._data.ndim), bool(keepdim), False))


def _product(x, axis):
    """The product over one axis as a balanced tree of multiplications (exact gradients with zeros)."""
    n = x.shape[axis]
    ndim = len(x.shape)
    while n > 1:
        if n % 2:
            widths = [(0, 0, 0)] * ndim
            widths[axis] = (0, 1, 0)
            x = ops.pad(x, widths, 1)
            n += 1
        half = n // 2
        starts, stops = [0] * ndim, list(x.shape)
        stops[axis] = half
        left = ops.static_slice(x, starts, stops)
        starts[axis], stops[axis] = half, n
        right = ops.static_slice(x, starts, stops)
        x = ops.mul(left, right)
        n = half
    if n == 0:
        shape = list(x.shape)
        shape[axis] = 1
        return ops.full(tuple(shape), 1, x.dtype)
    return x


def _prod_fn(x, axis, keepdim, dtype, flat):
    x = _cast(x, dtype)
    if flat:
        return ops.reshape(_product(ops.reshape(x, (-1,)), 0), ())
    y = _product(x, axis)
    return y if keepdim else ops.squeeze(y, axis)


_PROD_ALL = FacadeOp("prod", _prod_fn, "ProdBackward0")
_PROD_DIM = FacadeOp("prod", _prod_fn, "ProdBackward1")


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product over `dim` (all when None): ProdBackward0 / ProdBackward1."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    if dim is None:
        return apply(_PROD_ALL, (input,), (0, False, out_dtype, True))
    axis = _dim(dim, input._data.ndim)
    if input._data.ndim == 0:
        return apply(_PROD_ALL, (input,), (0, False, out_dtype, True))
    return apply(_PROD_DIM, (input,), (axis, bool(keepdim), out_dtype, False))


def _var_fn(x, axes, correction, keepdim, take_sqrt):
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    mu = ops.div(ops.reduce_sum(x, axes), count)
    centered = ops.sub(x, ops.expand_dims(mu, axes))
    var_ = ops.div(ops.reduce_sum(ops.mul(centered, centered), axes), builtins.max(count - correction, 0))
    y = ops.sqrt(var_) if take_sqrt else var_
    return _keep(y, axes, keepdim)


_VAR = FacadeOp("var", _var_fn, "VarBackward0", pytorch_sums=False)
_STD = FacadeOp("std", _var_fn, "StdBackward0", pytorch_sums=False)


def _var_args(input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):                      # var(unbiased) in the old signature
        unbiased, dim = dim, None
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"std and var only support floating point and complex dtypes")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    ndim = input._data.ndim
    axes = tuple(range(ndim)) if dim is None else _axes(dim, ndim)
    return (axes, int(correction), bool(keepdim))


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The variance over `dim` with Bessel's correction by default (VarBackward0)."""
    return apply(_VAR, (input,), _var_args(input, dim, unbiased, keepdim, correction) + (False,))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The standard deviation (StdBackward0)."""
    return apply(_STD, (input,), _var_args(input, dim, unbiased, keepdim, correction) + (True,))


def _norm_fn(x, p, axes, keepdim, dtype):
    x = _cast(x, dtype)
    if p == 2:
        # sqrt of a sum of squares, with the gradient 0 (not nan) at the zero vector, as PyTorch's
        s = ops.reduce_sum(ops.mul(x, x), axes)
        zero = ops.eq(s, 0)
        y = ops.select(zero, 0, ops.sqrt(ops.select(zero, 1, s)))
    elif p == 1:
        y = ops.reduce_sum(ops.select(ops.ne(x, 0), ops.abs(x), 0), axes)
    elif p == math.inf:
        y = ops.reduce_max(ops.abs(x), axes)
    elif p == -math.inf:
        y = ops.reduce_min(ops.abs(x), axes)
    elif p == 0:
        y = ops.reduce_sum(_cast(ops.ne(x, 0), x.dtype), axes)
    else:
        y = ops.pow(ops.reduce_sum(ops.pow(ops.abs(x), float(p)), axes), 1.0 / p)
    return _keep(y, axes, keepdim)


_NORM = FacadeOp("norm", _norm_fn, "LinalgVectorNormBackward0", pytorch_sums=False)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over `dim` (all elements when None); 'fro' is the 2-norm."""
    p = 2 if p in ("fro", None) else p
    if p == "nuc":
        raise NotImplementedError("the nuclear norm needs an SVD, which fgrad does not have")
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_dtype_name(out_dtype)}")
    ndim = input._data.ndim
    axes = tuple(range(ndim)) if dim is None else _axes(dim, ndim)
    return apply(_NORM, (input,), (float(p), axes, bool(keepdim), out_dtype))


def _logsumexp_fn(x, axes, keepdim):
    shift = _stable_shift(x, axes)
    total = ops.reduce_sum(ops.exp(ops.sub(x, shift)), axes)
    y = ops.add(ops.log(total), ops.squeeze(shift, axes))
    return _keep(y, axes, keepdim)


def _stable_shift(x, axes):
    """max over `axes` (kept), held constant for the derivative; 0 where it is infinite, so that all -inf
    (or +inf) rows give -inf (+inf) rather than nan."""
    m = stop_gradient(ops.reduce_max(x, axes))
    m = ops.select(ops.eq(ops.abs(m), math.inf), 0, m)
    return ops.expand_dims(m, axes)


_LOGSUMEXP = FacadeOp("logsumexp", _logsumexp_fn, "LogsumexpBackward0", pytorch_sums=False)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over `dim`, computed stably (LogsumexpBackward0)."""
    dtype = input._data.dtype if input._data.dtype.kind == "f" else _f()
    x = input if input._data.dtype == dtype else input.to(dtype)
    return apply(_LOGSUMEXP, (x,), (_axes(dim, input._data.ndim), bool(keepdim)))


def _softmax_fn(x, axis, dtype):
    x = _cast(x, dtype)
    e = ops.exp(ops.sub(x, _stable_shift(x, (axis,))))
    return ops.div(e, ops.expand_dims(ops.reduce_sum(e, axis), axis))


def _log_softmax_fn(x, axis, dtype):
    x = _cast(x, dtype)
    z = ops.sub(x, _stable_shift(x, (axis,)))
    return ops.sub(z, ops.expand_dims(ops.log(ops.reduce_sum(ops.exp(z), axis)), axis))


_SOFTMAX = FacadeOp("softmax", _softmax_fn, "SoftmaxBackward0", pytorch_sums=False)
_LOG_SOFTMAX = FacadeOp("log_softmax", _log_softmax_fn, "LogSoftmaxBackward0", pytorch_sums=False)


def _softmax_args(input, dim, dtype):
    if dim is None:
        raise TypeError("softmax() missing required argument 'dim' (fgrad, like PyTorch's functional API, "
                        "needs the dim)")
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out_dtype.kind != "f":
        raise RuntimeError(f"\"softmax_lastdim_kernel_impl\" not implemented for '{_dtype_name(out_dtype)}'")
    return (_dim(dim, input._data.ndim) if input._data.ndim else 0, out_dtype)


def softmax(input, dim=None, dtype=None):
    """exp(input) normalized over `dim` (SoftmaxBackward0)."""
    if input._data.ndim == 0:
        return apply(_SOFTMAX, (input.reshape(1),), _softmax_args(input, 0, dtype)).reshape(())
    return apply(_SOFTMAX, (input,), _softmax_args(input, dim, dtype))


def log_softmax(input, dim=None, dtype=None):
    """log(softmax(input)) over `dim`, computed stably (LogSoftmaxBackward0)."""
    if input._data.ndim == 0:
        return apply(_LOG_SOFTMAX, (input.reshape(1),), _softmax_args(input, 0, dtype)).reshape(())
    return apply(_LOG_SOFTMAX, (input,), _softmax_args(input, dim, dtype))


def _cumsum_fn(x, axis, dtype):
    return ops.cumsum(_cast(x, dtype), axis)


_CUMSUM = FacadeOp("cumsum", _cumsum_fn, "CumsumBackward0")


def cumsum(input, dim, *, dtype=None):
    """Running sums along `dim` (CumsumBackward0); ints sum in int64."""
    out_dtype = _dtypes.to_numpy(dtype) if dtype is not None else (
        input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.int64))
    if input._data.ndim == 0:
        return input.to(out_dtype).clone()
    return apply(_CUMSUM, (input,), (_dim(dim, input._data.ndim), out_dtype))


# ---- shape and view ops ------------------------------------------------------------------------------

def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(d) for d in shape)


def _infer_shape(shape, numel: int) -> tuple:
    """A target shape with one -1 resolved, or PyTorch's RuntimeError."""
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for d in shape:
        if d < -1:
            raise RuntimeError(f"invalid shape dimension {d}")
    if unknown:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    elif int(np.prod(shape, dtype=np.int64)) != numel:
        raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}")
    return shape


_VIEW = FacadeOp("view", lambda x, shape: ops.reshape(x, shape), "ViewBackward0", view=True)
_UNSAFE_VIEW = FacadeOp("reshape", lambda x, shape: ops.reshape(x, shape), "UnsafeViewBackward0", view=True)
_CLONE = FacadeOp("clone", lambda x: x, "CloneBackward0")


def view(input, *shape):
    """The same storage seen with a new shape (ViewBackward0); the tensor must be laid out compatibly."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        return input.to(shape[0])
    shape = _infer_shape(_shape_arg(shape), input._data.size)
    try:
        input._data.reshape(shape, copy=False)
    except ValueError:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.") from None
    return apply(_VIEW, (input,), (shape,))


def reshape(input, *shape):
    """A tensor of the new shape: a view when the layout allows (ViewBackward0), else a copy."""
    shape = _infer_shape(_shape_arg(shape), input._data.size)
    try:
        input._data.reshape(shape, copy=False)
    except ValueError:
        return apply(_UNSAFE_VIEW, (clone(input),), (shape,))
    return apply(_VIEW, (input,), (shape,))


def clone(input, *, memory_format=None):
    """A copy with its own storage (CloneBackward0)."""
    return apply(_CLONE, (input,))


def contiguous(input, memory_format=None):
    return input if input._data.flags.c_contiguous else clone(input)


def flatten(input, start_dim=0, end_dim=-1):
    """Dims start_dim..end_dim merged into one (a view when possible)."""
    ndim = input._data.ndim
    if ndim == 0:
        return reshape(input, 1)
    start, end = _dim(start_dim, ndim), _dim(end_dim, ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input._data.shape
    if start == end:
        return input
    return reshape(input, shape[:start] + (-1,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    dim = _dim(dim, input._data.ndim)
    shape = input._data.shape
    return reshape(input, shape[:dim] + tuple(sizes) + shape[dim + 1:])


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def _permute_fn(x, perm):
    return ops.transpose(x, perm)


_TRANSPOSE = FacadeOp("transpose", _permute_fn, "TransposeBackward0", view=True)
_PERMUTE = FacadeOp("permute", _permute_fn, "PermuteBackward0", view=True)
_T = FacadeOp("t", _permute_fn, "TBackward0", view=True)


def transpose(input, dim0, dim1):
    """dims dim0 and dim1 swapped (a view, TransposeBackward0)."""
    ndim = input._data.ndim
    if ndim == 0:
        _dim(dim0, 0), _dim(dim1, 0)
        return apply(_TRANSPOSE, (input,), ((),))
    perm = list(range(ndim))
    a, b = _dim(dim0, ndim), _dim(dim1, ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return apply(_TRANSPOSE, (input,), (tuple(perm),))


swapaxes = swapdims = transpose


def permute(input, *dims):
    """dims reordered (a view, PermuteBackward0)."""
    dims = _shape_arg(dims)
    ndim = input._data.ndim
    if len(dims) != ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {ndim} is not equal "
                           f"to len(dims) = {len(dims)}")
    perm = tuple(_dim(d, ndim) for d in dims)
    if len(set(perm)) != ndim:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return apply(_PERMUTE, (input,), (perm,))


def t(input):
    """The transpose of a matrix (vectors and scalars unchanged) (TBackward0)."""
    ndim = input._data.ndim
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D")
    return apply(_T, (input,), (tuple(reversed(range(ndim))),))


def T(input):
    """All dims reversed (PermuteBackward0), PyTorch's `.T`."""
    return apply(_PERMUTE, (input,), (tuple(reversed(range(input._data.ndim))),))


def mT(input):
    ndim = input._data.ndim
    if ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


def _squeeze_fn(x, axes):
    return ops.squeeze(x, axes)


_SQUEEZE = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward0", view=True)
_SQUEEZE_DIM = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward1", view=True)
_SQUEEZE_DIMS = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward2", view=True)
_SQUEEZE_INPLACE = FacadeOp("squeeze_", _squeeze_fn, "SqueezeBackward4", view=True)


def squeeze(input, dim=None):
    """Size-1 dims removed (all, or those among `dim` of size 1) (a view)."""
    shape = input._data.shape
    if dim is None:
        return apply(_SQUEEZE, (input,), (tuple(i for i, d in enumerate(shape) if d == 1),))
    if isinstance(dim, (list, tuple)):
        axes = tuple(a for a in _axes(dim, input._data.ndim) if shape[a] == 1) if shape else ()
        return apply(_SQUEEZE_DIMS, (input,), (axes,))
    axis = _dim(dim, input._data.ndim)
    return apply(_SQUEEZE_DIM, (input,), ((axis,) if shape and shape[axis] == 1 else (),))


_UNSQUEEZE = FacadeOp("unsqueeze", lambda x, axis: ops.expand_dims(x, axis), "UnsqueezeBackward0", view=True)


def unsqueeze(input, dim):
    """A size-1 dim inserted at `dim` (a view, UnsqueezeBackward0)."""
    return apply(_UNSQUEEZE, (input,), (_dim(dim, input._data.ndim + 1),))


_EXPAND = FacadeOp("expand", lambda x, shape: ops.broadcast_to(x, shape), "ExpandBackward0", view=True)


def expand(input, *sizes):
    """A broadcast view of `sizes` (-1 keeps a dim) (ExpandBackward0)."""
    sizes = _shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand(torch.{input.dtype.name[0].upper()}{input.dtype.name[1:]}Tensor"
                           f"{{[{', '.join(map(str, shape))}]}}, size=[{', '.join(map(str, sizes))}]): the number "
                           "of sizes provided (" + str(len(sizes)) + ") must be greater or equal to the number of "
                           "dimensions in the tensor (" + str(len(shape)) + ")")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                                   f"non-existing dimension {i}")
            target.append(s)
            continue
        d = shape[i - lead]
        if s == -1:
            target.append(d)
        elif d == s or d == 1:
            target.append(s)
        else:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({d}) at "
                               f"non-singleton dimension {i}.  Target sizes: [{', '.join(map(str, sizes))}].  "
                               f"Tensor sizes: [{', '.join(map(str, shape))}]")
    return apply(_EXPAND, (input,), (tuple(target),))


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, size):
    return expand(input, size)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[t._data.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def _repeat_fn(x, repeats):
    lead = len(repeats) - len(x.shape)
    shape = (1,) * lead + tuple(x.shape)
    interleaved = []
    for r, d in zip(repeats, shape):
        interleaved += [1, d]
    y = ops.reshape(x, interleaved)
    target = []
    for r, d in zip(repeats, shape):
        target += [r, d]
    y = ops.broadcast_to(y, tuple(target))
    return ops.reshape(y, tuple(r * d for r, d in zip(repeats, shape)))


_REPEAT = FacadeOp("repeat", _repeat_fn, "RepeatBackward0")


def repeat(input, *sizes):
    """The tensor tiled `sizes` times along each dim (RepeatBackward0)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    return apply(_REPEAT, (input,), (sizes,))


def _flip_fn(x, axes):
    for axis in axes:
        n = x.shape[axis]
        x = ops.gather(x, np.arange(n - 1, -1, -1, dtype=np.int64), axis)
    return x


_FLIP = FacadeOp("flip", _flip_fn, "FlipBackward0")


def flip(input, dims):
    """The order of elements reversed along `dims` (FlipBackward0)."""
    return apply(_FLIP, (input,), (_axes(dims, input._data.ndim),))


def _slice_fn(x, axis, start, stop, step):
    ndim = len(x.shape)
    starts, stops, steps = [0] * ndim, list(x.shape), [1] * ndim
    starts[axis], stops[axis], steps[axis] = start, stop, step
    return ops.static_slice(x, starts, stops, steps)


_SLICE = FacadeOp("slice", _slice_fn, "SliceBackward0", view=True)


def narrow(input, dim, start, length):
    """`length` elements from `start` along `dim` (a view, SliceBackward0)."""
    axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    start = int(start) + (n if int(start) < 0 else 0)
    if not 0 <= start <= n or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return apply(_SLICE, (input,), (axis, start, start + int(length), 1))


def _split_fn(x, axis, bounds):
    ndim = len(x.shape)
    outs = []
    for start, stop in bounds:
        starts, stops = [0] * ndim, list(x.shape)
        starts[axis], stops[axis] = start, stop
        outs.append(ops.static_slice(x, starts, stops) if (start, stop) != (0, x.shape[axis]) else x)
    return tuple(outs)


_SPLIT = FacadeOp("split", _split_fn, "SplitBackward0", view=True)
_SPLIT_SIZES = FacadeOp("split", _split_fn, "SplitWithSizesBackward0", view=True)


def split(tensor, split_size_or_sections, dim=0):
    """Pieces along `dim` of the given size (the last may be smaller) or sizes (views sharing one node)."""
    axis = _dim(dim, tensor._data.ndim)
    n = tensor._data.shape[axis]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {dim}), but got split_sizes={sizes}")
        op = _SPLIT_SIZES
    else:
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] if n else [0]
        op = _SPLIT
    bounds, start = [], 0
    for s in sizes:
        bounds.append((start, start + s))
        start += s
    return apply(op, (tensor,), (axis, tuple(bounds)), multi=True)


def chunk(input, chunks, dim=0):
    """`chunks` pieces of equal size along `dim` (the last may be smaller) (SplitBackward0)."""
    n = input._data.shape[_dim(dim, input._data.ndim)]
    size = -(-n // int(chunks)) if n else 1
    return split(input, builtins.max(size, 1), dim)


def tensor_split(input, sections, dim=0):
    return split(input, [len(c) for c in np.array_split(np.arange(input._data.shape[dim]), sections)], dim)


def _unbind_fn(x, axis):
    return tuple(ops.squeeze(ops.static_slice(x, *_one(x.shape, axis, i)), axis) for i in range(x.shape[axis]))


def _one(shape, axis, i):
    starts, stops = [0] * len(shape), list(shape)
    starts[axis], stops[axis] = i, i + 1
    return starts, stops


_UNBIND = FacadeOp("unbind", _unbind_fn, "UnbindBackward0", view=True)


def unbind(input, dim=0):
    """The slices along `dim`, each without that dim (UnbindBackward0)."""
    axis = _dim(dim, input._data.ndim)
    if input._data.shape[axis] == 0:
        return ()
    return apply(_UNBIND, (input,), (axis,), multi=True)


def _cat_fn(*args):
    *xs, axis, dtype = args
    return ops.concatenate([_cast(x, dtype) for x in xs], axis)


_CAT = FacadeOp("cat", _cat_fn, "CatBackward0")


def cat(tensors, dim=0, *, out=None):
    """The tensors joined along `dim`, dtypes promoted (CatBackward0)."""
    tensors = [as_tensor_arg(t) for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors (legacy behaviour)
    parts = [t for t in tensors if not (t._data.ndim == 1 and t._data.size == 0)] or tensors[:1]
    ndim = parts[0]._data.ndim
    if ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = _dim(dim, ndim)
    for i, t in enumerate(parts):
        if t._data.ndim != ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ndim} and {t._data.ndim}")
        for d in range(ndim):
            if d != axis and t._data.shape[d] != parts[0]._data.shape[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size "
                                   f"{parts[0]._data.shape[d]} but got size {t._data.shape[d]} for tensor number "
                                   f"{i} in the list.")
    dtype = result_type(*parts)
    return _out(apply(_CAT, tuple(parts), (axis, dtype)), out)


concat = concatenate = cat


def _stack_fn(*args):
    *xs, axis, dtype = args
    return ops.concatenate([ops.expand_dims(_cast(x, dtype), axis) for x in xs], axis)


_STACK = FacadeOp("stack", _stack_fn, "StackBackward0")


def stack(tensors, dim=0, *, out=None):
    """The tensors (of one shape) joined along a new dim (StackBackward0)."""
    tensors = [as_tensor_arg(t) for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got [{', '.join(map(str, shape))}] "
                               f"at entry 0 and [{', '.join(map(str, t._data.shape))}] at entry {i}")
    axis = _dim(dim, len(shape) + 1)
    return _out(apply(_STACK, tuple(tensors), (axis, result_type(*tensors))), out)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t._data.ndim == 1 else t for t in tensors], 0)


def _gather_fn(x, index, axis):
    return take_along_axis(x, index, axis)


_GATHER = FacadeOp("gather", _gather_fn, "GatherBackward0", nondiff=(1,))


def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j] = input[i][index[i][j]] for dim=1 (GatherBackward0)."""
    axis = _dim(dim, input._data.ndim)
    if index._data.dtype.kind != "i":
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if index._data.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(input._data.ndim):
        if d != axis and index._data.shape[d] > input._data.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index "
                               f"[{', '.join(map(str, index._data.shape))}] to be no larger than self "
                               f"[{', '.join(map(str, input._data.shape))}] apart from dimension {axis}")
    n = input._data.shape[axis]
    bad = index._data[(index._data < -n) | (index._data >= n)]
    if bad.size:
        raise RuntimeError(f"index {bad.flat[0]} is out of bounds for dimension {axis} with size {n}")
    return apply(_GATHER, (input, index), (axis,))


_INDEX_SELECT = FacadeOp("index_select", lambda x, index, axis: ops.gather(x, index, axis), "IndexSelectBackward0",
                         nondiff=(1,))


def index_select(input, dim, index):
    """The entries at `index` (1-D) along `dim` (IndexSelectBackward0)."""
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if index._data.dtype.kind != "i":
        raise RuntimeError("index_select(): Expected dtype int32/int64 for index")
    axis = _dim(dim, input._data.ndim) if input._data.ndim else 0
    n = input._data.shape[axis] if input._data.ndim else 1
    bad = index._data[(index._data < 0) | (index._data >= n)]
    if bad.size:
        raise IndexError(f"index out of range in self")
    idx = index.reshape(-1)
    if input._data.ndim == 0:
        return apply(_INDEX_SELECT, (input.reshape(1), idx), (0,)).reshape(index.shape)
    return apply(_INDEX_SELECT, (input, idx), (axis,))


def take(input, index):
    return index_select(input.reshape(-1), 0, index.reshape(-1)).reshape(index.shape)


# ---- linear algebra -------------------------------------------------------------------------------------

def _matmul_fn(a, b):
    return ops.matmul(a, b)


_MM = FacadeOp("mm", _matmul_fn, "MmBackward0")
_MV = FacadeOp("mv", _matmul_fn, "MvBackward0")
_DOT = FacadeOp("dot", _matmul_fn, "DotBackward0")
_BMM = FacadeOp("bmm", _matmul_fn, "BmmBackward0")


def _same_dtype(name, a, b):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_c_type(a)} != {_c_type(b)}"
                           if name in ("mm", "matmul", "addmm") else
                           f"{name}: expected both vectors to have same dtype, but found {_dtype_name(a._data.dtype)} "
                           f"and {_dtype_name(b._data.dtype)}" if name == "dot" else
                           f"expected scalar type {_dtype_name(a._data.dtype)} but found {_dtype_name(b._data.dtype)}")


def _c_type(t) -> str:
    return {"float32": "float", "float64": "double", "int32": "int", "int64": "long int", "bool": "bool"}[
        t._data.dtype.name]


def mm(input, mat2):
    """The matrix product of two 2-D tensors (MmBackward0)."""
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                           f"{b.shape[0]}x{b.shape[1]})")
    _same_dtype("mm", input, mat2)
    return apply(_MM, (input, mat2))


def mv(input, vec):
    """Matrix times vector (MvBackward0)."""
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
                           f"vec ({v.shape[0]})")
    _same_dtype("mv", input, vec)
    return apply(_MV, (input, vec))


def dot(input, other):
    """The inner product of two 1-D tensors (DotBackward0)."""
    a, b = input._data, other._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                           f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                           "respectively")
    _same_dtype("dot", input, other)
    return apply(_DOT, (input, other))


inner = dot


def bmm(input, mat2):
    """Batched matrix product of two 3-D tensors (BmmBackward0)."""
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, "
                           f"{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    _same_dtype("bmm", input, mat2)
    return apply(_BMM, (input, mat2))


def matmul(input, other):
    """PyTorch's matmul: dot, mv, mm, or a batched product with broadcast batch dims (folded into mm or
    bmm as PyTorch does, so the nodes are the same)."""
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    if a.ndim == 1 and b.ndim == 1:
        return dot(input, other)
    if a.ndim == 2 and b.ndim == 1:
        return mv(input, other)
    if a.ndim == 1 and b.ndim == 2:
        return apply(_SQUEEZE_INPLACE, (mm(unsqueeze(input, 0), other),), ((0,),))
    if a.ndim == 2 and b.ndim == 2:
        return mm(input, other)
    _same_dtype("matmul", input, other)
    if b.ndim <= 2:
        # (..., n, k) @ (k, m) or (k,): fold the batch into the rows of one mm
        k = a.shape[-1]
        if b.shape[0] != k:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({int(np.prod(a.shape[:-1]))}x{k} and "
                               f"{b.shape[0]}x{b.shape[-1] if b.ndim == 2 else 1})")
        rows = reshape(input, -1, k)
        if b.ndim == 1:
            return apply(_UNSAFE_VIEW, (mv(rows, other),), (a.shape[:-1],))
        return apply(_UNSAFE_VIEW, (mm(rows, other),), (a.shape[:-1] + b.shape[-1:],))
    lifted_a = unsqueeze(input, 0) if a.ndim == 1 else input
    lifted_b = unsqueeze(other, -1) if b.ndim == 1 else other
    sa, sb = lifted_a._data.shape, lifted_b._data.shape
    if sa[-1] != sb[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{int(np.prod(sa[:-2]))}, {sa[-1]}] but got: [{int(np.prod(sb[:-2]))}, {sb[-2]}].")
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    left = reshape(expand(lifted_a, batch + sa[-2:]), -1, sa[-2], sa[-1])
    right = reshape(expand(lifted_b, batch + sb[-2:]), -1, sb[-2], sb[-1])
    out = apply(_UNSAFE_VIEW, (bmm(left, right),), (batch + (sa[-2], sb[-1]),))
    if a.ndim == 1:
        out = squeeze(out, -2)
    if b.ndim == 1:
        out = squeeze(out, -1)
    return out


def _addmm_fn(bias, a, b, beta, alpha):
    product = ops.matmul(a, b)
    if alpha != 1:
        product = ops.mul(product, alpha)
    scaled = bias if beta == 1 else ops.mul(bias, beta)
    _check_broadcast(tuple(bias.shape), tuple(product.shape))
    return ops.add(scaled, product) if beta != 0 else product


_ADDMM = FacadeOp("addmm", _addmm_fn, "AddmmBackward0")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) (AddmmBackward0), the op nn.Linear's forward uses."""
    if mat1._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError("mat1 must be a matrix, got " f"{mat1._data.ndim}-D tensor")
    if mat1._data.shape[1] != mat2._data.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1._data.shape[0]}x{mat1._data.shape[1]} "
                           f"and {mat2._data.shape[0]}x{mat2._data.shape[1]})")
    _same_dtype("addmm", mat1, mat2)
    return apply(_ADDMM, (input, mat1, mat2), (beta, alpha))


def outer(input, vec2):
    """The outer product of two vectors (MulBackward0 of a column and a row, as PyTorch)."""
    return mul(reshape(input, -1, 1), vec2)


ger = outer


def trace(input):
    if input._data.ndim != 2:
        raise RuntimeError("trace: expected a matrix")
    n = builtins.min(input._data.shape)
    return sum(reshape(input, -1)[:: input._data.shape[1] + 1][:n]) if n else sum(input)


def diag(input, diagonal=0):
    """The diagonal of a matrix, or a matrix with the vector on its diagonal."""
    if diagonal != 0:
        raise NotImplementedError("fgrad's diag supports the main diagonal only")
    if input._data.ndim == 1:
        n = input._data.shape[0]
        eye_ = make(np.eye(n, dtype=input._data.dtype))
        return mul(unsqueeze(input, 0), eye_)
    n = builtins.min(input._data.shape)
    return reshape(input, -1)[:: input._data.shape[1] + 1][:n]


# ---- creation helpers used above (full definitions in _creation) ------------------------------------------

def full_like(input, fill_value, *, dtype=None):
    from fgrad.tensor._creation import full_like as _full_like
    return _full_like(input, fill_value, dtype=dtype)


def zeros_like(input, *, dtype=None):
    from fgrad.tensor._creation import zeros_like as _zeros_like
    return _zeros_like(input, dtype=dtype)


# ---- in-place ------------------------------------------------------------------------------------------------

def _can_cast(src: np.dtype, dst: np.dtype) -> bool:
    """PyTorch's canCast: no float -> integral, no non-bool -> bool."""
    if src.kind == "f" and dst.kind in "iub":
        return False
    if src.kind != "b" and dst.kind == "b":
        return False
    return True


def inplace(self, result):
    """Write `result` (an op's out-of-place result) into `self`'s storage, as PyTorch's in-place ops:
    checks (leaf, views, dtype, shape), a version bump, and the recorded node becomes self's grad_fn."""
    recorded = result._grad_fn is not None
    if recorded:
        _check_inplace_allowed(self)
    data = self._data
    value = result._data
    if value.shape != data.shape:
        raise RuntimeError(f"output with shape [{', '.join(map(str, data.shape))}] doesn't match the broadcast "
                           f"shape [{', '.join(map(str, value.shape))}]")
    if value.dtype != data.dtype and not _can_cast(value.dtype, data.dtype):
        raise RuntimeError(f"result type {_dtype_name(value.dtype)} can't be cast to the desired output type "
                           f"{_dtype_name(data.dtype)}")
    if not data.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    if recorded:
        _keep_original(result._grad_fn, self)
    np.copyto(data, value, casting="unsafe")
    self._vc[0] += 1
    if recorded:
        node = result._grad_fn
        if node._versions is not None:
            # a saved output is now self's storage: check self's version from here on
            node._versions = [(self._vc, self._vc[0], saved) if cell is result._vc
                              else (cell, expected, saved) for cell, expected, saved in node._versions]
        self._grad_fn = node
        self._output_nr = result._output_nr
    return self


def _keep_original(node, self):
    """The node of `self op= other` may have saved self (mul_ saves it for other's gradient): it keeps the
    value from before the write, as PyTorch's original_self, with self's old place in the graph."""
    if node._args is None or not any(a is self for a in node._args):
        return
    original = make(np.array(self._data, copy=True), self._grad_fn, self._output_nr, self._requires_grad)
    saved = list(node._saved)
    for r, i in node._plan.saved_inputs:
        if node._args[i] is self:
            saved[r] = original._data
    node._saved = tuple(saved)
    if node._versions is not None:
        node._versions = [check for check in node._versions if check[0] is not self._vc] or None
    node._args = tuple(original if a is self else a for a in node._args)


def _check_inplace_allowed(self):
    if not _grad_state.enabled:
        return
    if self._grad_fn is None and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None:
        if base._grad_fn is None and base._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        raise RuntimeError("fgrad's facade does not record in-place operations on views (PyTorch rewrites the "
                           "base tensor's graph); apply the operation out of place, or assign through the base "
                           "tensor with index assignment (base[index] = value)")


def check_leaf_inplace(self):
    """The error PyTorch raises before running an in-place op on a leaf that requires grad."""
    if not _grad_state.enabled:
        return
    if self._grad_fn is None and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None and base._grad_fn is None and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def _fill_fn(x, value):
    return ops.select(np.ones(x.shape, np.bool_), value, x)


_FILL = FacadeOp("fill", _fill_fn, "FillBackward0")
_ZERO = FacadeOp("zero", _fill_fn, "ZeroBackward0")


def fill_(self, value):
    """Every element set to `value` (in place)."""
    check_leaf_inplace(self)
    if isinstance(value, Tensor):
        value = value.item()
    op = _ZERO if value == 0 else _FILL
    return inplace(self, apply(op, (self,), (np.asarray(value, self._data.dtype).item(),)))


def zero_(self):
    """Every element set to 0 (in place)."""
    check_leaf_inplace(self)
    if self._grad_fn is None and not self._requires_grad:
        self._data[...] = 0         # the common case (a .grad buffer): no graph to record
        self._vc[0] += 1
        return self
    return inplace(self, apply(_ZERO, (self,), (0,)))


_COPY = FacadeOp("copy_", lambda src, shape, dtype: ops.broadcast_to(_cast(src, dtype), shape), "CopyBackwards")


def copy_(self, src, non_blocking=False):
    """src's values (broadcast and cast) written into self."""
    check_leaf_inplace(self)
    src = as_tensor_arg(src)
    try:
        np.broadcast_shapes(src._data.shape, self._data.shape)
        if np.broadcast_shapes(src._data.shape, self._data.shape) != self._data.shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) must match "
                           f"the size of tensor b ({src._data.shape[-1] if src._data.ndim else 1}) at "
                           f"non-singleton dimension {self._data.ndim - 1}") from None
    result = apply(_COPY, (src,), (self._data.shape, self._data.dtype))
    return inplace(self, result)
