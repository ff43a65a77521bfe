"""Registry-driven rule tests: every primitive in fgrad.ir.REGISTRY, on the samples of tests/samples_*.py.

For each primitive: it has samples and filled JVP/VJP slots; its shape rule agrees with its impl; the
reference executor agrees with its impl; its JVP agrees with central finite differences (float64); its VJP
agrees with its JVP (the dot-product test <vjp(ct), t> = <ct, jvp(t)>); and the same two checks hold for
its JVP and VJP programs, i.e. to second order. Property tests (hypothesis) then vary shapes, including
broadcasting through the op wrappers, for the elementwise, reduction and linear-algebra ops.
"""
import importlib
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fgrad  # noqa: F401  (registers every primitive)
from fgrad import ops
from fgrad.backend.numpy_exec import compile_program, evaluate
from fgrad.ir import MISSING, REGISTRY, check, is_float, trace_flat, typeof
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.vjp import vjp_program

import samples_core


def _load_samples():
    """Merge SAMPLES and NON_DIFFERENTIABLE from every tests/samples_*.py (core, structural, ...)."""
    samples, non_differentiable = {}, set()
    for path in sorted(pathlib.Path(__file__).parent.glob("samples_*.py")):
        module = importlib.import_module(path.stem)
        for name, cases in module.SAMPLES.items():
            samples.setdefault(name, []).extend(cases)
        non_differentiable |= set(getattr(module, "NON_DIFFERENTIABLE", ()))
    return samples, non_differentiable


SAMPLES, NON_DIFFERENTIABLE = _load_samples()
PRIMITIVES = sorted(REGISTRY)
CASES = [(name, i) for name in PRIMITIVES for i in range(len(SAMPLES.get(name, ())))]
CASE_IDS = [f"{name}-{i}" for name, i in CASES]

FD_STEP = 1e-6
FD_RTOL = 1e-6
DOT_RTOL = 1e-9


# ---- tracing and numeric helpers ----------------------------------------------------------------------

def trace_primitive(prim, args, params):
    """A one-equation Program binding `prim` on inputs typed like `args`."""
    def fun(*xs):
        out = prim.bind(*xs, **params)
        return list(out) if prim.multiple_results else [out]
    program, captured = trace_flat(fun, [typeof(a) for a in args])
    assert not captured
    return program


def trace_op(op, args):
    program, captured = trace_flat(lambda *xs: [op(*xs)], [typeof(a) for a in args])
    assert not captured
    return program


def float_inputs(program):
    return [i for i, v in enumerate(program.inputs) if is_float(v.type.dtype)]


def float_outputs(program):
    return [j for j, v in enumerate(program.outputs) if is_float(v.type.dtype)]


def all_float64(program) -> bool:
    """Finite differences are only meaningful when every float value in and out is float64."""
    types = list(program.in_types) + list(program.out_types)
    return all(t.dtype == np.float64 for t in types if is_float(t.dtype))


def random_like(rng, t):
    return rng.standard_normal(t.shape) if is_float(t.dtype) else np.zeros(t.shape, t.dtype)


def assert_same_values(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (
        f"{what}: got {actual.dtype}{list(actual.shape)}, expected {expected.dtype}{list(expected.shape)}")
    np.testing.assert_array_equal(actual, expected, err_msg=what)


def check_jvp_against_fd(program, args, rng):
    """JVP along a random direction in all float inputs vs central differences; returns (tangents, out_dots)."""
    wrt = float_inputs(program)
    mask = [i in wrt for i in range(len(program.inputs))]
    tangents = [rng.standard_normal(program.inputs[i].type.shape) for i in wrt]
    derived = check(jvp_program(program, mask))
    out_dots = evaluate(derived, *args, *tangents)[len(program.outputs):]
    for out_dot, t in zip(out_dots, program.out_types):
        assert out_dot.shape == t.shape and out_dot.dtype == t.dtype, f"tangent {out_dot.dtype}{out_dot.shape} of {t}"

    scale = max([1.0] + [float(np.max(np.abs(args[i]), initial=0.0)) for i in wrt])
    step = FD_STEP * scale

    def shifted(sign):
        moved = list(args)
        for i, t in zip(wrt, tangents):
            moved[i] = args[i] + sign * step * t
        return evaluate(program, *moved)

    plus, minus = shifted(1.0), shifted(-1.0)
    for j in float_outputs(program):
        fd = (plus[j] - minus[j]) / (2 * step)
        atol = FD_RTOL * max(1.0, float(np.max(np.abs(fd), initial=0.0)))
        np.testing.assert_allclose(out_dots[j], fd, rtol=FD_RTOL, atol=atol,
                                   err_msg=f"JVP of output {j} vs central finite differences")
    return tangents, out_dots


def check_vjp_against_jvp(program, args, rng, tangents, out_dots):
    """The dot-product test <vjp(ct), t> = <ct, jvp(t)> with random output cotangents."""
    wrt = float_inputs(program)
    cts = [random_like(rng, t) for t in program.out_types]
    derived = check(vjp_program(program, wrt))
    in_cts = evaluate(derived, *args, *cts)[len(program.outputs):]
    for ct, i in zip(in_cts, wrt):
        t = program.inputs[i].type
        assert ct.shape == t.shape and ct.dtype == t.dtype, f"cotangent {ct.dtype}{ct.shape} of input {i}: {t}"
    terms_in = [np.vdot(ct, t) for ct, t in zip(in_cts, tangents)]
    terms_out = [np.vdot(cts[j], out_dots[j]) for j in float_outputs(program)]
    size = sum(abs(x) for x in terms_in + terms_out) + 1.0
    assert abs(sum(terms_in) - sum(terms_out)) <= DOT_RTOL * size, (
        f"<vjp(ct), t> = {sum(terms_in)!r} but <ct, jvp(t)> = {sum(terms_out)!r}")
    return cts


def check_first_order(program, args, rng):
    """JVP vs finite differences and VJP vs JVP; returns the tangents and cotangents it used."""
    tangents, out_dots = check_jvp_against_fd(program, args, rng)
    cts = check_vjp_against_jvp(program, args, rng, tangents, out_dots)
    return tangents, cts


def check_to_second_order(program, args, rng):
    """First-order checks on `program`, then on its JVP program and its VJP program (derivatives of rules)."""
    args = [np.asarray(a, dtype=t.dtype) for a, t in zip(args, program.in_types)]
    tangents, cts = check_first_order(program, args, rng)
    wrt = float_inputs(program)
    jvp_prog = jvp_program(program, [i in wrt for i in range(len(program.inputs))])
    check_first_order(jvp_prog, args + tangents, rng)
    vjp_prog = vjp_program(program, wrt)
    check_first_order(vjp_prog, args + cts, rng)


def check_derivative_types(program):
    """Without numerics (float32 samples): tangents and cotangents have their primal's type."""
    wrt = float_inputs(program)
    jvp_prog = check(jvp_program(program, [i in wrt for i in range(len(program.inputs))]))
    assert jvp_prog.out_types[len(program.outputs):] == program.out_types
    vjp_prog = check(vjp_program(program, wrt))
    assert vjp_prog.out_types[len(program.outputs):] == tuple(program.inputs[i].type for i in wrt)


def arity(name):
    args, _ = SAMPLES[name][0]
    return len(args)


# ---- (a) every primitive has samples and rules ----------------------------------------------------

@pytest.mark.parametrize("name", PRIMITIVES, ids=PRIMITIVES)
def test_primitive_has_samples_and_rules(name):
    prim = REGISTRY[name]
    if not SAMPLES.get(name):
        pytest.fail(f"primitive '{name}' has no samples: add valid inputs for it to SAMPLES in one of "
                    "tests/samples_*.py", pytrace=False)
    for slot in ("jvp", "vjp"):
        if getattr(prim, slot) is MISSING:
            pytest.fail(f"primitive '{name}' has no {slot.upper()} rule: fill the slot in the block that declares "
                        f"{name}_p (a tuple with None for inputs whose derivative is zero)", pytrace=False)
    rules = (prim.jvp, prim.vjp)
    if name in NON_DIFFERENTIABLE or arity(name) == 0:
        for rule in rules:
            assert rule == (None,) * arity(name), (
                f"primitive '{name}' is non-differentiable and must declare zero rules explicitly "
                f"(zero_rules({arity(name)})), got {rule!r}")
    else:
        for rule in rules:
            assert not isinstance(rule, tuple) or any(r is not None for r in rule), (
                f"primitive '{name}' declares a zero derivative in every input; if it is really "
                "non-differentiable add it to NON_DIFFERENTIABLE in its samples module")


# ---- (b)-(f) on every sample --------------------------------------------------------------------------

@pytest.mark.parametrize("name,index", CASES, ids=CASE_IDS)
def test_primitive_sample(name, index):
    prim = REGISTRY[name]
    args, params = SAMPLES[name][index]
    expected = prim.impl(*args, **params)
    expected = list(expected) if prim.multiple_results else [expected]

    program = check(trace_primitive(prim, args, params))
    # (b) the shape rule agrees with the impl's shape and dtype
    assert program.out_types == tuple(typeof(e) for e in expected), (
        f"shape rule gives {program.out_types}, impl gives {tuple(typeof(e) for e in expected)}")
    # (c) the reference executor runs the traced program to the impl's values, and so does its compiled
    # form; each declared implementation variant gives the impl's shapes and dtypes, and its values up to
    # rounding (a variant rounds like another system, it computes the same function)
    for j, (got, want) in enumerate(zip(evaluate(program, *args), expected)):
        assert_same_values(got, want, f"evaluate(program) output {j}")
    arrays = [np.asarray(a, v.type.dtype) for a, v in zip(args, program.inputs)]
    for j, (got, want) in enumerate(zip(compile_program(program)(*arrays), expected)):
        assert_same_values(got, want, f"compile_program(program) output {j}")
    for variant in prim.impl_variants:
        for j, (got, want) in enumerate(zip(compile_program(program, variant)(*arrays), expected)):
            want = np.asarray(want)
            assert typeof(got) == typeof(want), f"variant {variant!r} output {j}: {typeof(got)}, impl: {typeof(want)}"
            rtol = 1e-5 if want.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True,
                                       err_msg=f"variant {variant!r} output {j}")

    if name in NON_DIFFERENTIABLE or not float_inputs(program) or not float_outputs(program):
        return
    if not all_float64(program):
        check_derivative_types(program)
        return
    # (d), (e) first order, (f) the same on the derivative programs
    check_to_second_order(program, args, np.random.default_rng(index))


# ---- property tests: shapes and broadcasting through the op wrappers -----------------------------------

ELEMENTWISE_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
SEEDS = st.integers(0, 2**32 - 1)
PROPERTY = settings(max_examples=25, deadline=None)


def check_op_derivatives(name, program, args, rng):
    if name not in NON_DIFFERENTIABLE:
        check_to_second_order(program, args, rng)


@pytest.mark.parametrize("name", samples_core.UNARY, ids=samples_core.UNARY)
@PROPERTY
@given(shape=ELEMENTWISE_SHAPES, seed=SEEDS)
def test_unary_op_property(name, shape, seed):
    rng = np.random.default_rng(seed)
    (x,) = samples_core.DOMAINS[name](rng, shape)
    program = trace_op(getattr(ops, name), [x])
    assert_same_values(evaluate(program, x)[0], REGISTRY[name].impl(x), name)
    check_op_derivatives(name, program, [x], rng)


@pytest.mark.parametrize("name", samples_core.BINARY, ids=samples_core.BINARY)
@PROPERTY
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), seed=SEEDS)
def test_binary_op_broadcasting_property(name, shapes, seed):
    rng = np.random.default_rng(seed)
    x, y = samples_core.DOMAINS[name](rng, *shapes.input_shapes)
    program = trace_op(getattr(ops, name), [x, y])
    got = evaluate(program, x, y)[0]
    assert got.shape == shapes.result_shape
    assert_same_values(got, REGISTRY[name].impl(*np.broadcast_arrays(x, y)), name)
    check_op_derivatives(name, program, [x, y], rng)


@st.composite
def shape_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axes = draw(st.none() | st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                                     unique_by=lambda a: a % len(shape)).map(tuple))
    return shape, axes


REDUCTIONS = {"reduce_sum": np.sum, "reduce_max": np.max, "reduce_min": np.min}


@pytest.mark.parametrize("name", list(REDUCTIONS), ids=list(REDUCTIONS))
@PROPERTY
@given(case=shape_and_axes(), seed=SEEDS)
def test_reduction_property(name, case, seed):
    shape, axes = case
    rng = np.random.default_rng(seed)
    x = samples_core.distinct(rng, shape)
    program = trace_op(lambda x: getattr(ops, name)(x, axes), [x])
    np.testing.assert_array_equal(evaluate(program, x)[0], REDUCTIONS[name](x, axis=axes))
    check_to_second_order(program, [x], rng)


@PROPERTY
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data(),
       reverse=st.booleans(), seed=SEEDS)
def test_cumsum_property(shape, data, reverse, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    program = trace_op(lambda x: ops.cumsum(x, axis, reverse=reverse), [x])
    flip = (lambda v: np.flip(v, axis)) if reverse else (lambda v: v)
    np.testing.assert_allclose(evaluate(program, x)[0], flip(np.cumsum(flip(x), axis=axis)), rtol=1e-12)
    check_to_second_order(program, [x], rng)


@PROPERTY
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data(), seed=SEEDS)
def test_argmax_is_numpys_first_occurrence(shape, data, seed):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    x = samples_core.small_ints(np.random.default_rng(seed), shape)       # many ties
    program = trace_op(lambda x: ops.argmax(x, axis), [x])
    assert_same_values(evaluate(program, x)[0], np.argmax(x, axis=axis).astype(np.int64), "argmax")


@st.composite
def matmul_shapes(draw):
    """numpy matmul operand shapes: vectors, matrices, and batches that broadcast against each other."""
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a_vector, b_vector = draw(st.booleans()), draw(st.booleans())
    a = (k,) if a_vector else batches.input_shapes[0] + (m, k)
    b = (k,) if b_vector else batches.input_shapes[1] + (k, n)
    return a, b


@PROPERTY
@given(shapes=matmul_shapes(), seed=SEEDS)
def test_matmul_property(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    program = trace_op(ops.matmul, [a, b])
    np.testing.assert_allclose(evaluate(program, a, b)[0], np.matmul(a, b), rtol=1e-12, atol=1e-12)
    check_to_second_order(program, [a, b], rng)


@PROPERTY
@given(n=st.integers(1, 3), k=st.integers(1, 2), vector=st.booleans(),
       batches=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2), seed=SEEDS)
def test_solve_property(n, k, vector, batches, seed):
    rng = np.random.default_rng(seed)
    a = samples_core.well_conditioned(rng, batches.input_shapes[0] + (n, n))
    b = rng.standard_normal((n,) if vector else batches.input_shapes[1] + (n, k))
    program = trace_op(ops.solve, [a, b])
    np.testing.assert_allclose(evaluate(program, a, b)[0], np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
    check_to_second_order(program, [a, b], rng)


# ---- ties, conventions and errors of the reductions and linear algebra ----------------------------------

def grad_of_sum(op, x):
    """d sum(op(x)) / dx through vjp_program and the reference executor."""
    program = trace_op(op, [x])
    ct = np.ones(program.out_types[0].shape)
    return evaluate(vjp_program(program, [0]), x, ct)[1]


@pytest.mark.parametrize("op,x,expected", [
    (lambda x: ops.reduce_max(x), [1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0]),
    (lambda x: ops.reduce_min(x), [1.0, 1.0, 1.0, 2.0], [1 / 3, 1 / 3, 1 / 3, 0.0]),
    (lambda x: ops.reduce_max(x, 1), [[1.0, 1.0], [0.0, 2.0]], [[0.5, 0.5], [0.0, 1.0]]),
], ids=["max-pair", "min-triple", "max-rows"])
def test_chooser_ties_split_the_derivative(op, x, expected):
    np.testing.assert_allclose(grad_of_sum(op, np.array(x)), expected)


def test_cumsum_counts_small_ints_in_int64_as_numpy():
    for x in (np.array([True, True, False]), np.array([1, 2, 3], np.int32)):
        assert_same_values(ops.cumsum(x, 0), np.cumsum(x), f"cumsum of {x.dtype}")


def _zeros(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


# Shape rules run while tracing (concrete calls go straight to numpy), so each case is traced.
@pytest.mark.parametrize("op,args,message", [
    (lambda x: ops.reduce_max(x, 1), [_zeros(2, 0)],
     r"reduce_max over axes \(1,\) of an array of shape \(2, 0\): axis 1 has size 0"),
    (lambda x: ops.reduce_min(x), [_zeros(0)], r"reduce_min over axes \(0,\) of .*shape \(0,\): axis 0 has size 0"),
    (lambda x: ops.argmax(x, 1), [_zeros(3, 0)], r"argmax of an empty sequence.*\(3, 0\)"),
    (lambda x: ops.argmax(x, 0, index_dtype=np.float64), [_zeros(3)], "index_dtype must be int32 or int64"),
    (lambda x: ops.argmax(x, 1), [_zeros(3)], "axis 1 is out of bounds"),
    (lambda x: ops.cumsum(x, 2), [_zeros(2, 3)], "axis 2 is out of bounds"),
    (lambda x: REGISTRY["cumsum"].bind(x, axis=0, reverse=False), [np.ones(2, bool)], "does not take bool"),
    (ops.matmul, [_zeros(2, 3), _zeros(4, 5)],
     r"mismatch in its core dimension 0.*size 4 is different from 3.*\(2, 3\) and \(4, 5\)"),
    (ops.matmul, [_zeros(3), _zeros(4)], r"size 4 is different from 3.*\(3,\) and \(4,\)"),
    (ops.matmul, [_zeros(), _zeros(3)], r"operand 0 does not have enough dimensions.*\(\) and \(3,\)"),
    (ops.matmul, [_zeros(2, 2, 3), _zeros(3, 3, 4)],
     r"batch dimensions of shapes \(2, 2, 3\) and \(3, 3, 4\).*cannot be broadcast"),
    (lambda a, b: REGISTRY["matmul"].bind(a, b), [_zeros(2, 2, 3), _zeros(3, 4)], "equal batch dimensions"),
    (lambda a, b: REGISTRY["matmul"].bind(a, b), [_zeros(2, 3), _zeros(3, dtype=np.float32)], "equal dtypes"),
    (ops.solve, [_zeros(2, 3), _zeros(2)], r"must be square.*\(2, 3\)"),
    (ops.solve, [_zeros(3, 3), _zeros(4)], r"n = 3 from a.*\(3, 3\) and \(4,\)"),
    (ops.solve, [_zeros(3, 3), _zeros(3, 2, 1)], r"n = 3 from a.*\(3, 3\) and \(3, 2, 1\)"),
    (ops.solve, [_zeros(3, 3), _zeros()], r"n = 3 from a.*\(3, 3\) and \(\)"),
    (ops.solve, [_zeros(2, 3, 3), _zeros(3, 3, 1)], r"batch dimensions of shapes \(2, 3, 3\) and \(3, 3, 1\)"),
    (lambda a, b: REGISTRY["solve"].bind(a, b), [_zeros(2, 2), _zeros(2)], r"b of shape a.shape\[:-1\] \+ \(k,\)"),
    (lambda a, b: REGISTRY["solve"].bind(a, b), [_zeros(2, 2, dtype=np.int64), _zeros(2, 1, dtype=np.int64)],
     "needs float inputs"),
], ids=["max-empty", "min-empty", "argmax-empty", "argmax-dtype", "argmax-axis", "cumsum-axis", "cumsum-bool",
        "matmul-inner", "matmul-vectors", "matmul-scalar", "matmul-batch", "matmul-prim-batch", "matmul-prim-dtype",
        "solve-square", "solve-vector", "solve-matrix", "solve-scalar", "solve-batch", "solve-prim-vector",
        "solve-prim-ints"])
def test_shape_rule_errors(op, args, message):
    with pytest.raises((ValueError, TypeError, IndexError), match=message):
        trace_op(op, args)
