"""fgrad in one screen: a NumPy-style function, its program, its adjoint program, the kernel that runs it.

    python examples/quickstart.py

Prints, each under a line saying what it is: the traced program of a logistic-regression loss; its value
and gradient; the gradient's program (what fgrad.grad runs, and what fgrad.jit compiles); the Numba kernel
generated from it; the time of the first (cold) and later (warm) calls of the compiled gradient, and of a
call at another size that reuses the compiled kernel; and the PyTorch-style facade on the same machinery.
"""
import time

import numpy as np

import fgrad
import fgrad.numpy as fnp


def loss(w, x, y):
    """Logistic-regression loss of weights `w` on data `x`, labels `y` in {-1, +1}."""
    margins = -y * (x @ w)
    return fnp.mean(fnp.log1p(fnp.exp(margins))) + 0.01 * fnp.sum(w ** 2)


def data(n, rng):
    x = rng.normal(size=(n, 3))
    return x, np.sign(x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n))


def timed(fun, *args):
    start = time.perf_counter()
    result = fun(*args)
    return result, time.perf_counter() - start


rng = np.random.default_rng(0)
x, y = data(8, rng)
w = np.array([0.5, -0.25, 1.0])

print("1. The traced program of loss(w, x, y): one typed equation per operation")
print(fgrad.make_ir(loss)(w, x, y))
print()
print("2. Its value and its gradient w.r.t. w (run directly, no compilation):")
print("   loss =", loss(w, x, y))
print("   grad =", fgrad.grad(loss)(w, x, y))
print()
print("3. The gradient's program: the forward sweep, then the reverse sweep, simplified. This is the")
print("   program fgrad.grad runs and fgrad.jit compiles; a_ct is the cotangent (gradient) of input a = w,")
print("   and a literal like 0.01:f64[3] is the number 0.01 in every element of an f64[3] array:")
print(fgrad.make_ir(fgrad.grad(loss))(w, x, y))
print()
print("4. The Numba kernel fgrad.jit generates from it (fgrad.show_source(f, *args) prints program and kernel;")
print("   the kernel's comments name the equations each loop computes, numbered v0, v1, ... in program order):")
print(fgrad.jit(fgrad.grad(loss)).lower(w, x, y).source)

fast_grad = fgrad.jit(fgrad.value_and_grad(loss))
(value, gradient), cold = timed(fast_grad, w, x, y)
_, warm = timed(fast_grad, w, x, y)
x_big, y_big = data(10_000, rng)
_, other_size = timed(fast_grad, w, x_big, y_big)
_, other_size_warm = timed(fast_grad, w, x_big, y_big)
print("5. jit(value_and_grad(loss)) compiled and called:")
print("   value, grad =", value, gradient)
print(f"   first call  (trace, generate the kernel, compile it or load it from the disk cache): {cold * 1e3:9.1f} ms")
print(f"   second call (the kernel from the in-process cache):                                 {warm * 1e3:9.3f} ms")
print(f"   10000 rows (traced again; the kernel source does not depend on sizes, no compile):   "
      f"{other_size * 1e3:9.1f} ms")
print(f"   10000 rows again:                                                                   "
      f"{other_size_warm * 1e3:9.1f} ms")
print("   (run the script again: the first call gets faster, Numba loads the kernel from its disk cache,")
print("   which lives in FGRAD_CACHE_DIR or the user cache directory)")
print()

# The PyTorch-style facade: the same primitives and VJP rules behind .backward().
t = fgrad.tensor([0.5, -0.25, 1.0], requires_grad=True)
z = (t.sin() ** 2).sum()
z.backward()
print("6. The facade (import fgrad as torch): a tensor, its graph's last node, and the gradient .backward() wrote:")
print("   z      =", z)
print("   t.grad =", t.grad)
