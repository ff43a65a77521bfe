"""stop_gradient, custom_vjp and custom_jvp under every transform."""
from functools import partial

import numpy as np
import pytest

import fgrad
from fgrad.ir import REGISTRY, MissingRuleError, Primitive
import fgrad.numpy as fnp
from fgrad.ops.base import same_type


# ---- stop_gradient ------------------------------------------------------------------------------------

def test_stop_gradient_value_is_unchanged():
    np.testing.assert_array_equal(fgrad.stop_gradient(np.array([1.0, 2.0])), [1.0, 2.0])


def test_stop_gradient_blocks_reverse_mode():
    assert fgrad.grad(lambda x: x * fgrad.stop_gradient(x))(3.0) == 3.0


def test_stop_gradient_blocks_forward_mode():
    _, t = fgrad.jvp(lambda x: fnp.sin(x) + fgrad.stop_gradient(x * x), (0.5,), (1.0,))
    assert np.allclose(t, np.cos(0.5))


def test_stop_gradient_blocks_second_order():
    assert fgrad.grad(fgrad.grad(lambda x: x * x * fgrad.stop_gradient(x)))(2.0) == 4.0


def test_stop_gradient_maps_over_pytrees():
    out = fgrad.grad(lambda p: fnp.sum(p["a"] * fgrad.stop_gradient(p)["a"]))({"a": np.array([1.0, 2.0])})
    np.testing.assert_allclose(out["a"], [1.0, 2.0])


def test_stop_gradient_prints_in_the_program():
    program = fgrad.make_ir(lambda x: fgrad.stop_gradient(fnp.sin(x)))(1.0)
    assert [e.prim.name for e in program.equations] == ["sin", "stop_gradient"]


# ---- custom_vjp ---------------------------------------------------------------------------------------

@fgrad.custom_vjp
def clip_gradient(x, lo, hi):
    return x


def _clip_fwd(x, lo, hi):
    return x, (lo, hi)


def _clip_bwd(res, g):
    lo, hi = res
    return (fnp.clip(g, lo, hi), None, None)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_uses_bwd_under_grad():
    assert fgrad.grad(lambda x: clip_gradient(x, -1.0, 1.0) * 3.0)(2.0) == 1.0


def test_custom_vjp_evaluates_the_primal():
    assert clip_gradient(2.5, -1.0, 1.0) == 2.5


def test_custom_vjp_none_cotangent_is_zero():
    g = fgrad.grad(lambda x, lo: clip_gradient(x, lo, 1.0), argnums=(0, 1))(2.0, -1.0)
    assert g == (1.0, 0.0)


def test_custom_vjp_under_jvp_differentiates_the_primal():
    # JAX refuses this; fgrad differentiates the primal (the identity), ignoring the clipping bwd.
    _, t = fgrad.jvp(lambda x: clip_gradient(x, -1.0, 1.0) * 3.0, (2.0,), (1.0,))
    assert t == 3.0


@fgrad.custom_vjp
def sin_times(x, y):
    return fnp.sin(x) * y


def _sin_times_fwd(x, y):
    return sin_times(x, y), (fnp.cos(x), fnp.sin(x), y)


def _sin_times_bwd(res, g):
    c, s, y = res
    return c * g * y, fnp.sum(s * g)


sin_times.defvjp(_sin_times_fwd, _sin_times_bwd)


def test_custom_vjp_gradient_of_both_arguments():
    x = np.array([0.1, 0.4])
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(sin_times(x, y)), argnums=(0, 1))(x, 2.0)
    np.testing.assert_allclose(gx, 2.0 * np.cos(x))
    assert np.allclose(gy, np.sin(x).sum())


def test_custom_vjp_second_order_differentiates_bwd():
    # bwd is written with fnp, so grad(grad) differentiates it: d2/dx2 sin(x)*y = -sin(x)*y
    assert np.allclose(fgrad.grad(fgrad.grad(sin_times))(0.3, 2.0), -2.0 * np.sin(0.3))


def test_custom_vjp_hessian_mixes_forward_over_reverse():
    H = fgrad.hessian(lambda x: fnp.sum(sin_times(x, 2.0)))(np.array([0.1, 0.4]))
    np.testing.assert_allclose(H, np.diag(-2.0 * np.sin([0.1, 0.4])))


def test_custom_vjp_jacfwd_and_jacrev_agree():
    x = np.array([0.1, 0.4])
    np.testing.assert_allclose(fgrad.jacfwd(sin_times)(x, 3.0), fgrad.jacrev(sin_times)(x, 3.0))


def test_custom_vjp_appears_as_one_equation():
    program = fgrad.make_ir(sin_times)(0.1, 2.0)
    assert [e.prim.name for e in program.equations] == ["custom_vjp_call"]
    assert "fwd=_sin_times_fwd" in str(program)
    fgrad.check(program)


def test_custom_vjp_nondiff_argnums_passes_static_args_to_bwd():
    @partial(fgrad.custom_vjp, nondiff_argnums=(1,))
    def power(x, n):
        return x * float(n)

    power.defvjp(lambda x, n: (power(x, n), None), lambda n, res, g: (g * (100.0 * n),))
    assert fgrad.grad(power)(2.0, 3) == 300.0
    assert power(2.0, 3) == 6.0


def test_custom_vjp_pytree_arguments_and_outputs():
    @fgrad.custom_vjp
    def f(p):
        return {"s": p["a"] + p["b"]}

    f.defvjp(lambda p: (f(p), None), lambda res, g: ({"a": g["s"] * 2.0, "b": None},))
    g = fgrad.grad(lambda p: f(p)["s"])({"a": 1.0, "b": 1.0})
    assert g == {"a": 2.0, "b": 0.0}


def test_custom_vjp_keyword_arguments():
    assert fgrad.grad(lambda x: clip_gradient(x, hi=1.0, lo=-1.0))(5.0) == 1.0


@pytest.fixture
def primitive_without_jvp():
    prim = Primitive("test_no_jvp", kind="elementwise", shape_rule=same_type, impl=lambda x: x * 2.0,
                     vjp=(lambda out_ct, out, x: out_ct * 2.0,))
    yield prim
    del REGISTRY[prim.name]


def test_custom_vjp_under_jvp_explains_when_the_primal_is_not_differentiable(primitive_without_jvp):
    @fgrad.custom_vjp
    def doubled(x):
        return primitive_without_jvp.bind(x)

    doubled.defvjp(lambda x: (doubled(x), None), lambda res, g: (g * 2.0,))
    assert fgrad.grad(doubled)(1.0) == 2.0
    with pytest.raises(MissingRuleError, match=r"forward-mode differentiation .* of custom_vjp function doubled"
                                               r".*'test_no_jvp' has no JVP rule.*custom_jvp"):
        fgrad.jvp(doubled, (1.0,), (1.0,))


def test_custom_vjp_without_rules_is_an_error():
    @fgrad.custom_vjp
    def f(x):
        return x
    with pytest.raises(TypeError, match=r"call f\.defvjp\(fwd, bwd\)"):
        f(1.0)


def test_custom_vjp_bwd_with_wrong_number_of_cotangents():
    @fgrad.custom_vjp
    def f(x, y):
        return x * y
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda res, g: (g,))
    with pytest.raises(TypeError, match=r"one cotangent per differentiable argument \(2\), got tuple of length 1"):
        fgrad.grad(f)(1.0, 2.0)


def test_custom_vjp_bwd_with_wrong_shape():
    @fgrad.custom_vjp
    def f(x):
        return fnp.sum(x)
    f.defvjp(lambda x: (f(x), None), lambda res, g: (g,))
    with pytest.raises(TypeError, match=r"leaf 0 has shape \(\) but should have shape \(3,\)"):
        fgrad.grad(f)(np.ones(3))


def test_custom_vjp_fwd_must_return_a_pair():
    @fgrad.custom_vjp
    def f(x):
        return x
    f.defvjp(lambda x: x, lambda res, g: (g,))
    with pytest.raises(TypeError, match="must return a pair"):
        fgrad.grad(f)(1.0)


def test_custom_vjp_closing_over_a_differentiated_value_is_an_error():
    def outer(y):
        @fgrad.custom_vjp
        def f(x):
            return x * y
        f.defvjp(lambda x: (f(x), None), lambda res, g: (g,))
        return f(2.0)
    with pytest.raises(TypeError, match="closes over a traced value.*explicit argument"):
        fgrad.grad(outer)(3.0)


def test_custom_vjp_rules_may_close_over_outer_values():
    # Inside grad w.r.t. x, y is a constant of the inner transform; the outer grad w.r.t. y then
    # differentiates the bwd rule's use of y: d/dy (d/dx x*y via bwd = y) = 1.
    def outer(x, y):
        @fgrad.custom_vjp
        def f(x):
            return x * y
        f.defvjp(lambda x: (f(x), None), lambda res, g: (g * y,))
        return f(x)
    assert fgrad.grad(outer)(1.0, 3.0) == 3.0
    assert fgrad.grad(lambda y: fgrad.grad(outer)(1.0, y))(3.0) == 1.0


def test_custom_jvp_rules_may_close_over_outer_values():
    def outer(x, y):
        @fgrad.custom_jvp
        def f(x):
            return x * y
        f.defjvp(lambda p, t: (f(p[0]), t[0] * y))
        return f(x)
    assert fgrad.grad(lambda y: fgrad.grad(outer)(1.0, y))(3.0) == 1.0
    assert fgrad.grad(lambda y: fgrad.jvp(lambda x: outer(x, y), (1.0,), (1.0,))[1])(3.0) == 1.0


# ---- custom_jvp ---------------------------------------------------------------------------------------

@fgrad.custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return log1pexp(x), x_dot / (1.0 + fnp.exp(-x))


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_custom_jvp_is_used_by_jvp():
    # The naive derivative exp(x)/(1+exp(x)) is nan at 1000; the rule's logistic is 1.
    _, t = fgrad.jvp(log1pexp, (1000.0,), (2.0,))
    assert t == 2.0


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_custom_jvp_is_transposed_for_grad():
    assert fgrad.grad(log1pexp)(1000.0) == 1.0
    assert np.allclose(fgrad.grad(log1pexp)(0.0), 0.5)


def test_custom_jvp_second_order():
    # d/dx logistic(x) = logistic(x) (1 - logistic(x)), 0.25 at 0, by either mode.
    assert np.allclose(fgrad.grad(fgrad.grad(log1pexp))(0.0), 0.25)
    _, t = fgrad.jvp(fgrad.grad(log1pexp), (0.0,), (1.0,))
    assert np.allclose(t, 0.25)
    assert np.allclose(fgrad.hessian(lambda x: fnp.sum(log1pexp(x)))(np.zeros(2)), 0.25 * np.eye(2))


def test_custom_jvp_rule_is_what_is_differentiated():
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        return f(primals[0]), tangents[0] * 7.0   # deliberately not cos

    assert fgrad.grad(f)(0.3) == 7.0
    assert fgrad.jvp(f, (0.3,), (1.0,))[1] == 7.0
    np.testing.assert_allclose(fgrad.jacrev(f)(np.zeros(2)), 7.0 * np.eye(2))


def test_custom_jvp_multiple_arguments_and_nondiff():
    @partial(fgrad.custom_jvp, nondiff_argnums=(0,))
    def f(scale, x, y):
        return x * y * scale

    @f.defjvp
    def f_jvp(scale, primals, tangents):
        (x, y), (x_dot, y_dot) = primals, tangents
        return f(scale, x, y), (x_dot * y + x * y_dot) * scale

    gx, gy = fgrad.grad(f, argnums=(1, 2))(10.0, 2.0, 3.0)
    assert (gx, gy) == (30.0, 20.0)


def test_custom_jvp_without_rule_is_an_error():
    @fgrad.custom_jvp
    def f(x):
        return x
    with pytest.raises(TypeError, match=r"call f\.defjvp\(rule\)"):
        f(1.0)


def test_custom_jvp_rule_must_return_a_pair():
    @fgrad.custom_jvp
    def f(x):
        return x
    f.defjvp(lambda p, t: t[0])
    with pytest.raises(TypeError, match="must return a pair"):
        fgrad.jvp(f, (1.0,), (1.0,))


def test_custom_jvp_closing_over_a_differentiated_value_is_an_error():
    def outer(y):
        @fgrad.custom_jvp
        def f(x):
            return x * y
        f.defjvp(lambda p, t: (f(p[0]), t[0]))
        return f(2.0)
    with pytest.raises(TypeError, match="custom_jvp function .* closes over a traced value"):
        fgrad.jvp(outer, (3.0,), (1.0,))


def test_neg_is_still_fine_beside_custom_rules():
    assert fgrad.grad(lambda x: -log1pexp(x))(0.0) == -0.5
