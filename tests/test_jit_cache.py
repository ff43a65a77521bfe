"""fgrad.jit's caches: kernels in Numba's disk cache seen from fresh processes (cache statistics, not
timings), the bounded per-function and per-process caches, and what the fast path lets through."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from fgrad import config as fgrad_config  # noqa: E402
from fgrad.backend import jit as jit_module  # noqa: E402
from fgrad.backend import numba_jit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# A fresh process: jit W1's value and gradient, call it, report the kernel's cache statistics.
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import fgrad, fgrad.numpy as fnp
from fgrad.backend.numba_jit import compile_stats

def loss(x):
    return fnp.sum(fnp.sin(x) ** 2 * fnp.exp(-0.5 * x) + fnp.tanh(x) * x)

f = fgrad.jit(fgrad.value_and_grad(loss))
x = np.linspace(-3.0, 3.0, int(sys.argv[2]))
value, grad = f(x)
ref_value, ref_grad = fgrad.value_and_grad(loss)(x)
entry = next(iter(f._traces.values()))
print(json.dumps({"ok": bool(np.allclose(value, ref_value) and np.allclose(grad, ref_grad)),
                  "path": str(entry.kernel.path), **compile_stats(entry.kernel)}))
"""


def run_child(cache_dir, n=50):
    env = {**os.environ, "FGRAD_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(n)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_fresh_processes_load_the_kernel_from_disk_and_rebuild_damaged_files(tmp_path):
    # Few processes (each pays Numba's start-up): one cold, one warm, one per kind of damage.
    # tests/test_numba_cache.py damages every kind of cache file in one child process.
    first, _ = run_child(tmp_path)
    assert first["ok"] and (first["cache_hits"], first["cache_misses"]) == (0, 1)
    second, _ = run_child(tmp_path, n=77)          # another size: the same kernel, from disk
    assert second["ok"] and (second["cache_hits"], second["cache_misses"]) == (1, 0)
    assert second["path"] == first["path"]

    for f in Path(first["cache_path"]).glob("k_*.nbc"):  # Numba's own reader would unpickle this
        f.write_bytes(b"\x80\x04garbage")
    rebuilt, stderr = run_child(tmp_path)
    assert rebuilt["ok"] and (rebuilt["cache_hits"], rebuilt["cache_misses"]) == (0, 1)
    assert "damaged Numba cache file" in stderr

    path = Path(first["path"])
    path.write_text(path.read_text().replace("def kernel(", "def damaged("))
    rewritten, stderr = run_child(tmp_path)
    assert rewritten["ok"] and (rewritten["cache_hits"], rewritten["cache_misses"]) == (0, 1)
    assert "did not match its hash" in stderr


# ---- byte order ----------------------------------------------------------------------------------------

BIG = np.dtype(">f8") if sys.byteorder == "little" else np.dtype("<f8")   # the non-native float64


def sin2(x):
    return fnp.sin(x) * 2.0


def test_non_native_byte_order_after_native_takes_the_converting_path():
    # Issue 17, item 6: the fast path keyed on dtype.char ('d' for both orders) handed '>f8' to Numba.
    f = fgrad.jit(sin2)
    x = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(f(x), np.sin(x) * 2.0)
    out = f(x.astype(BIG))
    np.testing.assert_allclose(out, np.sin(x) * 2.0)
    assert out.dtype.isnative
    assert len(f._traces) == 1 and len(f._fast) == 1, "one compiled entry serves both byte orders"
    assert all(dtype.isnative for key in f._fast for dtype, _ in key), "no non-native key on the fast path"


def test_non_native_byte_order_on_first_call_and_in_every_argument_kind():
    x = np.arange(4.0)
    f = fgrad.jit(sin2)
    np.testing.assert_allclose(f(x.astype(BIG)), np.sin(x) * 2.0)      # first call: converted, not rejected
    np.testing.assert_allclose(f(x), np.sin(x) * 2.0)                  # then native: the same entry
    assert len(f._traces) == 1
    tree = fgrad.jit(lambda d, n, *, y: d["a"] * n + y, static_argnums=1)   # pytree, static and keyword
    np.testing.assert_allclose(tree({"a": x.astype(BIG)}, 3, y=x.astype(BIG)), x * 3 + x)
    np.testing.assert_allclose(tree({"a": x}, 3, y=x.astype(BIG)), x * 3 + x)
    ints = np.arange(3, dtype=">i4" if sys.byteorder == "little" else "<i4")
    np.testing.assert_array_equal(fgrad.jit(lambda i: i * 2)(ints), np.arange(3) * 2)
    assert "sin" in str(f.lower(x.astype(BIG)).program)


def test_non_native_byte_order_with_jit_disabled(monkeypatch):
    monkeypatch.setattr(fgrad_config, "config", fgrad_config.Config(disable_jit=True, fastmath=False))
    x = np.arange(3.0)
    np.testing.assert_allclose(fgrad.jit(sin2)(x.astype(BIG)), np.sin(x) * 2.0)


# ---- bounded caches ------------------------------------------------------------------------------------

def double_plus_one(x):
    return x * 2.0 + 1.0


def test_cache_size_is_checked():
    assert fgrad.jit(double_plus_one).cache_size == 128      # functools.lru_cache's default
    assert fgrad.jit(double_plus_one, cache_size=None).cache_size is None
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(TypeError, match=r"cache_size must be an int >= 0 .* or None \(unbounded\), got"):
            fgrad.jit(double_plus_one, cache_size=bad)


def test_per_function_caches_evict_the_least_recently_used_signature():
    f = fgrad.jit(double_plus_one, cache_size=3)
    for n in (1, 2, 3):
        f(np.ones(n))
    f(np.ones(1))                          # through the fast path: now the most recent
    f(np.ones(4))                          # evicts shape (2,), the least recently used
    shapes = [key[0][1] for key in f._fast]
    assert shapes == [(3,), (1,), (4,)]
    assert len(f._traces) == 3
    np.testing.assert_allclose(f(np.ones(2)), np.full(2, 3.0))  # traced again, correct

    unbounded = fgrad.jit(double_plus_one, cache_size=None)
    for n in range(1, 200):
        unbounded(np.ones(n))
    assert len(unbounded._traces) == len(unbounded._fast) == 199

    nothing = fgrad.jit(double_plus_one, cache_size=0)
    np.testing.assert_allclose(nothing(np.ones(2)), np.full(2, 3.0))
    assert not nothing._traces and not nothing._fast


def test_memory_holding_structures_stay_bounded_over_thousands_of_shapes(monkeypatch):
    # Issue 17, item 9. Entries are counted, not bytes: every structure that grows per shape.
    monkeypatch.setattr(jit_module, "LOWERED_CACHE_SIZE", 50)
    f = fgrad.jit(double_plus_one, cache_size=20)
    tree = fgrad.jit(lambda d: {"y": d["x"] * 2.0}, cache_size=20)    # the pytree (slow) path
    f(np.ones(1))
    kernels = len(numba_jit._KERNELS)
    for n in range(2, 2002):
        f(np.ones(n))
        if n % 8 == 0:
            tree({"x": np.ones((n // 8, 2))})
    np.testing.assert_allclose(f(np.ones(3)), np.full(3, 3.0))
    assert len(f._traces) <= 20 and len(f._fast) <= 20
    assert len(tree._traces) <= 20 and len(tree._fast) == 0
    assert len(jit_module._LOWERED) <= 50
    # Kernel sources do not depend on sizes: the compiled kernel modules do not grow with shapes.
    assert len(numba_jit._KERNELS) - kernels <= 2


def test_threads_sharing_a_small_cache_get_right_results():
    # Eviction by one thread while another is between lookup and use must not raise.
    from concurrent.futures import ThreadPoolExecutor
    f = fgrad.jit(double_plus_one, cache_size=2)

    def work(seed):
        sizes = np.random.default_rng(seed).integers(1, 7, size=60)
        return all(np.array_equal(f(np.ones(n)), np.full(n, 3.0)) for n in sizes)

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(4)))
    assert len(f._traces) <= 2 and len(f._fast) <= 2
