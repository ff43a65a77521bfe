"""fgrad.jit: composition with the transforms, argument kinds, caching per signature, parallel kernels,
errors, and property tests against the reference executor.

Jitted functions are module-level so that tests share their compiled kernels.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
import fgrad.api as api_module  # noqa: E402
from fgrad import config as fgrad_config  # noqa: E402
from fgrad.backend.codegen import UnsupportedPrimitiveError  # noqa: E402
from fgrad.backend.jit import PARALLEL_THRESHOLD, JitCompileError  # noqa: E402
from fgrad.backend.numba_jit import compile_stats  # noqa: E402
from fgrad.backend.numpy_exec import evaluate  # noqa: E402
from fgrad.ir import REGISTRY, Primitive  # noqa: E402
from fgrad.ops.base import same_type  # noqa: E402


def w1_loss(x):
    return fnp.sum(fnp.sin(x) ** 2 * fnp.exp(-0.5 * x) + fnp.tanh(x) * x)


def scalar_chain(a, b, steps=20):
    for _ in range(steps):
        a = fnp.sin(a) * b + fnp.cos(b)
        b = 0.5 * a + 0.9 * b
    return a + b


def mlp_loss(params, x):
    w, b = params["w"], params["b"]
    h = fnp.tanh(x @ w + b)
    return fnp.mean(h ** 2)


W1_VG = fgrad.jit(fgrad.value_and_grad(w1_loss))
W1_GRAD_OF_JIT = fgrad.grad(fgrad.jit(w1_loss))
CHAIN_VG = fgrad.jit(fgrad.value_and_grad(scalar_chain, argnums=(0, 1)))
MLP_GRAD = fgrad.jit(fgrad.grad(mlp_loss))
X = np.linspace(-2.5, 2.5, 101)


def close(a, b, rtol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


# ---- composition with the transforms ---------------------------------------------------------------

def test_jit_of_value_and_grad_matches_the_interpreter():
    value, grad = W1_VG(X)
    ref_value, ref_grad = fgrad.value_and_grad(w1_loss)(X)
    assert isinstance(value, np.ndarray) and value.shape == () and grad.shape == X.shape
    close(value, ref_value)
    close(grad, ref_grad)


def test_grad_of_jit_traces_inline():
    close(W1_GRAD_OF_JIT(X), fgrad.grad(w1_loss)(X))


def test_jit_of_jit_and_jit_of_grad():
    nested = fgrad.jit(fgrad.jit(w1_loss))
    close(nested(X), w1_loss(X))
    close(fgrad.jit(fgrad.grad(fgrad.jit(w1_loss)))(X), fgrad.grad(w1_loss)(X))


def test_jacrev_of_jit():
    f = fgrad.jit(lambda x: fnp.sin(x) * x[0])
    x = np.array([0.3, -1.2, 2.0])
    close(fgrad.jacrev(f)(x), fgrad.jacrev(lambda x: fnp.sin(x) * x[0])(x))


def test_scalar_chain_with_python_floats():
    value, (da, db) = CHAIN_VG(0.5, 0.3)
    ref_value, (ref_da, ref_db) = fgrad.value_and_grad(scalar_chain, argnums=(0, 1))(0.5, 0.3)
    for got, want in ((value, ref_value), (da, ref_da), (db, ref_db)):
        assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.float64
        close(got, want, rtol=1e-9)


def test_zero_d_arrays_and_float32_scalars():
    f = fgrad.jit(lambda a, b: a * b + 1.0)
    out = f(np.array(2.0, np.float32), np.float32(3.0))
    assert out.dtype == np.float32 and out.shape == () and out == 7.0


def test_pytree_arguments_and_results():
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    x = rng.standard_normal((5, 4))
    got = MLP_GRAD(params, x)
    want = fgrad.grad(mlp_loss)(params, x)
    assert set(got) == {"w", "b"}
    close(got["w"], want["w"])
    close(got["b"], want["b"])


def test_static_argnums_are_part_of_the_signature():
    f = fgrad.jit(lambda x, n: fnp.sum(x ** n), static_argnums=1)
    close(f(X, 2), np.sum(X ** 2))
    close(f(X, 3), np.sum(X ** 3))


def test_outputs_that_are_inputs_or_constants():
    f = fgrad.jit(lambda x: (x, 2.0, fnp.ones(3)))
    x = np.arange(3.0)
    out, two, ones = f(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert two == 2.0 and isinstance(two, np.ndarray)
    np.testing.assert_array_equal(ones, np.ones(3))


OWNERSHIP_CASES = [
    ("equal_gradients", fgrad.grad(lambda a, b: fnp.sum(a + b), argnums=(0, 1)), 2),
    ("same_result_twice", lambda x: (x * 2, x * 2), 1),
    ("input_twice", lambda x: (x, x), 1),
    ("input_and_constants", lambda x: (x, 2.0, fnp.full_like(x, 2.0), fnp.full_like(x, 2.0)), 1),
    ("zero_d_results", lambda x: (fnp.sum(x), fnp.sum(x), x[0], x[0]), 1),
]


@pytest.mark.parametrize("name, fun, nargs", OWNERSHIP_CASES, ids=[c[0] for c in OWNERSHIP_CASES])
def test_results_are_arrays_the_caller_owns(name, fun, nargs):
    args = [np.arange(3.0) + k for k in range(nargs)]
    jitted = fgrad.jit(fun)
    first = fgrad.tree_util.tree_leaves(jitted(*args))
    second = fgrad.tree_util.tree_leaves(jitted(*args))
    for k, result in enumerate(first):
        assert isinstance(result, np.ndarray) and result.flags.writeable
        others = args + first[k + 1:] + second
        assert not any(np.shares_memory(result, other) for other in others), f"result {k} is shared"
    for got, want in zip(first, fgrad.tree_util.tree_leaves(fun(*args))):
        np.testing.assert_array_equal(got, want)


CONSTANT_GRADIENTS = [
    ("linear_term", lambda w: fnp.sum(w * 2.0), np.arange(3.0)),
    ("affine_term", lambda w: fnp.sum((w - 1) * 3), np.arange(3.0)),
    ("last_element", lambda x: fnp.sum(x[-1:] * 0.37), np.ones(1, np.float32)),
    ("zero_sized_axis", lambda x: fnp.sum(x[-1:] * 0.37), np.ones((0, 3))),
]


@pytest.mark.parametrize("name, fun, x", CONSTANT_GRADIENTS, ids=[c[0] for c in CONSTANT_GRADIENTS])
def test_gradients_that_are_broadcast_constants(name, fun, x):
    # Issue 17: the gradient of a linear term is a broadcast constant that the forward pass uses too.
    value, grad = fgrad.jit(fgrad.value_and_grad(fun))(x)
    ref_value, ref_grad = fgrad.value_and_grad(fun)(x)
    assert grad.dtype == ref_grad.dtype and grad.shape == ref_grad.shape
    close(value, ref_value)
    close(grad, ref_grad)


def test_a_constant_returned_next_to_its_use():
    def f(a):
        c = fnp.full_like(a, 2)
        return a * c, c
    a = np.arange(3.0)
    product, constant = fgrad.jit(f)(a)
    np.testing.assert_array_equal(product, 2 * a)
    np.testing.assert_array_equal(constant, np.full(3, 2.0))


@pytest.mark.parametrize("fun", [lambda x: x ** -1, lambda x: fnp.power(x, -2), lambda x: x ** -1 + 1.0],
                         ids=["pow_minus_one", "power_minus_two", "inside_an_expression"])
def test_integers_to_negative_powers_raise_as_in_numpy(fun):
    x = np.array([1, 2])
    with pytest.raises(ValueError, match="Integers to negative integer powers are not allowed"):
        x ** -1
    with pytest.raises(ValueError, match="Integers to negative integer powers are not allowed"):
        fun(fnp.asarray(x))
    with pytest.raises(ValueError, match="Integers to negative integer powers are not allowed"):
        fgrad.jit(fun)(x)


def test_integer_powers_are_exact():
    x = np.array([2001, 3, -7, 100_000])
    for y in (5, 7):
        np.testing.assert_array_equal(fgrad.jit(lambda x: x ** y)(x), x ** y)
    np.testing.assert_array_equal(fgrad.jit(lambda x: x ** 9)(x.astype(np.int32)), x.astype(np.int32) ** 9)


def test_arrays_of_rank_above_python_nesting_limit():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1,) * 18 + (2, 3, 2))

    def loss(x):
        return fnp.sum(fnp.tanh(fnp.sum(x[..., 1:, :] * x[..., :-1, :], axis=-1)))
    value, grad = fgrad.jit(fgrad.value_and_grad(loss))(x)
    ref_value, ref_grad = fgrad.value_and_grad(loss)(x)
    close(value, ref_value)
    close(grad, ref_grad)


EDGE_CASES = [
    ("transposed_output", lambda x: x.T, (np.arange(6.0).reshape(2, 3),)),
    ("empty_arrays", lambda x: (fnp.sum(x), x * 2.0), (np.zeros((0, 3)),)),
    ("int_and_bool", lambda i, x: (i * 3 + 1, x > 0.5, fnp.where(x > 0.5, i, -i)),
     (np.arange(4), np.linspace(0, 1, 4))),
    ("same_output_twice", lambda x: (fnp.sin(x), fnp.sin(x)), (np.ones(3),)),
    ("broadcast_output", lambda a: fnp.broadcast_to(a[:, None], (3, 4)), (np.arange(3.0),)),
    ("scalar_reductions", lambda x: (fnp.max(x), fnp.min(x), fnp.argmax(x)), (np.array([3.0, -1.0, 7.0, 7.0]),)),
]


@pytest.mark.parametrize("name, fun, args", EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_cases_match_numpy(name, fun, args):
    got = fgrad.tree_util.tree_leaves(fgrad.jit(fun)(*args))
    want = fgrad.tree_util.tree_leaves(fun(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert isinstance(g, np.ndarray) and g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


_RNG = np.random.default_rng(3)
MATMUL_GRADS = [
    ("matrix_vector", lambda A, b: fnp.sum(fnp.tanh(A @ b)), (_RNG.standard_normal((4, 3)), _RNG.standard_normal(3))),
    ("vector_transposed", lambda b, A: fnp.sum(fnp.sin(b @ A.T)), (_RNG.standard_normal(3), _RNG.standard_normal((4, 3)))),
    ("batched_vector", lambda B, b: fnp.sum((B @ b) ** 2), (_RNG.standard_normal((2, 4, 3)), _RNG.standard_normal(3))),
]


@pytest.mark.parametrize("name, fun, args", MATMUL_GRADS, ids=[c[0] for c in MATMUL_GRADS])
def test_matmul_gradients_with_vector_operands(name, fun, args):
    # Their adjoints transpose views (expand_dims of a vector) that BLAS must see as arrays.
    g = fgrad.grad(fun, argnums=(0, 1))
    for got, want in zip(fgrad.jit(g)(*args), g(*args)):
        close(got, want)


def test_closed_over_arrays_are_arguments_not_source():
    w = np.arange(6.0).reshape(2, 3)
    f = fgrad.jit(lambda x: fnp.sum(x * w))
    lowered = f.lower(np.ones((2, 3)))
    assert "15.0" not in lowered.source and "k0" in lowered.source
    close(f(np.ones((2, 3))), w.sum())


def test_custom_vjp_is_inlined():
    @fgrad.custom_vjp
    def clip_gradient(x):
        return fnp.sin(x)

    clip_gradient.defvjp(lambda x: (fnp.sin(x), fnp.cos(x)),
                         lambda cos_x, g: (fnp.clip(g * cos_x, -0.1, 0.1),))
    f = fgrad.jit(fgrad.value_and_grad(lambda x: fnp.sum(clip_gradient(x) * 3.0)))
    value, grad = f(X)
    close(value, np.sum(np.sin(X) * 3.0))
    close(grad, np.clip(3.0 * np.cos(X), -0.1, 0.1))


# ---- the caches -------------------------------------------------------------------------------------

def test_sizes_share_one_compiled_kernel():
    f = fgrad.jit(fgrad.value_and_grad(w1_loss))
    f(np.ones(7))
    f(np.ones(12))
    first = f._traces[next(iter(f._traces))]
    assert len(f._traces) == 2
    kernels = {entry.kernel for entry in f._traces.values()}
    assert len(kernels) == 1, "one source for every size"
    assert len(compile_stats(first.kernel)["signatures"]) == 1, "one Numba compile for every size"


def test_repeated_calls_hit_the_fast_path():
    CHAIN_VG(0.5, 0.3)
    assert len(CHAIN_VG._fast) == 1
    calls = []
    original = CHAIN_VG._call
    CHAIN_VG._call = lambda *a: calls.append(a) or original(*a)
    try:
        CHAIN_VG(0.25, 0.75)
    finally:
        del CHAIN_VG._call
    assert calls == []


def test_disable_jit_runs_the_reference_executor(monkeypatch):
    monkeypatch.setattr(fgrad_config, "config", fgrad_config.Config(disable_jit=True, fastmath=False))
    f = fgrad.jit(w1_loss)
    calls = []
    original = api_module.evaluate
    monkeypatch.setattr(api_module, "evaluate", lambda *a: calls.append(1) or original(*a))
    close(f(X), w1_loss(X))
    assert calls and not f._traces


# ---- parallel kernels -------------------------------------------------------------------------------

def _parallel_pair(fun):
    return fgrad.jit(fun, parallel=False), fgrad.jit(fun, parallel=True)


ELEMENTWISE_PAIR = _parallel_pair(lambda x, y: fnp.sin(x) * fnp.exp(-y) + x[:, None] * 0.0)
REDUCE_PAIR = _parallel_pair(lambda x: (fnp.sum(fnp.tanh(x)), fnp.max(x, axis=1), fnp.sum(x * x, axis=0)))


def test_parallel_elementwise_is_bit_identical():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((300, 7)), rng.standard_normal(7)
    serial, parallel = ELEMENTWISE_PAIR
    assert "prange" in parallel.lower(x, y).source and "prange" not in serial.lower(x, y).source
    np.testing.assert_array_equal(parallel(x, y), serial(x, y))


def test_parallel_reductions_agree_within_round_off():
    x = np.random.default_rng(2).standard_normal((5000, 3))
    serial, parallel = REDUCE_PAIR
    for a, b in zip(parallel(x), serial(x)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_array_equal(parallel(x)[1], np.max(x, axis=1))


SUM_PAIR = _parallel_pair(lambda x: (fnp.sum(fnp.exp(-x * x)), fnp.max(fnp.sin(x))))


def test_parallel_full_reductions_of_vectors_are_bit_identical():
    # Serial and prange kernels sum the same blocks in the same order.
    x = np.random.default_rng(4).standard_normal(50_000)
    serial, parallel = SUM_PAIR
    for a, b in zip(parallel(x), serial(x)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(serial(x)[0], np.sum(np.exp(-x * x)), rtol=1e-12)


def test_parallel_is_chosen_by_size():
    f = fgrad.jit(lambda x: fnp.sum(fnp.sin(x)))
    assert not f.lower(np.ones(10)).parallel
    assert f.lower(np.ones(PARALLEL_THRESHOLD)).parallel
    g = fgrad.jit(lambda a, x: fnp.sum(fnp.tanh(a @ x)))
    assert not g.lower(np.ones((300, 300)), np.ones(300)).parallel, "BLAS threads and prange do not mix"


# ---- errors -----------------------------------------------------------------------------------------

@pytest.fixture
def scratch_primitives():
    """Primitives made by a test leave the registry afterwards (the registry-driven tests walk it)."""
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


def test_a_primitive_without_an_emitter_names_itself(scratch_primitives):
    no_emitter = Primitive("test_no_emitter", kind="elementwise", shape_rule=same_type, impl=lambda x: x)
    f = fgrad.jit(lambda x: no_emitter.bind(x))
    with pytest.raises(UnsupportedPrimitiveError, match="test_no_emitter.*numba="):
        f(np.ones(2))


def test_a_kernel_numba_rejects_shows_the_program_and_the_source(scratch_primitives):
    broken = Primitive("test_broken_emitter", kind="elementwise", shape_rule=same_type, impl=lambda x: x,
                       numba="np.no_such_function({0})")
    f = fgrad.jit(lambda x: broken.bind(x) + 1.0)
    with pytest.raises(JitCompileError) as info:
        f(np.ones(2))
    message = str(info.value)
    assert "np.no_such_function(v0)" in message          # the generated source
    assert "test_broken_emitter" in message and "program(" in message   # the program


# ---- property tests: random compositions -----------------------------------------------------------

UNARY = [fnp.sin, fnp.tanh, lambda x: x * x, lambda x: fnp.exp(-fnp.abs(x)), fnp.cos,
         lambda x: fnp.maximum(x, 0.1)]
BINARY = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - 2.0 * y, lambda x, y: fnp.where(x > y, x, y)]
REDUCE = [lambda x: fnp.sum(x, axis=0), lambda x: fnp.max(x, axis=1), lambda x: fnp.mean(x)]


@st.composite
def compositions(draw):
    ops = draw(st.lists(st.tuples(st.sampled_from(range(len(UNARY))), st.sampled_from(range(len(BINARY)))),
                        min_size=1, max_size=4))
    reduce = draw(st.sampled_from(range(len(REDUCE))))
    transpose = draw(st.booleans())

    def f(x, v):
        y = x.T if transpose else x
        for u, b in ops:
            y = BINARY[b](UNARY[u](y), v if not transpose else v[:, None])
        return fnp.sum(REDUCE[reduce](y) ** 2)
    return f


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(f=compositions(), seed=st.integers(0, 1000))
def test_random_compositions_match_the_reference_executor(f, seed):
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal((4, 3)), rng.standard_normal(3)
    program = fgrad.make_ir(f)(x, v)
    close(fgrad.jit(f)(x, v), evaluate(program, x, v)[0], rtol=1e-10)
    close(fgrad.jit(fgrad.grad(f))(x, v), fgrad.grad(f)(x, v), rtol=1e-10)


def test_a_block_can_write_its_own_call_code():
    # A primitive whose Numba emitter is a CallEmitter: the block writes the loops through the writer's methods.
    from fgrad.ir import REGISTRY
    from fgrad.ops.base import CallEmitter

    def write(w, eqn):
        (x,), out = eqn.inputs, eqn.outputs[0]
        i = w.local("i")
        w.emit(1, w.alloc(out))
        w.emit(1, f"for {i} in range({w.size(x, 0)}):")
        w.emit(2, f"{w.array(out)}[{i}] = 2.0 * {w.value_of(x)}[{i}] + {w.value_of(x)}[{w.size(x, 0)} - 1 - {i}]")

    prim = Primitive("test_mirror_add", kind="call", shape_rule=same_type, impl=lambda x: 2.0 * x + x[::-1],
                     jvp=(None,), vjp=(None,), batch=None, numba=CallEmitter(write))
    try:
        x = np.arange(5.0)
        got = fgrad.jit(lambda v: prim.bind(fnp.sin(v)[::-1] * 1.0))(x)
        np.testing.assert_allclose(got, prim.impl(np.sin(x)[::-1]))
    finally:
        del REGISTRY["test_mirror_add"]
