"""Derivatives at kinks and singular points follow JAX: fgrad's rules against jax.grad and jax.jvp (float64).

fgrad's derivatives are built from the program transforms (trace_flat + vjp_program / jvp_program, run by
the reference executor), so this checks the rules themselves, not a higher-level API.
"""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

from fgrad import ops  # noqa: E402
from fgrad.backend.numpy_exec import evaluate  # noqa: E402
from fgrad.ir import trace_flat, typeof  # noqa: E402
from fgrad.transforms.jvp import jvp_program  # noqa: E402
from fgrad.transforms.vjp import vjp_program  # noqa: E402

# 0 * inf = nan and exp overflowing to inf are the point of several cases; numpy's warnings about them are noise.
pytestmark = [pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]


def _trace(fun, args):
    program, captured = trace_flat(lambda *xs: [fun(*xs)], [typeof(a) for a in args])
    assert not captured
    return program


def fgrad_grad(fun, *args):
    """The gradient of a scalar-valued fgrad function in every argument."""
    program = _trace(fun, args)
    return evaluate(vjp_program(program, range(len(args))), *args, np.ones(()))[1:]


def fgrad_jvp(fun, args, tangents):
    """(value, tangent) of an fgrad function along `tangents`."""
    program = _trace(fun, args)
    return evaluate(jvp_program(program, [True] * len(args)), *args, *tangents)


def _sum(op):
    return lambda *xs: ops.reduce_sum(op(*xs))


def _where_sqrt_neg(x):
    return ops.select(ops.lt(x, 0.0), 0.0, ops.sqrt(x))


def _where_sqrt_pos(x):
    return ops.select(ops.gt(x, 0.0), ops.sqrt(x), 0.0)


def _where_log(x):
    return ops.select(ops.gt(x, 0.0), x, ops.log(x))


def _where_nan_times(x):
    return ops.select(ops.gt(x, 0.0), x, ops.mul(np.nan, x))


# (id, fgrad function, jax function, args): each a point where a naive rule could differ from JAX's.
CASES = [
    ("abs-0", ops.abs, jnp.abs, (0.0,)),
    ("abs-neg0", ops.abs, jnp.abs, (-0.0,)),
    ("sign-0", ops.sign, jnp.sign, (0.0,)),
    ("maximum-tie-0", lambda x: ops.maximum(x, 0.0), lambda x: jnp.maximum(x, 0.0), (0.0,)),
    ("maximum-tie", ops.maximum, jnp.maximum, (1.0, 1.0)),
    ("minimum-tie", ops.minimum, jnp.minimum, (-2.0, -2.0)),
    ("maximum-self", lambda x: ops.maximum(x, x), lambda x: jnp.maximum(x, x), (0.5,)),
    ("maximum-nan", ops.maximum, jnp.maximum, (np.nan, 1.0)),
    ("reduce_max-tie", ops.reduce_max, jnp.max, (np.array([1.0, 3.0, 3.0, 2.0]),)),
    ("reduce_max-all-equal", ops.reduce_max, jnp.max, (np.full((2, 3), 0.5),)),
    ("reduce_max-rows", _sum(lambda x: ops.reduce_max(x, 1)), lambda x: jnp.sum(jnp.max(x, axis=1)),
     (np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]]),)),
    ("reduce_min-tie", ops.reduce_min, jnp.min, (np.array([1.0, 1.0, 3.0, 2.0]),)),
    ("reduce_max-nan", _sum(lambda x: ops.reduce_max(x, 0)), lambda x: jnp.sum(jnp.max(x, axis=0)),
     (np.array([[np.nan, 1.0], [2.0, 1.0]]),)),
    ("sqrt-0", ops.sqrt, jnp.sqrt, (0.0,)),
    ("log-0", ops.log, jnp.log, (0.0,)),
    ("log1p--1", ops.log1p, jnp.log1p, (-1.0,)),
    ("div-by-0", ops.div, jnp.divide, (1.0, 0.0)),
    ("div-0-by-0", ops.div, jnp.divide, (0.0, 0.0)),
    ("pow-0-0", ops.pow, jax.lax.pow, (0.0, 0.0)),
    ("pow-0-2", ops.pow, jax.lax.pow, (0.0, 2.0)),
    ("pow-0-half", ops.pow, jax.lax.pow, (0.0, 0.5)),
    ("pow-0-1", ops.pow, jax.lax.pow, (0.0, 1.0)),
    ("pow-0--1", ops.pow, jax.lax.pow, (0.0, -1.0)),
    ("pow-2-0", ops.pow, jax.lax.pow, (2.0, 0.0)),
    ("pow--2-2", ops.pow, jax.lax.pow, (-2.0, 2.0)),
    ("pow--2-half", ops.pow, jax.lax.pow, (-2.0, 0.5)),
] + [
    (f"integer_pow-0-{y}", lambda x, y=y: ops.integer_pow(x, y=y), lambda x, y=y: jax.lax.integer_pow(x, y), (0.0,))
    for y in (0, 1, 2, 3, -1, -2)
] + [
    (f"{name}-{x:g}", getattr(ops, name), jax_fn, (x,))
    for name, jax_fn in (("logistic", jax.lax.logistic), ("tanh", jnp.tanh), ("exp", jnp.exp))
    for x in (-800.0, -40.0, 40.0, 800.0)
] + [
    ("select-nan-grad-unselected", _where_sqrt_neg, lambda x: jnp.where(x < 0, 0.0, jnp.sqrt(x)), (-1.0,)),
    ("select-inf-grad-unselected", _where_sqrt_pos, lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0), (0.0,)),
    ("select-log-unselected", _where_log, lambda x: jnp.where(x > 0, x, jnp.log(x)), (1.0,)),
    ("select-nan-value-unselected", _where_nan_times, lambda x: jnp.where(x > 0, x, jnp.nan * x), (1.0,)),
]
IDS = [case[0] for case in CASES]


def _as_arrays(args):
    return [np.asarray(a, dtype=np.float64) for a in args]


@pytest.mark.parametrize("name,fun,jax_fun,args", CASES, ids=IDS)
def test_grad_matches_jax(name, fun, jax_fun, args):
    args = _as_arrays(args)
    expected = jax.grad(jax_fun, argnums=tuple(range(len(args))))(*map(jnp.asarray, args))
    for i, (got, want) in enumerate(zip(fgrad_grad(fun, *args), expected)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, equal_nan=True,
                                   err_msg=f"{name}: derivative in argument {i}")


@pytest.mark.parametrize("name,fun,jax_fun,args", CASES, ids=IDS)
def test_jvp_matches_jax(name, fun, jax_fun, args):
    args = _as_arrays(args)
    rng = np.random.default_rng(0)
    tangents = [rng.uniform(0.5, 1.5, np.shape(a)) for a in args]
    value, tangent = fgrad_jvp(fun, args, tangents)
    want_value, want_tangent = jax.jvp(jax_fun, tuple(map(jnp.asarray, args)), tuple(map(jnp.asarray, tangents)))
    np.testing.assert_allclose(value, np.asarray(want_value), rtol=1e-12, equal_nan=True, err_msg=f"{name}: value")
    np.testing.assert_allclose(tangent, np.asarray(want_tangent), rtol=1e-12, equal_nan=True,
                               err_msg=f"{name}: tangent")


def test_argmax_ties_and_nan_match_jax():
    cases = (np.array([1.0, 3.0, 3.0, 2.0]), np.array([0.0, np.nan, 1.0, np.nan]), np.array([[2.0, 2.0], [1.0, 3.0]]))
    for x in cases:
        np.testing.assert_array_equal(ops.argmax(x, -1), np.asarray(jnp.argmax(jnp.asarray(x), axis=-1)))
