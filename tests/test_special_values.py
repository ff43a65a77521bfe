"""Special values in fgrad.numpy: numpy's answers, eager and jitted (issue 17, item 3).

Float floor_divide, remainder, fmod and divmod follow numpy's fmod-based definitions bit for bit (the sign
of zero included) at zeros, infinities, NaN, huge quotients and quotients that round onto an integer; the
remainder's derivative is PyTorch's and JAX's (1, -x // y). `x ** 0.5` is numpy's sqrt, other powers C's
pow, on both paths. Where fgrad's derivative differs from JAX's at an edge (x / x near underflow, logaddexp
with an infinite input), fgrad's is the exact one: those conventions are pinned here.
"""
import itertools
import math

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

pytest.importorskip("numba")

EDGES = [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, 0.1, 0.3, 7.0, -7.0, 6.0, -2.0, 4.5, 1e10, -1e10, 1e22, -1e22, 5e-324,
         -5e-324, 1e-310, 1e308, -1e308, 2.0 ** 53, 2.0 ** 52 + 0.5, 2.0 ** 63, np.inf, -np.inf, np.nan]


def grid(dtype):
    """Every pair of EDGES (and some random values) as two flat arrays of `dtype`."""
    rng = np.random.default_rng(17)
    values = EDGES + list(rng.standard_normal(12) * 10) + list(rng.integers(-12, 12, 12) * 0.5)
    pairs = list(itertools.product(values, values))
    with np.errstate(over="ignore"):
        return (np.array([a for a, _ in pairs]).astype(dtype), np.array([b for _, b in pairs]).astype(dtype))


def assert_bitwise(got, want, what):
    """Equal values with equal signs of zero, NaN where numpy has NaN, and numpy's dtype."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, what
    same = ((got == want) & (np.signbit(got) == np.signbit(want))) | (np.isnan(got) & np.isnan(want))
    bad = np.flatnonzero(~same)
    assert not bad.size, f"{what}: {bad.size} differ from numpy, first {bad[:5]}: got {got.flat[bad[:5]]}, " \
                         f"numpy {want.flat[bad[:5]]}"


def assert_special_values(got, want, what):
    """NaN, infinities and signed zeros exactly as numpy's; other values within the dtype's rounding (numpy's
    and Numba's float32 pow may differ in the last bit)."""
    got = np.asarray(got)
    exact = ~np.isfinite(want) | (want == 0) | ~np.isfinite(got) | (got == 0)
    assert_bitwise(np.where(exact, got, 1), np.where(exact, want, 1).astype(want.dtype), what)
    np.testing.assert_allclose(got[~exact], want[~exact], rtol=4 * np.finfo(want.dtype).eps, err_msg=what)


def divmod_family(x, y):
    return fnp.floor_divide(x, y), fnp.remainder(x, y), fnp.fmod(x, y), *fnp.divmod(x, y)


_JITTED = fgrad.jit(divmod_family)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("path", ["eager", "jit"])
def test_float_divmod_family_is_numpys_bit_for_bit(dtype, path):
    x, y = grid(dtype)
    with np.errstate(all="ignore"):
        got = (divmod_family if path == "eager" else _JITTED)(x, y)
        want = (np.floor_divide(x, y), np.remainder(x, y), np.fmod(x, y), *np.divmod(x, y))
    for name, g, w in zip(["floor_divide", "remainder", "fmod", "divmod[0]", "divmod[1]"], got, want):
        assert_bitwise(g, w, f"{name} {path} {np.dtype(dtype).name}")


def test_the_issues_examples():
    with np.errstate(all="ignore"):
        assert fnp.remainder(np.array([1.0]), np.inf)[0] == 1.0
        assert fgrad.jit(lambda x: x % 1.5)(np.float32(1e10)) == np.float32(1.0)
        assert fgrad.jit(lambda x: x % 1.5)(np.array(1e22)) == np.remainder(1e22, 1.5) == 1.0
        assert fnp.remainder(np.array(1e22), 1.5) == 1.0
        assert np.isnan(fnp.floor_divide(np.inf, 1.5)) and np.isnan(fgrad.jit(lambda x: x // 1.5)(np.inf))
        assert fgrad.grad(lambda x: x % 1.5)(1e22) == 1.0


REMAINDER_POINTS = [(7.3, 2.0), (-7.3, -2.0), (6.0, -3.0), (-6.0, 3.0), (1.0, np.inf), (-1.0, np.inf),
                    (0.5, -1.5), (1e22, 1.5), (0.0, 2.0), (-0.0, -2.0), (1.0, 0.1)]


@pytest.mark.parametrize("x, y", REMAINDER_POINTS, ids=[f"{x}%{y}" for x, y in REMAINDER_POINTS])
def test_remainder_gradient_equals_pytorchs(x, y):
    # d/dx = 1 and d/dy = -floor_divide(x, y) (torch's remainder backward), also at exact multiples, where
    # the remainder's zero takes y's sign, and at 1.0 % 0.1, where JAX's -trunc(x / y) gives -10.
    torch = pytest.importorskip("torch")
    a = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    torch.remainder(a, b).backward()
    expected = (a.grad.item(), b.grad.item())
    eager = fgrad.grad(fnp.remainder, argnums=(0, 1))(x, y)
    jitted = fgrad.jit(fgrad.grad(fnp.remainder, argnums=(0, 1)))(np.array(x), np.array(y))
    for got in (eager, jitted):
        assert [float(g) for g in got] == pytest.approx(expected, rel=1e-15)


def test_fmod_and_floor_divide_derivatives():
    assert [float(g) for g in fgrad.grad(fnp.fmod, argnums=(0, 1))(7.3, 2.0)] == [1.0, -3.0]
    assert [float(g) for g in fgrad.grad(fnp.fmod, argnums=(0, 1))(-7.3, 2.0)] == [1.0, 3.0]
    assert [float(g) for g in fgrad.grad(fnp.floor_divide, argnums=(0, 1))(7.3, 2.0)] == [0.0, 0.0]


# ---- powers ------------------------------------------------------------------------------------------

POW_BASES = np.array([-np.inf, -4.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 3.0, np.inf, np.nan])
EXPONENTS = [0.5, 1.5, -0.5, 2.5, -1.5, 1 / 3, 2.0, -1.0, 0.0, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("exponent", EXPONENTS, ids=str)
def test_power_by_a_scalar_is_numpys_on_both_paths(exponent, dtype):
    # numpy's x ** 0.5 is sqrt (nan at -inf, -0.0 at -0.0); other scalar exponents are C's pow.
    x = POW_BASES.astype(dtype)
    with np.errstate(all="ignore"):
        want = x ** dtype(exponent)
        eager = fnp.power(x, exponent)
        jitted = fgrad.jit(lambda x: x ** exponent)(x)
    assert_special_values(eager, want, "eager")
    assert_special_values(jitted, want, "jit")


def test_pow_primitive_is_c_pow_also_for_a_broadcast_half():
    # numpy's power loop turns a stride-0 exponent 0.5 into sqrt; the pow primitive (a traced array exponent)
    # keeps C's pow, which is what the Numba kernel computes.
    x = np.array([-np.inf, -0.0, 4.0])
    half = np.full(3, 0.5)
    with np.errstate(all="ignore"):
        want = np.power(x, half)
    assert_bitwise(fnp.power(x, half), want, "eager")
    assert_bitwise(fgrad.jit(fnp.power)(x, half), want, "jit")
    assert_bitwise(fnp.power(x, np.broadcast_to(half[:1], (3,))), want, "eager, broadcast exponent")


# ---- conventions at edges where JAX's derivative rounds --------------------------------------------

@pytest.mark.parametrize("x", [1e-308, 5e-300, 1e300, 3.0], ids=str)
def test_derivative_of_x_over_x_is_exactly_zero(x):
    # div's y rule is -ct * (out / y): no y**2 to underflow (JAX gives nan below ~1e-154, 1e-300 at 1e300).
    assert fgrad.grad(lambda a: a / a)(x) == 0.0
    assert fgrad.jit(fgrad.grad(lambda a: a / a))(np.array(x)) == 0.0


def test_derivative_of_a_quotient_near_overflow_is_one_over_the_divisor():
    with np.errstate(over="ignore"):
        gx, gy = fgrad.grad(lambda a, b: a / b, argnums=(0, 1))(1e308, 1e-308)
    assert gx == 1e308 and gy == -np.inf          # JAX: inf for the first


LOGADDEXP_EDGES = [((np.inf, 1.0), (1.0, 0.0)), ((1.0, -np.inf), (1.0, 0.0)), ((np.inf, -np.inf), (1.0, 0.0)),
                   ((np.inf, np.inf), (0.5, 0.5)), ((-np.inf, -np.inf), (0.5, 0.5)), ((-np.inf, 2.0), (0.0, 1.0))]


@pytest.mark.parametrize("point, expected", LOGADDEXP_EDGES, ids=[str(p) for p, _ in LOGADDEXP_EDGES])
def test_logaddexp_derivative_at_infinities_is_the_limit_of_the_softmax_weights(point, expected):
    # JAX's rule gives e for logaddexp(inf, 1.0)'s second input and nan at (-inf, -inf).
    with np.errstate(all="ignore"):
        value = fnp.logaddexp(*point)
        assert value == np.logaddexp(*point) or (math.isnan(value) and math.isnan(np.logaddexp(*point)))
        for g in (fgrad.grad(fnp.logaddexp, argnums=(0, 1))(*point),
                  fgrad.jit(fgrad.grad(fnp.logaddexp, argnums=(0, 1)))(*map(np.array, point))):
            assert tuple(float(v) for v in g) == expected
