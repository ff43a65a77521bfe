"""fgrad.jit's kernels in Numba's disk cache, seen from fresh processes (cache statistics, not timings)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

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


def test_a_second_process_loads_the_kernel_from_disk(tmp_path):
    first, _ = run_child(tmp_path)
    assert first["ok"] and (first["cache_hits"], first["cache_misses"]) == (0, 1)
    second, _ = run_child(tmp_path, n=77)          # another size: the same kernel
    assert second["ok"] and (second["cache_hits"], second["cache_misses"]) == (1, 0)
    assert second["path"] == first["path"]


def test_a_damaged_cache_is_rebuilt(tmp_path):
    first, _ = run_child(tmp_path)
    index_files = list(Path(first["cache_path"]).glob("k_*.nbi"))
    data_files = list(Path(first["cache_path"]).glob("k_*.nbc"))
    assert index_files and data_files
    for f in data_files:
        f.write_bytes(b"\x80\x04garbage")
    for f in index_files:
        f.write_bytes(f.read_bytes()[:20])
    rebuilt, stderr = run_child(tmp_path)
    assert rebuilt["ok"] and rebuilt["cache_misses"] == 1
    again, _ = run_child(tmp_path)
    assert again["ok"] and (again["cache_hits"], again["cache_misses"]) == (1, 0)


def test_a_damaged_kernel_file_is_rewritten(tmp_path):
    first, _ = run_child(tmp_path)
    path = Path(first["path"])
    path.write_text(path.read_text().replace("def kernel(", "def damaged("))
    rebuilt, stderr = run_child(tmp_path)
    assert rebuilt["ok"] and "did not match its hash" in stderr
