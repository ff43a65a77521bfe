"""Parity with JAX (x64) for grad, jacfwd, jacrev, hessian, nested derivatives and pytrees.

Each test function is written once against a small namespace `m` of array functions, instantiated with
fgrad.numpy and with jax.numpy, so both libraries differentiate the same mathematics. Kink conventions
(abs at 0, maximum/minimum ties, relu at 0, sqrt at 0, pow with a zero base, where with a NaN in the
unselected branch, reduce_max ties) are included.
"""
from types import SimpleNamespace

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402


def namespace(np_module, logistic, stop_gradient):
    """The array functions the test functions use, from one library."""
    names = ["sin", "cos", "exp", "log", "tanh", "sqrt", "abs", "maximum", "minimum", "where", "sum", "max",
             "matmul", "square", "power"]
    return SimpleNamespace(logistic=logistic, stop_gradient=stop_gradient,
                           **{name: getattr(np_module, name) for name in names})


FG = namespace(fnp, lambda x: 1.0 / (1.0 + fnp.exp(-x)), fgrad.stop_gradient)
JX = namespace(jnp, jax.nn.sigmoid, jax.lax.stop_gradient)

W = np.array([[0.5, -1.0, 0.25], [1.5, 0.3, -0.7]])


# ---- scalar functions of a vector: grad, hessian, grad of grad --------------------------------------

def rosenbrock(m, x):
    a, b = x[:-1], x[1:]
    return m.sum(100.0 * m.square(b - a ** 2) + m.square(1.0 - a))


def logistic_loss(m, x):
    labels = np.array([1.0, 0.0])
    p = m.logistic(m.matmul(W, x))
    return -m.sum(labels * m.log(p) + (1.0 - labels) * m.log(1.0 - p))


def mlp_loss(m, x):
    h = m.tanh(W @ x)
    return m.sum(m.square(W.T @ h - 1.0))


def sin_exp(m, x):
    return m.sum(m.sin(x) * m.exp(x / 3.0))


def stopped(m, x):
    return m.sum(m.square(x) * m.stop_gradient(m.sin(x)))


SMOOTH = [("rosenbrock", rosenbrock), ("logistic_loss", logistic_loss), ("mlp_loss", mlp_loss),
          ("sin_exp", sin_exp), ("stop_gradient", stopped)]
X = np.array([0.3, -0.6, 1.1])


def assert_same(ours, theirs, rtol=1e-10, atol=1e-12):
    ours_leaves, ours_tree = fgrad.tree_util.tree_flatten(ours)
    theirs_leaves = jax.tree_util.tree_leaves(theirs)
    assert len(ours_leaves) == len(theirs_leaves), (ours_tree, jax.tree_util.tree_structure(theirs))
    for a, b in zip(ours_leaves, theirs_leaves):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, equal_nan=True)


def both(f):
    """(f with fgrad.numpy, f with jax.numpy)."""
    return (lambda *a: f(FG, *a)), (lambda *a: f(JX, *a))


@pytest.mark.parametrize("name,f", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_grad_matches_jax(name, f):
    ours, theirs = both(f)
    assert_same(fgrad.grad(ours)(X), jax.grad(theirs)(X))


@pytest.mark.parametrize("name,f", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_hessian_matches_jax(name, f):
    ours, theirs = both(f)
    assert_same(fgrad.hessian(ours)(X), jax.hessian(theirs)(X))


@pytest.mark.parametrize("name,f", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_hessian_vector_product_by_grad_of_grad_matches_jax(name, f):
    ours, theirs = both(f)
    v = np.array([1.0, -2.0, 0.5])
    hvp_ours = fgrad.grad(lambda x: fnp.sum(fgrad.grad(ours)(x) * v))(X)
    hvp_theirs = jax.grad(lambda x: jnp.sum(jax.grad(theirs)(x) * v))(X)
    assert_same(hvp_ours, hvp_theirs)


# ---- kinks ----------------------------------------------------------------------------------------

KINKS = [
    ("abs_at_0", lambda m, x: m.sum(m.abs(x)), np.array([0.0, 1.0, -1.0])),
    ("relu_by_maximum_at_0", lambda m, x: m.sum(m.maximum(x, 0.0)), np.array([0.0, 2.0, -2.0])),
    ("minimum_tie", lambda m, x: m.sum(m.minimum(x, x[:1])), np.array([1.0, 1.0, 3.0])),
    ("maximum_self", lambda m, x: m.sum(m.maximum(x, x)), np.array([0.5, -1.0, 0.0])),
    ("sqrt_at_0", lambda m, x: m.sum(m.sqrt(x)), np.array([0.0, 1.0, 4.0])),
    ("pow_zero_base", lambda m, x: m.sum(m.power(x, 2.5)), np.array([0.0, 1.5, 2.0])),
    ("pow_zero_base_fractional", lambda m, x: m.sum(m.power(x, 0.5)), np.array([0.0, 1.0, 4.0])),
    ("pow_zero_base_and_exponent", lambda m, x: m.sum(m.power(x, x * 0.0)), np.array([0.0, 1.5, 2.0])),
    ("where_nan_branch", lambda m, x: m.sum(m.where(x > 0.0, m.sqrt(x), 0.0)), np.array([-1.0, 4.0, 0.0])),
    ("reduce_max_ties", lambda m, x: m.max(x), np.array([2.0, 2.0, 1.0])),
]


@pytest.mark.parametrize("name,f,x", KINKS, ids=[k[0] for k in KINKS])
def test_kink_gradient_matches_jax(name, f, x):
    ours, theirs = both(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_same(fgrad.grad(ours)(x), jax.grad(theirs)(x))


@pytest.mark.parametrize("name,f,x", KINKS, ids=[k[0] for k in KINKS])
def test_kink_forward_mode_matches_jax(name, f, x):
    ours, theirs = both(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_same(fgrad.jacfwd(ours)(x), jax.jacfwd(theirs)(x))


def test_relu_at_zero_through_where_matches_jax():
    assert_same(fgrad.grad(lambda x: fnp.where(x > 0.0, x, 0.0))(0.0), jax.grad(jax.nn.relu)(0.0))


# ---- vector functions: jacfwd, jacrev -----------------------------------------------------------------

def coupled(m, x):
    return m.tanh(x) * m.sum(m.exp(x))


def layer(m, x):
    return m.logistic(m.matmul(W, m.sin(x)))


VECTOR = [("coupled", coupled), ("layer", layer)]


@pytest.mark.parametrize("name,f", VECTOR, ids=[v[0] for v in VECTOR])
@pytest.mark.parametrize("ours_t,theirs_t", [(fgrad.jacfwd, jax.jacfwd), (fgrad.jacrev, jax.jacrev)],
                         ids=["jacfwd", "jacrev"])
def test_jacobian_matches_jax(name, f, ours_t, theirs_t):
    ours, theirs = both(f)
    assert_same(ours_t(ours)(X), theirs_t(theirs)(X))


@pytest.mark.parametrize("name,f", VECTOR, ids=[v[0] for v in VECTOR])
def test_second_order_jacobian_matches_jax(name, f):
    ours, theirs = both(f)
    assert_same(fgrad.jacfwd(fgrad.jacrev(ours))(X), jax.jacfwd(jax.jacrev(theirs))(X))
    assert_same(fgrad.jacrev(fgrad.jacfwd(ours))(X), jax.jacrev(jax.jacfwd(theirs))(X))


# ---- pytrees and argnums ------------------------------------------------------------------------------

def tree_function(m, params, scale):
    return {"y": m.sin(params["a"]) * scale, "z": m.sum(params["b"] * params["a"])}


PARAMS = {"a": np.array([0.1, 0.2]), "b": np.array([1.0, -1.0])}


@pytest.mark.parametrize("ours_t,theirs_t", [(fgrad.jacfwd, jax.jacfwd), (fgrad.jacrev, jax.jacrev)],
                         ids=["jacfwd", "jacrev"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1)], ids=["params", "scale", "both"])
def test_pytree_jacobian_layout_matches_jax(ours_t, theirs_t, argnums):
    ours, theirs = both(tree_function)
    assert_same(ours_t(ours, argnums=argnums)(PARAMS, 3.0), theirs_t(theirs, argnums=argnums)(PARAMS, 3.0))


def test_pytree_grad_with_aux_matches_jax():
    def loss(m, params, scale):
        out = tree_function(m, params, scale)
        return m.sum(out["y"]) + out["z"], out["y"]
    ours, theirs = both(loss)
    assert_same(fgrad.grad(ours, argnums=(0, 1), has_aux=True)(PARAMS, 3.0),
                jax.grad(theirs, argnums=(0, 1), has_aux=True)(PARAMS, 3.0))


def test_pytree_hessian_matches_jax():
    def f(m, params):
        return m.sum(m.sin(params["a"]) * m.exp(params["b"]))
    ours, theirs = both(f)
    assert_same(fgrad.hessian(ours)(PARAMS), jax.hessian(theirs)(PARAMS))


def test_vjp_and_jvp_of_pytrees_match_jax():
    ours, theirs = both(tree_function)
    ct = {"y": np.array([1.0, 2.0]), "z": 0.5}
    assert_same(fgrad.vjp(ours, PARAMS, 3.0)[1](ct), jax.vjp(theirs, PARAMS, 3.0)[1](ct))
    tangents = ({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 2.0])}, 1.0)
    assert_same(fgrad.jvp(ours, (PARAMS, 3.0), tangents), jax.jvp(theirs, (PARAMS, 3.0), tangents))


# ---- nested derivatives --------------------------------------------------------------------------------

def test_perturbation_confusion_matches_jax():
    ours = fgrad.grad(lambda x: x * fgrad.grad(lambda y: x * y)(2.0))(3.0)
    theirs = jax.grad(lambda x: x * jax.grad(lambda y: x * y)(2.0))(3.0)
    assert ours == theirs == 6.0


def test_nested_closure_derivative_matches_jax():
    def f(m, grad, x):
        return grad(lambda y: m.sin(x * y * y))(m.cos(x))
    assert_same(fgrad.grad(lambda x: f(FG, fgrad.grad, x))(0.7), jax.grad(lambda x: f(JX, jax.grad, x))(0.7))


@pytest.mark.parametrize("order", [1, 2, 3, 4], ids=["d1", "d2", "d3", "d4"])
def test_repeated_grad_matches_jax(order):
    def f(m, x):
        return m.tanh(x) * m.exp(x * 0.5)
    ours, theirs = both(f)
    for _ in range(order):
        ours, theirs = fgrad.grad(ours), jax.grad(theirs)
    assert_same(ours(0.4), theirs(0.4), rtol=1e-9)


def test_custom_vjp_and_custom_jvp_match_jax():
    def make(lib):
        m = FG if lib is fgrad else JX
        @lib.custom_vjp
        def clip(x):
            return x
        clip.defvjp(lambda x: (x, None), lambda _, g: (m.maximum(g, -0.5),))

        @lib.custom_jvp
        def softplus(x):
            return m.log(m.exp(x) + 1.0)

        @softplus.defjvp
        def softplus_jvp(p, t):
            return softplus(p[0]), t[0] * m.logistic(p[0])
        return lambda x: softplus(clip(x))

    ours, theirs = make(fgrad), make(jax)
    assert_same(fgrad.grad(ours)(0.3), jax.grad(theirs)(0.3))
    assert_same(fgrad.grad(fgrad.grad(ours))(0.3), jax.grad(jax.grad(theirs))(0.3))
