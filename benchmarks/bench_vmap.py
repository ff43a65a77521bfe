"""vmap and Jacobians: fgrad against JAX, time to the first result (fresh processes, empty caches) and steady.

    python benchmarks/bench_vmap.py            # all cases, writes the "vmap" section of benchmarks/README.md
    python benchmarks/bench_vmap.py --quick    # small sizes, prints only

Cases:
- per-example gradients of the W3 MLP (784-256-10, float32, batch 256): jit(vmap(grad(loss), in_axes=(None, 0, 0)))
- jit(jacrev(f)) for f: R^200 -> R^200, f(x) = tanh(W @ sin(x) + x * x)
- jit(hessian(rosenbrock)) at n = 50 and n = 500

"First result" runs in a fresh process per library with an empty persistent cache (FGRAD_CACHE_DIR; JAX keeps
no persistent cache unless asked): the time from defining the transformed function to having its first result,
import excluded. "Steady" is the median of repeated calls in one process after the first.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads as W  # noqa: E402
from readme_sections import write_section  # noqa: E402

LIBS = ("fgrad", "jax")


def case_data(name: str, quick: bool):
    rng = np.random.default_rng(7)
    if name == "per_example_W3":
        d = W.data_W3(32 if quick else 256)
        return {"params": (d["W1"], d["b1"], d["W2"], d["b2"]), "X": d["X"], "Y": d["Y"]}
    if name == "jacrev_200":
        n = 20 if quick else 200
        return {"W": rng.standard_normal((n, n)) / np.sqrt(n), "x": rng.standard_normal(n)}
    n = {"hessian_rosenbrock_50": 50, "hessian_rosenbrock_500": 500}[name]
    return {"x": rng.uniform(-1.0, 1.0, 10 if quick else n)}


def make(lib: str, name: str, data):
    """The transformed function and its arguments, for `lib` ("fgrad" or "jax")."""
    if lib == "fgrad":
        import fgrad
        import fgrad.numpy as xp
        tf = fgrad
    else:
        import jax
        import jax.numpy as xp
        jax.config.update("jax_enable_x64", True)
        tf = jax

    if name == "per_example_W3":
        def loss(params, x, y):
            W1, b1, W2, b2 = params
            return W.loss_W3(W1, b1, W2, b2, x[None, :], y[None, :], xp=xp)
        fn = tf.jit(tf.vmap(tf.grad(loss), in_axes=(None, 0, 0)))
        return fn, (data["params"], data["X"], data["Y"])
    if name == "jacrev_200":
        Wm = data["W"]
        fn = tf.jit(tf.jacrev(lambda x: xp.tanh(Wm @ xp.sin(x) + x * x)))
        return fn, (data["x"],)
    fn = tf.jit(tf.hessian(lambda x: W.loss_W4(x, xp=xp)))
    return fn, (data["x"],)


def block(out):
    leaves = out if isinstance(out, (tuple, list)) else [out]
    flat = []
    for leaf in leaves:
        flat += list(leaf) if isinstance(leaf, (tuple, list)) else [leaf]
    return [np.asarray(x) for x in flat]


def child(lib: str, name: str, quick: bool, repeats: int) -> dict:
    """In a fresh process: the first result's time, then the steady median."""
    if lib == "fgrad":
        import fgrad  # noqa: F401  (import is not timed)
    else:
        import jax  # noqa: F401
    data = case_data(name, quick)
    t0 = time.perf_counter()
    fn, args = make(lib, name, data)
    first = block(fn(*args))
    t_first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        block(fn(*args))
        times.append(time.perf_counter() - t)
    return {"first": t_first, "steady": float(np.median(times)), "checksum": float(sum(np.sum(x) for x in first))}


def run_child(lib: str, name: str, quick: bool, repeats: int) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="fgrad-bench-cache-") as cache:
        env["FGRAD_CACHE_DIR"] = cache
        cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, name, "--repeats", str(repeats)]
        if quick:
            cmd.append("--quick")
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"rc={p.returncode}: {tail[:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def fmt(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.3g} µs" if s < 1e-3 else f"{s * 1e3:.3g} ms" if s < 1.0 else f"{s:.3g} s"


CASES = ("per_example_W3", "jacrev_200", "hessian_rosenbrock_50", "hessian_rosenbrock_500")
TITLES = {"per_example_W3": "per-example grads, W3 MLP, batch 256 (float32)",
          "jacrev_200": "jit(jacrev(f)), f: R^200 -> R^200",
          "hessian_rosenbrock_50": "jit(hessian(rosenbrock)), n = 50",
          "hessian_rosenbrock_500": "jit(hessian(rosenbrock)), n = 500"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--child", nargs=2, metavar=("LIB", "CASE"))
    opts = ap.parse_args(argv)
    if opts.child:
        print("RESULT " + json.dumps(child(*opts.child, opts.quick, opts.repeats)), flush=True)
        return
    rows = []
    for name in CASES:
        results = {lib: run_child(lib, name, opts.quick, opts.repeats) for lib in LIBS}
        rows.append((name, results))
        f, j = results["fgrad"], results["jax"]
        print(f"{name}: fgrad {f} | jax {j}", flush=True)
    lines = ["## vmap and Jacobians (`python benchmarks/bench_vmap.py`)", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. First result: fresh process, empty "
             "caches, from defining the transformed function to its first result (import excluded). Steady: "
             f"median of {opts.repeats} calls after the first. Ratios are fgrad / JAX in the same run.", "",
             "| case | fgrad first | JAX first | ratio | fgrad steady | JAX steady | ratio |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        f, j = r["fgrad"], r["jax"]
        if "error" in f or "error" in j:
            lines.append(f"| {TITLES[name]} | {f.get('error', '')} | {j.get('error', '')} | | | | |")
            continue
        lines.append(f"| {TITLES[name]} | {fmt(f['first'])} | {fmt(j['first'])} | {f['first'] / j['first']:.2f}x | "
                     f"{fmt(f['steady'])} | {fmt(j['steady'])} | {f['steady'] / j['steady']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not opts.quick:
        write_section("vmap", text)


if __name__ == "__main__":
    main()
