"""torch.autograd.forward_ad on the facade (tangents pushed through each op's JVP program), against PyTorch 2.13."""
import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

LIBS = {"fgrad": fgrad, "torch": torch}


def data(L, *shape, seed=0):
    return L.tensor(np.random.default_rng(seed).uniform(-1, 1, shape), dtype=L.float64)


def forward_tangent(L, fn, shapes):
    """The tangent of fn's output at random primals along random tangents (numpy)."""
    fwAD = L.autograd.forward_ad
    with fwAD.dual_level():
        duals = [fwAD.make_dual(data(L, *s, seed=k), data(L, *s, seed=10 + k)) for k, s in enumerate(shapes)]
        out = fn(L, *duals)
        primal, tangent = fwAD.unpack_dual(out)
        return primal.detach().numpy().copy(), tangent.detach().numpy().copy()


FUNCTIONS = {
    "sin_mul": (lambda L, x: x.sin() * x, [(4,)]),
    "matmul_relu_sum": (lambda L, x, w: (x @ w).relu().sum(), [(2, 3), (3, 4)]),
    "softmax": (lambda L, x: L.nn.functional.softmax(x, dim=-1), [(2, 5)]),
    "log_softmax_nll": (lambda L, x: L.nn.functional.nll_loss(L.nn.functional.log_softmax(x, 1),
                                                              L.tensor([1, 0, 2])), [(3, 4)]),
    "indexing_and_views": (lambda L, x: x[1:, ::2].t().reshape(-1).exp(), [(3, 4)]),
    "reductions": (lambda L, x: x.mean(0) * x.max(1).values.sum() + x.norm(), [(3, 3)]),
    "where_clamp": (lambda L, x, y: L.where(x > 0, x, y).clamp(-0.5, 0.5) ** 2, [(5,), (5,)]),
    "tanh_cumsum": (lambda L, x: x.tanh().cumsum(0), [(6,)]),
    "cat_stack": (lambda L, x, y: L.cat([x, y * 2]).unsqueeze(0) * L.stack([x, y]).sum(0).sum(), [(3,), (3,)]),
    "linear_module": (lambda L, x: _linear(L)(x).sigmoid(), [(2, 3)]),
}


def _linear(L):
    L.manual_seed(0)
    return L.nn.Linear(3, 2).double()


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_forward_ad_tangents_match_torch(name):
    fn, shapes = FUNCTIONS[name]
    ours = forward_tangent(fgrad, fn, shapes)
    theirs = forward_tangent(torch, fn, shapes)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-13, atol=1e-15)


def test_forward_ad_agrees_with_func_jvp():
    fwAD = fgrad.autograd.forward_ad
    x, t = data(fgrad, 4), data(fgrad, 4, seed=1)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual((fwAD.make_dual(x, t).exp() * 3).log1p()).tangent
    _, expected = fgrad.func.jvp(lambda v: (v.exp() * 3).log1p(), (x,), (t,))
    np.testing.assert_allclose(tangent.numpy(), expected.numpy(), rtol=1e-14)


def test_in_place_writes_carry_tangents_as_in_torch():
    def run(L):
        fwAD = L.autograd.forward_ad
        with fwAD.dual_level():
            a = fwAD.make_dual(L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 0.5, 0.25]))
            b = a.clone()
            b[1] = b[1] * 10
            b[0] += a[2]
            b.mul_(2)
            return fwAD.unpack_dual(b).tangent.numpy().copy(), fwAD.unpack_dual(b[0]).tangent.numpy().copy()
    ours, theirs = run(fgrad), run(torch)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_unpack_dual_is_a_namedtuple_and_nodes_are_named_as_torch():
    for L in LIBS.values():
        fwAD = L.autograd.forward_ad
        x0 = L.tensor([0.5, 1.0], requires_grad=True)
        with fwAD.dual_level():
            x = fwAD.make_dual(x0, L.tensor([1.0, 0.0]))
            assert type(x.grad_fn).__name__ == "ViewBackward0"
            unpacked = fwAD.unpack_dual((x.exp() * x).sum())
            assert type(unpacked).__name__ == "UnpackedDualTensor"
            assert unpacked._fields == ("primal", "tangent")
            assert "grad_fn=<Identity>" in repr(unpacked.primal)
            assert unpacked.tangent.item() == pytest.approx(np.exp(0.5) * 1.5, rel=1e-6)
            assert fwAD.unpack_dual(x0).tangent is None
            unpacked.primal.backward()
        np.testing.assert_allclose(x0.grad.numpy(), np.exp([0.5, 1.0]) * [1.5, 2.0], rtol=1e-6)


def test_tangents_end_with_the_dual_level():
    fwAD = fgrad.autograd.forward_ad
    with fwAD.dual_level():
        x = fwAD.make_dual(fgrad.ones(2), fgrad.ones(2))
        y = x * 2
    assert fwAD.unpack_dual(y).tangent is None
    assert not fgrad.facade._dual.state.tangents


def test_forward_ad_errors_match_torch():
    for L in LIBS.values():
        fwAD = L.autograd.forward_ad
        with pytest.raises(RuntimeError, match="no level exists"):
            fwAD.make_dual(L.ones(2), L.ones(2))
        with fwAD.dual_level():
            with pytest.raises(RuntimeError, match="different size"):
                fwAD.make_dual(L.ones(2), L.ones(3))


def test_forward_ad_over_a_module_with_functional_call():
    def run(L):
        fwAD = L.autograd.forward_ad
        model = _linear(L)
        params = {name: p.detach() for name, p in model.named_parameters()}
        tangents = {name: L.ones_like(p) for name, p in params.items()}
        with fwAD.dual_level():
            duals = {name: fwAD.make_dual(p, tangents[name]) for name, p in params.items()}
            out = L.func.functional_call(model, duals, (data(L, 4, 3),))
            return fwAD.unpack_dual(out).tangent.numpy().copy()
    np.testing.assert_allclose(run(fgrad), run(torch), rtol=1e-14)
