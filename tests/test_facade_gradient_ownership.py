"""Who owns the gradient arrays the facade's backward makes (the speed work of issue 14).

The engine keeps, as a leaf's `.grad`, a cotangent array nobody else holds instead of copying it, also when
that array is a view of one it owns (the gradient of `W.t()` is a transposed view of a new array), and adds a
second cotangent into an owned one in place. Neither may ever touch an array the user can see: a hook's
argument, a retained gradient, another leaf's `.grad`, an input. Also: the per-op caches (traces per input
signature, one GradPlan per mask) re-trace when shapes or dtypes change.
"""
import numpy as np
import pytest

import fgrad.facade as torch_facade
from fgrad.backend.numpy_exec import compile_program
from fgrad.ir import ArrayType, trace_flat
from fgrad.ops import reshape, transpose

F32 = np.float32


def program_of(fun, *types):
    program, captured = trace_flat(lambda *xs: list(fun(*xs)), list(types))
    assert not captured
    return program


def leaf(shape, seed=0, dtype=F32):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return torch_facade.tensor(data, requires_grad=True)


# ---- numpy_exec: which outputs are views of exactly one input --------------------------------------------

def test_views_name_the_one_input_an_output_may_share_memory_with():
    program = program_of(lambda x, y: [transpose(y, (1, 0)), x * 2.0], ArrayType((2, 3), F32),
                         ArrayType((3, 2), F32))
    fn = compile_program(program)
    assert fn.fresh == (False, True) and fn.views == ((0, 1),)
    x, y = np.ones((2, 3), F32), np.ones((3, 2), F32)
    assert np.shares_memory(fn(x, y)[0], y)


def test_two_outputs_viewing_one_input_are_not_listed():
    # the caller owning the input would otherwise hand out two arrays over the same memory as its own
    program = program_of(lambda x: [transpose(x, (1, 0)), reshape(x, (6,))], ArrayType((2, 3), F32))
    assert compile_program(program).views == ()


def test_a_view_of_a_constant_is_not_listed():
    program = program_of(lambda x: [transpose(np.ones((2, 3), F32), (1, 0)) + 0.0 * x[0, 0], x],
                         ArrayType((3, 2), F32))
    fn = compile_program(program)
    assert all(i != "constant" for _, i in fn.views)


# ---- the engine: owned cotangents kept or summed in place, never a user-visible array ---------------------

def test_the_gradient_of_a_transposed_weight_is_right_and_row_major():
    W, X = leaf((5, 7)), np.random.default_rng(1).standard_normal((3, 7)).astype(F32)
    (torch_facade.tensor(X) @ W.t()).sum().backward()
    assert W.grad._data.flags.c_contiguous and W.grad._data.flags.writeable
    np.testing.assert_allclose(W.grad._data, np.ones((3, 5), F32).T @ X, rtol=1e-6)
    assert not np.shares_memory(W.grad._data, W._data)


def linear_sum(W):
    """sum(X @ W.t()) with X all twos: W's gradient (all 2 * 3) is the transposed view of a column-major
    product, the case where the engine keeps a view it owns as .grad."""
    return (torch_facade.tensor(np.full((3, 3), 2.0, F32)) @ W.t()).sum()


def test_the_owned_view_is_kept_without_a_copy():
    W = leaf((4, 3))
    linear_sum(W).backward()
    assert W.grad._data.base is not None and W.grad._data.flags.c_contiguous     # the view itself
    np.testing.assert_array_equal(W.grad._data, np.full((4, 3), 6.0, F32))


def test_a_kept_leaf_gradient_is_not_changed_by_the_next_backward():
    W = leaf((4, 3))
    kept = []
    W.register_hook(lambda g: kept.append(g))
    for _ in range(2):
        linear_sum(W).backward()
    np.testing.assert_array_equal(kept[0]._data, np.full((4, 3), 6.0, F32))   # not accumulated into
    np.testing.assert_array_equal(W.grad._data, np.full((4, 3), 12.0, F32))


def test_a_gradient_shown_to_a_tensor_hook_is_not_kept_as_grad():
    W = leaf((4, 3))
    kept = []
    Wt = W.t()
    Wt.register_hook(lambda g: kept.append(g))
    (torch_facade.tensor(np.full((3, 3), 2.0, F32)) @ Wt).sum().backward()
    W.grad.add_(1.0)                       # the user changes .grad in place
    np.testing.assert_array_equal(kept[0]._data, np.full((3, 4), 6.0, F32))


def test_gradients_shown_to_a_node_hook_are_not_kept_as_grad():
    W = leaf((4, 3))
    kept = []
    out = torch_facade.tensor(np.full((3, 3), 2.0, F32)) @ W.t()
    out.grad_fn.register_hook(lambda grad_inputs, grad_outputs: kept.append(grad_inputs))
    out.sum().backward()
    W.grad.add_(1.0)
    np.testing.assert_array_equal(kept[0][-1]._data, np.full((3, 4), 6.0, F32))


def test_a_retained_gradient_and_the_leaf_gradient_do_not_share_memory():
    W = leaf((4, 3))
    Wt = W.t()
    Wt.retain_grad()
    (torch_facade.tensor(np.full((3, 3), 2.0, F32)) @ Wt).sum().backward()
    assert not np.shares_memory(Wt.grad._data, W.grad._data)
    W.grad.add_(1.0)
    np.testing.assert_array_equal(Wt.grad._data, np.full((3, 4), 6.0, F32))


def test_cotangents_reaching_one_value_twice_are_summed_right():
    W, a, b = leaf((4, 3), 0), leaf((3, 4), 1), leaf((3, 4), 2)
    h = W.t()
    ((h * a).sum() + (h * b).sum() + (h * a).sum()).backward()
    np.testing.assert_allclose(W.grad._data, (2 * a._data + b._data).T, rtol=1e-6)
    np.testing.assert_allclose(a.grad._data, 2 * W._data.T, rtol=1e-6)


def test_a_gradient_shown_to_a_node_hook_is_not_summed_into():
    # h's two uses send two cotangents to TBackward: the second is added into the first in place only when
    # the engine owns the first, which it does not once a node hook has been shown it
    W, a = leaf((4, 3), 0), leaf((3, 4), 1)
    h = W.t()
    p = h * a
    kept = []
    p.grad_fn.register_hook(lambda grad_inputs, grad_outputs: kept.append(grad_inputs))
    (p.sum() + (h * 2.0).sum()).backward()
    np.testing.assert_allclose(kept[0][0]._data, a._data, rtol=1e-6)
    np.testing.assert_allclose(W.grad._data, (a._data + 2.0).T, rtol=1e-6)


def test_autograd_grad_results_are_not_the_leaf_gradients():
    W = leaf((4, 3))
    (g,) = torch_facade.autograd.grad((W.t() * 2.0).sum(), W)
    g.add_(1.0)
    assert W.grad is None
    (W.t() * 2.0).sum().backward()
    np.testing.assert_array_equal(W.grad._data, np.full((4, 3), 2.0, F32))


def test_the_mlp_step_gradients_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = {"X": rng.standard_normal((8, 12)).astype(F32), "W1": rng.standard_normal((6, 12)).astype(F32),
            "b1": rng.standard_normal(6).astype(F32), "W2": rng.standard_normal((3, 6)).astype(F32),
            "b2": rng.standard_normal(3).astype(F32)}
    onehot = np.eye(3, dtype=F32)[rng.integers(0, 3, 8)]
    grads = []
    for lib in (torch, torch_facade):
        X, Y = lib.tensor(data["X"]), lib.tensor(onehot)
        W1, b1, W2, b2 = [lib.tensor(data[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
        for _ in range(2):                                     # the second step accumulates into .grad
            h = (X @ W1.t() + b1).relu()
            loss = -((h @ W2.t() + b2).log_softmax(1) * Y).sum(1).mean()
            loss.backward()
        grads.append([np.asarray(p.grad.detach().numpy() if lib is torch else p.grad._data)
                      for p in (W1, b1, W2, b2)])
    for mine, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_relu_gradient_passes_at_nan_and_not_at_zeros():
    x = torch_facade.tensor(np.array([-1.0, -0.0, 0.0, 2.0, np.nan], F32), requires_grad=True)
    y = x.relu()
    assert np.signbit(y._data[1]) and not np.signbit(y._data[2])          # -0.0 kept, as PyTorch's
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, np.array([0, 0, 0, 1, 1], F32))


# ---- per-signature caches --------------------------------------------------------------------------------

def test_a_changed_shape_or_dtype_retraces_the_op_and_its_gradient_plan():
    from fgrad.facade._elementwise import _MUL
    before = len(_MUL.traces)
    results = []
    for shape, dtype in [((3,), np.float32), ((2, 3), np.float32), ((3,), np.float64)]:
        x = leaf(shape, dtype=dtype)
        y = x * x
        assert y.dtype == torch_facade.float32 if dtype == np.float32 else torch_facade.float64
        y.sum().backward()
        np.testing.assert_allclose(x.grad._data, 2 * x._data, rtol=1e-6)
        assert x.grad._data.dtype == dtype and x.grad._data.shape == shape
        results.append(type(y.grad_fn).__name__)
    assert results == ["MulBackward0"] * 3
    assert len(_MUL.traces) >= min(before + 3, 3)
