"""The Numba disk cache in fgrad.backend.numba_jit.

Every test gets its own FGRAD_CACHE_DIR. Cross-process behaviour is checked
in real subprocesses, using the dispatcher's cache-hit and miss counters
rather than timings.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from fgrad.backend import numba_jit  # noqa: E402
from fgrad.backend.numba_jit import KernelCompileError, compile_stats, load_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

LOOP = """\
import numpy as np

def entry(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i] + 1.0
    return out
"""
X = np.arange(6.0)
EXPECTED = X * X + 1.0

# A child process: load LOOP-like source from argv, call it on X, print JSON.
# With a "go" path in argv it first says it is ready and waits for the go
# file, so that two children reach load_kernel together (numba is imported
# before the start line so that its import time does not stagger them).
CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import numba
from fgrad.backend import numba_jit
source, go = sys.argv[2], sys.argv[3]
if go:
    open(go + "." + str(os.getpid()), "w").close()
    deadline = time.time() + 30
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.001)
kernel = numba_jit.load_kernel(source, "entry")
out = kernel(np.arange(6.0))
print(json.dumps({"result": out.tolist(), **numba_jit.compile_stats(kernel)}))
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path))
    numba_jit.clear_memory_cache()
    yield tmp_path
    numba_jit.clear_memory_cache()


def child_command(source, go=""):
    return [sys.executable, "-c", CHILD, str(ROOT), source, go]


def child_env(cache):
    return {**os.environ, "FGRAD_CACHE_DIR": str(cache)}


def child_report(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def reload(source, entry="entry", **options):
    """Load as a fresh process would: no in-process kernel, so a new dispatcher."""
    numba_jit.clear_memory_cache()
    return load_kernel(source, entry, **options)


def numba_files(kernel):
    cache_path = Path(compile_stats(kernel)["cache_path"])
    return sorted(p for p in cache_path.glob(f"k_{kernel.key}.*") if p.suffix in (".nbi", ".nbc"))


# --------------------------------------------------------------------------- 1. compile


def test_loop_kernel_compiles_and_gives_correct_results(cache):
    kernel = load_kernel(LOOP, "entry")
    assert kernel.path.parent.parent == cache
    assert kernel.path.name == f"k_{kernel.key}.py"
    np.testing.assert_allclose(kernel(X), EXPECTED)
    np.testing.assert_allclose(kernel(np.arange(100.0)), np.arange(100.0) ** 2 + 1.0)  # one compile, any size
    stats = compile_stats(kernel)
    assert (stats["cache_hits"], stats["cache_misses"]) == (0, 1)
    assert load_kernel(LOOP, "entry") is kernel  # in-process cache


# The scalar helper also gets parallel=True and Numba warns that it has nothing to parallelise.
@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPerformanceWarning")
def test_helpers_listed_in_njit_are_compiled_and_prange_runs_in_parallel(cache):
    source = """\
import math
from numba import prange

__njit__ = ("square",)

def square(v):
    return v * v

def entry(x):
    out = x.copy()
    for i in prange(x.shape[0]):
        out[i] = math.sqrt(square(x[i]) + 1.0)
    return out
"""
    parallel = load_kernel(source, "entry", parallel=True)
    serial = load_kernel(source, "entry")
    assert parallel.path != serial.path  # Numba's index ignores njit options: separate files
    expected = np.sqrt(X * X + 1.0)
    np.testing.assert_allclose(parallel(X), expected)
    np.testing.assert_allclose(serial(X), expected)
    assert parallel.dispatcher.targetoptions["parallel"] is True
    assert type(parallel.module.square).__name__ == "CPUDispatcher"


def test_error_model_numpy_divides_by_zero_without_raising(cache):
    kernel = load_kernel("def entry(a, b):\n    return a / b\n", "entry")
    assert kernel(1.0, 0.0) == np.inf


# --------------------------------------------------------------------------- 2. second process


def test_second_process_loads_kernel_from_disk_cache_without_compiling(cache):
    first = load_kernel(LOOP, "entry")
    np.testing.assert_allclose(first(X), EXPECTED)
    assert compile_stats(first)["cache_misses"] == 1

    done = subprocess.run(child_command(LOOP), env=child_env(cache), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = child_report(done.stdout)
    np.testing.assert_allclose(report["result"], EXPECTED)
    assert (report["cache_hits"], report["cache_misses"]) == (1, 0)


# --------------------------------------------------------------------------- 3. damage


@pytest.mark.parametrize("damage", ["edited", "truncated"])
def test_damaged_kernel_file_is_detected_and_rebuilt(cache, damage):
    kernel = load_kernel(LOOP, "entry")
    np.testing.assert_allclose(kernel(X), EXPECTED)
    assert numba_files(kernel)
    original = kernel.path.read_bytes()
    if damage == "edited":  # still valid Python, and it would give a wrong answer
        kernel.path.write_bytes(original.replace(b"+ 1.0", b"+ 2.0"))
    else:
        kernel.path.write_bytes(original[: len(original) // 2])

    with pytest.warns(RuntimeWarning, match="did not match its hash"):
        rebuilt = reload(LOOP)
    assert rebuilt.path == kernel.path
    assert rebuilt.path.read_bytes() == original
    np.testing.assert_allclose(rebuilt(X), EXPECTED)
    # Numba's cache files were dropped with the damaged file, so this compiled afresh.
    assert (compile_stats(rebuilt)["cache_hits"], compile_stats(rebuilt)["cache_misses"]) == (0, 1)


@pytest.mark.parametrize("damage", ["nbi-garbage", "nbi-empty", "nbc-truncated", "nbc-garbage"])
def test_damaged_numba_cache_files_are_dropped_and_recompiled(cache, damage):
    kernel = load_kernel(LOOP, "entry")
    np.testing.assert_allclose(kernel(X), EXPECTED)
    kind, how = damage.split("-")
    (target,) = [p for p in numba_files(kernel) if p.suffix == "." + kind]
    data = target.read_bytes()
    target.write_bytes({"garbage": b"not a pickle " * 20, "empty": b"", "truncated": data[: len(data) // 2]}[how])

    # Numba 0.68.1 itself raises here (UnpicklingError/EOFError out of the call).
    with pytest.warns(RuntimeWarning, match="unreadable Numba cache"):
        survived = reload(LOOP)
        np.testing.assert_allclose(survived(X), EXPECTED)
    assert (compile_stats(survived)["cache_hits"], compile_stats(survived)["cache_misses"]) == (0, 1)

    healed = reload(LOOP)  # the recompile wrote good cache files
    np.testing.assert_allclose(healed(X), EXPECTED)
    assert (compile_stats(healed)["cache_hits"], compile_stats(healed)["cache_misses"]) == (1, 0)


# --------------------------------------------------------------------------- 4. concurrency


def test_two_processes_compiling_the_same_kernel_at_once_both_succeed(cache):
    go = cache / "go"
    children = [
        subprocess.Popen(child_command(LOOP, str(go)), env=child_env(cache), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    deadline = time.time() + 60  # both have imported numba and wait at the start line
    while len(list(cache.glob("go.*"))) < 2 and time.time() < deadline:
        time.sleep(0.01)
    go.touch()
    reports = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        reports.append(child_report(out))
    for report in reports:
        np.testing.assert_allclose(report["result"], EXPECTED)
        assert report["cache_hits"] + report["cache_misses"] == 1

    kernel_dir = numba_jit.cache_dir()
    assert len(list(kernel_dir.glob("k_*.py"))) == 1
    assert not list(kernel_dir.rglob("*.tmp*"))  # no temp file left behind
    after = reload(LOOP)  # whatever the interleaving, the cache left behind is good
    np.testing.assert_allclose(after(X), EXPECTED)
    assert (compile_stats(after)["cache_hits"], compile_stats(after)["cache_misses"]) == (1, 0)


# --------------------------------------------------------------------------- 5. errors


def test_numba_compile_failure_raises_kernel_compile_error_with_source_and_numba_error(cache):
    source = "import numpy as np\n\ndef entry(x):\n    return x.no_such_attribute\n"
    kernel = load_kernel(source, "entry")
    with pytest.raises(KernelCompileError) as info:
        kernel(X)
    message = str(info.value)
    assert "Numba could not compile kernel 'entry'" in message
    assert "TypingError" in message and "Unknown attribute 'no_such_attribute'" in message
    assert "4 |     return x.no_such_attribute" in message  # numbered source
    assert str(kernel.path) in message
    assert "\x1b[" not in message  # Numba's terminal highlighting is stripped


def test_source_that_python_cannot_import_raises_kernel_compile_error(cache):
    with pytest.raises(KernelCompileError, match=r"(?s)SyntaxError.*1 \| def entry\(x\) return x"):
        load_kernel("def entry(x) return x\n", "entry")
    with pytest.raises(KernelCompileError, match="no function 'entry'"):
        load_kernel("def other(x):\n    return x\n", "entry")
    with pytest.raises(KernelCompileError, match="no function 'missing_helper'"):
        load_kernel("__njit__ = ('missing_helper',)\ndef entry(x):\n    return x\n", "entry")


def test_errors_raised_while_the_kernel_runs_pass_through_unchanged(cache):
    kernel = load_kernel("def entry(n):\n    if n < 0:\n        raise ValueError('negative')\n    return n\n", "entry")
    assert kernel(3) == 3
    with pytest.raises(ValueError, match="negative"):
        kernel(-1)


# --------------------------------------------------------------------------- cache dir


def test_cache_dir_honours_env_and_separates_numba_and_python_versions(tmp_path, monkeypatch):
    import numba

    leaf = f"kernels-numba{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}{sys.abiflags}"
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path / "explicit"))
    assert numba_jit.cache_dir() == tmp_path / "explicit" / leaf
    assert numba_jit.cache_dir().is_dir()

    monkeypatch.delenv("FGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_jit.cache_dir() == tmp_path / "xdg" / "fgrad" / leaf

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numba_jit.cache_dir() == tmp_path / "home" / ".cache" / "fgrad" / leaf
