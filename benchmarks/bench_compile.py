"""Compile latency: time from defining a transformed function to its first result, fgrad against JAX.

    python benchmarks/bench_compile.py            # all cases, writes the "compile" section of benchmarks/README.md
    python benchmarks/bench_compile.py --quick    # k = 10, 50 and W1 only, prints only

Every measurement runs in a fresh process. "cold" starts with empty FGRAD_CACHE_DIR and NUMBA_CACHE_DIR temp
directories; "warm" is a second fresh process on the directories the cold one filled. Import time (fgrad with
numba, or jax) is measured separately and is not part of "first result". JAX keeps no persistent cache unless
asked, so its column is always cold.

fgrad runs in two tiers (see fgrad.jit's `tier`):
- "compiled" (the default): the first call waits for the Numba kernel (the time is the whole compile);
- "auto" (opt-in): the first calls run on the numpy reference executor while the kernel compiles in a
  background thread; "first result" is then the eager result, and "kernel ready" the time until calls
  switch to the compiled kernel.

Cases: the k-step chain `a, b = sin(a)*b + cos(b), 0.5*a + 0.9*b` on 100-element arrays under
jit(value_and_grad(f)) at k = 10, 50, 200; W1 (N = 1e6) and W3 (MLP, batch 512) from workloads.py;
jit(hessian(rosenbrock)) at n = 50.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

CASES = ("chain_10", "chain_50", "chain_200", "W1", "W3", "hessian_rosenbrock_50")
QUICK_CASES = ("chain_10", "chain_50", "W1")
TITLES = {"chain_10": "k-step chain, k = 10", "chain_50": "k-step chain, k = 50",
          "chain_200": "k-step chain, k = 200", "W1": "W1 (N = 1e6)", "W3": "W3 (MLP, batch 512)",
          "hessian_rosenbrock_50": "jit(hessian(rosenbrock)), n = 50"}


# ---- the child: one library, one case, one fresh process -------------------------------------------------

def chain(k, xp):
    def f(a, b):
        for _ in range(k):
            a, b = xp.sin(a) * b + xp.cos(b), 0.5 * a + 0.9 * b
        return xp.sum(a + b)
    return f


def make(lib: str, name: str):
    """(transformed function, its arguments) for `lib` ("fgrad" or "jax"); data is made before timing."""
    import numpy as np
    import workloads as W
    if lib == "fgrad":
        import fgrad as tf
        import fgrad.numpy as xp
    else:
        import jax as tf
        import jax.numpy as xp
        tf.config.update("jax_enable_x64", True)
    if name.startswith("chain_"):
        rng = np.random.default_rng(0)
        args = (rng.uniform(-1, 1, 100), rng.uniform(-1, 1, 100))
        return (lambda **kw: tf.jit(tf.value_and_grad(chain(int(name[6:]), xp), argnums=(0, 1)), **kw)), args
    if name == "W1":
        return (lambda **kw: tf.jit(tf.value_and_grad(lambda x: W.loss_W1(x, xp)), **kw)), (W.data_W1(1e6)["x"],)
    if name == "W3":
        d = W.data_W3(512)
        loss = lambda W1, b1, W2, b2, X, Y: W.loss_W3(W1, b1, W2, b2, X, Y, xp)  # noqa: E731
        args = tuple(d[k] for k in ("W1", "b1", "W2", "b2", "X", "Y"))
        return (lambda **kw: tf.jit(tf.value_and_grad(loss, argnums=(0, 1, 2, 3)), **kw)), args
    n = int(name.rsplit("_", 1)[1])
    x = np.random.default_rng(7).uniform(-1.0, 1.0, n)
    return (lambda **kw: tf.jit(tf.hessian(lambda x: W.loss_W4(x, xp=xp)), **kw)), (x,)


def block(out):
    import numpy as np
    stack, flat = [out], []
    while stack:
        x = stack.pop()
        if isinstance(x, (tuple, list)):
            stack += list(x)
        else:
            flat.append(np.asarray(x))
    return flat


def child(lib: str, name: str, tier: str | None) -> dict:
    t0 = time.perf_counter()
    if lib == "fgrad":
        import fgrad  # noqa: F401
        import numba  # noqa: F401  (fgrad imports it lazily; counted as import, as jax's own imports are)
    else:
        import jax  # noqa: F401
    t_import = time.perf_counter() - t0
    factory, args = make(lib, name)
    t0 = time.perf_counter()
    fn = factory(**({"tier": tier} if tier else {}))
    block(fn(*args))
    t_first = time.perf_counter() - t0
    result = {"import": t_import, "first": t_first}
    if lib == "fgrad":
        getattr(fn, "wait", lambda: None)()     # the compiled kernel (no-op for tier="compiled")
        result["ready"] = time.perf_counter() - t0
        entry = next(iter(fn._traces.values()))
        result["equations"] = len(entry.program.equations)
    return result


# ---- the parent ----------------------------------------------------------------------------------------

def run_child(lib, name, tier, cache_dirs, timeout=3600):
    env = dict(os.environ, FGRAD_CACHE_DIR=cache_dirs[0], NUMBA_CACHE_DIR=cache_dirs[1])
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, name]
    if tier:
        cmd += ["--tier", tier]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"rc={p.returncode}: {tail[:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def measure(name: str) -> dict:
    """cold/warm for fgrad's two tiers and cold JAX, each in a fresh process."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="fgrad-cc-") as a, tempfile.TemporaryDirectory(prefix="numba-cc-") as b:
        out["compiled_cold"] = run_child("fgrad", name, "compiled", (a, b))
        out["compiled_warm"] = run_child("fgrad", name, "compiled", (a, b))
    with tempfile.TemporaryDirectory(prefix="fgrad-cc-") as a, tempfile.TemporaryDirectory(prefix="numba-cc-") as b:
        out["auto_cold"] = run_child("fgrad", name, "auto", (a, b))
        out["auto_warm"] = run_child("fgrad", name, "auto", (a, b))
    with tempfile.TemporaryDirectory(prefix="jax-cc-") as a:
        out["jax"] = run_child("jax", name, None, (a, a))
    return out


def fmt(s):
    if s is None:
        return "-"
    return f"{s * 1e3:.3g} ms" if s < 1.0 else f"{s:.3g} s"


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2g}×"


def table(results: dict) -> str:
    get = lambda r, k: None if "error" in r else r.get(k)  # noqa: E731
    lines = [
        "| case | equations | fgrad compiled, cold | ratio to JAX | s per 1,000 eqs | fgrad compiled, warm | "
        "warm / JAX cold | fgrad auto: first result, cold | ratio to JAX | auto: kernel ready, cold | "
        "auto, warm: first result | JAX first result | import fgrad+numba / jax |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cc, cw, ac, aw, jx = (r[k] for k in ("compiled_cold", "compiled_warm", "auto_cold", "auto_warm", "jax"))
        eqs = get(cc, "equations")
        per_k = None if eqs is None or get(cc, "first") is None else get(cc, "first") / eqs * 1000
        j = get(jx, "first")
        lines.append(
            f"| {TITLES[name]} | {eqs if eqs is not None else '-'} | {fmt(get(cc, 'first'))} | "
            f"{ratio(get(cc, 'first'), j)} | {fmt(per_k)} | {fmt(get(cw, 'first'))} | "
            f"{ratio(get(cw, 'first'), j)} | {fmt(get(ac, 'first'))} | {ratio(get(ac, 'first'), j)} | "
            f"{fmt(get(ac, 'ready'))} | {fmt(get(aw, 'first'))} | {fmt(j)} | "
            f"{fmt(get(cc, 'import'))} / {fmt(get(jx, 'import'))} |")
    errors = [f"- {name} {k}: {v['error']}" for name, r in results.items() for k, v in r.items() if "error" in v]
    return "\n".join(lines + ([""] + errors if errors else []))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="k = 10, 50 and W1 only; print, do not write the README")
    ap.add_argument("--cases", nargs="*", choices=CASES, help="run only these cases")
    ap.add_argument("--child", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--tier", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child[0], args.child[1], args.tier)), flush=True)
        return
    names = args.cases or (QUICK_CASES if args.quick else CASES)
    results = {}
    for name in names:
        print(f"... {name}", file=sys.stderr, flush=True)
        results[name] = measure(name)
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
    text = table(results)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if not args.quick and not args.cases:
        from readme_sections import write_section
        body = ("### Compile latency (`python benchmarks/bench_compile.py`)\n\n"
                f"Measured {time.strftime('%Y-%m-%d')} on a shared 2-core machine (other jobs running: "
                "compare ratios within the table, not absolute times with other tables). Fresh process per "
                "cell; cold = empty FGRAD_CACHE_DIR and NUMBA_CACHE_DIR, warm = a second process on the "
                "filled ones; JAX has no persistent cache (always cold). Import excluded, shown in the last "
                "column. \"compiled\" (fgrad.jit's default tier) waits for the kernel; \"auto\" "
                "(tier=\"auto\" or FGRAD_JIT_TIER=auto) gives eager numpy results while the kernel compiles in "
                "the background.\n\n" + text)
        write_section("compile", body)


if __name__ == "__main__":
    main()
