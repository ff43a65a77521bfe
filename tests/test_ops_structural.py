"""The structural primitives: slice, pad, concatenate, gather, scatter, scatter_add, iota, full.

For each: the shape rule against the numpy impl, the ops against numpy, the JVP against central finite
differences (float64), the VJP against the JVP by the dot-product test, and second order (jvp_program
of the vjp_program against finite differences of the vjp_program).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import REGISTRY, check, is_float, trace_flat, typeof
from fgrad.ops import (add, concatenate, full, gather, iota, mul, pad, scatter, scatter_add, sin,
                       static_slice, typeof)
from fgrad.ops.indexing import gather_p, scatter_p
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.vjp import vjp_program

from samples_structural import SAMPLES

FAST = settings(max_examples=30, deadline=None)
EPS = 1e-6


# ---- helpers: trace, JVP, finite differences, VJP --------------------------------------------------

def trace(fun, *args):
    """The checked Program of `fun(*args) -> one array`."""
    program, captured = trace_flat(lambda *xs: [fun(*xs)], [typeof(a) for a in args])
    assert not captured
    return check(program)


def float_mask(program):
    return [is_float(t.dtype) for t in program.in_types]


def random_like(types, rng):
    return [rng.standard_normal(t.shape).astype(t.dtype) for t in types]


def jvp_outputs(program, args, tangents):
    """Output tangents of `program` at `args` along `tangents` (one per float input), via jvp_program."""
    derived = check(jvp_program(program, float_mask(program)))
    results = evaluate(derived, *args, *tangents)
    return results[len(program.outputs):]


def finite_differences(program, args, tangents):
    """Central differences of `program` at `args` along `tangents` (one per float input)."""
    steps = iter(tangents)
    shifts = [next(steps) if m else None for m in float_mask(program)]
    plus = evaluate(program, *[a if s is None else a + EPS * s for a, s in zip(args, shifts)])
    minus = evaluate(program, *[a if s is None else a - EPS * s for a, s in zip(args, shifts)])
    return [(p - m) / (2 * EPS) for p, m in zip(plus, minus)]


def vjp_inputs(program, args, cts):
    """Cotangents of the float inputs of `program` at `args` for output cotangents `cts`, via vjp_program."""
    wrt = [i for i, m in enumerate(float_mask(program)) if m]
    derived = check(vjp_program(program, wrt))
    return evaluate(derived, *args, *cts)[len(program.outputs):]


def assert_jvp_matches_finite_differences(program, args, rng):
    tangents = random_like([t for t, m in zip(program.in_types, float_mask(program)) if m], rng)
    for got, want in zip(jvp_outputs(program, args, tangents), finite_differences(program, args, tangents)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def assert_dot_product_test(program, args, rng):
    """<vjp(ct), t> == <ct, jvp(t)>: the VJP is the transpose of the JVP."""
    float_types = [t for t, m in zip(program.in_types, float_mask(program)) if m]
    tangents = random_like(float_types, rng)
    cts = random_like(program.out_types, rng)
    out_dots = jvp_outputs(program, args, tangents)
    in_cts = vjp_inputs(program, args, cts)
    lhs = sum(np.vdot(c, t) for c, t in zip(in_cts, tangents))
    rhs = sum(np.vdot(c, d) for c, d in zip(cts, out_dots))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


def assert_second_order(program, args, rng):
    """The JVP of the VJP program (the VJP rules traced through jvp) against finite differences."""
    wrt = [i for i, m in enumerate(float_mask(program)) if m]
    adjoint = check(vjp_program(program, wrt))
    adjoint_args = list(args) + random_like(program.out_types, rng)
    assert_jvp_matches_finite_differences(adjoint, adjoint_args, rng)


def as_float64(args):
    return tuple(a.astype(np.float64) if is_float(a.dtype) else a for a in args)


def bind_program(name, args, params):
    prim = REGISTRY[name]
    return trace(lambda *xs: prim.bind(*xs, **params), *args)


def squared_program(name, args, params):
    """`p(x)**2` for primitive p: nonlinear, so the second-order terms reach p's rules."""
    prim = REGISTRY[name]

    def fun(*xs):
        out = prim.bind(*xs, **params)
        return mul(out, out)
    return trace(fun, *args)


def sample_cases(names, float_only=False):
    cases = []
    for name in names:
        for k, (args, params) in enumerate(SAMPLES[name]):
            if float_only and not any(is_float(a.dtype) for a in args):
                continue
            cases.append(pytest.param(name, args, params, id=f"{name}-{k}"))
    return cases


ALL = list(SAMPLES)
DIFFERENTIABLE = ["slice", "pad", "concatenate", "gather", "scatter", "scatter_add"]


# ---- every primitive: shape rule vs impl, JVP, VJP, second order ------------------------------------

@pytest.mark.parametrize("name,args,params", sample_cases(ALL))
def test_shape_rule_matches_impl(name, args, params):
    prim = REGISTRY[name]
    expected = prim.shape_rule(*[typeof(a) for a in args], **params)
    got = prim.impl(*args, **params)
    assert typeof(got) == expected
    assert np.asarray(got).dtype == expected.dtype


@pytest.mark.parametrize("name,args,params", sample_cases(DIFFERENTIABLE, float_only=True))
def test_jvp_matches_finite_differences(name, args, params):
    args = as_float64(args)
    assert_jvp_matches_finite_differences(bind_program(name, args, params), args, np.random.default_rng(0))


@pytest.mark.parametrize("name,args,params", sample_cases(DIFFERENTIABLE, float_only=True))
def test_vjp_is_transpose_of_jvp(name, args, params):
    args = as_float64(args)
    assert_dot_product_test(bind_program(name, args, params), args, np.random.default_rng(1))


@pytest.mark.parametrize("name,args,params", sample_cases(DIFFERENTIABLE, float_only=True))
def test_second_order(name, args, params):
    args = as_float64(args)
    assert_second_order(squared_program(name, args, params), args, np.random.default_rng(2))


@pytest.mark.parametrize("name", ["iota", "full"])
def test_creation_primitives_have_empty_rules(name):
    assert REGISTRY[name].jvp == () and REGISTRY[name].vjp == ()


@pytest.mark.parametrize("name", ["gather", "scatter", "scatter_add"])
def test_indices_have_zero_derivative(name):
    assert REGISTRY[name].jvp_rule(1) is None and REGISTRY[name].vjp_rule(1) is None


def test_integer_data_has_no_tangent():
    x = np.array([[1, 2], [3, 4]])
    program = trace(lambda x, y: add(gather(x, np.array([1, 0]), 0), y), x, np.zeros((2, 2)))
    derived = check(jvp_program(program, [False, True]))
    y_dot = np.ones((2, 2))
    out, out_dot = evaluate(derived, x, np.zeros((2, 2)), y_dot)
    np.testing.assert_array_equal(out, x[[1, 0]])
    np.testing.assert_array_equal(out_dot, y_dot)


# ---- slice ----------------------------------------------------------------------------------------

@st.composite
def arrays_and_slices(draw, max_ndim=3):
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=max_ndim)))
    bounds = st.one_of(st.none(), st.integers(-8, 8))
    starts = tuple(draw(bounds) for _ in shape)
    stops = tuple(draw(bounds) for _ in shape)
    steps = tuple(draw(st.integers(1, 4)) for _ in shape)
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, starts, stops, steps


@FAST
@given(arrays_and_slices())
def test_static_slice_matches_numpy(case):
    x, starts, stops, steps = case
    want = x[tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))]
    got = static_slice(x, starts, stops, steps)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@FAST
@given(arrays_and_slices())
def test_static_slice_rules(case):
    x, starts, stops, steps = case
    program = trace(lambda x: static_slice(x, starts, stops, steps), x)
    rng = np.random.default_rng(3)
    assert_jvp_matches_finite_differences(program, [x], rng)
    assert_dot_product_test(program, [x], rng)


@FAST
@given(arrays_and_slices(max_ndim=1))
def test_slice_vjp_puts_cotangent_back_in_place(case):
    x, starts, stops, steps = case
    index = slice(starts[0], stops[0], steps[0])
    program = trace(lambda x: static_slice(x, starts, stops, steps), x)
    ct = np.arange(1.0, 1.0 + x[index].size)
    want = np.zeros_like(x)
    want[index] = ct
    (got,) = vjp_inputs(program, [x], [ct])
    np.testing.assert_array_equal(got, want)


def test_static_slice_of_the_whole_array_is_a_no_op():
    x = np.arange(4.0)
    assert static_slice(x, (None,), (None,)) is x
    assert static_slice(x, (0,), (10,), (1,)) is x


def test_equal_slices_give_equal_equations():
    # 0:5:2 and 0:6:2 take the same elements; the op normalizes the stop to the tight one.
    x = np.arange(6.0)
    p1 = trace(lambda x: static_slice(x, (0,), (5,), (2,)), x)
    p2 = trace(lambda x: static_slice(x, (0,), (6,), (2,)), x)
    assert p1 == p2
    assert "slice[starts=(0,) steps=(2,) stops=(5,)]" in str(p1)


@pytest.mark.parametrize("call,error,match", [
    (lambda: static_slice(np.zeros(3), (0,), (3,), (0,)), ValueError, r"step 0 on axis 0 of shape \(3,\)"),
    (lambda: static_slice(np.zeros(3), (0,), (3,), (-1,)), ValueError, "reverse an axis with gather"),
    (lambda: static_slice(np.zeros((2, 3)), (0,), (1,)), ValueError, r"one entry per axis .* shape \(2, 3\)"),
    (lambda: trace(lambda x: REGISTRY["slice"].bind(x, starts=(2,), stops=(1,), steps=(1,)), np.zeros(3)), ValueError,
     r"slice 2:1 on axis 0 of shape \(3,\) is not a normalized range"),
], ids=["zero-step", "negative-step", "wrong-rank", "unnormalized-bind"])
def test_slice_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- pad ------------------------------------------------------------------------------------------

def reference_pad(x, widths, value):
    """np.pad extended with interior padding, built by hand."""
    out_shape = tuple(lo + hi + d + max(d - 1, 0) * interior for d, (lo, hi, interior) in zip(x.shape, widths))
    out = np.full(out_shape, value, dtype=x.dtype)
    index = np.ix_(*[lo + np.arange(d) * (interior + 1) for d, (lo, _, interior) in zip(x.shape, widths)])
    out[index] = x
    return out


@st.composite
def arrays_and_widths(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    widths = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in shape)
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, widths, draw(st.sampled_from([0.0, -1.5, 2.0]))


@FAST
@given(arrays_and_widths())
def test_pad_matches_reference(case):
    x, widths, value = case
    got = pad(x, widths, value)
    np.testing.assert_array_equal(got, reference_pad(x, widths, value))
    if all(interior == 0 for _, _, interior in widths):
        np.testing.assert_array_equal(got, np.pad(x, [(lo, hi) for lo, hi, _ in widths], constant_values=value))


@FAST
@given(arrays_and_widths())
def test_pad_rules(case):
    x, widths, value = case
    program = trace(lambda x: pad(x, widths, value), x)
    rng = np.random.default_rng(4)
    assert_jvp_matches_finite_differences(program, [x], rng)
    assert_dot_product_test(program, [x], rng)


def test_pad_value_has_no_derivative():
    x = np.array([1.0, 2.0])
    program = trace(lambda x: pad(x, ((1, 1, 1),), 5.0), x)
    (x_ct,) = vjp_inputs(program, [x], [np.arange(1.0, 6.0)])
    np.testing.assert_array_equal(x_ct, [2.0, 4.0])
    (x_dot,) = jvp_outputs(program, [x], [np.ones(2)])
    np.testing.assert_array_equal(x_dot, [0.0, 1.0, 0.0, 1.0, 0.0])


def test_pad_keeps_integer_and_bool_dtypes():
    assert pad(np.array([1, 2], np.int32), ((1, 0, 1),), 7).tolist() == [7, 1, 7, 2]
    assert pad(np.array([1, 2], np.int32), ((1, 0, 1),), 7).dtype == np.int32
    assert pad(np.array([True]), ((1, 1),), False).tolist() == [False, True, False]


@pytest.mark.parametrize("call,error,match", [
    (lambda: pad(np.zeros(3), ((-1, 0, 0),)), ValueError, r"axis 0 of shape \(3,\) must be non-negative"),
    (lambda: pad(np.zeros((2, 2)), ((1, 1, 0),)), ValueError, r"one entry per axis .* shape \(2, 2\)"),
    (lambda: pad(np.zeros(2), ((1, 1, 0),), np.ones(2)), ValueError, "must be a scalar"),
    (lambda: trace(lambda x, v: pad(x, ((1, 0, 0),), v), np.zeros(2), np.float64(1.0)), TypeError,
     "padding value is a static parameter"),
], ids=["negative", "wrong-rank", "array-value", "traced-value"])
def test_pad_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- concatenate ----------------------------------------------------------------------------------

@st.composite
def arrays_to_concatenate(draw):
    ndim = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim))
    axis = draw(st.integers(-ndim, ndim - 1))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(draw(st.integers(1, 4))):
        shape[axis] = draw(st.integers(0, 3))
        xs.append(rng.standard_normal(shape))
    return xs, axis


@FAST
@given(arrays_to_concatenate())
def test_concatenate_matches_numpy(case):
    xs, axis = case
    np.testing.assert_array_equal(concatenate(xs, axis), np.concatenate(xs, axis))


@FAST
@given(arrays_to_concatenate())
def test_concatenate_rules(case):
    xs, axis = case
    program = trace(lambda *xs: concatenate(xs, axis), *xs)
    rng = np.random.default_rng(5)
    assert_jvp_matches_finite_differences(program, xs, rng)
    assert_dot_product_test(program, xs, rng)


def test_concatenate_promotes_as_numpy():
    xs = [np.array([1, 2], np.int32), np.array([0.5], np.float32)]
    got = concatenate(xs)
    want = np.concatenate(xs)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("call,error,match", [
    (lambda: concatenate([np.zeros((2, 3)), np.zeros((2, 2))], axis=0), ValueError,
     r"axis 0 needs one dtype and equal sizes on the other axes, got f64\[2,3\], f64\[2,2\]"),
    (lambda: concatenate([np.zeros(()), np.zeros(())]), ValueError, "zero-dimensional"),
    (lambda: concatenate([]), ValueError, "at least one array"),
    (lambda: concatenate([np.zeros(2)], axis=1), IndexError, "axis 1 is out of bounds"),
], ids=["mismatch", "0-d", "empty", "bad-axis"])
def test_concatenate_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- gather / scatter_add / scatter -----------------------------------------------------------------

@st.composite
def indexing_cases(draw, negative=True):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(0, ndim - 1))
    dim = shape[axis]
    index_shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    low = -dim if negative else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    indices = rng.integers(low, dim, size=index_shape)
    x = rng.standard_normal(shape)
    updates = rng.standard_normal(shape[:axis] + index_shape + shape[axis + 1:])
    return x, indices, updates, axis


def reference_scatter(x, indices, updates, axis):
    """Assignment one update at a time, in order, so the last write wins."""
    out = x.copy()
    moved = np.moveaxis(updates.reshape(x.shape[:axis] + (-1,) + x.shape[axis + 1:]), axis, 0)
    target = np.moveaxis(out, axis, 0)    # a view: writes land in `out`
    for k, i in enumerate(indices.reshape(-1)):
        target[i] = moved[k]
    return out


@FAST
@given(indexing_cases())
def test_gather_matches_take(case):
    x, indices, _, axis = case
    np.testing.assert_array_equal(gather(x, indices, axis), np.take(x, indices, axis=axis))


@FAST
@given(indexing_cases())
def test_scatter_add_matches_add_at(case):
    x, indices, updates, axis = case
    want = x.copy()
    np.add.at(want, (slice(None),) * axis + (indices,), updates)
    np.testing.assert_allclose(scatter_add(x, indices, updates, axis), want, rtol=1e-14, atol=1e-14)


@FAST
@given(indexing_cases())
def test_scatter_matches_assignment(case):
    x, indices, updates, axis = case
    got = scatter(x, indices, updates, axis)
    np.testing.assert_array_equal(got, reference_scatter(x, indices % x.shape[axis], updates, axis))
    fancy = x.copy()
    fancy[(slice(None),) * axis + (indices,)] = updates
    np.testing.assert_array_equal(got, fancy)


@FAST
@given(indexing_cases(negative=False), st.sampled_from(["gather", "scatter_add", "scatter"]))
def test_indexing_rules(case, name):
    x, indices, updates, axis = case
    args = [x, indices] if name == "gather" else [x, indices, updates]
    program = bind_program(name, args, {"axis": axis})
    rng = np.random.default_rng(6)
    assert_jvp_matches_finite_differences(program, args, rng)
    assert_dot_product_test(program, args, rng)


def test_scatter_gradient_goes_only_to_the_winning_update():
    x = np.zeros(4)
    indices = np.array([1, 3, 1, 1, 0])
    updates = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    program = trace(lambda x, u: scatter(x, indices, u, 0), x, updates)
    np.testing.assert_array_equal(evaluate(program, x, updates)[0], [50.0, 40.0, 0.0, 20.0])
    ct = np.array([1.0, 2.0, 3.0, 4.0])
    x_ct, updates_ct = vjp_inputs(program, [x, updates], [ct])
    np.testing.assert_array_equal(x_ct, [0.0, 0.0, 3.0, 0.0])           # overwritten positions get nothing
    np.testing.assert_array_equal(updates_ct, [0.0, 4.0, 0.0, 2.0, 1.0])  # only the last write to 1 counts


def test_scatter_along_inner_axis_with_duplicates_is_exact():
    rng = np.random.default_rng(7)
    x, updates = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 2, 2, 2))
    indices = np.array([[2, 2], [0, 2]])
    program = trace(lambda x, u: scatter(x, indices, u, 1), x, updates)
    ct = rng.standard_normal((2, 3, 2))
    _, updates_ct = vjp_inputs(program, [x, updates], [ct])
    want = np.zeros_like(updates)
    want[:, 1, 1] = ct[:, 2]       # the last write to position 2 is indices[1, 1]
    want[:, 1, 0] = ct[:, 0]
    np.testing.assert_array_equal(updates_ct, want)


def test_gather_of_traced_negative_indices():
    x = np.arange(5.0)
    indices = np.array([-1, 0, -5, 2])
    program = trace(lambda x, i: gather(x, i, 0), x, indices)
    np.testing.assert_array_equal(evaluate(program, x, indices)[0], [4.0, 0.0, 0.0, 2.0])


def test_gather_vjp_accumulates_repeats():
    x = np.zeros(3)
    program = trace(lambda x: gather(x, np.array([2, 2, 0, 2]), 0), x)
    (x_ct,) = vjp_inputs(program, [x], [np.array([1.0, 2.0, 3.0, 4.0])])
    np.testing.assert_array_equal(x_ct, [3.0, 0.0, 7.0])


def test_scatter_ops_cast_and_broadcast_updates():
    x = np.zeros((2, 3), np.float32)
    got = scatter_add(x, np.array([0, 0]), 1.0, axis=1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    np.testing.assert_array_equal(scatter(np.zeros(3, np.int64), np.array([2]), 1.9, 0), [0, 0, 1])


@pytest.mark.parametrize("call,error,match", [
    (lambda: gather(np.zeros(3), np.array([0.0]), 0), TypeError, r"gather indices must be an integer array"),
    (lambda: gather(np.zeros((2, 3)), np.array([3]), 1), IndexError,
     r"gather index 3 is out of bounds for axis 1 with size 3 \(array of shape \(2, 3\)\)"),
    (lambda: gather(np.zeros((2, 3)), np.array([-3]), 0), IndexError, "index -3 is out of bounds for axis 0"),
    (lambda: gather(np.zeros(()), np.array([0]), 0), ValueError, "at least one axis"),
    (lambda: scatter(np.zeros((2, 3)), np.array([0]), np.zeros(3), 1), ValueError,
     r"scatter updates of shape \(3,\) cannot be broadcast to the gathered shape \(2, 1\) \(x of shape \(2, 3\)"),
    (lambda: trace(lambda x, u: scatter_p.bind(x, np.array([0]), u, axis=0), np.zeros(3), np.zeros(2)), ValueError,
     r"needs updates of type f64\[1\] \(the gathered type\), got f64\[2\]"),
    (lambda: trace(lambda x: gather_p.bind(x, np.array([0]), axis=1), np.zeros(3)), ValueError,
     r"axis 1 is out of range for an array of shape \(3,\)"),
], ids=["float-indices", "out-of-bounds", "negative-out-of-bounds", "0-d", "updates-shape", "bind-updates",
        "bind-axis"])
def test_indexing_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- iota / full ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,dtype,axis", [
    ((5,), "int64", 0), ((2, 3), "float32", 1), ((2, 3, 4), "int32", -2), ((0, 3), "float64", 0),
], ids=["1d", "2d-axis1", "3d-negative-axis", "empty"])
def test_iota_matches_arange(shape, dtype, axis):
    got = iota(shape, dtype, axis)
    axis %= len(shape)
    column = np.arange(shape[axis], dtype=dtype).reshape([-1 if a == axis else 1 for a in range(len(shape))])
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.broadcast_to(column, shape))


@pytest.mark.parametrize("shape,value,dtype", [
    ((2, 3), 1.5, "float64"), ((), 7, "int64"), (4, True, "bool"), ((2,), 1.9, "int32"), ((1, 2), 0.1, "float32"),
], ids=["f64", "0-d", "int-shape-bool", "truncating", "f32"])
def test_full_matches_numpy(shape, value, dtype):
    got = full(shape, value, dtype)
    want = np.full(shape, value, dtype=dtype)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_creation_inside_a_trace_is_a_constant_equation():
    program = trace(lambda x: add(x, mul(iota((3,), "float64"), full((3,), 2.0, "float64"))), np.zeros(3))
    assert "iota[axis=0 dtype=float64 shape=(3,)]" in str(program)
    np.testing.assert_array_equal(evaluate(program, np.ones(3))[0], [1.0, 3.0, 5.0])
    (x_dot,) = jvp_outputs(program, [np.ones(3)], [np.ones(3)])
    np.testing.assert_array_equal(x_dot, np.ones(3))


@pytest.mark.parametrize("call,error,match", [
    (lambda: iota((), "int64"), IndexError, "axis 0 is out of bounds for an array of dimension 0"),
    (lambda: iota((3,), "bool"), TypeError, "iota needs a numeric dtype"),
    (lambda: full((-1, 2), 0.0, "float64"), ValueError, r"negative dimensions .* \(-1, 2\)"),
    (lambda: trace(lambda v: full((2,), v, "float64"), np.float64(1.0)), TypeError,
     "fill value of full is a static parameter"),
], ids=["iota-0d", "iota-bool", "full-negative", "full-traced"])
def test_creation_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- composition: a function mixing the structural ops, to second order ----------------------------

def test_mixed_structural_function_to_second_order():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3))
    indices = np.array([3, 0, 3])

    def fun(x):
        taken = gather(sin(x), indices, 0)                           # (3, 3)
        padded = pad(taken, ((1, 0, 1), (0, 0, 0)))                  # (6, 3)
        joined = concatenate([padded, static_slice(x, (0, 0), (4, 3), (2, 1))], 0)   # (8, 3)
        updates = static_slice(concatenate([x, x], 0), (0, 1), (8, 3))          # (8, 2)
        return scatter_add(mul(joined, joined), np.array([1, 1]), updates, 1)

    program = trace(fun, x)
    assert_jvp_matches_finite_differences(program, [x], rng)
    assert_dot_product_test(program, [x], rng)
    assert_second_order(program, [x], rng)
