"""Parity with PyTorch 2.13 for the breadth of torch's namespace (issue 13): torch.testing, finfo/iinfo and
the named-only dtypes, grids and pairs, shape helpers, searches, elementwise functions and reductions,
torch.special and torch.distributions. Each case is one program written against the PyTorch API, run with
torch and with fgrad's facade: values, dtypes, shapes, requires_grad, the inputs' gradients and exceptions
are compared (grad_fn names are not: these ops are compositions, so their node names are the parts')."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from tensor_parity import Raised, fg, run, with_grads

torch = pytest.importorskip("torch")


def _without_node_names(obs):
    if isinstance(obs, dict):
        return {k: _without_node_names(v) for k, v in obs.items() if k not in ("grad_fn", "graph")}
    if isinstance(obs, list):
        return [_without_node_names(v) for v in obs]
    return obs


def check(program, rtol=1e-5, atol=1e-6, messages=True):
    from tensor_parity import assert_same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, actual = run(program, torch), run(program, fg)
    assert_same(_without_node_names(expected), _without_node_names(actual), rtol, atol, messages)


RNG = np.random.default_rng(0)
A3 = RNG.standard_normal(3).round(3)
B4 = RNG.standard_normal(4).round(3)
M34 = RNG.standard_normal((3, 4)).round(3)
M33 = RNG.standard_normal((3, 3)).round(3)
T234 = RNG.standard_normal((2, 3, 4)).round(3)
P53 = RNG.standard_normal((5, 3)).round(3)
Q43 = RNG.standard_normal((4, 3)).round(3)


def f32(values, rg=True):
    return (values, "float32", rg)


def f64(values, rg=True):
    return (values, "float64", rg)


def i64(values):
    return (values, "int64", False)


# ---- torch.testing ---------------------------------------------------------------------------------------

def _closeness(actual, expected, **kwargs):
    def program(lib):
        def make(x):
            if isinstance(x, tuple) and x and x[0] == "t":
                return lib.tensor(x[1], dtype=getattr(lib, x[2]))
            if isinstance(x, list):
                return [make(v) for v in x]
            if isinstance(x, dict):
                return {k: make(v) for k, v in x.items()}
            return x
        lib.testing.assert_close(make(actual), make(expected), **kwargs)
        return "close"
    return program


def t(values, dtype="float32"):
    return ("t", values, dtype)


ASSERT_CLOSE_CASES = {
    "float_close": (t([1.0, 2.0]), t([1.0, 2.0 + 1e-6]), {}),
    "float_mismatch": (t([1.0, 2.0, 3.0]), t([1.0, 2.1, 3.0]), {}),
    "float64_mismatch": (t([1.0, 2.0, 3.0], "float64"), t([1.0, 2.1, 3.0], "float64"), {}),
    "int_mismatch": (t([1, 2, 3], "int64"), t([1, 5, 3], "int64"), {}),
    "bool_mismatch": (t([True], "bool"), t([False], "bool"), {}),
    "shape": (t([1.0, 2.0]), t([1.0, 2.0, 3.0]), {}),
    "dtype": (t([1.0, 2.0]), t([1.0, 2.0], "float64"), {}),
    "dtype_unchecked": (t([1.0, 2.0]), t([1.0, 2.0], "float64"), {"check_dtype": False}),
    "nan": (t([math.nan]), t([math.nan]), {}),
    "nan_equal": (t([math.nan]), t([math.nan]), {"equal_nan": True}),
    "inf_sign": (t([1.0, math.inf]), t([1.0, -math.inf]), {}),
    "zero_expected": (t([0.0, 2.0, 3.0]), t([1e-3, 0.0, 3.0]), {}),
    "matrix": (t([[1.0, 2.0], [3.0, 4.0]]), t([[1.0, 2.5], [3.0, 9.0]]), {}),
    "scalar_tensor": (t(1.0), t(2.0), {}),
    "python_floats": (1.0, 1.1, {}),
    "python_ints": (1, 2, {}),
    "tensor_vs_float": (t(1.0), 1.0, {}),
    "in_list": ([t(1.0)], [t(1.1)], {}),
    "in_dict": ({"a": t(1.0)}, {"a": t(1.1)}, {}),
    "tolerances": (t([1.0, 2.0]), t([1.0, 2.5]), {"rtol": 0.1, "atol": 0}),
    "rtol_without_atol": (t([1.0, 2.0]), t([1.0, 2.0]), {"rtol": 0.1}),
    "custom_msg": (t([1.0, 2.0]), t([1.0, 2.5]), {"msg": "custom"}),
    "int_vs_float": (1, 1.0, {}),
    "int_vs_float_numbers_differ": (2, 2.5, {"rtol": 0.1, "atol": 0.0}),
    "booleans": (True, False, {}),
    "nones": (None, None, {}),
    "strings": ("a", "a", {}),
    "tuple_vs_list": ((1.0, 2.0), [1.0, 2.0], {}),
    "lengths": ([1.0], [1.0, 2.0], {}),
    "nan_numbers": (math.nan, math.nan, {}),
    "nan_numbers_equal": (math.nan, math.nan, {"equal_nan": True}),
    "keys": ({"a": 1.0}, {"b": 1.0}, {}),
    "ints_vs_floats_unchecked": (t([1, 2], "int64"), t([1.0, 2.5]), {"check_dtype": False}),
    "empty": (t([]), t([]), {}),
    "int_scalar_tensors": (t(3, "int64"), t(4, "int64"), {}),
}


@pytest.mark.parametrize("name", list(ASSERT_CLOSE_CASES))
def test_assert_close(name):
    actual, expected, kwargs = ASSERT_CLOSE_CASES[name]
    # the class names differ (torch.Tensor, fgrad.facade._tensor.Tensor) in the one message that prints them
    check(_closeness(actual, expected, **kwargs), messages=name not in ("tensor_vs_float", "strings"))


def test_assert_close_tensor_vs_numpy_is_refused():
    with pytest.raises(TypeError, match="No comparison pair"):
        fg.testing.assert_close(fg.tensor([1.0]), np.array([1.0], np.float32))


def test_assert_close_numpy_arrays_and_callable_msg():
    def program(lib):
        lib.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1]), msg=lambda m: m.upper())
    check(program)


def test_assert_allclose_is_deprecated_and_looser():
    def program(lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.testing.assert_allclose(lib.tensor([1.0, 2.0]), lib.tensor([1.0, 2.0001]))
            result = [w.category.__name__ for w in caught]
        lib.testing.assert_allclose(lib.tensor([1.0, 2.0]), [1.0, 2.5])
        return result
    check(program)


# ---- dtypes and their limits -----------------------------------------------------------------------------

INFO_CASES = {
    "finfo_float32": lambda lib: lib.finfo(lib.float32),
    "finfo_default": lambda lib: lib.finfo(),
    "finfo_float64": lambda lib: lib.finfo(lib.float64),
    "finfo_float16": lambda lib: lib.finfo(lib.float16),
    "finfo_half": lambda lib: lib.finfo(lib.half),
    "finfo_bfloat16": lambda lib: lib.finfo(lib.bfloat16),
    "iinfo_int32": lambda lib: lib.iinfo(lib.int32),
    "iinfo_int64": lambda lib: lib.iinfo(lib.int64),
    "iinfo_int8": lambda lib: lib.iinfo(lib.int8),
    "iinfo_int16": lambda lib: lib.iinfo(lib.short),
    "iinfo_uint8": lambda lib: lib.iinfo(lib.uint8),
    "iinfo_of_float": lambda lib: lib.iinfo(lib.float32),
    "finfo_of_int": lambda lib: lib.finfo(lib.int32),
    "iinfo_of_bool": lambda lib: lib.iinfo(lib.bool),
}


@pytest.mark.parametrize("name", list(INFO_CASES))
def test_dtype_limits(name):
    def program(lib):
        info = INFO_CASES[name](lib)
        fields = [f for f in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")
                  if hasattr(info, f)]
        return {"repr": repr(info), **{f: getattr(info, f) for f in fields}}
    check(program, rtol=0, atol=0)


def test_named_only_dtypes_print_and_refuse_tensors():
    names = ["float16", "half", "bfloat16", "int8", "int16", "short", "complex64", "cfloat"]
    check(lambda lib: [repr(getattr(lib, n)) for n in names])
    check(lambda lib: [(getattr(lib, n).is_floating_point, getattr(lib, n).is_complex) for n in names])
    for make in (lambda: fg.zeros(3, dtype=fg.float16), lambda: fg.tensor([1.0]).to(fg.int8)):
        with pytest.raises(TypeError, match="fgrad tensors do not support torch.(float16|int8).*use one of those"):
            make()


# ---- grids, pairs, shapes, searches ------------------------------------------------------------------------

GRAD_CASES = {
    # name: (build(lib, *inputs), inputs)
    "meshgrid_ij": (lambda lib, x, y: lib.meshgrid(x, y, indexing="ij"), [f32(A3), f32(B4)]),
    "meshgrid_xy": (lambda lib, x, y: lib.meshgrid(x, y, indexing="xy"), [f32(A3), f32(B4)]),
    "meshgrid_xy_three": (lambda lib, x, y, z: lib.meshgrid([x, y, z], indexing="xy"), [f32(A3), f32(B4), f32(A3[:2])]),
    "meshgrid_default": (lambda lib, x, y: lib.meshgrid(x, y), [f32(A3), f32(B4)]),
    "cartesian_prod": (lambda lib, x, y: lib.cartesian_prod(x, y), [f32(A3), f32(B4)]),
    "cartesian_prod_one": (lambda lib, x: lib.cartesian_prod(x), [f32(A3)]),
    "combinations": (lambda lib, x: lib.combinations(x), [f32(B4)]),
    "combinations_r3_repl": (lambda lib, x: lib.combinations(x, 3, with_replacement=True), [f32(A3)]),
    "combinations_r0": (lambda lib, x: lib.combinations(x, 0), [f32(A3)]),
    "cdist_p2": (lambda lib, x, y: lib.cdist(x, y), [f32(P53), f32(Q43)]),
    "cdist_p1": (lambda lib, x, y: lib.cdist(x, y, p=1), [f32(P53), f32(Q43)]),
    "cdist_pinf": (lambda lib, x, y: lib.cdist(x, y, p=math.inf), [f64(P53), f64(Q43)]),
    "cdist_batched": (lambda lib, x, y: lib.cdist(x, y), [f64(T234), f64(T234[:, :2])]),
    "cdist_zero_distance": (lambda lib, x: lib.cdist(x, x), [f64(Q43)]),
    "cdist_columns_differ": (lambda lib, x, y: lib.cdist(x, y), [f32(P53), f32(M34)]),
    "diff": (lambda lib, x: lib.diff(x), [f32(B4)]),
    "diff_n2_dim0": (lambda lib, x: lib.diff(x, n=2, dim=0), [f32(M34)]),
    "diff_prepend_append": (lambda lib, x, p: lib.diff(x, dim=1, prepend=p, append=p), [f32(M34), f32(M34[:, :1])]),
    "diff_int": (lambda lib, x: lib.diff(x), [i64([1, 3, 6, 10])]),
    "diff_bool": (lambda lib: lib.diff(lib.tensor([True, False, False, True])), []),
    "kron": (lambda lib, x, y: lib.kron(x, y), [f32(M33[:2, :2]), f32(M34)]),
    "kron_mixed_ndim": (lambda lib, x, y: lib.kron(x, y), [f32(A3), f32(M34)]),
    "cross_dim": (lambda lib, x, y: lib.cross(x, y, dim=1), [f32(P53), f32(P53[::-1].copy())]),
    "cross_default_dim": (lambda lib, x, y: lib.cross(x, y), [f32(M34.T.copy()[:3]), f32(M33)]),
    "cross_broadcast": (lambda lib, x, y: lib.cross(x, y, dim=-1), [f32(P53), f32(A3)]),
    "cross_wrong_size": (lambda lib, x, y: lib.cross(x, y, dim=1), [f32(M34), f32(M34)]),
    "tensordot_int": (lambda lib, x, y: lib.tensordot(x, y, dims=1), [f32(M34), f32(M34.T.copy())]),
    "tensordot_lists": (lambda lib, x, y: lib.tensordot(x, y, dims=([1, 0], [0, 1])), [f32(T234), f32(M34.T[:3, :2].copy())]),
    "tensordot_mismatch": (lambda lib, x, y: lib.tensordot(x, y, dims=([0], [0])), [f32(M34), f32(M34.T.copy())]),
    "diagonal": (lambda lib, x: lib.diagonal(x), [f32(M34)]),
    "diagonal_offsets": (lambda lib, x: (lib.diagonal(x, 1), lib.diagonal(x, -1), lib.diagonal(x, 5)), [f32(M34)]),
    "diagonal_dims": (lambda lib, x: lib.diagonal(x, 1, 2, 0), [f32(T234)]),
    "diag_embed": (lambda lib, x: lib.diag_embed(x), [f32(M34)]),
    "diag_embed_offset_dims": (lambda lib, x: lib.diag_embed(x, -1, 0, 2), [f32(M34)]),
    "diag_embed_keeps_zeros_next_to_inf": (lambda lib, x: lib.diag_embed(x), [f32([1.0, math.inf, math.nan])]),
    "diagflat": (lambda lib, x: lib.diagflat(x, 1), [f32(M33[:2, :2])]),
    "atleast": (lambda lib, s, v, m: [lib.atleast_1d(s), lib.atleast_2d(v), lib.atleast_3d(v), lib.atleast_3d(m),
                                      *lib.atleast_2d(s, v)], [f32(1.5), f32(A3), f32(M34)]),
    "column_stack": (lambda lib, x, m: lib.column_stack([x, m]), [f32(A3), f32(M34[:, :2].copy())]),
    "row_stack": (lambda lib, x, y: lib.row_stack((x, y)), [f32(B4), f32(M34)]),
    "dstack": (lambda lib, x, y: lib.dstack([x, y]), [f32(M34), f32(M34)]),
    "hsplit": (lambda lib, x: lib.hsplit(x, 2), [f32(M34)]),
    "hsplit_indices": (lambda lib, x: lib.hsplit(x, [1, 3]), [f32(M34)]),
    "hsplit_1d": (lambda lib, x: lib.hsplit(x, [2]), [f32(B4)]),
    "hsplit_indivisible": (lambda lib, x: lib.hsplit(x, 3), [f32(M34)]),
    "vsplit": (lambda lib, x: lib.vsplit(x, 3), [f32(M34)]),
    "dsplit": (lambda lib, x: lib.dsplit(x, [1, 2]), [f32(T234)]),
    "fliplr_flipud": (lambda lib, x: (lib.fliplr(x), lib.flipud(x)), [f32(M34)]),
    "rot90": (lambda lib, x: [lib.rot90(x, k) for k in (1, 2, 3, 4, -1)], [f32(M34)]),
    "rot90_dims": (lambda lib, x: lib.rot90(x, 1, [2, 0]), [f32(T234)]),
    "repeat_interleave": (lambda lib, x: lib.repeat_interleave(x, 2), [f32(M34)]),
    "repeat_interleave_dim": (lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 0, 3]), dim=0), [f32(M34)]),
    "repeat_interleave_counts": (lambda lib: lib.repeat_interleave(lib.tensor([2, 0, 1])), []),
    "select": (lambda lib, x: (lib.select(x, 1, 2), lib.select(x, -1, -1)), [f32(T234)]),
    "select_out_of_range": (lambda lib, x: lib.select(x, 0, 5), [f32(M34)]),
    "argwhere": (lambda lib, x: lib.argwhere(x > 0), [f32(M34, False)]),
    "masked_select": (lambda lib, x: lib.masked_select(x, x > 0), [f32(M34)]),
    "masked_select_broadcast": (lambda lib, x: lib.masked_select(x, lib.tensor([True, False, True, True])), [f32(M34)]),
    "isin": (lambda lib, x: (lib.isin(x, lib.tensor([1, 3])), lib.isin(x, lib.tensor([1, 3]), invert=True)),
             [i64([[1, 2], [3, 4]])]),
    "searchsorted": (lambda lib, s, v: (lib.searchsorted(s, v), lib.searchsorted(s, v, right=True),
                                        lib.searchsorted(s, v, side="right", out_int32=True)),
                     [i64([1, 3, 5, 7]), i64([[3, 6], [9, 0]])]),
    "searchsorted_rows": (lambda lib, s, v: lib.searchsorted(s, v), [f32(np.sort(M34, 1), False), f32(M34[:, :2] * 2, False)]),
    "bucketize": (lambda lib, v, b: (lib.bucketize(v, b), lib.bucketize(v, b, right=True)),
                  [i64([[3, 6], [9, 1]]), i64([1, 3, 5, 7])]),
    "unique_consecutive": (lambda lib, x: lib.unique_consecutive(x, return_inverse=True, return_counts=True),
                           [i64([1, 1, 2, 2, 3, 1, 1, 2])]),
    "unique_consecutive_dim": (lambda lib, x: lib.unique_consecutive(x, return_counts=True, dim=0),
                               [i64([[1, 2], [1, 2], [3, 4], [1, 2]])]),
    "tril_triu_indices": (lambda lib: (lib.tril_indices(3, 4), lib.tril_indices(4, 3, -1), lib.triu_indices(3, 4, 1),
                                       lib.triu_indices(3, 3, dtype=lib.int32)), []),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_values_and_grads(name):
    build, inputs = GRAD_CASES[name]
    check(with_grads(build, *inputs))


# ---- elementwise functions and reductions ---------------------------------------------------------------

PROBS = [0.1, 0.5, 0.75, 0.999]
WITH_NAN = [1.0, math.nan, -2.0, math.inf, -math.inf, 0.5]
MATH_CASES = {
    "sgn": (lambda lib, x: lib.sgn(x), [f32([-1.5, 0.0, 2.0], False)]),   # PyTorch's gradient is a ZeroTensor
    "heaviside": (lambda lib, x: lib.heaviside(x, lib.tensor([0.5])), [f32([-1.5, 0.0, 2.0, math.nan], False)]),
    "heaviside_dtypes": (lambda lib, x: lib.heaviside(x, lib.tensor([1])), [f32([-1.5, 0.0], False)]),
    "logit": (lambda lib, x: lib.logit(x), [f32(PROBS)]),
    "logit_eps": (lambda lib, x: lib.logit(x, eps=0.2), [f64(PROBS + [0.0, 1.0])]),
    "logit_int": (lambda lib: lib.logit(lib.tensor([0, 1])), []),
    "xlogy": (lambda lib, x, y: lib.xlogy(x, y), [f32([0.0, 2.0, 0.0, 1.5, 0.0]), f32([1.0, 3.0, math.nan, 0.5, 2.0])]),
    "xlogy_x_zero_y_edges": (lambda lib, x, y: lib.xlogy(x, y), [f32([0.0, 0.0]), f32([-1.0, 0.0], False)]),
    "xlogy_zeros": (lambda lib, x, y: lib.xlogy(x, y), [f32([0.0], False), f32([0.0], False)]),
    "xlogy_scalar": (lambda lib, x: (lib.xlogy(x, 2.0), lib.xlogy(2.0, x)), [f32([0.5, 2.0])]),
    "logaddexp": (lambda lib, x, y: lib.logaddexp(x, y), [f32(A3), f32(A3[::-1].copy())]),
    "logaddexp_ties_and_infs": (lambda lib, x, y: lib.logaddexp(x, y),
                                [f64([1.0, 100.0]), f64([1.0, -100.0])]),
    "logaddexp_infs": (lambda lib, x, y: lib.logaddexp(x, y),     # values only: PyTorch's gradient is nan here
                       [f64([-math.inf, math.inf, 1.0], False), f64([-math.inf, math.inf, -math.inf], False)]),
    "logaddexp2": (lambda lib, x, y: lib.logaddexp2(x, y), [f32(A3), f32(B4[:3])]),
    "nan_to_num": (lambda lib, x: (lib.nan_to_num(x), lib.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0)),
                   [f32(WITH_NAN)]),
    "erf_erfc": (lambda lib, x: (lib.erf(x), lib.erfc(x)), [f64([-2.0, 0.0, 0.5, 5.0, 9.0])]),
    "erfc_float32_tail": (lambda lib, x: lib.erfc(x), [f32([3.0, 5.0, 9.0])]),
    "erf_int": (lambda lib: lib.erf(lib.tensor([0, 1])), []),
    "nansum": (lambda lib, x: (lib.nansum(x), lib.nansum(x, 1), lib.nansum(x, dim=0, keepdim=True)),
               [f32([[1.0, math.nan, 2.0], [math.nan, 3.0, 4.0]])]),
    "nanmean": (lambda lib, x: (lib.nanmean(x), lib.nanmean(x, 1)), [f32([[1.0, math.nan, 2.0], [math.nan, math.nan, 4.0]])]),
    "nanmean_all_nan": (lambda lib, x: lib.nanmean(x, 0), [f64([[math.nan, 1.0], [math.nan, 2.0]], False)]),
    "nanmean_int": (lambda lib: lib.nanmean(lib.tensor([1, 2])), []),
    "quantile_bad_q_tensor": (lambda lib, x: lib.quantile(x, lib.tensor([0.5, 1.5])), [f32(M34)]),
    "cummax": (lambda lib, x: tuple(lib.cummax(x, 1)), [f32([[1.0, 3.0, 2.0, 3.0, 0.0], [5.0, 1.0, 6.0, 6.0, 2.0]])]),
    "cummin_nan": (lambda lib, x: tuple(lib.cummin(x, 0)), [f32([2.0, 1.0, math.nan, 0.0, 1.0])]),
    "cummax_int": (lambda lib, x: tuple(lib.cummax(x, 0)), [i64([1, 3, 2, 5])]),
    "logcumsumexp": (lambda lib, x: lib.logcumsumexp(x, 1), [f32(M34 * 30)]),
    "logcumsumexp_neg_inf": (lambda lib, x: lib.logcumsumexp(x, 0), [f64([-math.inf, -math.inf, 0.0])]),
    "kthvalue": (lambda lib, x: tuple(lib.kthvalue(x, 2)), [f32(M34)]),
    "kthvalue_dim0_keepdim": (lambda lib, x: tuple(lib.kthvalue(x, 3, 0, True)), [f32(M34)]),
    "kthvalue_out_of_range": (lambda lib, x: lib.kthvalue(x, 5), [f32(M34)]),
    "quantile_all": (lambda lib, x: lib.quantile(x, 0.3), [f32(M34)]),
    "quantile_dim_q_tensor": (lambda lib, x: lib.quantile(x, lib.tensor([0.0, 0.25, 0.5, 1.0], dtype=lib.float64), dim=1,
                                                          keepdim=True), [f64(M34)]),
    "quantile_modes": (lambda lib, x: [lib.quantile(x, 0.4, dim=0, interpolation=m)
                                       for m in ("linear", "lower", "higher", "midpoint", "nearest")], [f32(M34)]),
    "quantile_nan": (lambda lib, x: (lib.quantile(x, 0.5, dim=1), lib.nanquantile(x, 0.5, dim=1),
                                     lib.nanquantile(x, lib.tensor([0.1, 0.9]), dim=1)),
                     [f32([[1.0, math.nan, 3.0], [4.0, 5.0, 6.0], [math.nan, math.nan, math.nan]])]),
    "quantile_bad_q": (lambda lib, x: lib.quantile(x, 1.5), [f32(M34)]),
    "quantile_int": (lambda lib: lib.quantile(lib.tensor([1, 2]), 0.5), []),
    "msort": (lambda lib, x: lib.msort(x), [f32(M34)]),
    "cov": (lambda lib, x: lib.cov(x), [f32(M34)]),
    "cov_1d_correction0": (lambda lib, x: lib.cov(x, correction=0), [f64(B4)]),
    "cov_weights": (lambda lib, x: lib.cov(x, fweights=lib.tensor([1, 2, 1, 3]), aweights=lib.tensor([0.5, 1.0, 2.0, 1.0])),
                    [f64(M34)]),
    "corrcoef": (lambda lib, x: lib.corrcoef(x), [f64(M34)]),
    "histc": (lambda lib, x: (lib.histc(x, bins=4), lib.histc(x, bins=5, min=-1, max=1)), [f32(M34, False)]),
    "histc_int": (lambda lib: lib.histc(lib.tensor([1, 2])), []),
}


@pytest.mark.parametrize("name", list(MATH_CASES))
def test_math_values_and_grads(name):
    build, inputs = MATH_CASES[name]
    check(with_grads(build, *inputs))


# ---- torch.special and the Tensor methods ---------------------------------------------------------------

SPECIAL_CASES = {
    "expit": (lambda lib, x: lib.special.expit(x), [f32(A3)]),
    "logit": (lambda lib, x: lib.special.logit(x, eps=1e-3), [f32(PROBS)]),
    "erf_erfc": (lambda lib, x: (lib.special.erf(x), lib.special.erfc(x)), [f32(A3)]),
    "ndtr": (lambda lib, x: lib.special.ndtr(x), [f64([-10.0, -1.0, 0.0, 2.0])]),
    "log_ndtr": (lambda lib, x: lib.special.log_ndtr(x), [f64([-3.0, 0.0, 2.0])]),
    "xlogy_xlog1py": (lambda lib, x, y: (lib.special.xlogy(x, y), lib.special.xlog1py(x, y)),
                      [f32([0.0, 2.0, 1.5, 0.0, 0.0]), f32([1.0, 3.0, 0.5, -1.5, -2.0])]),  # (0, -1): PyTorch 0 / 0
    "entr": (lambda lib, x: lib.special.entr(x), [f32([0.5, 2.0, 1e-3])]),
    "entr_edges": (lambda lib, x: lib.special.entr(x), [f32([0.0, -1.0, math.nan], False)]),
    "sinc": (lambda lib, x: (lib.special.sinc(x), lib.sinc(x)), [f64([0.0, 0.5, -1.25, 3.0])]),
    "softmaxes": (lambda lib, x: (lib.special.softmax(x, 1), lib.special.log_softmax(x, 0),
                                  lib.special.logsumexp(x, 1)), [f32(M34)]),
    "log1p_expm1_exp2_round": (lambda lib, x: (lib.special.log1p(x.abs()), lib.special.expm1(x), lib.special.exp2(x),
                                               lib.special.round(x.detach())), [f32(A3)]),
}


@pytest.mark.parametrize("name", list(SPECIAL_CASES))
def test_special(name):
    build, inputs = SPECIAL_CASES[name]
    check(with_grads(build, *inputs))


METHOD_CASES = {
    "shapes": (lambda lib, x: [x.diff(), x.diagonal(1), x.fliplr(), x.flipud(), x.rot90(), x.repeat_interleave(2),
                               x.select(0, 1), x.masked_select(x > 0), x.diag_embed(), *x.hsplit(2), *x.vsplit(3)],
               [f32(M34)]),
    "math": (lambda lib, x: [x.logit(), x.xlogy(x), x.logaddexp(x), x.nan_to_num(), x.erf(), x.erfc(), x.nansum(),
                             x.nanmean(), x.cummax(0).values, x.cummin(1).values, x.logcumsumexp(1),
                             x.kthvalue(2).values, x.quantile(0.5), x.nanquantile(0.25), x.msort(), x.cov(),
                             x.corrcoef(), x.sinc(), x.sgn().detach(), x.histc(3).detach()],
             [f64(np.abs(M34) / 4)]),
}


@pytest.mark.parametrize("name", list(METHOD_CASES))
def test_tensor_methods(name):
    build, inputs = METHOD_CASES[name]
    check(with_grads(build, *inputs))


def test_submodules_import_as_torch_does():
    import fgrad
    import fgrad.special
    import fgrad.testing
    assert fgrad.special is fg.special and fgrad.testing is fg.testing


# ---- torch.distributions -----------------------------------------------------------------------------------

def _seeded(draw, seed=0):
    def program(lib):
        lib.manual_seed(seed)
        return draw(lib, lib.distributions)
    return program


SAMPLING_CASES = {
    "normal_numbers": lambda lib, D: D.Normal(0.0, 1.0).sample((3,)),
    "normal_block_sizes": lambda lib, D: [D.Normal(lib.tensor([0.0, 1.0]), lib.tensor([1.0, 2.0])).sample((n,))
                                          for n in (1, 7, 8, 20)],
    "normal_float64": lambda lib, D: D.Normal(lib.zeros(3, dtype=lib.float64), 2.0).sample((5,)),
    "normal_rsample": lambda lib, D: D.Normal(0.0, 1.0).rsample((17,)),
    "uniform": lambda lib, D: D.Uniform(lib.tensor([0.0, -1.0]), lib.tensor([2.0, 1.0])).sample((4,)),
    "bernoulli_number": lambda lib, D: D.Bernoulli(0.3).sample((6,)),
    "bernoulli_probs": lambda lib, D: D.Bernoulli(lib.tensor([0.2, 0.9])).sample((3,)),
    "bernoulli_logits": lambda lib, D: D.Bernoulli(logits=lib.tensor([-1.0, 2.0])).sample((4,)),
    "categorical": lambda lib, D: D.Categorical(lib.tensor([0.2, 0.5, 0.3])).sample((8,)),
    "categorical_batch_logits": lambda lib, D: D.Categorical(logits=lib.tensor([[0.2, 0.5, 0.3], [1.0, 2.0, 3.0]]))
    .sample((4,)),
    "categorical_one": lambda lib, D: D.Categorical(lib.tensor([0.2, 0.8])).sample(),
    "exponential": lambda lib, D: D.Exponential(lib.tensor([2.0])).sample((3,)),
    "laplace": lambda lib, D: D.Laplace(lib.tensor([0.0, 1.0]), lib.tensor([1.0, 0.5])).sample((9,)),
    "lognormal": lambda lib, D: D.LogNormal(0.0, 0.5).sample((18,)),
    "one_hot_categorical": lambda lib, D: D.OneHotCategorical(lib.tensor([0.2, 0.5, 0.3])).sample((5,)),
    "interleaved": lambda lib, D: [D.Normal(0.0, 1.0).sample((2,)), D.Uniform(0.0, 1.0).sample((2,)),
                                   D.Normal(0.0, 1.0).sample((2,))],
}


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("name", list(SAMPLING_CASES))
def test_distribution_samples_are_pytorchs(name, seed):
    # the draws are PyTorch's bit for bit; Laplace's log1p and LogNormal's exp of them are numpy's, which can
    # round differently from PyTorch's vectorised ones (1 ulp)
    rtol = 2e-7 if name in ("laplace", "lognormal") else 0
    check(_seeded(SAMPLING_CASES[name], seed), rtol=rtol, atol=0)


def _dist(build):
    """A program over parameters with gradients: build(lib, D, *params) -> observations."""
    return lambda *inputs: with_grads(lambda lib, *ts: build(lib, lib.distributions, *ts), *inputs)


LOC, SCALE = [0.5, -1.0, 2.0], [1.0, 0.5, 2.0]
DIST_CASES = {
    "normal_stats": (lambda lib, D, m, s: (D.Normal(m, s).mean, D.Normal(m, s).stddev, D.Normal(m, s).variance,
                                           D.Normal(m, s).entropy(), D.Normal(m, s).mode), [f32(LOC), f32(SCALE)]),
    "normal_log_prob_cdf": (lambda lib, D, m, s: (D.Normal(m, s).log_prob(lib.tensor([0.0, 1.0, 2.0])),
                                                  D.Normal(m, s).cdf(lib.tensor([0.0, 1.0, 2.0]))),
                            [f32(LOC), f32(SCALE)]),
    "normal_rsample_grads": (lambda lib, D, m, s: (lib.manual_seed(3), D.Normal(m, s).rsample((4,)))[1],
                             [f32(LOC), f32(SCALE)]),
    "normal_sample_no_grad": (lambda lib, D, m, s: (lib.manual_seed(3), D.Normal(m, s).sample((2,)))[1],
                              [f32(LOC), f32(SCALE)]),
    "kl_normal": (lambda lib, D, m, s: D.kl_divergence(D.Normal(m, s), D.Normal(lib.tensor(0.0), lib.tensor(1.5))),
                  [f32(LOC), f32(SCALE)]),
    "uniform": (lambda lib, D, lo, hi: (D.Uniform(lo, hi).mean, D.Uniform(lo, hi).stddev, D.Uniform(lo, hi).entropy(),
                                        D.Uniform(lo, hi).log_prob(lib.tensor([0.0, 0.0, 0.0])),
                                        D.Uniform(lo, hi).cdf(lib.tensor([0.0, 0.0, 0.0])),
                                        (lib.manual_seed(1), D.Uniform(lo, hi).rsample((2,)))[1]),
                [f32([-1.0, -0.5, -3.0]), f32([1.0, 2.0, 0.5])]),
    "kl_uniform": (lambda lib, D, lo, hi: D.kl_divergence(D.Uniform(lo, hi), D.Uniform(-5.0, 5.0)),
                   [f32([-1.0, -0.5]), f32([1.0, 2.0])]),
    "bernoulli_probs": (lambda lib, D, p: (D.Bernoulli(p).logits, D.Bernoulli(p).mean, D.Bernoulli(p).variance,
                                           D.Bernoulli(p).entropy(), D.Bernoulli(p).log_prob(lib.tensor([1.0, 0.0, 1.0])),
                                           D.Bernoulli(p).mode), [f32([0.2, 0.5, 0.9])]),
    "bernoulli_logits": (lambda lib, D, l: (D.Bernoulli(logits=l).probs, D.Bernoulli(logits=l).entropy(),
                                            D.Bernoulli(logits=l).log_prob(lib.tensor([1.0, 0.0, 1.0]))),
                         [f32([-2.0, 0.0, 3.0])]),
    "kl_bernoulli": (lambda lib, D, p: D.kl_divergence(D.Bernoulli(p), D.Bernoulli(lib.tensor([0.5, 0.1, 0.7]))),
                     [f32([0.2, 0.5, 0.9])]),
    "categorical_probs": (lambda lib, D, p: (D.Categorical(p).probs, D.Categorical(p).logits, D.Categorical(p).entropy(),
                                             D.Categorical(p).log_prob(lib.tensor([0, 2])), D.Categorical(p).mean,
                                             D.Categorical(p).mode, D.Categorical(p).enumerate_support()),
                          [f32([[1.0, 2.0, 1.0], [0.5, 0.25, 0.25]])]),
    "categorical_logits": (lambda lib, D, l: (D.Categorical(logits=l).probs, D.Categorical(logits=l).entropy(),
                                              D.Categorical(logits=l).log_prob(lib.tensor([[1], [2]]))),
                           [f32([[1.0, 2.0, -1.0], [0.5, 0.25, 3.0]])]),
    "kl_categorical": (lambda lib, D, l: D.kl_divergence(D.Categorical(logits=l), D.Categorical(lib.tensor([0.2, 0.3, 0.5]))),
                       [f32([[1.0, 2.0, -1.0], [0.5, 0.25, 3.0]])]),
    "exponential": (lambda lib, D, r: (D.Exponential(r).mean, D.Exponential(r).variance, D.Exponential(r).entropy(),
                                       D.Exponential(r).log_prob(lib.tensor([0.5, 2.0])), D.Exponential(r).cdf(lib.tensor([0.5, 2.0])),
                                       D.kl_divergence(D.Exponential(r), D.Exponential(lib.tensor(1.5))),
                                       (lib.manual_seed(2), D.Exponential(r).rsample((3,)))[1]),
                    [f32([0.5, 2.0])]),
    "independent": (lambda lib, D, m, s: (lambda d: (d.log_prob(lib.zeros(2, 3)), d.entropy(), d.mean, d.variance,
                                                     tuple(d.batch_shape), tuple(d.event_shape), repr(d),
                                                     (lib.manual_seed(4), d.rsample((2,)))[1],
                                                     D.kl_divergence(d, D.Independent(D.Normal(lib.zeros(2, 3), 1.0), 1))))(
        D.Independent(D.Normal(m, s), 1)), [f32(np.stack([LOC, LOC[::-1]])), f32(np.stack([SCALE, SCALE]))]),
    "independent_too_many_dims": (lambda lib, D: D.Independent(D.Normal(lib.zeros(2), 1.0), 2), []),
    "lognormal": (lambda lib, D, m, s: (lambda d: (d.log_prob(lib.tensor([0.5, 1.0, 2.0])), d.entropy(), d.mean, d.mode,
                                                   d.variance, repr(d),
                                                   (lib.manual_seed(5), d.rsample((2,)))[1]))(D.LogNormal(m, s)),
                  [f32(LOC), f32(SCALE)]),
    "laplace": (lambda lib, D, m, s: (lambda d: (d.log_prob(lib.tensor([0.5, 1.0, 2.0])), d.cdf(lib.tensor([0.5, 1.0, 2.0])),
                                                 d.entropy(), d.mean, d.stddev, d.variance,
                                                 (lib.manual_seed(5), d.rsample((2,)))[1]))(D.Laplace(m, s)),
                [f32(LOC), f32(SCALE)]),
    "one_hot_categorical": (lambda lib, D, l: (lambda d: (d.log_prob(lib.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])),
                                                          d.entropy(), d.mean, d.variance, d.mode,
                                                          tuple(d.batch_shape), tuple(d.event_shape)))(
        D.OneHotCategorical(logits=l)), [f32([[1.0, 2.0, -1.0], [0.5, 0.25, 3.0]])]),
    "shapes_and_reprs": (lambda lib, D: [repr(d) for d in (D.Normal(0.0, 1.0), D.Bernoulli(0.3), D.Categorical(lib.ones(3)),
                                                           D.Uniform(lib.zeros(2), 1.0))]
                         + [tuple(d.batch_shape) + tuple(d.event_shape) for d in (D.Normal(lib.zeros(2, 3), 1.0),
                                                                                  D.Categorical(lib.ones(4, 5)))], []),
}


@pytest.mark.parametrize("name", list(DIST_CASES))
def test_distributions(name):
    build, inputs = DIST_CASES[name]
    check(_dist(build)(*inputs))


DIST_ERRORS = {
    "negative_scale": lambda lib, D: D.Normal(0.0, -1.0),
    "log_prob_of_number": lambda lib, D: D.Normal(0.0, 1.0).log_prob(1.0),
    "outside_boolean_support": lambda lib, D: D.Bernoulli(0.3).log_prob(lib.tensor(0.5)),
    "outside_interval": lambda lib, D: D.Uniform(0.0, 1.0).log_prob(lib.tensor(2.0)),
    "low_not_below_high": lambda lib, D: D.Uniform(1.0, 1.0),
    "neither_probs_nor_logits": lambda lib, D: D.Bernoulli(),
    "probs_and_logits": lambda lib, D: D.Categorical(lib.ones(2), lib.ones(2)),
    "categorical_0d": lambda lib, D: D.Categorical(lib.tensor(1.0)),
    "bad_probs": lambda lib, D: D.Bernoulli(lib.tensor([1.5])),
    "not_broadcastable": lambda lib, D: D.Normal(lib.zeros(3), 1.0).log_prob(lib.zeros(2)),
    "unvalidated": lambda lib, D: D.Normal(0.0, -1.0, validate_args=False).scale,
}


@pytest.mark.parametrize("name", list(DIST_ERRORS))
def test_distribution_errors(name):
    check(lambda lib: DIST_ERRORS[name](lib, lib.distributions))


def test_kl_between_unregistered_types_is_not_implemented():
    D = fg.distributions
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(0.3))


def test_distributions_import_as_torch_does():
    import fgrad.distributions
    from fgrad.distributions import Normal, constraints  # noqa: F401
    assert fgrad.distributions is fg.distributions and Normal is fg.distributions.Normal


# ---- more of the namespace: products, integration, elementwise odds and ends ----------------------------------

B234 = RNG.standard_normal((2, 3, 4)).round(3)
B243 = RNG.standard_normal((2, 4, 3)).round(3)
MORE_CASES = {
    "addmv": (lambda lib, i, m, v: (lib.addmv(i, m, v), lib.addmv(i, m, v, beta=0.5, alpha=2.0)),
              [f32(A3), f32(M34), f32(B4)]),
    "addmv_beta0_ignores_nan": (lambda lib, m, v: lib.addmv(lib.tensor([math.nan, 1.0, 2.0]), m, v, beta=0),
                                [f32(M34), f32(B4)]),
    "addr": (lambda lib, i, a, b: lib.addr(i, a, b, alpha=3), [f32(M34), f32(A3), f32(B4)]),
    "baddbmm": (lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=2.0), [f32(M33), f32(B234), f32(B243)]),
    "addbmm": (lambda lib, i, a, b: lib.addbmm(i, a, b), [f32(M33), f32(B234), f32(B243)]),
    "vdot_dist": (lambda lib, a, b: (lib.vdot(a, b), lib.dist(a, b), lib.dist(a, b, 1), lib.dist(a, b, math.inf)),
                  [f32(B4), f32(B4[::-1].copy())]),
    "block_diag": (lambda lib, a, b, c: lib.block_diag(a, b, c), [f32(M33[:2]), f32(A3), f32(2.0)]),
    "block_diag_mixed_dtypes": (lambda lib: lib.block_diag(lib.tensor([[1, 2]]), lib.tensor(3.5)), []),
    "vander": (lambda lib, x: (lib.vander(x), lib.vander(x, 2, increasing=True), lib.vander(x, 0)),
               [f32(A3, False)]),     # PyTorch 2.13's vander backward fails (its cumprod output is modified in place)
    "vander_int": (lambda lib: lib.vander(lib.tensor([1, 2, 3]), 4), []),
    "trapezoid": (lambda lib, y, x: (lib.trapezoid(y), lib.trapezoid(y, dx=0.5, dim=0), lib.trapezoid(y, x),
                                     lib.trapz(y, x, dim=-1)), [f32(M34), f32(np.sort(B4))]),
    "cumulative_trapezoid": (lambda lib, y, x: (lib.cumulative_trapezoid(y), lib.cumulative_trapezoid(y, x),
                                                lib.cumulative_trapezoid(y, dx=2.0, dim=0)), [f32(M34), f32(np.sort(B4))]),
    "renorm": (lambda lib, x: (lib.renorm(x, 2, 0, 1.0), lib.renorm(x, 1, 1, 1.5)), [f32(M34)]),
    "copysign": (lambda lib, x, y: lib.copysign(x, y), [f32([1.0, -2.0, 0.0, 3.0]), f32([-1.0, 2.0, -1.0, -0.0])]),
    "deg2rad_rad2deg": (lambda lib, x: (lib.deg2rad(x), lib.rad2deg(x)), [f32(A3)]),
    "fix_float_power": (lambda lib, x: (lib.fix(x.detach() * 3), lib.float_power(x, 2), lib.float_power(2, x)),
                        [f32(A3)]),
    "fmax_fmin": (lambda lib, x, y: (lib.fmax(x, y), lib.fmin(x, y)),
                  [f32([1.0, math.nan, 2.0, math.nan, 3.0]), f32([0.5, 1.0, math.nan, math.nan, 3.0])]),
    "integer_functions": (lambda lib: (lib.gcd(lib.tensor([12, 18]), lib.tensor([8, 27])),
                                       lib.lcm(lib.tensor([4, 6]), lib.tensor([6, 4])),
                                       lib.bitwise_left_shift(lib.tensor([1, 3]), lib.tensor([2, 1])),
                                       lib.bitwise_right_shift(lib.tensor([8, 7]), 1)), []),
    "gcd_of_floats": (lambda lib: lib.gcd(lib.tensor([1.5]), lib.tensor([2])), []),
    "sign_tests": (lambda lib, x: (lib.isposinf(x), lib.isneginf(x), lib.signbit(x), lib.positive(x)),
                   [f32([1.0, -math.inf, math.inf, -0.0, 0.0, math.nan])]),
    "positive_bool": (lambda lib: lib.positive(lib.tensor([True])), []),
    # values only: PyTorch 2.13's LdexpBackward0 computes 2 ** other in the int dtype (0 for negative exponents)
    "ldexp": (lambda lib, x: lib.ldexp(x, lib.tensor([1, 2, -1])), [f32(A3, False)]),
    "ldexp_grad": (lambda lib, x: lib.ldexp(x, lib.tensor([1, 2, 0])), [f32(A3)]),
    "aminmax": (lambda lib, x: (tuple(lib.aminmax(x)), tuple(lib.aminmax(x, dim=1, keepdim=True)),
                                lib.aminmax(x, dim=0).min), [f32(M34)]),
    "adjoint_ravel": (lambda lib, x: (lib.adjoint(x), lib.ravel(x)), [f32(T234)]),
    "unravel_index": (lambda lib: (lib.unravel_index(lib.tensor([5, 0, 7, -1]), (2, 3)),
                                   lib.unravel_index(lib.tensor(3), 4)), []),
    "scalar_tensor": (lambda lib: (lib.scalar_tensor(3), lib.scalar_tensor(2, dtype=lib.int64)), []),
}


@pytest.mark.parametrize("name", list(MORE_CASES))
def test_more_namespace(name):
    build, inputs = MORE_CASES[name]
    check(with_grads(build, *inputs))


# ---- argument forms and edge cases (values, dtypes, shapes, errors) -------------------------------------------

EDGE_CASES = [
    lambda lib: lib.searchsorted(s, 3.0),
    lambda lib: lib.searchsorted(s, lib.tensor(4.0)),
    lambda lib: lib.bucketize(4.0, s),
    lambda lib: lib.bucketize(lib.tensor([[1., 6.]]), s, out_int32=True).dtype,
    lambda lib: lib.diag_embed(lib.tensor([1., 2.]), offset=1),
    lambda lib: lib.diagonal(lib.ones(2, 3, 4), 0, -1, -2).shape,
    lambda lib: lib.tensordot(lib.ones(2, 3), lib.ones(3, 2), dims=([1], [0])),
    lambda lib: lib.tensordot(lib.ones(2, 3), lib.ones(2, 3), dims=0).shape,
    lambda lib: lib.cartesian_prod(lib.tensor([1, 2]), lib.tensor([3]), lib.tensor([4, 5])),
    lambda lib: lib.kron(lib.tensor([[1, 2], [3, 4]]), lib.tensor([[0, 1], [1, 0]])),
    lambda lib: lib.repeat_interleave(lib.tensor([[1, 2], [3, 4]]), lib.tensor([1, 2]), dim=1),
    lambda lib: lib.repeat_interleave(lib.tensor([1, 2]), lib.tensor([1])),  # one count for all
    lambda lib: lib.meshgrid(lib.tensor(1), lib.tensor([1, 2]), indexing="ij")[0].shape,
    lambda lib: lib.quantile(lib.tensor([[1., 2.], [3., 4.]]), lib.tensor([0.5]), dim=0, keepdim=True).shape,
    lambda lib: lib.quantile(lib.tensor([[1., 2.], [3., 4.]]), 0.5, keepdim=True).shape,
    lambda lib: lib.cov(lib.tensor([1., 2., 4.])),
    lambda lib: lib.cov(lib.tensor([[1., 2.]]), correction=2),
    lambda lib: lib.corrcoef(lib.tensor([[1., 2., 4.], [2., 1., 0.]])),
    lambda lib: lib.histc(lib.tensor([1., 2., 1.]), bins=4, min=0, max=3),
    lambda lib: lib.histc(lib.tensor([2., 2.]), bins=2),
    lambda lib: lib.nan_to_num(lib.tensor([float('inf'), -float('inf')], dtype=lib.float64)),
    lambda lib: lib.logcumsumexp(lib.tensor([1000., 1000.]), 0),
    lambda lib: lib.cummax(lib.tensor([[1., 3.], [2., 1.]]), dim=0),
    lambda lib: lib.unique_consecutive(lib.tensor([[1, 1], [2, 2]])),
    lambda lib: lib.atleast_2d(lib.tensor(1.), lib.tensor([2., 3.])),
    lambda lib: lib.column_stack([lib.tensor(1.), lib.tensor(2.)]),
    lambda lib: lib.hsplit(lib.arange(6.), 3),
    lambda lib: lib.dstack([lib.tensor([1, 2]), lib.tensor([3, 4])]).shape,
    lambda lib: lib.cross(lib.ones(2, 3), lib.ones(2, 3)),
    lambda lib: lib.xlogy(2, lib.tensor([1., 2.])),
    lambda lib: lib.special.xlogy(lib.tensor([1., 2.]), 3),
    lambda lib: lib.logit(lib.tensor([0.1, 0.9]), 0.2),
    lambda lib: lib.trapezoid(lib.tensor([1., 2., 3.]), lib.tensor([0., 1., 3.])),
    lambda lib: lib.vander(lib.tensor([1., 2.])),
    lambda lib: lib.block_diag(),
    lambda lib: lib.aminmax(lib.tensor([1, 5, 2])),
    lambda lib: lib.float_power(lib.tensor([2]), 2),
    lambda lib: lib.copysign(lib.tensor([1, 2]), -1),
    lambda lib: lib.fmax(lib.tensor([1, 5]), lib.tensor([3, 2])),
    lambda lib: lib.ldexp(lib.tensor([1.]), lib.tensor([3])),
    lambda lib: lib.deg2rad(lib.tensor([180])),
]


@pytest.mark.parametrize("index", range(len(EDGE_CASES)))
def test_edge_cases(index):
    check(lambda lib: EDGE_CASES[index](lib))


INPLACE_CASES = {
    "logit_": lambda lib: lib.tensor([0.25, 0.5]).logit_(),
    "nan_to_num_": lambda lib: lib.tensor([math.nan, math.inf, 1.0]).nan_to_num_(posinf=5.0),
    "erf_erfc_sinc": lambda lib: [lib.tensor([0.5]).erf_(), lib.tensor([0.5]).erfc_(), lib.tensor([0.5]).sinc_()],
    "copysign_": lambda lib: lib.tensor([1.0, 2.0]).copysign_(-1.0),
    "on_a_non_leaf": lambda lib: (lambda x: (x * 1).logit_().sum())(lib.tensor([0.25], requires_grad=True)),
    "on_a_leaf_requiring_grad": lambda lib: lib.tensor([0.25], requires_grad=True).logit_(),
    "float_result_into_int": lambda lib: lib.tensor([1, 2]).erf_(),
    "baddbmm_": lambda lib: lib.ones(2, 3, 3).baddbmm_(lib.ones(2, 3, 4), lib.ones(2, 4, 3), beta=2.0),
    "as_functions": lambda lib: [lib.logit_(lib.tensor([0.25])), lib.erf_(lib.tensor([0.5])),
                                 lib.nan_to_num_(lib.tensor([math.nan])), lib.fix_(lib.tensor([-1.5]))],
}


@pytest.mark.parametrize("name", list(INPLACE_CASES))
def test_inplace_methods(name):
    check(lambda lib: INPLACE_CASES[name](lib))


def test_numpy_argument_names():
    from fgrad.facade import _operands
    if not hasattr(_operands, "numpy_names"):
        pytest.skip("axis=/keepdims= come with the facade's argument conventions (_operands.numpy_names)")
    check(lambda lib: [lib.nansum(lib.ones(2, 3), axis=1, keepdims=True), lib.diff(lib.ones(2, 3), axis=0),
                       lib.quantile(lib.ones(2, 3), 0.5, axis=1), lib.ones(2, 3).cummax(axis=1).values])


def test_inplace_functions_exist_in_pytorch():
    from fgrad.facade import _more_methods
    assert all(hasattr(torch, name) for name in _more_methods.INPLACE_FUNCTIONS)
