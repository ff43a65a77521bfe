#!/usr/bin/env python
"""fgrad.backend.vecmath in the loop that matters: W1's value and gradient, by hand, with libm or vecmath.

    python benchmarks/bench_vecmath.py                 # W1 at N = 1e6 and 1e7 (a minute or two)
    python benchmarks/bench_vecmath.py --sizes 1e6     # one size
    python benchmarks/bench_vecmath.py --table         # per-function ns/element and max ulp (the vecmath.py
                                                       # docstring table), float64 and float32

W1 = sum(sin(x)^2 exp(-x/2) + tanh(x) x), x ~ U(-3, 3), float64; every column computes the value and the
gradient 2 s c e - s^2 e / 2 + (1 - t^2) x + t, and is checked against workloads.ref_W1 before timing:

- numba libm serial / prange: benchmarks/_numba_kernels.py (the hand-written reference; math.sin & co.)
- numba vecmath serial / prange: the same kernels calling vsin, vcos, vexp, vtanh
- numba vecmath-bounded: vsin_bounded / vcos_bounded (the opt-in for |x| < 1.6e6)
- numpy: refs.make_numpy_W1 (numpy's ufuncs, hand-derived gradient)
- jax: refs.make_jax_W1, jit(value_and_grad) (when jax is installed)

Implementations are timed in interleaved rounds (one call each per round, so a busy spell of this shared
machine hits every column alike), after waiting (up to --wait s) for other processes to go quiet; the
table shows the median, the min, the ratio of medians to JAX, and how many cores other processes used
meanwhile (above ~0.3 the prange columns are unreliable: a 2-thread kernel stalls whenever one of its
threads waits for a core). A script, not a test.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import statistics
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numba  # noqa: E402
from numba import prange  # noqa: E402

import workloads as W  # noqa: E402
from fgrad.backend import vecmath as vm  # noqa: E402
from fgrad.backend.vecmath import vcos, vcos_bounded, vexp, vsin, vsin_bounded, vtanh  # noqa: E402

BLOCK = 4096


# ---- W1 kernels ---------------------------------------------------------------------------------------
# The structure of benchmarks/_numba_kernels.py: a fused block loop; fastmath only so LLVM may vectorise
# the sum (vecmath's functions keep their own IEEE flags when inlined).

def make_w1_kernels(sin, cos):
    @numba.njit(fastmath=True, nogil=True, error_model="numpy")
    def block(x, g, lo, hi):
        acc = 0.0
        for i in range(lo, hi):
            xi = x[i]
            s = sin(xi)
            c = cos(xi)
            e = vexp(-0.5 * xi)
            t = vtanh(xi)
            se = s * e
            acc += s * se + t * xi
            g[i] = se * (2.0 * c - 0.5 * s) + (1.0 - t * t) * xi + t
        return acc

    @numba.njit(fastmath=True, nogil=True, error_model="numpy")
    def serial(x):
        g = np.empty_like(x)
        return block(x, g, 0, x.size), g

    @numba.njit(fastmath=True, nogil=True, error_model="numpy", parallel=True)
    def parallel(x):
        n = x.size
        g = np.empty_like(x)
        nb = (n + BLOCK - 1) // BLOCK
        part = np.empty(nb)
        for b in prange(nb):
            lo = b * BLOCK
            part[b] = block(x, g, lo, min(lo + BLOCK, n))
        return part.sum(), g
    return serial, parallel


def w1_implementations(data):
    """name -> zero-argument callable returning (value, (grad,)), warmed up."""
    import refs
    x = data["x"]
    impls = {}

    def wrap(kernel):
        def run():
            v, g = kernel(x)
            return float(v), (g,)
        run()
        return run

    K = refs.prepare_numba()
    impls["numba libm serial"] = wrap(K.w1_serial)
    impls["numba libm prange"] = wrap(K.w1_parallel)
    serial, parallel = make_w1_kernels(vsin, vcos)
    impls["numba vecmath serial"] = wrap(serial)
    impls["numba vecmath prange"] = wrap(parallel)
    serial_b, parallel_b = make_w1_kernels(vsin_bounded, vcos_bounded)
    impls["numba vecmath-bounded serial"] = wrap(serial_b)
    impls["numba vecmath-bounded prange"] = wrap(parallel_b)
    impls["numpy"] = refs.make_numpy_W1(data)
    try:
        impls["jax jit"] = refs.make_jax_W1(data)
    except ImportError as exc:
        print(f"(jax not available: {exc})")
    return impls


def interleaved_medians(impls, budget):
    """Median and min seconds per implementation, from rounds that call each once."""
    times = {k: [] for k in impls}
    start = time.perf_counter()
    while time.perf_counter() - start < budget or min(len(t) for t in times.values()) < 5:
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), min(v), len(v)) for k, v in times.items()}


def fmt_time(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} us"


def run_w1(sizes, budget, wait):
    from run import ExternalLoad, wait_for_quiet_machine
    for n in sizes:
        data = W.data_W1(n)
        impls = w1_implementations(data)
        reference = W.ref_W1(data)
        for name, fn in impls.items():
            ok, msg = W.check(fn(), reference)
            if not ok:
                raise SystemExit(f"W1 N={n:.0e}: {name} is wrong: {msg}")
        wait_for_quiet_machine(wait, 0.3, print, window=1.0, need=3)
        load = ExternalLoad().start()
        stats = interleaved_medians(impls, budget)
        jax = stats.get("jax jit", (math.nan,))[0]
        print(f"\nW1 value+gradient, N = {n:.0e} (float64), {min(s[2] for s in stats.values())}+ rounds, "
              f"other processes used {load.stop():.1f} cores")
        print(f"  {'implementation':30s} {'median':>10s} {'min':>10s} {'/ JAX':>7s}")
        for name, (med, mn, _) in stats.items():
            print(f"  {name:30s} {fmt_time(med):>10s} {fmt_time(mn):>10s} {med / jax:7.2f}")


# ---- per-function table --------------------------------------------------------------------------------

DOMAINS = {"exp": (-50, 50), "expm1": (-50, 50), "log": (1e-3, 1e3), "log1p": (1e-3, 1e3),
           "sin": (-10, 10), "cos": (-10, 10), "tanh": (-20, 20), "logistic": (-20, 20)}
LIBM = {"exp": "np.exp(v)", "expm1": "np.expm1(v)", "log": "np.log(v)", "log1p": "np.log1p(v)",
        "sin": "np.sin(v)", "cos": "np.cos(v)", "tanh": "np.tanh(v)", "logistic": "1.0 / (1.0 + np.exp(-v))"}
NUMPY = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos,
         "tanh": np.tanh}


def _loops(name):
    # out[i] = f(x[i]) with vecmath's function and with Numba's libm lowering of np.*.
    src = (f"@numba.njit(error_model='numpy')\ndef vec(x, out):\n    for i in range(x.size):\n"
           f"        out[i] = f(x[i])\n"
           f"@numba.njit(error_model='numpy')\ndef libm(x, out):\n    for i in range(x.size):\n"
           f"        v = x[i]\n        out[i] = {LIBM[name.replace('_bounded', '')]}\n")
    ns = {"numba": numba, "np": np, "f": getattr(vm, "v" + name)}
    exec(src, ns)  # noqa: S102 - a fixed template
    return ns["vec"], ns["libm"]


def _numpy_ufunc(name, x, out):
    if name == "logistic":
        np.negative(x, out=out)
        np.exp(out, out=out)
        np.add(out, 1.0, out=out)
        return np.divide(1.0, out, out=out)
    return NUMPY[name.replace("_bounded", "")](x, out=out)


def max_ulp_error(name, dtype, n_random=20000):
    """Max error in ulps against mpmath over a dense whole-domain sample (worst points vs numpy + random)."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import test_vecmath as T
    rng = np.random.default_rng(0)
    x = T.dense_samples(name, dtype, rng)
    x = x[T.inside_bound(name, x, dtype)]
    got, ref = T.evaluate(name, x), T.reference(name, x, dtype)
    dist = T.ulp_distance(got, ref, dtype)
    picks = np.unique(np.concatenate([np.argsort(dist)[-300:], rng.choice(x.size, n_random, replace=False)]))
    return max(T.exact_ulp_error(name, x[i], got[i], dtype) for i in picks)


def run_table(n=10**6, wait=60.0):
    from run import wait_for_quiet_machine
    wait_for_quiet_machine(wait, 0.3, print, window=1.0, need=3)
    for dtype in (np.float64, np.float32):
        print(f"\n    {np.dtype(dtype).name:12s} max ulp   vecmath ns   libm loop ns   numpy ufunc ns")
        rng = np.random.default_rng(0)
        for name in [*vm.FUNCTIONS, "sin_bounded", "cos_bounded"]:
            x = rng.uniform(*DOMAINS[name.replace("_bounded", "")], n).astype(dtype)
            out = np.empty_like(x)
            vec, libm = _loops(name)
            stats = interleaved_medians({"vec": lambda: vec(x, out), "libm": lambda: libm(x, out),
                                         "numpy": lambda: _numpy_ufunc(name, x, out)}, budget=1.0)
            per = {k: v[1] / n * 1e9 for k, v in stats.items()}      # min: the quietest round
            print(f"    {name:12s} {max_ulp_error(name, dtype):7.2f}    {per['vec']:8.1f}      {per['libm']:8.1f}"
                  f"         {per['numpy']:8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated N for W1 (default 1e6,1e7)")
    parser.add_argument("--budget", type=float, default=8.0, help="seconds of timing per size")
    parser.add_argument("--wait", type=float, default=60.0, help="max seconds to wait for a quiet machine")
    parser.add_argument("--table", action="store_true", help="per-function speed and accuracy table instead")
    args = parser.parse_args()
    print(f"numba {numba.__version__}, numpy {np.__version__}, vecmath {vm.SOURCE_HASH}, "
          f"threads {numba.get_num_threads()}")
    if args.table:
        run_table(wait=args.wait)
    else:
        run_w1([int(float(s)) for s in args.sizes.split(",")], args.budget, args.wait)


if __name__ == "__main__":
    main()
