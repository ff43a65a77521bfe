"""fgrad.backend.vecmath: accuracy against numpy and against exact values (mpmath), special values,
symmetries, vectorisation of a loop that calls the functions, independence from the caller's flags.

Every function is evaluated through one compiled loop per dtype (`apply_all`), so the file compiles
a handful of kernels in total.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

numba = pytest.importorskip("numba")
mpmath = pytest.importorskip("mpmath")

from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from fgrad.backend import vecmath as vm  # noqa: E402
from fgrad.backend.vecmath import (vcos, vcos_bounded, vexp, vexpm1, vlog, vlog1p, vlogistic,  # noqa: E402
                                   vsin, vsin_bounded, vtanh)

NAMES = ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "logistic", "sin_bounded", "cos_bounded")
DTYPES = (np.float64, np.float32)
DTYPE_IDS = ("f64", "f32")


def make_apply_all(**jit_options):
    @numba.njit(error_model="numpy", **jit_options)
    def apply_all(x, out):
        for i in numba.prange(x.size):
            v = x[i]
            out[0, i] = vexp(v)
            out[1, i] = vexpm1(v)
            out[2, i] = vlog(v)
            out[3, i] = vlog1p(v)
            out[4, i] = vsin(v)
            out[5, i] = vcos(v)
            out[6, i] = vtanh(v)
            out[7, i] = vlogistic(v)
            out[8, i] = vsin_bounded(v)
            out[9, i] = vcos_bounded(v)
    return apply_all


_apply_all = make_apply_all()


def evaluate(name, x):
    """vecmath's `name` at every element of the 1-d array x (through the shared compiled loop)."""
    x = np.ascontiguousarray(x)
    out = np.empty((len(NAMES), x.size), x.dtype)
    _apply_all(x, out)
    return out[NAMES.index(name)]


# ---- references ----------------------------------------------------------------------------------------

def _logistic(x):
    # The stable form (no overflow in exp), as the reference for float64.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


NUMPY = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos,
         "tanh": np.tanh, "logistic": _logistic, "sin_bounded": np.sin, "cos_bounded": np.cos}
MPMATH = {"exp": mpmath.exp, "expm1": mpmath.expm1, "log": mpmath.log, "log1p": mpmath.log1p,
          "sin": mpmath.sin, "cos": mpmath.cos, "tanh": mpmath.tanh,
          "logistic": lambda v: 1 / (1 + mpmath.exp(-v)), "sin_bounded": mpmath.sin, "cos_bounded": mpmath.cos}
SPECIAL = {  # (x, f(x)) at +-0, +-inf and the edges of the domain, exactly (pairs: 0.0 == -0.0 as dict keys)
    "exp": [(0.0, 1.0), (-0.0, 1.0), (np.inf, np.inf), (-np.inf, 0.0)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (np.inf, np.inf), (-np.inf, -1.0)],
    "log": [(0.0, -np.inf), (-0.0, -np.inf), (np.inf, np.inf), (-np.inf, np.nan), (-1.0, np.nan), (1.0, 0.0)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (np.inf, np.inf), (-np.inf, np.nan), (-1.0, -np.inf), (-2.0, np.nan)],
    "sin": [(0.0, 0.0), (-0.0, -0.0), (np.inf, np.nan), (-np.inf, np.nan)],
    "cos": [(0.0, 1.0), (-0.0, 1.0), (np.inf, np.nan), (-np.inf, np.nan)],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (np.inf, 1.0), (-np.inf, -1.0)],
    "logistic": [(0.0, 0.5), (-0.0, 0.5), (np.inf, 1.0), (-np.inf, 0.0)],
    "sin_bounded": [(0.0, 0.0), (-0.0, -0.0), (np.inf, np.nan), (-np.inf, np.nan), (1e9, np.nan), (3e38, np.nan)],
    "cos_bounded": [(0.0, 1.0), (-0.0, 1.0), (np.inf, np.nan), (-np.inf, np.nan), (-1e9, np.nan), (3e38, np.nan)],
}


def exact_ulp_error(name, x, got, dtype):
    """|got - f(x)| in units of the last place of f(x) (exact f from mpmath), for a finite x."""
    info = np.finfo(dtype)
    mpmath.mp.prec = 1200 if abs(x) > 1e6 else 200      # sin/cos of huge x need the extra bits
    v = MPMATH[name](mpmath.mpf(float(x)))
    if isinstance(v, mpmath.mpc):                       # log of a negative number
        return 0.0 if np.isnan(got) else np.inf
    if not mpmath.isfinite(v) or abs(v) > float(info.max) * (1 + float(info.eps) / 2):
        return 0.0 if np.isinf(got) and np.sign(got) == mpmath.sign(v) else np.inf
    if not np.isfinite(got):
        return np.inf
    exponent = max(int(mpmath.floor(mpmath.log(abs(v), 2))) if v != 0 else info.minexp, info.minexp)
    ulp = mpmath.mpf(2) ** (exponent - info.nmant)
    return float(abs(mpmath.mpf(float(got)) - v) / ulp)


def ulp_distance(got, ref, dtype):
    """Elementwise |got - ref| in ulps of ref (0 where both are the same inf or both NaN)."""
    got64, ref64 = got.astype(np.float64), ref.astype(np.float64)
    same = (got64 == ref64) | (np.isnan(got64) & np.isnan(ref64))
    spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        dist = np.abs(got64 - ref64) / np.maximum(spacing, float(np.finfo(dtype).smallest_subnormal))
    return np.where(same, 0.0, np.where(np.isnan(dist), np.inf, dist))


def dense_samples(name, dtype, rng):
    """A dense grid over the function's whole finite domain, plus random points where it is interesting."""
    info = np.finfo(dtype)
    top = np.log10(float(info.max)) - 1e-9
    magnitudes = 10.0 ** np.linspace(np.log10(float(info.smallest_subnormal)), top, 40001)
    grid = np.concatenate([magnitudes, -magnitudes, np.linspace(-20, 20, 40001)])
    core = {"exp": (-750, 710), "expm1": (-50, 710), "log": (0, 4), "log1p": (-1, 3), "tanh": (-25, 25),
            "logistic": (-750, 50), "sin": (-1e3, 1e3), "cos": (-1e3, 1e3),
            "sin_bounded": (-1.6e6, 1.6e6), "cos_bounded": (-1.6e6, 1.6e6)}[name]
    lo, hi = core
    with np.errstate(over="ignore"):
        x = np.concatenate([grid, rng.uniform(lo, hi, 100000), rng.uniform(-3, 3, 50000)]).astype(dtype)
    return x[np.isfinite(x)]


def inside_bound(name, x, dtype):
    """Where a `*_bounded` function promises a value (it returns NaN elsewhere); all True otherwise."""
    if not name.endswith("_bounded"):
        return np.ones(x.shape, bool)
    return np.abs(x.astype(np.float64)) < (1647099.0 if dtype == np.float64 else 421657428.0)


def reference(name, x, dtype):
    """numpy's value; for float32 inputs numpy's float64 value rounded (so it is nearly exact)."""
    with np.errstate(all="ignore"):
        if dtype == np.float32:
            return NUMPY[name](x.astype(np.float64)).astype(np.float32)
        return NUMPY[name](x)


# ---- accuracy -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_numpy_on_dense_samples_of_the_domain(name, dtype):
    x = dense_samples(name, dtype, np.random.default_rng(7))
    got, ref = evaluate(name, x), reference(name, x, dtype)
    inside = inside_bound(name, x, dtype)
    assert np.all(np.isnan(got[~inside]))       # NaN beyond the bound, by contract
    got, ref = got[inside], ref[inside]
    dist = ulp_distance(got, ref, dtype)
    # numpy's own float64 functions are within ~1 ulp; the float64 logistic reference within ~2.
    allowed = 2.0 if (name == "logistic" and dtype == np.float64) else 1.0
    worst = int(np.argmax(dist))
    assert dist.max() <= allowed, f"{name}({x[worst]!r}) = {got[worst]!r}, numpy {ref[worst]!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_error_against_exact_values_is_below_one_ulp(name, dtype):
    rng = np.random.default_rng(11)
    x = dense_samples(name, dtype, rng)
    x = x[inside_bound(name, x, dtype)]
    got, ref = evaluate(name, x), reference(name, x, dtype)
    # The points where we differ most from numpy, and a random subset, checked against exact values.
    dist = ulp_distance(got, ref, dtype)
    picks = np.unique(np.concatenate([np.argsort(dist)[-150:], rng.choice(x.size, 1500, replace=False)]))
    errors = [exact_ulp_error(name, x[i], got[i], dtype) for i in picks]
    worst = int(np.argmax(errors))
    limit = 1.0 if dtype == np.float64 else 0.6   # float32 is computed in double and rounded once
    assert errors[worst] <= limit, f"{name}({x[picks[worst]]!r}): {errors[worst]:.3f} ulp"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name, dtype):
    pairs = SPECIAL[name] + [(np.nan, np.nan)]
    x = np.array([p[0] for p in pairs], dtype)
    expected = np.array([p[1] for p in pairs], dtype)
    got = evaluate(name, x)
    assert np.array_equal(got, expected, equal_nan=True), list(zip(x.tolist(), got.tolist()))
    zero = expected == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(expected[zero])), "sign of zero"


# Arguments where float64 results are hard: overflow/underflow edges, subnormal results and inputs,
# near-multiples of pi/2 (the last is the double closest to a multiple of pi/2), huge trig arguments.
HARD_F64 = [709.782712893384, 709.7827128933841, -708.3964185322641, -745.1332191019411, -745.1332191019412,
            -744.44007192138122, 1e-310, -1e-310, 5e-324, 2.2250738585072014e-308, 1e-17, -1e-17, 0.346,
            -0.3466, 0.5493061443340548, 19.06, 1.5707963267948966, 3.141592653589793, 1e6, 1647098.9,
            1647099.1, 2.0 ** 20 * 1.5707963267948966, 1e15, 1e22, 2.0 ** 1023, 1.7976931348623157e308,
            6381956970095103.0 * 2.0 ** 797, -6381956970095103.0 * 2.0 ** 797, 5.319372648326541e+255,
            -1.0 + 2.0 ** -53, 2.0 ** 53, -0.9999999999999999]


@pytest.mark.parametrize("name", NAMES)
def test_hard_float64_arguments_against_exact_values(name):
    x = np.array(HARD_F64)
    got = evaluate(name, x)
    for xi, gi, inside in zip(x, got, inside_bound(name, x, np.float64)):
        if not inside:
            assert np.isnan(gi)
            continue
        assert exact_ulp_error(name, xi, gi, np.float64) <= 1.0, f"{name}({xi!r}) = {gi!r}"


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_of_large_float32_arguments(name):
    # Payne-Hanek in the float32 path: every binade up to the largest float32.
    rng = np.random.default_rng(3)
    x = (rng.uniform(1, 2, 3000) * 2.0 ** rng.integers(20, 128, 3000)).astype(np.float32)
    x = np.concatenate([x, -x, [np.finfo(np.float32).max, np.float32(421657428.0), np.float32(1.0e38)]])
    got = evaluate(name, x)
    errors = [exact_ulp_error(name, xi, gi, np.float32) for xi, gi in zip(x, got)]
    assert max(errors) <= 0.6


def test_payne_hanek_tables_hold_the_bits_of_two_over_pi():
    mpmath.mp.prec = 1500
    two_over_pi = 2 / mpmath.pi
    for table, count, rows, start, scaled in ((vm._PH_TABLE, 4, vm._PH_ROWS, vm._PH_MIN_EXP - 53, True),
                                             (vm._PHF_TABLE, 2, vm._PHF_ROWS, vm._PHF_MIN_EXP - 24, False)):
        for row in (0, 1, 33, 34, rows // 2, rows - 1):
            b0 = row + start
            for j in range(count):
                first = b0 + 53 * j     # bits first .. first + 52 of 2/pi
                chunk = mpmath.floor(two_over_pi * mpmath.mpf(2) ** (first + 52))
                if first > 1:
                    chunk -= mpmath.floor(two_over_pi * mpmath.mpf(2) ** (first - 1)) * 2 ** 53
                scale = b0 if scaled else 0
                assert table[count * row + j] == float(chunk * mpmath.mpf(2) ** (scale - first - 52))


# ---- identities (hypothesis) --------------------------------------------------------------------------

FLOATS = arrays(np.float64, st.integers(1, 64), elements=st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=60, deadline=None)
@given(FLOATS)
def test_symmetries_hold_bit_for_bit(x):
    for name in ("sin", "tanh", "sin_bounded"):
        assert np.array_equal(evaluate(name, -x), -evaluate(name, x), equal_nan=True), name
    for name in ("cos", "cos_bounded"):
        assert np.array_equal(evaluate(name, -x), evaluate(name, x), equal_nan=True), name


@settings(max_examples=60, deadline=None)
@given(FLOATS)
def test_any_float64_agrees_with_numpy(x):
    for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh"):
        assert ulp_distance(evaluate(name, x), reference(name, x, np.float64), np.float64).max() <= 1.0, name
    finite = x[np.isfinite(x)]
    total = evaluate("logistic", finite) + evaluate("logistic", -finite)
    assert np.all(np.abs(total - 1.0) <= 4 * np.finfo(np.float64).eps)


# ---- compiled code ---------------------------------------------------------------------------------------

def _host_has_avx2():
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_features().get("avx2", False)


@pytest.mark.skipif(not _host_has_avx2(), reason="the packed-instruction check is written for x86 AVX2/AVX-512")
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_a_loop_calling_every_function_is_vectorised_without_libm_calls(dtype):
    evaluate("exp", np.ones(4, dtype))
    asm = _apply_all.inspect_asm(_apply_all.signatures[DTYPES.index(dtype)])
    packed_fma = re.findall(r"vfn?m(?:add|sub)\w*pd\s+[^\n]*%[yz]mm", asm)
    assert len(packed_fma) >= 40, "the loop was not vectorised (no packed FMAs)"
    libm_calls = re.findall(r"\$(?:sin|cos|exp|log|tanh|expm1|log1p)f?\b", asm)
    assert not libm_calls, f"libm is still called: {libm_calls[:4]}"


def test_the_caller_fastmath_and_parallel_flags_do_not_change_results():
    # The functions keep their own IEEE flags when LLVM inlines them into a fastmath caller -- also
    # when that caller is the first to compile them (Numba would otherwise pass its fastmath on to
    # them). Hence a fresh process, with the fastmath kernel compiled first.
    script = textwrap.dedent("""
        import numpy as np, sys
        sys.path.insert(0, sys.argv[1])
        from test_vecmath import make_apply_all, NAMES
        x = np.concatenate([np.random.default_rng(5).uniform(-800, 800, 20000),
                            [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e300, -1.0, 710.0, -746.0]])
        fast, plain = np.empty((len(NAMES), x.size)), np.empty((len(NAMES), x.size))
        make_apply_all(fastmath=True, parallel=True)(x, fast)
        make_apply_all()(x, plain)
        assert np.array_equal(plain, fast, equal_nan=True)
        assert np.allclose(fast[4, :20000], np.sin(x[:20000]), rtol=1e-15, atol=1e-300)
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)], capture_output=True,
                         text=True)
    assert run.stdout.strip() == "ok", run.stderr[-2000:]


def test_python_calls_map_over_scalars_and_arrays_and_keep_float32():
    assert vexp(1.0) == evaluate("exp", np.array([1.0]))[0]
    assert isinstance(vsin(np.float32(2.0)), np.float32)
    assert vlog(np.array(np.e)).shape == ()
    got = vtanh(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
    assert got.dtype == np.float32 and got.shape == (3, 4)
    assert vexp(np.array([1, 2], dtype=np.int64)).dtype == np.float64      # ints compute as float64
    assert list(vm.FUNCTIONS) == ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "logistic"]


def test_a_disk_cached_kernel_that_calls_vecmath_loads_in_a_new_process(tmp_path):
    # What the code generator relies on: a `cache=True` kernel calling these functions is stored and
    # reloaded whole by Numba (the second process compiles nothing).
    (tmp_path / "kernel_mod.py").write_text(textwrap.dedent("""
        import numba, numpy as np
        from fgrad.backend.vecmath import vsin, vexp

        @numba.njit(cache=True, error_model="numpy")
        def kernel(x, out):
            for i in range(x.size):
                out[i] = vsin(x[i]) * vexp(-x[i])
    """))
    script = textwrap.dedent("""
        import sys, numpy as np
        sys.path.insert(0, sys.argv[1])
        from kernel_mod import kernel
        x = np.linspace(-5, 5, 11); out = np.empty_like(x)
        kernel(x, out)
        assert np.allclose(out, np.sin(x) * np.exp(-x), rtol=1e-15, atol=0)
        print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs == [["0", "1"], ["1", "0"]]


def test_source_hash_tracks_the_file():
    import hashlib
    with open(vm.__file__, "rb") as f:
        assert vm.SOURCE_HASH == hashlib.sha256(f.read()).hexdigest()[:16]
