#!/usr/bin/env python
"""Run the fgrad benchmark suite and write benchmarks/README.md.

    python benchmarks/run.py                 # full run (a few minutes), writes README.md + results.json
    python benchmarks/run.py --quick         # small sizes, few repeats (smoke run, prints only)
    python benchmarks/run.py --only W1,W4    # subset of workloads (prints only)
    python benchmarks/run.py --libs numpy,jax

Columns are discovered from a registry: for library key ``lib`` and workload
``Wk`` the factory ``make_<lib>_<Wk>(data)`` is looked up in ``refs.py`` (the
references) or, for ``lib == "fgrad"``, in ``benchmarks/fgrad_impl.py`` if that
module exists and imports.  A missing factory gives an "n/a" cell.  The W7
(compile latency) cell for fgrad comes from ``fgrad_impl.fgrad_compile_latency()``
run in fresh subprocesses (cold: new empty ``FGRAD_CACHE_DIR``; warm: a second
process with the same directory).  See README.md, "Adding the fgrad column".
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (os.path.join(ROOT, "src"), ROOT, HERE):
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.insert(0, _p)
# HERE must come first so `import workloads` / `import refs` resolve to ours.
sys.path.remove(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import workloads as W  # noqa: E402

# ---------------------------------------------------------------- registry --
# (library key used in factory names, column label).  Order = column order.
LIBS = [
    ("numpy", "NumPy (hand grad)"),
    ("numba", "Numba (hand, serial)"),
    ("numbapar", "Numba (hand, prange)"),
    ("jax", "JAX jit"),
    ("torch", "PyTorch eager"),
    ("autograd", "autograd"),
    ("fgrad", "fgrad"),
]
LABEL = dict(LIBS)
BASELINE = "jax"                       # ratios are time / time(JAX)
FEW_REPEATS = {"autograd"}             # slow: fewer minimum repeats
# Libraries whose W7 entry is measured cold + warm (persistent disk cache).
CACHED_W7 = {"numba", "numbapar", "jax", "fgrad"}
W7_N = {False: 1_000_000, True: 10_000}

FGRAD_MODULE = "fgrad_impl"
IMPORT_ORDER = ("torch", "jax", "autograd", "numba")


def load_fgrad():
    """Return (module or None, error message or None)."""
    if not os.path.exists(os.path.join(HERE, FGRAD_MODULE + ".py")):
        return None, None
    try:
        return importlib.import_module(FGRAD_MODULE), None
    except Exception as exc:  # noqa: BLE001
        return None, f"benchmarks/{FGRAD_MODULE}.py failed to import: {exc!r}"


def factory(lib, workload, fgrad_mod):
    """Look up make_<lib>_<workload>; returns (callable or None, prepare or None)."""
    name = f"make_{lib}_{workload}"
    if lib == "fgrad":
        if fgrad_mod is None:
            return None, None
        return getattr(fgrad_mod, name, None), None
    import refs
    return getattr(refs, name, None), refs.PREPARE.get(lib)


# ------------------------------------------------------------------ timing --
fn_min = [None]   # min of the last time_fn call (kept in results.json)


def time_fn(fn, budget, min_reps, max_reps=1_000_000):
    """Call fn repeatedly until ``budget`` seconds have passed and at least
    ``min_reps`` calls were made; return (median seconds, reps)."""
    times = []
    gc.collect()
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if len(times) >= max_reps:
            break
        if len(times) >= min_reps and t1 - start >= budget:
            break
    fn_min[0] = min(times)
    return statistics.median(times), len(times)


# ------------------------------------------------- shared-machine guard --
# Other processes on this (2-core) machine distort timings badly: any
# 2-thread kernel stalls for a scheduler quantum when one of its threads has
# to wait for a core.  We measure the CPU used by *other* processes (machine
# busy time from /proc/stat minus our own process CPU time) and wait for a
# quiet machine before timing; cells measured while it stayed busy are
# flagged in the table.
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_s():
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(vals) - vals[3] - vals[4]) / _HZ


class ExternalLoad:
    """Average number of cores used by other processes between start and stop."""

    def start(self):
        t = os.times()
        self.m0, self.s0, self.w0 = _machine_busy_s(), t.user + t.system, time.perf_counter()
        return self

    def stop(self):
        t = os.times()
        m1, s1, w1 = _machine_busy_s(), t.user + t.system, time.perf_counter()
        if self.m0 is None or m1 is None or w1 - self.w0 <= 0:
            return 0.0
        ext = ((m1 - self.m0) - (s1 - self.s0)) / (w1 - self.w0)
        return max(0.0, ext)


def wait_for_quiet(opts, log=None):
    """Sleep (at least opts.settle s, which also lets our own libraries'
    spinning thread pools go idle) until other processes use less than
    opts.quiet_cores cores, for at most opts.max_wait seconds.  Returns the
    external load of the last window."""
    t0 = time.perf_counter()
    deadline = t0 + min(opts.max_wait, max(opts.wait_budget, 0.0))
    warned = False
    try:
        while True:
            probe = ExternalLoad().start()
            time.sleep(max(opts.settle, 0.3))
            ext = probe.stop()
            if ext < opts.quiet_cores or time.perf_counter() > deadline:
                return ext
            if log and not warned:
                log(f"    (machine busy: other processes use {ext:.1f} cores; waiting up to "
                    f"{deadline - time.perf_counter():.0f} s)")
                warned = True
    finally:
        # waiting beyond the settle time is charged to the run's total wait budget
        opts.wait_budget -= max(0.0, time.perf_counter() - t0 - max(opts.settle, 0.3))


def wait_for_quiet_machine(limit, quiet_cores, log, window=2.0, need=5):
    """Wait (at most ``limit`` s) until other processes used < quiet_cores
    cores for ``need`` consecutive windows of ``window`` seconds."""
    t0 = time.perf_counter()
    streak, said = 0, False
    while streak < need and time.perf_counter() - t0 < limit:
        probe = ExternalLoad().start()
        time.sleep(window)
        ext = probe.stop()
        streak = streak + 1 if ext < quiet_cores else 0
        if streak == 0 and not said:
            log(f"waiting up to {limit:g} s for a quiet machine (other processes use {ext:.1f} cores)")
            said = True
    waited = time.perf_counter() - t0
    if said:
        log(f"  ... {'quiet' if streak >= need else 'still busy'} after {waited:.0f} s")
    return waited


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def short_err(exc):
    msg = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:300]


# ------------------------------------------------------- main benchmarks --
def bench_case(case, libs, fgrad_mod, opts, log):
    """Returns {lib: result dict} for one case."""
    out = {}
    log(f"\n== {case.title} ({case.key}) ==")
    data = case.make_data()
    check_data = case.make_check_data() if case.make_check_data else data
    ref = W.REFERENCE[case.workload](check_data)
    for lib in libs:
        res = {"status": "n/a"}
        out[lib] = res
        make, prepare = factory(lib, case.workload, fgrad_mod)
        if make is None:
            log(f"  {lib:9s} n/a (no make_{lib}_{case.workload})")
            continue
        if prepare is not None:
            try:
                prepare()
            except Exception as exc:  # noqa: BLE001  (ImportError and friends)
                res.update(status="skipped", note=f"import failed: {short_err(exc)}")
                log(f"  {lib:9s} skipped: {res['note']}")
                continue
        try:
            fn = make(check_data)
            ok, msg = W.check(fn(), ref, case.dtype)
        except Exception as exc:  # noqa: BLE001
            res.update(status="error", note=short_err(exc))
            log(f"  {lib:9s} ERROR: {res['note']}")
            if opts.verbose:
                traceback.print_exc()
            continue
        res["check"] = msg
        if not ok:
            res.update(status="wrong", note=msg)
            log(f"  {lib:9s} WRONG: {msg}")
            continue
        try:
            if check_data is not data:
                del fn
                fn = make(data)
                val, _ = fn()
                if not np.isfinite(float(np.asarray(val))):
                    raise FloatingPointError(f"non-finite value {val!r} at full size")
            min_reps = opts.min_reps_slow if lib in FEW_REPEATS else opts.min_reps
            best = None                # attempt with the least outside interference
            for attempt in range(opts.retries + 1):
                wait_for_quiet(opts, log)
                probe = ExternalLoad().start()
                med, reps = time_fn(fn, opts.budget, min_reps)
                ext = probe.stop()
                if best is None or ext < best[0]:
                    best = (ext, med, reps, fn_min[0])
                if ext < opts.busy_cores:
                    break
                log(f"    (other processes used {ext:.1f} cores during timing"
                    + ("; retrying)" if attempt < opts.retries else ")"))
            ext, med, reps, fn_min[0] = best
        except Exception as exc:  # noqa: BLE001
            res.update(status="error", note=short_err(exc))
            log(f"  {lib:9s} ERROR: {res['note']}")
            if opts.verbose:
                traceback.print_exc()
            continue
        finally:
            fn = None
            gc.collect()
        res.update(status="ok", median=med, min=fn_min[0], reps=reps,
                   external_load=round(ext, 2))
        if ext >= opts.busy_cores:
            res["busy"] = True
        log(f"  {lib:9s} {fmt_time(med):>10s}  ({reps} reps; {msg}"
            + (f"; BUSY machine: {ext:.1f} cores used by others" if res.get("busy") else "") + ")")
    return out


# ------------------------------------------------------------------- W7 ----
def w7_child(lib, quick):
    """Runs in a fresh subprocess: import the library (not timed), then time
    from defining the value-and-gradient function to its first result."""
    n = W7_N[quick]
    if lib == "fgrad":
        mod, err = load_fgrad()
        if mod is None:
            raise RuntimeError(err or "no fgrad_impl module")
        if hasattr(mod, "fgrad_compile_latency"):
            r = mod.fgrad_compile_latency()
            secs = float(r["seconds"] if isinstance(r, dict) else r)
            return {"seconds": secs, "how": "fgrad_compile_latency()"}
        make, prepare = getattr(mod, "make_fgrad_W1"), None
    else:
        make, prepare = factory(lib, "W1", None)
        if make is None:
            raise RuntimeError(f"no make_{lib}_W1")
    if prepare is not None:
        prepare()
    if lib == "jax" and os.environ.get("FGRAD_BENCH_JAX_CACHE_DIR"):
        import jax
        jax.config.update("jax_compilation_cache_dir", os.environ["FGRAD_BENCH_JAX_CACHE_DIR"])
        for opt, v in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                       ("jax_persistent_cache_min_entry_size_bytes", 0)):
            try:
                jax.config.update(opt, v)
            except Exception:  # noqa: BLE001  (older/newer jax without the option)
                pass
    data = W.data_W1(n)
    t0 = time.perf_counter()
    fn = make(data)            # defines/jits the function and makes the first call
    t1 = time.perf_counter()
    ok, msg = W.check(fn(), W.ref_W1(data))
    if not ok:
        raise RuntimeError(f"wrong result: {msg}")
    return {"seconds": t1 - t0, "how": f"make_{lib}_W1"}


def _run_w7_child(lib, quick, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    cmd = [sys.executable, os.path.abspath(__file__), "--w7-child", lib]
    if quick:
        cmd.append("--quick")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("W7RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise RuntimeError(f"subprocess failed (rc={p.returncode}): {tail[:300]}")
    r = json.loads(lines[-1][len("W7RESULT "):])
    if "error" in r:
        raise RuntimeError(r["error"])
    return r["seconds"]


def bench_w7(libs, fgrad_mod, fgrad_err, opts, log):
    log(f"\n== W7 compile latency (W1, N={W.size_str(W7_N[opts.quick])}, fresh processes) ==")
    out = {}
    for lib in libs:
        res = {"status": "n/a"}
        out[lib] = res
        if lib == "fgrad":
            if fgrad_mod is None:
                if fgrad_err:
                    res.update(status="error", note=fgrad_err)
                continue
            if not (hasattr(fgrad_mod, "fgrad_compile_latency")
                    or hasattr(fgrad_mod, "make_fgrad_W1")):
                continue
        else:
            make, prepare = factory(lib, "W1", None)
            if make is None:
                continue
            try:
                prepare()
            except Exception as exc:  # noqa: BLE001
                res.update(status="skipped", note=f"import failed: {short_err(exc)}")
                log(f"  {lib:9s} skipped: {res['note']}")
                continue
        colds, warms = [], []
        try:
            for _ in range(opts.w7_repeats):
                wait_for_quiet(opts, log)
                with tempfile.TemporaryDirectory(prefix=f"w7_{lib}_") as d:
                    env = {}
                    if lib in CACHED_W7:
                        env = {"FGRAD_CACHE_DIR": d, "NUMBA_CACHE_DIR": d,
                               "FGRAD_BENCH_NUMBA_CACHE": "1",
                               "FGRAD_BENCH_JAX_CACHE_DIR": d}
                    colds.append(_run_w7_child(lib, opts.quick, env))
                    if lib in CACHED_W7:
                        warms.append(_run_w7_child(lib, opts.quick, env))
        except Exception as exc:  # noqa: BLE001
            res.update(status="error", note=short_err(exc))
            log(f"  {lib:9s} ERROR: {res['note']}")
            continue
        res.update(status="ok", median=statistics.median(colds), cold=colds)
        if warms:
            res.update(warm_median=statistics.median(warms), warm=warms)
        log(f"  {lib:9s} cold {fmt_time(res['median'])}"
            + (f", warm cache {fmt_time(res['warm_median'])}" if warms else "")
            + f"  (median of {len(colds)})")
    return out


# ----------------------------------------------------------------- report --
def machine_info():
    from importlib import metadata
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in ("numpy", "numba", "llvmlite", "jax", "jaxlib", "torch", "autograd", "fgrad"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def cell(res, base):
    st = res.get("status", "n/a")
    if st != "ok":
        return {"n/a": "n/a", "skipped": "skipped", "wrong": "WRONG", "error": "error"}[st]
    s = fmt_time(res["median"])
    if base:
        r = res["median"] / base
        s += f" ({r:.2f}x)" if r >= 0.1 else f" ({r:.2g}x)"
    if "warm_median" in res:
        s += f"; warm {fmt_time(res['warm_median'])}"
    if res.get("busy"):
        s += " †"
    return s


def base_of(row):
    b = row.get(BASELINE, {})
    return b.get("median") if b.get("status") == "ok" else None


def make_table(rows, libs):
    """rows: list of (title, {lib: res})."""
    header = "| workload | " + " | ".join(LABEL[lib] for lib in libs) + " |"
    sep = "|---|" + "---|" * len(libs)
    lines = [header, sep]
    for title, row in rows:
        base = base_of(row)
        lines.append(f"| {title} | " + " | ".join(cell(row.get(lib, {}), base) for lib in libs) + " |")
    return "\n".join(lines)


def collect_notes(rows):
    notes = []
    for title, row in rows:
        for lib, res in row.items():
            if res.get("busy"):
                notes.append(f"- {title} / {LABEL[lib]}: † other processes used "
                             f"{res['external_load']:.1f} cores while this was timed")
            if res.get("status") in ("skipped", "wrong", "error") and res.get("note"):
                notes.append(f"- {title} / {LABEL[lib]}: {res['status']}: {res['note']}")
    return notes


README_TEMPLATE = """# fgrad benchmarks

Reference timings for value-and-gradient of scalar losses, against which fgrad
is measured.  Generated by `benchmarks/run.py` on {date}.

**Regenerate:** `python benchmarks/run.py` (full run, a few minutes; rewrites this
file and `benchmarks/results.json`).  `python benchmarks/run.py --quick` is a
smoke run with small sizes (prints only); `--only W1,W4` and `--libs numpy,jax`
select a subset (prints only unless `--readme PATH` is given).

## Results

Each cell: median wall time of one call returning the loss value and the
gradient(s) as NumPy arrays (ratio to JAX; < 1 is faster than JAX).  Every
implementation is checked against the hand-derived NumPy float64 reference
before it is timed (rtol 1e-6 float64, 1e-4 float32; W5 checked at 20 steps,
timed at 200).  Repeats: until {budget:g} s per implementation with at least
{min_reps} runs ({min_reps_slow} for autograd).

{table}

† = other processes on the machine used at least {busy_cores:g} cores while that
cell was timed, even after waiting up to {max_wait:g} s for a quiet machine and
{retries} retry (run.py measures this from /proc/stat); treat it with
suspicion.  The machine has only {cores} cores, so outside load hurts
multi-threaded implementations most.

W7 cells: cold = first process with an empty persistent cache (for Numba
`cache=True` with `NUMBA_CACHE_DIR`, for JAX `jax_compilation_cache_dir`, for
fgrad `FGRAD_CACHE_DIR`); "warm" = a second fresh process reusing that cache
directory.  NumPy, PyTorch and autograd have nothing to compile: their W7 entry
is just the first call in a fresh process.  Interpreter start-up and the
library import are excluded; median of {w7_repeats} process pair(s).

{notes}
## Machine

- CPU: {cpu}, {cores} cores ({platform})
- Python {python}; {versions}
- load average before/after the run: {load_before} / {load_after}
- thread settings: PyTorch `torch.set_num_threads(2)`; NumPy/OpenBLAS, XLA and
  Numba `prange` use their defaults ({cores} threads)

## Workloads

{workloads}

Data comes from a seeded `numpy.random.default_rng` (see `workloads.py`).

## Implementations

- **NumPy (hand grad)**: vectorised NumPy with hand-derived gradients (W5: plain
  Python floats and `math`, forward mode with two tangents).
- **Numba (hand, serial / prange)**: hand-written fused single-pass
  value+gradient kernels in `_numba_kernels.py` (`fastmath=True`).  W1, W2 and
  W4 have a `prange` variant (blocked, per-block partial sums); W2 reads each
  row of X once for both `X@w` and the gradient; W3 calls BLAS via `np.dot`
  with fused elementwise loops and the vectorisable float32 rational tanh
  that Eigen/XLA use; W4 uses offset views and a block sum that vectorises;
  W5 is a serial forward-mode loop.  Without Intel SVML (`icc_rt` is not
  installed) `math.sin/cos/exp/tanh` in Numba are scalar libm calls, which is
  what bounds W1 (NumPy has SIMD loops for exp and tanh).
- **JAX jit**: `jax.jit(jax.value_and_grad(loss))`, x64 enabled, inputs placed on
  the device once and passed as arguments; the result is fetched with
  `jax.device_get` (blocks).  W5's Python loop is unrolled at trace time.
- **PyTorch eager**: `torch.autograd.grad` on `from_numpy` leaves, 2 threads.
  run.py imports torch before anything initialises Numba's OpenMP threading
  layer: in the other order both share the system libgomp and PyTorch's
  elementwise ops become ~100x slower (e.g. `torch.sin` on 1e4 doubles takes
  ~3.7 ms instead of ~17 µs).
- **autograd**: HIPS `autograd.value_and_grad` (traces on every call).

## Adding the fgrad column

Create `benchmarks/fgrad_impl.py`; `run.py` imports it if it exists and adds an
"fgrad" column.  For each workload define

```python
def make_fgrad_W1(data):   # also W2, W3, W4, W5
    ...                     # build + compile; make the first call (warm-up)
    def run():
        return value, (grad_x,)          # float, tuple of NumPy arrays/floats
    return run
```

`data` is the dict described at the top of `workloads.py` (W1/W4: `x`; W2: `X`,
`y`, `w`, `lam`; W3: `X`, `Y`, `W1`, `b1`, `W2`, `b2` float32; W5: `a0`, `b0`,
`steps`); gradients are returned in that order.  Missing factories show "n/a".
For W7 define `fgrad_compile_latency() -> float` (seconds from defining a fresh
function to its first W1 value-and-gradient at N=1e6); run.py calls it in a fresh
subprocess with a new empty `FGRAD_CACHE_DIR` (cold) and again in a second
subprocess with the same directory (warm).  Without it, W7 falls back to timing
`make_fgrad_W1` the same way.
"""


def write_readme(path, results, opts, meta):
    rows = [(r["title"], r["libs"]) for r in results]
    libs = meta["libs"]
    notes = collect_notes(rows)
    notes_md = ("Failures, skips and disturbed measurements:\n\n" + "\n".join(notes) + "\n") if notes else ""
    vers = ", ".join(f"{k} {v}" for k, v in meta["machine"]["versions"].items())
    wl = "\n".join(f"- **{k}**: {v}" for k, v in W.DESCRIPTIONS.items())
    text = README_TEMPLATE.format(
        date=meta["date"], table=make_table(rows, libs), notes=notes_md,
        budget=opts.budget, min_reps=opts.min_reps, min_reps_slow=opts.min_reps_slow,
        w7_repeats=opts.w7_repeats, versions=vers, busy_cores=opts.busy_cores,
        max_wait=opts.max_wait, retries=opts.retries, workloads=wl,
        load_before=meta["load_before"], load_after=meta["load_after"],
        **{k: meta["machine"][k] for k in ("cpu", "cores", "platform", "python")})
    kept = kept_sections(path)     # read before "w" empties the file
    with open(path, "w") as f:
        f.write(text + kept)


# Sections of README.md that other scripts measure (bench_distributed.py) start at this heading; a rewrite of
# the file keeps everything from it to the end.
KEPT_FROM = "## Scale-out on Dask"


def kept_sections(path) -> str:
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    at = old.find("\n" + KEPT_FROM)
    return "" if at < 0 else old[at:]


# ------------------------------------------------------------------- main --
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W4,W7")
    ap.add_argument("--libs", default="", help="comma-separated library keys: "
                    + ",".join(k for k, _ in LIBS))
    ap.add_argument("--readme", default=None,
                    help="write the README here (default: benchmarks/README.md for a "
                         "full run; partial/quick runs write nothing unless given)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per implementation")
    ap.add_argument("--wait-quiet", type=float, default=None, metavar="S",
                    help="before starting, wait up to S seconds for other processes to "
                         "leave the machine idle (default 0 quick, 300 full)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--w7-child", default=None, help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.budget is None:
        opts.budget = 0.15 if opts.quick else 1.0
    if opts.wait_quiet is None:
        opts.wait_quiet = 0.0 if opts.quick else 300.0
    opts.min_reps = 3 if opts.quick else 5
    opts.min_reps_slow = 2 if opts.quick else 3
    opts.w7_repeats = 1 if opts.quick else 3
    opts.settle = 0.05 if opts.quick else 0.25
    opts.quiet_cores = 0.25          # wait until other processes use less than this
    opts.busy_cores = 0.4            # flag a cell if others used this much while timing
    opts.max_wait = 5.0 if opts.quick else 15.0
    opts.retries = 0 if opts.quick else 1
    opts.wait_budget = 20.0 if opts.quick else 90.0    # total extra waiting per run
    return opts


def main(argv=None):
    opts = parse_args(argv)
    if opts.w7_child:
        try:
            r = w7_child(opts.w7_child, opts.quick)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r = {"error": short_err(exc)}
        print("W7RESULT " + json.dumps(r), flush=True)
        return 0

    def log(msg):
        print(msg, flush=True)

    only = {t.strip().upper() for t in opts.only.split(",") if t.strip()}
    # Import the libraries up front, PyTorch first: if Numba's OpenMP threading
    # layer is initialised before `import torch`, torch binds to the same
    # system libgomp and its elementwise ops become ~100x slower.
    import refs
    for lib in IMPORT_ORDER:
        try:
            refs.PREPARE[lib]()
        except Exception:  # noqa: BLE001  (reported per cell later)
            pass
    want = {t.strip() for t in opts.libs.split(",") if t.strip()} or {k for k, _ in LIBS}
    unknown = want - set(LABEL)
    if unknown:
        log(f"unknown --libs entries: {sorted(unknown)}; known: {[k for k, _ in LIBS]}")
        return 2
    fgrad_mod, fgrad_err = load_fgrad() if "fgrad" in want else (None, None)
    libs = [k for k, _ in LIBS
            if k in want and (k != "fgrad" or fgrad_mod is not None or fgrad_err)]
    if fgrad_err:
        log(f"WARNING: {fgrad_err}")
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "quick": opts.quick,
        "libs": libs,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    log(f"fgrad benchmarks ({'quick' if opts.quick else 'full'}) on {meta['machine']['cpu']}, "
        f"{meta['machine']['cores']} cores; load {meta['load_before']}")
    log("versions: " + ", ".join(f"{k} {v}" for k, v in meta["machine"]["versions"].items()))

    if opts.wait_quiet > 0:
        waited = wait_for_quiet_machine(opts.wait_quiet, opts.quiet_cores, log)
        meta["waited_for_quiet_s"] = round(waited, 1)

    t_start = time.perf_counter()
    results = []
    for case in W.cases(opts.quick):
        if only and case.workload.upper() not in only and case.key.upper() not in only:
            continue
        row = bench_case(case, libs, fgrad_mod if not fgrad_err else None, opts, log)
        if fgrad_err and "fgrad" in libs:
            row["fgrad"] = {"status": "error", "note": fgrad_err}
        results.append({"key": case.key, "title": case.title, "libs": row})
    if not only or "W7" in only:
        row = bench_w7(libs, fgrad_mod, fgrad_err, opts, log)
        results.append({"key": "W7", "title": "W7 compile latency (W1, N=%s)" % W.size_str(W7_N[opts.quick]),
                        "libs": row})
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["elapsed_s"] = round(time.perf_counter() - t_start, 1)

    rows = [(r["title"], r["libs"]) for r in results]
    print("\n" + make_table(rows, libs))
    notes = collect_notes(rows)
    if notes:
        print("\n" + "\n".join(notes))
    print(f"\ntotal {meta['elapsed_s']} s; load before/after {meta['load_before']} / {meta['load_after']}")

    readme = opts.readme
    if readme is None and not opts.quick and not only and not opts.libs:
        readme = os.path.join(HERE, "README.md")
    if readme:
        write_readme(readme, results, opts, meta)
        with open(os.path.join(os.path.dirname(os.path.abspath(readme)), "results.json"), "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1, default=str)
        print(f"wrote {readme} and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
