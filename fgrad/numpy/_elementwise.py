"""fgrad.numpy's elementwise family: arithmetic and functions, numpy's float divmod, logic and tests, and exact
rounding with zero derivative."""
from __future__ import annotations

import builtins

import numpy as np

import fgrad.ops as ops
from fgrad.ir import is_float
from fgrad.numpy._arguments import arg, contains_tracer
from fgrad.ops.base import float_dtype, is_tracer, result_dtype, typeof
from fgrad.ops.control import stop_gradient


def _unary(op, name: str):
    def fn(x):
        return op(arg(x))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"numpy.{name}, elementwise (float functions compute ints in float64).\n\n"
                  f"    >>> fnp.{name}(np.array([0.5, 1.0]))   # doctest: +SKIP\n")
    return fn


def _binary(op, name: str):
    def fn(x1, x2):
        return op(arg(x1), arg(x2))
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
    return arg(x)


def copy(a):
    """numpy.copy. A traced array is returned as it is (arrays are immutable, so no copy is needed); a concrete
    one is copied, as numpy does.

    >>> fnp.copy(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    a = arg(a)
    return a if is_tracer(a) else np.array(a, copy=True)


def square(x):
    """numpy.square: x * x, elementwise (ints stay ints).

    >>> fnp.square(np.array([3.0]))
    array([9.])
    """
    return ops.square(arg(x))


def power(x1, x2):
    """numpy.power. A Python int exponent is an integer_pow (a float32 base stays float32); integer arrays to
    an integer array power compute in float64 (exact while results stay below 2**53).

    >>> fnp.power(np.array([2.0, 3.0]), 2)
    array([4., 9.])
    """
    x1, x2 = arg(x1), arg(x2)
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
    x1, x2 = arg(x1), arg(x2)
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
    x1, x2 = arg(x1), arg(x2)
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
    x1, x2 = arg(x1), arg(x2)
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
    dtype = float_dtype(result_dtype(arg(x1), arg(x2)))
    x1, x2 = ops.elementwise_args(arg(x1), arg(x2), dtype=dtype)
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
    out = arg(a)
    if lo is not None:
        out = ops.maximum(out, arg(lo))
    if hi is not None:
        out = ops.minimum(out, arg(hi))
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
    return ops.select(arg(condition), arg(x), arg(y))


def nonzero(a):
    """numpy.nonzero, for concrete arrays: how many elements are nonzero decides the result's shape.

    >>> fnp.nonzero(np.array([0.0, 2.0, 3.0]))
    (array([1, 2]),)
    """
    if contains_tracer([a]):
        raise TypeError(f"nonzero (and one-argument where) of a traced value {a!r} is not supported: the result's "
                        "shape would depend on the values, which are unknown while tracing. Use "
                        "fnp.where(condition, x, y) to select values and keep the shape")
    return np.nonzero(a)


# ---- logic and tests -------------------------------------------------------------------------------

def truth(x):
    """`x` as a bool array (nonzero is True), as numpy's logical functions read their inputs."""
    x = arg(x)
    return x if typeof(x).dtype == np.bool_ else ops.ne(x, 0)


def logical_and(x1, x2):
    """numpy.logical_and, elementwise (a select: no bitwise primitive is needed).

    >>> fnp.logical_and(np.array([True, True]), np.array([True, False]))
    array([ True, False])
    """
    return ops.select(truth(x1), truth(x2), False)


def logical_or(x1, x2):
    """numpy.logical_or, elementwise.

    >>> fnp.logical_or(np.array([False, False]), np.array([True, False]))
    array([ True, False])
    """
    return ops.select(truth(x1), True, truth(x2))


def logical_not(x):
    """numpy.logical_not, elementwise.

    >>> fnp.logical_not(np.array([True, False]))
    array([False,  True])
    """
    return ops.eq(truth(x), False)


def logical_xor(x1, x2):
    """numpy.logical_xor, elementwise.

    >>> fnp.logical_xor(np.array([True, True]), np.array([True, False]))
    array([False,  True])
    """
    return ops.ne(truth(x1), truth(x2))


def isnan(x):
    """numpy.isnan: NaN is the one value unequal to itself.

    >>> fnp.isnan(np.array([np.nan, 1.0]))
    array([ True, False])
    """
    x = arg(x)
    return ops.ne(x, x)


def isinf(x):
    """numpy.isinf.

    >>> fnp.isinf(np.array([-np.inf, 1.0]))
    array([ True, False])
    """
    return ops.eq(ops.abs(arg(x)), np.inf)


def isfinite(x):
    """numpy.isfinite (NaN compares false, so it is not finite).

    >>> fnp.isfinite(np.array([np.nan, np.inf, 1.0]))
    array([False, False,  True])
    """
    return ops.lt(ops.abs(arg(x)), np.inf)


def _bools_only(name: str, fn, example: str):
    """`&`, `|`, `^`, `~` on bool arrays are the logical functions; fgrad has no bitwise integer primitive."""
    def op(*xs):
        xs = [arg(x) for x in xs]
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
    x = arg(x)
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
    x = arg(x)
    if not is_float(typeof(x).dtype):
        return x
    return stop_gradient(_floor(x))


def ceil(x):
    """numpy.ceil, as -floor(-x) (which keeps numpy's -0.0 for ceil(-0.5)); exact, zero derivative.

    >>> fnp.ceil(np.array([-1.5, 1.5]))
    array([-1.,  2.])
    """
    x = arg(x)
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
    a = arg(a)
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
