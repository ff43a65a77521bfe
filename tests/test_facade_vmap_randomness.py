"""torch.func.vmap's randomness modes ("error", "same", "different") and meta devices, against PyTorch 2.13."""
import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

# each draws inside vmap over 20 members (randn and the *_like forms switch algorithm at 16 elements)
DRAWS = {
    "rand": lambda L, x: x + L.rand(3),
    "randn": lambda L, x: x + L.randn(3),
    "randint": lambda L, x: x + L.randint(0, 10, (3,)),
    "normal": lambda L, x: x + L.normal(1.0, 2.0, (3,)),
    "normal-tensor-mean": lambda L, x: L.normal(x, 0.5),
    "bernoulli": lambda L, x: L.bernoulli(x + 0.5, p=0.3),
    "rand_like": lambda L, x: L.rand_like(x),
    "randn_like": lambda L, x: L.randn_like(x),
    "dropout": lambda L, x: L.nn.functional.dropout(x + 1, 0.4),
    "two-draws": lambda L, x: L.rand(3) * L.randn(3) + x,
}


@pytest.mark.parametrize("name", list(DRAWS))
@pytest.mark.parametrize("randomness", ["different", "same"])
def test_vmap_randomness_draws_torch_numbers(name, randomness):
    if randomness == "same" and name in ("normal-tensor-mean", "bernoulli"):
        pytest.skip("PyTorch refuses randomness='same' when the random op reads a batched tensor")
    def run(L):
        L.manual_seed(3)
        out = L.func.vmap(lambda x: DRAWS[name](L, x), randomness=randomness)(L.zeros(20, 3))
        return out.numpy(), L.rand(2).numpy()          # the stream continues where PyTorch's does
    (t_out, t_next), (f_out, f_next) = run(torch), run(fgrad)
    np.testing.assert_array_equal(f_out, t_out)
    np.testing.assert_array_equal(f_next, t_next)


def test_vmap_different_nested_and_in_dims():
    def run(L):
        L.manual_seed(0)
        inner = L.func.vmap(lambda x, w: x * w + L.rand(()), in_dims=(0, None), randomness="different")
        return L.func.vmap(inner, in_dims=(1, None), randomness="different")(L.ones(3, 2), L.tensor(2.0)).numpy()
    np.testing.assert_array_equal(run(fgrad), run(torch))


def test_vmap_different_gradients_flow_through_the_deterministic_part():
    fgrad.manual_seed(0)
    grads = fgrad.func.vmap(fgrad.func.grad(lambda x: (x * fgrad.rand(())).sum()), randomness="different")(
        fgrad.ones(4, 2))
    fgrad.manual_seed(0)
    np.testing.assert_array_equal(grads.numpy(), np.repeat(fgrad.rand(4).numpy()[:, None], 2, axis=1))


@pytest.mark.parametrize("name", ["rand", "dropout"])
def test_vmap_error_mode_refuses_random_ops(name):
    for L in (torch, fgrad):
        with pytest.raises(RuntimeError, match="randomness error mode"):
            L.func.vmap(lambda x: DRAWS[name](L, x))(L.zeros(4, 3))


def test_vmap_different_refuses_what_it_cannot_batch():
    with pytest.raises(NotImplementedError, match="randomness='same'"):
        fgrad.func.vmap(lambda x: x.clone().uniform_(), randomness="different")(fgrad.zeros(4, 3))


@pytest.mark.parametrize("fn", [
    lambda: fgrad.nn.Linear(2, 2).to("meta"),
    lambda: fgrad.nn.Linear(2, 2).to(device="meta"),
    lambda: fgrad.ones(2).to("meta"),
    lambda: fgrad.zeros(2, device="meta"),
], ids=["module.to", "module.to-device", "tensor.to", "creation"])
def test_meta_device_says_it_is_not_supported(fn):
    with pytest.raises(NotImplementedError, match="no meta tensors.*make_ir"):
        fn()


@pytest.mark.parametrize("randomness", ["same", "different"])
def test_vmap_with_random_draws_records_one_node_for_backward(randomness):
    # the draw happens once: .backward() sees the forward's numbers, and the stream goes on as PyTorch's
    results = []
    for L in (torch, fgrad):
        L.manual_seed(0)
        w = L.ones(2, 3, requires_grad=True)
        out = L.func.vmap(lambda x: x * L.rand(3), randomness=randomness)(w)
        out.sum().backward()
        results.append((out.detach().numpy(), w.grad.numpy(), L.rand(1).numpy()))
    for f, t in zip(results[1], results[0]):
        np.testing.assert_array_equal(f, t)
