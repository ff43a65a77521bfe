"""The Numba disk cache in fgrad.backend.numba_jit.

Every test gets its own FGRAD_CACHE_DIR. Cross-process behaviour is checked
in real subprocesses, using the dispatcher's cache-hit and miss counters
rather than timings.
"""
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from fgrad.backend import numba_cache, numba_jit  # noqa: E402
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
    with pytest.warns(RuntimeWarning, match="damaged Numba cache file"):
        survived = reload(LOOP)
        np.testing.assert_allclose(survived(X), EXPECTED)
    assert (compile_stats(survived)["cache_hits"], compile_stats(survived)["cache_misses"]) == (0, 1)

    healed = reload(LOOP)  # the recompile wrote good cache files
    np.testing.assert_allclose(healed(X), EXPECTED)
    assert (compile_stats(healed)["cache_hits"], compile_stats(healed)["cache_misses"]) == (1, 0)


def test_numba_cache_files_carry_a_checksum_bound_to_their_name(cache):
    kernel = load_kernel(LOOP, "entry")
    kernel(X)
    files = numba_files(kernel)
    assert {p.suffix for p in files} == {".nbi", ".nbc"}
    for file in files:
        blob = file.read_bytes()
        assert blob.startswith(numba_cache.MAGIC)
        numba_cache.unseal(file.name, blob)                     # passes under its own name
        with pytest.raises(numba_cache.DamagedCacheFile, match="checksum mismatch"):
            numba_cache.unseal("k_other" + file.name[len(f"k_{kernel.key}"):], blob)
    with pytest.raises(numba_cache.DamagedCacheFile, match="no fgrad checksum header"):
        numba_cache.unseal(files[0].name, files[0].read_bytes()[:10])


def test_index_naming_a_missing_data_file_is_a_plain_miss(cache, recwarn):
    kernel = load_kernel(LOOP, "entry")
    kernel(X)
    (data,) = [p for p in numba_files(kernel) if p.suffix == ".nbc"]
    data.unlink()
    again = reload(LOOP)
    np.testing.assert_allclose(again(X), EXPECTED)
    assert (compile_stats(again)["cache_hits"], compile_stats(again)["cache_misses"]) == (0, 1)
    assert not [w for w in recwarn if "fgrad" in str(w.message)]
    assert data.exists()  # rewritten under the name the index gives
    healed = reload(LOOP)
    healed(X)
    assert (compile_stats(healed)["cache_hits"], compile_stats(healed)["cache_misses"]) == (1, 0)


# Issue 17, item 10. One child process damages each kind of cache file in turn (after restoring a
# pristine cache) and loads the kernels again, as a new process would. Unchecked, a flipped .nbc aborts
# the process inside LLVM, so this cannot run inside pytest; a swapped .nbc, or one saved for another
# signature, silently gives kernel A's or the other signature's results. Kernel B is damaged, kernel A
# is the control; B has two signatures (float64 and int64).
DAMAGE_CHILD = r"""
import json, os, sys, warnings
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np
from fgrad.backend import numba_cache, numba_jit

SOURCES = {"A": "def entry(x):\n    return x * x + 1\n", "B": "def entry(x):\n    return x * 3 - 2\n"}
EXPECTED = {"A": lambda x: x * x + 1, "B": lambda x: x * 3 - 2}
INPUTS = {"A": [np.arange(5.0)], "B": [np.arange(5.0), np.arange(5)]}


def load_all():
    numba_jit.clear_memory_cache()
    return {name: numba_jit.load_kernel(source, "entry") for name, source in SOURCES.items()}


def run_all(kernels):
    ok = all(np.array_equal(kernels[n](x), EXPECTED[n](x)) for n in kernels for x in INPUTS[n])
    return ok, {n: numba_jit.compile_stats(k)["cache_misses"] for n, k in kernels.items()}


kernels = load_all()
run_all(kernels)
directory = numba_jit.cache_dir()
pycache = directory / "__pycache__"


def files(name, suffix):
    stem = f"k_{kernels[name].key}"
    return sorted(p for p in [*directory.glob(stem + ".py"), *pycache.glob(stem + ".*")] if p.suffix == suffix)


PRISTINE = {p: p.read_bytes() for p in [*directory.glob("k_*.py"), *pycache.glob("k_*.nb?")]}


def restore():
    for p in [*directory.glob("k_*.py"), *pycache.glob("k_*")]:
        p.unlink()
    for p, data in PRISTINE.items():
        p.write_bytes(data)


def flip(data, at):
    data = bytearray(data)
    for i in range(at, min(at + 64, len(data))):
        data[i] ^= 0x5A
    return bytes(data)


def damage(kind, how):
    suffix = {"py": ".py", "nbi": ".nbi", "nbc": ".nbc"}[kind]
    target = files("B", suffix)[0]
    data = target.read_bytes()
    if how == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        # In an .nbc, the object code's ELF header from e_shoff on: unchecked, LLVM aborts the process
        # ("LLVM ERROR: invalid e_shentsize in ELF header"). In the other files, the middle.
        elf = data.find(b"\x7fELF")
        target.write_bytes(flip(data, elf + 0x28 if elf > 0 else len(data) // 2))
    elif how == "swapped":  # kernel A's file under kernel B's name
        target.write_bytes(files("A", suffix)[0].read_bytes())
    elif how == "missing":
        target.unlink()
    elif how == "other-signature":  # a valid file, but saved for B's other signature
        first, second = files("B", ".nbc")
        first.write_bytes(numba_cache.seal(first.name, numba_cache.unseal(second.name, second.read_bytes())))


for scenario in sys.argv[2].split(","):
    restore()
    print(json.dumps({"start": scenario}), flush=True)
    damage(*scenario.split("-", 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok, misses = run_all(load_all())
        healed_ok, healed_misses = run_all(load_all())
    print(json.dumps({"scenario": scenario, "ok": ok, "misses": misses, "healed_ok": healed_ok,
                      "healed_misses": healed_misses,
                      "warnings": [str(w.message) for w in caught if "fgrad" in str(w.message)]}), flush=True)
"""

DAMAGE = {  # scenario -> the warning it must give (None: none, it is a plain miss)
    "py-truncated": "did not match its hash",
    "py-flipped": "did not match its hash",
    "py-swapped": "did not match its hash",
    "nbi-truncated": "damaged Numba cache file",
    "nbi-flipped": "damaged Numba cache file",
    "nbi-swapped": "damaged Numba cache file",
    "nbc-truncated": "damaged Numba cache file",
    "nbc-flipped": "damaged Numba cache file",
    "nbc-swapped": "damaged Numba cache file",
    "nbc-missing": None,
    "nbc-other-signature": None,
}


def test_damaged_cache_files_of_every_kind_are_rebuilt_and_the_process_survives(tmp_path):
    done = subprocess.run([sys.executable, "-c", DAMAGE_CHILD, str(ROOT), ",".join(DAMAGE)],
                          env=child_env(tmp_path), capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    started = [line["start"] for line in lines if "start" in line]
    assert done.returncode == 0, f"the child died (code {done.returncode}) in {started[-1:]}:\n{done.stderr[-3000:]}"
    reports = {line["scenario"]: line for line in lines if "scenario" in line}
    assert list(reports) == list(DAMAGE)
    for scenario, warning in DAMAGE.items():
        report = reports[scenario]
        assert report["ok"] and report["healed_ok"], scenario
        assert report["misses"]["A"] == 0, f"{scenario}: the undamaged kernel was recompiled"
        assert report["misses"]["B"] >= 1, f"{scenario}: the damaged kernel was not recompiled"
        assert report["healed_misses"] == {"A": 0, "B": 0}, f"{scenario}: the rebuilt cache is not used"
        if warning is None:
            assert report["warnings"] == [], scenario
        else:
            assert len(report["warnings"]) == 1 and warning in report["warnings"][0], (scenario, report["warnings"])


# --------------------------------------------------------------------------- unwritable cache directories

OTHER = "def entry(x):\n    return x * 3.0 - 2.0\n"


def fgrad_warnings(caught):
    return [str(w.message) for w in caught if str(w.message).startswith("fgrad:")]


@pytest.mark.parametrize("where", ["a-file", "under-a-file"])
def test_cache_dir_that_cannot_be_created_compiles_in_memory_with_one_warning(tmp_path, monkeypatch, where):
    # Issue 17, item 11: FGRAD_CACHE_DIR naming a regular file (or a path through one) raised
    # NotADirectoryError from deep inside.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    root = blocker if where == "a-file" else blocker / "sub"
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(root))
    numba_jit.clear_memory_cache()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loop, other = load_kernel(LOOP, "entry"), load_kernel(OTHER, "entry")
            np.testing.assert_allclose(loop(X), EXPECTED)
            np.testing.assert_allclose(other(X), X * 3.0 - 2.0)
            np.testing.assert_allclose(loop(np.arange(4)), np.arange(4) ** 2 + 1)  # another signature
            offset = 4.5 if where == "a-file" else 5.5      # through fgrad.jit, a program no other test lowers
            jitted = fgrad.jit(lambda x: fnp.tanh(x) * 0.125 + offset)
            np.testing.assert_allclose(jitted(X), np.tanh(X) * 0.125 + offset)
            broken = load_kernel("import numpy as np\n\ndef entry(x):\n    return x.no_such_attribute\n", "entry")
            with pytest.raises(KernelCompileError, match=r"(?s)compiled in memory.*4 \|     return x.no_such"):
                broken(X)
    finally:
        numba_jit.clear_memory_cache()
    (message,) = fgrad_warnings(caught)
    assert str(root) in message and "FGRAD_CACHE_DIR" in message and "in memory" in message
    assert loop.path is None and compile_stats(loop)["cache_path"] is None
    assert "<fgrad kernel k_" in inspect.getsourcefile(loop.module.entry.py_func)
    assert blocker.read_text() == "not a directory"


# A child process with no write access to a populated cache: it must load what is there and compile
# the rest in memory, with one warning. Root ignores permission bits, so as root the child runs without
# the capabilities that let it (setpriv drops them from the bounding set before exec).
READ_ONLY_CHILD = r"""
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
import numpy as np
from fgrad.backend import numba_jit
loop_source, other_source = sys.argv[2], sys.argv[3]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loop = numba_jit.load_kernel(loop_source, "entry")
    results = [loop(np.arange(6.0)).tolist()]
    stats = numba_jit.compile_stats(loop)
    results.append(loop(np.arange(6)).tolist())                  # a new signature: compiled, not saved
    other = numba_jit.load_kernel(other_source, "entry")         # not in the cache: in memory
    results.append(other(np.arange(6.0)).tolist())
print(json.dumps({"results": results, "hits": stats["cache_hits"], "misses": stats["cache_misses"],
                  "other_path": None if other.path is None else str(other.path),
                  "warnings": [str(w.message) for w in caught if str(w.message).startswith("fgrad:")]}))
"""


def without_write_permission_command():
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: cannot make a directory read-only to this process")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


def test_read_only_cache_is_loaded_from_and_the_rest_compiles_in_memory(cache):
    prefix = without_write_permission_command()
    np.testing.assert_allclose(load_kernel(LOOP, "entry")(X), EXPECTED)       # populate the cache
    kernel_dir = numba_jit.cache_dir()
    before = sorted(str(p) for p in cache.rglob("*"))
    for p in [cache, *cache.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", READ_ONLY_CHILD, str(ROOT), LOOP, OTHER],
                              env=child_env(cache), capture_output=True, text=True, timeout=300)
    finally:
        for p in [cache, *cache.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert done.returncode == 0, done.stderr
    report = child_report(done.stdout)
    np.testing.assert_allclose(report["results"][0], EXPECTED)
    np.testing.assert_allclose(report["results"][1], EXPECTED)
    np.testing.assert_allclose(report["results"][2], X * 3.0 - 2.0)
    assert (report["hits"], report["misses"]) == (1, 0), "the read-only cache was not used"
    assert report["other_path"] is None
    (message,) = report["warnings"]
    assert str(kernel_dir) in message and "FGRAD_CACHE_DIR" in message
    assert sorted(str(p) for p in cache.rglob("*")) == before, "nothing is written to a read-only cache"


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

    leaf = f"kernels-v2-numba{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}{sys.abiflags}"
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path / "explicit"))
    assert numba_jit.cache_dir() == tmp_path / "explicit" / leaf
    assert numba_jit.cache_dir().is_dir()

    monkeypatch.delenv("FGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_jit.cache_dir() == tmp_path / "xdg" / "fgrad" / leaf

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numba_jit.cache_dir() == tmp_path / "home" / ".cache" / "fgrad" / leaf
