"""Issue 13 item 7: gradgradcheck, in-place writes through views (CopySlices), bare slices (SliceBackward0).

Each test runs the same code on fgrad's facade and (where installed) on PyTorch 2.13 and compares.
"""
import warnings

import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

LIBS = {"fgrad": fgrad, "torch": torch}


def node_names(t):
    """The grad_fn names along the first edges, from the output to the leaf."""
    names, g = [], t.grad_fn
    while g is not None and type(g).__name__ != "AccumulateGrad":
        names.append(type(g).__name__)
        g = g.next_functions[0][0]
    return names


# ---- gradgradcheck ----------------------------------------------------------------------------------------------

GRADGRAD_FUNCTIONS = {
    "sin_times_x": (lambda L, x: x.sin() * x, [(3,)]),
    "tanh_exp_cumsum_norm": (lambda L, x: (x.tanh() * x.exp()).cumsum(0).norm(), [(4,)]),
    "matmul_sigmoid": (lambda L, a, b: (a @ b).sigmoid(), [(2, 3), (3, 2)]),
    "softmax": (lambda L, x: x.softmax(-1), [(2, 3)]),
    "two_outputs": (lambda L, x: (x ** 3, x.log1p().sum()), [(3,)]),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD_FUNCTIONS))
def test_gradgradcheck_passes_as_in_torch(name):
    # It raised for every function: the numerical pass ran the first derivative under no_grad.
    fn, shapes = GRADGRAD_FUNCTIONS[name]
    rng = np.random.default_rng(0)
    values = [rng.uniform(0.2, 1.0, s) for s in shapes]
    for lib_name, L in LIBS.items():
        inputs = tuple(L.tensor(v, dtype=L.float64, requires_grad=True) for v in values)
        assert L.autograd.gradgradcheck(lambda *xs: fn(L, *xs), inputs), lib_name
        assert L.autograd.gradcheck(lambda *xs: fn(L, *xs), inputs), lib_name


def _wrong_second_derivative(L):
    class Square(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x.detach()         # right first derivative, blocked second one
    return Square.apply


def test_gradgradcheck_finds_a_wrong_second_derivative_as_torch_does():
    for lib_name, L in LIBS.items():
        x = L.tensor([0.5, 1.5], dtype=L.float64, requires_grad=True)
        square = _wrong_second_derivative(L)
        assert L.autograd.gradcheck(square, (x,)), lib_name
        with pytest.raises(L.autograd.gradcheck.__globals__.get("GradcheckError", RuntimeError)
                           if lib_name == "torch" else fgrad.autograd.GradcheckError):
            L.autograd.gradgradcheck(square, (x,))
        assert L.autograd.gradgradcheck(square, (x,), raise_exception=False) is False, lib_name


def test_gradgradcheck_with_given_grad_outputs():
    for lib_name, L in LIBS.items():
        x = L.tensor([0.3, 0.7], dtype=L.float64, requires_grad=True)
        g = L.tensor([1.0, -2.0], dtype=L.float64, requires_grad=True)
        assert L.autograd.gradgradcheck(lambda t: t.exp() * t, (x,), (g,)), lib_name


# ---- in-place writes through views ------------------------------------------------------------------------------

def _embedding_backward_loop(L):
    # makemore's manual backward of an embedding lookup: dC[ix] += demb[k, j], demb requiring grad
    L.manual_seed(0)
    demb = L.randn(2, 3, 4, dtype=L.float64, requires_grad=True)
    xb = L.tensor([[0, 1, 0], [2, 1, 1]])
    dC = L.zeros(3, 4, dtype=L.float64)
    for k in range(xb.shape[0]):
        for j in range(xb.shape[1]):
            ix = xb[k, j]
            dC[ix] += demb[k, j]
    return demb, dC


def _view_inplace_chain(L):
    L.manual_seed(1)
    b = L.randn(4, dtype=L.float64, requires_grad=True)
    a = L.zeros(3, 4, dtype=L.float64)
    v = a[1]
    v.mul_(2).add_(b * 3)
    return b, a, v


def _slices_of_a_non_leaf(L):
    L.manual_seed(2)
    x = L.randn(3, 4, dtype=L.float64, requires_grad=True)
    a = x * 1
    a[0] += 1
    a[1].sin_()
    a[1:3, 0:2] *= x[0, :2].sum()
    v = a[2]
    v.exp_()
    return x, a, v


VIEW_CASES = {"embedding_backward_loop": _embedding_backward_loop, "view_mul_add": _view_inplace_chain,
              "slices_of_a_non_leaf": _slices_of_a_non_leaf}


@pytest.mark.parametrize("name", sorted(VIEW_CASES))
def test_inplace_through_a_view_rewrites_the_base_graph(name):
    results = {}
    for lib_name, L in LIBS.items():
        leaf, base, *view = VIEW_CASES[name](L)
        assert type(base.grad_fn).__name__ == "CopySlices", lib_name
        if view:
            assert type(view[0].grad_fn).__name__ == "AsStridedBackward0", lib_name
        weights = L.arange(base.numel(), dtype=L.float64).reshape(base.shape)
        (base * weights).sum().backward()
        results[lib_name] = (base.detach().numpy().copy(), leaf.grad.numpy().copy(), base._version)
    np.testing.assert_allclose(results["fgrad"][0], results["torch"][0], rtol=1e-14)
    np.testing.assert_allclose(results["fgrad"][1], results["torch"][1], rtol=1e-14)
    assert results["fgrad"][2] == results["torch"][2]


def graph_names(t):
    """Every node reachable from t.grad_fn, depth first along next_functions (last edge first)."""
    out, stack, seen = [], [t.grad_fn], set()
    while stack:
        g = stack.pop()
        if g is None or id(g) in seen:
            continue
        seen.add(id(g))
        out.append(type(g).__name__)
        stack.extend(n for n, _ in g.next_functions)
    return out


@pytest.mark.parametrize("name", sorted(VIEW_CASES))
def test_copy_slices_graph_is_torchs(name):
    # PyTorch's CopySlices wraps the in-place op: its edges are the base's old graph and the op's other inputs
    graphs = {lib: graph_names(VIEW_CASES[name](L)[1]) for lib, L in LIBS.items()}
    assert graphs["fgrad"] == graphs["torch"]


def test_copy_slices_next_functions_are_torchs():
    names = {}
    for lib, L in LIBS.items():
        x = L.ones(3, 4, dtype=L.float64, requires_grad=True)
        b = x * 1
        b[0].mul_(x[1])
        names[lib] = [type(n).__name__ if n is not None else None for n, _ in b.grad_fn.next_functions]
    assert names["fgrad"] == names["torch"] == ["MulBackward0", "SelectBackward0"]


def test_writing_over_a_saved_output_through_another_view_is_caught():
    messages = []
    for L in LIBS.values():
        x = L.ones(3, 4, dtype=L.float64, requires_grad=True)
        a = x * 1
        a[2].exp_()                           # ExpBackward0 saves its output, which lives in a's storage
        a[1:3, 0:2] *= 2.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            a.sum().backward()
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_still_raises():
    for L in LIBS.values():
        x = L.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            x[0:2].mul_(2)


def test_positions_in_base_of_strided_views():
    from fgrad.facade._inplace import positions_in_base
    base = np.arange(24.0).reshape(2, 3, 4)
    for view in [base[1], base[:, 1:, ::2], base.transpose(2, 0, 1)[1:3], base[..., 3]]:
        positions = positions_in_base(view, base)
        np.testing.assert_array_equal(base.reshape(-1)[positions], view)
    f_base = np.asfortranarray(base)
    view = f_base[:, 2]
    np.testing.assert_array_equal(base.reshape(-1)[positions_in_base(view, f_base)], view)
    assert positions_in_base(np.zeros(3), base) is None


# ---- bare slices --------------------------------------------------------------------------------------------------

SLICES = {
    "x[:]": lambda x: x[:], "x[0:3]": lambda x: x[0:3], "x[0:10]": lambda x: x[0:10], "x[-3:]": lambda x: x[-3:],
    "x[::1]": lambda x: x[::1], "x[0:3:1]": lambda x: x[0:3:1], "x[:][:]": lambda x: x[:][:],
    "x[0][:]": lambda x: x[0][:], "x[:, 0:4]": lambda x: x[:, 0:4], "x[:, :]": lambda x: x[:, :],
    "x[...]": lambda x: x[...], "x[0:3,]": lambda x: x[0:3, ], "x[:, 0:2]": lambda x: x[:, 0:2],
    "x[0:3, 0:2]": lambda x: x[0:3, 0:2], "x[:, 0:4][:, 0:2]": lambda x: x[:, 0:4][:, 0:2],
    "x[::2]": lambda x: x[::2], "x[0:0]": lambda x: x[0:0], "x[:, None]": lambda x: x[:, None],
}


@pytest.mark.parametrize("name", list(SLICES))
def test_slice_node_names_match_torch(name):
    names = {}
    for lib_name, L in LIBS.items():
        x = L.ones(3, 4, 2, requires_grad=True)
        y = SLICES[name](x)
        names[lib_name] = (node_names(y), tuple(y.shape))
    assert names["fgrad"] == names["torch"]


def test_bare_slice_of_a_vector_is_a_slice_with_its_gradient():
    v = fgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = v[:]
    assert type(y.grad_fn).__name__ == "SliceBackward0"
    (y * y).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("convert", ["float", "int", "item", "float_under_no_grad", "float_detached"], ids=str)
def test_scalar_conversion_warns_as_pytorch(convert):
    def warnings_of(L):
        t = L.tensor(1.5, requires_grad=True) * 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if convert == "float_under_no_grad":
                with L.no_grad():
                    float(t)
            else:
                {"float": float, "int": int, "item": lambda v: v.item(),
                 "float_detached": lambda v: float(v.detach())}[convert](t)
        return [(w.category, str(w.message).split(" (Triggered internally")[0]) for w in caught]
    assert warnings_of(fgrad) == warnings_of(torch)


@pytest.mark.parametrize("expr", [
    "L.tensor([1., 2.]) @ np.array([1., 1.])",
    "L.tensor([1., 2.]) @ np.array([1., 1.], dtype=np.float32)",
    "np.array([1., 1.]) @ L.tensor([1., 2.])",
    "L.tensor([1., 2.]) @ [1., 1.]",
    "L.matmul(L.tensor([1., 2.]), np.array([1., 1.]))",
    "L.tensor([1., 2.], requires_grad=True) @ np.array([1., 1.])",
], ids=["array_float64", "array_float32", "array_on_the_left", "list", "function_form", "requires_grad"])
def test_matmul_with_non_tensors_as_pytorch(expr):
    def outcome(L):
        try:
            r = eval(expr)
        except (TypeError, RuntimeError) as e:
            return type(e).__name__, str(e)
        return type(r).__name__, str(r.dtype), r.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # numpy 2's note on torch's __array_wrap__
        assert outcome(fgrad) == outcome(torch)


def test_contiguous_of_a_transpose_is_row_major_and_clone_keeps_the_layout():
    for L in (fgrad, torch):
        t = L.arange(6.0).reshape(2, 3).t()
        assert t.contiguous().is_contiguous() and t.contiguous().stride() == (2, 1)
        assert t.clone().stride() == (1, 3) and not t.clone().is_contiguous()


@pytest.mark.parametrize("index", [[[-1], [0]], [[3], [0]], [[2], [0]]], ids=["negative", "past_end", "inside"])
def test_gather_index_bounds_as_pytorch(index):
    def outcome(L):
        try:
            return L.arange(6.0).reshape(2, 3).gather(1, L.tensor(index)).tolist()
        except RuntimeError as e:
            return str(e)
    assert outcome(fgrad) == outcome(torch)


@pytest.mark.parametrize("data", ["range(4)", "[range(2), range(2)]", "range(0)"], ids=str)
def test_tensor_reads_ranges_as_pytorch(data):
    ours, theirs = fgrad.tensor(eval(data)), torch.tensor(eval(data))
    assert ours.tolist() == theirs.tolist() and str(ours.dtype) == str(theirs.dtype).replace("torch.", "torch.")


# A residual that is a view of an input (einsum saves reshapes of its operands) changes with an in-place
# write to that input: the backward must refuse, as PyTorch's does, not use the new values.
VIEW_RESIDUALS = {
    "einsum_dot": lambda L, y: L.einsum("i,i->", y, y),
    "matmul": lambda L, y: y @ y,
    "view_mul": lambda L, y: (y.view(3) * y.view(3)).sum(),
    "reshape_einsum": lambda L, y: L.einsum("ij,ij->", y.reshape(3, 1), y.reshape(3, 1)),
}


@pytest.mark.parametrize("name", list(VIEW_RESIDUALS), ids=list(VIEW_RESIDUALS))
def test_in_place_write_to_an_input_of_a_view_residual_is_caught(name):
    def outcome(L):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        p = VIEW_RESIDUALS[name](L, y)
        with L.no_grad():
            y.add_(1)
        try:
            p.backward()
        except RuntimeError as e:
            return str(e).split(";")[0].split("modified by an inplace operation")[0]
        return x.grad.tolist()
    assert outcome(fgrad) == outcome(torch)


def test_a_write_through_another_view_of_a_viewed_residual_is_caught():
    for L in (fgrad, torch):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        z = y.view(3, 1)
        out = L.einsum("ij,ij->i", z, z)      # residuals: views of y's memory
        y.mul_(2)                             # z (and the residuals viewing it) change with y
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()
