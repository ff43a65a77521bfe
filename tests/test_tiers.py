"""jit's tiers (fgrad.backend.tiers): "eager", "compiled" and "auto" give the reference executor's results.

- every primitive sample of tests/samples_*.py on the eager tier (no compile: all of them), and a handful
  on the compiled and auto tiers (one kernel each);
- random programs of tests/fuzz_programs.py (values, gradients and JVPs) on every tier;
- threads calling an "auto" function while its kernel compiles in the background, and after;
- a kernel that does not compile: the background compile's error comes out of the next call;
- the disk cache the background compiler fills serves a later process (Numba's hit/miss counters);
- once Numba is set up, a kernel already compiled is taken at once (no eager tier).

Kernels compiled here have a literal unique to the test run in them (`_unique`), so each background
compile is a real compile, not a hit in this process's caches.
"""
from __future__ import annotations

import importlib
import os
import re
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("numba")

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from fgrad.backend.jit import Entry, JitCompileError  # noqa: E402
from fgrad.backend.numba_jit import compile_stats  # noqa: E402
from fgrad.backend.numpy_exec import evaluate  # noqa: E402
from fgrad.backend.tiers import EagerEntry, TieredEntry  # noqa: E402
from fgrad.ir import REGISTRY, Primitive  # noqa: E402
from fgrad.ops.base import same_type  # noqa: E402
from fuzz_programs import RTOL, Recipe, compare, fgrad_combined  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
_unique = 1.0 + (os.getpid() % 9973) * 1e-9 + (hash(os.urandom(4)) % 997) * 1e-13


def _samples():
    samples = {}
    for path in sorted(pathlib.Path(__file__).parent.glob("samples_*.py")):
        for name, cases in importlib.import_module(path.stem).SAMPLES.items():
            samples.setdefault(name, []).extend(cases)
    return samples


SAMPLES = _samples()
CASES = [(name, i) for name in sorted(SAMPLES) for i in range(len(SAMPLES[name]))]
# One sample each of a few kinds of kernel (elementwise, broadcast, reduction, view, BLAS, scan).
KERNEL_CASES = [("sin", 0), ("add", 0), ("broadcast_to", 0), ("reduce_sum", 0), ("transpose", 0),
                ("matmul", 0), ("cumsum", 0)]


def bound(name, params):
    prim = REGISTRY[name]

    def fun(*xs):
        out = prim.bind(*xs, **params)
        return tuple(out) if prim.multiple_results else out
    return fun


def reference(fun, args):
    return evaluate(fgrad.make_ir(fun)(*args), *args)


def leaves(out):
    return fgrad.tree_util.tree_leaves(out)


def assert_matches(got, want, rtol):
    got = leaves(got)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        problem = compare(g, w, rtol)
        assert problem is None, problem


@pytest.mark.parametrize("name,i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_eager_tier_matches_the_reference_on_every_sample(name, i):
    args, params = SAMPLES[name][i]
    fun = bound(name, params)
    f = fgrad.jit(fun, tier="eager")
    with np.errstate(all="ignore"):
        want = reference(fun, args)
        got = f(*args)
    assert isinstance(next(iter(f._traces.values())), EagerEntry)
    assert_matches(got, want, 0.0)      # the same numpy impls, equation by equation: bit for bit


@pytest.mark.parametrize("name,i", KERNEL_CASES, ids=[f"{n}-{i}" for n, i in KERNEL_CASES])
def test_compiled_and_auto_tiers_match_the_reference(name, i):
    args, params = SAMPLES[name][i]
    fun = bound(name, params)
    with np.errstate(all="ignore"):
        want = reference(fun, args)
    rtol = max(RTOL.get(np.asarray(w).dtype, 1e-9) for w in want)
    compiled = fgrad.jit(fun, tier="compiled")
    assert_matches(compiled(*args), want, rtol)
    assert isinstance(next(iter(compiled._traces.values())), Entry)
    # A new function of the same program: the kernel is in this process's caches now, so "auto" takes it.
    auto = fgrad.jit(fun, tier="auto")
    assert_matches(auto(*args), want, rtol)
    auto.wait()
    assert_matches(auto(*args), want, rtol)
    assert isinstance(next(iter(auto._traces.values())), Entry)


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_tiers_agree_on_random_programs(seed):
    recipe = Recipe.draw(seed)
    dims = recipe.dims
    args, tangents = recipe.arguments(dims)
    arrays = args + tangents
    combined = fgrad_combined(recipe, dims)
    with np.errstate(all="ignore"):
        want = evaluate(fgrad.make_ir(combined)(*arrays), *arrays)
        rtol = RTOL[recipe.precision]
        assert_matches(fgrad.jit(combined, tier="eager")(*arrays), want, 0.0)
        auto = fgrad.jit(combined, tier="auto")
        first = auto(*arrays)             # eager, or the kernel if another test compiled it already
        auto.wait()
        assert_matches(first, want, rtol)
        assert_matches(auto(*arrays), want, rtol)
        assert_matches(fgrad.jit(combined, tier="compiled")(*arrays), want, rtol)


def _chain(k, c):
    def f(a, b):
        for _ in range(k):
            a, b = fnp.sin(a) * b + fnp.cos(b), 0.5 * a + c * b
        return fnp.sum(a + b)
    return f


def test_threads_calling_while_the_kernel_compiles_get_the_same_results():
    fun = fgrad.value_and_grad(_chain(3, 0.9 * _unique), argnums=(0, 1))
    x, y = np.linspace(-1, 1, 50), np.cos(np.linspace(0, 3, 50))
    value, grads = reference(fun, (x, y))[0], reference(fun, (x, y))[1:]
    f = fgrad.jit(fun, tier="auto")
    first = f(x, y)                               # returns at once: the kernel is new, it compiles behind
    tiered = next(iter(f._traces.values()))
    assert isinstance(tiered, TieredEntry)
    results, errors, ran_eager = [], [], []

    def caller():
        try:
            while True:
                eager = tiered.ready is None
                results.append(f(x, y))
                ran_eager.append(eager)
                time.sleep(0.002)             # leave the compile thread the GIL now and then
                if not eager and len(results) > 40:
                    return
        except Exception as exc:                 # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    f.wait()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert any(ran_eager) and not all(ran_eager), "calls ran on both tiers"
    assert isinstance(next(iter(f._traces.values())), Entry)    # the kernel entry replaced the tiered one
    for out in [first] + results:
        np.testing.assert_allclose(out[0], value, rtol=1e-12)
        np.testing.assert_allclose(out[1][0], grads[0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(out[1][1], grads[1], rtol=1e-10, atol=1e-13)


@pytest.fixture
def scratch_primitives():
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


def test_a_background_compile_error_raises_on_the_next_call(scratch_primitives):
    broken = Primitive("test_tier_broken_emitter", kind="elementwise", shape_rule=same_type, impl=lambda x: x,
                       numba="np.no_such_function({0})")
    f = fgrad.jit(lambda x: broken.bind(x) + 1.0, tier="auto")
    np.testing.assert_array_equal(f(np.ones(2)), 2.0)      # eager: the impl is fine
    with pytest.raises(JitCompileError) as info:
        f.wait()
    for _ in range(2):                                      # and on every call after: no silent fallback
        with pytest.raises(JitCompileError) as info:
            f(np.ones(2))
        message = str(info.value)
        assert "np.no_such_function(v0)" in message                          # the generated source
        assert "test_tier_broken_emitter" in message and "program(" in message  # the program


def test_compile_blocks_until_the_kernel_runs():
    f = fgrad.jit(lambda x: fnp.exp(x) * _unique, tier="auto").compile(np.ones(3))
    assert isinstance(next(iter(f._traces.values())), Entry)
    np.testing.assert_allclose(f(np.zeros(4)), _unique)


def test_compiling_ahead_types_arguments_as_calls_do():
    # One signature: what compile_now typed is what the calls dispatch to (no second, lazy compile).
    f = fgrad.jit(lambda x, s, n: x * s + n * _unique, tier="compiled")
    f.compile(np.ones(3), 2.0, 3)
    np.testing.assert_allclose(f(np.ones(3), 2.0, 3), 2.0 + 3 * _unique)
    np.testing.assert_allclose(f(np.ones(3), np.float64(2.0), 3), 2.0 + 3 * _unique)
    entry = next(iter(f._traces.values()))
    assert len(entry.kernel.dispatcher.signatures) == 1, entry.kernel.dispatcher.signatures


def test_auto_skips_the_eager_tier_for_a_kernel_numba_already_has():
    fun = lambda x: fnp.log1p(fnp.abs(x)) * (3.0 * _unique)   # noqa: E731
    fgrad.jit(fun, tier="compiled")(np.ones(3))           # compiled; Numba is set up in this process now
    f = fgrad.jit(fun, tier="auto")
    np.testing.assert_allclose(f(np.ones(3)), np.log(2.0) * 3.0 * _unique)
    assert isinstance(next(iter(f._traces.values())), Entry)


def test_bad_tier_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="'auto', 'compiled', 'eager'"):
        fgrad.jit(np.sin, tier="fast")


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, fgrad, fgrad.numpy as fnp
from fgrad.backend.numba_jit import compile_stats
from fgrad.backend.tiers import TieredEntry
c = float(sys.argv[2])
f = fgrad.jit(lambda x: fnp.sum(fnp.tanh(x) * c), tier="auto")
out = f(np.ones(5))
entry = next(iter(f._traces.values()))
tiered = isinstance(entry, TieredEntry)
f.wait()
entry = next(iter(f._traces.values()))
print(json.dumps({"tiered": tiered, "value": float(out), **compile_stats(entry.kernel)}))
"""


def test_the_background_compile_fills_the_disk_cache_for_the_next_process(tmp_path):
    # This process compiles in the background into tmp_path's cache; a fresh process finds it on disk.
    env = {**os.environ, "FGRAD_CACHE_DIR": str(tmp_path)}
    c = 2.0 * _unique
    import json
    here = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), repr(c)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert here.returncode == 0, here.stderr
    first = json.loads(here.stdout.splitlines()[-1])
    assert first["tiered"] and (first["cache_hits"], first["cache_misses"]) == (0, 1)
    later = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), repr(c)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert later.returncode == 0, later.stderr
    second = json.loads(later.stdout.splitlines()[-1])
    # A new process has not set Numba up yet (~1 s): the eager tier runs while the kernel loads from disk.
    assert (second["cache_hits"], second["cache_misses"]) == (1, 0), "loaded, not compiled again"
    assert second["value"] == pytest.approx(first["value"]) == pytest.approx(5 * np.tanh(1.0) * c)


# ---- the compile log and the compile-time policies ----------------------------------------------------

def test_each_compile_logs_one_line_with_its_stages(caplog):
    import logging
    caplog.set_level(logging.INFO, logger="fgrad.compile")
    f = fgrad.jit(lambda x: fnp.sum(fnp.cos(x) * (5.0 * _unique)), tier="compiled")
    f(np.ones(4))
    f(np.ones(5))                                   # a new trace, the same kernel: no compile, no line
    lines = [r.getMessage() for r in caplog.records if r.name == "fgrad.compile"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert re.search(r"f64\[4\]: \d+ equations, kernel \d+ lines, cache miss in ", line), line
    for stage in ("trace", "simplify", "generate", "load", "numba typing", "numba lowering", "llvm"):
        assert f"{stage} " in line, (stage, line)


def test_kernels_with_many_transcendental_calls_use_libm():
    from fgrad.backend.jit import VECMATH_MAX_CALLS

    def many(x):
        for _ in range(VECMATH_MAX_CALLS + 1):
            x = fnp.sin(x)
        return x
    x = np.ones(3)
    assert "vsin" in fgrad.jit(lambda x: fnp.sin(fnp.sin(x))).lower(x).source
    source = fgrad.jit(many).lower(x).source
    assert "vsin" not in source and "np.sin" in source
