"""vmap: the registry-driven batching check of every primitive, the API's semantics and errors, and its
compositions with the other transforms and jit.

The registry check: for every sample of every primitive (tests/samples_*.py) and in_axes drawn by hypothesis,
vmap of the primitive equals stacking the primitive over the batch, and the same holds for its JVP and VJP
programs; the batched program passes `check`.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fgrad
import fgrad.numpy as fnp
from fgrad import ops
from fgrad.ir import REGISTRY, check, eval_program, is_float, trace_flat, typeof
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.vjp import vjp_program

from test_primitive_rules import NON_DIFFERENTIABLE, SAMPLES

BATCH = 3
CASES = [(name, i) for name in sorted(REGISTRY) for i in range(len(SAMPLES.get(name, ())))]


def batch_of(x, rng):
    """BATCH different values like `x`: floats scaled a little per member, ints and bools repeated (indices
    stay valid)."""
    x = np.asarray(x)
    if is_float(x.dtype):
        return np.stack([x * (1.0 + 0.05 * k * rng.uniform(-1, 1, x.shape)) for k in range(BATCH)]).astype(x.dtype)
    return np.stack([x] * BATCH)


def check_batching(fun, args, axes, what):
    """vmap(fun, in_axes=axes)(batched args) equals stacking fun over the members; the program checks."""
    rng = np.random.default_rng(0)
    stacked = [batch_of(a, rng) for a in args]
    members = [[s[k] if ax is not None else a for s, a, ax in zip(stacked, args, axes)] for k in range(BATCH)]
    inputs = [np.moveaxis(s, 0, ax) if ax is not None else a for s, a, ax in zip(stacked, args, axes)]
    with np.errstate(all="ignore"):
        expected = [fun(*m) for m in members]
        got = fgrad.vmap(fun, in_axes=tuple(axes), axis_size=BATCH)(*inputs)
    expected_leaves = [fgrad.tree_util.tree_leaves(e) for e in expected]
    got_leaves = fgrad.tree_util.tree_leaves(got)
    for j, g in enumerate(got_leaves):
        want = np.stack([np.asarray(e[j]) for e in expected_leaves])
        g = np.asarray(g)
        assert g.shape == want.shape and g.dtype == want.dtype, (
            f"{what} output {j}: got {g.dtype}{g.shape}, expected {want.dtype}{want.shape}")
        np.testing.assert_allclose(g, want, rtol=1e-12 if want.dtype == np.float64 else 1e-5, atol=1e-12,
                                   equal_nan=True, err_msg=f"{what} output {j}")
    check(fgrad.make_ir(fgrad.vmap(fun, in_axes=tuple(axes), axis_size=BATCH))(*inputs))


def program_function(program):
    def fun(*args):
        return eval_program(program, *args)
    return fun


@st.composite
def axes_for(draw, args):
    return [draw(st.none() | st.integers(0, np.ndim(a))) for a in args]


@pytest.mark.parametrize("name,index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batching_rule_matches_stacking(name, index, data):
    prim = REGISTRY[name]
    args, params = SAMPLES[name][index]

    def fun(*xs):
        out = prim.bind(*xs, **params)
        return list(out) if prim.multiple_results else out

    check_batching(fun, args, data.draw(axes_for(args), label="in_axes"), name)
    if name in NON_DIFFERENTIABLE or not args:
        return
    program, _ = trace_flat(lambda *xs: fgrad.tree_util.tree_leaves(fun(*xs)), [typeof(a) for a in args])
    wrt = [i for i, v in enumerate(program.inputs) if is_float(v.type.dtype)]
    if not wrt or not any(is_float(t.dtype) for t in program.out_types):
        return
    rng = np.random.default_rng(index)
    tangents = [rng.standard_normal(program.inputs[i].type.shape).astype(program.inputs[i].type.dtype) for i in wrt]
    jvp_args = list(args) + tangents
    check_batching(program_function(jvp_program(program, [i in wrt for i in range(len(args))])), jvp_args,
                   data.draw(axes_for(jvp_args), label="jvp in_axes"), f"JVP of {name}")
    cts = [rng.standard_normal(t.shape).astype(t.dtype) if is_float(t.dtype) else np.zeros(t.shape, t.dtype)
           for t in program.out_types]
    vjp_args = list(args) + cts
    check_batching(program_function(vjp_program(program, wrt)), vjp_args,
                   data.draw(axes_for(vjp_args), label="vjp in_axes"), f"VJP of {name}")


# ---- every slot and trait is declared in the block ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_primitive_declares_every_slot_and_trait(name):
    prim = REGISTRY[name]
    assert prim.undeclared() == [], (
        f"primitive '{name}' leaves {prim.undeclared()} undeclared: declare them in the block of {name}_p")


def test_a_block_that_leaves_a_trait_undeclared_is_caught():
    prim = fgrad.ir.Primitive("test_half_declared", kind="elementwise", shape_rule=lambda x: x, impl=lambda x: x,
                              jvp=(None,), vjp=(None,), batch=lambda a, d: (a[0], d[0]), numba="({0})",
                              commutative=False)
    try:
        missing = prim.undeclared()
        assert "linear_in" in missing and "aliases_input" in missing and "commutative" not in missing
    finally:
        del REGISTRY["test_half_declared"]


def test_unknown_traits_and_kinds_are_refused():
    with pytest.raises(TypeError, match="unknown traits"):
        fgrad.ir.Primitive("test_bad_trait", kind="elementwise", shape_rule=lambda x: x, impl=lambda x: x,
                           comutative=True)
    with pytest.raises(ValueError, match="kind"):
        fgrad.ir.Primitive("test_bad_kind", kind="pointwise", shape_rule=lambda x: x, impl=lambda x: x)
    with pytest.raises(TypeError, match="unknown implementation variants"):
        fgrad.ir.Primitive("test_bad_variant", kind="elementwise", shape_rule=lambda x: x, impl=lambda x: x,
                           impl_variants={"jax": lambda x: x})


# ---- the traits say true things about the primitives -----------------------------------------------------

def _samples_where(**facts):
    out = []
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if all(getattr(prim, k) == v for k, v in facts.items()):
            out += [(name, i) for i in range(len(SAMPLES.get(name, ())))]
    return out


@pytest.mark.parametrize("name,index", _samples_where(commutative=True))
def test_commutative_primitives_give_the_same_bits_swapped(name, index):
    args, params = SAMPLES[name][index]
    prim = REGISTRY[name]
    a, b = args
    np.testing.assert_array_equal(prim.impl(a, b, **params), prim.impl(b, a, **params))


@pytest.mark.parametrize("name,index", _samples_where(copies_input=True))
def test_copying_primitives_output_only_input_elements(name, index):
    args, params = SAMPLES[name][index]
    out = np.asarray(REGISTRY[name].impl(*args, **params))
    pool = set(np.asarray(args[0]).ravel().tolist())
    assert set(out.ravel().tolist()) <= pool


@pytest.mark.parametrize("name,index", _samples_where(keeps_order=True))
def test_order_keeping_primitives_are_reshapes(name, index):
    args, params = SAMPLES[name][index]
    out = np.asarray(REGISTRY[name].impl(*args, **params))
    np.testing.assert_array_equal(out, np.reshape(args[0], out.shape))


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if isinstance(REGISTRY[n].linear_in, tuple)
                                        and REGISTRY[n].linear_in))
def test_linear_primitives_are_linear_in_the_declared_inputs(name):
    prim = REGISTRY[name]
    rng = np.random.default_rng(1)
    for args, params in SAMPLES[name]:
        if not all(is_float(np.asarray(args[i]).dtype) for i in prim.linear_in) or "value" in params \
                or not is_float(np.asarray(prim.impl(*args, **params)).dtype):
            continue           # pad is linear only with its zero fill, casts only to floats
        a, b = list(args), list(args)
        for i in prim.linear_in:
            b[i] = rng.standard_normal(np.shape(args[i])).astype(np.asarray(args[i]).dtype)
        mixed = list(args)
        for i in prim.linear_in:
            mixed[i] = 2.0 * a[i] - 3.0 * b[i]
        with np.errstate(all="ignore"):
            want = 2.0 * np.asarray(prim.impl(*a, **params)) - 3.0 * np.asarray(prim.impl(*b, **params))
            got = np.asarray(prim.impl(*mixed, **params))
        single = got.dtype == np.float32 or any(np.asarray(x).dtype == np.float32 for x in args)
        tol = 1e-5 if single else 1e-9
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def test_vector_math_names_exist():
    from fgrad.backend import vecmath
    for prim in REGISTRY.values():
        if prim.vector_math:
            assert hasattr(vecmath, prim.vector_math), f"{prim} names vecmath.{prim.vector_math}, which is missing"


# ---- the API ------------------------------------------------------------------------------------------

def test_in_axes_pytree_prefix_and_negative_axes():
    x = np.arange(6.0).reshape(2, 3)
    params = {"w": np.array([1.0, 2.0, 3.0]), "b": np.array(0.5)}
    f = lambda p, x: fnp.sum(p["w"] * x) + p["b"]
    got = fgrad.vmap(f, in_axes=({"w": None, "b": None}, -1))(params, x.T)
    np.testing.assert_allclose(got, [f(params, row) for row in x])
    got = fgrad.vmap(f, in_axes=(None, 0))(params, x)
    np.testing.assert_allclose(got, [f(params, row) for row in x])


def test_out_axes_and_unbatched_outputs():
    x = np.arange(6.0).reshape(2, 3)
    out = fgrad.vmap(lambda v: (v * 2.0, fnp.ones(2)), out_axes=(1, None))(x)
    np.testing.assert_allclose(out[0], (x * 2.0).T)
    np.testing.assert_allclose(out[1], np.ones(2))
    bcast = fgrad.vmap(lambda v: fnp.ones(2), in_axes=0, out_axes=-1)(x)
    assert bcast.shape == (2, 2)


def test_keyword_arguments_are_mapped_along_axis_0():
    x = np.arange(6.0).reshape(2, 3)
    got = fgrad.vmap(lambda a, *, scale: a * scale)(x, scale=np.array([1.0, 10.0]))
    np.testing.assert_allclose(got, x * np.array([[1.0], [10.0]]))


def test_axis_size_broadcasts_when_nothing_is_mapped():
    got = fgrad.vmap(lambda c: c * 2.0, in_axes=None, axis_size=4)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(got, np.tile([2.0, 4.0], (4, 1)))


def test_inconsistent_sizes_name_the_arguments():
    with pytest.raises(ValueError, match=r"inconsistent sizes.*size 2.*size 3"):
        fgrad.vmap(lambda a, b: a + b)(np.ones((2, 4)), np.ones((3, 4)))


def test_nothing_mapped_without_axis_size_is_an_error():
    with pytest.raises(ValueError, match="axis_size"):
        fgrad.vmap(lambda a: a, in_axes=None)(np.ones(3))


def test_mapped_output_with_out_axes_none_is_an_error():
    with pytest.raises(ValueError, match="out_axes is None"):
        fgrad.vmap(lambda a: a * 2.0, out_axes=None)(np.ones(3))


def test_in_axes_that_do_not_match_the_arguments():
    with pytest.raises(ValueError, match="in_axes has 1 entries"):
        fgrad.vmap(lambda a, b: a + b, in_axes=(0,))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="not a prefix"):
        fgrad.vmap(lambda p: p[0], in_axes=((0, 0),))((np.ones(3),))
    with pytest.raises(ValueError, match="rank"):
        fgrad.vmap(lambda a: a, in_axes=2)(np.ones((3, 4)))
    with pytest.raises(TypeError, match="in_axes must be"):
        fgrad.vmap(lambda a: a, in_axes="0")(np.ones(3))


# ---- compositions --------------------------------------------------------------------------------------

def mlp_loss(params, x, y):
    (w1, b1), (w2, b2) = params
    h = fnp.tanh(x @ w1 + b1)
    return fnp.sum((h @ w2 + b2 - y) ** 2)


def mlp_params(rng):
    return ((rng.standard_normal((4, 5)), rng.standard_normal(5)), (rng.standard_normal((5, 2)), rng.standard_normal(2)))


def test_per_example_gradients_equal_a_loop():
    rng = np.random.default_rng(0)
    params = mlp_params(rng)
    xs, ys = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    batched = fgrad.vmap(fgrad.grad(mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k in range(6):
        one = fgrad.grad(mlp_loss)(params, xs[k], ys[k])
        for got, want in zip(fgrad.tree_util.tree_leaves(batched), fgrad.tree_util.tree_leaves(one)):
            np.testing.assert_allclose(got[k], want, rtol=1e-12)


def test_jit_of_vmap_and_vmap_of_jit():
    rng = np.random.default_rng(1)
    params = mlp_params(rng)
    xs, ys = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    per_example = fgrad.vmap(fgrad.grad(mlp_loss), in_axes=(None, 0, 0))
    eager = per_example(params, xs, ys)
    jitted = fgrad.jit(per_example)(params, xs, ys)
    inner = fgrad.vmap(fgrad.jit(fgrad.grad(mlp_loss)), in_axes=(None, 0, 0))(params, xs, ys)
    for a, b, c in zip(*map(fgrad.tree_util.tree_leaves, (eager, jitted, inner))):
        np.testing.assert_allclose(b, a, rtol=1e-12)
        np.testing.assert_allclose(c, a, rtol=1e-12)


def test_grad_of_vmap_through_a_sum():
    x = np.linspace(-1.0, 1.0, 5)
    g = fgrad.grad(lambda x: fnp.sum(fgrad.vmap(lambda v: fnp.sin(v) * v)(x)))(x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-12)


def test_nested_vmap():
    a, b = np.arange(3.0), np.arange(4.0)
    outer = fgrad.vmap(fgrad.vmap(lambda x, y: x * y + x, in_axes=(None, 0)), in_axes=(0, None))(a, b)
    np.testing.assert_allclose(outer, a[:, None] * b[None, :] + a[:, None])


def test_vmap_of_a_vjp_function_and_of_jvp():
    x = np.linspace(0.1, 1.0, 4)
    _, vjp_fn = fgrad.vjp(lambda v: fnp.sin(v) * 2.0, x)
    cts = np.eye(4)
    rows = fgrad.vmap(vjp_fn)(cts)[0]
    np.testing.assert_allclose(rows, np.diag(2.0 * np.cos(x)), rtol=1e-12)
    tangents = np.eye(4)
    cols = fgrad.vmap(lambda t: fgrad.jvp(lambda v: fnp.sin(v) * 2.0, (x,), (t,))[1])(tangents)
    np.testing.assert_allclose(cols, np.diag(2.0 * np.cos(x)), rtol=1e-12)


def test_jacfwd_of_vmap():
    x = np.linspace(0.1, 1.0, 3)
    jac = fgrad.jacfwd(fgrad.vmap(lambda v: fnp.sin(v) * v))(x)
    np.testing.assert_allclose(jac, np.diag(np.cos(x) * x + np.sin(x)), rtol=1e-12)


@fgrad.custom_vjp
def clipped_square(x):
    return x * x


clipped_square.defvjp(lambda x: (clipped_square(x), x), lambda x, g: (fnp.clip(2.0 * x * g, -1.0, 1.0),))


@fgrad.custom_jvp
def softplus(x):
    return fnp.log1p(fnp.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * fgrad.ops.logistic(x)


def test_vmap_of_custom_rules_batches_the_rules():
    x = np.array([0.1, 0.4, 2.0])
    values = fgrad.vmap(clipped_square)(x)
    np.testing.assert_allclose(values, x * x)
    grads = fgrad.vmap(fgrad.grad(clipped_square))(x)
    np.testing.assert_allclose(grads, np.clip(2.0 * x, -1.0, 1.0))
    np.testing.assert_allclose(fgrad.grad(lambda v: fnp.sum(fgrad.vmap(clipped_square)(v)))(x),
                               np.clip(2.0 * x, -1.0, 1.0))
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(softplus))(x), 1.0 / (1.0 + np.exp(-x)), rtol=1e-12)
    cols = fgrad.vmap(lambda t: fgrad.jvp(softplus, (x,), (t,))[1])(np.eye(3))
    np.testing.assert_allclose(cols, np.diag(1.0 / (1.0 + np.exp(-x))), rtol=1e-12)


def test_hessian_program_size_does_not_grow_with_the_input():
    def rosenbrock(x):
        return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    small = fgrad.make_ir(fgrad.hessian(rosenbrock))(np.ones(5))
    large = fgrad.make_ir(fgrad.hessian(rosenbrock))(np.ones(500))
    assert len(small.equations) == len(large.equations)


def test_jacobians_through_vmap_match_the_analytic_ones():
    x = np.linspace(-1.0, 1.0, 4)
    f = lambda v: fnp.sin(v) * fnp.sum(v ** 2)
    want = np.diag(np.cos(x) * np.sum(x ** 2)) + np.outer(np.sin(x), 2 * x)
    np.testing.assert_allclose(fgrad.jacrev(f)(x), want, rtol=1e-12)
    np.testing.assert_allclose(fgrad.jacfwd(f)(x), want, rtol=1e-12)
    np.testing.assert_allclose(fgrad.jit(fgrad.jacrev(f))(x), want, rtol=1e-12)


# ---- parity with jax.vmap --------------------------------------------------------------------------------

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)


def test_jax_parity_pytree_axes_and_nesting():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))

    def f(np_):
        return lambda t, u: {"s": np_.sum(t["a"] * u), "p": t["b"] * 2.0}
    args = ({"a": x, "b": y}, x[0])
    spec = ({"a": 0, "b": 1}, None)
    ours = fgrad.vmap(f(fnp), in_axes=spec, out_axes={"s": 0, "p": 1})(*args)
    theirs = jax.vmap(f(jnp), in_axes=spec, out_axes={"s": 0, "p": 1})(*args)
    for k in ("s", "p"):
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12)
    g = lambda np_: lambda a, b: np_.tanh(a) * b
    ours = fgrad.vmap(fgrad.vmap(g(fnp), in_axes=(0, None)), in_axes=(None, 0))(x[0], y[:, 0])
    theirs = jax.vmap(jax.vmap(g(jnp), in_axes=(0, None)), in_axes=(None, 0))(x[0], y[:, 0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_jax_parity_per_example_mlp_gradients_jacobian_and_hessian():
    rng = np.random.default_rng(4)
    params = mlp_params(rng)
    xs, ys = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))

    def loss(np_):
        def f(params, x, y):
            (w1, b1), (w2, b2) = params
            return np_.sum((np_.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)
        return f
    ours = fgrad.vmap(fgrad.grad(loss(fnp)), in_axes=(None, 0, 0))(params, xs, ys)
    theirs = jax.vmap(jax.grad(loss(jnp)), in_axes=(None, 0, 0))(params, xs, ys)
    for a, b in zip(fgrad.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    x = rng.standard_normal(6)
    h = lambda np_: (lambda v: np_.sum(np_.sin(v) * v[::-1] ** 3))
    np.testing.assert_allclose(fgrad.hessian(h(fnp))(x), jax.hessian(h(jnp))(x), rtol=1e-10)
    j = lambda np_: (lambda v: np_.tanh(v)[:, None] * v[None, :])
    np.testing.assert_allclose(fgrad.jacrev(j(fnp))(x), jax.jacrev(j(jnp))(x), rtol=1e-12)
    np.testing.assert_allclose(fgrad.jacfwd(j(fnp))(x), jax.jacfwd(j(jnp))(x), rtol=1e-12)


def test_jax_parity_vmap_of_custom_vjp():
    @jax.custom_vjp
    def jclipped(x):
        return x * x

    jclipped.defvjp(lambda x: (x * x, x), lambda x, g: (jnp.clip(2.0 * x * g, -1.0, 1.0),))
    x = np.array([0.1, 0.4, 2.0])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(clipped_square))(x), jax.vmap(jax.grad(jclipped))(x))
