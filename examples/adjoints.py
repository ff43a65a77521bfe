"""Reverse mode you can read: a function, its adjoint program before and after simplification, and a check.

    python examples/adjoints.py
"""
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad.ir import trace_flat
from fgrad.transforms.simplify import simplify
from fgrad.transforms.vjp import vjp_eval


def mlp_loss(w1, w2, x, y):
    """Mean squared error of a two-layer tanh network."""
    hidden = fnp.tanh(x @ w1)
    return fnp.mean((hidden @ w2 - y) ** 2)


rng = np.random.default_rng(0)
w1, w2 = rng.normal(size=(3, 4)), rng.normal(size=(4,))
x, y = rng.normal(size=(5, 3)), rng.normal(size=5)

program = fgrad.make_ir(mlp_loss)(w1, w2, x, y)
print("The function's program:")
print(program, end="\n\n")


def seeded_adjoint(*args):
    # The adjoint w.r.t. w1 and w2, its output cotangent seeded with 1.0, before any simplification.
    outs, cts = vjp_eval(program, args, (0, 1), [np.ones((), program.outputs[0].type.dtype)])
    return outs + cts


raw, _ = trace_flat(seeded_adjoint, list(program.in_types))
print(f"The adjoint program as the reverse sweep emits it ({len(raw.equations)} equations):")
print(raw, end="\n\n")
clean = simplify(raw)
print(f"After simplification ({len(clean.equations)} equations):")
print(clean, end="\n\n")

print("What fgrad.grad runs is that simplified program:")
print(fgrad.make_ir(fgrad.grad(mlp_loss, argnums=(0, 1)))(w1, w2, x, y), end="\n\n")

fgrad.check_grads(mlp_loss, (w1, w2, x, y), order=2, modes=("fwd", "rev"))
print("check_grads: forward and reverse mode agree with finite differences to second order.")
