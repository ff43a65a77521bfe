"""Valid sample inputs for the derivative-control primitives (stop_gradient, custom_vjp_call,
custom_jvp_call), for the registry-driven rule tests (tests/test_primitive_rules.py).

The custom-call samples are taken from tracing decorated functions, so their params (the primal program,
the user's rules, the pytree structures) are exactly what `fgrad.custom_vjp` / `fgrad.custom_jvp` bind.
Their user rules are the true derivatives, so the finite-difference and dot-product checks apply.
"""
from functools import partial

import numpy as np

import fgrad
import fgrad.numpy as fnp

_rng = np.random.default_rng(20240613)


def _f(*shape, dtype=np.float64):
    return _rng.standard_normal(shape).astype(dtype)


def _call_sample(fun, *args):
    """(args, params) of the one custom-call equation that calling `fun(*args)` records."""
    (eqn,) = fgrad.make_ir(fun)(*args).equations
    return tuple(np.asarray(a) for a in args), dict(eqn.params)


# ---- custom_vjp ---------------------------------------------------------------------------------------

@fgrad.custom_vjp
def sin_times(x, y):
    return fnp.sin(x) * y


sin_times.defvjp(lambda x, y: (sin_times(x, y), (x, y)),
                 lambda res, g: (fnp.cos(res[0]) * g * res[1], fnp.sum(fnp.sin(res[0]) * g)))


@fgrad.custom_vjp
def exp_and_square_norm(x):
    return {"e": fnp.exp(x), "n": fnp.sum(x * x)}


exp_and_square_norm.defvjp(lambda x: (exp_and_square_norm(x), x),
                           lambda x, g: (g["e"] * fnp.exp(x) + 2.0 * g["n"] * x,))


@partial(fgrad.custom_vjp, nondiff_argnums=(1,))
def scaled_tanh(x, scale):
    return fnp.tanh(x) * scale


scaled_tanh.defvjp(lambda x, scale: (scaled_tanh(x, scale), x),
                   lambda scale, x, g: (g * scale * (1.0 - fnp.tanh(x) ** 2),))


# ---- custom_jvp ---------------------------------------------------------------------------------------

@fgrad.custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return log1pexp(x), x_dot / (1.0 + fnp.exp(-x))


@fgrad.custom_jvp
def product_and_ratio(x, y):
    return x * y, x / y


@product_and_ratio.defjvp
def _product_and_ratio_jvp(primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    return product_and_ratio(x, y), (x_dot * y + x * y_dot, x_dot / y - x * y_dot / (y * y))


SAMPLES = {
    "stop_gradient": [((_f(3),), {}), ((_f(2, 2, dtype=np.float32),), {}), ((np.arange(3),), {})],
    "custom_vjp_call": [
        _call_sample(sin_times, _f(3), 1.5),
        _call_sample(exp_and_square_norm, _f(2, 2)),
        _call_sample(lambda x: scaled_tanh(x, 3.0), _f(4)),
        _call_sample(sin_times, _f(3, dtype=np.float32), np.float32(2.0)),
    ],
    "custom_jvp_call": [
        _call_sample(log1pexp, _f(3)),
        _call_sample(product_and_ratio, _f(2), 1.0 + np.abs(_f(2))),
    ],
}

NON_DIFFERENTIABLE = {"stop_gradient"}
