"""Generated kernel source: golden files, determinism, independence of sizes and constant values.

The golden files tests/golden/source_*.txt hold the simplified program and the kernel source. To update
them after a deliberate change, run

    FGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py

and read the diff: a kernel should be what a person would write by hand.
"""
from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.backend.codegen import generate, inline_calls

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"


def w1_loss(x):
    return fnp.sum(fnp.sin(x) ** 2 * fnp.exp(-0.5 * x) + fnp.tanh(x) * x)


def broadcast_and_reduce(x, b):
    """A row-normalised softmax-like map: a partial reduction, then its broadcast back."""
    z = fnp.exp(x + b)
    return z / fnp.sum(z, axis=1, keepdims=True)


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


GOLDEN = [
    ("w1_grad", fgrad.value_and_grad(w1_loss), (np.ones(8),)),
    ("broadcast_reduce", broadcast_and_reduce, (np.ones((3, 4)), np.ones(4))),
]


def lowered_text(fun, args, parallel=False) -> str:
    lowered = fgrad.jit(fun, parallel=parallel).lower(*args)
    # The kernel names the hash of fgrad.backend.vecmath's source, which changes with every edit there.
    source = re.sub(r"# vecmath [0-9a-f]+", "# vecmath <hash>", lowered.source)
    return f"{lowered.program}\n\n{source}"


@pytest.mark.parametrize("name, fun, args", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_source_matches_golden(name, fun, args):
    text = lowered_text(fun, args)
    path = GOLDEN_DIR / f"source_{name}.txt"
    if os.environ.get("FGRAD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_w1_gradient_is_one_loop_without_temporaries():
    source = fgrad.jit(fgrad.value_and_grad(w1_loss)).lower(np.ones(8)).source
    assert source.count("for i0 in") == 1         # one pass over x (blocked for the sum)
    assert source.count("np.empty((n0,)") == 1     # the gradient is the only array of x's size
    assert "vsin(v0)" in source and "np.sin" not in source


def test_source_does_not_depend_on_sizes():
    jitted = fgrad.jit(fgrad.value_and_grad(rosenbrock))
    small, large = jitted.lower(np.ones(5)), jitted.lower(np.ones(1000))
    assert small.program != large.program
    assert small.source == large.source


def test_generation_is_deterministic():
    a = fgrad.jit(fgrad.value_and_grad(rosenbrock)).lower(np.ones(10))
    b = fgrad.jit(fgrad.value_and_grad(rosenbrock)).lower(np.ones(10))
    assert a.source == b.source
    assert generate(a.program).source == a.source


def test_array_constants_are_arguments():
    w = np.linspace(0.0, 1.0, 6)
    lowered = generate(fgrad.make_ir(lambda x: fnp.sum(x * w))(np.ones(6)))
    assert "def kernel(a0, k0)" in lowered.source
    assert len(lowered.constants) == 1 and lowered.constants[0] is not None
    np.testing.assert_array_equal(lowered.constants[0], w)


def test_scalar_literals_are_exact():
    lowered = generate(fgrad.make_ir(lambda x: x * 0.1 + np.float32(1 / 3))(np.ones(2, np.float32)))
    assert "np.float32(0.10000000149011612)" in lowered.source
    assert f"np.float32({float(np.float32(1 / 3))!r})" in lowered.source


def test_broadcast_is_index_arithmetic():
    source = fgrad.jit(broadcast_and_reduce).lower(np.ones((3, 4)), np.ones(4)).source
    assert "a1[i1]" in source                     # b read at the column index: no broadcast copy
    assert "broadcast_to" in source and "np.broadcast_to" not in source


def test_parallel_source_uses_prange_for_disjoint_writes_only():
    source = fgrad.jit(fgrad.value_and_grad(w1_loss), parallel=True).lower(np.ones(8)).source
    # The full sum: per-block partials in prange, combined serially after the loop.
    parallel_part, combine = source.split("for b0 in prange(nb0):")[1].split("for b0 in range(nb0):")
    assert "p10[b0] = r10" in parallel_part and "r10 += p10[b0]" in combine
    assert "assert" not in source


def test_calls_are_inlined():
    @fgrad.custom_vjp
    def f(x):
        return fnp.sin(x)
    f.defvjp(lambda x: (fnp.sin(x), x), lambda x, g: (g,))
    program = fgrad.make_ir(lambda x: f(x) * 2.0)(np.ones(3))
    assert any(e.prim.name == "custom_vjp_call" for e in program.equations)
    names = [e.prim.name for e in inline_calls(program).equations]
    assert names[0] == "sin" and "custom_vjp_call" not in names
