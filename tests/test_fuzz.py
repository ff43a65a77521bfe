"""Differential fuzzing: random programs through the reference executor, jit, parallel jit and JAX.

The generator and the check live in tests/fuzz_programs.py. CI runs the few recipes of CI_SEEDS (each
compiles one serial and one parallel kernel per distinct source, shared by its size variants). The
larger run is on demand:

    python -m pytest tests -m fuzz                          # FGRAD_FUZZ_PROGRAMS=200 from seed 1000
    FGRAD_FUZZ_PROGRAMS=1000 FGRAD_FUZZ_SEED=0 python -m pytest tests/test_fuzz.py -m fuzz -s

It checks every recipe, prints the mismatch rate and each finding (with its seed: reproduce one with
`python tests/fuzz_programs.py SEED`), and fails if there was any.
"""
from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("numba")

from fuzz_programs import Checker, Recipe, jax_or_none, run_in_chunks  # noqa: E402

# Two small recipes (four kernels, a few seconds of compiling): 40 returns a float64 result twice and a
# full_like constant; 253 pads, gathers and slices in float32 and returns an input and a literal too, and
# also runs with a 0-sized axis. `python tests/fuzz_programs.py SEED` shows one.
CI_SEEDS = [40, 253]


@pytest.mark.parametrize("seed", CI_SEEDS, ids=[f"seed{s}" for s in CI_SEEDS])
def test_fuzzed_program_agrees_everywhere(seed):
    recipe = Recipe.draw(seed)
    findings = Checker(jax_or_none()).check(recipe)
    assert not findings, recipe.describe() + "\n\n" + "\n\n".join(map(str, findings))


@pytest.mark.fuzz
def test_fuzz_run():
    count = int(os.environ.get("FGRAD_FUZZ_PROGRAMS", "200"))
    first = int(os.environ.get("FGRAD_FUZZ_SEED", "1000"))
    start = time.perf_counter()
    # Child processes of 25 recipes each: Numba keeps the memory of every kernel it compiled.
    failing = run_in_chunks(first, count)
    elapsed = time.perf_counter() - start
    summary = (f"{count} programs (seeds {first}..{first + count - 1}) in {elapsed:.0f} s: "
               f"{len(failing)} with a mismatch ({len(failing) / count:.1%})")
    print("\n" + summary)
    for seed, findings in failing.items():
        print(f"\n{Recipe.draw(seed).describe()}")
        for finding in findings:
            print(f"  {finding}")
    assert not failing, summary + f"; failing seeds {sorted(failing)}"
