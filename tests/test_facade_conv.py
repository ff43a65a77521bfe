"""Convolution: the conv_general_dilated primitive through fgrad.lax (parity with jax.lax over generated shapes,
strides, paddings, dilations and groups, under grad, vmap and jit) and through the facade (F.conv1d/conv2d and
nn.Conv1d/Conv2d against PyTorch: values, gradients, grad_fn names, reprs, initial weights, errors).

The registry tests (test_primitive_rules, test_vmap, test_jit_primitives) check the block's rules on its
samples; this file checks the semantics against the two reference libraries.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fgrad
from tensor_parity import check, with_grads

F32 = "float32"
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# ---- fgrad.lax.conv_general_dilated against jax.lax ----------------------------------------------------------

@st.composite
def conv_problems(draw, max_spatial=2):
    """A valid convolution: lhs and rhs shapes and every parameter, spatial rank 1 or 2."""
    nsp = draw(st.integers(1, max_spatial))
    groups = draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    per_in, per_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    window = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    lhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nsp))
    spatial = []
    for k, ld, rd, (lo, hi) in zip(window, lhs_dil, rhs_dil, padding):
        need = rd * (k - 1) + 1 - lo - hi          # the dilated, padded input must hold one window
        low = max(1, -(-(need - 1) // ld) + 1 if need > 1 else 1)
        spatial.append(draw(st.integers(low, low + 4)))
    lhs = (n, groups * per_in) + tuple(spatial)
    rhs = (groups * per_out, per_in) + window
    return lhs, rhs, dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dil, rhs_dilation=rhs_dil,
                          feature_group_count=groups)


def _arrays(lhs_shape, rhs_shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(lhs_shape), rng.standard_normal(rhs_shape)


@SETTINGS
@given(problem=conv_problems(), seed=st.integers(0, 2 ** 16))
def test_lax_conv_matches_jax_values_and_gradients(jax, problem, seed):
    lhs_shape, rhs_shape, params = problem
    x, w = _arrays(lhs_shape, rhs_shape, seed)
    expected = np.asarray(jax.lax.conv_general_dilated(x, w, **params))
    got = np.asarray(fgrad.lax.conv_general_dilated(x, w, **params))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    ct = np.random.default_rng(seed + 1).standard_normal(expected.shape)

    def loss(conv):
        return lambda a, b: (conv(a, b, **params) * ct).sum()
    expected_grads = jax.grad(loss(jax.lax.conv_general_dilated), argnums=(0, 1))(x, w)
    got_grads = fgrad.grad(loss(fgrad.lax.conv_general_dilated), argnums=(0, 1))(x, w)
    for g, e in zip(got_grads, expected_grads):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dimension_numbers, lhs_shape, rhs_shape", [
    (("NHWC", "HWIO", "NHWC"), (2, 6, 5, 4), (3, 2, 4, 3)),
    (("NCHW", "OIHW", "NHWC"), (2, 4, 6, 5), (3, 4, 3, 2)),
    (("NWC", "WIO", "NWC"), (2, 7, 3), (3, 3, 4)),
], ids=["nhwc-hwio", "nchw-to-nhwc", "nwc-1d"])
@pytest.mark.parametrize("padding", ["SAME", "VALID", "SAME_LOWER"])
def test_lax_conv_layouts_and_padding_strings_match_jax(jax, dimension_numbers, lhs_shape, rhs_shape, padding):
    x, w = _arrays(lhs_shape, rhs_shape, 0)
    nsp = len(lhs_shape) - 2
    kwargs = dict(window_strides=(2,) * nsp, padding=padding, dimension_numbers=dimension_numbers)
    np.testing.assert_allclose(np.asarray(fgrad.lax.conv_general_dilated(x, w, **kwargs)),
                               np.asarray(jax.lax.conv_general_dilated(x, w, **kwargs)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (1, 2)], ids=["lhs", "rhs", "both", "inner-axes"])
def test_lax_conv_under_vmap_matches_jax(jax, in_axes):
    rng = np.random.default_rng(3)
    params = dict(window_strides=(2, 1), padding=((1, 0), (0, 1)), rhs_dilation=(1, 2), feature_group_count=2)
    lhs, rhs = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 2, 2, 2))
    xs = [np.stack([a * (i + 1) for i in range(3)], axis=ax) if ax is not None else a
          for a, ax in zip((lhs, rhs), in_axes)]
    got = fgrad.vmap(lambda a, b: fgrad.lax.conv_general_dilated(a, b, **params), in_axes=in_axes)(*xs)
    expected = jax.vmap(lambda a, b: jax.lax.conv_general_dilated(a, b, **params), in_axes=in_axes)(*xs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=1e-10)


def test_lax_conv_second_derivatives_match_jax(jax):
    x, w = _arrays((1, 2, 6), (2, 1, 3), 5)
    params = dict(window_strides=(2,), padding=((1, 1),), feature_group_count=2)

    def f(conv):
        return lambda a, b: (conv(a, b, **params) ** 2).sum()
    hess = fgrad.hessian(f(fgrad.lax.conv_general_dilated))(x, w)
    expected = jax.hessian(f(jax.lax.conv_general_dilated))(x, w)
    np.testing.assert_allclose(np.asarray(hess), np.asarray(expected), rtol=1e-9, atol=1e-9)


def test_lax_conv_jitted_value_and_gradient_match_the_interpreter():
    # One compile: the kernel calls the block's jitted helper for the forward and both transposed convolutions.
    x, w = _arrays((2, 4, 7, 6), (6, 2, 3, 2), 7)
    params = dict(window_strides=(2, 1), padding=((1, 2), (0, -1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1),
                  feature_group_count=2)

    def f(a, b):
        return fgrad.numpy.tanh(fgrad.lax.conv_general_dilated(a, b, **params)).sum()
    value, grads = fgrad.jit(fgrad.value_and_grad(f, argnums=(0, 1)))(x, w)
    value_ref, grads_ref = fgrad.value_and_grad(f, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(value, value_ref, rtol=1e-12)
    for g, e in zip(grads, grads_ref):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-12)
    assert "def conv_general_2d_float64(" in fgrad.jit(f).lower(x, w).source


def test_lax_conv_promotes_ints_to_float64():
    out = fgrad.lax.conv_general_dilated(np.ones((1, 1, 4), np.int64), np.ones((1, 1, 2), np.int64), (1,), "VALID")
    assert out.dtype == np.float64 and out.tolist() == [[[2.0, 2.0, 2.0]]]


@pytest.mark.parametrize("args, kwargs, match", [
    (((1, 2, 5), (3, 2)), {}, "equal rank >= 3"),
    (((1, 3, 5), (2, 2, 3)), {"feature_group_count": 2}, "must divide the input features"),
    (((1, 4, 5), (2, 3, 3)), {"feature_group_count": 2}, "rhs has 3 input features"),
    (((1, 2, 5), (2, 2, 3)), {"padding": "FULL"}, "padding must be 'VALID', 'SAME'"),
    (((1, 2, 5), (2, 2, 3)), {"padding": ((1, 1), (1, 1))}, "one \\(lo, hi\\) pair per spatial axis"),
    (((1, 2, 5), (2, 2, 3)), {"window_strides": (1, 1)}, "window_strides needs one entry per spatial axis"),
    (((1, 2, 5), (2, 2, 3)), {"dimension_numbers": ("NCW", "OIW")}, "three specs"),
    (((1, 2, 5), (2, 2, 3)), {"dimension_numbers": ("NCX", "OIW", "NCW")}, None),
], ids=["rank", "groups-divide", "group-features", "padding-string", "padding-pairs", "strides", "dimension-numbers",
        "layout-ok"])
def test_lax_conv_errors_say_what_is_wrong(args, kwargs, match):
    lhs, rhs = np.ones(args[0]), np.ones(args[1])
    kwargs = {"window_strides": (1,), "padding": "VALID", **kwargs}
    if match is None:      # any letters name the spatial axes, as in JAX
        assert fgrad.lax.conv_general_dilated(lhs, rhs, **kwargs).shape == (1, 2, 3)
        return
    with pytest.raises((ValueError, TypeError), match=match):
        fgrad.lax.conv_general_dilated(lhs, rhs, **kwargs)


# ---- the facade: F.conv1d / F.conv2d against PyTorch ---------------------------------------------------------

@st.composite
def torch_conv_problems(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    per_in, per_out = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    same = draw(st.booleans())
    stride = (1,) * nsp if same else tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    padding = "same" if same else tuple(draw(st.integers(0, 2)) for _ in range(nsp))
    pads = (0,) * nsp if same else padding
    spatial = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4))
                    for k, d, p in zip(kernel, dilation, pads))
    batch = draw(st.sampled_from([(), (2,)]))
    return (batch + (groups * per_in,) + spatial, (groups * per_out, per_in) + kernel, draw(st.booleans()),
            dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


@SETTINGS
@given(problem=torch_conv_problems(), seed=st.integers(0, 2 ** 16))
def test_functional_conv_matches_torch(torch, problem, seed):
    x_shape, w_shape, bias, kwargs = problem
    rng = np.random.default_rng(seed)
    inputs = [(rng.standard_normal(x_shape), F32, True), (rng.standard_normal(w_shape), F32, True)]
    if bias:
        inputs.append((rng.standard_normal(w_shape[0]), F32, True))
    name = "conv1d" if len(w_shape) == 3 else "conv2d"

    def build(L, x, w, *b):
        with warnings.catch_warnings():
            # PyTorch warns for padding="same" with an even kernel (it pads a copy); not part of the parity.
            warnings.simplefilter("ignore")
            return getattr(L.nn.functional, name)(x, w, *b, **kwargs)
    check(with_grads(build, *inputs), torch, rtol=1e-4, atol=1e-4)


def test_conv_graph_without_bias_and_with_a_frozen_weight(torch):
    x, w = np.random.default_rng(0).standard_normal((2, 3, 6, 6)), np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    check(with_grads(lambda L, x, w: L.nn.functional.conv2d(x, w, stride=2), (x, F32, True), (w, F32, False)), torch,
          rtol=1e-4, atol=1e-4)


CONV_ERRORS = {
    "dtype": lambda L: L.nn.functional.conv2d(L.ones(1, 3, 5, 5, dtype=L.float64), L.ones(2, 3, 3, 3)),
    "channels": lambda L: L.nn.functional.conv2d(L.ones(2, 5, 8, 8), L.ones(4, 3, 3, 3)),
    "groups": lambda L: L.nn.functional.conv2d(L.ones(2, 3, 8, 8), L.ones(4, 3, 3, 3), groups=2),
    "too_small": lambda L: L.nn.functional.conv2d(L.ones(2, 3, 2, 2), L.ones(4, 3, 3, 3)),
    "same_strided": lambda L: L.nn.functional.conv2d(L.ones(2, 3, 8, 8), L.ones(4, 3, 3, 3), padding="same", stride=2),
    "bad_padding": lambda L: L.nn.functional.conv2d(L.ones(2, 3, 8, 8), L.ones(4, 3, 3, 3), padding="foo"),
    "input_rank": lambda L: L.nn.functional.conv2d(L.ones(3, 8), L.ones(4, 3, 3, 3)),
    "bias_size": lambda L: L.nn.functional.conv1d(L.ones(2, 3, 8), L.ones(4, 3, 3), L.ones(3)),
    "module_groups": lambda L: L.nn.Conv2d(3, 4, 3, groups=2),
    "module_out_groups": lambda L: L.nn.Conv2d(4, 3, 3, groups=2),
    "module_same_strided": lambda L: L.nn.Conv2d(3, 4, 3, padding="same", stride=2),
    "module_bad_padding": lambda L: L.nn.Conv1d(3, 4, 3, padding="full"),
}


@pytest.mark.parametrize("name", list(CONV_ERRORS), ids=list(CONV_ERRORS))
def test_conv_errors_match_torch(torch, name):
    check(CONV_ERRORS[name], torch)


MODULES = {
    "conv2d": lambda L: L.nn.Conv2d(3, 4, 3),
    "conv2d_all_options": lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    "conv2d_same": lambda L: L.nn.Conv2d(3, 6, (3, 5), padding="same", dilation=2, groups=3),
    "conv2d_no_bias": lambda L: L.nn.Conv2d(1, 2, 5, bias=False),
    "conv1d": lambda L: L.nn.Conv1d(3, 4, 3, stride=2, padding=1),
    "conv1d_valid": lambda L: L.nn.Conv1d(2, 2, 1, padding="valid", bias=False),
}


@pytest.mark.parametrize("name", list(MODULES), ids=list(MODULES))
def test_conv_modules_initialise_and_print_as_torch(torch, name):
    # After the same manual_seed, the same initial weights (kaiming_uniform_ and the bias bound), bit for bit.
    def program(L):
        L.manual_seed(11)
        m = MODULES[name](L)
        return {"repr": repr(m), "params": {k: v for k, v in m.state_dict().items()}}
    check(program, torch, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["conv2d_all_options", "conv1d"])
def test_conv_modules_forward_and_backward_match_torch(torch, name):
    def program(L):
        L.manual_seed(3)
        m = MODULES[name](L)
        x = L.randn(2, m.in_channels, *([9] * (m.weight.dim() - 2)))
        y = m(x)
        (y * y).sum().backward()
        return {"y": y, "grads": [p.grad for p in m.parameters()]}
    check(program, torch, rtol=1e-4, atol=1e-5)
