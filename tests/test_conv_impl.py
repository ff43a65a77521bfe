"""The conv_general_dilated primitive's numpy impl (im2col per chunk of examples, or a strided window view,
and BLAS) against the convolution written out by its definition, a loop over output positions and window
offsets; and the VJP's two transposed convolutions (batch-as-feature, feature groups, dilations from the
strides) against that definition's adjoint. Also the branchless select impl against np.where.

The reference loop lives only here: it is the old direct implementation, slow and obviously right.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fgrad
from fgrad.ops import conv as conv_ops
from fgrad.ops.conv import conv_general_dilated_p
from fgrad.ops.elementwise import _select_impl

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _reads(lhs_shape, rhs_shape, out_shape, strides, padding, lhs_dilation, rhs_dilation):
    """(output position, window offset, input position) for every input element a window reads (not the
    inserted zeros nor the padding): the convolution's definition."""
    nsp = len(strides)
    for y in np.ndindex(*out_shape[2:]):
        for k in np.ndindex(*rhs_shape[2:]):
            x = []
            for a in range(nsp):
                q = y[a] * strides[a] + k[a] * rhs_dilation[a] - padding[a][0]
                if q < 0 or q % lhs_dilation[a] or q // lhs_dilation[a] >= lhs_shape[2 + a]:
                    break
                x.append(q // lhs_dilation[a])
            else:
                yield y, k, tuple(x)


def reference_conv(lhs, rhs, out_shape, *, window_strides, padding, lhs_dilation, rhs_dilation,
                   feature_group_count):
    """out[n, o, y] = sum over i, k of lhs[n, g(o) * C/G + i, x(y, k)] * rhs[o, i, k], a loop over y and k."""
    groups = feature_group_count
    per_in, per_out = rhs.shape[1], rhs.shape[0] // groups
    out = np.zeros(out_shape)
    for y, k, x in _reads(lhs.shape, rhs.shape, out_shape, window_strides, padding, lhs_dilation, rhs_dilation):
        for g in range(groups):
            features = slice(g * per_in, (g + 1) * per_in)
            outs = slice(g * per_out, (g + 1) * per_out)
            out[(slice(None), outs) + y] += lhs[(slice(None), features) + x] @ rhs[(outs, slice(None)) + k].T
    return out


def reference_conv_grads(ct, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
    """The cotangents of lhs and rhs: the same loop, each product's transpose accumulated."""
    groups = feature_group_count
    per_in, per_out = rhs.shape[1], rhs.shape[0] // groups
    lhs_ct, rhs_ct = np.zeros(lhs.shape), np.zeros(rhs.shape)
    for y, k, x in _reads(lhs.shape, rhs.shape, ct.shape, window_strides, padding, lhs_dilation, rhs_dilation):
        for g in range(groups):
            features = slice(g * per_in, (g + 1) * per_in)
            outs = slice(g * per_out, (g + 1) * per_out)
            cty = ct[(slice(None), outs) + y]                                       # (N, O/G)
            lhs_ct[(slice(None), features) + x] += cty @ rhs[(outs, slice(None)) + k]
            rhs_ct[(outs, slice(None)) + k] += cty.T @ lhs[(slice(None), features) + x]
    return lhs_ct, rhs_ct


@st.composite
def conv_problems(draw):
    """A valid convolution of spatial rank 1 to 3: shapes and every parameter, negative pads (crops)
    included; sometimes a window larger than the output (the kernel-cotangent path)."""
    nsp = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    n = draw(st.integers(1, 3))
    per_in, per_out = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    window = tuple(draw(st.integers(1, 4 if nsp < 3 else 2)) for _ in range(nsp))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    lhs_dil = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    padding = tuple((draw(st.integers(-2, 3)), draw(st.integers(-2, 3))) for _ in range(nsp))
    spatial = []
    for k, ld, rd, (lo, hi) in zip(window, lhs_dil, rhs_dil, padding):
        need = rd * (k - 1) + 1 - lo - hi          # the dilated, padded input must hold one window
        low = max(1, -(-(need - 1) // ld) + 1 if need > 1 else 1)
        spatial.append(draw(st.integers(low, low + (5 if nsp < 3 else 2))))
    params = dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dil, rhs_dilation=rhs_dil,
                  feature_group_count=groups)
    return (n, groups * per_in) + tuple(spatial), (groups * per_out, per_in) + window, params


def _operands(problem, seed, dtype=np.float64):
    lhs_shape, rhs_shape, params = problem
    rng = np.random.default_rng(seed)
    return rng.standard_normal(lhs_shape).astype(dtype), rng.standard_normal(rhs_shape).astype(dtype), params


def _out_shape(lhs, rhs, params):
    return conv_general_dilated_p.shape_rule(fgrad.ir.ArrayType(lhs.shape, lhs.dtype),
                                             fgrad.ir.ArrayType(rhs.shape, rhs.dtype), **params).shape


@SETTINGS
@given(problem=conv_problems(), seed=st.integers(0, 2 ** 16))
def test_conv_impl_matches_the_definition(problem, seed):
    lhs, rhs, params = _operands(problem, seed)
    got = conv_general_dilated_p.impl(lhs, rhs, **params)
    expected = reference_conv(lhs, rhs, _out_shape(lhs, rhs, params), **params)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(problem=conv_problems(), seed=st.integers(0, 2 ** 16))
def test_conv_vjp_binds_match_the_definitions_adjoint(problem, seed):
    # The cotangents are conv_general_dilated binds with the batch as the feature axis, the strides as
    # dilations and the groups kept: the impl computes them as well as the forward.
    lhs, rhs, params = _operands(problem, seed)
    out_shape = _out_shape(lhs, rhs, params)
    ct = np.random.default_rng(seed + 1).standard_normal(out_shape)
    _, pullback = fgrad.vjp(lambda a, b: conv_general_dilated_p.bind(a, b, **params), lhs, rhs)
    got_lhs, got_rhs = pullback(ct)
    expected_lhs, expected_rhs = reference_conv_grads(ct, lhs, rhs, **params)
    np.testing.assert_allclose(got_lhs, expected_lhs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_rhs, expected_rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_conv_impl_chunks_of_examples_give_the_whole_batch(monkeypatch, dtype):
    # A chunk smaller than the batch (and one example per chunk): the whole batch's result, up to BLAS's
    # rounding of a product of another width.
    problem = ((7, 4, 9, 8), (6, 2, 3, 3), dict(window_strides=(2, 1), padding=((1, 2), (0, 1)),
                                                  lhs_dilation=(1, 1), rhs_dilation=(1, 2), feature_group_count=2))
    lhs, rhs, params = _operands(problem, 11, dtype)
    whole = conv_general_dilated_p.impl(lhs, rhs, **params)
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    for chunk_bytes in (1, 4 * 4 * 9 * 8 * 3 * lhs.itemsize):
        monkeypatch.setattr(conv_ops, "_CHUNK_BYTES", chunk_bytes)
        np.testing.assert_allclose(conv_general_dilated_p.impl(lhs, rhs, **params), whole, rtol=tolerance,
                                   atol=tolerance)
    assert whole.dtype == dtype and whole.flags.c_contiguous


def test_conv_impl_of_float32_rounds_once_per_product():
    # float32 in, float32 out, close to the float64 definition (BLAS sums in float32).
    problem = ((3, 4, 10, 10), (8, 4, 3, 3), dict(window_strides=(1, 1), padding=((1, 1), (1, 1)),
                                                  lhs_dilation=(1, 1), rhs_dilation=(1, 1), feature_group_count=1))
    lhs, rhs, params = _operands(problem, 2, np.float32)
    got = conv_general_dilated_p.impl(lhs, rhs, **params)
    expected = reference_conv(lhs.astype(np.float64), rhs.astype(np.float64), got.shape, **params)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool", "uint8"])
@pytest.mark.parametrize("shapes", [
    ((40, 130), (40, 130), (40, 130)), ((40, 130), (), (40, 130)), ((40, 130), (40, 130), ()),
    ((40, 130), (), ()), ((40, 1), (40, 130), (1, 130)), ((3,), (3,), (3,)),
    ((40, 130), "zero", (40, 130)), ((40, 130), (40, 130), "zero"), ((40, 1), "zero", (40, 130)),
    ((40, 130), "zero", (1, 130)),
], ids=["full", "scalar-true", "scalar-false", "both-scalars", "broadcast", "small", "zero-true", "zero-false",
        "zero-true-broadcast-pred", "zero-true-broadcast-false"])
def test_select_impl_gives_np_where_bits(dtype, shapes):
    # "zero": a 0-d zero, the cotangents' select(pred, 0, ct) (its own two-pass form).
    rng = np.random.default_rng(0)
    pred = rng.random(shapes[0]) < 0.5
    values = [np.zeros((), dtype) if s == "zero" else np.asarray(rng.standard_normal(s) * 4).astype(dtype)
              for s in shapes[1:]]
    got, expected = _select_impl(pred, *values), np.where(pred, *values)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_select_impl_keeps_nan_payloads_signed_zeros_and_infinities():
    specials = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45], np.float32)
    on_true = np.tile(specials, 1000)
    on_false = -on_true[::-1].copy()
    pred = np.arange(on_true.size) % 3 == 0
    assert _select_impl(pred, on_true, on_false).tobytes() == np.where(pred, on_true, on_false).tobytes()


JIT_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@JIT_SETTINGS
@given(problem=conv_problems(), seed=st.integers(0, 2 ** 16))
def test_jitted_conv_and_its_cotangents_match_the_definition(problem, seed):
    # The Numba emitter's helper (im2col per example and group, then np.dot) in the forward and in both
    # transposed convolutions. Few examples: each is a kernel to compile.
    lhs, rhs, params = _operands(problem, seed)
    out_shape = _out_shape(lhs, rhs, params)
    ct = np.random.default_rng(seed + 1).standard_normal(out_shape)

    def value_and_cotangents(a, b, c):
        out, pullback = fgrad.vjp(lambda x, w: conv_general_dilated_p.bind(x, w, **params), a, b)
        return (out,) + tuple(pullback(c))
    got = fgrad.jit(value_and_cotangents)(lhs, rhs, ct)
    expected = (reference_conv(lhs, rhs, out_shape, **params),) + reference_conv_grads(ct, lhs, rhs, **params)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), e, rtol=1e-12, atol=1e-12)


def test_jitted_float32_conv_uses_blas_columns():
    problem = ((2, 4, 6, 5), (6, 2, 3, 2), dict(window_strides=(2, 1), padding=((1, 0), (-1, 2)),
                                                lhs_dilation=(1, 2), rhs_dilation=(2, 1), feature_group_count=2))
    lhs, rhs, params = _operands(problem, 4, np.float32)
    f = fgrad.jit(lambda a, b: conv_general_dilated_p.bind(a, b, **params))
    got = np.asarray(f(lhs, rhs))
    expected = reference_conv(lhs.astype(np.float64), rhs.astype(np.float64), got.shape, **params)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert "np.dot(kernel[g], columns)" in f.lower(lhs, rhs).source
