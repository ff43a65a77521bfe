"""Reference implementations for the benchmark suite.

Every factory is ``make_<lib>_<workload>(data) -> fn`` where ``data`` is the
dict from ``workloads.Case.make_data()`` and ``fn()`` returns
``(value: float, grads: tuple of numpy arrays / floats)``.  The returned
callable is already warmed (JIT-compiled / first call done).

Libraries are imported lazily inside the factories (``prepare_<lib>()``), so
a missing or broken install only skips that column; run.py catches the
ImportError.  Library keys: numpy, numba, numbapar, jax, torch, autograd.
"""
from __future__ import annotations

import functools
import math

import numpy as np

import workloads as W


# ==========================================================================
# Library preparation (import + global configuration).  Each returns the
# module(s) it needs and raises ImportError if unavailable.
# ==========================================================================

def prepare_numpy():
    return np


def prepare_numba():
    import numba  # noqa: F401
    import _numba_kernels as K
    return K


prepare_numbapar = prepare_numba


@functools.lru_cache(None)
def prepare_jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    return jax, jnp


@functools.lru_cache(None)
def prepare_torch():
    import torch
    torch.set_num_threads(2)
    return torch


def prepare_autograd():
    import autograd
    import autograd.numpy as anp
    return autograd, anp


PREPARE = {
    "numpy": prepare_numpy,
    "numba": prepare_numba,
    "numbapar": prepare_numbapar,
    "jax": prepare_jax,
    "torch": prepare_torch,
    "autograd": prepare_autograd,
}


def _warm(fn, n=1):
    for _ in range(n):
        fn()
    return fn


# ==========================================================================
# NumPy, hand-derived gradients (tuned a bit: fewer temporaries than the
# straightforward ground-truth versions in workloads.py).
# ==========================================================================

def make_numpy_W1(data):
    x = data["x"]

    def run():
        s = np.sin(x)
        c = np.cos(x)
        e = np.exp(-0.5 * x)
        t = np.tanh(x)
        se = s * e
        tx = t * x
        val = float(np.dot(s, se) + tx.sum())
        # g = se*(2c - 0.5s) + (1 - t^2)*x + t = se*(2c - 0.5s) + x - t*tx + t
        c *= 2.0
        s *= 0.5
        c -= s
        c *= se
        c += x
        tx *= t
        c -= tx
        c += t
        return val, (c,)

    return _warm(run)


def make_numpy_W2(data):
    X, y, w, lam = data["X"], data["y"], data["w"], data["lam"]
    n = X.shape[0]

    def run():
        m = X @ w
        m *= -y
        em = np.exp(m)
        val = float(np.log1p(em).mean() + lam * np.dot(w, w))
        # r = -y * em/(1+em) / n
        r = em / (1.0 + em)
        r *= -y
        r /= n
        g = r @ X
        g += (2.0 * lam) * w
        return val, (g,)

    return _warm(run)


def make_numpy_W3(data):
    X, Y = data["X"], data["Y"]
    W1, b1, W2, b2 = data["W1"], data["b1"], data["W2"], data["b2"]
    B = X.shape[0]
    f32 = np.float32

    def run():
        h = X @ W1
        h += b1
        np.tanh(h, out=h)
        z = h @ W2
        z += b2
        z -= z.max(axis=1, keepdims=True)
        ez = np.exp(z)
        se = ez.sum(axis=1, keepdims=True)
        val = float(-(np.sum(Y * z) - np.sum(Y.sum(axis=1, keepdims=True) * np.log(se))) / B)
        ez /= se
        ez *= Y.sum(axis=1, keepdims=True)
        ez -= Y
        ez *= f32(1.0 / B)
        dz = ez
        dW2 = h.T @ dz
        db2 = dz.sum(axis=0)
        da = dz @ W2.T
        h *= h
        np.subtract(f32(1.0), h, out=h)
        da *= h
        dW1 = X.T @ da
        db1 = da.sum(axis=0)
        return val, (dW1, db1, dW2, db2)

    return _warm(run)


def make_numpy_W4(data):
    x = data["x"]

    def run():
        x0 = x[:-1]
        d = x0 * x0
        np.subtract(x[1:], d, out=d)
        omx = 1.0 - x0
        val = float(100.0 * np.dot(d, d) + np.dot(omx, omx))
        g = np.empty_like(x)
        gi = g[:-1]
        np.multiply(x0, d, out=gi)
        gi *= -400.0
        omx *= 2.0
        gi -= omx
        g[-1] = 0.0
        d *= 200.0
        g[1:] += d
        return val, (g,)

    return _warm(run)


def make_numpy_W5(data):
    """Scalar chain: plain Python floats + math (NumPy scalars would only be
    slower); forward mode with two tangents, one pass."""
    a0, b0, steps = float(data["a0"]), float(data["b0"]), int(data["steps"])
    sin, cos = math.sin, math.cos

    def run():
        a, b = a0, b0
        a_a, a_b, b_a, b_b = 1.0, 0.0, 0.0, 1.0
        for _ in range(steps):
            sa = sin(a)
            sb = sin(b)
            p = cos(a) * b
            q = sa - sb
            a = sa * b + cos(b)
            a_a, a_b = p * a_a + q * b_a, p * a_b + q * b_b
            b = 0.5 * a + 0.9 * b
            b_a = 0.5 * a_a + 0.9 * b_a
            b_b = 0.5 * a_b + 0.9 * b_b
        return a + b, (a_a + b_a, a_b + b_b)

    return _warm(run)


# ==========================================================================
# Numba, hand-written fused kernels (see _numba_kernels.py)
# ==========================================================================

def _numba_vec(kernel, x):
    def run():
        v, g = kernel(x)
        return float(v), (g,)
    return _warm(run)


def make_numba_W1(data):
    return _numba_vec(prepare_numba().w1_serial, data["x"])


def make_numbapar_W1(data):
    return _numba_vec(prepare_numba().w1_parallel, data["x"])


def _numba_w2(kernel, data):
    X, y, w, lam = data["X"], data["y"], data["w"], float(data["lam"])

    def run():
        v, g = kernel(X, y, w, lam)
        return float(v), (g,)
    return _warm(run)


def make_numba_W2(data):
    return _numba_w2(prepare_numba().w2_serial, data)


def make_numbapar_W2(data):
    return _numba_w2(prepare_numba().w2_parallel, data)


def make_numba_W3(data):
    K = prepare_numba()
    args = tuple(data[k] for k in ("X", "Y", "W1", "b1", "W2", "b2"))

    kernel = K.w3_serial_f64 if data["X"].dtype == np.float64 else K.w3_serial

    def run():
        v, dW1, db1, dW2, db2 = kernel(*args)
        return float(v), (dW1, db1, dW2, db2)
    return _warm(run)


def make_numba_W4(data):
    return _numba_vec(prepare_numba().w4_serial, data["x"])


def make_numbapar_W4(data):
    return _numba_vec(prepare_numba().w4_parallel, data["x"])


def make_numba_W5(data):
    K = prepare_numba()
    a0, b0, steps = float(data["a0"]), float(data["b0"]), int(data["steps"])
    kern = K.w5_serial

    def run():
        v, ga, gb = kern(a0, b0, steps)
        return v, (ga, gb)
    return _warm(run)


# ==========================================================================
# JAX: jit(value_and_grad(loss)), x64 enabled, inputs pre-placed on device
# (passed as arguments, never closed over as constants).
# ==========================================================================

def _jax_run(f, args):
    jax, _ = prepare_jax()

    def run():
        v, g = f(*args)
        v, g = jax.device_get((v, g))       # blocks until ready
        if not isinstance(g, tuple):
            g = (g,)
        return float(v), tuple(np.asarray(gi) for gi in g)
    return _warm(run)


def make_jax_W1(data):
    jax, jnp = prepare_jax()
    f = jax.jit(jax.value_and_grad(lambda x: W.loss_W1(x, jnp)))
    return _jax_run(f, (jax.device_put(data["x"]),))


def make_jax_W2(data):
    jax, jnp = prepare_jax()
    lam = float(data["lam"])
    f = jax.jit(jax.value_and_grad(lambda w, X, y: W.loss_W2(w, X, y, lam, jnp)))
    args = tuple(jax.device_put(data[k]) for k in ("w", "X", "y"))
    return _jax_run(f, args)


def make_jax_W3(data):
    jax, jnp = prepare_jax()

    def loss(W1, b1, W2, b2, X, Y):
        h = jnp.tanh(X @ W1 + b1)
        z = h @ W2 + b2
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(z, axis=1), axis=1))

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
    args = tuple(jax.device_put(data[k]) for k in ("W1", "b1", "W2", "b2", "X", "Y"))
    return _jax_run(f, args)


def make_jax_W4(data):
    jax, jnp = prepare_jax()
    f = jax.jit(jax.value_and_grad(lambda x: W.loss_W4(x, jnp)))
    return _jax_run(f, (jax.device_put(data["x"]),))


def make_jax_W5(data):
    """Python loop, unrolled at trace time into one XLA computation."""
    jax, jnp = prepare_jax()
    steps = int(data["steps"])
    f = jax.jit(jax.value_and_grad(lambda a, b: W.loss_W5(a, b, steps, jnp),
                                   argnums=(0, 1)))
    args = (jax.device_put(np.float64(data["a0"])), jax.device_put(np.float64(data["b0"])))

    def run():
        v, (ga, gb) = jax.device_get(f(*args))
        return float(v), (float(ga), float(gb))
    return _warm(run)


# ==========================================================================
# PyTorch eager (2 threads), grads via torch.autograd.grad, inputs wrapped
# with torch.from_numpy (zero copy).
# ==========================================================================

def _torch_leaf(t):
    return t.detach().requires_grad_(True)


def make_torch_W1(data):
    torch = prepare_torch()
    xt = torch.from_numpy(data["x"])

    def run():
        x = _torch_leaf(xt)
        loss = (torch.sin(x) ** 2 * torch.exp(-0.5 * x) + torch.tanh(x) * x).sum()
        (g,) = torch.autograd.grad(loss, (x,))
        return loss.item(), (g.numpy(),)
    return _warm(run)


def make_torch_W2(data):
    torch = prepare_torch()
    Xt, yt, wt = (torch.from_numpy(data[k]) for k in ("X", "y", "w"))
    lam = float(data["lam"])

    def run():
        w = _torch_leaf(wt)
        loss = torch.log1p(torch.exp(-yt * (Xt @ w))).mean() + lam * (w ** 2).sum()
        (g,) = torch.autograd.grad(loss, (w,))
        return loss.item(), (g.numpy(),)
    return _warm(run)


def make_torch_W3(data):
    torch = prepare_torch()
    import torch.nn.functional as F
    Xt, Yt = torch.from_numpy(data["X"]), torch.from_numpy(data["Y"])
    params = tuple(torch.from_numpy(data[k]) for k in ("W1", "b1", "W2", "b2"))

    def run():
        W1, b1, W2, b2 = (_torch_leaf(p) for p in params)
        h = torch.tanh(torch.addmm(b1, Xt, W1))
        z = torch.addmm(b2, h, W2)
        loss = F.cross_entropy(z, Yt)        # probability targets, mean over batch
        gs = torch.autograd.grad(loss, (W1, b1, W2, b2))
        return loss.item(), tuple(g.numpy() for g in gs)
    return _warm(run)


def make_torch_W4(data):
    torch = prepare_torch()
    xt = torch.from_numpy(data["x"])

    def run():
        x = _torch_leaf(xt)
        loss = (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
        (g,) = torch.autograd.grad(loss, (x,))
        return loss.item(), (g.numpy(),)
    return _warm(run)


def make_torch_W5(data):
    torch = prepare_torch()
    a0 = torch.tensor(float(data["a0"]), dtype=torch.float64)
    b0 = torch.tensor(float(data["b0"]), dtype=torch.float64)
    steps = int(data["steps"])

    def run():
        a, b = _torch_leaf(a0), _torch_leaf(b0)
        loss = W.loss_W5(a, b, steps, torch)
        ga, gb = torch.autograd.grad(loss, (a, b))
        return loss.item(), (ga.item(), gb.item())
    return _warm(run)


# ==========================================================================
# HIPS autograd (value_and_grad, tracing every call)
# ==========================================================================

def make_autograd_W1(data):
    autograd, anp = prepare_autograd()
    f = autograd.value_and_grad(lambda x: W.loss_W1(x, anp))
    x = data["x"]

    def run():
        v, g = f(x)
        return float(v), (g,)
    return _warm(run)


def make_autograd_W2(data):
    autograd, anp = prepare_autograd()
    X, y, w, lam = data["X"], data["y"], data["w"], float(data["lam"])
    f = autograd.value_and_grad(lambda w: W.loss_W2(w, X, y, lam, anp))

    def run():
        v, g = f(w)
        return float(v), (g,)
    return _warm(run)


def make_autograd_W3(data):
    autograd, anp = prepare_autograd()
    X, Y = data["X"], data["Y"]
    params = tuple(data[k] for k in ("W1", "b1", "W2", "b2"))
    f = autograd.value_and_grad(lambda p: W.loss_W3(*p, X, Y, xp=anp))

    def run():
        v, g = f(params)
        return float(v), tuple(g)
    return _warm(run)


def make_autograd_W4(data):
    autograd, anp = prepare_autograd()
    f = autograd.value_and_grad(lambda x: W.loss_W4(x, anp))
    x = data["x"]

    def run():
        v, g = f(x)
        return float(v), (g,)
    return _warm(run)


def make_autograd_W5(data):
    autograd, anp = prepare_autograd()
    steps = int(data["steps"])
    f = autograd.value_and_grad(lambda ab: W.loss_W5(ab[0], ab[1], steps, anp))
    ab = (float(data["a0"]), float(data["b0"]))

    def run():
        v, (ga, gb) = f(ab)
        return float(v), (float(ga), float(gb))
    return _warm(run)
