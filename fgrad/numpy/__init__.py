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
- Arrays are immutable. `x.at[idx].set(v)` / `.add(v)` / `.multiply(v)` / `.get()` return updated copies
  (JAX's functional updates; `.set` keeps the last of repeated indices, `.add` and `.multiply` apply every
  repeat as np.add.at / np.multiply.at). `.at` exists on traced values only: numpy arrays cannot grow
  attributes, and outside a trace numpy's own item assignment is there.
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

import builtins
import functools
import inspect
import math
import sys
import types

import numpy as np

import fgrad.ops as ops
from fgrad.ir import canonical_dtype, is_float
from fgrad.ir.ownership import owned_results
from fgrad.ir.tracing import Tracer
from fgrad.ops.base import PYTHON_SCALARS, float_dtype, is_tracer, promotion_operand, result_dtype, typeof
from fgrad.ops.control import stop_gradient
from fgrad.ops.core import normalize_axes, normalize_axis

# ---- constants and dtypes --------------------------------------------------------------------------

pi = np.pi
e = np.e
inf = np.inf
nan = np.nan
newaxis = None


class _ScalarType(type):
    """The type of fnp.float32 and friends: numpy's scalar type as a dtype argument (it has a `dtype`), equal to it
    and to its dtype, and callable: on concrete values it is numpy's (fnp.float32(1.5) is np.float32(1.5)), on
    traced values a cast, as JAX's jnp.float32(x)."""

    def __call__(cls, x):
        if _contains_tracer([x]):
            return asarray(x, cls.dtype)
        return cls.dtype.type(x)

    def __eq__(cls, other) -> bool:
        return other is cls or other == cls.dtype.type

    def __hash__(cls) -> int:
        return hash(cls.dtype.type)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, cls.dtype.type)

    def __repr__(cls) -> str:
        return f"fgrad.numpy.{cls.__name__}"


def _scalar_type(numpy_type) -> _ScalarType:
    return _ScalarType(numpy_type.__name__, (), {"dtype": np.dtype(numpy_type)})


float32 = _scalar_type(np.float32)
float64 = _scalar_type(np.float64)
int32 = _scalar_type(np.int32)
int64 = _scalar_type(np.int64)
bool_ = _scalar_type(np.bool_)


# ---- argument handling -----------------------------------------------------------------------------

def _arg(x):
    """An argument as an fgrad value: tracers, arrays and (weak) Python scalars pass, sequences become arrays."""
    if isinstance(x, (list, tuple)):
        return asarray(x)
    return x


def _contains_tracer(obj) -> bool:
    """Whether a (nested) list, tuple or slice holds a traced value anywhere."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if is_tracer(item):
            return True
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, slice):
            stack.extend((item.start, item.stop, item.step))
    return False


def _check_order(order):
    if order not in ("C", "A", "K", None):
        raise NotImplementedError(f"order={order!r} is not supported: fgrad arrays are row-major (order='C')")


# ---- elementwise arithmetic and functions ----------------------------------------------------------

def _unary(op, name: str):
    def fn(x):
        return op(_arg(x))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"numpy.{name}, elementwise (float functions compute ints in float64).\n\n"
                  f"    >>> fnp.{name}(np.array([0.5, 1.0]))   # doctest: +SKIP\n")
    return fn


def _binary(op, name: str):
    def fn(x1, x2):
        return op(_arg(x1), _arg(x2))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"numpy.{name}, elementwise with numpy broadcasting and promotion (Python scalars are weak).\n\n"
                  f"    >>> fnp.{name}(np.array([1.0, 2.0]), 2.0)   # doctest: +SKIP\n")
    return fn


exp = _unary(ops.exp, "exp")
log = _unary(ops.log, "log")
log1p = _unary(ops.log1p, "log1p")
expm1 = _unary(ops.expm1, "expm1")
sqrt = _unary(ops.sqrt, "sqrt")
sin = _unary(ops.sin, "sin")
cos = _unary(ops.cos, "cos")
tan = _unary(ops.tan, "tan")
tanh = _unary(ops.tanh, "tanh")
abs = _unary(ops.abs, "abs")
absolute = _unary(ops.abs, "absolute")
sign = _unary(ops.sign, "sign")
negative = _unary(ops.neg, "negative")
reciprocal = _unary(ops.reciprocal, "reciprocal")
exp2 = _unary(ops.exp2, "exp2")
log2 = _unary(ops.log2, "log2")
log10 = _unary(ops.log10, "log10")
arcsin = _unary(ops.arcsin, "arcsin")
arccos = _unary(ops.arccos, "arccos")
arctan = _unary(ops.arctan, "arctan")
sinh = _unary(ops.sinh, "sinh")
cosh = _unary(ops.cosh, "cosh")
arcsinh = _unary(ops.arcsinh, "arcsinh")
arccosh = _unary(ops.arccosh, "arccosh")
arctanh = _unary(ops.arctanh, "arctanh")

add = _binary(ops.add, "add")
subtract = _binary(ops.sub, "subtract")
multiply = _binary(ops.mul, "multiply")
divide = _binary(ops.div, "divide")
true_divide = divide
maximum = _binary(ops.maximum, "maximum")
minimum = _binary(ops.minimum, "minimum")
equal = _binary(ops.eq, "equal")
not_equal = _binary(ops.ne, "not_equal")
less = _binary(ops.lt, "less")
less_equal = _binary(ops.le, "less_equal")
greater = _binary(ops.gt, "greater")
greater_equal = _binary(ops.ge, "greater_equal")
arctan2 = _binary(ops.arctan2, "arctan2")
hypot = _binary(ops.hypot, "hypot")


def positive(x):
    """numpy.positive: `x` itself (arrays are immutable, so no copy is needed).

    >>> fnp.positive(np.array([-1.0]))
    array([-1.])
    """
    return _arg(x)


def copy(a):
    """numpy.copy. A traced array is returned as it is (arrays are immutable, so no copy is needed); a concrete
    one is copied, as numpy does.

    >>> fnp.copy(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    a = _arg(a)
    return a if is_tracer(a) else np.array(a, copy=True)


def square(x):
    """numpy.square: x * x, elementwise (ints stay ints).

    >>> fnp.square(np.array([3.0]))
    array([9.])
    """
    return ops.square(_arg(x))


def power(x1, x2):
    """numpy.power. A Python int exponent is an integer_pow (a float32 base stays float32); integer arrays to
    an integer array power compute in float64 (exact while results stay below 2**53).

    >>> fnp.power(np.array([2.0, 3.0]), 2)
    array([4., 9.])
    """
    x1, x2 = _arg(x1), _arg(x2)
    if type(x2) is int:
        return ops.integer_pow(x1, y=x2)
    dtype = result_dtype(x1, x2)
    if _is_scalar_half(x2):
        # numpy computes a power by one scalar 0.5 as sqrt: nan at -inf and -0.0 at -0.0, where pow gives inf
        # and 0.0 (also torch's `t ** 0.5`). The pow primitive is C's pow everywhere (eager and jitted).
        return ops.sqrt(ops.cast(x1, float_dtype(dtype)))
    if dtype.kind in "iu":
        as_float = ops.pow(ops.cast(x1, np.float64), ops.cast(x2, np.float64))
        return ops.cast(round(as_float), dtype)
    return ops.pow(x1, x2)


def _is_scalar_half(x) -> bool:
    """Whether `x` is a concrete scalar (a Python or numpy scalar, or a 0-d array) equal to 0.5."""
    if is_tracer(x) or not isinstance(x, (float, np.floating, np.ndarray)) or np.ndim(x) != 0:
        return False
    return np.asarray(x).dtype.kind == "f" and builtins.bool(x == 0.5)


def floor_divide(x1, x2):
    """numpy.floor_divide (`//`): exact for ints (0 for a zero divisor, as numpy); floats follow numpy's divmod
    exactly (see `_float_divmod`), so 1.0 // 0.1 is 9.0 and inf // 1.5 is nan. Zero derivative.

    >>> fnp.floor_divide(np.array([7, -7]), 2)
    array([ 3, -4])
    >>> fnp.floor_divide(np.array([1.0, np.inf]), np.array([0.1, 1.5]))
    array([ 9., nan])
    """
    x1, x2 = _arg(x1), _arg(x2)
    dtype = _divmod_dtype(x1, x2, "floor_divide")
    if is_float(dtype):
        return stop_gradient(_float_divmod(x1, x2, dtype)[0])
    # div_p floor-divides integer inputs (numpy's floor_divide, 0 for division by zero).
    return ops.div_p.bind(*ops.elementwise_args(x1, x2))


def remainder(x1, x2):
    """numpy.remainder (`%`): the result has the sign of x2. Ints are exact (0 for a zero divisor, as numpy);
    floats follow numpy's divmod exactly (fmod with Python's sign convention, see `_float_divmod`):
    1.0 % inf is 1.0, and a zero remainder takes x2's sign. The derivative is 1 in x1 and -(x1 // x2) in x2
    (the truncated quotient of the rem primitive's rule, plus 1 where the sign was fixed), as JAX's and PyTorch's.

    >>> fnp.remainder(np.array([-3.5, 7.0]), 2.0)
    array([0.5, 1. ])
    """
    x1, x2 = _arg(x1), _arg(x2)
    dtype = _divmod_dtype(x1, x2, "remainder")
    if is_float(dtype):
        return _float_divmod(x1, x2, dtype)[1]
    rest = ops.sub(x1, ops.mul(floor_divide(x1, x2), x2))
    return ops.select(ops.eq(x2, 0), 0, rest)


def fmod(x1, x2):
    """numpy.fmod: the remainder with the sign of x1 (C's fmod; rounded toward zero). Floats bind the rem
    primitive (nan for a zero divisor); ints are exact (0 for a zero divisor, as numpy).

    >>> fnp.fmod(np.array([-7.0, 7.0]), 2.0)
    array([-1.,  1.])
    """
    x1, x2 = _arg(x1), _arg(x2)
    dtype = _divmod_dtype(x1, x2, "fmod")
    if is_float(dtype):
        return ops.rem(*ops.elementwise_args(x1, x2, dtype=dtype))
    rest = remainder(x1, x2)          # the sign of x2: move it to x1's side where they differ
    moved = logical_and(ops.ne(rest, 0), ops.ne(ops.lt(rest, 0), ops.lt(x1, 0)))
    return ops.select(moved, ops.sub(rest, x2), rest)


def _divmod_dtype(x1, x2, name: str):
    dtype = result_dtype(x1, x2)
    if dtype == np.bool_:
        raise TypeError(f"{name} of bool arrays is not supported; cast them to an integer dtype first")
    return dtype


def _float_divmod(x1, x2, dtype):
    """(floor_divide, remainder) of floats, as numpy's npy_divmod computes them (numpy/_core/src/npymath).

    mod = fmod(a, b) is exact. Where b == 0 the quotient is a / b and the remainder fmod's nan. Otherwise
    div = (a - mod) / b is very nearly an integer; where mod is nonzero with a sign other than b's, mod += b
    and div -= 1; a zero mod takes b's sign. The quotient is div snapped to the nearest integer, and a zero
    div takes the sign of a / b. Every branch is computed on values that keep the arithmetic quiet (no inf -
    inf), so eager evaluation raises no numpy warnings.
    """
    a, b = ops.elementwise_args(x1, x2, dtype=dtype)
    fmod_ = ops.rem(a, b)
    div = ops.div(ops.sub(a, fmod_), b)
    sign_fixed = logical_and(ops.ne(fmod_, 0), ops.ne(ops.lt(b, 0), ops.lt(fmod_, 0)))
    mod = ops.select(sign_fixed, ops.add(fmod_, b), fmod_)
    div = ops.select(sign_fixed, ops.sub(div, 1.0), div)
    mod = _zero_with_sign_of(mod, b)
    # Snap div to the nearest integer where it can have a fraction; larger values, inf and nan are kept.
    small, safe = _split_small(div)
    below = _floor(safe)
    snapped = ops.select(ops.gt(ops.sub(safe, below), 0.5), ops.add(below, 1.0), below)
    quotient = ops.select(small, snapped, div)
    div_is_zero = ops.eq(div, 0)
    zero_quotient = ops.mul(ops.select(div_is_zero, ops.div(a, b), 0.0), 0.0)     # copysign(0, a / b)
    quotient = ops.select(div_is_zero, zero_quotient, quotient)
    quotient = ops.select(ops.eq(b, 0), ops.div(a, b), quotient)
    return quotient, mod


def _zero_with_sign_of(mod, b):
    """`mod` with its zeros signed as `b` (numpy's copysign(0, b)), keeping mod's derivative there too.

    No sum or product of zeros flips a zero's sign while passing its derivative through, except this one:
    z - z is +0 (z = stop_gradient(mod) where mod is zero), so -(z - mod) is -0 with derivative +d(mod), and
    copysign(0, b) + -0 is copysign(0, b). Where mod is not zero (b is never 0 or nan there) it is unchanged.
    """
    is_zero = ops.eq(mod, 0)
    zero = ops.select(is_zero, mod, 0.0)
    negative_zero = ops.neg(ops.sub(stop_gradient(zero), zero))
    signed = ops.add(ops.div(0.0, ops.select(is_zero, b, 1.0)), negative_zero)
    return ops.select(is_zero, signed, mod)


mod = remainder


def divmod(x1, x2):
    """numpy.divmod (Python's `divmod(x, y)` on arrays): (floor_divide(x1, x2), remainder(x1, x2)).

    >>> fnp.divmod(np.array([7.0, -7.0]), 2.0)
    (array([ 3., -4.]), array([1., 1.]))
    """
    return floor_divide(x1, x2), remainder(x1, x2)


def logaddexp(x1, x2):
    """numpy.logaddexp: log(exp(x1) + exp(x2)) without overflow, infinities handled as numpy does.

    Written m + log1p(s) with m = max(x1, x2) and s = exp(x1 - m) + exp(x2 - m) - 1, where the -1 is taken
    exactly by expm1 on the larger side: the value is numpy's formula x + log1p(exp(y - x)) (within an ulp:
    numpy's loop calls the scalar libm functions, fgrad's ops the vectorized ufuncs), and the derivative is the
    softmax weight exp(x - out) everywhere, ties included (m's kink cancels). With an infinite input the
    derivative is that limit: 1 for the larger and 0 for the other, 1/2 each for equal infinities (JAX's
    rule gives e for logaddexp(inf, 1.0)'s second input, and nan at (-inf, -inf)).

    >>> fnp.logaddexp(np.array([0.0]), np.array([0.0]))
    array([0.69314718])
    """
    dtype = float_dtype(result_dtype(_arg(x1), _arg(x2)))
    x1, x2 = ops.elementwise_args(_arg(x1), _arg(x2), dtype=dtype)
    m = ops.maximum(x1, x2)
    infinite = isinf(m)      # the larger is +-inf: the answer is m, and x - m would be nan
    x1, x2 = ops.select(infinite, 0.0, x1), ops.select(infinite, 0.0, x2)
    m_finite = ops.maximum(x1, x2)
    d1, d2 = ops.sub(x1, m_finite), ops.sub(x2, m_finite)
    first_larger = ops.ge(x1, x2)
    s = ops.select(first_larger,
                   ops.add(ops.expm1(d1), ops.exp(d2)),
                   ops.add(ops.exp(d1), ops.expm1(d2)))
    return ops.select(infinite, m, ops.add(m_finite, ops.log1p(s)))


def clip(a, a_min=None, a_max=None, *, min=None, max=None):
    """numpy.clip: maximum(a, a_min) then minimum(.., a_max); either bound may be None. At a bound the
    derivative is split with the bound, as maximum/minimum do (JAX's clip).

    >>> fnp.clip(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0)
    array([0. , 0.5, 1. ])
    """
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    out = _arg(a)
    if lo is not None:
        out = ops.maximum(out, _arg(lo))
    if hi is not None:
        out = ops.minimum(out, _arg(hi))
    return out


def where(condition, x=None, y=None):
    """numpy.where: `x` where `condition`, else `y`, broadcast together. The one-argument form is
    `nonzero(condition)` (concrete conditions only).

    >>> fnp.where(np.array([True, False]), 1.0, np.array([5.0, 6.0]))
    array([1., 6.])
    """
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return ops.select(_arg(condition), _arg(x), _arg(y))


def nonzero(a):
    """numpy.nonzero, for concrete arrays: how many elements are nonzero decides the result's shape.

    >>> fnp.nonzero(np.array([0.0, 2.0, 3.0]))
    (array([1, 2]),)
    """
    if _contains_tracer([a]):
        raise TypeError(f"nonzero (and one-argument where) of a traced value {a!r} is not supported: the result's "
                        "shape would depend on the values, which are unknown while tracing. Use "
                        "fnp.where(condition, x, y) to select values and keep the shape")
    return np.nonzero(a)


# ---- logic and tests -------------------------------------------------------------------------------

def _truth(x):
    """`x` as a bool array (nonzero is True), as numpy's logical functions read their inputs."""
    x = _arg(x)
    return x if typeof(x).dtype == np.bool_ else ops.ne(x, 0)


def logical_and(x1, x2):
    """numpy.logical_and, elementwise (a select: no bitwise primitive is needed).

    >>> fnp.logical_and(np.array([True, True]), np.array([True, False]))
    array([ True, False])
    """
    return ops.select(_truth(x1), _truth(x2), False)


def logical_or(x1, x2):
    """numpy.logical_or, elementwise.

    >>> fnp.logical_or(np.array([False, False]), np.array([True, False]))
    array([ True, False])
    """
    return ops.select(_truth(x1), True, _truth(x2))


def logical_not(x):
    """numpy.logical_not, elementwise.

    >>> fnp.logical_not(np.array([True, False]))
    array([False,  True])
    """
    return ops.eq(_truth(x), False)


def logical_xor(x1, x2):
    """numpy.logical_xor, elementwise.

    >>> fnp.logical_xor(np.array([True, True]), np.array([True, False]))
    array([False,  True])
    """
    return ops.ne(_truth(x1), _truth(x2))


def isnan(x):
    """numpy.isnan: NaN is the one value unequal to itself.

    >>> fnp.isnan(np.array([np.nan, 1.0]))
    array([ True, False])
    """
    x = _arg(x)
    return ops.ne(x, x)


def isinf(x):
    """numpy.isinf.

    >>> fnp.isinf(np.array([-np.inf, 1.0]))
    array([ True, False])
    """
    return ops.eq(ops.abs(_arg(x)), np.inf)


def isfinite(x):
    """numpy.isfinite (NaN compares false, so it is not finite).

    >>> fnp.isfinite(np.array([np.nan, np.inf, 1.0]))
    array([False, False,  True])
    """
    return ops.lt(ops.abs(_arg(x)), np.inf)


def _bools_only(name: str, fn, example: str):
    """`&`, `|`, `^`, `~` on bool arrays are the logical functions; fgrad has no bitwise integer primitive."""
    def op(*xs):
        xs = [_arg(x) for x in xs]
        if builtins.any(typeof(x).dtype != np.bool_ for x in xs):
            kinds = ", ".join(str(typeof(x)) for x in xs)
            raise TypeError(f"{name} is supported on bool arrays only (got {kinds}): fgrad has no bitwise integer "
                            "operations. Compare first (e.g. (x > 0) & (x < 1)), or use fnp.logical_and/or/not")
        return fn(*xs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"numpy.{name} on bool arrays (the logical operation).\n\n    >>> {example}\n"
    return op


bitwise_and = _bools_only("bitwise_and", logical_and, "(x > 0) & (x < 1)   # doctest: +SKIP")
bitwise_or = _bools_only("bitwise_or", logical_or, "(x < 0) | (x > 1)   # doctest: +SKIP")
bitwise_xor = _bools_only("bitwise_xor", logical_xor, "(x > 0) ^ (y > 0)   # doctest: +SKIP")
invert = _bools_only("invert", logical_not, "~(x > 0)   # doctest: +SKIP")


# ---- rounding: exact, with zero derivative ---------------------------------------------------------

# Every float64 at or above 2**52 in magnitude (2**23 for float32) is an integer already, so rounding only
# has work to do below it, where the int64 round trip is exact.
_ALL_INTEGERS_FROM = 2.0 ** 52


def _split_small(x):
    """(small, safe): where |x| is below _ALL_INTEGERS_FROM, and x with the other elements (inf, nan, huge, all
    integers already) replaced by 0, so no int cast or inf - inf warns on them."""
    small = ops.lt(ops.abs(x), _ALL_INTEGERS_FROM)
    return small, ops.select(small, x, 0.0)


def _truncated_small(safe):
    """`safe` rounded toward zero through a float -> int64 -> float round trip, keeping the sign of zero."""
    whole = ops.cast(ops.cast(safe, np.int64), typeof(safe).dtype)
    return ops.select(ops.eq(whole, 0.0), ops.mul(safe, 0.0), whole)   # -0.3 -> -0.0, as numpy


def _truncated(x):
    """`x` rounded toward zero; infinities, NaN and values too large to have a fraction pass unchanged. Its
    derivative is zero except on those; the public functions wrap the result in stop_gradient."""
    small, safe = _split_small(x)
    return ops.select(small, _truncated_small(safe), x)


def trunc(x):
    """numpy.trunc: round toward zero (exact, zero derivative; ints are returned as they are).

    >>> fnp.trunc(np.array([-1.7, 2.5]))
    array([-1.,  2.])
    """
    x = _arg(x)
    if not is_float(typeof(x).dtype):
        return x
    return stop_gradient(_truncated(x))


def _floor(x):
    whole = _truncated(x)
    return ops.sub(whole, ops.cast(ops.gt(whole, x), typeof(x).dtype))


def floor(x):
    """numpy.floor (exact, zero derivative; ints are returned as they are).

    >>> fnp.floor(np.array([-1.5, 1.5]))
    array([-2.,  1.])
    """
    x = _arg(x)
    if not is_float(typeof(x).dtype):
        return x
    return stop_gradient(_floor(x))


def ceil(x):
    """numpy.ceil, as -floor(-x) (which keeps numpy's -0.0 for ceil(-0.5)); exact, zero derivative.

    >>> fnp.ceil(np.array([-1.5, 1.5]))
    array([-1.,  2.])
    """
    x = _arg(x)
    if not is_float(typeof(x).dtype):
        return x
    return stop_gradient(ops.neg(_floor(ops.neg(x))))


def _round_half_even(x):
    """Round to the nearest integer, ties to even (numpy's rint), exactly: the fraction x - trunc(x) is exact."""
    small, safe = _split_small(x)
    whole = _truncated_small(safe)
    fraction = ops.abs(ops.sub(safe, whole))
    half = ops.mul(whole, 0.5)
    odd = ops.ne(_truncated_small(half), half)
    away = logical_or(ops.gt(fraction, 0.5), logical_and(ops.eq(fraction, 0.5), odd))
    rounded = ops.select(away, ops.add(whole, ops.sign(safe)), whole)
    return ops.select(small, rounded, x)


def round(a, decimals=0):
    """numpy.round: half to even, computed as numpy does (scale by 10**decimals, rint, scale back). Works on
    traced and concrete values alike; the derivative is zero (a stop_gradient around an exact computation).

    >>> fnp.round(np.array([0.5, 1.5, 2.5, -0.5, 2.675]), 0)
    array([ 0.,  2.,  2., -0.,  3.])
    """
    a = _arg(a)
    dtype = typeof(a).dtype
    decimals = int(decimals)
    if not is_float(dtype):
        if decimals >= 0:
            return a
        return ops.cast(round(ops.cast(a, np.float64), decimals), dtype)
    if decimals == 0:
        return stop_gradient(_round_half_even(a))
    scale = 10.0 ** builtins.abs(decimals)
    if decimals > 0:
        return stop_gradient(ops.div(_round_half_even(ops.mul(a, scale)), scale))
    return stop_gradient(ops.mul(_round_half_even(ops.div(a, scale)), scale))


around = round


# ---- reductions ------------------------------------------------------------------------------------

def _reduction_axes(x, axis) -> tuple:
    return normalize_axes(axis, typeof(x).ndim)


def _keepdims(out, axes: tuple, keepdims: bool):
    return ops.expand_dims(out, axes) if keepdims and axes else out


def _count(x, axes: tuple) -> int:
    shape = typeof(x).shape
    return math.prod(shape[a] for a in axes)


def _accumulation_dtype(x, dtype):
    """`x` in the dtype numpy sums and multiplies it in: `dtype` if given; bool and int32 count in int64."""
    if dtype is not None:
        return ops.cast(x, dtype)
    if typeof(x).dtype in (np.bool_, np.int32):
        return ops.cast(x, np.int64)
    return x


def sum(a, axis=None, dtype=None, keepdims=False):
    """numpy.sum over `axis` (int, tuple or None for all).

    >>> fnp.sum(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([4., 6.])
    """
    a = _accumulation_dtype(_arg(a), dtype)
    axes = _reduction_axes(a, axis)
    return _keepdims(ops.reduce_sum(a, axes), axes, keepdims)


def mean(a, axis=None, dtype=None, keepdims=False):
    """numpy.mean: the sum divided by the count (ints compute in float64).

    >>> fnp.mean(np.array([1, 2, 3, 4]))
    np.float64(2.5)
    """
    a = _arg(a)
    a = ops.cast(a, dtype if dtype is not None else float_dtype(typeof(a).dtype))
    axes = _reduction_axes(a, axis)
    return _keepdims(ops.div(ops.reduce_sum(a, axes), _count(a, axes)), axes, keepdims)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """numpy.var: the mean squared deviation, divided by count - ddof, in numpy's order of operations.

    >>> fnp.var(np.array([1.0, 2.0, 3.0, 4.0]), ddof=1)
    np.float64(1.6666666666666667)
    """
    a = _arg(a)
    a = ops.cast(a, dtype if dtype is not None else float_dtype(typeof(a).dtype))
    axes = _reduction_axes(a, axis)
    count = _count(a, axes)
    mean_kept = _keepdims(ops.div(ops.reduce_sum(a, axes), count), axes, True)
    centered = ops.sub(a, mean_kept)
    squares = ops.mul(centered, centered)
    return _keepdims(ops.div(ops.reduce_sum(squares, axes), builtins.max(count - ddof, 0)), axes, keepdims)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """numpy.std: sqrt(var).

    >>> fnp.std(np.array([1.0, 3.0]))
    np.float64(1.0)
    """
    return ops.sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def max(a, axis=None, keepdims=False):
    """numpy.max (NaN propagates; tied maxima share the derivative).

    >>> fnp.max(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([5., 3.])
    """
    a = _arg(a)
    axes = _reduction_axes(a, axis)
    return _keepdims(ops.reduce_max(a, axes), axes, keepdims)


def min(a, axis=None, keepdims=False):
    """numpy.min (NaN propagates; tied minima share the derivative).

    >>> fnp.min(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=0)
    array([1., 2.])
    """
    a = _arg(a)
    axes = _reduction_axes(a, axis)
    return _keepdims(ops.reduce_min(a, axes), axes, keepdims)


amax = max
amin = min


def _take_last(x, start: int, stop: int):
    """x[..., start:stop]."""
    shape = typeof(x).shape
    return ops.static_slice(x, (0,) * (len(shape) - 1) + (start,), shape[:-1] + (stop,))


def _product_of_last_axis(x):
    """The product along the last axis by pairwise halving: only multiplications, so the derivative is exact
    with zeros in the input (nothing divides by the product), in log2(n) steps."""
    shape = typeof(x).shape
    n = shape[-1]
    if n == 0:
        return ops.full(shape[:-1], 1, typeof(x).dtype)
    while n > 1:
        half = n // 2
        pairs = ops.mul(_take_last(x, 0, half), _take_last(x, half, 2 * half))
        x = pairs if n % 2 == 0 else ops.concatenate([pairs, _take_last(x, 2 * half, n)], axis=-1)
        n -= half
    return ops.squeeze(x, len(shape) - 1)


def prod(a, axis=None, dtype=None, keepdims=False):
    """numpy.prod. Multiplies pairwise (a tree, not numpy's left-to-right loop, so float results can differ
    in the last place); the gradient is exact with zeros in the input.

    >>> fnp.prod(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2., 12.])
    """
    a = _accumulation_dtype(_arg(a), dtype)
    axes = _reduction_axes(a, axis)
    if not axes:
        return a
    shape = typeof(a).shape
    kept = [i for i in range(len(shape)) if i not in axes]
    rows = ops.reshape(ops.transpose(a, kept + list(axes)),
                       [shape[i] for i in kept] + [math.prod(shape[i] for i in axes)])
    return _keepdims(_product_of_last_axis(rows), axes, keepdims)


def all(a, axis=None, keepdims=False):
    """numpy.all: no element is zero (False).

    >>> fnp.all(np.array([[True, False], [True, True]]), axis=1)
    array([False,  True])
    """
    zeros = ops.cast(logical_not(a), np.int64)
    axes = _reduction_axes(zeros, axis)
    return _keepdims(ops.eq(ops.reduce_sum(zeros, axes), 0), axes, keepdims)


def any(a, axis=None, keepdims=False):
    """numpy.any: some element is nonzero (True).

    >>> fnp.any(np.array([[True, False], [False, False]]), axis=1)
    array([ True, False])
    """
    nonzeros = ops.cast(_truth(a), np.int64)
    axes = _reduction_axes(nonzeros, axis)
    return _keepdims(ops.gt(ops.reduce_sum(nonzeros, axes), 0), axes, keepdims)


def cumsum(a, axis=None, dtype=None):
    """numpy.cumsum along `axis` (of the flattened array when None); bool and int32 count in int64.

    >>> fnp.cumsum(np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    a = _arg(a)
    if dtype is not None:
        a = ops.cast(a, dtype)
    return ops.cumsum(a, axis)


def cumprod(a, axis=None, dtype=None):
    """numpy.cumprod along `axis` (of the flattened array when None); bool and int32 multiply in int64. Its
    gradient is exact where `a` has zeros.

    >>> fnp.cumprod(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.])
    """
    a = _arg(a)
    if dtype is not None:
        a = ops.cast(a, dtype)
    return ops.cumprod(a, axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """numpy.sort along `axis` (of the flattened array when None): stable, NaNs last. The gradient moves with
    the elements.

    >>> fnp.sort(np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    if order is not None:
        raise TypeError("fnp.sort does not take `order` (structured arrays are not supported)")
    return ops.sort(_arg(a), axis)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """numpy.argsort along `axis` (of the flattened array when None), as int64: stable (equal elements keep
    their order, whatever `kind` says), NaNs last. Indices carry no derivative.

    >>> fnp.argsort(np.array([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    if order is not None:
        raise TypeError("fnp.argsort does not take `order` (structured arrays are not supported)")
    return ops.argsort(_arg(a), axis)


def argmax(a, axis=None, keepdims=False):
    """numpy.argmax: the first index of the maximum (of the flattened array when axis is None), int64.

    >>> fnp.argmax(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([1, 0])
    """
    a = _arg(a)
    out = ops.argmax(a, axis)
    if not keepdims:
        return out
    ndim = typeof(a).ndim
    if axis is None:
        return ops.reshape(out, (1,) * ndim)
    return ops.expand_dims(out, normalize_axis(int(axis), ndim))


def argmin(a, axis=None, keepdims=False):
    """numpy.argmin: the first index of the minimum, as the argmax of the negated values (NaN still wins,
    as in numpy; bools negate by logical_not).

    >>> fnp.argmin(np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([0, 1])
    """
    a = _arg(a)
    flipped = logical_not(a) if typeof(a).dtype == np.bool_ else ops.neg(a)
    return argmax(flipped, axis=axis, keepdims=keepdims)


# ---- shapes ----------------------------------------------------------------------------------------

def shape(a) -> tuple:
    """numpy.shape.

    >>> fnp.shape(np.zeros((2, 3)))
    (2, 3)
    """
    return typeof(_arg(a)).shape


def ndim(a) -> int:
    """numpy.ndim.

    >>> fnp.ndim(np.zeros((2, 3)))
    2
    """
    return typeof(_arg(a)).ndim


def size(a) -> int:
    """numpy.size.

    >>> fnp.size(np.zeros((2, 3)))
    6
    """
    return typeof(_arg(a)).size


def reshape(a, shape=None, order="C", *, newshape=None):
    """numpy.reshape (one -1 allowed; row-major only).

    >>> fnp.reshape(np.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    _check_order(order)
    return ops.reshape(_arg(a), shape if shape is not None else newshape)


def ravel(a, order="C"):
    """numpy.ravel: the row-major flattened array.

    >>> fnp.ravel(np.ones((2, 3))).shape
    (6,)
    """
    _check_order(order)
    return ops.reshape(_arg(a), (-1,))


def transpose(a, axes=None):
    """numpy.transpose: reverse the axes, or permute them by `axes`.

    >>> fnp.transpose(np.ones((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    return ops.transpose(_arg(a), axes)


def swapaxes(a, axis1, axis2):
    """numpy.swapaxes.

    >>> fnp.swapaxes(np.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    a = _arg(a)
    ndim_ = typeof(a).ndim
    perm = list(range(ndim_))
    i, j = normalize_axis(int(axis1), ndim_), normalize_axis(int(axis2), ndim_)
    perm[i], perm[j] = perm[j], perm[i]
    return ops.transpose(a, perm)


def moveaxis(a, source, destination):
    """numpy.moveaxis: move axes to new positions, the others keep their order.

    >>> fnp.moveaxis(np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    a = _arg(a)
    ndim_ = typeof(a).ndim
    source = [source] if isinstance(source, (int, np.integer)) else list(source)
    destination = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    source = [normalize_axis(int(s), ndim_) for s in source]
    destination = [normalize_axis(int(d), ndim_) for d in destination]
    order = [axis for axis in range(ndim_) if axis not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return ops.transpose(a, order)


def expand_dims(a, axis):
    """numpy.expand_dims: size-1 axes at `axis` (positions in the result).

    >>> fnp.expand_dims(np.ones(3), (0, 2)).shape
    (1, 3, 1)
    """
    return ops.expand_dims(_arg(a), axis)


def squeeze(a, axis=None):
    """numpy.squeeze: drop size-1 axes (all of them when axis is None).

    >>> fnp.squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    return ops.squeeze(_arg(a), axis)


def broadcast_to(array, shape):
    """numpy.broadcast_to.

    >>> fnp.broadcast_to(np.array([1.0, 2.0]), (3, 2)).shape
    (3, 2)
    """
    return ops.broadcast_to(_arg(array), shape)


def flip(m, axis=None):
    """numpy.flip: reverse the order of elements along `axis` (int, tuple, or None for every axis).

    >>> fnp.flip(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([[2., 1.],
           [4., 3.]])
    """
    m = _arg(m)
    axes = _reduction_axes(m, axis)
    return _getitem(m, tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(typeof(m).ndim)))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """numpy.diagonal: the elements a[..., i, i + offset] of the (axis1, axis2) planes, along a new last axis.

    >>> fnp.diagonal(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([1., 4.])
    """
    a = _arg(a)
    shape_ = typeof(a).shape
    axis1, axis2 = normalize_axis(int(axis1), len(shape_)), normalize_axis(int(axis2), len(shape_))
    if axis1 == axis2:
        raise ValueError("axis1 and axis2 cannot be the same")
    offset = int(offset)
    rows, cols = shape_[axis1], shape_[axis2]
    n = builtins.max(0, builtins.min(rows + builtins.min(offset, 0), cols - builtins.max(offset, 0)))
    planes = moveaxis(a, (axis1, axis2), (-2, -1))
    i = np.arange(n, dtype=np.int64) - builtins.min(offset, 0)
    return _getitem(planes, (Ellipsis, i, i + offset))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """numpy.trace: the sum along the diagonal (see `diagonal`).

    >>> fnp.trace(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.float64(5.0)
    """
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """numpy.diag: the k-th diagonal of a 2-D array, or a 2-D array with the 1-D `v` on its k-th diagonal.

    >>> fnp.diag(np.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    v = _arg(v)
    t = typeof(v)
    if t.ndim == 2:
        return diagonal(v, k)
    if t.ndim != 1:
        raise ValueError(f"Input must be 1- or 2-d, got an array of shape {t.shape}")
    k = int(k)
    n = t.shape[0] + builtins.abs(k)
    i = np.arange(t.shape[0], dtype=np.int64) - builtins.min(k, 0)
    return _IndexUpdateRef(zeros((n, n), t.dtype), (i, i + k)).set(v)


def diff(a, n=1, axis=-1):
    """numpy.diff: the n-th discrete difference a[1:] - a[:-1] along `axis` (bool arrays: a[1:] != a[:-1]).

    >>> fnp.diff(np.array([1.0, 4.0, 9.0]))
    array([3., 5.])
    """
    a = _arg(a)
    ndim_ = typeof(a).ndim
    if ndim_ == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis(int(axis), ndim_)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    later = tuple(slice(1, None) if d == axis else slice(None) for d in range(ndim_))
    earlier = tuple(slice(None, -1) if d == axis else slice(None) for d in range(ndim_))
    for _ in range(n):
        after, before = _getitem(a, later), _getitem(a, earlier)
        a = not_equal(after, before) if typeof(a).dtype == np.bool_ else subtract(after, before)
    return a


# ---- joining ---------------------------------------------------------------------------------------

def concatenate(arrays, axis=0, dtype=None):
    """numpy.concatenate (axis=None joins the flattened arrays); dtypes promote as numpy's.

    >>> fnp.concatenate([np.zeros(2), np.ones(1)])
    array([0., 0., 1.])
    """
    xs = [_arg(x) for x in arrays]
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    if dtype is not None:
        xs = [ops.cast(x, dtype) for x in xs]
    return ops.concatenate(xs, axis)


concat = concatenate


def stack(arrays, axis=0):
    """numpy.stack: join arrays of one shape along a new axis.

    >>> fnp.stack([np.zeros(2), np.ones(2)], axis=1).shape
    (2, 2)
    """
    xs = [_arg(x) for x in arrays]
    if not xs:
        raise ValueError("need at least one array to stack")
    shapes = [typeof(x).shape for x in xs]
    if builtins.any(s != shapes[0] for s in shapes):
        listed = ", ".join(str(s) for s in shapes)
        raise ValueError(f"all input arrays must have the same shape to stack, got shapes {listed}")
    axis = normalize_axis(int(axis), len(shapes[0]) + 1)
    return ops.concatenate([ops.expand_dims(x, axis) for x in xs], axis)


def _atleast_1d(x):
    return ops.reshape(x, (1,)) if typeof(x).ndim == 0 else x


def _atleast_2d(x):
    ndim_ = typeof(x).ndim
    if ndim_ == 0:
        return ops.reshape(x, (1, 1))
    return ops.expand_dims(x, 0) if ndim_ == 1 else x


def vstack(tup):
    """numpy.vstack: rows on top of each other (1-D arrays become rows).

    >>> fnp.vstack([np.zeros(2), np.ones(2)]).shape
    (2, 2)
    """
    return ops.concatenate([_atleast_2d(_arg(x)) for x in tup], 0)


def hstack(tup):
    """numpy.hstack: along the second axis (the first for 1-D arrays).

    >>> fnp.hstack([np.zeros(2), np.ones(3)]).shape
    (5,)
    """
    xs = [_atleast_1d(_arg(x)) for x in tup]
    if not xs:
        raise ValueError("need at least one array to concatenate")
    return ops.concatenate(xs, 0 if typeof(xs[0]).ndim == 1 else 1)


# ---- creation --------------------------------------------------------------------------------------

def _creation_dtype(dtype) -> np.dtype:
    return canonical_dtype(np.float64 if dtype is None else dtype)


def zeros(shape, dtype=None):
    """numpy.zeros (float64 by default); a `full` equation when traced.

    >>> fnp.zeros((2,), fnp.int32)
    array([0, 0], dtype=int32)
    """
    return ops.full(shape, 0, _creation_dtype(dtype))


def ones(shape, dtype=None):
    """numpy.ones (float64 by default).

    >>> fnp.ones(2)
    array([1., 1.])
    """
    return ops.full(shape, 1, _creation_dtype(dtype))


def full(shape, fill_value, dtype=None):
    """numpy.full: the dtype defaults to fill_value's (a Python float gives float64). A traced fill value
    is broadcast.

    >>> fnp.full((2,), 7)
    array([7, 7])
    """
    fill_value = _arg(fill_value)
    dtype = canonical_dtype(dtype) if dtype is not None else typeof(fill_value).dtype
    if is_tracer(fill_value):
        return ops.broadcast_to(ops.cast(fill_value, dtype), shape)
    if np.ndim(fill_value) > 0:
        return np.full(shape, fill_value, dtype=dtype)
    return ops.full(shape, fill_value, dtype)


def _like(a, dtype, shape):
    t = typeof(_arg(a))
    return (t.shape if shape is None else shape), (t.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    """numpy.zeros_like: zeros of a's shape and dtype.

    >>> fnp.zeros_like(np.ones(2, np.float32))
    array([0., 0.], dtype=float32)
    """
    shape, dtype = _like(a, dtype, shape)
    return ops.full(shape, 0, dtype)


def ones_like(a, dtype=None, shape=None):
    """numpy.ones_like.

    >>> fnp.ones_like(np.zeros(2))
    array([1., 1.])
    """
    shape, dtype = _like(a, dtype, shape)
    return ops.full(shape, 1, dtype)


def full_like(a, fill_value, dtype=None, shape=None):
    """numpy.full_like: fill_value cast to a's dtype.

    >>> fnp.full_like(np.zeros(2, np.int64), 2.7)
    array([2, 2])
    """
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def _static_number(value, what: str):
    if is_tracer(value):
        raise TypeError(f"the {what} of arange must be static (a Python number), got {value!r}: the array's length "
                        "would depend on a traced value. Use fnp.arange(n) * step + start with a static n")
    return value


def arange(start, stop=None, step=None, dtype=None):
    """numpy.arange. Integer ranges and arange(n) are iota equations; other float ranges are numpy's exact
    values, a constant (the bounds are static anyway).

    >>> fnp.arange(1, 7, 2)
    array([1, 3, 5])
    """
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    start, stop, step = (_static_number(v, w) for v, w in ((start, "start"), (stop, "stop"), (step, "step")))
    if step == 0:
        raise ZeroDivisionError("arange: the step is zero")
    dtype = canonical_dtype(dtype if dtype is not None else np.result_type(start, stop, step))
    length = builtins.max(0, math.ceil((stop - start) / step))
    if dtype.kind == "i":
        values = ops.iota((length,), dtype)
        values = values if step == 1 else ops.mul(values, int(step))
        return values if start == 0 else ops.add(values, int(start))
    if start == 0 and step == 1:
        return ops.iota((length,), dtype)
    return np.arange(start, stop, step, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """numpy.linspace, in numpy's arithmetic (iota * step + start, the last sample set to stop). start and
    stop may be arrays or traced values; the samples run along a new axis `axis`.

    >>> fnp.linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = _arg(start), _arg(stop)
    div = (num - 1) if endpoint else num
    dt = float_dtype(result_dtype(start, stop))
    start, stop = ops.cast(start, dt), ops.cast(stop, dt)
    concrete = not (is_tracer(start) or is_tracer(stop))
    # Concrete bounds compute their step with numpy, so it stays a constant inside a trace.
    delta = np.subtract(stop, start, dtype=dt) if concrete else ops.sub(stop, start)
    extra = typeof(delta).ndim
    samples = ops.reshape(ops.iota((num,), dt), (num,) + (1,) * extra)
    if div > 0:
        step = np.divide(delta, div, dtype=dt) if concrete else ops.div(delta, div)
        step_is_zero = concrete and np.any(step == 0)
        # numpy divides first when the step underflows to zero (denormal deltas), to keep the samples apart.
        y = ops.mul(ops.div(samples, div), delta) if step_is_zero else ops.mul(samples, step)
    else:
        step = np.nan
        y = ops.mul(samples, delta)
    y = ops.add(y, start)
    if endpoint and num > 1:
        last = ops.eq(ops.iota((num,) + (1,) * extra, np.int64), num - 1)
        y = ops.select(last, stop, y)
    y = moveaxis(y, 0, axis) if axis != 0 else y
    if dtype is not None:
        dtype = canonical_dtype(dtype)
        y = ops.cast(floor(y) if dtype.kind == "i" else y, dtype)
    return (y, step) if retstep else y


def eye(N, M=None, k=0, dtype=None):
    """numpy.eye: ones on the k-th diagonal (float64 by default).

    >>> fnp.eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    shape = (int(N), int(N if M is None else M))
    on_diagonal = ops.eq(ops.add(ops.iota(shape, np.int64, 0), int(k)), ops.iota(shape, np.int64, 1))
    return ops.cast(on_diagonal, _creation_dtype(dtype))


def identity(n, dtype=None):
    """numpy.identity.

    >>> fnp.identity(2)
    array([[1., 0.],
           [0., 1.]])
    """
    return eye(n, dtype=dtype)


# ---- array construction ----------------------------------------------------------------------------

def _nested_leaves(seq) -> list:
    leaves, stack = [], [seq]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            leaves.append(item)
    return leaves


def _weak_result_dtype(leaves) -> np.dtype:
    """result_dtype over many leaves: each distinct strong dtype once, Python scalars (weak) once per kind."""
    operands = [promotion_operand(x) for x in leaves]
    strong = {x for x in operands if type(x) not in PYTHON_SCALARS}
    weak = {type(x): x for x in operands if type(x) in PYTHON_SCALARS}
    return canonical_dtype(np.result_type(*strong, *weak.values()))


def _stack_nested(seq, dtype):
    items = [_stack_nested(item, dtype) if isinstance(item, (list, tuple)) else ops.cast(item, dtype)
             for item in seq]
    return stack(items)


def asarray(a, dtype=None):
    """numpy.asarray; a (nested) list holding traced values stacks them into one traced array.

    >>> fnp.asarray([1.0, 2.0], dtype=fnp.float32)
    array([1., 2.], dtype=float32)
    """
    if is_tracer(a):
        return a if dtype is None else ops.cast(a, dtype)
    if isinstance(a, (list, tuple)) and _contains_tracer(a):
        leaves = _nested_leaves(a)
        return _stack_nested(a, canonical_dtype(dtype) if dtype is not None else _weak_result_dtype(leaves))
    return np.asarray(a, dtype=dtype)


def array(object, dtype=None, copy=True, ndmin=0):
    """numpy.array (traced values inside lists are stacked, as in asarray).

    >>> fnp.array([[1, 2]], ndmin=3).shape
    (1, 1, 2)
    """
    if is_tracer(object) or (isinstance(object, (list, tuple)) and _contains_tracer(object)):
        out = asarray(object, dtype)
    else:
        out = np.array(object, dtype=dtype, copy=copy)
    shape_ = typeof(out).shape
    if len(shape_) < ndmin:
        out = ops.reshape(out, (1,) * (ndmin - len(shape_)) + shape_)
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """numpy.allclose, on concrete values only: it returns a Python bool.

    >>> fnp.allclose(np.array([1.0]), np.array([1.0 + 1e-9]))
    True
    """
    if _contains_tracer([a, b]):
        raise TypeError(
            "fnp.allclose needs concrete values: it returns a Python bool, and a traced function cannot branch on its "
            "arrays' values. Call it on the results outside the traced function, or compute the test as an array: "
            "fnp.all(fnp.abs(a - b) <= atol + rtol * fnp.abs(b))")
    return builtins.bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---- indexing --------------------------------------------------------------------------------------

class _BoolMask:
    """A concrete boolean index, kept whole until the Ellipsis is expanded (it spans mask.ndim axes)."""
    __slots__ = ("mask",)

    def __init__(self, mask):
        self.mask = mask


def _index_entry(item):
    """One entry of an index, classified: None, Ellipsis, a slice, an int, a _BoolMask or an integer array."""
    if item is None or item is Ellipsis:
        return item
    if isinstance(item, slice):
        if _contains_tracer(item):
            raise IndexError(f"slice bounds must be static Python ints, got a traced bound in {item}: a slice's "
                             "length cannot depend on traced values. Index with a traced integer array instead, "
                             "e.g. x[i + fnp.arange(k)] for a window of static length k")
        return item
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("a bool scalar as an index (x[True]) is not supported; use x[None] to add an axis")
    if isinstance(item, (int, np.integer)):
        return int(item)
    if not (is_tracer(item) or isinstance(item, (list, tuple, np.ndarray))):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None (fnp.newaxis) and integer or boolean "
                         f"arrays are valid indices, got {item!r}")
    index = asarray(item)
    t = typeof(index)
    if t.dtype == np.bool_:
        if is_tracer(index):
            raise IndexError(
                f"boolean mask indexing with a traced mask {index!r} is not supported: the result's shape would "
                "depend on how many elements are True, which is unknown while tracing. Use fnp.where(mask, x, 0) to "
                "keep the shape (and reduce with a sum), or pass the mask as a concrete numpy array")
        if t.ndim == 0:
            raise IndexError("a 0-d boolean index (x[np.True_]) is not supported; use x[None] to add an axis")
        return _BoolMask(index)
    if t.dtype.kind in "iu":
        return index if is_tracer(index) or t.ndim else int(index)
    if not is_tracer(index) and index.size == 0:
        return index.astype(np.int64)        # x[[]] selects nothing, as in numpy
    raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got {t}")


def _axes_used(entry) -> int:
    if entry is None or entry is Ellipsis:
        return 0
    return entry.mask.ndim if type(entry) is _BoolMask else 1


def _expand_index(index, shape: tuple) -> list:
    """The index as one entry per axis (plus Nones): Ellipsis filled in, masks turned into integer arrays."""
    entries = [_index_entry(item) for item in (index if isinstance(index, tuple) else (index,))]
    used = builtins.sum(_axes_used(entry) for entry in entries)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but {used} were indexed")
    ellipses = [i for i, entry in enumerate(entries) if entry is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [slice(None)] * (len(shape) - used)
    if ellipses:
        entries[ellipses[0]:ellipses[0] + 1] = fill
    else:
        entries += fill
    out, axis = [], 0
    for entry in entries:
        if type(entry) is _BoolMask:
            mask = entry.mask
            covered = shape[axis:axis + mask.ndim]
            if mask.shape != covered:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed axes of shape "
                                 f"{covered} (array of shape {shape})")
            out.extend(np.nonzero(mask))      # a k-d mask is k integer arrays, adjacent
            axis += mask.ndim
        else:
            out.append(entry)
            axis += _axes_used(entry)
    return out


def _insert_new_axes(x, entries: list):
    """Turn each None into a size-1 axis of x indexed by `:` (numpy places it the same way)."""
    if not builtins.any(entry is None for entry in entries):
        return x, entries
    shape, out, axis = [], [], 0
    for entry in entries:
        if entry is None:
            shape.append(1)
            out.append(slice(None))
        else:
            shape.append(typeof(x).shape[axis])
            out.append(entry)
            axis += 1
    return ops.reshape(x, shape), out


def _is_index_array(entry) -> bool:
    return is_tracer(entry) or isinstance(entry, np.ndarray)


def _checked_int(i: int, dim: int, axis: int) -> int:
    if not -dim <= i < dim:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
    return i % dim


def _basic_indexing(x, entries: list):
    """Apply the slices (one static_slice; negative steps as a gather) and int indices (slice, then squeeze)."""
    shape = typeof(x).shape
    starts, stops, steps, reversed_axes, int_axes = [], [], [], [], []
    for axis, (entry, dim) in enumerate(zip(entries, shape)):
        start, stop, step = 0, dim, 1
        if isinstance(entry, slice):
            start, stop, step = entry.indices(dim)
            if step < 0:
                reversed_axes.append((axis, np.arange(start, stop, step, dtype=np.int64)))
                start, stop, step = 0, dim, 1
        elif type(entry) is int:
            start = _checked_int(entry, dim, axis)
            stop = start + 1
            int_axes.append(axis)
        starts.append(start)
        stops.append(stop)
        steps.append(step)
    x = ops.static_slice(x, starts, stops, steps)
    for axis, positions in reversed_axes:
        x = ops.gather(x, positions, axis)
    return ops.squeeze(x, int_axes) if int_axes else x


def _nonnegative_index(index, dim: int, axis: int):
    """An integer index array with negative entries counted from the end (concrete ones bounds-checked)."""
    if is_tracer(index):
        index = ops.cast(index, np.int64)
        return ops.select(ops.lt(index, 0), ops.add(index, dim), index)
    bad = index[(index < -dim) | (index >= dim)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {dim}")
    return np.where(index < 0, index + dim, index).astype(np.int64)


def _linear_index(indices: list, dims: list):
    """The row-major position in the merged axes of size prod(dims) of each (broadcast) multi-index."""
    strides = [math.prod(dims[j + 1:]) for j in range(len(dims))]
    if not builtins.any(is_tracer(index) for index in indices):
        # numpy, not ops: inside a trace an op on constants would still record equations.
        return builtins.sum(index * stride for index, stride in zip(indices, strides))
    linear = None
    for index, stride in zip(indices, strides):
        term = ops.mul(index, stride) if stride != 1 else index
        linear = term if linear is None else ops.add(linear, term)
    return linear


def _advanced_indexing(x, entries: list, advanced: list):
    """Integer-array indices: one gather. Several indices merge their axes into one and index it with the
    linear position; numpy puts the broadcast index dimensions in place of adjacent indexed axes, and first
    when the indexed axes are separated by a slice."""
    shape = typeof(x).shape
    if len(advanced) == 1:
        return ops.gather(x, entries[advanced[0]], advanced[0])
    indices = [_nonnegative_index(entries[a], shape[a], a) for a in advanced]
    first = advanced[0]
    if advanced != list(range(first, advanced[-1] + 1)):
        x = ops.transpose(x, advanced + [a for a in range(len(shape)) if a not in advanced])
        first = 0
    dims = [shape[a] for a in advanced]
    moved = typeof(x).shape
    x = ops.reshape(x, moved[:first] + (math.prod(dims),) + moved[first + len(dims):])
    return ops.gather(x, _linear_index(indices, dims), first)


def _getitem(x, index):
    """numpy's `x[index]` on fgrad values: ints, slices (negative steps too), None, Ellipsis, integer arrays
    (numpy, lists or traced, several at once) and concrete boolean masks."""
    x = _arg(x)
    entries = _expand_index(index, typeof(x).shape)
    x, entries = _insert_new_axes(x, entries)
    if builtins.any(_is_index_array(entry) for entry in entries):
        # With an integer array present, int indices are advanced indices too (their axis joins the broadcast).
        entries = [np.asarray(entry, np.int64) if type(entry) is int else entry for entry in entries]
    advanced = [axis for axis, entry in enumerate(entries) if _is_index_array(entry)]
    x = _basic_indexing(x, entries)
    return _advanced_indexing(x, entries, advanced) if advanced else x


def take(a, indices, axis=None, mode=None):
    """numpy.take: elements at `indices` along `axis` (of the flattened array when None). mode 'clip' clamps
    indices into range and 'wrap' wraps them; the default checks concrete indices.

    >>> fnp.take(np.array([[1.0, 2.0], [3.0, 4.0]]), [1, 0], axis=1)
    array([[2., 1.],
           [4., 3.]])
    """
    a, indices = _arg(a), _arg(indices)
    if axis is None:
        a, axis = ravel(a), 0
    if isinstance(indices, (int, np.integer)):
        indices = np.asarray(indices, np.int64)
    dim = typeof(a).shape[normalize_axis(int(axis), typeof(a).ndim)]
    # Concrete indices are adjusted with numpy, so they stay constants inside a trace.
    if mode == "clip":
        indices = clip(indices, 0, dim - 1) if is_tracer(indices) else np.clip(indices, 0, dim - 1)
    elif mode == "wrap":
        indices = remainder(indices, dim) if is_tracer(indices) else np.remainder(indices, dim)
    elif mode not in (None, "raise"):
        raise ValueError(f"take mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    return ops.gather(a, indices, axis)


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis: indices shaped like arr (broadcasting on the other axes) pick along `axis`.

    >>> fnp.take_along_axis(np.array([[10.0, 30.0, 20.0]]), np.array([[1, 2]]), axis=1)
    array([[30., 20.]])
    """
    arr, indices = _arg(arr), _arg(indices)
    if axis is None:
        arr, axis = ravel(arr), 0
    shape_ = typeof(arr).shape
    if typeof(indices).ndim != len(shape_):
        raise ValueError(f"`indices` and `arr` must have the same number of dimensions, got shapes "
                         f"{typeof(indices).shape} and {shape_}")
    axis = normalize_axis(int(axis), len(shape_))
    index = tuple(indices if d == axis else
                  np.arange(n, dtype=np.int64).reshape([n if k == d else 1 for k in range(len(shape_))])
                  for d, n in enumerate(shape_))
    return _getitem(arr, index)


# ---- .at[]: functional updates ---------------------------------------------------------------------

def _selected_positions(shape: tuple, index):
    """The flat (row-major) positions of the elements `x[index]` selects, shaped like `x[index]`."""
    size_ = math.prod(shape)
    if not _contains_tracer(index):
        return np.arange(size_, dtype=np.int64).reshape(shape)[index]
    return _getitem(ops.reshape(ops.iota((size_,), np.int64), shape), index)


def _occurrence_rounds(positions: np.ndarray) -> list:
    """Split flat update slots into rounds with distinct targets: round r holds each target's r-th update,
    so applying the rounds in order repeats numpy's sequential np.multiply.at exactly."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    slots = np.arange(positions.size)
    group_start = np.maximum.accumulate(np.where(np.r_[True, ordered[1:] != ordered[:-1]], slots, 0))
    occurrence = np.empty_like(slots)
    occurrence[order] = slots - group_start
    return [np.flatnonzero(occurrence == r) for r in range(int(occurrence.max()) + 1)]


def _multiply_at(flat, positions, values):
    """flat with flat[positions] *= values, every repeated position multiplied by each of its values."""
    dtype = typeof(flat).dtype
    values = ops.reshape(ops.broadcast_to(ops.cast(_arg(values), dtype), typeof(positions).shape), (-1,))
    if not is_tracer(positions):
        positions = np.reshape(positions, -1)       # numpy, not an op: inside a trace an op would be traced
        for slots in (_occurrence_rounds(positions) if positions.size else []):
            targets = positions[slots]
            scaled = ops.mul(ops.gather(flat, targets, 0), ops.gather(values, slots, 0))
            flat = ops.scatter(flat, targets, scaled, 0)
        return flat
    # Traced positions: each element's factor is the product of the values aimed at it (a size x updates
    # table; the repeats cannot be known at trace time).
    positions = ops.reshape(positions, (-1,))
    hits = ops.eq(ops.expand_dims(ops.iota(typeof(flat).shape, np.int64), 1), ops.expand_dims(positions, 0))
    factors = ops.select(hits, ops.expand_dims(values, 0), 1)
    return ops.mul(flat, prod(factors, axis=1))


class _IndexUpdateRef:
    """`x.at[index]`, waiting for the update: .set, .add, .multiply or .get."""
    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"{self.array!r}.at[{self.index!r}]"

    def _updated(self, update, values):
        shape_ = typeof(self.array).shape
        positions = _selected_positions(shape_, self.index)
        flat = ops.reshape(self.array, (-1,))
        return ops.reshape(update(flat, positions, values), shape_)

    def get(self):
        """x[index].

        >>> x.at[1:].get()   # doctest: +SKIP
        """
        return _getitem(self.array, self.index)

    def set(self, values):
        """A copy of x with x[index] = values (broadcast, cast to x's dtype); a repeated index keeps its last value.

        >>> x.at[0].set(5.0)   # doctest: +SKIP
        """
        return self._updated(lambda flat, positions, v: ops.scatter(flat, positions, _arg(v), 0), values)

    def add(self, values):
        """A copy of x with values added at index; repeated indices accumulate (np.add.at).

        >>> x.at[[0, 0]].add(1.0)   # doctest: +SKIP
        """
        return self._updated(lambda flat, positions, v: ops.scatter_add(flat, positions, _arg(v), 0), values)

    def multiply(self, values):
        """A copy of x with x[index] multiplied by values; repeated indices multiply each time (np.multiply.at).

        >>> x.at[1].multiply(2.0)   # doctest: +SKIP
        """
        return self._updated(_multiply_at, values)


class _IndexUpdateHelper:
    """The `.at` of a traced array: `x.at[index].set(v)` and friends (JAX's functional updates)."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"{self.array!r}.at"


# ---- products and linear algebra -------------------------------------------------------------------

def matmul(x1, x2):
    """numpy.matmul (`@`): vectors contract their only axis, batch axes broadcast.

    >>> fnp.matmul(np.ones((4, 2, 3)), np.ones(3)).shape
    (4, 2)
    """
    return ops.matmul(_arg(x1), _arg(x2))


def tensordot(a, b, axes=2):
    """numpy.tensordot: contract a's `axes[0]` with b's `axes[1]` (an int n means a's last n with b's first n),
    as one matmul of the transposed, reshaped operands.

    >>> fnp.tensordot(np.ones((2, 3, 4)), np.ones((3, 4, 5))).shape
    (2, 5)
    """
    a, b = _arg(a), _arg(b)
    sa, sb = typeof(a).shape, typeof(b).shape
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        axes_a, axes_b = list(range(len(sa) - n, len(sa))), list(range(n))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    axes_a = [normalize_axis(int(i), len(sa)) for i in axes_a]
    axes_b = [normalize_axis(int(i), len(sb)) for i in axes_b]
    if len(axes_a) != len(axes_b) or builtins.any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"shape-mismatch for sum: tensordot contracts axes {axes_a} of shape {sa} with axes "
                         f"{axes_b} of shape {sb}, whose sizes differ")
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    k = math.prod(sa[i] for i in axes_a)
    a2 = ops.reshape(ops.transpose(a, free_a + axes_a), (math.prod(sa[i] for i in free_a), k))
    b2 = ops.reshape(ops.transpose(b, axes_b + free_b), (k, math.prod(sb[j] for j in free_b)))
    return ops.reshape(ops.matmul(a2, b2), [sa[i] for i in free_a] + [sb[j] for j in free_b])


def dot(a, b):
    """numpy.dot: a product with a scalar, matmul up to 2-D (and N-D by a vector), else a tensordot of a's last
    axis with b's second-to-last.

    >>> fnp.dot(np.ones((2, 3)), np.ones(3))
    array([3., 3.])
    """
    a, b = _arg(a), _arg(b)
    na, nb = typeof(a).ndim, typeof(b).ndim
    if na == 0 or nb == 0:
        return ops.mul(a, b)
    if nb == 1 or (na <= 2 and nb <= 2):
        return ops.matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 2]))


def vdot(a, b):
    """numpy.vdot (real arrays): the dot product of the flattened arrays.

    >>> fnp.vdot(np.ones((2, 2)), np.ones((2, 2)))
    np.float64(4.0)
    """
    return ops.matmul(ravel(a), ravel(b))


def outer(a, b):
    """numpy.outer: out[i, j] = a.ravel()[i] * b.ravel()[j].

    >>> fnp.outer(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
    array([[ 1., 10.],
           [ 2., 20.]])
    """
    return ops.mul(ops.expand_dims(ravel(a), 1), ops.expand_dims(ravel(b), 0))


def _vector_norm(x, ord, axis: int, keepdims: bool):
    if ord == inf:
        return max(ops.abs(x), axis, keepdims=keepdims)
    if ord == -inf:
        return min(ops.abs(x), axis, keepdims=keepdims)
    if ord == 0:
        return sum(ops.cast(ops.ne(x, 0), typeof(x).dtype), axis, keepdims=keepdims)
    if ord == 1:
        return sum(ops.abs(x), axis, keepdims=keepdims)
    if ord is None or ord == 2:
        return ops.sqrt(sum(ops.mul(x, x), axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    total = sum(power(ops.abs(x), ord), axis, keepdims=keepdims)
    return ops.pow(total, 1.0 / ord)


def _matrix_norm(x, ord, axes: tuple, keepdims: bool):
    row, col = axes
    if row == col:
        raise ValueError("Duplicate axes given.")
    if isinstance(ord, str) and ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        raise NotImplementedError(f"linalg.norm with ord={ord!r} needs singular values (an SVD), which fgrad does not "
                                  "have; use the Frobenius norm (ord=None) or ord=1 / inf")
    absx = ops.abs(x)
    if ord in (1, -1):
        reduce_cols = max if ord == 1 else min
        out = reduce_cols(sum(absx, row), col - 1 if col > row else col)
    elif ord in (inf, -inf):
        reduce_rows = max if ord == inf else min
        out = reduce_rows(sum(absx, col), row - 1 if row > col else row)
    elif ord is None or ord in ("fro", "f"):
        out = ops.sqrt(sum(ops.mul(x, x), (row, col)))
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    if keepdims:
        kept = list(typeof(x).shape)
        kept[row] = kept[col] = 1
        out = ops.reshape(out, kept)
    return out


def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: vector norms (2, 1, inf, -inf, 0, p) along one axis, matrix norms (Frobenius, 1, inf)
    over two; the 2-norm of everything when axis and ord are None.

    >>> fnp.linalg.norm(np.array([3.0, 4.0]))
    np.float64(5.0)
    """
    x = _arg(x)
    x = ops.cast(x, float_dtype(typeof(x).dtype))
    ndim_ = typeof(x).ndim
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim_ == 2) or (ord == 2 and ndim_ == 1):
            flat = ravel(x)
            out = ops.sqrt(ops.matmul(flat, flat))
            return ops.reshape(out, (1,) * ndim_) if keepdims else out
        axis = tuple(range(ndim_))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(normalize_axis(int(a), ndim_) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"Improper number of dimensions to norm: axis {axis} of an array of shape {typeof(x).shape}")


def _linalg_solve(a, b):
    """numpy.linalg.solve: x with a @ x = b (batched; b a vector or a stack of columns).

    >>> fnp.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    return ops.solve(_arg(a), _arg(b))


_linalg_norm.__name__ = _linalg_norm.__qualname__ = "norm"
_linalg_solve.__name__ = _linalg_solve.__qualname__ = "solve"

linalg = types.ModuleType(__name__ + ".linalg", "numpy.linalg's functions in fgrad: norm and solve.")
linalg.norm = _linalg_norm
linalg.solve = _linalg_solve
sys.modules[linalg.__name__] = linalg


# ---- methods and operators of traced arrays --------------------------------------------------------

def _forward(fn):
    def method(self, other):
        return fn(self, other)
    return method


def _reflected(fn):
    def method(self, other):
        return fn(other, self)
    return method


def _reshape_method(self, *shape, order="C"):
    """x.reshape(2, 3) or x.reshape((2, 3))."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return reshape(self, shape, order)


def _transpose_method(self, *axes):
    """x.transpose(), x.transpose(1, 0) or x.transpose((1, 0))."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return transpose(self, axes or None)


def _astype_method(self, dtype, copy=True):
    return ops.cast(self, dtype)


def _concrete_only(what: str):
    def method(self, *args, **kwargs):
        raise self.conversion_error(what)
    return method


def _round_method(self, ndigits=None):
    return round(self, 0 if ndigits is None else ndigits)


_OPERATORS = {
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "floordiv": floor_divide, "mod": remainder,
    "pow": power, "matmul": matmul, "and": bitwise_and, "or": bitwise_or, "xor": bitwise_xor, "divmod": divmod,
}
_COMPARISONS = {"eq": equal, "ne": not_equal, "lt": less, "le": less_equal, "gt": greater, "ge": greater_equal}
_METHODS = {
    "sum": sum, "mean": mean, "max": max, "min": min, "prod": prod, "var": var, "std": std, "all": all, "any": any,
    "argmax": argmax, "argmin": argmin, "cumsum": cumsum, "cumprod": cumprod, "argsort": argsort, "clip": clip,
    "dot": dot, "ravel": ravel, "flatten": ravel,
    "squeeze": squeeze, "swapaxes": swapaxes, "take": take, "round": round, "copy": copy,
    "diagonal": diagonal, "trace": trace,
    "reshape": _reshape_method, "transpose": _transpose_method, "astype": _astype_method,
    "item": _concrete_only("item()"), "tolist": _concrete_only("tolist()"),
    "__getitem__": _getitem, "__neg__": negative, "__pos__": positive, "__abs__": abs, "__invert__": invert,
    "__round__": _round_method,
}
_PROPERTIES = {
    "T": lambda self: transpose(self),
    "mT": lambda self: swapaxes(self, -1, -2),
    "at": _IndexUpdateHelper,
}


def _missing_attribute(self, name: str):
    """Only called when normal lookup fails: name numpy's array methods fgrad lacks, rather than a bare error."""
    if not name.startswith("_") and hasattr(np.ndarray, name):
        alternative = (f"fnp.{name}(x) exists as a function" if callable(globals().get(name)) else
                       "rewrite it with fgrad.numpy functions, or compute it outside the traced function")
        raise AttributeError(f"{self!r} has no attribute {name!r}: fgrad does not implement numpy.ndarray.{name} "
                             f"on traced arrays; {alternative}")
    raise AttributeError(f"'Tracer' object has no attribute {name!r}")


def _install_tracer_methods():
    for name, fn in _OPERATORS.items():
        setattr(Tracer, f"__{name}__", _forward(fn))
        setattr(Tracer, f"__r{name}__", _reflected(fn))
    for name, fn in _COMPARISONS.items():
        setattr(Tracer, f"__{name}__", _forward(fn))
    for name, fn in _METHODS.items():
        setattr(Tracer, name, fn)
    for name, getter in _PROPERTIES.items():
        setattr(Tracer, name, property(getter))
    Tracer.__getattr__ = _missing_attribute


# ---- numpy's functions on traced values ------------------------------------------------------------

_UFUNCS = {}        # numpy ufunc -> the fnp function
_FUNCTIONS = {}     # numpy function -> the fnp function
_UFUNC_METHODS = {
    (np.add, "reduce"): lambda a, axis=0, dtype=None, keepdims=False: sum(a, axis, dtype, keepdims),
    (np.multiply, "reduce"): lambda a, axis=0, dtype=None, keepdims=False: prod(a, axis, dtype, keepdims),
    (np.maximum, "reduce"): lambda a, axis=0, keepdims=False: max(a, axis, keepdims),
    (np.minimum, "reduce"): lambda a, axis=0, keepdims=False: min(a, axis, keepdims),
    (np.add, "accumulate"): lambda a, axis=0, dtype=None: cumsum(a, axis, dtype),
}


def _numpy_name(func) -> str:
    if isinstance(func, np.ufunc):
        return f"numpy.{func.__name__}"
    return f"{getattr(func, '__module__', None) or 'numpy'}.{getattr(func, '__name__', repr(func))}"


def _unsupported(tracer, what: str, short: str):
    alternative = (f"use fnp.{short}(...) with its numpy signature" if callable(globals().get(short))
                   else f"fgrad.numpy has no {short}; rewrite it with fgrad.numpy functions")
    return TypeError(f"{what} was applied to a traced value {tracer!r} and fgrad cannot trace it: {alternative}, "
                     "or compute it outside the traced function")


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """numpy ufuncs on traced values (np.sin(x), ndarray + x) run the fnp function of the same name."""
    name = _numpy_name(ufunc)
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) (or an in-place operator such as +=) cannot store a traced value in "
                        "an array: fgrad arrays are immutable. Use the returned value (y = y + x), or "
                        "x.at[index].set(...)")
    if method == "__call__":
        fn = _UFUNCS.get(ufunc)
        if fn is not None and not kwargs:
            return fn(*inputs)
        what = f"{name} with keyword arguments {sorted(kwargs)}" if fn is not None else name
        raise _unsupported(self, what, ufunc.__name__)
    fn = _UFUNC_METHODS.get((ufunc, method))
    if fn is not None:
        return _call_supported(self, fn, f"{name}.{method}", f"{ufunc.__name__}.{method}", inputs, kwargs)
    raise _unsupported(self, f"{name}.{method}", f"{ufunc.__name__}.{method}")


def _array_function(self, func, types, args, kwargs):
    """numpy functions on traced values (np.sum(x), np.concatenate([x, y])) run the fnp function of the same name."""
    fn = _FUNCTIONS.get(func)
    name = _numpy_name(func)
    if fn is None:
        raise _unsupported(self, name, getattr(func, "__name__", "this function"))
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) cannot store a traced value in an array: fgrad arrays are immutable. "
                        "Use the returned value instead")
    kwargs = {k: v for k, v in kwargs.items() if not (k == "out" and v is None)}
    return _call_supported(self, fn, name, func.__name__, args, kwargs)


def _call_supported(tracer, fn, name: str, short: str, args, kwargs):
    """fn(*args, **kwargs), or the unsupported-function error naming the numpy arguments fgrad does not take
    (np.sum(x, where=m) would otherwise fail with a bare "sum() got an unexpected keyword argument")."""
    signature = inspect.signature(fn)
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        unknown = [f"{k}=..." for k in sorted(kwargs) if k not in signature.parameters]
        raise _unsupported(tracer, f"{name} with {', '.join(unknown)}" if unknown else name, short) from None
    return fn(*args, **kwargs)


def _register_numpy_counterparts():
    for name in __all__:
        ours, theirs = globals()[name], getattr(np, name, None)
        if theirs is None or isinstance(ours, type) or not callable(ours):
            continue
        if isinstance(theirs, np.ufunc):
            _UFUNCS[theirs] = ours
        elif callable(theirs) and not isinstance(theirs, type):
            _FUNCTIONS[theirs] = ours
    _FUNCTIONS[np.linalg.norm] = linalg.norm
    _FUNCTIONS[np.linalg.solve] = linalg.solve
    Tracer.__array_ufunc__ = _array_ufunc
    Tracer.__array_function__ = _array_function


__all__ = [
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
    "take", "take_along_axis", "matmul", "dot", "vdot", "outer", "tensordot", "linalg",
]


# ---- eager results the caller owns -----------------------------------------------------------------

def _array_leaves(args, kwargs) -> list:
    """The numpy arrays among the arguments, inside lists and tuples too (concatenate's sequence)."""
    found, stack = [], [*args, *kwargs.values()]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _passed_in(out, args, kwargs) -> bool:
    for a in args:
        if a is out:
            return True
    for a in kwargs.values():
        if a is out:
            return True
    return False


def _owning(fn):
    """`fn` whose concrete results are arrays the caller owns (fgrad.ir.ownership): where numpy would return
    an argument, a view of one (reshape, transpose, asarray) or a read-only broadcast, a copy is returned."""
    @functools.wraps(fn)
    def owning(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, np.ndarray):
            if out.base is None and out.flags.writeable and not _passed_in(out, args, kwargs):
                return out          # a new array, the common case: no search, no copy
            return owned_results([out], _array_leaves(args, kwargs))[0]
        if type(out) is tuple and builtins.any(isinstance(x, np.ndarray) for x in out):
            return tuple(owned_results(out, _array_leaves(args, kwargs)))
        return out
    return owning


def _install_owning_results():
    """Every public function's eager results are the caller's own arrays: one wrapper, installed here, so
    that no function needs its own copy logic (traced results pass through untouched)."""
    module = globals()
    for name in __all__:
        fn = module[name]
        if isinstance(fn, types.FunctionType):
            module[name] = _owning(fn)
    linalg.norm = _owning(linalg.norm)
    linalg.solve = _owning(linalg.solve)


_install_owning_results()
_install_tracer_methods()
_register_numpy_counterparts()
