"""Reverse mode you can read: a function's program, its adjoint as the reverse sweep emits it, the same
after simplification, and a check that this simplified program is exactly what grad runs and jit compiles.

    python examples/adjoints.py

Prints, each under a line saying what it is: the program of a small network's loss; the gradient program
unsimplified and simplified, which is what fgrad.grad runs (with their equation counts); whether
fgrad.jit compiles that same program; and a finite-difference check.
"""
import numpy as np

import fgrad
import fgrad.numpy as fnp


def mlp_loss(w1, w2, x, y):
    """Mean squared error of a two-layer tanh network."""
    hidden = fnp.tanh(x @ w1)
    return fnp.mean((hidden @ w2 - y) ** 2)


rng = np.random.default_rng(0)
w1, w2 = rng.normal(size=(3, 4)), rng.normal(size=(4,))
x, y = rng.normal(size=(5, 3)), rng.normal(size=5)
args = (w1, w2, x, y)
grad_loss = fgrad.grad(mlp_loss, argnums=(0, 1))

print("The function's program (inputs a, b, c, d are w1, w2, x, y):")
print(fgrad.make_ir(mlp_loss)(*args), end="\n\n")

raw = fgrad.make_ir(grad_loss, simplify=False)(*args)
print(f"The gradient program as the reverse sweep emits it, nothing simplified ({len(raw.equations)} equations):")
print(raw, end="\n\n")

runs = fgrad.make_ir(grad_loss)(*args)
print(f"The same after simplification ({len(runs.equations)} equations): dead code gone, the loss itself too")
print("(grad does not return it), constants folded. This is the program grad(mlp_loss) evaluates (make_ir")
print("records it as grad runs it); a_ct and b_ct are the gradients of w1 and w2:")
print(runs, end="\n\n")

compiled = fgrad.jit(grad_loss).lower(*args).program
print("Does jit(grad(mlp_loss)) compile exactly the printed program?", compiled == runs and str(compiled) == str(runs))
print()

fgrad.check_grads(mlp_loss, args, order=2, modes=("fwd", "rev"))
print("check_grads: forward and reverse mode agree with finite differences to second order.")
