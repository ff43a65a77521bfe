"""The facade's ops: PyTorch's functions as compositions of fgrad ops, each one node named as PyTorch's.

Every op is a `FacadeOp(name, fn, node_name)` plus a wrapper that does what PyTorch does before its kernel
runs: argument checking with PyTorch's messages, type promotion (torch.result_type), dims normalized. `fn`
receives the arrays (tracers while it is traced, once per input signature) followed by the static
arguments, and may only call fgrad.ops; its primitives' VJP rules are the op's backward. Values and
gradients at kinks, NaN, infinities and signed zeros follow PyTorch where they differ from the primitives'
(numpy's values, JAX's derivatives): relu keeps NaN, abs and sign have derivative 0 at 0 and NaN, clamp
passes the gradient at its bounds but not at NaN, maximum passes it to both inputs at NaN, rsqrt and pow by
±0.5 take PyTorch's sqrt shortcuts (tests/test_facade_special_values.py compares every op with torch).
Scalar constants that can be -0.0 (clamp bounds, fill values, rsub, a pow base) are passed as 0-d input
arrays rather than statics: statics key the kernel cache, and -0.0 == 0.0.

This module holds the elementwise family: arithmetic, elementwise functions, comparisons and logic. The
other families are _reductions, _shapes, _linalg, _inplace and _indexing; all of them take their operand
and promotion helpers from _operands.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

import fgrad.numpy as fnp
from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.facade import _dtypes
from fgrad.facade._creation import full_like
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import (_axes_or_none, _cast, _check_broadcast, _dtype_name, _f, _is_scalar, _out,
                                    _scalar_result, as_tensor_arg, binary_operands, numpy_names, result_type)
from fgrad.facade._tensor import Tensor, make

# ---- arithmetic ---------------------------------------------------------------------------------------

def _binary_fn(op):
    def fn(x, y, dtype):
        _check_broadcast(x.shape, y.shape)
        return op(_cast(x, dtype), _cast(y, dtype))
    return fn


def _binary(facade_op, a, b):
    a, b, dtype = binary_operands(a, b)
    return apply(facade_op, (a, b), (dtype,))


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


def _fmod_fn(x, y, dtype):
    _check_broadcast(x.shape, y.shape)
    return ops.rem(_cast(x, dtype), _cast(y, dtype))


def _remainder_fn(x, y, dtype):
    # PyTorch's remainder: fmod, moved to the divisor's side where their signs differ. Unlike numpy's, a zero
    # keeps fmod's sign (remainder(-0., 2.) is -0.). The gradient is 1 for x and -x // y for y (rem's rule).
    _check_broadcast(x.shape, y.shape)
    x, y = _cast(x, dtype), _cast(y, dtype)
    mod = ops.rem(x, y)
    moved = ops.select(ops.ne(mod, 0), ops.ne(ops.lt(y, 0), ops.lt(mod, 0)), False)
    return ops.select(moved, ops.add(mod, y), mod)


_FMOD = FacadeOp("fmod", _fmod_fn, "FmodBackward1")
_FMOD_SCALAR = FacadeOp("fmod", _fmod_fn, "FmodBackward0", nondiff=(1,))
_REMAINDER = FacadeOp("remainder", _remainder_fn, "RemainderBackward1")
_REMAINDER_SCALAR = FacadeOp("remainder", _remainder_fn, "RemainderBackward0", nondiff=(1,))


def _modulo(input, other, tensor_op, scalar_op, np_fn):
    a, b, dtype = binary_operands(input, other)
    if dtype.kind != "f":          # integers: exact, no gradient (0 for a zero divisor, where PyTorch raises)
        x = a._data if isinstance(a, Tensor) else a
        y = b._data if isinstance(b, Tensor) else b
        with np.errstate(divide="ignore", invalid="ignore"):
            return make(np.asarray(np_fn(x.astype(dtype), y.astype(dtype)), dtype))
    return apply(tensor_op if isinstance(b, Tensor) else scalar_op, (a, b), (dtype,))


def remainder(input, other):
    """Python's modulo: the sign of the divisor (RemainderBackward0 / RemainderBackward1)."""
    return _modulo(input, other, _REMAINDER, _REMAINDER_SCALAR, np.mod)


def fmod(input, other):
    """C's fmod: the sign of the dividend (FmodBackward0 / FmodBackward1)."""
    return _modulo(input, other, _FMOD, _FMOD_SCALAR, np.fmod)


def _integer_power(exponent) -> bool:
    return isinstance(exponent, (int, np.integer)) or (isinstance(exponent, float) and exponent.is_integer()
                                                        and builtins.abs(exponent) < 2 ** 31)


def _pow_scalar_fn(x, dtype, y):
    # PyTorch's pow kernel takes sqrt for the exponent 0.5 and 1/sqrt for -0.5 (nan at -inf, and -0.0 / -inf at
    # -0.0, where C's pow gives inf / 0.0 and 0.0 / inf).
    x = _cast(x, dtype)
    if y == 0.5:
        return ops.sqrt(x)
    if y == -0.5:
        return ops.div(1.0, ops.sqrt(x))
    return ops.pow(x, y)


def _pow_fn(x, y, dtype):
    # PyTorch's pow backward: no gradient to x where y == 0 (x ** 0 is constant, even at x = nan), none to y
    # where x == 0 and y >= 0; the primitive's rules (JAX's) give nan at the first.
    _check_broadcast(x.shape, y.shape)
    x, y = _cast(x, dtype), _cast(y, dtype)
    x = ops.select(ops.eq(y, 0), stop_gradient(x), x)
    y = ops.select(ops.select(ops.eq(x, 0), ops.ge(y, 0), False), stop_gradient(y), y)
    return ops.pow(x, y)


def _rpow_fn(x, base, dtype):
    return ops.pow(_cast(base, dtype), _cast(x, dtype))


_POW_INT = FacadeOp("pow", lambda x, dtype, y: ops.integer_pow(_cast(x, dtype), y=y), "PowBackward0")
_POW_SCALAR = FacadeOp("pow", _pow_scalar_fn, "PowBackward0")
_POW = FacadeOp("pow", _pow_fn, "PowBackward1")
_RPOW = FacadeOp("pow", _rpow_fn, "PowBackward2", nondiff=(1,))


def pow(input, exponent, *, out=None):
    """input ** exponent: PowBackward0 for a scalar exponent, PowBackward1 for a tensor, PowBackward2 for a
    scalar base."""
    if not isinstance(input, Tensor):
        if not _is_scalar(input):
            input = as_tensor_arg(input)
        else:
            exponent = as_tensor_arg(exponent)
            dtype = _scalar_result(exponent._data.dtype, input)
            # The base is an input array, not a static: -0.0 and 0.0 give different kernels' results.
            return _out(apply(_RPOW, (exponent, np.asarray(input, dtype)), (dtype,)), out)
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


def _rsub_fn(x, value, dtype):
    return ops.sub(value, _cast(x, dtype))


_RSUB = FacadeOp("rsub", _rsub_fn, "RsubBackward1", nondiff=(1,))


def rsub(input, other, alpha=1):
    """other - input (RsubBackward1 for a scalar `other`)."""
    if _is_scalar(other):
        other = other.item() if isinstance(other, np.generic) else other
        dtype = _scalar_result(input._data.dtype, other)
        value = np.asarray(other * alpha, dtype).item()
        # `value` is an input array, not a static: static -0.0 and 0.0 would share one kernel (they compare equal).
        if alpha != 1:
            return apply(_RSUB, (mul(input, alpha), np.asarray(value / alpha, dtype)), (dtype,))
        return apply(_RSUB, (input, np.asarray(value, dtype)), (dtype,))
    return sub(other, input, alpha=alpha)


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
# 1 / sqrt(x) rather than the rsqrt primitive: its derivative at -0.0 is +inf as PyTorch's (rsqrt_p's rule,
# JAX's -0.5 * out / x, gives -inf there).
rsqrt = _float_unary("rsqrt", "RsqrtBackward0", lambda x: ops.div(1.0, ops.sqrt(x)))
reciprocal = _float_unary("reciprocal", "ReciprocalBackward0", ops.reciprocal)
log2 = _float_unary("log2", "Log2Backward0", ops.log2)
log10 = _float_unary("log10", "Log10Backward0", ops.log10)
exp2 = _float_unary("exp2", "Exp2Backward0", ops.exp2)
asin = arcsin = _float_unary("asin", "AsinBackward0", ops.arcsin)
acos = arccos = _float_unary("acos", "AcosBackward0", ops.arccos)
atan = arctan = _float_unary("atan", "AtanBackward0", ops.arctan)
sinh = _float_unary("sinh", "SinhBackward0", ops.sinh)
cosh = _float_unary("cosh", "CoshBackward0", ops.cosh)
asinh = arcsinh = _float_unary("asinh", "AsinhBackward0", ops.arcsinh)
acosh = arccosh = _float_unary("acosh", "AcoshBackward0", ops.arccosh)
atanh = arctanh = _float_unary("atanh", "AtanhBackward0", ops.arctanh)


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

# ---- PyTorch's answers at kinks, NaN, infinities and signed zeros -------------------------------------------
# The primitives follow numpy's values and JAX's derivative conventions; where PyTorch's differ, the facade
# op selects the point apart, and stop_gradient marks a branch whose derivative PyTorch takes as 0.

def torch_abs(x):
    """|x| with PyTorch's derivative sign(x): 0 at ±0 and at NaN (the primitive's rule, JAX's, gives +1 at 0
    and -1 at NaN)."""
    return ops.select(ops.gt(x, 0), x, ops.select(ops.lt(x, 0), ops.neg(x), stop_gradient(ops.abs(x))))


def torch_sign(x):
    """sign(x) with PyTorch's sign(nan) = 0 (numpy's is nan); zero derivative."""
    return ops.select(ops.ne(x, x), 0, ops.sign(x))


def _relu_fn(x):
    # max(x, 0) keeping NaN and -0.0 (PyTorch's clamp_min(x, 0)); the gradient passes where the result is not
    # <= 0 (threshold_backward): where x > 0 and at NaN, not at ±0. Only the select that passes x on carries
    # a gradient, so the backward is one select over one saved mask.
    at_most_zero = ops.le(x, 0)
    return ops.select(at_most_zero, stop_gradient(ops.select(ops.lt(x, 0), 0, x)), x)


abs = _same_dtype_unary("abs", "AbsBackward0", torch_abs)
absolute = abs
sign = _same_dtype_unary("sign", "SignBackward0", torch_sign)
relu = _same_dtype_unary("relu", "ReluBackward0", _relu_fn)
square = _same_dtype_unary("square", "PowBackward0", lambda x: ops.integer_pow(x, y=2))


def _check_neg_bool(input):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")


def _clamped(x, lo, hi):
    """PyTorch's clamp value min(max(x, lo), hi): NaN in x or a bound gives NaN; lo > hi gives hi."""
    return ops.minimum(ops.maximum(x, lo), hi)


def _clamp_fn(x, lo, hi, dtype):
    # Bounds are input arrays (±inf for a missing one), not statics: static -0.0 and 0.0 would share a kernel.
    # The gradient passes where lo <= x <= hi, bounds included, and not at NaN (PyTorch's clamp_backward);
    # there the result is x itself, so a -0.0 inside the bounds stays -0.0, as PyTorch's.
    x, lo, hi = _cast(x, dtype), _cast(lo, dtype), _cast(hi, dtype)
    inside = ops.select(ops.ge(x, lo), ops.le(x, hi), False)
    return ops.select(inside, x, stop_gradient(_clamped(x, lo, hi)))


_CLAMP = FacadeOp("clamp", _clamp_fn, "ClampBackward1", nondiff=(1, 2))


def _clamp_tensors_fn(x, lo, hi, dtype, has_lo, has_hi):
    # PyTorch's clamp_backward_min_max: x's gradient where lo <= x <= hi; lo's where x < lo (and lo < hi when
    # there is a max); hi's where x > hi (or hi < lo, where the result is hi). NaN anywhere makes the value
    # NaN; the gradient still goes to hi where x > hi, as PyTorch's masks read only the comparisons. A missing
    # bound is ±inf here.
    x, lo, hi = _cast(x, dtype), _cast(lo, dtype), _cast(hi, dtype)
    value = stop_gradient(_clamped(x, lo, hi))
    inside = ops.select(ops.ge(x, lo), ops.le(x, hi), False)
    to_lo = ops.select(ops.lt(x, lo), ops.lt(lo, hi), False) if has_hi else ops.lt(x, lo)
    to_hi = ops.select(ops.gt(x, hi), True, ops.lt(hi, lo)) if has_lo else ops.gt(x, hi)
    hi_value = ops.select(ops.ne(value, value), ops.add(hi, value), hi)
    return ops.select(inside, x, ops.select(to_lo, lo, ops.select(to_hi, hi_value, value)))


_CLAMP_TENSORS = FacadeOp("clamp", _clamp_tensors_fn, "ClampBackward0")


_CLAMP_MIN = FacadeOp("clamp_min", _clamp_fn, "ClampMinBackward0", nondiff=(1, 2))
_CLAMP_MAX = FacadeOp("clamp_max", _clamp_fn, "ClampMaxBackward0", nondiff=(1, 2))


def clamp(input, min=None, max=None, *, out=None):
    """input limited to [min, max] (ClampBackward1 for scalar bounds, ClampBackward0 for tensor bounds)."""
    return _clamp(input, min, max, out, _CLAMP)


def _clamp(input, min, max, out, scalar_op):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = min if isinstance(min, Tensor) else full_like(input, -math.inf if min is None else min)
        hi = max if isinstance(max, Tensor) else full_like(input, math.inf if max is None else max)
        dtype = result_type(input, lo, hi)
        return _out(apply(_CLAMP_TENSORS, (input, lo, hi), (dtype, min is not None, max is not None)), out)
    dtype = input._data.dtype
    for bound in (min, max):
        if bound is not None:
            dtype = _scalar_result(dtype, bound)
    lo = np.asarray(_extreme_value(dtype, -1) if min is None else min, dtype)
    hi = np.asarray(_extreme_value(dtype, 1) if max is None else max, dtype)
    return _out(apply(scalar_op, (input, lo, hi), (dtype,)), out)


def _extreme_value(dtype, side: int):
    """The bound that clamps nothing in `dtype`: -inf / inf for floats, the integer range's ends for ints."""
    if dtype.kind == "f":
        return side * math.inf
    if dtype.kind == "b":
        return side > 0
    return np.iinfo(dtype).max if side > 0 else np.iinfo(dtype).min


clip = clamp


def clamp_min(input, min):
    """input limited below by `min` (ClampMinBackward0 for a number)."""
    return _clamp(input, min, None, None, _CLAMP_MIN)


def clamp_max(input, max):
    """input limited above by `max` (ClampMaxBackward0 for a number)."""
    return _clamp(input, None, max, None, _CLAMP_MAX)


def _minmax_fn(op):
    # PyTorch's maximum/minimum backward masks only where one input is strictly on the losing side, so at a
    # NaN (either input) both get the whole gradient: x + y there is NaN and passes it to both. Ties split
    # it, as the primitive's rule does. (At a tie of -0.0 and 0.0 the zero's sign is numpy's.)
    def fn(x, y, dtype):
        _check_broadcast(x.shape, y.shape)
        x, y = _cast(x, dtype), _cast(y, dtype)
        out = op(x, y)
        if dtype.kind != "f":
            return out
        return ops.select(ops.ne(out, out), ops.add(x, y), out)
    return fn


_MAXIMUM = FacadeOp("maximum", _minmax_fn(ops.maximum), "MaximumBackward0")
_MINIMUM = FacadeOp("minimum", _minmax_fn(ops.minimum), "MinimumBackward0")


def _float_binary(name, node, op):
    """A float op of two tensors (or a tensor and a scalar); ints compute in the default float dtype."""
    facade_op = FacadeOp(name, _binary_fn(op), node)

    def fn(input, other, *, out=None):
        a, b, dtype = binary_operands(input, other)
        dtype = dtype if dtype.kind == "f" else _f()
        return _out(apply(facade_op, (a, b), (dtype,)), out)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} with broadcasting ({node})."
    return fn


def _atan2_fn(y, x):
    # PyTorch's gradient at y == x == 0 is 0 (the primitive's, JAX's, is nan there): the origin is computed
    # apart, its value kept and its derivative cut, and the rest from inputs the origin cannot reach.
    origin = ops.eq(ops.add(ops.abs(y), ops.abs(x)), 0)
    away_y, away_x = ops.select(origin, 1.0, y), ops.select(origin, 1.0, x)
    return ops.select(origin, ops.stop_gradient(ops.arctan2(y, x)), ops.arctan2(away_y, away_x))


atan2 = arctan2 = _float_binary("atan2", "Atan2Backward0", _atan2_fn)
hypot = _float_binary("hypot", "HypotBackward0", ops.hypot)


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
    return ops.select(mask, value, x)         # `value` is a 0-d input array: static -0.0 and 0.0 compare equal


_MASKED_FILL = FacadeOp("masked_fill", _masked_fill_fn, "MaskedFillBackward0", nondiff=(1, 2))


def _masked_fill_tensor_fn(x, mask, value):
    return ops.select(mask, ops.convert_element_type(value, x.dtype), x)


# the value a 0-d Tensor: its gradient is the sum over the filled places
_MASKED_FILL_TENSOR = FacadeOp("masked_fill", _masked_fill_tensor_fn, "MaskedFillBackward1", nondiff=(1,))


def masked_fill(input, mask, value):
    """input with `value` (a number or a 0-d tensor) where the bool `mask` (broadcast to input) is True
    (MaskedFillBackward0; MaskedFillBackward1 when the value is a tensor).

    >>> import fgrad as torch
    >>> x = torch.tensor([1., -2., 3.])
    >>> x.masked_fill(x < 0, 0.)
    tensor([1., 0., 3.])
    """
    mask = as_tensor_arg(mask)
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{_dtypes.c_type_name(mask._data.dtype)}")
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._data.ndim} dimension(s).")
        return apply(_MASKED_FILL_TENSOR, (input, mask, value))
    return apply(_MASKED_FILL, (input, mask, np.asarray(value, input._data.dtype)))


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


def _zero_derivative(rounding):
    """`rounding` (fgrad.numpy's exact floor, ceil, ...: a stop_gradient) as a function that still depends on x, so
    the op gets PyTorch's node (FloorBackward0) with its zero gradient: a select that never picks x."""
    def fn(x, *static):
        never = ops.full(ops.typeof(x).shape, False, np.bool_)
        return ops.select(never, x, rounding(x, *static))
    return fn


floor = _same_dtype_unary("floor", "FloorBackward0", _zero_derivative(fnp.floor))
ceil = _same_dtype_unary("ceil", "CeilBackward0", _zero_derivative(fnp.ceil))
trunc = _same_dtype_unary("trunc", "TruncBackward0", _zero_derivative(fnp.trunc))


def _frac_fn(x):
    # x - trunc(x), the gradient passing to x (FracBackward0); inf - nan rather than inf - inf gives the nan at
    # ±inf without a numpy warning.
    whole = fnp.trunc(x)
    return ops.sub(x, ops.select(ops.eq(ops.abs(x), math.inf), math.nan, whole))


frac = _same_dtype_unary("frac", "FracBackward0", _frac_fn)


_ROUND = FacadeOp("round", _zero_derivative(fnp.round), "RoundBackward0")
_ROUND_DECIMALS = FacadeOp("round", _zero_derivative(fnp.round), "RoundBackward1")


def round(input, *, decimals=0):
    """Round half to even, to `decimals` places (derivative zero: RoundBackward0, RoundBackward1 with
    decimals)."""
    return apply(_ROUND_DECIMALS if decimals else _ROUND, (input,), (int(decimals),))


def equal(input, other) -> bool:
    """True when both tensors have the same shape and values."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return make(np.isclose(input._data, as_tensor_arg(other)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


@numpy_names
def all(input, dim=None, keepdim=False):
    return _numpy_result(lambda x: np.all(x, axis=_axes_or_none(dim, input), keepdims=keepdim), input)


@numpy_names
def any(input, dim=None, keepdim=False):
    return _numpy_result(lambda x: np.any(x, axis=_axes_or_none(dim, input), keepdims=keepdim), input)


def nonzero(input, *, as_tuple=False):
    idx = np.nonzero(input._data)
    if as_tuple:
        return tuple(make(i.astype(np.int64)) for i in idx)
    return make(np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), np.int64))


@numpy_names
def count_nonzero(input, dim=None):
    return make(np.asarray(np.count_nonzero(input._data, axis=_axes_or_none(dim, input)), np.int64))
