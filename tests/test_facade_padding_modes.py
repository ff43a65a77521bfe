"""F.pad's reflect, replicate and circular modes, nn.Conv1d/Conv2d's padding_mode, and 1-D pooling of unbatched
(C, L) input, against PyTorch 2.13: values, .grad, grad_fn names, reprs and errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensor_parity import check, with_grads

F32, F64 = "float32", "float64"
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MODES = ["reflect", "replicate", "circular"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def vals(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).round(3)


# ---- F.pad over generated shapes and widths -----------------------------------------------------------------

@st.composite
def pad_problems(draw):
    """A mode, 1 to 3 padded axes of a batched or unbatched input, and widths PyTorch accepts (negative
    ones crop; reflect's below the size, circular's within the kept elements), each output axis non-empty."""
    mode = draw(st.sampled_from(MODES))
    n = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,)]))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(n))
    pad = []
    for size in reversed(sizes):                   # F.pad lists the last axis first
        while True:
            lo, hi = draw(st.integers(-size, size)), draw(st.integers(-size, size))
            kept = size + min(lo, 0) + min(hi, 0)
            # An empty output axis: PyTorch's replicate raises, its reflect leaves the gradient uninitialised.
            if size + lo + hi < 1 or (mode == "reflect" and max(lo, hi) >= size):
                continue
            if mode == "circular" and (kept < max(lo, hi) or (kept == 0 and max(lo, hi) > 0)):
                continue
            break
        pad += [lo, hi]
    return mode, batch + (2,) + sizes, tuple(pad)


def padded(shape, pad, mode, dtype, seed=0):
    """F.pad of a leaf, its node's name, and the leaf's gradient for a fixed random cotangent. (circular's
    node is CopySlices over PyTorch's own in-place copies of slices; fgrad's has the leaf as its one edge,
    so below it the graphs differ.)"""
    def program(L):
        x = L.tensor(vals(*shape, seed=seed), dtype=getattr(L, dtype), requires_grad=True)
        y = L.nn.functional.pad(x, pad, mode=mode)
        ct = np.random.default_rng(seed + 1).standard_normal(tuple(y.shape))
        y.backward(L.tensor(ct, dtype=getattr(L, dtype)))
        return {"y": y.detach(), "node": type(y.grad_fn).__name__, "grad": x.grad}
    return program


@SETTINGS
@given(problem=pad_problems(), seed=st.integers(0, 2 ** 16))
def test_pad_modes_match_torch(torch, problem, seed):
    mode, shape, pad = problem
    check(padded(shape, pad, mode, F64, seed), torch, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad, shape", [((2, 1), (3, 5)), ((1, 2, 2, 0), (2, 3, 4, 5)), ((1, 1, 0, 2, 1, 0), (2, 4, 3, 3))],
                         ids=["1d-unbatched", "2d", "3d-unbatched"])
def test_pad_modes_float32_names_and_grads_match_torch(torch, mode, pad, shape):
    # The node names: ReflectionPad{n}DBackward0, ReplicationPad{n}DBackward0, CopySlices (circular).
    check(padded(shape, pad, mode, F32), torch)


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_mode_graph_matches_torch(torch, mode):
    check(with_grads(lambda L, x: L.nn.functional.pad(x, (1, 2, 2, 0), mode=mode) * 2, (vals(2, 3, 4, 5), F32, True)),
          torch)


PAD_ERRORS = {
    "reflect_too_wide": lambda L: L.nn.functional.pad(L.ones(2, 3, 4, 5), (0, 5, 0, 0), mode="reflect"),
    "reflect_rank": lambda L: L.nn.functional.pad(L.ones(2, 3, 4, 5), (1, 2), mode="reflect"),
    "replicate_1d_input": lambda L: L.nn.functional.pad(L.ones(5), (1, 1), mode="replicate"),
    "circular_wraps_twice": lambda L: L.nn.functional.pad(L.ones(2, 3, 4, 5), (0, 6, 0, 0), mode="circular"),
    "odd_length": lambda L: L.nn.functional.pad(L.ones(2, 3, 4), (1, 1, 1), mode="reflect"),
    "unknown_mode": lambda L: L.nn.functional.pad(L.ones(2, 3, 4), (1, 1), mode="zeros"),
    "value_with_reflect": lambda L: L.nn.functional.pad(L.ones(2, 3, 4), (1, 1), mode="reflect", value=2.0),
}


@pytest.mark.parametrize("name", list(PAD_ERRORS), ids=list(PAD_ERRORS))
def test_pad_mode_errors_match_torch(torch, name):
    check(PAD_ERRORS[name], torch)


# ---- nn.Conv1d / Conv2d padding_mode ---------------------------------------------------------------------------

CONVS = {
    "conv2d_reflect": lambda L: L.nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"),
    "conv2d_replicate_strided": lambda L: L.nn.Conv2d(2, 4, (3, 2), stride=2, padding=(2, 1),
                                                      padding_mode="replicate"),
    "conv2d_circular_grouped": lambda L: L.nn.Conv2d(4, 4, 3, padding=(1, 2), dilation=(1, 2), groups=2,
                                                     padding_mode="circular"),
    "conv2d_same_reflect": lambda L: L.nn.Conv2d(2, 3, (4, 3), padding="same", padding_mode="reflect", bias=False),
    "conv2d_valid_circular": lambda L: L.nn.Conv2d(2, 3, 3, padding="valid", padding_mode="circular"),
    "conv1d_reflect": lambda L: L.nn.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"),
    "conv1d_same_circular": lambda L: L.nn.Conv1d(2, 3, 4, padding="same", padding_mode="circular"),
    "conv1d_replicate": lambda L: L.nn.Conv1d(2, 3, 5, stride=2, padding=3, padding_mode="replicate"),
}


@pytest.mark.parametrize("name", list(CONVS), ids=list(CONVS))
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_conv_padding_modes_match_torch(torch, name, batched):
    def program(L):
        L.manual_seed(5)
        m = CONVS[name](L)
        spatial = (6,) * (m.weight.dim() - 2)
        x = L.randn(*((2,) if batched else ()), m.in_channels, *spatial, requires_grad=True)
        y = m(x)
        (y * y).sum().backward()
        return {"repr": repr(m), "y": y, "graph": type(y.grad_fn).__name__,
                "grads": [x.grad] + [p.grad for p in m.parameters()]}
    check(program, torch, rtol=1e-4, atol=1e-5)


def test_conv_padding_mode_error_matches_torch(torch):
    def program(L):
        return L.nn.Conv2d(1, 1, 3, padding_mode="foo")
    # The message lists the valid modes as a Python set, in the set's own order: compare the type and start.
    out = {}
    for lib in (torch, __import__("fgrad")):
        try:
            program(lib)
        except ValueError as e:
            out[lib.__name__] = str(e)
    assert set(out) == {"torch", "fgrad"}
    assert out["fgrad"].startswith("padding_mode must be one of {")
    assert out["fgrad"].endswith("but got padding_mode='foo'") and out["torch"].endswith("but got padding_mode='foo'")


# ---- 1-D pooling of unbatched (C, L) input --------------------------------------------------------------------

POOL_1D_UNBATCHED = {
    "max_pool1d": lambda L, x: L.nn.functional.max_pool1d(x, 3, 2, 1),
    "max_pool1d_dilated_ceil": lambda L, x: L.nn.functional.max_pool1d(x, 2, 2, 1, dilation=2, ceil_mode=True),
    "max_pool1d_indices": lambda L, x: L.nn.functional.max_pool1d(x, 2, return_indices=True),
    "avg_pool1d": lambda L, x: L.nn.functional.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
    "avg_pool1d_ceil": lambda L, x: L.nn.functional.avg_pool1d(x, 4, 3, 2, ceil_mode=True),
    "module_max_pool1d": lambda L, x: L.nn.MaxPool1d(3, stride=1)(x),
    "module_avg_pool1d": lambda L, x: L.nn.AvgPool1d(2)(x),
}


@pytest.mark.parametrize("name", list(POOL_1D_UNBATCHED), ids=list(POOL_1D_UNBATCHED))
def test_unbatched_1d_pooling_matches_torch(torch, name):
    x = vals(3, 9)
    x[1, 2:5] = 0.5                                 # a tied window: the gradient goes to its first maximum
    check(with_grads(POOL_1D_UNBATCHED[name], (x, F32, True)), torch)
