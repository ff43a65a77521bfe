"""Hand-written Numba kernels for the reference benchmarks.

Each kernel computes value and gradient in one fused pass.  Imported lazily
by refs.py (so a missing/broken numba only skips the numba columns).

Set ``FGRAD_BENCH_NUMBA_CACHE=1`` (together with ``NUMBA_CACHE_DIR``) before
importing to compile with ``cache=True``; run.py uses this for the warm-cache
compile-latency (W7) measurement.
"""
import math
import os

import numba
import numpy as np
from numba import prange

_CACHE = os.environ.get("FGRAD_BENCH_NUMBA_CACHE", "") == "1"

# fastmath lets LLVM reassociate the reductions (vectorised sums) and drop
# errno/NaN bookkeeping; every kernel is still checked against the float64
# NumPy reference by run.py.
_FM = True

_serial = numba.njit(cache=_CACHE, fastmath=_FM, nogil=True)
_parallel = numba.njit(cache=_CACHE, fastmath=_FM, parallel=True, nogil=True)

BLOCK = 4096


# ------------------------------------------------------------------ W1 ----
@_serial
def _w1_block(x, g, lo, hi):
    acc = 0.0
    for i in range(lo, hi):
        xi = x[i]
        s = math.sin(xi)
        c = math.cos(xi)
        e = math.exp(-0.5 * xi)
        t = math.tanh(xi)
        se = s * e
        acc += s * se + t * xi
        g[i] = se * (2.0 * c - 0.5 * s) + (1.0 - t * t) * xi + t
    return acc


@_serial
def w1_serial(x):
    g = np.empty_like(x)
    return _w1_block(x, g, 0, x.size), g


@_parallel
def w1_parallel(x):
    n = x.size
    g = np.empty_like(x)
    nb = (n + BLOCK - 1) // BLOCK
    part = np.empty(nb)
    for b in prange(nb):
        lo = b * BLOCK
        part[b] = _w1_block(x, g, lo, min(lo + BLOCK, n))
    return part.sum(), g


# ------------------------------------------------------------------ W2 ----
# Single pass over X: row i is loaded once into L1, used for z_i = X[i] @ w and
# immediately for the gradient accumulation g += coef_i * X[i].  (BLAS does
# X@w and X.T@r as two separate passes over the 80 MB matrix.)
@_serial
def _w2_rows(X, y, w, lo, hi, gacc):
    d = X.shape[1]
    acc = 0.0
    for i in range(lo, hi):
        z = 0.0
        for j in range(d):
            z += X[i, j] * w[j]
        m = -y[i] * z
        em = math.exp(m)
        acc += math.log1p(em)
        coef = -y[i] * em / (1.0 + em)
        for j in range(d):
            gacc[j] += coef * X[i, j]
    return acc


@_serial
def w2_serial(X, y, w, lam):
    n, d = X.shape
    g = np.zeros(d)
    acc = _w2_rows(X, y, w, 0, n, g)
    inv = 1.0 / n
    val = acc * inv
    for j in range(d):
        val += lam * w[j] * w[j]
        g[j] = g[j] * inv + 2.0 * lam * w[j]
    return val, g


@_parallel
def w2_parallel(X, y, w, lam):
    n, d = X.shape
    nchunk = numba.get_num_threads() * 4
    rows = (n + nchunk - 1) // nchunk
    gparts = np.zeros((nchunk, d))
    vparts = np.zeros(nchunk)
    for c in prange(nchunk):
        lo = c * rows
        hi = min(lo + rows, n)
        if lo < hi:
            vparts[c] = _w2_rows(X, y, w, lo, hi, gparts[c])
    inv = 1.0 / n
    val = vparts.sum() * inv
    g = np.empty(d)
    for j in range(d):
        s = 0.0
        for c in range(nchunk):
            s += gparts[c, j]
        val += lam * w[j] * w[j]
        g[j] = s * inv + 2.0 * lam * w[j]
    return val, g


# ------------------------------------------------------------------ W3 ----
# Matmuls go to BLAS (np.dot inside njit, via SciPy's BLAS); the elementwise
# parts (bias+tanh, softmax-xent and its backward, tanh backward) are fused.
# math.tanh would be a scalar libm call (~10 ns each, no SVML here: 1.4 ms
# for the 512x256 hidden layer, versus ~20 us for NumPy's SIMD float32 tanh),
# so the hidden layer uses the float32 rational approximation that Eigen/XLA
# use for tanh (max error ~3.4e-7, i.e. a few ulp), which LLVM vectorises.
_f = np.float32
_TH_CLAMP = _f(7.90531110763549805)
_TH_A1, _TH_A3, _TH_A5, _TH_A7 = (_f(4.89352455891786e-03), _f(6.37261928875436e-04),
                                  _f(1.48572235717979e-05), _f(5.12229709037114e-08))
_TH_A9, _TH_A11, _TH_A13 = (_f(-8.60467152213735e-11), _f(2.00018790482477e-13),
                            _f(-2.76076847742355e-16))
_TH_B0, _TH_B2, _TH_B4, _TH_B6 = (_f(4.89352518554385e-03), _f(2.26843463243900e-03),
                                  _f(1.18534705686654e-04), _f(1.19825839466702e-06))


@_serial
def _tanh_f32(x):
    x = min(max(x, -_TH_CLAMP), _TH_CLAMP)
    x2 = x * x
    p = _TH_A13
    p = p * x2 + _TH_A11
    p = p * x2 + _TH_A9
    p = p * x2 + _TH_A7
    p = p * x2 + _TH_A5
    p = p * x2 + _TH_A3
    p = p * x2 + _TH_A1
    q = _TH_B6
    q = q * x2 + _TH_B4
    q = q * x2 + _TH_B2
    q = q * x2 + _TH_B0
    return p * x / q


@_serial
def w3_serial(X, Y, W1, b1, W2, b2):
    B = X.shape[0]
    H = W1.shape[1]
    K = W2.shape[1]
    h = np.dot(X, W1)
    for i in range(B):
        hi = h[i]
        for j in range(H):
            hi[j] = _tanh_f32(hi[j] + b1[j])
    z = np.dot(h, W2)
    invB = np.float32(1.0 / B)
    loss = 0.0
    dz = np.empty((B, K), np.float32)
    db2 = np.zeros(K, np.float32)
    for i in range(B):
        m = z[i, 0] + b2[0]
        for k in range(1, K):
            m = max(m, z[i, k] + b2[k])
        se = 0.0
        ysum = 0.0
        for k in range(K):
            zk = z[i, k] + b2[k] - m
            z[i, k] = zk
            se += math.exp(zk)
            ysum += Y[i, k]
        lse = math.log(se)
        for k in range(K):
            zk = z[i, k]
            loss -= Y[i, k] * (zk - lse)
            dzk = np.float32((math.exp(zk) / se * ysum - Y[i, k]) * invB)
            dz[i, k] = dzk
            db2[k] += dzk
    dW2 = np.dot(h.T, dz)
    da = np.dot(dz, W2.T)
    db1 = np.zeros(H, np.float32)
    for i in range(B):
        for j in range(H):
            hij = h[i, j]
            v = da[i, j] * (np.float32(1.0) - hij * hij)
            da[i, j] = v
            db1[j] += v
    dW1 = np.dot(X.T, da)
    return loss / B, dW1, db1, dW2, db2


@_serial
def w3_serial_f64(X, Y, W1, b1, W2, b2):
    """w3_serial for float64 arrays: libm's tanh (no float32 approximation), no float32 casts."""
    B = X.shape[0]
    H = W1.shape[1]
    K = W2.shape[1]
    h = np.dot(X, W1)
    for i in range(B):
        hi = h[i]
        for j in range(H):
            hi[j] = math.tanh(hi[j] + b1[j])
    z = np.dot(h, W2)
    invB = 1.0 / B
    loss = 0.0
    dz = np.empty((B, K))
    db2 = np.zeros(K)
    for i in range(B):
        m = z[i, 0] + b2[0]
        for k in range(1, K):
            m = max(m, z[i, k] + b2[k])
        se = 0.0
        ysum = 0.0
        for k in range(K):
            zk = z[i, k] + b2[k] - m
            z[i, k] = zk
            se += math.exp(zk)
            ysum += Y[i, k]
        lse = math.log(se)
        for k in range(K):
            zk = z[i, k]
            loss -= Y[i, k] * (zk - lse)
            dzk = (math.exp(zk) / se * ysum - Y[i, k]) * invB
            dz[i, k] = dzk
            db2[k] += dzk
    dW2 = np.dot(h.T, dz)
    da = np.dot(dz, W2.T)
    db1 = np.zeros(H)
    for i in range(B):
        for j in range(H):
            hij = h[i, j]
            v = da[i, j] * (1.0 - hij * hij)
            da[i, j] = v
            db1[j] += v
    dW1 = np.dot(X.T, da)
    return loss / B, dW1, db1, dW2, db2


# ------------------------------------------------------------------ W4 ----
# grad[j] = 200*d[j-1] - 400*x[j]*d[j] - 2*(1-x[j]),  d[i] = x[i+1] - x[i]**2.
# The interior loop is written on offset views (x0 = x[k], x1 = x[k+1],
# x2 = x[k+2]) so there is no x[j-1] (negative offset) and nothing is
# loop-carried (d[j-1] is recomputed rather than carried over).
@_serial
def _w4_block(x0, x1, x2, g1, lo, hi):
    # Slice the block first so the loop index starts at 0: LLVM can then
    # prove every index non-negative, drops Numba's wraparound select (which
    # otherwise turns the loads into gathers) and emits contiguous vector
    # loads/stores; fastmath vectorises the block sum.
    a0 = x0[lo:hi]
    a1 = x1[lo:hi]
    a2 = x2[lo:hi]
    gb = g1[lo:hi]
    acc = 0.0
    for k in range(hi - lo):
        a = a0[k]
        b = a1[k]
        c = a2[k]
        dprev = b - a * a
        d = c - b * b
        omb = 1.0 - b
        acc += 100.0 * d * d + omb * omb
        gb[k] = 200.0 * dprev - 400.0 * b * d - 2.0 * omb
    return acc


@_serial
def _w4_edges(x, g):
    n = x.size
    a = x[0]
    d0 = x[1] - a * a
    g[0] = -400.0 * a * d0 - 2.0 * (1.0 - a)
    dl = x[n - 1] - x[n - 2] * x[n - 2]
    g[n - 1] = 200.0 * dl
    return 100.0 * d0 * d0 + (1.0 - a) * (1.0 - a)


@_serial
def w4_serial(x):
    n = x.size
    g = np.empty_like(x)
    val = _w4_edges(x, g)
    m = n - 2
    x0 = x[0:m]
    x1 = x[1:m + 1]
    x2 = x[2:n]
    g1 = g[1:m + 1]
    for b in range((m + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        val += _w4_block(x0, x1, x2, g1, lo, min(lo + BLOCK, m))
    return val, g


@_parallel
def w4_parallel(x):
    n = x.size
    g = np.empty_like(x)
    val = _w4_edges(x, g)
    m = n - 2
    x0 = x[0:m]
    x1 = x[1:m + 1]
    x2 = x[2:n]
    g1 = g[1:m + 1]
    nb = (m + BLOCK - 1) // BLOCK
    part = np.empty(nb)
    for b in prange(nb):
        lo = b * BLOCK
        part[b] = _w4_block(x0, x1, x2, g1, lo, min(lo + BLOCK, m))
    return val + part.sum(), g


# ------------------------------------------------------------------ W5 ----
# Forward mode with two tangents (wrt a0 and b0): one pass, no trajectory.
@_serial
def w5_serial(a, b, steps):
    a_a = 1.0
    a_b = 0.0
    b_a = 0.0
    b_b = 1.0
    for _ in range(steps):
        sa = math.sin(a)
        ca = math.cos(a)
        sb = math.sin(b)
        cb = math.cos(b)
        p = ca * b
        q = sa - sb
        an = sa * b + cb
        an_a = p * a_a + q * b_a
        an_b = p * a_b + q * b_b
        b = 0.5 * an + 0.9 * b
        b_a = 0.5 * an_a + 0.9 * b_a
        b_b = 0.5 * an_b + 0.9 * b_b
        a = an
        a_a = an_a
        a_b = an_b
    return a + b, a_a + b_a, a_b + b_b
