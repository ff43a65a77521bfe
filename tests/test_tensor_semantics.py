"""The facade's autograd semantics, reprs and internals, without PyTorch (expected values written out)."""
from __future__ import annotations

import importlib
import threading
import warnings

import numpy as np
import pytest

torch = importlib.import_module("fgrad.facade")      # the facade package (fgrad's top level re-exports it)
from fgrad import ops  # noqa: E402
from fgrad.facade import _elementwise, _op  # noqa: E402
from fgrad.facade._op import FacadeOp, apply  # noqa: E402
from fgrad.ir import ArrayType, trace_flat  # noqa: E402
from fgrad.ops.torch_numerics import torch_sum  # noqa: E402

BACKWARD_TWICE = ("Trying to backward through the graph a second time (or directly access saved tensors after they "
                  "have already been freed). Saved intermediate values of the graph are freed when you call "
                  ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                  "graph a second time or if you need to access saved tensors after calling backward.")


def values(t):
    return t.detach().numpy().tolist()


# ---- the seed tutorials' claims --------------------------------------------------------------------------

def test_cost_function_gradients():
    material = torch.tensor(10.0, requires_grad=True)
    labor = torch.tensor(5.0, requires_grad=True)
    total = 3 * material ** 2 + 5 * labor + 100
    assert repr(total) == "tensor(425., grad_fn=<AddBackward0>)"
    total.backward()
    assert f"{material.grad}" == "60.0" and f"{labor.grad}" == "5.0"


def test_matrix_gradient_and_repr():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = 2 * x ** 3 + 7
    assert repr(y) == "tensor([[  9.,  23.],\n        [ 61., 135.]], grad_fn=<AddBackward0>)"
    y.sum().backward()
    assert repr(x.grad) == "tensor([[ 6., 24.],\n        [54., 96.]])"


def test_mean_gradient_repr():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 2).mean()
    assert repr(y) == "tensor(4.6667, grad_fn=<MeanBackward0>)"
    y.backward()
    assert repr(x.grad) == "tensor([0.6667, 1.3333, 2.0000])"


def test_grad_fn_names_and_graph():
    x = torch.tensor(4.0, requires_grad=True)
    y = x ** 2
    z = torch.sin(y)
    assert type(y.grad_fn).__name__ == "PowBackward0" and y.grad_fn.name() == "PowBackward0"
    assert type(z.grad_fn).__name__ == "SinBackward0"
    (node, nr), = z.grad_fn.next_functions
    assert node is y.grad_fn and nr == 0
    leaf, = y.grad_fn.next_functions
    assert type(leaf[0]).__name__ == "AccumulateGrad" and leaf[0].variable is x
    assert repr(z.grad_fn).startswith("<SinBackward0 object at 0x")


def test_accumulate_grad_node_is_shared():
    x = torch.tensor(1.0, requires_grad=True)
    a, b = x * 2, x * 3
    assert a.grad_fn.next_functions[0][0] is b.grad_fn.next_functions[0][0]


def test_reused_tensor_cotangents_accumulate():
    x = torch.tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x
    y.backward()
    assert x.grad.item() == 2 * 3.0 + 2 + 1


def test_deep_chain_does_not_recurse():
    x = torch.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_gradients_accumulate_and_zero():
    w = torch.tensor(1.0, requires_grad=True)
    (w * 2).backward()
    grad = w.grad
    (w * 3).backward()
    assert grad is w.grad and w.grad.item() == 5.0      # accumulated in place, as PyTorch
    w.grad.zero_()
    assert w.grad.item() == 0.0


def test_gradient_buffers_are_not_shared():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    x.grad.zero_()
    assert values(y.grad) == [1.0, 1.0]
    x.grad, y.grad = None, None
    ((x + y) * 2).sum().backward()          # a new array from mul's backward, handed to both inputs by add's
    x.grad.zero_()
    assert values(y.grad) == [2.0, 2.0]


def test_nonleaf_grad_warns():
    x = torch.tensor(2.0, requires_grad=True)
    y = x ** 2
    with pytest.warns(UserWarning, match="The .grad attribute of a Tensor that is not a leaf Tensor"):
        assert y.grad is None
    y.retain_grad()
    y.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.grad.item() == 1.0


@pytest.mark.parametrize("program, message", [
    (lambda: (torch.ones(2, requires_grad=True) * 2).backward(), "grad can be implicitly created only for scalar outputs"),
    (lambda: torch.tensor(2.0).backward(), "element 0 of tensors does not require grad and does not have a grad_fn"),
    (lambda: torch.ones(3, requires_grad=True).add_(1), "a leaf Variable that requires grad is being used in an in-place operation."),
    (lambda: torch.ones(3, requires_grad=True).__setitem__(0, 1.0),
     "a view of a leaf Variable that requires grad is being used in an in-place operation."),
    (lambda: torch.tensor([1, 2], requires_grad=True), "Only Tensors of floating point and complex dtype can require gradients"),
    (lambda: (torch.ones(2, requires_grad=True) * 2).requires_grad_(False),
     "you can only change requires_grad flags of leaf variables."),
    (lambda: torch.ones(2, 3) + torch.ones(3, 2),
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"),
    (lambda: torch.ones(2, 3) @ torch.ones(2, 3), "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
    (lambda: torch.arange(3).mean(), "mean(): could not infer output dtype"),
    (lambda: torch.tensor([1, 2]).add_(0.5), "result type Float can't be cast to the desired output type Long"),
    (lambda: torch.ones(3).item(), "a Tensor with 3 elements cannot be converted to Scalar"),
], ids=["nonscalar", "no_grad_fn", "leaf_inplace", "leaf_setitem", "int_requires_grad", "nonleaf_requires_grad",
        "broadcast", "matmul", "int_mean", "inplace_cast", "item"])
def test_runtime_errors(program, message):
    with pytest.raises(RuntimeError) as err:
        program()
    assert str(err.value).startswith(message)


def test_backward_twice_raises_unless_retained():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = ((x + 2) * (x + 2) * 3).mean()
    z.backward()
    with pytest.raises(RuntimeError) as err:
        z.backward()
    assert str(err.value) == BACKWARD_TWICE
    x.grad = None
    z = ((x + 2) * (x + 2) * 3).mean()
    z.backward(retain_graph=True)
    z.backward()
    assert values(x.grad) == [12.0, 16.0, 20.0]


def test_graph_without_saved_tensors_runs_twice():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = (x + 1).sum()
    z.backward()
    z.backward()
    assert values(x.grad) == [2.0, 2.0]


def test_version_counter_catches_modified_saved_tensor():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError) as err:
        y.sum().backward()
    assert str(err.value).startswith(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3]], which is output 0 of Exp, is at version 1; expected version 0 instead. Hint:")


def test_version_counter_of_saved_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.sin()
    with torch.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[2\]\] is at version 1; expected version 0"):
        y.sum().backward()


def test_inplace_on_self_keeps_the_original_for_backward():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2 + 1
    y.mul_(x)                                   # d/dx (2x + 1) x = 4x + 1
    y.sum().backward()
    assert values(x.grad) == [5.0, 9.0]
    assert type(y.grad_fn).__name__ == "MulBackward0" and y._version == 1


def test_views_share_version_and_storage():
    x = torch.zeros(2, 3)
    row = x[1]
    col = x.t()
    row.add_(1)
    assert x._version == row._version == col._version == 1
    assert values(x) == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert values(col)[2] == [0.0, 1.0]
    d = x.detach()
    d.zero_()
    assert values(x)[1] == [0.0, 0.0, 0.0]


def test_hooks_and_handles():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: g * 10)
    y = x * 3
    y.register_hook(lambda g: seen.append(values(g)))
    y.sum().backward()
    assert values(x.grad) == [30.0, 30.0] and seen == [[1.0, 1.0]]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert values(x.grad) == [3.0, 3.0]


def test_create_graph_second_and_third_derivatives():
    x = torch.tensor(2.0, requires_grad=True)
    y = x ** 4
    (g1,) = torch.autograd.grad(y, x, create_graph=True)
    (g2,) = torch.autograd.grad(g1, x, create_graph=True)
    (g3,) = torch.autograd.grad(g2, x)
    assert (g1.item(), g2.item(), g3.item()) == (32.0, 48.0, 48.0)
    assert g1.grad_fn is not None and g3.grad_fn is None


def test_create_graph_backward_gives_gradient_with_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x.exp().sum()).backward(create_graph=True)
    assert x.grad.requires_grad
    gx = x.grad
    x.grad = None
    gx.sum().backward()
    np.testing.assert_allclose(values(x.grad), np.exp([1.0, 2.0]), rtol=1e-6)


def test_autograd_grad_does_not_touch_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    assert values(g) == [2.0, 4.0] and x.grad is None


def test_backward_inputs_restricts_accumulation():
    x = torch.tensor(2.0, requires_grad=True)
    y = torch.tensor(3.0, requires_grad=True)
    (x * y).backward(inputs=[x])
    assert x.grad.item() == 3.0 and y.grad is None


def test_detach_and_requires_grad_false():
    x = torch.tensor(2.0, requires_grad=True)
    z = x.detach()
    assert repr(z) == "tensor(2.)" and not z.requires_grad
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        (z ** 2).backward()
    assert repr(x.requires_grad_(False)) == "tensor(2.)"


def test_grad_mode_is_thread_local():
    results = {}
    with torch.no_grad():
        def other():
            results["other"] = torch.is_grad_enabled()
        t = threading.Thread(target=other)
        t.start()
        t.join()
        results["main"] = torch.is_grad_enabled()
    assert results == {"other": True, "main": False}
    assert torch.is_grad_enabled()


def test_grad_mode_decorators_and_nesting():
    x = torch.ones(1, requires_grad=True)

    @torch.no_grad()
    def f():
        with torch.enable_grad():
            inner = (x * 2).requires_grad
        return (x * 2).requires_grad, inner

    @torch.no_grad
    def g():
        return (x * 2).requires_grad

    assert f() == (False, True) and g() is False
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    torch.set_grad_enabled(False)
    assert not torch.is_grad_enabled()
    torch.set_grad_enabled(True)


def test_custom_function():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True,)
            return 3 * x ** 2 * grad

    x = torch.tensor(2.0, requires_grad=True)
    y = Cube.apply(x)
    assert type(y.grad_fn).__name__ == "CubeBackward"
    y.backward()
    assert x.grad.item() == 12.0
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_gradcheck():
    x = torch.tensor([0.4, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: (t.tanh() * t.exp()).cumsum(0).norm(), (x,))


def test_gradcheck_reports_a_wrong_backward():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(torch.autograd.GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        torch.autograd.gradcheck(Wrong.apply, (x,))


def test_functional_jacobian_and_hessian():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: t ** 2, x)
    hess = torch.autograd.functional.hessian(lambda t: (t ** 3).sum(), x)
    assert values(jac) == [[2.0, 0.0], [0.0, 4.0]]
    assert values(hess) == [[6.0, 0.0], [0.0, 12.0]]


# ---- reprs --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, text", [
    (lambda: torch.tensor(2.0, requires_grad=True), "tensor(2., requires_grad=True)"),
    (lambda: torch.tensor(2.0, requires_grad=True) ** 2, "tensor(4., grad_fn=<PowBackward0>)"),
    (lambda: torch.tensor([0.6667, 1.3333, 2.0]), "tensor([0.6667, 1.3333, 2.0000])"),
    (lambda: torch.tensor(4.0).sin(), "tensor(-0.7568)"),
    (lambda: torch.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: torch.tensor([1.5], dtype=torch.float64), "tensor([1.5000], dtype=torch.float64)"),
    (lambda: torch.tensor([True, False]), "tensor([ True, False])"),
    (lambda: torch.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: torch.tensor([]), "tensor([])"),
    (lambda: torch.zeros(0, 2), "tensor([], size=(0, 2))"),
    (lambda: torch.tensor([float("nan"), 1.0]), "tensor([nan, 1.])"),
    (lambda: torch.tensor([2, 3], dtype=torch.int32), "tensor([2, 3], dtype=torch.int32)"),
    (lambda: torch.arange(10.0).reshape(2, 5) / 3,
     "tensor([[0.0000, 0.3333, 0.6667, 1.0000, 1.3333],\n        [1.6667, 2.0000, 2.3333, 2.6667, 3.0000]])"),
    (lambda: torch.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
    (lambda: torch.zeros(2, 3).shape, "torch.Size([2, 3])"),
    (lambda: torch.float64, "torch.float64"),
], ids=["requires_grad", "grad_fn", "thirds", "negative", "int", "float64", "bool", "sci", "empty", "empty_2d",
        "nan", "int32", "matrix", "summarized", "size", "dtype"])
def test_repr(make, text):
    assert repr(make()) == text


# ---- internals: traced ops, programs run as ops, sums ----------------------------------------------------------

def test_ops_are_traced_once_per_signature():
    x = torch.ones(7, 13, requires_grad=True)
    x * 2.0
    n = len(_elementwise._MUL.traces)
    x * 5.0                                  # another scalar value: an input, not a static argument
    (x * 7.0).sum().backward()
    assert len(_elementwise._MUL.traces) == n
    torch.ones(13, 7) * 2.0                  # another shape: another trace
    assert len(_elementwise._MUL.traces) == n + 1


def test_a_facade_op_is_one_node_over_many_primitives():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.log_softmax(1)
    assert type(y.grad_fn).__name__ == "LogSoftmaxBackward0"
    program = y.grad_fn._plan.split.forward
    assert len(program.equations) > 3      # max, sub, exp, reduce_sum, log, ... recorded as one node
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), 1 - 2 * np.exp(values(y)), rtol=1e-6)


def test_defining_a_new_facade_op():
    softplus = FacadeOp("softplus", lambda x, beta: ops.div(ops.log1p(ops.exp(ops.mul(x, beta))), beta),
                        "SoftplusBackward0")
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    y = apply(softplus, (x,), (2.0,))
    assert type(y.grad_fn).__name__ == "SoftplusBackward0"
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), 1 / (1 + np.exp(-2 * np.array([0.0, 1.0]))), rtol=1e-6)


def test_a_program_applied_to_tensors_records_one_node_per_primitive():
    x = torch.tensor([0.5, 1.0], requires_grad=True)
    program, _ = trace_flat(lambda v: [ops.mul(ops.sin(v), 3.0)], [ArrayType((2,), np.float32)])
    (y,) = _op.apply_program(program, [x])
    assert type(y.grad_fn).__name__ == "MulBackward0"
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "SinBackward0"
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), 3 * np.cos([0.5, 1.0]), rtol=1e-6)


def test_torch_sum_order_small_rows():
    # 5..7 elements: accumulators a0..a3, the tail added to a0, then combined (PyTorch's row_sum)
    x = np.array([1e8, 1.0, -1e8, 1.0, 1.0, 1.0], np.float32)
    f = np.float32
    expected = f(f(f(f(f(f(1e8) + f(1.0)) + f(1.0)) + f(1.0)) + f(-1e8)) + f(1.0))
    assert torch_sum(x, axes=(0,)) == expected


def test_torch_sum_matches_numpy_values():
    rng = np.random.default_rng(0)
    for shape, axes in [((5,), (0,)), ((37, 9), (0,)), ((37, 9), (1,)), ((4, 5, 6), (0, 2)), ((300,), (0,))]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(torch_sum(x, axes=axes), x.sum(axis=axes), rtol=1e-5, atol=1e-5)


def test_indexing_and_assignment_gradients():
    x = torch.arange(6.0).reshape(2, 3).requires_grad_()
    y = x[:, [0, 2, 0]] * torch.tensor([1.0, 2.0, 3.0])
    y.sum().backward()
    assert values(x.grad) == [[4.0, 0.0, 2.0], [4.0, 0.0, 2.0]]
    a = x * 1
    a[0, 1:] = torch.tensor([10.0, 20.0])
    assert type(a.grad_fn).__name__ == "CopySlices"
    x.grad = None
    a.sum().backward()
    assert values(x.grad) == [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]


def test_training_loop_linear_regression():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y_true = torch.tensor([2.0, 4.0, 6.0, 8.0])
    w = torch.tensor(0.0, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    for _ in range(100):
        loss = ((w * x + b - y_true) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.01 * w.grad
            b -= 0.01 * b.grad
            w.grad.zero_()
            b.grad.zero_()
    assert f"{w.item():.3f} {b.item():.3f}" == "1.846 0.452"
    assert w.is_leaf and w.grad_fn is None


def test_nn_linear_sgd_step():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5]]))
        model.bias.copy_(torch.tensor([0.0]))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.MSELoss()(model(torch.tensor([[1.0], [2.0]])), torch.tensor([[3.0], [5.0]]))
    assert type(loss.grad_fn).__name__ == "MseLossBackward0"
    loss.backward()
    opt.step()
    # d/dw mean((w x + b - y)^2) = mean(2 (wx + b - y) x) = ((-2.5) * 1 + (-4) * 2) = -10.5
    np.testing.assert_allclose(values(model.weight), [[0.5 + 0.1 * 10.5]], rtol=1e-6)
    assert repr(model) == "Linear(in_features=1, out_features=1, bias=True)"


def test_weight_gradient_keeps_the_weight_layout():
    torch.manual_seed(0)
    W = torch.randn(4, 3, requires_grad=True)
    X = torch.randn(5, 3)
    (X @ W.t()).sum().backward()
    assert W.grad.numpy().flags.c_contiguous          # computed column-major for W.t(), as PyTorch's mm
    np.testing.assert_allclose(W.grad.numpy(), np.ones((5, 4)).T @ X.numpy(), rtol=1e-5)


def test_sign_and_floor_like_ops_keep_the_graph():
    x = torch.tensor([-1.5, 2.0], requires_grad=True)
    y = x.sign()
    assert type(y.grad_fn).__name__ == "SignBackward0"
    (y * x).sum().backward()
    assert values(x.grad) == [-1.0, 1.0]
    assert (x > 0).grad_fn is None and not (x > 0).requires_grad


@pytest.mark.parametrize("op", [lambda x: x ** 1, lambda x: x.repeat(1), lambda x: x.clone(), lambda x: x.flip(()),
                                lambda x: x * 1], ids=["pow_one", "repeat_one", "clone", "flip_none", "mul_one"])
def test_ops_that_are_not_views_never_share_storage(op):
    x = torch.ones(3)
    y = op(x)
    y.add_(1)
    assert values(x) == [1.0, 1.0, 1.0] and x._version == 0
