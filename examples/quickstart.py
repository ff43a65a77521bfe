"""fgrad in one screen: trace a NumPy-style function, print its program, evaluate it."""
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad.backend.numpy_exec import evaluate


def loss(w, x, y):
    """Logistic-regression loss of weights `w` on data `x`, labels `y` in {-1, +1}."""
    margins = -y * (x @ w)
    return fnp.mean(fnp.log1p(fnp.exp(margins))) + 0.01 * fnp.sum(w ** 2)


rng = np.random.default_rng(0)
x = rng.normal(size=(8, 3))
y = np.sign(rng.normal(size=8))
w = np.array([0.5, -0.25, 1.0])

program = fgrad.make_ir(loss)(w, x, y)
print("The traced program:")
print(program)
print()
print("Evaluated by the reference executor:", evaluate(program, w, x, y)[0])
print("Run directly on numpy arrays:       ", loss(w, x, y))

# Reverse mode: the gradient is another program, which fgrad simplifies and runs.
grad_loss = fgrad.grad(loss)
print()
print("The gradient w.r.t. w:", grad_loss(w, x, y))
print("Its program (forward and reverse sweep, simplified):")
print(fgrad.make_ir(grad_loss)(w, x, y))

# The PyTorch-style facade: the same primitives and VJP rules behind .backward().
t = fgrad.tensor([0.5, -0.25, 1.0], requires_grad=True)
z = (t.sin() ** 2).sum()
z.backward()
print()
print("Facade:", z)
print("t.grad:", t.grad)

# fgrad.jit: the gradient program becomes one fused Numba kernel (compiled once, cached on disk).
fast_grad = fgrad.jit(fgrad.value_and_grad(loss))
value, gradient = fast_grad(w, x, y)
print()
print("jit(value_and_grad):", value, gradient)
