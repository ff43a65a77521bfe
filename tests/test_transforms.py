"""The function transforms: grad, value_and_grad, vjp, jvp, linearize, jacfwd, jacrev, hessian.

Values are checked against closed forms; composition to higher order, pytrees, partial evaluation
(the primal computed once), the printed adjoint, the error messages, and a 100,000-equation chain.
"""
from collections import namedtuple

import numpy as np
import pytest

import fgrad
from fgrad.ir import REGISTRY, MissingRuleError, Primitive, trace_flat
import fgrad.numpy as fnp
from fgrad.ops import sin_p
from fgrad.ops.base import same_type
from fgrad.transforms.vjp import split_program, vjp_split
from fgrad.backend.numpy_exec import evaluate

Point = namedtuple("Point", ["x", "y"])


def cube_sum(x):
    return fnp.sum(x ** 3)


# ---- grad ---------------------------------------------------------------------------------------------

def test_grad_of_sin_is_cos():
    assert np.allclose(fgrad.grad(fnp.sin)(0.7), np.cos(0.7))


def test_grad_of_array_function_has_the_argument_shape():
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(fgrad.grad(cube_sum)(x), 3 * x ** 2)


def test_grad_keeps_float32():
    g = fgrad.grad(cube_sum)(np.ones(3, np.float32))
    assert g.dtype == np.float32 and g.shape == (3,)


def test_grad_returns_arrays_at_top_level():
    assert isinstance(fgrad.grad(fnp.sin)(0.5), np.ndarray)


def test_grad_argnums_tuple_gives_tuple_of_grads():
    gx, gy = fgrad.grad(lambda x, y: fnp.sin(x) * y, argnums=(0, 1))(0.3, 2.0)
    assert np.allclose(gx, 2.0 * np.cos(0.3)) and np.allclose(gy, np.sin(0.3))


def test_grad_negative_argnums_counts_from_the_end():
    assert np.allclose(fgrad.grad(lambda x, y: x * y, argnums=-1)(3.0, 2.0), 3.0)


def test_grad_has_aux_returns_grad_and_aux():
    g, aux = fgrad.grad(lambda x: (x * x, {"double": x + x}), has_aux=True)(3.0)
    assert np.allclose(g, 6.0) and np.allclose(aux["double"], 6.0)


def test_value_and_grad():
    value, g = fgrad.value_and_grad(lambda x: fnp.sum(fnp.exp(x)))(np.array([0.0, 1.0]))
    assert np.allclose(value, 1.0 + np.e)
    np.testing.assert_allclose(g, [1.0, np.e])


def test_value_and_grad_has_aux():
    (value, aux), g = fgrad.value_and_grad(lambda x: (fnp.sin(x), fnp.cos(x)), has_aux=True)(0.5)
    assert np.allclose([value, aux, g], [np.sin(0.5), np.cos(0.5), np.cos(0.5)])


def test_grad_over_pytree_argument_has_its_structure():
    params = {"w": np.array([1.0, 2.0]), "b": 0.5, "pt": Point(1.0, np.ones(2))}

    def loss(p):
        return fnp.sum(p["w"] * p["w"]) + p["b"] * 3.0 + fnp.sum(p["pt"].x * p["pt"].y)

    g = fgrad.grad(loss)(params)
    assert set(g) == {"w", "b", "pt"} and isinstance(g["pt"], Point)
    np.testing.assert_allclose(g["w"], [2.0, 4.0])
    assert np.allclose(g["b"], 3.0) and np.allclose(g["pt"].x, 2.0)
    np.testing.assert_allclose(g["pt"].y, [1.0, 1.0])


def test_grad_ignores_kwargs_as_constants():
    assert np.allclose(fgrad.grad(lambda x, scale=1.0: x * scale)(2.0, scale=5.0), 5.0)


def test_grad_of_constant_function_is_zero():
    g = fgrad.grad(lambda x: 2.0)(np.float64(1.0))
    assert g == 0.0


def test_grad_of_identity_is_one():
    assert fgrad.grad(lambda x: x)(4.0) == 1.0


def test_reused_value_cotangents_accumulate():
    # x is used three times; d/dx (x*x + x) = 2x + 1
    assert np.allclose(fgrad.grad(lambda x: x * x + x)(3.0), 7.0)


# ---- higher order and perturbation confusion ----------------------------------------------------------

def test_third_derivative_of_sin():
    assert np.allclose(fgrad.grad(fgrad.grad(fgrad.grad(fnp.sin)))(0.4), -np.cos(0.4))


def test_fourth_derivative_of_exp_of_square_matches_closed_form():
    f = lambda x: fnp.exp(x * x)  # noqa: E731
    d4 = fgrad.grad(fgrad.grad(fgrad.grad(fgrad.grad(f))))(0.3)
    x = 0.3
    expected = np.exp(x * x) * (16 * x ** 4 + 48 * x ** 2 + 12)
    assert np.allclose(d4, expected)


def test_no_perturbation_confusion():
    # JAX gives 6.0: the inner grad is x, so the outer function is x * x.
    assert fgrad.grad(lambda x: x * fgrad.grad(lambda y: x * y)(2.0))(3.0) == 6.0


def test_no_perturbation_confusion_design_example():
    assert fgrad.grad(lambda x: x * fgrad.grad(lambda y: x * y)(1.0))(1.0) == 2.0


def test_inner_grad_closing_over_outer_value_is_differentiated_by_outer_grad():
    # d/dx [d/dy sin(x*y)] at y=1 = d/dx [x cos(x y)] = cos(x) - x sin(x)
    f = lambda x: fgrad.grad(lambda y: fnp.sin(x * y))(1.0)  # noqa: E731
    assert np.allclose(fgrad.grad(f)(0.7), np.cos(0.7) - 0.7 * np.sin(0.7))


def test_grad_of_value_and_grad_value():
    assert np.allclose(fgrad.grad(lambda x: fgrad.value_and_grad(fnp.sin)(x)[1])(0.2), -np.sin(0.2))


# ---- vjp and partial evaluation -----------------------------------------------------------------------

def test_vjp_pytree_output_and_multiple_primals():
    out, vjp_fn = fgrad.vjp(lambda x, y: {"a": x * y, "b": fnp.sin(x)}, np.ones(2), 3.0)
    np.testing.assert_allclose(out["a"], [3.0, 3.0])
    ct_x, ct_y = vjp_fn({"a": np.ones(2), "b": np.array([1.0, 0.0])})
    np.testing.assert_allclose(ct_x, [3.0 + np.cos(1.0), 3.0])
    assert np.allclose(ct_y, 2.0)


def test_vjp_has_aux():
    out, vjp_fn, aux = fgrad.vjp(lambda x: (fnp.sin(x), fnp.cos(x)), 0.5, has_aux=True)
    assert np.allclose(out, np.sin(0.5)) and np.allclose(aux, np.cos(0.5))
    assert np.allclose(vjp_fn(2.0)[0], 2 * np.cos(0.5))


class CountingImpl:
    """Counts the numpy evaluations of a primitive (patched for one test)."""

    def __init__(self, prim, monkeypatch):
        self.count = 0
        original = prim.impl

        def counted(*args, **params):
            self.count += 1
            return original(*args, **params)
        monkeypatch.setattr(prim, "impl", counted)


def test_vjp_fn_does_not_recompute_the_forward_sweep(monkeypatch):
    sins = CountingImpl(sin_p, monkeypatch)
    out, vjp_fn = fgrad.vjp(lambda x: fnp.sum(fnp.sin(x) * fnp.sin(x)), np.array([0.1, 0.2]))
    after_forward = sins.count
    for ct in (1.0, 2.0, 3.0):
        (g,) = vjp_fn(ct)
        np.testing.assert_allclose(g, ct * np.sin(2 * np.array([0.1, 0.2])))
    assert sins.count == after_forward


def test_linearize_computes_the_primal_once(monkeypatch):
    sins = CountingImpl(sin_p, monkeypatch)
    out, f_jvp = fgrad.linearize(lambda x: fnp.sin(x) * x, 0.5)
    assert np.allclose(out, 0.5 * np.sin(0.5))
    after = sins.count
    for t in (1.0, -2.0):
        assert np.allclose(f_jvp(t), t * (np.sin(0.5) + 0.5 * np.cos(0.5)))
    assert sins.count == after


def test_vjp_fn_rejects_a_cotangent_of_the_wrong_shape():
    _, vjp_fn = fgrad.vjp(fnp.sin, np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        vjp_fn(np.ones(2))


def test_vjp_fn_rejects_a_cotangent_of_the_wrong_structure():
    _, vjp_fn = fgrad.vjp(lambda x: (x, x), 1.0)
    with pytest.raises(ValueError, match="must have the structure"):
        vjp_fn(1.0)


def test_split_program_splits_known_and_unknown_equations():
    def f(x, t):
        c = fnp.cos(x)             # known
        return [fnp.sin(x), c * t]
    program, _ = trace_flat(f, [fgrad.ir.ArrayType((), "float64")] * 2)
    split = split_program(program, [False, True], 1)
    assert [e.prim.name for e in split.first.equations] == ["cos", "sin"]
    assert [e.prim.name for e in split.second.equations] == ["mul"]
    assert len(split.first.outputs) == 2 and len(split.second.inputs) == 2   # sin + residual cos; residual + t
    assert split.residuals == (program.equations[0].outputs[0],)


def test_split_program_saving_forward_values_recomputes_the_rest_later():
    def f(x, t):
        return [fnp.sin(x), fnp.cos(x) * t]
    program, _ = trace_flat(f, [fgrad.ir.ArrayType((), "float64")] * 2)
    split = split_program(program, [False, True], 1, save="forward")
    assert [e.prim.name for e in split.first.equations] == ["sin"]
    assert [e.prim.name for e in split.second.equations] == ["cos", "mul"]
    assert split.residuals == (program.inputs[0],)               # x itself, as PyTorch saves it
    with pytest.raises(ValueError, match="depends on an unknown input"):
        split_program(program, [False, True], 2)


def test_vjp_split_saves_inputs_and_outputs_and_runs_the_backward():
    program = fgrad.make_ir(lambda x, y: [fnp.exp(x) * y])(0.5, 2.0)
    split = vjp_split(program, [0, 1], save="forward", simplified=False)
    forward = evaluate(split.forward, 0.5, 2.0)
    out, residuals = forward[0], forward[1:]
    np.testing.assert_allclose(out, np.exp(0.5) * 2.0)
    gx, gy = evaluate(split.backward, *residuals, 1.0)
    np.testing.assert_allclose([gx, gy], [np.exp(0.5) * 2.0, np.exp(0.5)])
    assert len(residuals) == 2                                 # y and exp(x), the values the rules read
    assert [i for _, i in split.saved_inputs] == [1] and split.saved_outputs == ()


# ---- jvp and linearize --------------------------------------------------------------------------------

def test_jvp_of_sin():
    out, out_dot = fgrad.jvp(fnp.sin, (0.5,), (2.0,))
    assert np.allclose(out, np.sin(0.5)) and np.allclose(out_dot, 2 * np.cos(0.5))


def test_jvp_over_pytrees():
    out, out_dot = fgrad.jvp(lambda p: {"s": p["a"] * p["b"]}, ({"a": 2.0, "b": 3.0},),
                             ({"a": 1.0, "b": 0.0},))
    assert np.allclose(out["s"], 6.0) and np.allclose(out_dot["s"], 3.0)


def test_jvp_and_linearize_has_aux():
    out, out_dot, aux = fgrad.jvp(lambda x: (fnp.sin(x), {"c": fnp.cos(x)}), (0.5,), (2.0,), has_aux=True)
    assert np.allclose([out, out_dot, aux["c"]], [np.sin(0.5), 2 * np.cos(0.5), np.cos(0.5)])
    out, f_jvp, aux = fgrad.linearize(lambda x: (fnp.sin(x), fnp.cos(x)), 0.5, has_aux=True)
    assert np.allclose([out, f_jvp(2.0), aux], [np.sin(0.5), 2 * np.cos(0.5), np.cos(0.5)])


def test_jvp_ignores_integer_primals():
    out, out_dot = fgrad.jvp(lambda x, n: x * n, (2.0, np.int64(3)), (1.0, np.int64(0)))
    assert np.allclose(out_dot, 3.0)


def test_jvp_rejects_tangent_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"tangent 0: leaf 0 has shape \(2,\).*primal 0 has shape \(3,\)"):
        fgrad.jvp(fnp.sin, (np.ones(3),), (np.ones(2),))


def test_jvp_needs_tuples_of_arguments():
    with pytest.raises(TypeError, match="primals must be a tuple or list"):
        fgrad.jvp(fnp.sin, 1.0, 1.0)


def test_jvp_of_grad_is_hessian_vector_product():
    f = lambda x: fnp.sum(fnp.sin(x) * x)  # noqa: E731
    x, v = np.array([0.1, 0.7]), np.array([1.0, 2.0])
    _, hvp = fgrad.jvp(fgrad.grad(f), (x,), (v,))
    np.testing.assert_allclose(hvp, v * (2 * np.cos(x) - x * np.sin(x)))


# ---- Jacobians ----------------------------------------------------------------------------------------

def matrix_function(x):
    # out[i, j] = sin(x[j]) * (i + 1): shape (2, 3) from x of shape (3,)
    return fnp.sin(x) * np.array([[1.0], [2.0]])


def expected_matrix_jacobian(x):
    jac = np.zeros((2, 3, 3))
    for i in range(2):
        for j in range(3):
            jac[i, j, j] = (i + 1) * np.cos(x[j])
    return jac


@pytest.mark.parametrize("jac", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_shape_is_out_shape_plus_in_shape(jac):
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(jac(matrix_function)(x), expected_matrix_jacobian(x))


@pytest.mark.parametrize("jac", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_scalar_function_of_scalar(jac):
    assert np.allclose(jac(fnp.sin)(0.3), np.cos(0.3)) and jac(fnp.sin)(0.3).shape == ()


@pytest.mark.parametrize("jac", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_pytree_layout_matches_jax(jac):
    # Output tree of (argnums tuple of) input trees.
    f = lambda p, s: {"u": p["a"] * s, "v": fnp.sum(p["b"])}  # noqa: E731
    p = {"a": np.array([1.0, 2.0]), "b": np.ones(3)}
    J = jac(f, argnums=(0, 1))(p, 3.0)
    assert set(J) == {"u", "v"} and isinstance(J["u"], tuple) and set(J["u"][0]) == {"a", "b"}
    np.testing.assert_allclose(J["u"][0]["a"], 3.0 * np.eye(2))
    np.testing.assert_allclose(J["u"][0]["b"], np.zeros((2, 3)))
    np.testing.assert_allclose(J["u"][1], [1.0, 2.0])
    np.testing.assert_allclose(J["v"][0]["b"], np.ones(3))
    assert J["v"][1].shape == ()


@pytest.mark.parametrize("jac", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_has_aux(jac):
    J, aux = jac(lambda x: (fnp.sin(x), fnp.cos(x)), has_aux=True)(np.array([0.0, 1.0]))
    np.testing.assert_allclose(J, np.diag(np.cos([0.0, 1.0])))
    np.testing.assert_allclose(aux, np.cos([0.0, 1.0]))


def test_jacobian_is_jacrev():
    assert fgrad.jacobian is fgrad.jacrev


def test_hessian_of_cube_sum():
    np.testing.assert_allclose(fgrad.hessian(cube_sum)(np.array([1.0, 2.0])), np.diag([6.0, 12.0]))


def test_hessian_of_coupled_function():
    f = lambda x: fnp.sum(x * x) * fnp.sum(x)  # noqa: E731  (|x|^2 * sum x)
    x = np.array([1.0, 2.0, 3.0])
    expected = 2 * x.sum() * np.eye(3) + 2 * x[:, None] + 2 * x[None, :]
    np.testing.assert_allclose(fgrad.hessian(f)(x), expected)


@pytest.mark.parametrize("outer,inner", [(fgrad.jacfwd, fgrad.jacrev), (fgrad.jacrev, fgrad.jacfwd),
                                         (fgrad.jacfwd, fgrad.jacfwd), (fgrad.jacrev, fgrad.jacrev)],
                         ids=["fwd-of-rev", "rev-of-fwd", "fwd-of-fwd", "rev-of-rev"])
def test_second_order_jacobians_agree(outer, inner):
    f = lambda x: fnp.tanh(x * fnp.sum(x))  # noqa: E731
    x = np.array([0.3, -0.2])
    reference = fgrad.hessian(lambda x: f(x)[0])(x)
    np.testing.assert_allclose(outer(inner(f))(x)[0], reference, rtol=1e-12)


def test_grad_of_jacobian_entry():
    g = fgrad.grad(lambda x: fnp.sum(fgrad.jacrev(fnp.sin)(x)))(np.array([0.2, 0.4]))
    np.testing.assert_allclose(g, -np.sin([0.2, 0.4]))


# ---- the printed adjoint ------------------------------------------------------------------------------

def test_adjoint_of_sum_of_sin_is_cos():
    program = fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(fnp.sin(x))))(np.ones(3))
    assert str(program) == "program(a:f64[3]) {\n  a_ct:f64[3] = cos a\n  return a_ct\n}"


def test_make_ir_of_grad_shows_forward_and_reverse_sweep():
    program = fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(fnp.sin(x) * fnp.log(x))))(np.ones(2))
    names = [e.prim.name for e in program.equations]
    assert {"sin", "log", "cos", "div", "mul", "add"} <= set(names)
    fgrad.check(program)


# ---- errors -------------------------------------------------------------------------------------------

def test_grad_of_non_scalar_output_names_the_shape_and_alternatives():
    with pytest.raises(TypeError, match=r"output has shape \(3,\).*fgrad\.vjp or fgrad\.jacrev"):
        fgrad.grad(fnp.sin)(np.ones(3))


def test_grad_of_tuple_output_points_to_vjp():
    with pytest.raises(TypeError, match=r"returned a tuple of 2 elements.*fgrad\.vjp or fgrad\.jacrev"):
        fgrad.grad(lambda x: (x, x))(1.0)


def test_grad_of_integer_output_is_an_error():
    with pytest.raises(TypeError, match="float scalar.*dtype int64"):
        fgrad.grad(lambda x: np.int64(1))(1.0)


@pytest.mark.parametrize("value,dtype", [(np.int64(3), "int64"), (np.int32(3), "int32"), (True, "bool")],
                         ids=["int64", "int32", "bool"])
def test_grad_wrt_non_float_argument_names_it_and_its_dtype(value, dtype):
    with pytest.raises(TypeError, match=rf"argument 1 of <lambda> has dtype {dtype}"):
        fgrad.grad(lambda x, n: x * n, argnums=(0, 1))(1.0, value)


def test_grad_wrt_integer_leaf_of_pytree_argument():
    with pytest.raises(TypeError, match=r"argument 0 of loss \(a leaf of it\) has dtype int64"):
        def loss(p):
            return p["w"]
        fgrad.grad(loss)({"w": 1.0, "n": np.arange(3)})


@pytest.mark.parametrize("transform", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_wrt_integer_argument(transform):
    with pytest.raises(TypeError, match=f"{transform.__name__} can only differentiate.*dtype int64"):
        transform(lambda x: x)(np.arange(3))


@pytest.mark.parametrize("argnums", [2, (0, 5), -3], ids=["int", "tuple", "negative"])
def test_argnums_out_of_range(argnums):
    with pytest.raises(ValueError, match=r"out of range: f was called with 2 positional arguments.*0\.\.1"):
        def f(x, y):
            return x * y
        fgrad.grad(f, argnums=argnums)(1.0, 2.0)


@pytest.mark.parametrize("result", [lambda x: x, lambda x: (x, x, x)], ids=["single", "triple"])
def test_has_aux_needs_a_pair(result):
    with pytest.raises(TypeError, match=r"has_aux=True requires <lambda> to return a pair \(output, aux\)"):
        fgrad.grad(result, has_aux=True)(1.0)


def test_has_aux_error_in_vjp_and_jacobians():
    for transform in (lambda f: fgrad.vjp(f, 1.0, has_aux=True),
                      lambda f: fgrad.jacrev(f, has_aux=True)(1.0),
                      lambda f: fgrad.jacfwd(f, has_aux=True)(1.0)):
        with pytest.raises(TypeError, match="has_aux=True requires"):
            transform(lambda x: x)


@pytest.fixture
def primitive_without_vjp():
    prim = Primitive("test_no_vjp", kind="elementwise", shape_rule=same_type, impl=lambda x: x * 2.0,
                     jvp=(lambda x_dot, out, x: x_dot * 2.0,))
    yield prim
    del REGISTRY[prim.name]


def test_missing_vjp_rule_names_the_primitive(primitive_without_vjp):
    with pytest.raises(MissingRuleError, match="primitive 'test_no_vjp' has no VJP rule"):
        fgrad.grad(lambda x: primitive_without_vjp.bind(fnp.sin(x)))(1.0)
    # forward mode still works: only reverse mode needs the VJP rule
    assert np.allclose(fgrad.jvp(lambda x: primitive_without_vjp.bind(x), (1.0,), (1.0,))[1], 2.0)


# ---- linear cost, iterative walks ---------------------------------------------------------------------

@pytest.mark.slow
def test_100000_equation_chain_does_not_hit_the_recursion_limit():
    n = 100_000

    def chain(x):
        for _ in range(n):
            x = -x
        return x

    g = fgrad.grad(chain)(1.0)
    assert g == 1.0   # an even number of negations


def test_long_chain_of_mixed_ops_matches_forward_mode():
    def f(x):
        for _ in range(500):
            x = fnp.sin(x) - x * 0.5
        return fnp.sum(x)
    x = np.array([0.3, 0.6])
    g = fgrad.grad(f)(x)
    _, expected = fgrad.jvp(f, (x,), (np.array([1.0, 0.0]),))
    assert np.allclose(g[0], expected)
