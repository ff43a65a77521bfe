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
    # as PyTorch's: the loaded optimizer shares the state dict's tensors of the parameter's dtype
    assert opt3.state[W3]["exp_avg"] is saved["state"][0]["exp_avg"]


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


# ---- RMSprop, Adagrad, Adadelta, Adamax, NAdam (issue 13 item 5) ---------------------------------------------------
# 50 steps with the same gradients handed to both libraries. The arithmetic is PyTorch's operation by operation
# (FMAs where its kernels fuse, Python scalars rounded as there): with PyTorch's own float32 sqrt substituted for
# numpy's, every trajectory is bit-exact. PyTorch's sqrt itself is not correctly rounded (MKL's vector sqrt:
# +-1 ulp on ~17% of elements, a deterministic function of the value); fgrad's is, so the optimizers that take a
# square root differ from PyTorch by that 1 ulp in the denominator per step, and Adamax (no sqrt) is bit-exact.

MORE_OPTIMIZERS = {
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, momentum=0.5, alpha=0.9)),
    "rmsprop_centered_momentum_wd": ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    "rmsprop_maximize": ("RMSprop", dict(lr=0.005, maximize=True, centered=True)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_decay_wd_initial": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                                 initial_accumulator_value=0.5)),
    "adadelta": ("Adadelta", dict()),
    "adadelta_wd_maximize": ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    "adamax": ("Adamax", dict(lr=0.01)),
    "adamax_wd_betas": ("Adamax", dict(lr=0.02, betas=(0.3, 0.8), weight_decay=0.1)),
    "nadam": ("NAdam", dict(lr=0.01)),
    "nadam_l2": ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    "nadamw": ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
}
GRADS_50 = [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES] for _ in range(50)]


class _TorchSqrtNumpy:
    """numpy, with PyTorch's float32 sqrt: the update maths run with it reproduces PyTorch's bits."""

    def __init__(self, torch):
        self.torch = torch

    def __getattr__(self, name):
        return getattr(np, name)

    def sqrt(self, x):
        return self.torch.from_numpy(np.ascontiguousarray(x)).sqrt().numpy()


def run_50_steps(L, name, start=START):
    cls, kwargs = MORE_OPTIMIZERS[name]
    params = [L.nn.Parameter(L.tensor(v.copy())) for v in start]
    opt = getattr(L.optim, cls)(params, **kwargs)
    out = []
    for grads in GRADS_50:
        for p, g in zip(params, grads):
            p.grad = L.tensor(g.copy())
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out


@pytest.mark.parametrize("name", list(MORE_OPTIMIZERS), ids=list(MORE_OPTIMIZERS))
def test_arithmetic_is_pytorchs_bit_for_bit_given_its_sqrt(torch, name, monkeypatch):
    import fgrad.facade.optim as optim
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("PyTorch fuses addcmul_/add_(alpha) into FMAs only in its vectorized (AVX2/AVX512) kernels")
    xp = _TorchSqrtNumpy(torch)
    monkeypatch.setattr(optim, "apply_update",
                        lambda update, outputs, *arrays, **static: optim._write(outputs, update(xp, *arrays, **static),
                                                                                slice(None)))
    for step, (expected, actual) in enumerate(zip(run_50_steps(torch, name), run_50_steps(ft, name))):
        for e, a in zip(expected, actual):
            np.testing.assert_array_equal(a, e, err_msg=f"step {step}")


@pytest.mark.parametrize("name", list(MORE_OPTIMIZERS), ids=list(MORE_OPTIMIZERS))
def test_50_step_trajectories_match_pytorch(torch, name):
    expected, actual = run_50_steps(torch, name), run_50_steps(ft, name)
    if MORE_OPTIMIZERS[name][0] == "Adamax":
        for e, a in zip(expected, actual):
            for x, y in zip(e, a):
                np.testing.assert_array_equal(y, x)
        return
    # only PyTorch's 1-ulp sqrt differs (see above): the trajectories stay within float32 rounding of each other
    for e, a in zip(expected, actual):
        for x, y in zip(e, a):
            np.testing.assert_allclose(y, x, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("name", ["rmsprop_centered_momentum_wd", "adadelta", "nadamw"], ids=str)
def test_compiled_route_gives_the_numpy_routes_bits(name):
    # the large parameter runs the update compiled by fgrad.jit, the small one numpy: one trajectory of a
    # large parameter equals the same trajectory run on it through numpy
    import fgrad.facade.optim as optim
    big = run_50_steps(ft, name)
    saved = optim.COMPILED_MIN_SIZE
    optim.COMPILED_MIN_SIZE = 1 << 40
    try:
        numpy_route = run_50_steps(ft, name)
    finally:
        optim.COMPILED_MIN_SIZE = saved
    for e, a in zip(numpy_route, big):
        np.testing.assert_array_equal(a[0], e[0])


@pytest.mark.parametrize("name", list(MORE_OPTIMIZERS), ids=list(MORE_OPTIMIZERS))
def test_more_optimizers_computed_gradient_parity(torch, name):
    cls, kwargs = MORE_OPTIMIZERS[name]
    OPTIMIZERS[name] = (cls, kwargs)
    try:
        check(trajectory(name, steps=10), torch, rtol=1e-4, atol=1e-6)
        check(trajectory(name, steps=10, dtype="float64"), torch, rtol=1e-11, atol=1e-13)
    finally:
        del OPTIMIZERS[name]


@pytest.mark.parametrize("cls", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "LBFGS"], ids=str)
def test_more_reprs_match(torch, cls):
    check(lambda L: repr(getattr(L.optim, cls)([L.nn.Parameter(L.ones(2))], lr=0.25)), torch)


@pytest.mark.parametrize("name", list(MORE_OPTIMIZERS), ids=list(MORE_OPTIMIZERS))
def test_more_state_dicts_match(torch, name):
    cls, kwargs = MORE_OPTIMIZERS[name]

    def program(L):
        W, b = regression_params(L)
        frozen = L.nn.Parameter(L.ones(2))
        opt = getattr(L.optim, cls)([{"params": [W, frozen]}, {"params": [b], "lr": 0.003}], **kwargs)
        for _ in range(2):
            opt.zero_grad()
            regression_loss(L, W, b).backward()
            opt.step()
        sd = opt.state_dict()
        return {"state": {str(k): v for k, v in sd["state"].items()}, "groups": sd["param_groups"]}
    check(program, torch, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["rmsprop_centered_momentum_wd", "adagrad", "adadelta", "adamax", "nadamw"], ids=str)
def test_more_load_state_dict_resumes_the_same_trajectory(name):
    cls, kwargs = MORE_OPTIMIZERS[name]

    def fresh():
        W, b = regression_params(ft)
        return W, b, getattr(ft.optim, cls)([W, b], **kwargs)

    def steps(W, b, opt, n):
        for _ in range(n):
            opt.zero_grad()
            regression_loss(ft, W, b).backward()
            opt.step()
    W, b, opt = fresh()
    steps(W, b, opt, 6)
    W2, b2, opt2 = fresh()
    steps(W2, b2, opt2, 3)
    W3, b3, opt3 = fresh()
    with ft.no_grad():
        W3.copy_(W2)
        b3.copy_(b2)
    opt3.load_state_dict(opt2.state_dict())
    steps(W3, b3, opt3, 3)
    np.testing.assert_array_equal(W3.detach().numpy(), W.detach().numpy())


def test_load_state_dict_shares_tensors_of_the_parameters_dtype_as_torch(torch):
    def program(L):
        w = L.nn.Parameter(L.ones(2))
        w.grad = L.ones(2)
        opt = L.optim.Adam([w])
        opt.step()
        sd = opt.state_dict()
        same = L.optim.Adam([L.nn.Parameter(L.ones(2))])
        same.load_state_dict(sd)
        wide = L.nn.Parameter(L.ones(2, dtype=L.float64))
        other = L.optim.Adam([wide])
        other.load_state_dict(sd)
        loaded = next(iter(same.state.values()))
        cast = other.state[wide]
        return [sd["state"][0]["exp_avg"] is opt.state[w]["exp_avg"], loaded["exp_avg"] is sd["state"][0]["exp_avg"],
                loaded["step"] is sd["state"][0]["step"], cast["exp_avg"] is sd["state"][0]["exp_avg"],
                str(cast["exp_avg"].dtype), cast["step"] is sd["state"][0]["step"]]
    check(program, torch)


MORE_ERRORS = {
    "rmsprop_bad_alpha": lambda L: L.optim.RMSprop(regression_params(L), alpha=-0.5),
    "rmsprop_bad_momentum": lambda L: L.optim.RMSprop(regression_params(L), momentum=-1),
    "adagrad_bad_lr_decay": lambda L: L.optim.Adagrad(regression_params(L), lr_decay=-1),
    "adagrad_bad_initial": lambda L: L.optim.Adagrad(regression_params(L), initial_accumulator_value=-1),
    "adadelta_bad_rho": lambda L: L.optim.Adadelta(regression_params(L), rho=1.5),
    "adamax_bad_beta": lambda L: L.optim.Adamax(regression_params(L), betas=(0.9, 1.0)),
    "nadam_bad_momentum_decay": lambda L: L.optim.NAdam(regression_params(L), momentum_decay=-1),
    "lbfgs_groups": lambda L: L.optim.LBFGS([{"params": [p]} for p in regression_params(L)]),
}


@pytest.mark.parametrize("name", list(MORE_ERRORS), ids=list(MORE_ERRORS))
def test_more_error_parity(torch, name):
    check(MORE_ERRORS[name], torch)


# ---- LBFGS -----------------------------------------------------------------------------------------------------------
# Written with facade ops line by line as PyTorch's; its dot products sum in a different order than PyTorch's
# BLAS calls, so trajectories agree to rounding, amplified by Rosenbrock's conditioning (float64: ~2e-10 relative
# after 30 iterations).

def rosenbrock_run(L, line_search, dtype, steps=3, **kwargs):
    x = L.tensor(np.array([-1.2, 1.0, -0.5, 0.8], dtype=dtype), requires_grad=True)
    opt = L.optim.LBFGS([x], line_search_fn=line_search, **kwargs)
    history = []

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss
    for _ in range(steps):
        loss = opt.step(closure)
        history.append((loss.item(), x.detach().numpy().copy()))
    state = opt.state[x]
    return history, state["func_evals"], state["n_iter"]


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"], ids=["fixed_step", "strong_wolfe"])
def test_lbfgs_matches_torch_float64(torch, line_search):
    kwargs = dict(lr=0.1 if line_search is None else 1, history_size=5, max_iter=10)
    expected = rosenbrock_run(torch, line_search, "float64", **kwargs)
    actual = rosenbrock_run(ft, line_search, "float64", **kwargs)
    assert actual[1:] == expected[1:]                          # the same evaluations and iterations
    for (le, xe), (la, xa) in zip(expected[0], actual[0]):
        np.testing.assert_allclose(la, le, rtol=1e-8)
        np.testing.assert_allclose(xa, xe, rtol=1e-8, atol=1e-12)


def test_lbfgs_strong_wolfe_minimises_rosenbrock(torch):
    history, _, _ = rosenbrock_run(ft, "strong_wolfe", "float64", steps=5, max_iter=50)
    np.testing.assert_allclose(history[-1][1], np.ones(4), atol=1e-6)
    expected, _, _ = rosenbrock_run(torch, "strong_wolfe", "float64", steps=5, max_iter=50)
    np.testing.assert_allclose(history[-1][1], expected[-1][1], atol=1e-9)


def test_lbfgs_float32_close_to_torch(torch):
    expected = rosenbrock_run(torch, "strong_wolfe", "float32", steps=2, max_iter=8)
    actual = rosenbrock_run(ft, "strong_wolfe", "float32", steps=2, max_iter=8)
    for (le, xe), (la, xa) in zip(expected[0], actual[0]):
        np.testing.assert_allclose(xa, xe, rtol=1e-3, atol=1e-4)


def test_lbfgs_needs_a_closure(torch):
    for L in (ft, torch):
        x = L.ones(2, requires_grad=True)
        with pytest.raises(TypeError, match="closure"):
            L.optim.LBFGS([x]).step()


ALL_OPTIMIZERS = {**OPTIMIZERS, **MORE_OPTIMIZERS}


@pytest.mark.parametrize("name", list(ALL_OPTIMIZERS), ids=list(ALL_OPTIMIZERS))
def test_zero_dim_parameters_step_as_in_pytorch(torch, name):
    # nn.Parameter(torch.randn(())) is how "Learning PyTorch with Examples" writes its Polynomial3 module.
    def steps(L):
        cls, kwargs = ALL_OPTIMIZERS[name]
        a = L.nn.Parameter(L.tensor(np.float32(0.5)))
        opt = getattr(L.optim, cls)([a], **kwargs)
        values = []
        for g in (0.3, -1.2, 0.7):
            a.grad = L.tensor(np.float32(g))
            opt.step()
            values.append(a.detach().numpy().copy())
        return values
    expected, actual = steps(torch), steps(ft)
    assert all(v.shape == () for v in actual)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
