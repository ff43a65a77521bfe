"""fgrad.check_grads: passes on correct derivatives, and names the argument, mode and order that disagree."""
from functools import partial

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


def correct_cases():
    return [
        ("sin", fnp.sin, (np.linspace(-1.0, 1.0, 4),)),
        ("product", lambda x, y: fnp.sin(x) * y, (0.3, np.array([1.0, 2.0]))),
        ("pytree", lambda p: fnp.sum(p["w"] * fnp.tanh(p["b"])), ({"w": np.ones(3), "b": np.arange(3.0)},)),
        ("tuple out", lambda x: (fnp.exp(x), fnp.sum(fnp.cos(x))), (np.array([0.1, 0.2]),)),
        ("int arg ignored", lambda x, n: x * n, (np.array([1.0, 2.0]), np.int64(3))),
    ]


@pytest.mark.parametrize("name,f,args", correct_cases(), ids=[c[0] for c in correct_cases()])
def test_check_grads_passes_on_correct_derivatives(name, f, args):
    fgrad.check_grads(f, args, order=2)


def test_check_grads_third_order():
    fgrad.check_grads(lambda x: fnp.sum(fnp.sin(x) * fnp.exp(x)), (np.array([0.2, -0.4]),), order=3)


def test_check_grads_float32_uses_looser_tolerances():
    fgrad.check_grads(lambda x: fnp.sum(fnp.tanh(x * x)), (np.array([0.3, -0.8, 1.2], np.float32),), order=2)


@pytest.mark.parametrize("modes", [("fwd",), ("rev",)], ids=["fwd", "rev"])
def test_check_grads_single_mode(modes):
    fgrad.check_grads(fnp.sin, (0.5,), modes=modes)


# ---- wrong rules are caught -------------------------------------------------------------------------

def wrong_vjp():
    @fgrad.custom_vjp
    def f(x, y):
        return fnp.sin(x) * y
    f.defvjp(lambda x, y: (f(x, y), (x, y)),
             lambda res, g: (fnp.cos(res[0]) * g * res[1], fnp.sin(res[0]) * g * 2.0))  # y's is 2x too big
    return f


def wrong_jvp():
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)
    f.defjvp(lambda p, t: (f(p[0]), t[0] * (fnp.cos(p[0]) + 0.1)))
    return f


def test_wrong_vjp_is_reported_with_argument_and_reverse_mode():
    with pytest.raises(AssertionError, match=r"order 1: reverse mode \(VJP vs JVP, dot-product test\) of f "
                                             r"disagrees for argument 1: <vjp\(u\), v> = .* but <u, jvp\(v\)> = "
                                             r".*max abs difference"):
        fgrad.check_grads(wrong_vjp(), (0.3, 2.0), order=1)


def test_correct_argument_of_a_wrong_vjp_passes():
    fgrad.check_grads(lambda x: wrong_vjp()(x, 2.0), (0.3,), order=1)


def test_wrong_jvp_is_reported_with_argument_and_forward_mode():
    with pytest.raises(AssertionError, match=r"order 1: forward mode \(JVP vs central finite differences, "
                                             r"eps=1e-06\) of f disagrees for argument 0, output leaf 0: "
                                             r"max abs difference 0\.\d+ at index"):
        fgrad.check_grads(wrong_jvp(), (np.array([0.1, 0.2]),), modes=("fwd",), order=1)


def test_wrong_second_derivative_is_reported_at_order_2():
    # First derivative right, second wrong: the bwd uses a constant where cos(x) should be differentiated.
    @fgrad.custom_vjp
    def f(x):
        return fnp.sin(x)
    f.defvjp(lambda x: (f(x), fgrad.stop_gradient(fnp.cos(x))), lambda c, g: (g * c,))
    fgrad.check_grads(f, (0.4,), order=1)
    # The VJP function's derivative is then checked against finite differences.
    with pytest.raises(AssertionError, match=r"order 2: forward mode .* of vjp\(f\) disagrees for argument 0"):
        fgrad.check_grads(f, (0.4,), order=2)


def test_pytree_argument_leaf_is_named():
    @fgrad.custom_vjp
    def f(p):
        return p["a"] * p["b"]
    f.defvjp(lambda p: (f(p), p), lambda p, g: ({"a": g * p["b"], "b": g},))   # "b" wrong
    with pytest.raises(AssertionError, match=r"disagrees for argument 0\['b'\]:"):
        fgrad.check_grads(f, ({"a": 2.0, "b": 3.0},), order=1)


def test_tolerances_can_be_set():
    check = partial(fgrad.check_grads, wrong_jvp(), (0.5,), order=1, modes=("fwd",))
    with pytest.raises(AssertionError):
        check()
    check(atol=0.2, rtol=0.0)


def test_check_grads_rejects_unknown_modes():
    with pytest.raises(ValueError, match=r"modes must be a non-empty subset of \('fwd', 'rev'\)"):
        fgrad.check_grads(fnp.sin, (0.5,), modes=("backward",))


def test_check_grads_needs_a_float_argument():
    with pytest.raises(TypeError, match="at least one float argument"):
        fgrad.check_grads(lambda n: n, (np.int64(2),))
