"""Per-example gradients with vmap: one gradient per training example, in one batched program.

    python examples/per_example_gradients.py

`fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0))` maps the gradient of a single-example loss over a batch:
the parameters are shared (None), the examples and labels are mapped along axis 0. The batched program is an
ordinary program: it prints, differentiates and compiles like any other.
"""
import numpy as np

import fgrad
import fgrad.numpy as fnp


def loss(params, x, y):
    """Squared error of a one-hidden-layer network on ONE example x (3,) with target y (2,)."""
    (w1, b1), (w2, b2) = params
    hidden = fnp.tanh(x @ w1 + b1)
    return fnp.sum((hidden @ w2 + b2 - y) ** 2)


rng = np.random.default_rng(0)
params = ((rng.normal(size=(3, 4)), np.zeros(4)), (rng.normal(size=(4, 2)), np.zeros(2)))
xs, ys = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))

per_example = fgrad.jit(fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0)))
grads = per_example(params, xs, ys)
(g_w1, g_b1), (g_w2, g_b2) = grads
print("per-example gradient of w1 has shape", g_w1.shape, "(one 3x4 gradient per example)")

# The same numbers a Python loop over the examples gives, one gradient at a time:
loop = [fgrad.grad(loss)(params, xs[k], ys[k])[0][0] for k in range(len(xs))]
print("equal to a loop of single-example gradients:", np.allclose(g_w1, np.stack(loop)))

# Their mean is the gradient of the mean loss:
mean_grad = fgrad.grad(lambda p: fnp.mean(fgrad.vmap(loss, in_axes=(None, 0, 0))(p, xs, ys)))(params)
print("their mean is the batch gradient:           ", np.allclose(g_w1.mean(axis=0), mean_grad[0][0]))

# Per-example gradient norms, the quantity differentially-private training clips:
norms = np.sqrt(sum(np.sum(g.reshape(len(xs), -1) ** 2, axis=1) for g in (g_w1, g_b1, g_w2, g_b2)))
print("per-example gradient norms:", np.round(norms, 3))

# The batched program: one set of equations for the whole batch, not one per example.
program = fgrad.make_ir(fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0)))(params, xs, ys)
print(f"the batched gradient program has {len(program.equations)} equations for a batch of {len(xs)} "
      "(the same for any batch size)")
