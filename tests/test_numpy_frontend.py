"""fgrad.numpy against numpy itself.

Most tests write a function once as `fn(m, *xs)` and run it twice: with m = fgrad.numpy, traced by make_ir and
run by the reference executor, and with m = numpy on the same arrays. Elementwise float results must be
bit-equal, reductions equal to a tight tolerance; shapes and dtypes must match numpy's.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fgrad
import fgrad.numpy as fnp
from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import Tracer

FAST = settings(max_examples=25, deadline=None)
REDUCTION_RTOL = 1e-12


# ---- helpers ---------------------------------------------------------------------------------------

def traced(fn, *args):
    """`fn(fnp, *args)` traced (checked) and run by the reference executor; one output or a list."""
    program = fgrad.check(fgrad.make_ir(lambda *xs: fn(fnp, *xs))(*args))
    outs = evaluate(program, *args)
    return outs[0] if len(outs) == 1 else outs


def assert_same(got, want, exact=True, rtol=REDUCTION_RTOL):
    """Same shape and dtype as numpy's result; bit-equal values (NaNs in the same places), or within rtol."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != numpy's {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != numpy's {want.dtype}"
    if exact or got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def check_against_numpy(fn, *args, exact=True, rtol=REDUCTION_RTOL):
    assert_same(traced(fn, *args), fn(np, *args), exact=exact, rtol=rtol)


def floats(lo=-10.0, hi=10.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def float_arrays(shape, lo=-10.0, hi=10.0, dtype=np.float64):
    # Drawn in float64 and cast, so bounds like 0.01 need not be float32 numbers.
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi)).map(lambda a: a.astype(dtype))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
BROADCAST_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)


# ---- elementwise -----------------------------------------------------------------------------------

UNARY = {
    "exp": (-20, 20), "log": (0.01, 100), "log1p": (-0.99, 100), "expm1": (-20, 20), "sqrt": (0, 100),
    "sin": (-10, 10), "cos": (-10, 10), "tan": (-1.5, 1.5), "tanh": (-10, 10), "abs": (-10, 10),
    "absolute": (-10, 10), "sign": (-10, 10), "square": (-10, 10), "negative": (-10, 10), "positive": (-10, 10),
    "round": (-100, 100), "floor": (-100, 100), "ceil": (-100, 100), "trunc": (-100, 100),
    "isnan": (-10, 10), "isinf": (-10, 10), "isfinite": (-10, 10), "logical_not": (-1, 1),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(UNARY), ids=list(UNARY))
@FAST
@given(data=st.data())
def test_unary_function_equals_numpy_exactly(name, dtype, data):
    lo, hi = UNARY[name]
    x = data.draw(float_arrays(data.draw(SHAPES), lo, hi, dtype))
    check_against_numpy(lambda m, x: getattr(m, name)(x), x)


@pytest.mark.parametrize("name", ["abs", "sign", "square", "negative", "round", "floor", "ceil", "trunc"],
                         ids=str)
@FAST
@given(x=hnp.arrays(np.int64, SHAPES, elements=st.integers(-50, 50)))
def test_unary_function_on_ints_equals_numpy(name, x):
    check_against_numpy(lambda m, x: getattr(m, name)(x), x)


def test_round_of_ints_with_negative_decimals_rounds_half_to_even_like_numpy():
    x = np.array([15, 25, -15, 149, 150, 7], np.int32)
    check_against_numpy(lambda m, x: m.round(x, -1), x)
    check_against_numpy(lambda m, x: m.round(x, -2), x)
    check_against_numpy(lambda m, x: m.round(x, 1), x)


def test_rounding_keeps_signed_zeros_ties_and_specials_like_numpy():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.0, 0.0, -0.3, 0.49999999999999994, 2.0 ** 52 + 1,
                  -(2.0 ** 60), 1e300, np.inf, -np.inf, np.nan])
    for name in ("round", "floor", "ceil", "trunc"):
        got = traced(lambda m, x: getattr(m, name)(x), x)
        want = getattr(np, name)(x)
        np.testing.assert_array_equal(got, want)
        finite = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[finite]), np.signbit(want[finite]), err_msg=name)


@pytest.mark.parametrize("decimals", [-2, -1, 1, 2, 3], ids=str)
@FAST
@given(x=float_arrays(SHAPES, -1000, 1000))
def test_round_with_decimals_equals_numpy(decimals, x):
    check_against_numpy(lambda m, x: m.round(x, decimals), x)


BINARY = {
    "add": ((-10, 10), (-10, 10)), "subtract": ((-10, 10), (-10, 10)), "multiply": ((-10, 10), (-10, 10)),
    "divide": ((-10, 10), (0.5, 10)), "true_divide": ((-10, 10), (-10, -0.5)), "power": ((0.1, 5), (-3, 3)),
    "maximum": ((-3, 3), (-3, 3)), "minimum": ((-3, 3), (-3, 3)), "equal": ((-2, 2), (-2, 2)),
    "not_equal": ((-2, 2), (-2, 2)), "less": ((-2, 2), (-2, 2)), "less_equal": ((-2, 2), (-2, 2)),
    "greater": ((-2, 2), (-2, 2)), "greater_equal": ((-2, 2), (-2, 2)), "logical_and": ((-1, 1), (-1, 1)),
    "logical_or": ((-1, 1), (-1, 1)), "logical_xor": ((-1, 1), (-1, 1)),
}


@pytest.mark.parametrize("name", list(BINARY), ids=list(BINARY))
@FAST
@given(data=st.data())
def test_binary_function_with_broadcasting_equals_numpy_exactly(name, data):
    (lo1, hi1), (lo2, hi2) = BINARY[name]
    shape1, shape2 = data.draw(BROADCAST_PAIRS).input_shapes
    # Small integer-valued grids make ties (maximum, comparisons) likely.
    grid = data.draw(st.booleans())
    x = data.draw(float_arrays(shape1, lo1, hi1))
    y = data.draw(float_arrays(shape2, lo2, hi2))
    if grid and name not in ("divide", "true_divide", "power"):
        x, y = np.round(x), np.round(y)
    if name == "power":
        # numpy's own power takes two paths: a broadcast scalar exponent 2.0 squares (exactly C's pow), an
        # array exponent takes its SIMD loop (SVML on AVX-512: within an ulp, 0.1 ** 2.0 one ulp below C's).
        # fgrad's programs broadcast explicitly, so which path numpy took is not visible to the executor.
        got, want = np.asarray(traced(lambda m, x, y: m.power(x, y), x, y)), np.power(x, y)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_max_ulp(got, want, maxulp=1)
        return
    check_against_numpy(lambda m, x, y: getattr(m, name)(x, y), x, y)


@FAST
@given(data=st.data())
def test_logaddexp_equals_numpy_within_an_ulp(data):
    shape1, shape2 = data.draw(BROADCAST_PAIRS).input_shapes
    x, y = data.draw(float_arrays(shape1, -50, 50)), data.draw(float_arrays(shape2, -50, 50))
    check_against_numpy(lambda m, x, y: m.logaddexp(x, y), x, y, exact=False, rtol=1e-15)
    check_against_numpy(lambda m, x: m.logaddexp(x, x), x, exact=False, rtol=1e-15)


def test_logaddexp_handles_infinities_and_nan_like_numpy():
    x = np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 1.0])
    y = np.array([np.inf, -np.inf, -np.inf, 3.0, 1.0, np.nan])
    with np.errstate(invalid="ignore"):
        check_against_numpy(lambda m, x, y: m.logaddexp(x, y), x, y)


@pytest.mark.parametrize("name", ["floor_divide", "remainder", "mod"], ids=str)
@FAST
@given(data=st.data())
def test_floor_divide_and_remainder_on_ints_equal_numpy(name, data):
    shape1, shape2 = data.draw(BROADCAST_PAIRS).input_shapes
    x = data.draw(hnp.arrays(np.int64, shape1, elements=st.integers(-20, 20)))
    y = data.draw(hnp.arrays(np.int64, shape2, elements=st.integers(-5, 5).filter(bool)))
    check_against_numpy(lambda m, x, y: getattr(m, name)(x, y), x, y)


DIVISORS = [-4.0, -1.5, -0.5, -0.0, 0.0, 0.1, 0.25, 1.0, 1.5, 2.0, 8.0, 1e-300, 1e300, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", ["floor_divide", "remainder", "fmod"], ids=str)
@FAST
@given(data=st.data())
def test_floor_divide_and_remainder_on_floats_equal_numpy(name, data):
    # numpy's fmod-based definitions, also where x / y rounds onto an integer and at zeros and infinities.
    shape1, shape2 = data.draw(BROADCAST_PAIRS).input_shapes
    x = data.draw(hnp.arrays(np.float64, shape1, elements=st.floats(-100, 100) | st.sampled_from(DIVISORS)))
    y = data.draw(hnp.arrays(np.float64, shape2, elements=st.floats(-10, 10) | st.sampled_from(DIVISORS)))
    with np.errstate(all="ignore"):
        check_against_numpy(lambda m, x, y: getattr(m, name)(x, y), x, y)


def test_float_floor_divide_is_numpys_fmod_based_quotient():
    # floor(1.0 / 0.1) would be 10.0; numpy's quotient from fmod is 9.0 (and the remainder 0.1 - ulp).
    assert traced(lambda m, x: m.floor_divide(x, 0.1), 1.0) == 9.0
    assert traced(lambda m, x: m.remainder(x, 0.1), 1.0) == np.remainder(1.0, 0.1)


def test_integer_remainder_by_zero_is_zero_as_numpy():
    x, y = np.array([5, -3, 4]), np.array([0, 0, 3])
    with np.errstate(divide="ignore"):
        check_against_numpy(lambda m, x, y: m.remainder(x, y), x, y)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2, 5], ids=str)
@FAST
@given(x=float_arrays(SHAPES, 0.1, 5))
def test_power_with_a_python_int_exponent_equals_numpy(exponent, x):
    check_against_numpy(lambda m, x: m.power(x, exponent), x)


def test_integer_power_by_integer_array_equals_numpy():
    x, y = np.array([2, -3, 5, 7]), np.array([10, 3, 0, 2])
    check_against_numpy(lambda m, x, y: m.power(x, y), x, y)


@FAST
@given(data=st.data())
def test_where_and_clip_with_broadcasting_equal_numpy(data):
    shape1, shape2 = data.draw(BROADCAST_PAIRS).input_shapes
    x = data.draw(float_arrays(shape1, -3, 3))
    y = data.draw(float_arrays(shape2, -3, 3))
    check_against_numpy(lambda m, x, y: m.where(x > y, x, y * 2.0), x, y)
    check_against_numpy(lambda m, x, y: m.where(x > 0, 1.0, y), x, y)
    check_against_numpy(lambda m, x: m.clip(x, -1.0, 0.5), x)
    check_against_numpy(lambda m, x, y: m.clip(x, y, 2.0), x, y)
    check_against_numpy(lambda m, x: m.clip(x, None, 0.0), x)


# ---- weak Python scalars and promotion -------------------------------------------------------------

PROMOTION_CASES = {
    "f32*2.0": (np.float32, lambda x: x * 2.0),
    "2.0*f32": (np.float32, lambda x: 2.0 * x),
    "f32*2": (np.float32, lambda x: x * 2),
    "f32/3": (np.float32, lambda x: x / 3),
    "f32**2.5": (np.float32, lambda x: x ** 2.5),
    "f32+f64scalar": (np.float32, lambda x: x + np.float64(2.0)),
    "f32+f64array": (np.float32, lambda x: x + np.ones(1)),
    "i32*2": (np.int32, lambda x: x * 2),
    "i32*2.0": (np.int32, lambda x: x * 2.0),
    "i32/2": (np.int32, lambda x: x / 2),
    "i32+f32array": (np.int32, lambda x: x + np.ones(1, np.float32)),
    "i64-True": (np.int64, lambda x: x - True),
    "bool+1": (np.bool_, lambda x: x + 1),
    "bool*1.5": (np.bool_, lambda x: x * 1.5),
    "f32>1": (np.float32, lambda x: x > 1),
    "sin(i32)": (np.int32, lambda x: np.sin(x)),
    "mean(i32)": (np.int32, lambda x: np.mean(x)),
    "sum(i32)": (np.int32, lambda x: np.sum(x)),
    "sum(bool)": (np.bool_, lambda x: np.sum(x)),
    "where(f32,0.0)": (np.float32, lambda x: np.where(x > 0, x, 0.0)),
    "maximum(f32,0)": (np.float32, lambda x: np.maximum(x, 0)),
}


@pytest.mark.parametrize("case", list(PROMOTION_CASES), ids=list(PROMOTION_CASES))
def test_python_scalars_are_weak_and_arrays_promote_as_numpy(case):
    dtype, fn = PROMOTION_CASES[case]
    x = np.array([1, 2, 3]).astype(dtype)
    # numpy 2 (NEP 50) also treats Python scalars as weak; np functions on tracers dispatch to fnp.
    assert_same(traced(lambda m, x: fn(x), x), fn(x))


def test_float32_stays_float32_through_a_composite():
    x = np.ones(3, np.float32)
    out = traced(lambda m, x: m.sum(m.exp(x * 0.5) - 1.0) / 3.0 + m.pi, x)
    assert out.dtype == np.float32


def test_creation_defaults_to_float64_like_numpy():
    for fn in (lambda m: m.zeros(3), lambda m: m.ones((2, 2)), lambda m: m.eye(2), lambda m: m.linspace(0, 1, 3),
               lambda m: m.full(2, 1.5), lambda m: m.arange(3.0), lambda m: m.identity(2)):
        assert fn(fnp).dtype == fn(np).dtype == np.float64


# ---- reductions ------------------------------------------------------------------------------------

@st.composite
def array_and_axis(draw, lo=-3.0, hi=3.0, single_axis=False, min_side=1):
    """An array and a reduction axis: None, an int, or a tuple (with min_side > 1, one that reduces something)."""
    min_dims = 1 if single_axis or min_side > 1 else 0
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=4))
    x = draw(float_arrays(shape, lo, hi))
    ndim = len(shape)
    axis_choices = [st.none()]
    if ndim:
        axis_choices.append(st.integers(-ndim, ndim - 1))
        if not single_axis:
            axis_choices.append(st.lists(st.integers(0, ndim - 1), unique=True, min_size=int(min_side > 1),
                                         max_size=ndim).map(tuple))
    return x, draw(st.one_of(*axis_choices))


REDUCTIONS = {
    "sum": lambda m, x, axis, keep: m.sum(x, axis=axis, keepdims=keep),
    "mean": lambda m, x, axis, keep: m.mean(x, axis=axis, keepdims=keep),
    "var": lambda m, x, axis, keep: m.var(x, axis=axis, keepdims=keep),
    "std": lambda m, x, axis, keep: m.std(x, axis=axis, keepdims=keep),
    "max": lambda m, x, axis, keep: m.max(x, axis=axis, keepdims=keep),
    "min": lambda m, x, axis, keep: m.min(x, axis=axis, keepdims=keep),
    "prod": lambda m, x, axis, keep: m.prod(x, axis=axis, keepdims=keep),
    "all": lambda m, x, axis, keep: m.all(x > 0, axis=axis, keepdims=keep),
    "any": lambda m, x, axis, keep: m.any(x > 1, axis=axis, keepdims=keep),
    "sum_int": lambda m, x, axis, keep: m.sum((x * 3).astype(m.int32), axis=axis, keepdims=keep),
    "prod_int": lambda m, x, axis, keep: m.prod(m.round(x).astype(m.int64), axis=axis, keepdims=keep),
    "mean_method": lambda m, x, axis, keep: x.mean(axis=axis, keepdims=keep),
    "max_method_grid": lambda m, x, axis, keep: m.round(x).max(axis=axis, keepdims=keep),
}


@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
@pytest.mark.parametrize("name", list(REDUCTIONS), ids=list(REDUCTIONS))
@FAST
@given(x_axis=array_and_axis())
def test_reduction_equals_numpy(name, keepdims, x_axis):
    x, axis = x_axis
    fn = REDUCTIONS[name]
    check_against_numpy(lambda m, x: fn(m, x, axis, keepdims), x, exact=False)


@pytest.mark.parametrize("ddof", [1, 2], ids=str)
@FAST
@given(x_axis=array_and_axis(min_side=3))
def test_var_and_std_with_ddof_equal_numpy(ddof, x_axis):
    x, axis = x_axis
    check_against_numpy(lambda m, x: m.var(x, axis=axis, ddof=ddof), x, exact=False)
    check_against_numpy(lambda m, x: x.std(axis=axis, ddof=ddof), x, exact=False)


@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
@FAST
@given(x_axis=array_and_axis(single_axis=True))
def test_argmax_and_cumsum_equal_numpy(keepdims, x_axis):
    x, axis = x_axis
    x = np.round(x)        # ties: the first maximum wins, as numpy's
    check_against_numpy(lambda m, x: m.argmax(x, axis=axis, keepdims=keepdims), x)
    check_against_numpy(lambda m, x: x.argmax(axis=axis), x)
    check_against_numpy(lambda m, x: m.argmin(x, axis=axis, keepdims=keepdims), x)
    check_against_numpy(lambda m, x: (x > 0).argmin(axis=axis), x)
    check_against_numpy(lambda m, x: m.cumsum(x, axis=axis), x, exact=False)
    check_against_numpy(lambda m, x: (x > 0).cumsum(axis=axis), x)


def test_ufunc_reduce_methods_dispatch_to_reductions():
    x = np.arange(12.0).reshape(3, 4) - 5.0
    check_against_numpy(lambda m, x: np.add.reduce(x), x)
    check_against_numpy(lambda m, x: np.add.reduce(x, axis=None), x)
    check_against_numpy(lambda m, x: np.maximum.reduce(x, axis=1), x)
    check_against_numpy(lambda m, x: np.multiply.reduce(x, axis=0, keepdims=True), x)
    check_against_numpy(lambda m, x: np.add.accumulate(x, axis=1), x)


# ---- prod's gradient with zeros --------------------------------------------------------------------

def product_of_others(x):
    return np.array([np.prod(np.delete(x, i)) for i in range(x.size)])


@FAST
@given(x=hnp.arrays(np.float64, st.integers(1, 9), elements=st.sampled_from([0.0, 0.5, -1.5, 2.0, 3.0])))
def test_prod_gradient_is_exact_with_zeros(x):
    got = fgrad.grad(lambda x: fnp.prod(x))(x)
    np.testing.assert_allclose(got, product_of_others(x), rtol=1e-14, atol=0)


def test_prod_gradient_with_one_and_two_zeros():
    np.testing.assert_array_equal(fgrad.grad(fnp.prod)(np.array([0.0, 2.0, 3.0, 4.0])), [24.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(fgrad.grad(fnp.prod)(np.array([0.0, 2.0, 3.0, 0.0])), [0.0, 0.0, 0.0, 0.0])
    x = np.array([[1.0, 0.0, 3.0], [2.0, 5.0, 7.0]])
    got = fgrad.grad(lambda x: fnp.sum(fnp.prod(x, axis=1)))(x)
    np.testing.assert_array_equal(got, [[0.0, 3.0, 0.0], [35.0, 14.0, 10.0]])


def test_rounding_has_zero_derivative_everywhere():
    x = np.array([0.3, 2.5, -1.7, 1e17, 3e300])
    for name in ("round", "floor", "ceil", "trunc"):
        np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(getattr(fnp, name)(x)))(x), np.zeros(5))
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(fnp.round(x, 2)))(x), np.zeros(5))


def test_logaddexp_derivative_is_the_softmax_weight_even_at_ties():
    g = fgrad.grad(lambda v: fnp.logaddexp(v[0], v[1]))
    np.testing.assert_allclose(g(np.array([1.0, 1.0])), [0.5, 0.5])
    x = np.array([0.3, -1.2])
    np.testing.assert_allclose(g(x), np.exp(x - np.logaddexp(x[0], x[1])), rtol=1e-14)


# ---- shapes, joining, products ---------------------------------------------------------------------

@FAST
@given(data=st.data())
def test_shape_functions_equal_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    x = data.draw(float_arrays(shape))
    ndim = len(shape)
    perm = tuple(data.draw(st.permutations(range(ndim))))
    a1, a2 = data.draw(st.integers(-ndim, ndim - 1)), data.draw(st.integers(-ndim, ndim - 1))
    new = data.draw(st.integers(-ndim - 1, ndim))
    check_against_numpy(lambda m, x: m.reshape(x, (-1,)), x)
    check_against_numpy(lambda m, x: m.reshape(x, (shape[0], -1)), x)
    check_against_numpy(lambda m, x: x.reshape(shape[0], -1), x)
    check_against_numpy(lambda m, x: m.transpose(x, perm), x)
    check_against_numpy(lambda m, x: m.transpose(x), x)
    check_against_numpy(lambda m, x: x.transpose(perm), x)
    check_against_numpy(lambda m, x: x.transpose(*perm), x)
    check_against_numpy(lambda m, x: x.T, x)
    check_against_numpy(lambda m, x: m.swapaxes(x, a1, a2), x)
    check_against_numpy(lambda m, x: m.moveaxis(x, a1, a2), x)
    check_against_numpy(lambda m, x: m.expand_dims(x, new), x)
    check_against_numpy(lambda m, x: m.squeeze(m.expand_dims(x, new)), x)
    check_against_numpy(lambda m, x: m.ravel(x), x)
    check_against_numpy(lambda m, x: x.ravel(), x)
    check_against_numpy(lambda m, x: m.broadcast_to(x, (2,) + shape), x)


def test_multi_axis_moveaxis_and_squeeze_of_given_axes_equal_numpy():
    x = np.arange(24.0).reshape(2, 1, 3, 4)
    check_against_numpy(lambda m, x: m.moveaxis(x, (0, 3), (-1, 0)), x)
    check_against_numpy(lambda m, x: m.squeeze(x, axis=1), x)
    check_against_numpy(lambda m, x: x.squeeze(), x)
    check_against_numpy(lambda m, x: m.expand_dims(x, (0, 5)), x)


@FAST
@given(data=st.data())
def test_joining_functions_equal_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    x = data.draw(float_arrays(shape))
    y = data.draw(float_arrays(shape))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    stack_axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_against_numpy(lambda m, x, y: m.concatenate([x, y, x], axis=axis), x, y)
    check_against_numpy(lambda m, x, y: m.concatenate([x, y], axis=None), x, y)
    check_against_numpy(lambda m, x, y: m.stack([x, y], axis=stack_axis), x, y)
    check_against_numpy(lambda m, x, y: m.vstack([x, y]), x, y)
    check_against_numpy(lambda m, x, y: m.hstack([x, y]), x, y)
    check_against_numpy(lambda m, x, y: m.concatenate([x, y.astype(m.float32)], axis=axis), x, y)


def test_vstack_and_hstack_of_scalars_and_vectors_equal_numpy():
    x, y = np.arange(3.0), np.array(5.0)
    check_against_numpy(lambda m, x, y: m.vstack([x, x * 2]), x, y)
    check_against_numpy(lambda m, x, y: m.hstack([x, y]), x, y)
    check_against_numpy(lambda m, x, y: m.vstack([y, y]), x, y)


PRODUCT_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((5, 2, 3), (3,)),
    ((2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((2, 5, 2, 3), (5, 3, 4)), ((), (3,)), ((2, 3), ()),
]


@pytest.mark.parametrize("shapes", PRODUCT_SHAPES, ids=[f"{a}x{b}" for a, b in PRODUCT_SHAPES])
def test_dot_and_matmul_equal_numpy(shapes):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    check_against_numpy(lambda m, a, b: m.dot(a, b), a, b, exact=False)
    if a.ndim and b.ndim:
        check_against_numpy(lambda m, a, b: m.matmul(a, b), a, b, exact=False)


TENSORDOT_CASES = {
    "axes-0": ((2, 3), (4,), 0), "axes-1": ((2, 3), (3, 4), 1), "axes-2": ((3, 4, 2), (4, 2, 3), 2),
    "pair-lists": ((3, 4, 2), (2, 3, 5), ([0], [1])), "two-pairs": ((3, 4, 2), (4, 5, 3), ([1, 0], [0, 2])),
    "pair-ints": ((3, 4, 2), (2, 5), (2, 0)), "negative-axes": ((3, 4), (4, 3), ([-1, 0], [0, -1])),
}


@pytest.mark.parametrize("case", list(TENSORDOT_CASES), ids=list(TENSORDOT_CASES))
def test_tensordot_equals_numpy(case):
    a_shape, b_shape, axes = TENSORDOT_CASES[case]
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    check_against_numpy(lambda m, a, b: m.tensordot(a, b, axes=axes), a, b, exact=False)


def test_outer_vdot_and_operators_equal_numpy():
    rng = np.random.default_rng(2)
    a, b, w = rng.standard_normal((2, 3)), rng.standard_normal(4), rng.standard_normal((3, 4))
    check_against_numpy(lambda m, a, b: m.outer(a, b), a, b)
    check_against_numpy(lambda m, a, w: m.vdot(a, a @ w @ w.T), a, w, exact=False)
    check_against_numpy(lambda m, a, w: a @ w, a, w, exact=False)
    check_against_numpy(lambda m, a: a @ np.ones((3, 2)), a, exact=False)
    check_against_numpy(lambda m, a: np.ones((4, 2)) @ a, a, exact=False)
    check_against_numpy(lambda m, a, w: a.dot(w), a, w, exact=False)


NORM_CASES = {
    "vector-default": ((5,), {}), "vector-1": ((5,), {"ord": 1}), "vector-inf": ((5,), {"ord": np.inf}),
    "vector--inf": ((5,), {"ord": -np.inf}), "vector-0": ((5,), {"ord": 0}), "vector-3": ((5,), {"ord": 3}),
    "vector-0.5": ((5,), {"ord": 0.5}), "matrix-fro": ((3, 4), {}), "matrix-fro-named": ((3, 4), {"ord": "fro"}),
    "matrix-1": ((3, 4), {"ord": 1}), "matrix-inf": ((3, 4), {"ord": np.inf}), "matrix--1": ((3, 4), {"ord": -1}),
    "axis-1": ((3, 4), {"axis": 1}), "axis-0-keepdims": ((3, 4), {"axis": 0, "keepdims": True}),
    "axis-pair": ((2, 3, 4), {"axis": (2, 0), "ord": 1}), "batched-fro": ((2, 3, 4), {"axis": (1, 2)}),
    "all-keepdims": ((3, 4), {"keepdims": True}), "3d-default": ((2, 3, 4), {}),
    "axis-1-ord-inf": ((3, 4), {"axis": -1, "ord": np.inf}), "ints": ((4,), {"ord": 1, "int": True}),
}


@pytest.mark.parametrize("case", list(NORM_CASES), ids=list(NORM_CASES))
def test_linalg_norm_equals_numpy(case):
    shape, kwargs = NORM_CASES[case]
    kwargs = dict(kwargs)
    x = np.random.default_rng(3).standard_normal(shape)
    if kwargs.pop("int", False):
        x = np.round(x * 3).astype(np.int64)
    x.flat[0] = 0.0
    check_against_numpy(lambda m, x: m.linalg.norm(x, **kwargs), x, exact=False)


def test_linalg_solve_equals_numpy():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    b, v = rng.standard_normal((2, 3, 2)), rng.standard_normal(3)
    check_against_numpy(lambda m, a, b: m.linalg.solve(a, b), a, b, exact=False)
    check_against_numpy(lambda m, a, v: m.linalg.solve(a[0], v), a, v, exact=False)


# ---- creation --------------------------------------------------------------------------------------

CREATION = {
    "zeros": lambda m: m.zeros((2, 3)), "zeros-int32": lambda m: m.zeros(3, m.int32),
    "ones": lambda m: m.ones(4), "ones-f32": lambda m: m.ones((2,), dtype=m.float32),
    "full-int": lambda m: m.full((2,), 7), "full-float": lambda m: m.full((2, 2), 1.5),
    "full-f32": lambda m: m.full(3, 2, m.float32), "full-row": lambda m: m.full((2, 3), [1.0, 2.0, 3.0]),
    "arange-n": lambda m: m.arange(5), "arange-start-stop-step": lambda m: m.arange(1, 7, 2),
    "arange-down": lambda m: m.arange(10, 0, -3), "arange-float": lambda m: m.arange(0.0, 1.0, 0.1),
    "arange-float-n": lambda m: m.arange(4.0), "arange-f32": lambda m: m.arange(5, dtype=m.float32),
    "arange-empty": lambda m: m.arange(3, 1), "arange-float-step": lambda m: m.arange(-1.0, 2.0, 0.3),
    "linspace": lambda m: m.linspace(0.0, 1.0, 7), "linspace-no-end": lambda m: m.linspace(-1, 2, 6, endpoint=False),
    "linspace-1": lambda m: m.linspace(2.0, 3.0, 1), "linspace-0": lambda m: m.linspace(2.0, 3.0, 0),
    "linspace-int": lambda m: m.linspace(0, 10, 4, dtype=m.int64),
    "linspace-arrays": lambda m: m.linspace(np.array([0.0, 1.0]), np.array([1.0, -1.0]), 5, axis=1),
    "linspace-f32": lambda m: m.linspace(np.float32(0), np.float32(1), 5),
    "eye": lambda m: m.eye(3), "eye-rect-k": lambda m: m.eye(2, 4, k=1), "eye-k-neg": lambda m: m.eye(3, k=-1),
    "eye-int": lambda m: m.eye(2, dtype=m.int32), "identity": lambda m: m.identity(3),
    "zeros_like": lambda m: m.zeros_like(np.ones((2, 2), np.float32)),
    "ones_like-int": lambda m: m.ones_like(np.array([1, 2])),
    "full_like": lambda m: m.full_like(np.zeros(3, np.int64), 2.7),
    "full_like-dtype": lambda m: m.full_like(np.zeros(3), 2, dtype=m.int32),
    "array": lambda m: m.array([[1, 2], [3, 4]]), "array-ndmin": lambda m: m.array([1.0], ndmin=3),
    "asarray-dtype": lambda m: m.asarray([1, 2], dtype=m.float32),
}


@pytest.mark.parametrize("name", list(CREATION), ids=list(CREATION))
def test_creation_equals_numpy_eagerly_and_traced(name):
    fn = CREATION[name]
    want = fn(np)
    assert_same(fn(fnp), want)                               # concrete: evaluated at once
    assert_same(traced(lambda m: fn(m)), want)               # traced: equations (or a constant)


def test_linspace_retstep_and_traced_bounds_equal_numpy():
    y, step = fnp.linspace(0.0, 2.0, 5, retstep=True)
    want_y, want_step = np.linspace(0.0, 2.0, 5, retstep=True)
    assert_same(y, want_y)
    assert step == want_step
    check_against_numpy(lambda m, a, b: m.linspace(a, b, 4), -1.0, 3.0)


def test_creation_inside_a_trace_records_equations_not_constants():
    program = fgrad.make_ir(lambda x: x + fnp.zeros(3) + fnp.arange(3) + fnp.eye(3)[0])(np.ones(3))
    text = str(program)
    assert "full[" in text and "iota[" in text


def test_full_and_zeros_like_of_traced_values():
    check_against_numpy(lambda m, x: m.full((2, 3), x[0]), np.array([1.5, 2.0]))
    check_against_numpy(lambda m, x: m.zeros_like(x) + m.ones_like(x, dtype=m.int32), np.ones((2, 2), np.float32))
    check_against_numpy(lambda m, x: m.full_like(x, 3.0), np.ones(2, np.float32))


def test_array_of_traced_values_stacks_them():
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    check_against_numpy(lambda m, a, b: m.array([a, b * 2.0]), a, b)
    check_against_numpy(lambda m, a, b: m.asarray([[a[0], b[1]], [1.0, a[1]]]), a, b)
    check_against_numpy(lambda m, a, b: m.stack([a, b]).sum(axis=0), a, b)
    program = fgrad.make_ir(lambda a, b: fnp.asarray((a, b)))(a, b)
    assert program.out_types[0].shape == (2, 2)


def test_array_of_a_float32_tracer_and_python_floats_stays_float32():
    x = np.ones(2, np.float32)
    out = traced(lambda m, x: m.array([x[0], 2.0, 3]), x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


def test_functions_accept_lists_like_numpy():
    check_against_numpy(lambda m, x: m.sum([x, x]) + m.maximum([1.0, 2.0], x[0]), np.array([1.0, 5.0]))
    check_against_numpy(lambda m, x: m.where([True, False], x, [7.0, 8.0]), np.array([1.0, 5.0]))


def test_allclose_on_concrete_values_returns_a_bool():
    assert fnp.allclose(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) is True
    assert fnp.allclose(np.array([1.0]), np.array([1.1])) is False
    assert fnp.allclose(np.array([np.nan]), np.array([np.nan]), equal_nan=True) is True


def test_constants_and_dtypes_are_numpys():
    assert (fnp.pi, fnp.e, fnp.inf) == (np.pi, np.e, np.inf) and np.isnan(fnp.nan) and fnp.newaxis is None
    assert fnp.float32(1.5).dtype == np.float32 and np.dtype(fnp.int32) == np.int32
    assert np.dtype(fnp.bool_) == np.bool_ and np.dtype(fnp.int64) == np.int64 and np.dtype(fnp.float64) == np.float64


# ---- eager evaluation on concrete values -----------------------------------------------------------

def test_concrete_arrays_evaluate_eagerly_with_numpy():
    out = fnp.sin(np.ones(3))
    assert type(out) is fnp.Array and isinstance(out, np.ndarray)     # a numpy array with .at
    np.testing.assert_array_equal(out, np.sin(np.ones(3)))
    np.testing.assert_array_equal(fnp.sum(fnp.arange(4.0) ** 2), 14.0)
    np.testing.assert_array_equal(fnp.take(np.arange(4.0), [3, 0]), [3.0, 0.0])
    assert type(fnp.zeros(2)) is fnp.Array and fnp.zeros(2).flags.writeable


# ---- tracer methods and operators ------------------------------------------------------------------

METHODS = {
    "sum": lambda m, x, y: x.sum(), "sum-axis": lambda m, x, y: x.sum(axis=0, keepdims=True),
    "mean": lambda m, x, y: x.mean(axis=1), "max": lambda m, x, y: x.max(), "min": lambda m, x, y: x.min(axis=0),
    "prod": lambda m, x, y: x.prod(axis=1), "var": lambda m, x, y: x.var(), "std": lambda m, x, y: x.std(axis=0),
    "reshape": lambda m, x, y: x.reshape(4, 3), "reshape-tuple": lambda m, x, y: x.reshape((2, -1)),
    "transpose": lambda m, x, y: x.transpose(), "T": lambda m, x, y: x.T, "mT": lambda m, x, y: x.mT,
    "astype": lambda m, x, y: x.astype(m.float32), "astype-int": lambda m, x, y: (x * 3).astype(m.int32),
    "ravel": lambda m, x, y: x.ravel(), "flatten": lambda m, x, y: x.flatten(),
    "squeeze": lambda m, x, y: x[:1].squeeze(), "dot": lambda m, x, y: x.dot(y.T),
    "argmax": lambda m, x, y: x.argmax(), "argmax-axis": lambda m, x, y: x.argmax(axis=1),
    "clip": lambda m, x, y: x.clip(-0.5, 0.5), "cumsum": lambda m, x, y: x.cumsum(axis=1),
    "round": lambda m, x, y: (x * 10).round(), "round-2": lambda m, x, y: x.round(2),
    "add": lambda m, x, y: x + y, "radd": lambda m, x, y: 1.0 + x, "sub": lambda m, x, y: x - y,
    "rsub": lambda m, x, y: 2 - x, "mul": lambda m, x, y: x * y, "rmul": lambda m, x, y: 3.0 * x,
    "truediv": lambda m, x, y: x / (y * y + 1.0), "rtruediv": lambda m, x, y: 1.0 / (x * x + 1.0),
    "floordiv": lambda m, x, y: (x * 8) // 0.5, "rfloordiv": lambda m, x, y: 8.0 // (x * x + 0.5),
    "mod": lambda m, x, y: (x * 8) % 0.25, "rmod": lambda m, x, y: 5 % (m.abs(x) * 4 + 1).astype(m.int64),
    "pow": lambda m, x, y: x ** 2, "pow-float": lambda m, x, y: m.abs(x) ** 1.5, "rpow": lambda m, x, y: 2.0 ** x,
    "pow-array": lambda m, x, y: m.abs(x) ** y, "neg": lambda m, x, y: -x, "pos": lambda m, x, y: +x,
    "abs": lambda m, x, y: abs(x), "matmul": lambda m, x, y: x @ y.T,
    "rmatmul": lambda m, x, y: np.ones((2, 3)) @ x, "lt": lambda m, x, y: x < y, "le": lambda m, x, y: x <= 0.5,
    "gt": lambda m, x, y: x > y, "ge": lambda m, x, y: 0.0 >= x, "eq": lambda m, x, y: m.round(x) == m.round(y),
    "ne": lambda m, x, y: m.round(x) != 0, "and": lambda m, x, y: (x > 0) & (y < 0.5),
    "or": lambda m, x, y: (x > 0) | (y < 0.5), "xor": lambda m, x, y: (x > 0) ^ (y < 0.5),
    "invert": lambda m, x, y: ~(x > 0), "rand": lambda m, x, y: np.array([True, False, True, True]) & (x > 0),
    "all": lambda m, x, y: (x > -5).all(), "any": lambda m, x, y: (x > 0).any(axis=0),
    "take": lambda m, x, y: x.take([0, 2], axis=1), "swapaxes": lambda m, x, y: x.swapaxes(0, 1),
    "len": lambda m, x, y: x * len(x), "iter": lambda m, x, y: [row for row in x][1],
}


@pytest.mark.parametrize("name", list(METHODS), ids=list(METHODS))
def test_tracer_method_or_operator_equals_numpy(name):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x[0, 0] = 0.0
    fn = METHODS[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        check_against_numpy(fn, x, y, exact=False, rtol=1e-14)


def test_tracer_attributes_are_static():
    def f(x):
        assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float32
        assert fnp.shape(x) == (2, 3) and fnp.ndim(x) == 2 and fnp.size(x) == 6 and np.shape(x) == (2, 3)
        return x
    fgrad.make_ir(f)(np.ones((2, 3), np.float32))


# ---- indexing --------------------------------------------------------------------------------------

MASK = np.array([True, False, True])
MASK_2D = np.arange(12).reshape(3, 4) % 3 == 0
INDEXES = {
    "int": 1, "neg-int": -1, "two-ints": (1, -2), "three-ints": (2, 3, 4), "slice": slice(1, None),
    "slice-step": (slice(None), slice(None, None, 2)), "reverse": slice(None, None, -1),
    "reverse-step": (slice(None), slice(3, 0, -2)), "reverse-all": (slice(None, None, -1), slice(None, None, -3)),
    "empty-slice": slice(2, 1), "newaxis": (slice(None), None), "newaxis-front-back": (None, Ellipsis, None),
    "ellipsis-int": (Ellipsis, 0), "ellipsis-middle": (0, Ellipsis, 1),
    "mixed-basic": (slice(1, 3), slice(None, None, 2), -1),
    "list": [0, 2], "list-dup-neg": [2, -1, 0, 2], "array-2d": np.array([[0, 1], [2, 1]]),
    "two-arrays": ([0, 2], [1, 3]), "adjacent-arrays": (slice(None), [0, 1], [1, 0]),
    "separated-arrays": ([0, 1], slice(None), [1, 0]), "int-and-array-separated": (0, slice(None), [1, 2]),
    "int-and-array-adjacent": (slice(None), 0, [1, 2]), "broadcast-arrays": (np.array([[0], [2]]), np.array([1, 3])),
    "array-and-newaxis": ([0, 1], None, [0, 1]), "array-and-slice": ([2, 0], slice(1, 3)),
    "mask": MASK, "mask-2d": MASK_2D, "mask-and-slice": (MASK, slice(1, 3)), "mask-and-array": (MASK, [1, 0]),
    "ellipsis-mask": (Ellipsis, np.array([True, False, False, True, True])), "empty-list": [],
    "scalar-array": np.array(1), "array-last": (Ellipsis, [4, 0]),
}


@pytest.mark.parametrize("name", list(INDEXES), ids=list(INDEXES))
def test_indexing_equals_numpy(name):
    x = np.arange(60.0).reshape(3, 4, 5)
    index = INDEXES[name]
    check_against_numpy(lambda m, x: x[index], x)


@pytest.mark.parametrize("name", ["list", "two-arrays", "separated-arrays", "int-and-array-adjacent",
                                  "broadcast-arrays", "array-2d"], ids=str)
def test_indexing_with_traced_integer_arrays_equals_numpy(name):
    x = np.arange(60.0).reshape(3, 4, 5)
    index = INDEXES[name] if isinstance(INDEXES[name], tuple) else (INDEXES[name],)
    arrays = [np.asarray(i) for i in index if not isinstance(i, slice) and not isinstance(i, int)]

    def fn(m, x, *traced_indices):
        it = iter(traced_indices)
        return x[tuple(next(it) if not isinstance(i, (slice, int)) else i for i in index)]
    check_against_numpy(fn, x, *arrays)


def test_indexing_with_traced_scalar_and_negative_indices_equals_numpy():
    x = np.arange(12.0).reshape(3, 4)
    check_against_numpy(lambda m, x, i: x[i], x, np.array(-1))
    check_against_numpy(lambda m, x, i, j: x[i, j], x, np.array(2), np.array(-3))
    check_against_numpy(lambda m, x, i: x[:, i], x, np.array([-1, 0, -4], np.int32))
    check_against_numpy(lambda m, x, i: x[[i, 0]], x, np.array(1))         # a list holding a tracer


@st.composite
def basic_index(draw, shape):
    entries = []
    for dim in shape:
        kind = draw(st.sampled_from(["slice", "int", "none-then-slice"]))
        if kind == "int":
            entries.append(draw(st.integers(-dim, dim - 1)))
            continue
        if kind == "none-then-slice":
            entries.append(None)
        bound = st.one_of(st.none(), st.integers(-dim - 2, dim + 2))
        step = draw(st.one_of(st.none(), st.integers(-3, 3).filter(bool)))
        entries.append(slice(draw(bound), draw(bound), step))
    return tuple(entries)


@FAST
@given(data=st.data())
def test_random_basic_indexing_equals_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = np.arange(float(np.prod(shape))).reshape(shape)
    index = data.draw(basic_index(shape))
    check_against_numpy(lambda m, x: x[index], x)


@FAST
@given(data=st.data())
def test_random_advanced_indexing_equals_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = np.arange(float(np.prod(shape))).reshape(shape)
    index_shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    entries, arrays = [], []
    for dim in shape:
        if data.draw(st.booleans()):
            array = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-dim, dim - 1)))
            entries.append(len(arrays))
            arrays.append(array)
        else:
            entries.append(data.draw(st.sampled_from([slice(None), slice(None, None, -1), slice(1, None)])))

    def fn(m, x, *indices):
        return x[tuple(indices[e] if isinstance(e, int) else e for e in entries)]
    check_against_numpy(fn, x, *arrays)                                      # traced indices
    check_against_numpy(lambda m, x: fn(m, x, *arrays), x)                    # concrete indices


# ---- .at[] functional updates ----------------------------------------------------------------------

def numpy_update(x, index, values, how):
    out = np.array(x, copy=True)
    if how == "set":
        out[index] = values
    elif how == "add":
        np.add.at(out, index, values)
    else:
        np.multiply.at(out, index, values)
    return out


AT_INDEXES = {
    "int": (1,), "neg-int": (-1, 2), "slice": (slice(1, None),), "reverse": (slice(None, None, -2),),
    "dup-list": ([0, 2, 0, 0],), "dup-2d": ([0, 0, 1], [3, 3, 3]), "ellipsis": (Ellipsis, 1),
    "mask": (np.array([True, False, True]),), "newaxis": (None, 0), "array-and-slice": ([2, 2], slice(0, 2)),
}


@pytest.mark.parametrize("how", ["set", "add", "multiply"], ids=str)
@pytest.mark.parametrize("name", list(AT_INDEXES), ids=list(AT_INDEXES))
def test_at_update_equals_numpy_semantics(name, how):
    x = np.arange(12.0).reshape(3, 4) + 1.0
    index = AT_INDEXES[name]
    shape = x[index].shape
    values = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape) / 2.0 + 0.5
    got = traced(lambda m, x, v: getattr(x.at[index], how)(v), x, values)
    assert_same(got, numpy_update(x, index, values, how))
    scalar = traced(lambda m, x: getattr(x.at[index], how)(3.0), x)        # a scalar broadcasts
    assert_same(scalar, numpy_update(x, index, 3.0, how))


def test_at_get_equals_indexing():
    x = np.arange(12.0).reshape(3, 4)
    assert_same(traced(lambda m, x: x.at[[2, 0], 1:].get(), x), x[[2, 0], 1:])


@pytest.mark.parametrize("how", ["set", "add", "multiply"], ids=str)
@FAST
@given(data=st.data())
def test_at_update_with_duplicate_indices_equals_numpy(how, data):
    n = data.draw(st.integers(1, 5))
    x = data.draw(float_arrays((n, 2), 0.5, 2.0))
    index = np.array(data.draw(st.lists(st.integers(-n, n - 1), max_size=8)), dtype=np.int64)
    values = data.draw(float_arrays((index.size, 2), 0.5, 2.0))
    want = numpy_update(x, index, values, how)
    assert_same(traced(lambda m, x, v: getattr(x.at[index], how)(v), x, values), want)
    # Traced indices: the repeats are unknown while tracing; multiply then multiplies in another order.
    got = traced(lambda m, x, i, v: getattr(x.at[i], how)(v), x, index, values)
    assert_same(got, want, exact=how != "multiply", rtol=1e-14)


def test_at_update_casts_values_to_the_array_dtype():
    x = np.arange(4, dtype=np.int32)
    assert_same(traced(lambda m, x: x.at[1].set(2.7), x), np.array([0, 2, 2, 3], np.int32))
    assert_same(traced(lambda m, x: x.astype(m.float32).at[0].add(1.5), x), np.array([1.5, 1, 2, 3], np.float32))


def test_at_update_gradients_flow_to_array_and_values():
    x, v = np.arange(4.0), np.array([2.0, 3.0])
    gx, gv = fgrad.grad(lambda x, v: fnp.sum(x.at[[1, 1]].multiply(v) ** 2), argnums=(0, 1))(x, v)
    # out[1] = x1 * v0 * v1 = 6 and d sum(out**2) = 2 * out * d out.
    np.testing.assert_allclose(gx, [0.0, 2 * 6.0 * 6.0, 4.0, 6.0])
    np.testing.assert_allclose(gv, [2 * 6.0 * 3.0, 2 * 6.0 * 2.0])


# ---- numpy functions on traced values --------------------------------------------------------------

DISPATCH = {
    "np.sin": lambda x, y: np.sin(x), "np.exp": lambda x, y: np.exp(x), "np.add": lambda x, y: np.add(x, y),
    "ndarray+tracer": lambda x, y: np.ones(4) + x, "ndarray*tracer": lambda x, y: np.arange(4.0) * x,
    "ndarray-tracer": lambda x, y: np.ones((3, 1)) - x, "ndarray==tracer": lambda x, y: np.zeros(4) == x,
    "ndarray>tracer": lambda x, y: np.zeros(4) > x, "np-scalar*tracer": lambda x, y: np.float64(2.0) * x,
    "np.sum": lambda x, y: np.sum(x, axis=0), "np.mean": lambda x, y: np.mean(x), "np.max": lambda x, y: np.max(x, 1),
    "np.amax": lambda x, y: np.amax(x), "np.prod": lambda x, y: np.prod(x, axis=1), "np.std": lambda x, y: np.std(x),
    "np.dot": lambda x, y: np.dot(x, y.T), "np.matmul": lambda x, y: np.matmul(x, y.T),
    "np.concatenate": lambda x, y: np.concatenate([x, np.ones((1, 4))]), "np.stack": lambda x, y: np.stack([x, y]),
    "np.where": lambda x, y: np.where(x > 0, x, y), "np.clip": lambda x, y: np.clip(x, -0.5, 0.5),
    "np.reshape": lambda x, y: np.reshape(x, (4, 3)), "np.transpose": lambda x, y: np.transpose(x),
    "np.linalg.norm": lambda x, y: np.linalg.norm(x, axis=1), "np.round": lambda x, y: np.round(x, 1),
    "np.maximum": lambda x, y: np.maximum(x, 0.0), "np.logaddexp": lambda x, y: np.logaddexp(x, y),
    "np.abs": lambda x, y: np.abs(x), "np.square": lambda x, y: np.square(x), "np.cumsum": lambda x, y: np.cumsum(x),
    "np.take": lambda x, y: np.take(x, [0, 3], axis=1), "np.outer": lambda x, y: np.outer(x[0], y[1]),
    "np.expand_dims": lambda x, y: np.expand_dims(x, 0), "np.argmax": lambda x, y: np.argmax(x, axis=1),
    "np.shape": lambda x, y: x * np.shape(x)[0], "np.isnan": lambda x, y: np.isnan(x),
    "np.linalg.solve": lambda x, y: np.linalg.solve(x[:, :3] + 3 * np.eye(3), y[:, 0]),
    "np.bitwise_and": lambda x, y: np.ones((3, 4), bool) & (x > 0), "np.mod": lambda x, y: np.mod(x, 0.5),
}


@pytest.mark.parametrize("name", list(DISPATCH), ids=list(DISPATCH))
def test_numpy_function_on_a_tracer_dispatches_to_fnp(name):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    fn = DISPATCH[name]
    program = fgrad.make_ir(fn)(x, y)
    assert program.equations, "the numpy call must record equations, not fold into a constant"
    assert_same(evaluate(program, x, y)[0], fn(x, y), exact=False, rtol=1e-14)


@pytest.mark.parametrize("call, name", [
    (lambda x: np.cbrt(x), "numpy.cbrt"), (lambda x: np.fft.fft(x), "numpy.fft.fft"),
    (lambda x: np.median(x), "numpy.median"), (lambda x: np.partition(x, 1), "numpy.partition"),
    (lambda x: np.add.outer(x, x), "numpy.add.outer"), (lambda x: np.sin(x, dtype=np.float32), "numpy.sin"),
], ids=["ufunc", "submodule", "function", "partition", "ufunc-method", "ufunc-kwargs"])
def test_unsupported_numpy_function_on_a_tracer_raises_naming_it(call, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")) as info:
        fgrad.make_ir(call)(np.ones(3))
    assert "Tracer(f64[3])" in str(info.value)


def test_unsupported_numpy_ufunc_with_an_fnp_equivalent_names_it():
    with pytest.raises(TypeError, match=r"fnp\.sin"):
        fgrad.make_ir(lambda x: np.sin(x, dtype=np.float32))(np.ones(3))
    with pytest.raises(TypeError, match="fgrad.numpy has no cbrt"):
        fgrad.make_ir(lambda x: np.cbrt(x))(np.ones(3))


# ---- composite functions ---------------------------------------------------------------------------

def softmax(m, x):
    z = x - m.max(x, axis=-1, keepdims=True)
    return m.exp(z) / m.sum(m.exp(z), axis=-1, keepdims=True)


def logistic_loss(m, w, X, y):
    return m.mean(m.log1p(m.exp(-y * (X @ w)))) + 0.01 * m.sum(w ** 2)


def mlp(m, W1, b1, W2, X):
    hidden = m.tanh(X @ W1 + b1)
    return m.mean((hidden @ W2) ** 2, axis=0)


def rosenbrock(m, x):
    return m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def standardize(m, x):
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)


def gather_rows(m, x, idx):
    return m.take_along_axis(x, idx, axis=1).sum(axis=1) + x[0, idx[:, 0]] + x[:, ::-1][:, idx[0]].sum(axis=1)


@FAST
@given(data=st.data())
def test_composite_functions_equal_numpy(data):
    n, d, h = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 4)), data.draw(st.integers(1, 3))
    X, w = data.draw(float_arrays((n, d), -2, 2)), data.draw(float_arrays((d,), -2, 2))
    y = np.sign(data.draw(float_arrays((n,), -1, 1))) + 0.5
    W1, b1, W2 = (data.draw(float_arrays(s, -1, 1)) for s in ((d, h), (h,), (h, 2)))
    idx = data.draw(hnp.arrays(np.int64, (n, 2), elements=st.integers(0, d - 1)))
    check_against_numpy(softmax, X, exact=False)
    check_against_numpy(logistic_loss, w, X, y, exact=False)
    check_against_numpy(mlp, W1, b1, W2, X, exact=False)
    check_against_numpy(rosenbrock, w, exact=False)
    check_against_numpy(standardize, X, exact=False)
    check_against_numpy(gather_rows, X, idx, exact=False)
