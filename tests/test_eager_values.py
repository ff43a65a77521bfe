"""Python control flow on values under the eager transforms (grad, vjp, jvp, jacobians outside jit): tracers
have concrete values on demand, the derivative is the one of the path taken, as in JAX (the Autodiff
Cookbook's control-flow examples). Under jit and make_ir values stay abstract and the error stays."""
import math

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.ir import EscapedTracerError, TracerConversionError
from fgrad.ops import sin_p


# ---- the Cookbook's functions ---------------------------------------------------------------------------

def cookbook_try(np_):
    """JAX's try/except example: 2x^3 below 3, pi*x from the except branch otherwise."""
    def f(x):
        try:
            if x < 3:
                return 2 * x ** 3
            else:
                raise ValueError
        except ValueError:
            return np_.pi * x
    return f


def doubling_while(np_):
    """A while loop whose trip count depends on the input."""
    def f(x):
        y = x
        while y < 100:
            y = y * 2
        return y
    return f


def horner(np_):
    """A for loop over a Python list of coefficients."""
    def f(x):
        out = 0.0
        for c in [1.0, -2.0, 3.0, 0.5]:
            out = out * x + c
        return out
    return f


def leaky(np_):
    return lambda x: x if x > 0 else 0.1 * x


def int_trip_count(np_):
    """`for i in range(n)` with n a traced-but-concrete integer."""
    def f(x):
        out = x
        for _ in range(int(x)):
            out = out * np_.sin(x)
        return out
    return f


def branch_on_sum(np_):
    def f(x):
        s = np_.sum(x ** 2)
        return np_.sum(np_.sin(x)) * s if s > 1.0 else np_.sum(x) ** 3
    return f


CASES = [
    pytest.param(cookbook_try, 2.0, id="try-if-branch"),
    pytest.param(cookbook_try, 4.0, id="try-except-branch"),
    pytest.param(doubling_while, 3.0, id="while-3"),
    pytest.param(doubling_while, 60.0, id="while-60"),
    pytest.param(horner, 1.5, id="for-coefficients"),
    pytest.param(leaky, 2.0, id="leaky-positive"),
    pytest.param(leaky, -2.0, id="leaky-negative"),
    pytest.param(int_trip_count, 3.0, id="range-int-x"),
]


def test_cookbook_try_except_values():
    f = cookbook_try(fnp)
    assert fgrad.grad(f)(2.0) == 24.0
    assert fgrad.grad(f)(4.0) == pytest.approx(math.pi, abs=0, rel=1e-15)


def test_cookbook_vjp_then_jit_of_the_pullback():
    y, f_vjp = fgrad.vjp(cookbook_try(fnp), 4.0)
    assert y == pytest.approx(4 * math.pi)
    (eager,) = f_vjp(1.0)
    (jitted,) = fgrad.jit(f_vjp)(1.0)
    assert eager == jitted == pytest.approx(math.pi)


def test_one_grad_function_follows_each_calls_path():
    g = fgrad.grad(doubling_while(fnp))
    assert [float(g(x)) for x in (3.0, 60.0, 150.0, 30.0)] == [64.0, 2.0, 1.0, 4.0]


@pytest.mark.parametrize("make, x", CASES)
def test_grad_matches_jax(make, x):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    ours = fgrad.value_and_grad(make(fnp))(x)
    theirs = jax.value_and_grad(make(jnp))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


@pytest.mark.parametrize("make, x", CASES)
def test_second_derivative_matches_jax(make, x):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    ours = fgrad.grad(fgrad.grad(make(fnp)))(x)
    theirs = jax.grad(jax.grad(make(jnp)))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


@pytest.mark.parametrize("x", [np.array([0.3, -0.2]), np.array([1.0, 2.0])], ids=["small", "large"])
def test_jacobians_and_hessian_match_jax(x):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    f_ours, f_theirs = branch_on_sum(fnp), branch_on_sum(jnp)

    def vector(np_, f):
        return lambda x: np_.stack([f(x), f(x * 2.0)])

    for ours, theirs in [(fgrad.jacfwd, jax.jacfwd), (fgrad.jacrev, jax.jacrev)]:
        np.testing.assert_allclose(ours(vector(fnp, f_ours))(x), theirs(vector(jnp, f_theirs))(x), rtol=1e-12)
    np.testing.assert_allclose(fgrad.hessian(f_ours)(x), jax.hessian(f_theirs)(x), rtol=1e-12)


def test_jvp_and_linearize_follow_the_path():
    f = leaky(fnp)
    assert fgrad.jvp(f, (-2.0,), (1.0,)) == pytest.approx((-0.2, 0.1))
    out, f_jvp = fgrad.linearize(f, 3.0)
    assert (out, f_jvp(2.0)) == (3.0, 2.0)


def test_value_and_grad_with_aux_and_pytrees():
    def loss(params, x):
        w, b = params["w"], params["b"]
        y = fnp.sum(w * x) + b
        return (y ** 2 if y > 0 else -y), {"positive": y > 0}
    (value, aux), g = fgrad.value_and_grad(loss, has_aux=True)({"w": np.array([1.0, 2.0]), "b": 0.5},
                                                             np.array([1.0, 1.0]))
    assert value == 12.25 and bool(aux["positive"])
    np.testing.assert_allclose(g["w"], [7.0, 7.0])
    assert g["b"] == 7.0


# ---- conversions ------------------------------------------------------------------------------------------

def test_conversions_give_the_values():
    seen = {}

    def f(x):
        seen.update(float=float(x[0]), int=int(x[1]), item=x[0].item(), tolist=x.tolist(),
                    format=f"{x[0]:.2f}", complex=complex(x[0]), bool=bool(x[0] > 0))
        return fnp.sum(x)
    fgrad.grad(f)(np.array([1.5, 2.0]))
    assert seen == {"float": 1.5, "int": 2, "item": 1.5, "tolist": [1.5, 2.0], "format": "1.50",
                    "complex": 1.5 + 0j, "bool": True}


def test_concrete_integers_as_shapes_bounds_and_indices():
    x = np.array([2.0, 3.0, 4.0])
    n_of = lambda x: fnp.floor(x[0]).astype(int)      # noqa: E731
    assert fgrad.grad(lambda x: fnp.sum(fnp.arange(n_of(x)) * x[1]))(x)[1] == 1.0          # arange(2)
    assert fgrad.grad(lambda x: fnp.sum(fnp.zeros(n_of(x)) + x[2]))(x)[2] == 2.0           # zeros(2)
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(x[:int(x[0])]))(x), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(fgrad.grad(lambda x: x[int(fnp.argmax(x))])(x), [0.0, 0.0, 1.0])


def test_non_scalar_bool_is_numpys_error():
    with pytest.raises(ValueError, match="truth value of an array"):
        fgrad.grad(lambda x: fnp.sum(x) if x > 0 else 0.0)(np.ones(2))


def test_float_index_is_an_error():
    with pytest.raises(TypeError):
        fgrad.grad(lambda x: x * len(range(x)))(2.0)


def test_values_are_computed_once_and_only_when_asked(monkeypatch):
    calls = []
    impl = sin_p.impl
    monkeypatch.setattr(sin_p, "impl", lambda x: calls.append(1) or impl(x))

    def quiet(x):
        return fnp.sin(x) * x
    fgrad.grad(quiet)(1.0)
    never_asked = len(calls)             # the derivative program alone

    def asks_twice(x):
        s = fnp.sin(x)
        assert s > 0 and s < 1           # two questions, one evaluation of sin
        return s * x
    calls.clear()
    fgrad.grad(asks_twice)(1.0)
    assert len(calls) == never_asked + 1


# ---- where values stay abstract ----------------------------------------------------------------------------

def _assert_control_flow_error(info):
    text = str(info.value)
    assert "fgrad.lax.cond" in text and "test_eager_values.py" in text


@pytest.mark.parametrize("transform", [
    pytest.param(lambda f: fgrad.jit(f), id="jit"),
    pytest.param(lambda f: fgrad.make_ir(f), id="make_ir"),
    pytest.param(lambda f: fgrad.jit(fgrad.grad(f)), id="jit-of-grad"),
    pytest.param(lambda f: fgrad.grad(fgrad.jit(f)), id="grad-of-jit"),
    pytest.param(lambda f: fgrad.make_ir(fgrad.grad(f)), id="make_ir-of-grad"),
    pytest.param(lambda f: fgrad.grad(fgrad.checkpoint(f)), id="grad-of-checkpoint"),
])
def test_abstract_transforms_keep_the_error(transform):
    with pytest.raises(TracerConversionError) as info:
        transform(cookbook_try(fnp))(2.0)
    _assert_control_flow_error(info)


def test_vmap_values_stay_abstract():
    with pytest.raises(TracerConversionError) as info:
        fgrad.grad(lambda x: fnp.sum(fgrad.vmap(leaky(fnp))(x)))(np.ones(3))
    _assert_control_flow_error(info)


def test_grad_of_a_constant_inside_jit_is_concrete():
    f = cookbook_try(fnp)
    assert fgrad.jit(lambda y: fgrad.grad(f)(2.0) * y)(2.0) == 48.0


def test_value_depending_on_an_abstract_capture_is_unknown():
    def outer(y):
        return fgrad.grad(lambda x: x * y if y > 0 else -x)(1.0)
    with pytest.raises(TracerConversionError) as info:
        fgrad.jit(outer)(2.0)
    _assert_control_flow_error(info)
    assert fgrad.grad(outer)(2.0) == 1.0          # eagerly the capture's value is known


def test_escaped_concrete_tracer_still_escapes():
    store = []
    fgrad.grad(lambda x: store.append(x) or x * 2.0)(1.0)
    with pytest.raises(EscapedTracerError):
        bool(store[0] > 0)
