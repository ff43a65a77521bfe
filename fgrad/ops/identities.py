"""What the primitives' simplification rules share: facts about IEEE values, and the rewrite answer.

A block declares its algebraic identities in its `simplify` slot:

    rule(s, inputs, params, out_type) -> atom | Rewrite | None

`s` is the running simplifier (fgrad.transforms.simplify): `s.fill(atom)` is the value of every element of
`atom` when they are all equal (a 0-d array) else None; `s.producer_of(atom, *prims)` the equation assigning
`atom` if its primitive is one of `prims`; `s.used_once(atom)`; `s.uniform(value, out_type)` the canonical
atom of a uniform array; `s.merge_linear_maps(prim, x, y)` for L(a) + L(b) -> L(a + b). A rule answers
an existing atom, a `Rewrite` (compute this equation instead; simplified again), or None. Every rule keeps
the bits of the result for every input, inf, NaN and signed zeros included.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import Params, is_float

MANTISSA_BITS = {np.dtype("float32"): 24, np.dtype("float64"): 53}


class Rewrite:
    """A rule's answer "compute this equation instead"; the simplifier simplifies it again before recording."""
    __slots__ = ("prim", "inputs", "params")

    def __init__(self, prim, inputs, params=None):
        self.prim, self.inputs, self.params = prim, tuple(inputs), Params(params or {})


def same_type_or_none(x, out_type):
    """`x` as a rule's answer, when it has the output's type."""
    return x if x.type == out_type else None


def is_one(fill) -> bool:
    return fill is not None and fill == 1


def is_minus_one(fill) -> bool:
    return fill is not None and fill.dtype != np.bool_ and fill == -1


def is_positive_zero(fill) -> bool:
    return fill is not None and fill == 0 and not (is_float(fill.dtype) and np.signbit(fill))


def adds_nothing(fill) -> bool:
    """x + fill == x for every x: an integer 0 or False, or the float -0.0 (x + (+0.0) turns -0.0 into +0.0)."""
    if fill is None or fill != 0:
        return False
    return not is_float(fill.dtype) or bool(np.signbit(fill))


def subtracts_nothing(fill) -> bool:
    """x - fill == x for every x: an integer 0, or the float +0.0 (x - (+0.0) is x + (-0.0))."""
    return fill is not None and fill.dtype != np.bool_ and is_positive_zero(fill)


def same_bits(a, b) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def sum_of_uniform(value, count: int, out_type):
    """The sum of `count` copies of `value` when every summation order gives it exactly, else None.

    In floating point a sum of n copies of c is c*n only when each partial sum k*c is representable: c is
    m * 2**e with an integer m, so k*c is exact while |m|*n fits in the mantissa. Integer sums wrap the
    same way in any order. numpy starts a sum from +0.0, so a sum of -0.0s (or of nothing) is +0.0.
    """
    dtype = out_type.dtype
    if count == 0 or value == 0:
        return np.zeros((), dtype)
    if dtype == np.bool_:
        return value             # a bool sum is a logical or
    if not is_float(dtype):
        with np.errstate(over="ignore"):
            return np.multiply(value, dtype.type(count), dtype=dtype)
    if not np.isfinite(value):
        return value             # inf + inf is inf, nan + nan is nan
    numerator, _ = float(value).as_integer_ratio()
    if abs(numerator) * count >= 2 ** MANTISSA_BITS[dtype]:
        return None
    with np.errstate(over="ignore"):
        total = np.multiply(value, dtype.type(count), dtype=dtype)
    return total if np.isfinite(total) else None


def product_with_zero(a, zero):
    """The value of a * zero when it is one signed zero for every element of `a`, else None.

    Integers: always 0. Floats: never for a Var (it may hold inf or NaN, and inf * 0 is NaN); for a Literal
    only when every element is finite and of one sign, which fixes the sign of the zero product.
    """
    if not is_float(zero.dtype):
        return np.zeros((), zero.dtype)
    if not hasattr(a, "value"):
        return None
    value = a.value
    signs = np.signbit(value)
    if not np.isfinite(value).all() or not (signs.all() or not signs.any()):
        return None
    return np.multiply(value.reshape(-1)[:1], zero).reshape(())


def strip_leading_ones(shape) -> tuple:
    start = 0
    while start < len(shape) and shape[start] == 1:
        start += 1
    return tuple(shape[start:])
