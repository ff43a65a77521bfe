"""The fgrad column of the benchmarks: `fgrad.jit(fgrad.value_and_grad(loss))` for each workload.

run.py calls `make_fgrad_<workload>(data)` (build, compile, first call; returns `run() -> (value, grads)`)
and, for W7, `fgrad_compile_latency()` in fresh processes. The losses are written with fgrad.numpy the
same way the references write them with numpy / jax.numpy (workloads.py).
"""
from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
import workloads as W  # noqa: E402

# Import Numba with the library, as the other columns import theirs (W7 excludes imports). Numba's lazy
# set-up of its numpy support on the first compile or cache load (~0.3 s) is NOT excluded: JAX's lazy
# backend set-up is inside its W7 time too.
import numba  # noqa: E402,F401


def _warm(run):
    run()
    return run


def make_fgrad_W1(data):
    f = fgrad.jit(fgrad.value_and_grad(lambda x: W.loss_W1(x, fnp)))
    x = data["x"]

    def run():
        value, grad = f(x)
        return value, (grad,)
    return _warm(run)


def make_fgrad_W2(data):
    lam = float(data["lam"])
    f = fgrad.jit(fgrad.value_and_grad(lambda w, X, y: W.loss_W2(w, X, y, lam, fnp)))
    w, X, y = data["w"], data["X"], data["y"]

    def run():
        value, grad = f(w, X, y)
        return value, (grad,)
    return _warm(run)


def make_fgrad_W3(data):
    f = fgrad.jit(fgrad.value_and_grad(lambda W1, b1, W2, b2, X, Y: W.loss_W3(W1, b1, W2, b2, X, Y, fnp),
                                       argnums=(0, 1, 2, 3)))
    args = tuple(data[k] for k in ("W1", "b1", "W2", "b2", "X", "Y"))

    def run():
        return f(*args)
    return _warm(run)


def make_fgrad_W4(data):
    f = fgrad.jit(fgrad.value_and_grad(lambda x: W.loss_W4(x, fnp)))
    x = data["x"]

    def run():
        value, grad = f(x)
        return value, (grad,)
    return _warm(run)


def make_fgrad_W5(data):
    steps = int(data["steps"])
    f = fgrad.jit(fgrad.value_and_grad(lambda a, b: W.loss_W5(a, b, steps, fnp), argnums=(0, 1)))
    a0, b0 = float(data["a0"]), float(data["b0"])

    def run():
        return f(a0, b0)
    return _warm(run)


def fgrad_compile_latency() -> float:
    """Seconds from defining a fresh W1 value-and-gradient function to its first result (N = 1e6)."""
    data = W.data_W1(1_000_000)
    t0 = time.perf_counter()
    run = make_fgrad_W1(data)
    seconds = time.perf_counter() - t0
    ok, msg = W.check(run(), W.ref_W1(data))
    if not ok:
        raise RuntimeError(f"wrong W1 result: {msg}")
    return seconds
