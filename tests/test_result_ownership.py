"""Results handed to the user are arrays the user owns (issue 17, items 1 and 8).

A transform's or an eager fgrad.numpy function's result never is, nor shares memory with, an argument, a
closed-over array, a program constant or another result, and it is writable: `g *= lr` changes `g` only.
"""
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.ir.ownership import owned_results

W = np.array([0.5, -1.5, 2.0])
X = np.array([1.0, 2.0, 3.0])


def independent(result, *others):
    """`result` is a writable numpy array sharing memory with none of `others`."""
    assert isinstance(result, np.ndarray)
    assert result.flags.writeable, "result is read-only"
    for other in others:
        assert not np.shares_memory(result, other), "result shares memory with an argument or another result"
    return True


def mutate(a):
    a *= 10.0      # raises for a read-only array
    return a


# ---- the transforms --------------------------------------------------------------------------------

def test_grad_never_returns_an_input():
    w, x = W.copy(), X.copy()
    gw = fgrad.grad(lambda w, x: fnp.sum(w * x))(w, x)       # d/dw is x itself in the program
    assert independent(gw, w, x)
    mutate(gw)
    np.testing.assert_array_equal(x, X)


def test_grad_never_returns_a_closed_over_array():
    c = X.copy()
    g = fgrad.grad(lambda w: fnp.sum(w * c))(W)             # the gradient is the constant c
    assert independent(g, c)
    mutate(g)
    np.testing.assert_array_equal(c, X)
    np.testing.assert_array_equal(fgrad.grad(lambda w: fnp.sum(w * c))(W), X)


def test_gradients_of_several_arguments_are_separate_writable_arrays():
    a, b = W.copy(), X.copy()
    ga, gb = fgrad.grad(lambda a, b: fnp.sum(a + b), argnums=(0, 1))(a, b)   # both are broadcast ones
    assert independent(ga, a, b, gb) and independent(gb, a, b)
    mutate(ga)
    np.testing.assert_array_equal(gb, np.ones(3))


def test_grad_of_a_sum_is_writable():
    # broadcast_to's impl is a read-only view: `g *= 2` used to raise "output array is read-only".
    g = fgrad.grad(lambda x: fnp.sum(x))(X)
    g *= 2.0
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


def test_value_and_grad_and_aux_that_are_inputs_are_copies():
    x = X.copy()
    (value, aux), g = fgrad.value_and_grad(lambda x: (fnp.sum(x), x), has_aux=True)(x)
    assert independent(aux, x, g) and independent(g, x)
    mutate(aux)
    np.testing.assert_array_equal(x, X)


def test_vjp_never_hands_back_the_cotangent_or_the_primal():
    x, ct = X.copy(), W.copy()
    out, vjp_fn = fgrad.vjp(lambda x: x, x)
    (x_ct,) = vjp_fn(ct)
    assert independent(out, x) and independent(x_ct, ct, x, out)
    mutate(x_ct)
    np.testing.assert_array_equal(ct, W)


def test_mutating_the_vjp_output_does_not_change_the_saved_residual():
    out, vjp_fn = fgrad.vjp(fnp.exp, X)        # exp's VJP reads its output
    mutate(out)
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], np.exp(X))
    (first,) = vjp_fn(np.ones(3))
    mutate(first)
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], np.exp(X))


def test_jvp_and_linearize_results_are_new_arrays():
    x, t = X.copy(), W.copy()
    out, out_dot = fgrad.jvp(lambda x: x, (x,), (t,))
    assert independent(out, x, t) and independent(out_dot, x, t, out)
    out, f_jvp = fgrad.linearize(lambda x: x, x)
    y_dot = f_jvp(t)
    assert independent(out, x) and independent(y_dot, x, t)
    mutate(y_dot)
    np.testing.assert_array_equal(f_jvp(t), W)


@pytest.mark.parametrize("transform", [fgrad.jacfwd, fgrad.jacrev], ids=["jacfwd", "jacrev"])
@pytest.mark.parametrize("x", [np.array(2.0), np.ones(0), X], ids=["scalar", "empty", "vector"])
def test_jacobians_are_writable_new_arrays(transform, x):
    x = x.copy()
    jac = transform(lambda x: x)(x)
    assert independent(jac, x)
    mutate(jac)


def test_hessian_is_a_writable_new_array():
    h = fgrad.hessian(lambda x: fnp.sum(x ** 3))(X)
    assert independent(h, X)
    mutate(h)


# ---- eager fgrad.numpy -------------------------------------------------------------------------------

EAGER_VIEWS = {
    "positive": lambda x: fnp.positive(x),
    "asarray": lambda x: fnp.asarray(x),
    "array_no_copy": lambda x: fnp.array(x, copy=False),
    "reshape": lambda x: fnp.reshape(x, (3, 1)),
    "ravel": lambda x: fnp.ravel(x),
    "transpose": lambda x: fnp.transpose(x),
    "expand_dims": lambda x: fnp.expand_dims(x, 0),
    "squeeze": lambda x: fnp.squeeze(fnp.reshape(x, (1, 3))),
    "broadcast_to": lambda x: fnp.broadcast_to(x, (2, 3)),
    "flip": lambda x: fnp.flip(x),
    "getitem_slice": lambda x: fnp.take(x, np.array([0, 1, 2])),
    "clip_nothing": lambda x: fnp.clip(x),
    "divmod": lambda x: fnp.divmod(x, 2.0)[1],
    "linalg_solve": lambda x: fnp.linalg.solve(np.eye(3), x),
}


@pytest.mark.parametrize("name", sorted(EAGER_VIEWS))
def test_eager_fnp_results_are_new_writable_arrays(name):
    x = X.copy()
    out = EAGER_VIEWS[name](x)
    assert independent(out, x)
    mutate(out)
    np.testing.assert_array_equal(x, X)


def test_eager_fnp_on_fresh_values_does_not_copy():
    # Only aliasing results are copied: a view of a value the function computed itself is kept.
    out = owned_results([np.sin(X).reshape(3, 1)], [X])[0]
    assert out.base is not None
    fresh = np.cos(X)
    assert owned_results([fresh], [X])[0] is fresh


def test_owned_results_copies_the_second_of_two_aliasing_results():
    a = np.cos(X)
    first, second = owned_results([a, a.reshape(1, 3)])
    assert first is a and not np.shares_memory(first, second)
