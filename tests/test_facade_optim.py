"""fgrad.facade.optim: trajectories, state, reprs and errors against PyTorch (skipped without torch), and the
optimizers' own semantics.

Two kinds of trajectory tests: with gradients each library computes itself (values agree to float32
rounding, since the backward passes sum in different orders), and with the same gradients handed to both
(SGD then agrees bit for bit: both round `add_(x, alpha=a)` once, as a fused multiply-add).
"""
from __future__ import annotations

import numpy as np
import pytest

import fgrad.facade as ft
from tensor_parity import check

rng = np.random.default_rng(7)
W0 = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
B0 = rng.uniform(-1, 1, 3).astype(np.float32)
X = rng.uniform(-1, 1, (8, 4)).astype(np.float32)
Y = rng.uniform(-1, 1, (8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3)),
    "sgd_nesterov_weight_decay": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_maximize": ("SGD", dict(lr=0.01, momentum=0.2, maximize=True)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_betas_eps": ("Adam", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)),
    "adam_l2_amsgrad": ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "adam_maximize": ("Adam", dict(lr=0.01, maximize=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.02, weight_decay=0.2, amsgrad=True)),
    "adamw_large_beta1": ("AdamW", dict(lr=0.01, betas=(0.3, 0.8))),   # lerp weight >= 0.5: the other form
}


def regression_params(L, dtype="float32"):
    return [L.nn.Parameter(L.tensor(W0.astype(dtype))), L.nn.Parameter(L.tensor(B0.astype(dtype)))]


def regression_loss(L, W, b):
    return ((L.tensor(X).to(W.dtype) @ W.t() + b - L.tensor(Y).to(W.dtype)) ** 2).mean()


def trajectory(name, steps=6, dtype="float32"):
    cls, kwargs = OPTIMIZERS[name]

    def program(L):
        W, b = regression_params(L, dtype)
        opt = getattr(L.optim, cls)([W, b], **kwargs)
        snapshots = []
        for _ in range(steps):
            opt.zero_grad()
            loss = regression_loss(L, W, b)
            loss.backward()
            opt.step()
            snapshots.append([loss.detach(), W.detach().clone(), b.detach().clone()])
        return snapshots
    return program


@pytest.mark.parametrize("name", list(OPTIMIZERS), ids=list(OPTIMIZERS))
def test_trajectory_parity(torch, name):
    check(trajectory(name), torch, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam_l2_amsgrad", "adamw"], ids=lambda n: n + "_float64")
def test_trajectory_parity_float64(torch, name):
    check(trajectory(name, dtype="float64"), torch, rtol=1e-12, atol=1e-14)


# a large parameter (the compiled fused multiply-add) and a small one (numpy's float64 route)
SHAPES = [(200, 200), (7,)]
GRADS = [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES] for _ in range(6)]
START = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def run_with_given_grads(L, name):
    cls, kwargs = OPTIMIZERS[name]
    params = [L.nn.Parameter(L.tensor(v.copy())) for v in START]
    opt = getattr(L.optim, cls)(params, **kwargs)
    out = []
    for grads in GRADS:
        for p, g in zip(params, grads):
            p.grad = L.tensor(g.copy())
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n.startswith("sgd")],
                         ids=[n for n in OPTIMIZERS if n.startswith("sgd")])
def test_sgd_rounds_like_pytorch_bit_for_bit(torch, name):
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("PyTorch fuses add_(alpha) into an FMA only in its vectorized (AVX2/AVX512) kernels")
    for expected, actual in zip(run_with_given_grads(torch, name), run_with_given_grads(ft, name)):
        for e, a in zip(expected, actual):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n.startswith("adam")],
                         ids=[n for n in OPTIMIZERS if n.startswith("adam")])
def test_adam_arithmetic_matches_pytorch(torch, name):
    # PyTorch's vectorized float32 sqrt is not always correctly rounded (numpy's is): a few elements differ
    # by an ulp in the denominator, nothing more.
    for expected, actual in zip(run_with_given_grads(torch, name), run_with_given_grads(ft, name)):
        for e, a in zip(expected, actual):
            np.testing.assert_allclose(a, e, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("size", [1, 1 << 16], ids=["numpy_route", "compiled_loop"])
def test_fused_multiply_add_rounds_once(size):
    from fgrad.facade.optim import fused_multiply_add
    # (1 + 2**-12)**2 = 1 + 2**-11 + 2**-24: float32 drops the 2**-24, which survives the cancellation with -1
    base, factor, scale = np.full(size, -1.0, np.float32), np.full(size, 1 + 2 ** -12, np.float32), 1 + 2 ** -12
    twice = base + np.float32(scale) * factor
    once = fused_multiply_add(base, scale, factor)
    in_place = base.copy()
    fused_multiply_add(in_place, scale, factor, out=in_place)
    np.testing.assert_array_equal(in_place, once)
    assert np.all(twice == 2 ** -11)
    assert np.all(once == 2 ** -11 + 2 ** -24)
    per_element = base.copy()
    fused_multiply_add(per_element, np.full(size, scale, np.float32), factor, out=per_element)
    np.testing.assert_array_equal(per_element, once)


@pytest.mark.parametrize("case", ["sgd_nesterov_weight_decay", "adamw_amsgrad_large_beta1"], ids=str)
def test_compiled_updates_compute_numpys_bits(case):
    """The update maths is written once: fgrad.jit's compiled loop (large parameters) gives the bits numpy's
    route (small ones) gives, for the same arrays."""
    from fgrad.facade.optim import BLOCK_BYTES, COMPILED_MIN_SIZE, adam_update, apply_update, sgd_update
    r = np.random.default_rng(3)
    n = COMPILED_MIN_SIZE + BLOCK_BYTES // 8                           # several blocks and a short last one
    param, grad, state, state2 = (r.standard_normal(n).astype(np.float32) for _ in range(4))
    state2 = np.abs(state2)
    if case.startswith("sgd"):
        update, static = sgd_update, dict(momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=True,
                                          maximize=False)
        arrays, updated = (param, grad, np.asarray(-0.1, np.float32), state), (0, 3)
    else:
        update, static = adam_update, dict(beta1=0.3, beta2=0.8, eps=1e-8, weight_decay=0.2, decoupled=True,
                                           maximize=True)
        scalars = tuple(np.asarray(v, np.float32) for v in (0.99, -0.03, 0.6))
        arrays, updated = (param, grad, state, state2) + scalars + (state2 * 0.5,), (0, 2, 3, 7)
    expected = update(np, *arrays, **static)
    blocks = [np.empty(n + 5, np.float32)[5:] for _ in updated]       # C-contiguous, not at a page start
    apply_update(update, blocks, *arrays, **static)                    # the compiled loop, block by block
    for e, c in zip(expected, blocks):
        np.testing.assert_array_equal(c, e)
    in_place = [a.copy() for a in arrays]                              # the parameter and state updated in place
    apply_update(update, [in_place[k] for k in updated], *in_place, **static)
    for e, k in zip(expected, updated):
        np.testing.assert_array_equal(in_place[k], e)


# ---- groups, state, reprs ---------------------------------------------------------------------------------------

def test_param_groups_parity(torch):
    def program(L):
        W, b = regression_params(L)
        opt = L.optim.SGD([{"params": [W]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.05)
        for _ in range(3):
            opt.zero_grad()
            regression_loss(L, W, b).backward()
            opt.step()
        return [W, b, [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]]
    check(program, torch)


def test_add_param_group_parity(torch):
    def program(L):
        W, b = regression_params(L)
        opt = L.optim.Adam([W], lr=0.1)
        opt.add_param_group({"params": [b], "betas": (0.5, 0.6)})
        regression_loss(L, W, b).backward()
        opt.step()
        return [W, b, repr(opt)]
    check(program, torch)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"], ids=["SGD", "Adam", "AdamW"])
def test_repr_parity(torch, cls):
    check(lambda L: repr(getattr(L.optim, cls)(regression_params(L), lr=0.25)), torch)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam_l2_amsgrad"], ids=["sgd_momentum", "adam_amsgrad"])
def test_state_dict_parity(torch, name):
    cls, kwargs = OPTIMIZERS[name]

    def program(L):
        W, b = regression_params(L)
        frozen = L.nn.Parameter(L.ones(2))              # no grad: no state
        opt = getattr(L.optim, cls)([W, frozen, b], **kwargs)
        for _ in range(2):
            regression_loss(L, W, b).backward()
            opt.step()
        sd = opt.state_dict()
        return {"state": {str(k): v for k, v in sd["state"].items()}, "groups": sd["param_groups"]}
    check(program, torch)


def test_zero_grad_parity(torch):
    def program(L):
        W, b = regression_params(L)
        opt = L.optim.SGD([W, b], lr=0.1)
        regression_loss(L, W, b).backward()
        opt.zero_grad(set_to_none=False)
        kept = [W.grad, b.grad]
        opt.zero_grad()
        return [kept, W.grad, b.grad]
    check(program, torch)


def test_closure_parity(torch):
    def program(L):
        W, b = regression_params(L)
        opt = L.optim.SGD([W, b], lr=0.1, momentum=0.5)

        def closure():
            opt.zero_grad()
            loss = regression_loss(L, W, b)
            loss.backward()
            return loss
        return [opt.step(closure), opt.step(closure), W]
    check(program, torch)


def test_step_bumps_the_parameter_version(torch):
    def program(L):
        W, b = regression_params(L)
        saved = (W * W).sum()                  # saves W for its backward
        regression_loss(L, W, b).backward()
        L.optim.SGD([W, b], lr=0.1).step()
        saved.backward()
    check(program, torch)


def test_module_training_loop_parity(torch):
    def program(L):
        model = L.nn.Sequential(L.nn.Linear(4, 6), L.nn.Tanh(), L.nn.Linear(6, 3))
        r = np.random.default_rng(0)
        model.load_state_dict({k: L.tensor(r.uniform(-0.5, 0.5, tuple(v.shape)).astype(np.float32))
                               for k, v in model.state_dict().items()})
        opt = L.optim.AdamW(model.parameters(), lr=0.01)
        loss_fn = L.nn.CrossEntropyLoss()
        labels = L.tensor([0, 1, 2, 1, 0, 2, 2, 1])
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = loss_fn(model(L.tensor(X)), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return [losses, model.state_dict()]
    check(program, torch, rtol=2e-5, atol=1e-6)


# ---- errors --------------------------------------------------------------------------------------------------------

ERRORS = {
    "negative_lr": lambda L: L.optim.SGD(regression_params(L), lr=-0.1),
    "negative_momentum": lambda L: L.optim.SGD(regression_params(L), lr=0.1, momentum=-1),
    "negative_weight_decay": lambda L: L.optim.SGD(regression_params(L), lr=0.1, weight_decay=-1),
    "nesterov_without_momentum": lambda L: L.optim.SGD(regression_params(L), lr=0.1, nesterov=True),
    "adam_bad_beta": lambda L: L.optim.Adam(regression_params(L), betas=(1.0, 0.9)),
    "adam_bad_beta2": lambda L: L.optim.AdamW(regression_params(L), betas=(0.9, -0.1)),
    "adam_bad_eps": lambda L: L.optim.Adam(regression_params(L), eps=-1.0),
    "empty_parameter_list": lambda L: L.optim.Adam([]),
    "tensor_instead_of_iterable": lambda L: L.optim.SGD(L.ones(2, requires_grad=True), lr=0.1),
    "non_leaf_parameter": lambda L: L.optim.SGD([L.ones(2, requires_grad=True) * 2], lr=0.1),
    "not_a_tensor": lambda L: L.optim.SGD([1.0], lr=0.1),
    "parameter_in_two_groups": lambda L: (lambda p: L.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(
        L.ones(1, requires_grad=True)),
    "group_not_a_dict": lambda L: L.optim.SGD([L.ones(1, requires_grad=True)], lr=0.1).add_param_group([1]),
    "set_of_parameters_in_group": lambda L: L.optim.SGD([{"params": {L.ones(1, requires_grad=True)}}], lr=0.1),
    "load_state_dict_group_count": lambda L: L.optim.SGD(regression_params(L), lr=0.1).load_state_dict(
        {"state": {}, "param_groups": []}),
}


@pytest.mark.parametrize("name", list(ERRORS), ids=list(ERRORS))
def test_error_parity(torch, name):
    check(ERRORS[name], torch)


# ---- semantics of fgrad's own ----------------------------------------------------------------------------------------

def test_load_state_dict_resumes_the_same_trajectory():
    def fresh():
        W, b = regression_params(ft)
        return W, b, ft.optim.Adam([W, b], lr=0.05, amsgrad=True)

    def steps(W, b, opt, n):
        for _ in range(n):
            opt.zero_grad()
            regression_loss(ft, W, b).backward()
            opt.step()

    W, b, opt = fresh()
    steps(W, b, opt, 6)
    W2, b2, opt2 = fresh()
    steps(W2, b2, opt2, 3)
    saved = opt2.state_dict()
    W3, b3, opt3 = fresh()
    with ft.no_grad():
        W3.copy_(W2)
        b3.copy_(b2)
    opt3.load_state_dict(saved)
    steps(W3, b3, opt3, 3)
    np.testing.assert_array_equal(W3.detach().numpy(), W.detach().numpy())
    assert opt3.state[W3]["step"].item() == 6.0
    assert opt3.state[W3]["exp_avg"] is not saved["state"][0]["exp_avg"]      # loaded state is a copy


def test_step_skips_parameters_without_grad_and_keeps_identity():
    W, b = regression_params(ft)
    opt = ft.optim.SGD([W, b], lr=0.1, momentum=0.9)
    W.grad = ft.ones(3, 4)
    before = b.detach().numpy().copy()
    data = W.detach().numpy()
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), before)
    assert list(opt.state) == [W]
    np.testing.assert_allclose(W.detach().numpy(), W0 - 0.1, rtol=1e-6)
    assert np.shares_memory(data, W.detach().numpy())           # updated in place


def test_step_outside_the_graph():
    W, b = regression_params(ft)
    opt = ft.optim.Adam([W, b])
    regression_loss(ft, W, b).backward()
    opt.step()
    assert W.is_leaf and W.grad_fn is None and W.requires_grad


def test_adam_step_counter_dtype_follows_default_dtype():
    W, b = regression_params(ft)
    opt = ft.optim.Adam([W, b])
    regression_loss(ft, W, b).backward()
    opt.step()
    assert opt.state[W]["step"].dtype == ft.float32
