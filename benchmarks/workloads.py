"""Benchmark workloads: data generation, loss definitions, NumPy reference
value-and-gradient (hand-derived), and the correctness ``check`` helper.

Every implementation (reference or fgrad) is built by a factory
``make_<lib>_<workload>(data) -> fn`` where ``data`` is the dict produced by
``Case.make_data`` below, and ``fn()`` returns ``(value, grads)``:

* ``value``: Python float (or 0-d array) -- the scalar loss;
* ``grads``: tuple of NumPy arrays / floats, in the order listed in
  ``Workload.grad_names`` below.

Data dict keys per workload (all arrays are C-contiguous NumPy arrays):

* W1: ``x`` (float64, shape (N,))                        grads: (dx,)
* W2: ``X`` (float64, (n, d)), ``y`` (float64 in {-1,+1}, (n,)),
      ``w`` (float64, (d,)), ``lam`` (float, 0.01)       grads: (dw,)
* W3: ``X`` (float32, (B, 784)), ``Y`` (float32 one-hot, (B, 10)),
      ``W1`` (784, 256), ``b1`` (256,), ``W2`` (256, 10), ``b2`` (10,)
      (all float32; the case W3f64 has the same values as float64)
                                                         grads: (dW1, db1, dW2, db2)
* W4: ``x`` (float64, (N,))                              grads: (dx,)
* W5: ``a0``, ``b0`` (Python floats), ``steps`` (int)     grads: (da0, db0)

Data is always generated from a seeded ``numpy.random.default_rng``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SEED = 20240607


# --------------------------------------------------------------------------
# Generic loss definitions.  ``xp`` is a NumPy-compatible namespace
# (numpy, jax.numpy, autograd.numpy).  PyTorch versions live in refs.py.
# --------------------------------------------------------------------------

def loss_W1(x, xp=np):
    return xp.sum(xp.sin(x) ** 2 * xp.exp(-0.5 * x) + xp.tanh(x) * x)


def loss_W2(w, X, y, lam=0.01, xp=np):
    return xp.mean(xp.log1p(xp.exp(-y * (X @ w)))) + lam * xp.sum(w ** 2)


def loss_W3(W1, b1, W2, b2, X, Y, xp=np):
    h = xp.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    m = xp.max(z, axis=1, keepdims=True)
    lse = m + xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True))
    return -xp.mean(xp.sum(Y * (z - lse), axis=1))


def loss_W4(x, xp=np):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def loss_W5(a, b, steps, xp=math):
    for _ in range(steps):
        a = xp.sin(a) * b + xp.cos(b)
        b = 0.5 * a + 0.9 * b
    return a + b


# --------------------------------------------------------------------------
# NumPy hand-derived references (straightforward, float64 everywhere: these
# are the ground truth used by ``check``).
# --------------------------------------------------------------------------

def ref_W1(data):
    x = data["x"]
    s, c, e, t = np.sin(x), np.cos(x), np.exp(-0.5 * x), np.tanh(x)
    val = np.sum(s * s * e + t * x)
    g = 2.0 * s * c * e - 0.5 * s * s * e + (1.0 - t * t) * x + t
    return float(val), (g,)


def ref_W2(data):
    X, y, w, lam = data["X"], data["y"], data["w"], data["lam"]
    m = -y * (X @ w)
    val = np.mean(np.log1p(np.exp(m))) + lam * np.sum(w * w)
    sig = 1.0 / (1.0 + np.exp(-m))          # d/dm log1p(exp(m))
    g = X.T @ (-y * sig) / X.shape[0] + 2.0 * lam * w
    return float(val), (g,)


def ref_W3(data):
    f = lambda k: data[k].astype(np.float64)
    X, Y, W1, b1, W2, b2 = (f(k) for k in ("X", "Y", "W1", "b1", "W2", "b2"))
    B = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    ez = np.exp(z)
    se = ez.sum(axis=1, keepdims=True)
    logp = z - np.log(se)
    val = -np.sum(Y * logp) / B
    dz = (ez / se * Y.sum(axis=1, keepdims=True) - Y) / B
    dW2 = h.T @ dz
    db2 = dz.sum(axis=0)
    da = (dz @ W2.T) * (1.0 - h * h)
    dW1 = X.T @ da
    db1 = da.sum(axis=0)
    return float(val), (dW1, db1, dW2, db2)


def ref_W4(data):
    x = data["x"]
    x0, x1 = x[:-1], x[1:]
    d = x1 - x0 * x0
    val = np.sum(100.0 * d * d + (1.0 - x0) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x0 * d - 2.0 * (1.0 - x0)
    g[1:] += 200.0 * d
    return float(val), (g,)


def ref_W5(data):
    """Reverse mode by hand over the stored trajectory (plain Python floats)."""
    a, b, steps = float(data["a0"]), float(data["b0"]), int(data["steps"])
    traj = []
    for _ in range(steps):
        traj.append((a, b))
        a = math.sin(a) * b + math.cos(b)
        b = 0.5 * a + 0.9 * b
    val = a + b
    ga, gb = 1.0, 1.0                        # adjoints of (a_k, b_k)
    for a_prev, b_prev in reversed(traj):
        # b_new = 0.5*a_new + 0.9*b_prev  -> a_new gets 0.5*gb
        ga_new = ga + 0.5 * gb
        # a_new = sin(a_prev)*b_prev + cos(b_prev)
        ga, gb = (ga_new * math.cos(a_prev) * b_prev,
                  0.9 * gb + ga_new * (math.sin(a_prev) - math.sin(b_prev)))
    return val, (ga, gb)


# --------------------------------------------------------------------------
# Data generation
# --------------------------------------------------------------------------

def data_W1(n):
    rng = np.random.default_rng(SEED + 1)
    return {"x": rng.uniform(-3.0, 3.0, size=int(n))}


def data_W2(n, d=100, lam=0.01):
    rng = np.random.default_rng(SEED + 2)
    X = rng.standard_normal((int(n), d))
    w_true = rng.standard_normal(d) / math.sqrt(d)
    y = np.where(X @ w_true + 0.5 * rng.standard_normal(int(n)) > 0, 1.0, -1.0)
    w = 0.1 * rng.standard_normal(d)
    return {"X": X, "y": y, "w": w, "lam": float(lam)}


def data_W3(batch, n_in=784, n_hidden=256, n_out=10, dtype=np.float32):
    """float32 data; with dtype=np.float64 the same values (drawn as float32) in float64 arrays."""
    rng = np.random.default_rng(SEED + 3)
    f32 = np.float32
    X = rng.uniform(0.0, 1.0, (batch, n_in)).astype(f32)
    labels = rng.integers(0, n_out, batch)
    Y = np.zeros((batch, n_out), f32)
    Y[np.arange(batch), labels] = 1.0
    W1 = (rng.standard_normal((n_in, n_hidden)) / math.sqrt(n_in)).astype(f32)
    b1 = (0.1 * rng.standard_normal(n_hidden)).astype(f32)
    W2 = (rng.standard_normal((n_hidden, n_out)) / math.sqrt(n_hidden)).astype(f32)
    b2 = (0.1 * rng.standard_normal(n_out)).astype(f32)
    data = {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    return {k: v.astype(dtype) for k, v in data.items()}


def data_W4(n):
    rng = np.random.default_rng(SEED + 4)
    return {"x": rng.uniform(-2.0, 2.0, size=int(n))}


def data_W5(steps):
    return {"a0": 0.5, "b0": 0.3, "steps": int(steps)}


# --------------------------------------------------------------------------
# Workload table
# --------------------------------------------------------------------------

@dataclass
class Case:
    """One row of the results table.

    ``workload`` names the factory suffix (``make_<lib>_<workload>``);
    several cases can share a workload (W1 at two sizes).  ``check_data``
    (if given) is the data used for the correctness check, e.g. W5 at 20
    steps, because the 200-step recurrence is chaotic."""
    key: str
    workload: str
    title: str
    dtype: str
    make_data: Callable[[], dict]
    make_check_data: Callable[[], dict] | None = None
    grad_names: tuple = field(default_factory=tuple)


REFERENCE = {"W1": ref_W1, "W2": ref_W2, "W3": ref_W3, "W4": ref_W4, "W5": ref_W5}

GRAD_NAMES = {
    "W1": ("x",), "W2": ("w",), "W3": ("W1", "b1", "W2", "b2"),
    "W4": ("x",), "W5": ("a0", "b0"),
}

DESCRIPTIONS = {
    "W1": "`sum(sin(x)**2 * exp(-0.5*x) + tanh(x)*x)`, grad wrt x (float64)",
    "W2": "logistic regression `mean(log1p(exp(-y*(X@w)))) + 0.01*sum(w**2)`, "
          "grad wrt w (float64)",
    "W3": "MLP 784-256-10, tanh hidden, softmax cross-entropy (one-hot, mean over "
          "batch), grads wrt W1,b1,W2,b2 (float32; the W3 float64 row: the same values in float64)",
    "W4": "Rosenbrock `sum(100*(x[1:]-x[:-1]**2)**2 + (1-x[:-1])**2)`, grad wrt x "
          "(float64)",
    "W5": "scalar chain `a = sin(a)*b + cos(b); b = 0.5*a + 0.9*b`, loss a+b, "
          "grad wrt (a0, b0) (float64, dispatch-bound)",
    "W7": "compile latency: fresh process, cold cache, time from defining the "
          "function to the first W1 value-and-gradient (N=1e6)",
}


def size_str(n):
    """1000000 -> '1e6'."""
    return f"{n:.0e}".replace("e+0", "e").replace("e+", "e")


def cases(quick=False):
    """Return the list of benchmark cases (W7 is handled separately in run.py)."""
    if quick:
        n1a, n1b, n2, b3, n4 = 10_000, 100_000, 5_000, 64, 10_000
    else:
        n1a, n1b, n2, b3, n4 = 1_000_000, 10_000_000, 100_000, 512, 1_000_000

    return [
        Case("W1a", "W1", f"W1 N={size_str(n1a)}", "float64", lambda: data_W1(n1a)),
        Case("W1b", "W1", f"W1 N={size_str(n1b)}", "float64", lambda: data_W1(n1b)),
        Case("W2", "W2", f"W2 logreg {n2}x100", "float64", lambda: data_W2(n2)),
        Case("W3", "W3", f"W3 MLP batch {b3}", "float32", lambda: data_W3(b3)),
        Case("W3f64", "W3", f"W3 MLP float64 batch {b3}", "float64", lambda: data_W3(b3, dtype=np.float64)),
        Case("W4", "W4", f"W4 Rosenbrock N={size_str(n4)}", "float64", lambda: data_W4(n4)),
        Case("W5", "W5", "W5 scalar chain 200 steps", "float64",
             lambda: data_W5(200), lambda: data_W5(20)),
    ]


# --------------------------------------------------------------------------
# Correctness check
# --------------------------------------------------------------------------

def _as_tuple(grads):
    if isinstance(grads, (tuple, list)):
        return tuple(grads)
    return (grads,)


def check(result, reference, dtype="float64", rtol=None):
    """Compare ``(value, grads)`` against the reference ``(value, grads)``.

    Elementwise test ``|a - r| <= rtol*|r| + rtol*max|r|`` (the second term
    keeps near-zero entries from failing on rounding noise), with
    rtol = 1e-6 for float64 and 1e-4 for float32 by default.
    Returns ``(ok: bool, message: str)``."""
    if rtol is None:
        rtol = 1e-4 if dtype == "float32" else 1e-6
    try:
        val, grads = result
    except Exception as exc:  # noqa: BLE001
        return False, f"bad result structure: {exc!r}"
    rval, rgrads = reference
    grads, rgrads = _as_tuple(grads), _as_tuple(rgrads)
    msgs = []
    try:
        val = float(np.asarray(val))
    except Exception as exc:  # noqa: BLE001
        return False, f"value not a scalar: {exc!r}"
    if not math.isfinite(val) or abs(val - rval) > rtol * max(abs(rval), 1e-300):
        msgs.append(f"value {val!r} != ref {rval!r}")
    if len(grads) != len(rgrads):
        return False, f"expected {len(rgrads)} gradients, got {len(grads)}"
    worst = 0.0
    for i, (g, r) in enumerate(zip(grads, rgrads)):
        g = np.asarray(g, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            msgs.append(f"grad[{i}] shape {g.shape} != {r.shape}")
            continue
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        err = np.abs(g - r)
        tol = rtol * np.abs(r) + rtol * scale
        if not np.all(np.isfinite(g)) or np.any(err > tol):
            rel = float(np.max(err / (np.abs(r) + scale + 1e-300)))
            msgs.append(f"grad[{i}] mismatch (max rel err {rel:.2e})")
        elif r.size:
            worst = max(worst, float(np.max(err / (np.abs(r) + scale + 1e-300))))
    if msgs:
        return False, "; ".join(msgs)
    return True, f"ok (max rel grad err {worst:.1e})"
