#!/usr/bin/env python
"""Transform cost: trace, differentiate, simplify and run the adjoint of large programs.

    python benchmarks/bench_transforms.py            # a 10,000-equation program and a 100,000-equation chain
    python benchmarks/bench_transforms.py --sizes 1000,10000,100000

Every stage should be linear in the number of equations: the last column (microseconds per equation)
should stay roughly flat as the size grows. A script, not a test.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import fgrad  # noqa: E402
from fgrad.ir import trace_flat  # noqa: E402
from fgrad.ops import add, cos, mul, reduce_sum, sin, tanh  # noqa: E402
from fgrad.transforms.simplify import simplify  # noqa: E402
from fgrad.transforms.vjp import vjp_program  # noqa: E402


def mixed_program(n_equations: int):
    """Values re-used across steps (cotangents accumulate), 4 equations per step."""
    steps = n_equations // 4

    def f(x):
        acc = x
        for _ in range(steps):
            acc = add(mul(tanh(acc), x), cos(acc))
        return reduce_sum(acc)
    return f


def chain_program(n_equations: int):
    """A straight chain of `sin`: the deepest possible dependency graph."""
    def f(x):
        for _ in range(n_equations - 1):
            x = sin(x)
        return reduce_sum(x)
    return f


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench(name: str, f, x):
    program, t_trace = timed(lambda: trace_flat(lambda a: [f(a)], [fgrad.ir.typeof(x)])[0])
    adjoint, t_vjp = timed(lambda: vjp_program(program, [0]))
    simple, t_simplify = timed(lambda: simplify(adjoint))
    _, t_run = timed(lambda: fgrad.ir.eval_program(simple, x, np.ones(())))
    _, t_grad = timed(lambda: fgrad.grad(f)(x))
    n = len(program.equations)
    print(f"{name:>28}: {n:7d} eqns | trace {t_trace:6.2f}s | adjoint {t_vjp:6.2f}s ({len(adjoint.equations)} eqns)"
          f" | simplify {t_simplify:6.2f}s ({len(simple.equations)} eqns) | run {t_run:6.2f}s"
          f" | fgrad.grad end to end {t_grad:6.2f}s = {1e6 * t_grad / n:5.1f} us/eqn")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated equation counts for both programs")
    opts = parser.parse_args()
    x = np.linspace(0.1, 0.9, 8)
    if opts.sizes:
        sizes = [int(s) for s in opts.sizes.split(",")]
        cases = [(f"mixed {n}", mixed_program(n)) for n in sizes] + [(f"chain {n}", chain_program(n)) for n in sizes]
    else:
        cases = [("mixed program 10,000", mixed_program(10_000)), ("sin chain 100,000", chain_program(100_000))]
    for name, f in cases:
        bench(name, f, x)


if __name__ == "__main__":
    main()
