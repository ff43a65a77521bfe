"""Valid sample inputs for the derivative-control primitives (stop_gradient, custom_vjp_call,
custom_jvp_call, checkpoint) and the control-flow primitives (cond, while, scan), for the registry-driven rule
tests (tests/test_primitive_rules.py, test_vmap.py, test_jit_primitives.py).

The control-flow samples come from tracing fgrad.lax functions, so their sub-programs are what users get. The
loops' trip counts do not depend on the float inputs (a counter or a static length decides them), so finite
differences see smooth functions.

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


def _control_sample(fun, *args):
    """(inputs, params) of the one control-flow equation `fun(*args)` records (its inputs are the traced
    function's inputs, or literals, in the equation's order)."""
    program = fgrad.make_ir(fun)(*args)
    (eqn,) = [e for e in program.equations if e.prim.kind in ("control", "custom")]
    env = dict(zip(program.inputs, [np.asarray(a) for a in args]))
    read = lambda a: a.value if type(a) is fgrad.ir.Literal else env[a]    # noqa: E731
    for e in program.equations[:program.equations.index(eqn)]:       # what computes its inputs (the index)
        out = e.prim.impl(*[read(a) for a in e.inputs], **e.params)
        env.update(zip(e.outputs, out if e.prim.multiple_results else [out]))
    return tuple(np.asarray(read(a)) for a in eqn.inputs), dict(eqn.params)


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


# ---- control flow ------------------------------------------------------------------------------------

lax = fgrad.lax


def _cond_sample(x, y):
    return lax.cond(x[0] > 0, lambda a, b: (fnp.sin(a) * b, a + b), lambda a, b: (a * a, b * 2.0), x, y)


def _switch_sample(i, x):
    return lax.switch(i, [lambda v: fnp.exp(v), lambda v: v * v, lambda v: fnp.tanh(v) * 3.0], x)


def _while_sample(x, a):
    # The trip count depends on the integer counter only: x and a move smoothly.
    return lax.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, fnp.sin(c[1]) * a + c[1]), (0, x))[1]


def _while_float32(x):
    return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * np.float32(1.5)), (0, x))[1]


def _scan_sample(w, xs, h0):
    return lax.scan(lambda h, x: (fnp.tanh(w * h + x), h * x), h0, xs)


def _scan_reverse_pytree(xs, c):
    return lax.scan(lambda carry, x: ((carry[0] + x, carry[1] * fnp.cos(x)), carry[0] * x), (c, 1.0), xs,
                    reverse=True)


def _checkpoint_sample(x, y):
    return fgrad.checkpoint(lambda a, b: fnp.sin(a * b) + fnp.exp(a))(x, y)


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
    "cond": [
        _control_sample(_cond_sample, np.array([0.5, -1.0]), _f(2)),
        _control_sample(_cond_sample, np.array([-0.5, 1.0]), _f(2)),
        _control_sample(_switch_sample, np.int64(1), _f(3)),
        _control_sample(_switch_sample, np.int64(0), _f(3)),
        _control_sample(_cond_sample, np.array([0.5, 1.0], np.float32), _f(2, dtype=np.float32)),
    ],
    "while": [
        _control_sample(_while_sample, _f(3), 0.7),
        _control_sample(_while_sample, _f(), -0.4),
        _control_sample(_while_float32, _f(2, dtype=np.float32)),
    ],
    "scan": [
        _control_sample(_scan_sample, 0.8, _f(4, 2), _f(2)),
        _control_sample(_scan_reverse_pytree, _f(5), 0.3),
        _control_sample(lambda xs: lax.map(lambda x: fnp.sin(x) * x, xs), _f(3, 2)),
        _control_sample(_scan_sample, np.float32(0.8), _f(3, 2, dtype=np.float32), _f(2, dtype=np.float32)),
    ],
    "checkpoint": [
        _control_sample(_checkpoint_sample, _f(3), _f(3)),
        _control_sample(_checkpoint_sample, _f(2, dtype=np.float32), _f(2, dtype=np.float32)),
    ],
}

NON_DIFFERENTIABLE = {"stop_gradient"}
