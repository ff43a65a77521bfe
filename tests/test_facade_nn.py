"""fgrad.facade.nn and nn.functional: parity with PyTorch (skipped without torch) and semantics of their own.

Parity programs are written once against the PyTorch API (`L` is torch or fgrad.facade) and compared by
tensor_parity: values, gradients, grad_fn names one level down, reprs, exception types and messages.
Modules get their parameters from fixed numpy values (load_state_dict), since random init differs.
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fgrad.facade as ft
from tensor_parity import check, with_grads

F32, F64, I64 = "float32", "float64", "int64"
REDUCTIONS = ("mean", "sum", "none")
rng = np.random.default_rng(2024)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def vals(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape).round(3)


def probs(*shape):
    return vals(*shape, lo=0.05, hi=0.95)


def softmax_rows(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


LABELS = np.array([0, 2, 1, 3, 2])
WEIGHTS = rng.uniform(0.1, 2.0, (4, 3)).astype(np.float32)
LABELS_IGNORED = np.array([0, -100, 3, 3, 1])


# ---- activations ------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": (lambda L, x: L.nn.functional.relu(x), np.array([-1.0, 0.0, 0.5, 2.0])),
    "relu_module": (lambda L, x: L.nn.ReLU()(x), vals(3, 4)),
    "relu_inplace_on_nonleaf": (lambda L, x: L.nn.functional.relu(x * 1.0, inplace=True), vals(2, 3)),
    "sigmoid": (lambda L, x: L.nn.functional.sigmoid(x), vals(3, 4)),
    "sigmoid_module": (lambda L, x: L.nn.Sigmoid()(x), vals(5)),
    "tanh": (lambda L, x: L.nn.functional.tanh(x), vals(3, 4)),
    "tanh_module": (lambda L, x: L.nn.Tanh()(x), vals(2, 2)),
    "softmax_dim0": (lambda L, x: L.nn.functional.softmax(x, dim=0), vals(3, 4)),
    "softmax_dim1": (lambda L, x: L.nn.functional.softmax(x, dim=1), vals(3, 4)),
    "softmax_dim_neg": (lambda L, x: L.nn.functional.softmax(x, dim=-1), vals(2, 3, 4)),
    "softmax_module": (lambda L, x: L.nn.Softmax(dim=1)(x), vals(4, 3)),
    "softmax_large_logits": (lambda L, x: L.nn.functional.softmax(x, dim=1), np.array([[1000.0, 0.0, -1000.0]])),
    "log_softmax_dim1": (lambda L, x: L.nn.functional.log_softmax(x, dim=1), vals(3, 4)),
    "log_softmax_module": (lambda L, x: L.nn.LogSoftmax(dim=0)(x), vals(4, 2)),
    "log_softmax_large_logits": (lambda L, x: L.nn.functional.log_softmax(x, dim=1),
                                 np.array([[200.0, -200.0, 0.0], [-1e4, 1e4, 3.0]])),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS), ids=list(ACTIVATIONS))
def test_activation_parity(torch, name):
    build, x = ACTIVATIONS[name]
    check(with_grads(build, (x, F32, True)), torch)


# ---- linear -----------------------------------------------------------------------------------------------

LINEAR_CASES = {
    "2d_bias": ((4, 3), True),
    "2d_no_bias": ((4, 3), False),
    "1d_bias": ((3,), True),
    "1d_no_bias": ((3,), False),
    "3d_bias": ((5, 4, 3), True),
    "3d_no_bias": ((2, 4, 3), False),
}


@pytest.mark.parametrize("case", list(LINEAR_CASES), ids=list(LINEAR_CASES))
def test_linear_parity(torch, case):
    shape, bias = LINEAR_CASES[case]
    inputs = [(vals(*shape), F32, True), (vals(2, 3), F32, True)] + ([(vals(2), F32, True)] if bias else [])
    check(with_grads(lambda L, x, w, *b: L.nn.functional.linear(x, w, *b), *inputs), torch)


def test_linear_records_addmm_on_transposed_weight(torch):
    def program(L):
        out = L.nn.functional.linear(L.ones(4, 3), L.ones(2, 3, requires_grad=True), L.zeros(2, requires_grad=True))
        fn = out.grad_fn
        return [type(fn).__name__] + [type(n).__name__ for n, _ in fn.next_functions if n is not None] + \
            [type(fn.next_functions[2][0].next_functions[0][0]).__name__]
    check(program, torch)


def test_linear_shape_mismatch_raises(torch):
    check(lambda L: L.nn.functional.linear(L.ones(3, 4), L.ones(2, 3), L.ones(2)), torch)


# ---- losses -------------------------------------------------------------------------------------------------

def loss_case(build, *inputs):
    return build, inputs


LOSSES = {
    "mse": loss_case(lambda L, x, t, r: L.nn.functional.mse_loss(x, t, reduction=r),
                     (vals(4, 3), F32, True), (vals(4, 3), F32, False)),
    "mse_target_grad": loss_case(lambda L, x, t, r: L.nn.functional.mse_loss(x, t, reduction=r),
                                 (vals(5), F32, True), (vals(5), F32, True)),
    "mse_module_float64": loss_case(lambda L, x, t, r: L.nn.MSELoss(reduction=r)(x, t),
                                    (vals(2, 3), F64, True), (vals(2, 3), F64, False)),
    "mse_weight": loss_case(lambda L, x, t, r: L.nn.functional.mse_loss(x, t, reduction=r, weight=L.tensor(WEIGHTS)),
                            (vals(4, 3), F32, True), (vals(4, 3), F32, False)),
    "l1_weight": loss_case(lambda L, x, t, r: L.nn.functional.l1_loss(x, t, reduction=r, weight=L.tensor(WEIGHTS)),
                           (vals(4, 3), F32, True), (vals(4, 3), F32, True)),
    "l1": loss_case(lambda L, x, t, r: L.nn.functional.l1_loss(x, t, reduction=r),
                    (vals(4, 3), F32, True), (vals(4, 3), F32, True)),
    "l1_module": loss_case(lambda L, x, t, r: L.nn.L1Loss(reduction=r)(x, t),
                           (vals(6), F32, True), (vals(6), F32, False)),
    "bce": loss_case(lambda L, x, t, r: L.nn.functional.binary_cross_entropy(x, t, reduction=r),
                     (probs(4, 3), F32, True), (probs(4, 3), F32, True)),
    "bce_weight_module": loss_case(lambda L, x, t, r: L.nn.BCELoss(weight=L.tensor([0.5, 1.0, 2.0]), reduction=r)(x, t),
                                   (probs(4, 3), F32, True), (probs(4, 3).round(0), F32, False)),
    "bce_of_sigmoid": loss_case(lambda L, x, t, r: L.nn.functional.binary_cross_entropy(x.sigmoid(), t, reduction=r),
                                (vals(6), F32, True), (probs(6), F32, False)),
    "bce_logits": loss_case(lambda L, x, t, r: L.nn.functional.binary_cross_entropy_with_logits(x, t, reduction=r),
                            (vals(4, 3), F32, True), (probs(4, 3), F32, True)),
    "bce_logits_large": loss_case(
        lambda L, x, t, r: L.nn.functional.binary_cross_entropy_with_logits(x, t, reduction=r),
        (np.array([-120.0, -30.0, 0.0, 30.0, 120.0]), F32, True), (np.array([1.0, 0.0, 0.5, 1.0, 0.0]), F32, False)),
    "bce_logits_weights_module": loss_case(
        lambda L, x, t, r: L.nn.BCEWithLogitsLoss(weight=L.tensor([1.0, 0.5, 2.0]),
                                                  pos_weight=L.tensor([3.0, 1.0, 0.2]), reduction=r)(x, t),
        (vals(4, 3), F32, True), (probs(4, 3), F32, False)),
    "cross_entropy": loss_case(lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r),
                               (vals(5, 4), F32, True), (LABELS, I64, False)),
    "cross_entropy_module_weight_ignore": loss_case(
        lambda L, x, t, r: L.nn.CrossEntropyLoss(weight=L.tensor([1.0, 2.0, 0.5, 1.5]), reduction=r)(x, t),
        (vals(5, 4), F32, True), (LABELS_IGNORED, I64, False)),
    "cross_entropy_label_smoothing": loss_case(
        lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r, label_smoothing=0.1, ignore_index=3),
        (vals(5, 4), F32, True), (np.array([0, 3, 2, 3, 1]), I64, False)),
    "cross_entropy_label_smoothing_weight": loss_case(
        lambda L, x, t, r: L.nn.CrossEntropyLoss(weight=L.tensor([1.0, 2.0, 0.5, 1.5]), reduction=r,
                                                 label_smoothing=0.25)(x, t),
        (vals(5, 4), F32, True), (LABELS_IGNORED, I64, False)),
    "cross_entropy_probabilities": loss_case(lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r),
                                             (vals(3, 4), F32, True), (softmax_rows(vals(3, 4)), F32, True)),
    "cross_entropy_probabilities_weight_smoothing": loss_case(
        lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, weight=L.tensor([1.0, 2.0, 0.5, 1.5]), reduction=r,
                                                         label_smoothing=0.2),
        (vals(3, 4), F32, True), (softmax_rows(vals(3, 4)), F32, True)),
    "cross_entropy_unbatched": loss_case(lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r),
                                         (vals(4), F32, True), (np.array(2), I64, False)),
    "cross_entropy_3d": loss_case(lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r),
                                  (vals(2, 3, 4), F32, True), (rng.integers(0, 3, (2, 4)), I64, False)),
    "cross_entropy_4d": loss_case(lambda L, x, t, r: L.nn.functional.cross_entropy(x, t, reduction=r),
                                  (vals(2, 3, 2, 2), F32, True), (rng.integers(0, 3, (2, 2, 2)), I64, False)),
    "nll": loss_case(lambda L, x, t, r: L.nn.functional.nll_loss(x.log_softmax(1), t, reduction=r),
                     (vals(5, 4), F32, True), (LABELS, I64, False)),
    "nll_module_weight_ignore": loss_case(
        lambda L, x, t, r: L.nn.NLLLoss(weight=L.tensor([1.0, 2.0, 0.5, 1.5]), ignore_index=3, reduction=r)(x, t),
        (vals(5, 4), F32, True), (LABELS_IGNORED, I64, False)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=REDUCTIONS)
@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_loss_parity(torch, name, reduction):
    build, inputs = LOSSES[name]
    check(with_grads(lambda L, *xs: build(L, *xs, reduction), *inputs), torch)


def test_bce_clamps_log_at_minus_100(torch):
    # probabilities exactly 0 and 1: each log term is clamped, so the loss is finite (100 per wrong element)
    check(with_grads(lambda L, x, t: L.nn.functional.binary_cross_entropy(x, t, reduction="none"),
                     (np.array([0.0, 1.0, 0.0, 1.0]), F32, False), (np.array([1.0, 0.0, 0.0, 1.0]), F32, False)),
          torch)


def test_cross_entropy_probability_graph(torch):
    def program(L):
        loss = L.nn.functional.cross_entropy(L.zeros(2, 3, requires_grad=True), L.full((2, 3), 1 / 3))
        names, fn = [], loss.grad_fn
        while fn is not None and type(fn).__name__ != "AccumulateGrad":
            names.append(type(fn).__name__)
            fn = fn.next_functions[0][0]
        return names
    check(program, torch)


def test_all_ignored_mean_is_nan(torch):
    check(lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([-100, -100, -100])), torch)


# ---- hypothesis: the losses over random shapes ----------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@settings(max_examples=15, deadline=None)
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2 ** 16))
def test_elementwise_losses_random_shapes(torch, shape, reduction, seed):
    r = np.random.default_rng(seed)
    x, t = r.uniform(-2, 2, shape), r.uniform(-2, 2, shape)
    p, q = r.uniform(0.05, 0.95, shape), r.uniform(0, 1, shape)
    for build, a, b in [
        (lambda L, u, v: L.nn.functional.mse_loss(u, v, reduction=reduction), x, t),
        (lambda L, u, v: L.nn.functional.l1_loss(u, v, reduction=reduction), x, t),
        (lambda L, u, v: L.nn.functional.binary_cross_entropy(u, v, reduction=reduction), p, q),
        (lambda L, u, v: L.nn.functional.binary_cross_entropy_with_logits(u, v, reduction=reduction), x, q),
    ]:
        check(with_grads(build, (a, F32, True), (b, F32, True)), torch)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 5), reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2 ** 16),
       smoothing=st.sampled_from([0.0, 0.3]))
def test_cross_entropy_random_shapes(torch, n, c, reduction, seed, smoothing):
    r = np.random.default_rng(seed)
    logits, labels = r.uniform(-3, 3, (n, c)), r.integers(0, c, n)
    check(with_grads(lambda L, x, t: L.nn.functional.cross_entropy(x, t, reduction=reduction,
                                                                   label_smoothing=smoothing),
                     (logits, F32, True), (labels, I64, False)), torch)
    check(with_grads(lambda L, x, t: L.nn.functional.cross_entropy(x, t, reduction=reduction),
                     (logits, F32, True), (softmax_rows(r.uniform(-1, 1, (n, c))), F32, True)), torch)


# ---- argument errors ------------------------------------------------------------------------------------------

ERRORS = {
    "bad_reduction": lambda L: L.nn.functional.mse_loss(L.ones(3), L.ones(3), reduction="avg"),
    "bce_input_out_of_range": lambda L: L.nn.functional.binary_cross_entropy(L.tensor([1.5]), L.tensor([1.0])),
    "bce_target_out_of_range": lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5]), L.tensor([-0.5])),
    "bce_nan_input": lambda L: L.nn.functional.binary_cross_entropy(L.tensor([float("nan")]), L.tensor([1.0])),
    "bce_size_mismatch": lambda L: L.nn.functional.binary_cross_entropy(L.ones(3, 1) / 2, L.ones(3)),
    "bce_target_dtype": lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5]), L.tensor([1])),
    "bce_logits_size_mismatch": lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.ones(3, 4), L.ones(3)),
    "ce_target_out_of_bounds": lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 5])),
    "ce_negative_target": lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, -1])),
    "ce_batch_mismatch": lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1])),
    "ce_float_class_targets": lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0.0, 1.0, 2.0])),
    "ce_integer_probabilities": lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.zeros(3, 4, dtype=L.long)),
    "ce_bad_label_smoothing": lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 2]),
                                                                      label_smoothing=1.5),
    "nll_weight_size": lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, 2]), weight=L.ones(3)),
    "nll_unbatched_target_size": lambda L: L.nn.functional.nll_loss(L.ones(3), L.tensor([0, 1])),
}


@pytest.mark.parametrize("name", list(ERRORS), ids=list(ERRORS))
def test_error_parity(torch, name):
    check(ERRORS[name], torch)


def test_warnings_parity(torch):
    def program(L):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            L.nn.functional.mse_loss(L.ones(3, 1), L.ones(3))
            L.nn.functional.softmax(L.ones(2, 3))
            L.nn.MSELoss(size_average=False)
        return [(w.category.__name__, str(w.message)) for w in caught]
    check(program, torch)


# ---- modules: structure, reprs, state --------------------------------------------------------------------------

def mlp(L):
    return L.nn.Sequential(L.nn.Linear(4, 5), L.nn.ReLU(), L.nn.Linear(5, 3))


def fixed_state(model, L, seed=0):
    """Load deterministic values into every parameter of `model` (both libraries get the same)."""
    r = np.random.default_rng(seed)
    state = {name: L.tensor(r.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32))
             for name, p in model.named_parameters()}
    model.load_state_dict(state)
    return model


def nested(L):
    class Block(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = L.nn.Parameter(L.ones(3))
            self.body = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.Tanh())
            self.register_buffer("running", L.zeros(3))
            self.register_buffer("scratch", L.zeros(1), persistent=False)

        def forward(self, x):
            return self.body(x) * self.scale + self.running

    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = L.nn.Linear(3, 1, bias=False)
            self.act = L.nn.Sigmoid()

        def forward(self, x):
            return self.act(self.head(self.block(x)))
    return Net()


MODULE_PROGRAMS = {
    "sequential_repr": lambda L: repr(L.nn.Sequential(
        L.nn.Linear(2, 3), L.nn.ReLU(), L.nn.Softmax(dim=1), L.nn.Tanh(), L.nn.Sigmoid(), L.nn.LogSoftmax(dim=-1),
        L.nn.Flatten(), L.nn.Identity(), L.nn.MSELoss(), L.nn.L1Loss(), L.nn.BCELoss(), L.nn.BCEWithLogitsLoss(),
        L.nn.CrossEntropyLoss(), L.nn.NLLLoss(), L.nn.ReLU(inplace=True), L.nn.Linear(3, 1, bias=False))),
    "nested_repr": lambda L: repr(nested(L)),
    "empty_reprs": lambda L: [repr(L.nn.Sequential()), repr(L.nn.Module()), repr(L.nn.Softmax())],
    "parameter_repr": lambda L: [repr(L.nn.Parameter(L.tensor([[1.0, 2.5], [3.0, 4.0]]))),
                                 repr(L.nn.Parameter(L.tensor(1.5), requires_grad=False)), str(L.nn.Parameter())],
    "named_parameters": lambda L: [(name, tuple(p.shape), type(p).__name__, p.requires_grad)
                                   for name, p in nested(L).named_parameters()],
    "state_dict_keys": lambda L: list(nested(L).state_dict().keys()),
    "state_dict_values_detached": lambda L: [(type(v).__name__, v.requires_grad, v.grad_fn is None)
                                             for v in mlp(L).state_dict().values()],
    "named_modules": lambda L: [(name, type(m).__name__) for name, m in nested(L).named_modules()],
    "children": lambda L: [type(m).__name__ for m in nested(L).children()] + [n for n, _ in nested(L).named_children()],
    "buffers": lambda L: [name for name, _ in nested(L).named_buffers()],
    "train_eval": lambda L: (lambda m: [m.training, m.eval().training, m.block.body[1].training,
                                        m.train().block.training])(nested(L)),
    "shared_submodule": lambda L: (lambda lin: (lambda seq: [len(list(seq.parameters())), list(seq.state_dict()),
                                                             len(list(seq.modules()))])(
        L.nn.Sequential(lin, L.nn.ReLU(), lin)))(L.nn.Linear(2, 2)),
    "sequential_indexing": lambda L: (lambda s: [repr(s[0]), repr(s[-1]), repr(s[1:]), len(s),
                                                 [type(m).__name__ for m in s]])(
        L.nn.Sequential(L.nn.Linear(2, 3), L.nn.ReLU(), L.nn.Linear(3, 1))),
    "sequential_index_error": lambda L: L.nn.Sequential(L.nn.ReLU())[5],
    "sequential_ordered_dict": lambda L: repr(L.nn.Sequential(__import__("collections").OrderedDict(
        [("fc", L.nn.Linear(1, 2)), ("act", L.nn.ReLU())]))),
    "sequential_append_delete": lambda L: (lambda s: repr(s))(
        (lambda s: (s.append(L.nn.Tanh()), s.__delitem__(0), s)[-1])(L.nn.Sequential(L.nn.ReLU(), L.nn.Sigmoid()))),
    "module_list": lambda L: (lambda ml: [len(ml), repr(ml), [n for n, _ in ml.named_parameters()]])(
        L.nn.ModuleList([L.nn.Linear(1, 1), L.nn.ReLU()])),
    "assign_tensor_to_parameter": lambda L: setattr(L.nn.Linear(2, 3), "weight", L.ones(3, 2)),
    "missing_forward": lambda L: L.nn.Module()(1),
    "parameter_before_init": lambda L: type("Early", (L.nn.Module,), {
        "__init__": lambda self: setattr(self, "w", L.nn.Parameter(L.ones(1)))})(),
    "no_attribute": lambda L: L.nn.Linear(1, 1).nonexistent,
    "to_integer_dtype": lambda L: L.nn.Linear(1, 1).to(L.int64),
    "load_state_dict_strict_errors": lambda L: L.nn.Linear(2, 3).load_state_dict(
        {"weight": L.ones(3, 3), "extra": L.ones(1)}),
    "load_state_dict_not_strict": lambda L: repr(L.nn.Linear(2, 3).load_state_dict(
        {"weight": L.ones(3, 2), "extra": L.ones(1)}, strict=False)),
    "load_state_dict_all_matched": lambda L: repr(mlp(L).load_state_dict(mlp(L).state_dict())),
    "load_state_dict_values": lambda L: fixed_state(mlp(L), L).state_dict(),
    "load_state_dict_assign": lambda L: (lambda m, sd: (m.load_state_dict(sd, assign=True), [
        type(m.weight).__name__, m.weight.requires_grad, m.weight, m.bias, m.weight is sd["weight"],
        sd["weight"].add_(1.0) is not None and m.weight])[1])(
        L.nn.Linear(2, 1), {"weight": L.ones(1, 2), "bias": L.zeros(1)}),
    "module_type_conversion": lambda L: str(L.nn.Linear(2, 1).type(L.float64).weight.dtype),
}


@pytest.mark.parametrize("name", list(MODULE_PROGRAMS), ids=list(MODULE_PROGRAMS))
def test_module_parity(torch, name):
    check(MODULE_PROGRAMS[name], torch)


def test_mlp_training_step_parity(torch):
    def program(L):
        model = fixed_state(mlp(L), L)
        x = L.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4))
        target = L.tensor([0, 2, 1, 1, 0, 2])
        out = model(x)
        loss = L.nn.CrossEntropyLoss()(out, target)
        loss.backward()
        return {"out": out, "loss": loss, "grads": {n: p.grad for n, p in model.named_parameters()},
                "names": [type(out.grad_fn).__name__, type(loss.grad_fn).__name__]}
    check(program, torch)


def test_nested_module_forward_backward_parity(torch):
    def program(L):
        model = fixed_state(nested(L), L, seed=3)
        out = model(L.tensor([[0.5, -1.0], [2.0, 0.25]]))
        out.sum().backward()
        return {"out": out, "grads": [p.grad for p in model.parameters()]}
    check(program, torch)


def test_double_converts_parameters_in_place(torch):
    def program(L):
        model = fixed_state(mlp(L), L)
        first = model[0].weight
        model.double()
        out = model(L.ones(2, 4, dtype=L.float64))
        return [first is model[0].weight, str(first.dtype), out, [str(p.dtype) for p in model.parameters()],
                str(model.float()[2].bias.dtype)]
    check(program, torch)


def test_zero_grad_parity(torch):
    def program(L):
        model = fixed_state(mlp(L), L)
        model(L.ones(1, 4)).sum().backward()
        model.zero_grad(set_to_none=False)
        zeros = [p.grad for p in model.parameters()]
        model.zero_grad()
        return [zeros, [p.grad for p in model.parameters()]]
    check(program, torch)


def test_state_dict_shares_storage(torch):
    def program(L):
        model = fixed_state(L.nn.Linear(2, 1), L)
        model.state_dict()["bias"].fill_(7.0)
        return model.bias
    check(program, torch)


# ---- init ------------------------------------------------------------------------------------------------------

def test_calculate_gain_parity(torch):
    check(lambda L: [L.nn.init.calculate_gain(name, *args) for name, *args in
                     [("linear",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", math.sqrt(5)),
                      ("selu",)]], torch)


def test_constant_inits_parity(torch):
    def program(L):
        w = L.empty(2, 3)
        return [L.nn.init.zeros_(w).clone(), L.nn.init.ones_(w).clone(), L.nn.init.constant_(w, 0.25).clone()]
    check(program, torch)


@pytest.mark.parametrize("in_features", [1, 3, 100], ids=["in1", "in3", "in100"])
def test_linear_default_init_bounds(in_features):
    ft.manual_seed(0)
    layer = ft.nn.Linear(in_features, 64)
    bound = 1 / math.sqrt(in_features)
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert values.dtype == np.float32
        assert np.all(np.abs(values) <= bound)
        assert values.std() > bound / 4          # spread over the interval, not a constant
    ft.manual_seed(0)
    again = ft.nn.Linear(in_features, 64)
    np.testing.assert_array_equal(again.weight.detach().numpy(), layer.weight.detach().numpy())


def test_kaiming_and_xavier_scales():
    ft.manual_seed(1)
    w = ft.empty(400, 300)
    ft.nn.init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.detach().numpy()).max() <= math.sqrt(6 / 300)
    ft.nn.init.xavier_normal_(w)
    assert abs(w.detach().numpy().std() - math.sqrt(2 / 700)) < 0.002
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ft.nn.init.xavier_uniform_(ft.empty(3))


# ---- semantics of fgrad's own -------------------------------------------------------------------------------------

def test_parameter_shares_storage_and_is_leaf():
    data = ft.ones(3)
    p = ft.nn.Parameter(data)
    assert p.is_leaf and p.requires_grad and isinstance(p, ft.Tensor)
    with ft.no_grad():
        p.mul_(2.0)
    np.testing.assert_array_equal(data.numpy(), [2.0, 2.0, 2.0])
    assert type(p * 1).__name__ == "Tensor"


def test_deepcopy_gives_independent_parameters():
    model = ft.nn.Sequential(ft.nn.Linear(2, 2))
    clone = copy.deepcopy(model)
    with ft.no_grad():
        clone[0].weight.fill_(0.0)
    assert np.abs(model[0].weight.detach().numpy()).sum() > 0
    assert isinstance(clone[0].weight, ft.nn.Parameter) and clone[0].weight.requires_grad


def test_inplace_relu_on_leaf_that_requires_grad_raises():
    x = ft.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        ft.nn.functional.relu(x, inplace=True)


def test_linear_float64_and_forward_hooks():
    layer = ft.nn.Linear(3, 2, dtype=ft.float64)
    seen = []
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out.shape) or out * 2)
    out = layer(ft.ones(4, 3, dtype=ft.float64))
    assert out.dtype == ft.float64 and seen == [(4, 2)]
    handle.remove()
    np.testing.assert_allclose(out.detach().numpy(), 2 * layer(ft.ones(4, 3, dtype=ft.float64)).detach().numpy())


def test_loss_kernels_are_one_node_each():
    x = ft.tensor([[0.2, 0.7]], requires_grad=True)
    for loss in (ft.nn.functional.mse_loss(x, ft.zeros(1, 2)),
                 ft.nn.functional.binary_cross_entropy(x, ft.ones(1, 2)),
                 ft.nn.functional.binary_cross_entropy_with_logits(x, ft.ones(1, 2))):
        (edge,) = loss.grad_fn.next_functions[:1]
        assert type(edge[0]).__name__ == "AccumulateGrad"
