"""The facade's layers beyond Linear: pooling, dropout, batch and layer norm, embedding, padding, one_hot, the
smooth activations, and nn.utils, against PyTorch: values, gradients, grad_fn names (one level down), reprs,
initial weights and random masks after the same manual_seed, running statistics, errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensor_parity import check, with_grads

F32, F64 = "float32", "float64"
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
rng = np.random.default_rng(7)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def vals(*shape):
    return rng.standard_normal(shape).round(3)


# ---- pooling over generated shapes --------------------------------------------------------------------------

@st.composite
def pool_problems(draw, dilation=True):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    p = tuple(draw(st.integers(0, (dd * (kk - 1) + 1) // 2)) for kk, dd in zip(k, d))
    spatial = tuple(dd * (kk - 1) + 1 + draw(st.integers(0, 4)) for kk, dd in zip(k, d))
    batch = draw(st.sampled_from([(), (2,)]))
    return batch + (draw(st.integers(1, 2)),) + spatial, dict(kernel_size=k, stride=s, padding=p,
                                                               ceil_mode=draw(st.booleans())), d


@SETTINGS
@given(problem=pool_problems(), seed=st.integers(0, 2 ** 16), indices=st.booleans())
def test_max_pool2d_matches_torch(torch, problem, seed, indices):
    shape, kwargs, dilation = problem
    # Distinct values: the gradient of a tie goes to the first maximum in both, tested apart below.
    x = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    check(with_grads(lambda L, x: L.nn.functional.max_pool2d(x, dilation=dilation, return_indices=indices, **kwargs),
                     (x, F32, True)), torch)


def test_max_pool_gives_a_tied_window_gradient_to_its_first_maximum(torch):
    x = np.array([[[[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [2.0, 2.0, 2.0]]]])
    check(with_grads(lambda L, x: L.nn.functional.max_pool2d(L.relu(x), 2, 1), (x, F32, True)), torch)


@SETTINGS
@given(problem=pool_problems(dilation=False), seed=st.integers(0, 2 ** 16), include=st.booleans(),
       override=st.sampled_from([None, 3]))
def test_avg_pool2d_matches_torch(torch, problem, seed, include, override):
    shape, kwargs, _ = problem
    x = np.random.default_rng(seed).standard_normal(shape)
    check(with_grads(lambda L, x: L.nn.functional.avg_pool2d(x, count_include_pad=include, divisor_override=override,
                                                             **kwargs), (x, F32, True)), torch)


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 5), ow=st.sampled_from([1, 2, 3, None]),
       seed=st.integers(0, 2 ** 16))
def test_adaptive_avg_pool2d_matches_torch(torch, h, w, oh, ow, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    check(with_grads(lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, (oh, ow)), (x, F32, True)), torch)


POOL_1D = {
    "max_pool1d": lambda L, x: L.nn.functional.max_pool1d(x, 3, 2, 1),
    "max_pool1d_indices": lambda L, x: L.nn.functional.max_pool1d(x, 2, return_indices=True),
    "avg_pool1d": lambda L, x: L.nn.functional.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
    "adaptive_avg_pool1d": lambda L, x: L.nn.functional.adaptive_avg_pool1d(x, 4),
    "max_pool2d_unbatched": lambda L, x: L.nn.functional.max_pool2d(x, 2),
    "module_max_pool2d": lambda L, x: L.nn.MaxPool2d((2, 3), stride=1, padding=1, ceil_mode=True)(x),
    "module_avg_pool2d": lambda L, x: L.nn.AvgPool2d(3, stride=1, padding=1)(x),
    "module_adaptive": lambda L, x: L.nn.AdaptiveAvgPool2d(1)(x),
    "module_max_pool1d": lambda L, x: L.nn.MaxPool1d(3)(x),
    "module_avg_pool1d": lambda L, x: L.nn.AvgPool1d(3)(x),
}


@pytest.mark.parametrize("name", list(POOL_1D), ids=list(POOL_1D))
def test_pooling_forms_match_torch(torch, name):
    check(with_grads(POOL_1D[name], (vals(2, 3, 9), F32, True)), torch)


POOL_ERRORS = {
    "pad_too_large": lambda L: L.nn.functional.max_pool2d(L.ones(1, 1, 5, 5), 2, padding=2),
    "pad_too_large_dilated": lambda L: L.nn.functional.max_pool2d(L.ones(1, 1, 5, 5), 3, padding=2, dilation=2),
    "avg_pad_too_large": lambda L: L.nn.functional.avg_pool2d(L.ones(1, 1, 5, 5), 2, padding=2),
    "output_too_small": lambda L: L.nn.functional.avg_pool2d(L.ones(1, 1, 2, 2), 3),
    "rank": lambda L: L.nn.functional.max_pool2d(L.ones(5, 5), 2),
    "divisor_zero": lambda L: L.nn.functional.avg_pool2d(L.ones(1, 1, 4, 4), 2, divisor_override=0),
}


@pytest.mark.parametrize("name", list(POOL_ERRORS), ids=list(POOL_ERRORS))
def test_pooling_errors_match_torch(torch, name):
    check(POOL_ERRORS[name], torch)


# ---- dropout ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed, p, shape", [(0, 0.5, (6,)), (3, 0.2, (4, 5)), (7, 0.9, (3, 17)), (1, 0.0, (4,)),
                                            (2, 1.0, (2, 3))], ids=["half", "fifth", "most", "none", "all"])
def test_dropout_draws_torchs_mask(torch, seed, p, shape):
    def program(L):
        L.manual_seed(seed)
        x = L.ones(*shape, requires_grad=True)
        y = L.nn.functional.dropout(x * 2.0, p)
        y.sum().backward()
        return {"y": y, "grad": x.grad, "next": L.rand(2)}     # the stream continues where PyTorch's does
    check(program, torch, rtol=0, atol=0)


def test_dropout_module_trains_and_evaluates_as_torch(torch):
    def program(L):
        L.manual_seed(5)
        m = L.nn.Dropout(0.3)
        x = L.randn(4, 6)
        train = m(x)
        m.eval()
        return {"repr": repr(m), "train": train, "eval": m(x), "same_object": m(x) is x}
    check(program, torch, rtol=0, atol=0)


def test_dropout_rejects_a_probability_outside_0_1(torch):
    check(lambda L: L.nn.functional.dropout(L.ones(3), 1.5), torch)
    check(lambda L: L.nn.Dropout(-0.1), torch)


# ---- normalization ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("module, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 5, 2))],
                         ids=["bn1d-2d", "bn1d-3d", "bn2d"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
def test_batch_norm_trains_tracks_and_evaluates_as_torch(torch, module, shape, momentum):
    def program(L):
        L.manual_seed(0)
        m = getattr(L.nn, module)(3, momentum=momentum)
        with L.no_grad():
            m.weight.mul_(1.5)
            m.bias.add_(0.25)
        outs = []
        for step in range(3):
            x = L.randn(*shape, requires_grad=True) * (step + 1)
            y = m(x)
            (y * y).sum().backward()
            outs.append(y)
        train_state = {k: v.clone() for k, v in m.state_dict().items()}
        m.eval()
        x = L.randn(*shape, requires_grad=True)
        y = m(x)
        y.sum().backward()
        return {"repr": repr(m), "train": outs, "state": train_state, "eval": y, "x_grad": x.grad,
                "w_grad": m.weight.grad, "b_grad": m.bias.grad, "graph": type(y.grad_fn).__name__}
    check(program, torch, rtol=1e-5, atol=1e-5)


def test_batch_norm_functional_and_errors(torch):
    x = vals(5, 3, 4)
    check(with_grads(lambda L, x, w, b: L.nn.functional.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
                     (x, F32, True), (vals(3), F32, True), (vals(3), F32, True)), torch, atol=1e-5)
    check(lambda L: L.nn.BatchNorm2d(3)(L.ones(2, 3, 4)), torch)
    check(lambda L: L.nn.BatchNorm1d(3)(L.ones(1, 3)), torch)
    check(lambda L: repr(L.nn.BatchNorm1d(3, affine=False, track_running_stats=False)), torch)


@pytest.mark.parametrize("normalized_shape, shape", [((5,), (3, 5)), ((4, 5), (2, 4, 5)), (5, (2, 3, 5))],
                         ids=["last", "last-two", "int"])
def test_layer_norm_matches_torch(torch, normalized_shape, shape):
    def program(L):
        L.manual_seed(1)
        m = L.nn.LayerNorm(normalized_shape)
        with L.no_grad():
            m.weight.add_(L.randn(*m.weight.shape))
            m.bias.add_(L.randn(*m.bias.shape))
        x = L.randn(*shape, requires_grad=True)
        y = m(x)
        (y * L.arange(float(y.numel())).view(y.shape)).sum().backward()
        return {"repr": repr(m), "y": y, "graph": type(y.grad_fn).__name__, "grads": [x.grad, m.weight.grad,
                                                                                        m.bias.grad]}
    check(program, torch, rtol=1e-4, atol=1e-5)


def test_layer_norm_errors_and_options(torch):
    check(lambda L: L.nn.functional.layer_norm(L.ones(2, 3), (4,)), torch)
    check(lambda L: repr(L.nn.LayerNorm(4, elementwise_affine=False, bias=False)), torch)
    check(with_grads(lambda L, x: L.nn.functional.layer_norm(x, (3,)), (vals(2, 3), F32, True)), torch, atol=1e-5)


# ---- embedding, pad, one_hot ----------------------------------------------------------------------------------

def test_embedding_initialises_looks_up_and_skips_the_padding_row(torch):
    def program(L):
        L.manual_seed(4)
        m = L.nn.Embedding(6, 3, padding_idx=2)
        idx = L.tensor([[1, 2, 5], [2, 2, 0]])
        y = m(idx)
        (y * y).sum().backward()
        return {"repr": repr(m), "weight": m.weight, "y": y, "grad": m.weight.grad, "graph": type(y.grad_fn).__name__}
    check(program, torch, rtol=0, atol=0)


EMBEDDING_ERRORS = {
    "float_indices": lambda L: L.nn.functional.embedding(L.ones(2), L.ones(3, 2)),
    "out_of_range": lambda L: L.nn.functional.embedding(L.tensor([3]), L.ones(3, 2)),
    "plain_lookup": lambda L: L.nn.functional.embedding(L.tensor([2, 0]), L.arange(6.0).view(3, 2)),
}


@pytest.mark.parametrize("name", list(EMBEDDING_ERRORS), ids=list(EMBEDDING_ERRORS))
def test_embedding_functional_matches_torch(torch, name):
    check(EMBEDDING_ERRORS[name], torch)


@pytest.mark.parametrize("widths, value", [((1, 2), None), ((1, 1, 2, 0), 1.5), ((0, 0, -1, 1), None),
                                           ((1, 0, 0, 1, 1, 0), -2.0)], ids=["last", "two", "crop", "three"])
def test_pad_matches_torch(torch, widths, value):
    check(with_grads(lambda L, x: L.nn.functional.pad(x, widths, value=value), (vals(2, 3, 4), F32, True)), torch)


def test_pad_and_one_hot_errors_and_values(torch):
    check(lambda L: L.nn.functional.pad(L.ones(2), (1, 2, 3)), torch)
    check(lambda L: L.nn.functional.pad(L.ones(2), (1, 2, 3, 4)), torch)
    check(lambda L: L.nn.functional.one_hot(L.tensor([[0, 3], [1, 1]])), torch)
    check(lambda L: L.nn.functional.one_hot(L.tensor([0, 2]), num_classes=5), torch)
    check(lambda L: L.nn.functional.one_hot(L.tensor([0, 2]), num_classes=2), torch)
    check(lambda L: L.nn.functional.one_hot(L.tensor([0.0, 2.0])), torch)


# ---- activations ----------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "gelu": lambda L, x: L.nn.functional.gelu(x),
    "gelu_tanh": lambda L, x: L.nn.functional.gelu(x, approximate="tanh"),
    "gelu_module": lambda L, x: L.nn.GELU()(x),
    "leaky_relu": lambda L, x: L.nn.functional.leaky_relu(x, 0.2),
    "leaky_relu_module": lambda L, x: L.nn.LeakyReLU()(x),
    "leaky_relu_inplace": lambda L, x: L.nn.functional.leaky_relu(x * 1.0, inplace=True),
    "elu": lambda L, x: L.nn.functional.elu(x, 0.5),
    "elu_module": lambda L, x: L.nn.ELU()(x),
    "elu_inplace": lambda L, x: L.nn.functional.elu(x * 1.0, inplace=True),
    "softplus": lambda L, x: L.nn.functional.softplus(x, beta=2.0, threshold=3.0),
    "softplus_module": lambda L, x: L.nn.Softplus()(x),
    "silu": lambda L, x: L.nn.SiLU()(x),
    "hardtanh": lambda L, x: L.nn.Hardtanh(-0.5, 1.0)(x),
    "relu6": lambda L, x: L.nn.ReLU6()(x * 4.0),
    "logsigmoid": lambda L, x: L.nn.LogSigmoid()(x * 10.0),
    "log_softmax_module": lambda L, x: L.nn.LogSoftmax(dim=1)(x),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS), ids=list(ACTIVATIONS))
def test_activations_match_torch(torch, name):
    # Kinks included: 0 and the clip bounds are among the inputs.
    x = np.array([[-3.0, -1.0, -0.5, 0.0], [0.25, 1.0, 2.5, 30.0]])
    check(with_grads(ACTIVATIONS[name], (x, F32, True)), torch, rtol=1e-5, atol=1e-6)


def test_activation_reprs_match_torch(torch):
    check(lambda L: [repr(m) for m in (L.nn.GELU(), L.nn.GELU("tanh"), L.nn.LeakyReLU(), L.nn.LeakyReLU(0.2, True),
                                       L.nn.ELU(), L.nn.Softplus(), L.nn.SiLU(), L.nn.ReLU6(), L.nn.Hardtanh())], torch)


# ---- nn.utils -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.1, float("inf"))],
                         ids=["clip", "no-clip", "l1", "inf"])
def test_clip_grad_norm_matches_torch(torch, max_norm, norm_type):
    def program(L):
        L.manual_seed(0)
        m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 2))
        m(L.randn(5, 3)).pow(2).sum().backward()
        total = L.nn.utils.clip_grad_norm_(m.parameters(), max_norm, norm_type=norm_type)
        return {"total": total, "grads": [p.grad for p in m.parameters()]}
    check(program, torch, rtol=1e-6, atol=1e-7)


def test_clip_grad_value_and_parameter_vectors_match_torch(torch):
    def program(L):
        L.manual_seed(2)
        m = L.nn.Linear(3, 2)
        m(L.randn(4, 3) * 5).sum().backward()
        L.nn.utils.clip_grad_value_(m.parameters(), 0.5)
        vec = L.nn.utils.parameters_to_vector(m.parameters())
        L.nn.utils.vector_to_parameters(vec * 2, m.parameters())
        return {"grads": [p.grad for p in m.parameters()], "vec": vec, "after": [p for p in m.parameters()]}
    check(program, torch, rtol=0, atol=0)


def test_nn_utils_is_importable_as_torch_nn_utils():
    import fgrad
    from fgrad.nn.utils import clip_grad_norm_
    assert clip_grad_norm_ is fgrad.nn.utils.clip_grad_norm_
