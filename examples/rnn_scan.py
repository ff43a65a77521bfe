"""A recurrent network written with scan: one loop in the program, compiled as one loop, for any length.

    python examples/rnn_scan.py

`lax.scan(cell, h0, xs)` runs `cell` once per step; its value and gradient compile to two loops in one kernel
(the forward loop records what the reverse loop needs), so a 1,000-step sequence compiles as fast as a
10-step one.
"""
import time

import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

hidden = 16


def loss(params, xs, targets):
    w, u, v = params

    def cell(h, inputs):
        x, target = inputs
        h = fnp.tanh(w @ h + u * x)
        return h, (v @ h - target) ** 2

    _, errors = lax.scan(cell, fnp.zeros(hidden), (xs, targets))
    return fnp.mean(errors)


rng = np.random.default_rng(1)
params = (0.3 * rng.normal(size=(hidden, hidden)), rng.normal(size=hidden), rng.normal(size=hidden) / 4)
train = fgrad.jit(fgrad.value_and_grad(loss))

for steps in (10, 1000):
    xs = np.sin(np.linspace(0, 8, steps))
    targets = np.cos(np.linspace(0, 8, steps))
    start = time.perf_counter()
    value, grads = train(params, xs, targets)
    first = time.perf_counter() - start
    start = time.perf_counter()
    train(params, xs, targets)
    print(f"{steps:5d} steps: loss {float(value):.4f}, first call {first:.2f} s (traces; compiles only the first "
          f"time), then {1e3 * (time.perf_counter() - start):.2f} ms")

# A few steps of gradient descent on the 1,000-step sequence:
for epoch in range(5):
    value, grads = train(params, xs, targets)
    params = tuple(p - 0.1 * g for p, g in zip(params, grads))
    print(f"epoch {epoch}: loss {float(value):.5f}")

print()
source = train.lower(params, xs, targets).source
steps_loops = [line.strip() for line in source.splitlines() if line.strip().startswith("for k")]
print("the kernel's loops over the sequence (one forward, one reverse), whatever its length:")
print("\n".join("    " + line for line in steps_loops))
print(f"(the whole kernel is {len(source.splitlines())} lines: fgrad.show_source prints it)")
