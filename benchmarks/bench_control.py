"""Control flow compiled as loops: fgrad against JAX, time to the first result (fresh processes, empty caches)
and steady.

    python benchmarks/bench_control.py          # writes the "control-flow" section of benchmarks/README.md
    python benchmarks/bench_control.py --quick  # small sizes, prints only

Cases:
- rnn: a tanh RNN (hidden 64, 1,000 steps) written with scan: jit(value_and_grad) of its loss, fgrad vs JAX.
- newton: Newton's method for the vector root of x**3 + p*x = 1 (64 elements) under while_loop, jit(grad) of the
  sum of the root; JAX cannot differentiate the while_loop in reverse mode, so it runs the same iteration as a
  fori_loop with a fixed count (the count fgrad's while took), which JAX can differentiate.
- w5: the W5 scalar chain (200 steps) written with fori_loop, first result and steady, against fgrad's own
  unrolled version (the main table's W5).
- remat: peak memory of jit(grad) of a 20,000-step scan with a 256-wide state, with and without
  checkpoint on the step (the reverse sweep then keeps only the carries, not each step's intermediates).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads as W  # noqa: E402
from readme_sections import write_section  # noqa: E402


def case_data(name: str, quick: bool):
    rng = np.random.default_rng(11)
    if name == "rnn":
        hidden, steps = (16, 50) if quick else (64, 1000)
        return {"W": (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float64),
                "U": rng.standard_normal(hidden), "xs": rng.standard_normal(steps)}
    if name == "newton":
        return {"p": rng.uniform(0.5, 2.0, 64)}
    if name == "w5":
        return {"a": 0.5, "b": 0.3, "steps": 20 if quick else 200}
    raise ValueError(name)


def rnn_loss(xp, lax):
    def loss(W_, U, xs):
        def cell(h, x):
            h = xp.tanh(W_ @ h + U * x)
            return h, xp.sum(h * h)
        h, ys = lax.scan(cell, xp.zeros(W_.shape[0]), xs)
        return xp.sum(ys) + xp.sum(h)
    return loss


def newton_root(xp, lax, iterations=None):
    def root(p):
        def residual(x):
            return x ** 3 + p * x - 1.0

        def step(x):
            return x - residual(x) / (3.0 * x ** 2 + p)
        if iterations is None:
            return xp.sum(lax.while_loop(lambda x: xp.max(xp.abs(residual(x))) > 1e-12, step, xp.ones_like(p)))
        return xp.sum(lax.fori_loop(0, iterations, lambda i, x: step(x), xp.ones_like(p)))
    return root


def newton_trip_count(p):
    x = np.ones_like(p)
    n = 0
    while np.max(np.abs(x ** 3 + p * x - 1.0)) > 1e-12:
        x = x - (x ** 3 + p * x - 1.0) / (3.0 * x ** 2 + p)
        n += 1
    return n


def make(lib: str, name: str, data):
    if lib == "jax":
        import jax
        import jax.numpy as xp
        jax.config.update("jax_enable_x64", True)
        tf, lax = jax, jax.lax
    else:
        import fgrad
        import fgrad.numpy as xp
        tf, lax = fgrad, fgrad.lax
    if name == "rnn":
        fn = tf.jit(tf.value_and_grad(rnn_loss(xp, lax), argnums=(0, 1)))
        return fn, (data["W"], data["U"], data["xs"])
    if name == "newton":
        iterations = newton_trip_count(data["p"]) if lib == "jax" else None
        return tf.jit(tf.grad(newton_root(xp, lax, iterations))), (data["p"],)
    if name == "w5":
        steps = data["steps"]
        if lib == "fgrad-unrolled":
            body = lambda a, b: W.loss_W5(a, b, steps, xp)      # noqa: E731
        else:
            def body(a, b):
                def step(i, c):
                    a, b = c
                    a = xp.sin(a) * b + xp.cos(b)
                    return a, 0.5 * a + 0.9 * b
                a, b = lax.fori_loop(0, steps, step, (a, b))
                return a + b
        return tf.jit(tf.value_and_grad(body, argnums=(0, 1))), (data["a"], data["b"])
    raise ValueError(name)


def flatten(out):
    stack, leaves = [out], []
    while stack:
        x = stack.pop()
        if isinstance(x, (tuple, list)):
            stack.extend(x)
        else:
            leaves.append(np.asarray(x))
    return leaves


def child(lib: str, name: str, quick: bool, repeats: int) -> dict:
    if lib == "jax":
        import jax  # noqa: F401  (import is not timed)
    else:
        import fgrad  # noqa: F401
    data = case_data(name, quick)
    t0 = time.perf_counter()
    fn, args = make(lib, name, data)
    first = flatten(fn(*args))
    t_first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        flatten(fn(*args))
        times.append(time.perf_counter() - t)
    return {"first": t_first, "steady": float(np.median(times)), "checksum": float(sum(np.sum(x) for x in first))}


def remat_child(use_checkpoint: bool, quick: bool) -> dict:
    """Peak resident memory of jit(grad) of a long scan (one process per variant)."""
    import fgrad
    import fgrad.numpy as fnp
    steps, width = (2000, 64) if quick else (20000, 256)
    rng = np.random.default_rng(5)
    w = rng.standard_normal((width, width)) / np.sqrt(width)

    def step(h, x):
        for _ in range(4):                       # four layers of intermediates per step
            h = fnp.tanh(w @ h + x)
        return h, ()
    cell = fgrad.checkpoint(step) if use_checkpoint else step
    loss = lambda xs: fnp.sum(fgrad.lax.scan(cell, fnp.zeros(width), xs)[0])    # noqa: E731
    xs = rng.standard_normal((steps, width))
    f = fgrad.jit(fgrad.grad(loss))
    f(xs[:2])                                    # compile on a small input (the kernel is size-polymorphic)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    f(xs)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_growth_mb": (after - before) / 1024.0, "stored_floats_per_step": None}


def run_child(args: list, quick: bool) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="fgrad-bench-cache-") as cache:
        env["FGRAD_CACHE_DIR"] = cache
        cmd = [sys.executable, os.path.abspath(__file__), *args] + (["--quick"] if quick else [])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"rc={p.returncode}: {tail[:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def fmt(s):
    return "-" if s is None else f"{s * 1e6:.3g} µs" if s < 1e-3 else f"{s * 1e3:.3g} ms" if s < 1.0 else f"{s:.3g} s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--child", nargs=2, metavar=("LIB", "CASE"))
    ap.add_argument("--remat-child", choices=("plain", "checkpoint"))
    opts = ap.parse_args(argv)
    if opts.child:
        print("RESULT " + json.dumps(child(*opts.child, opts.quick, opts.repeats)), flush=True)
        return
    if opts.remat_child:
        print("RESULT " + json.dumps(remat_child(opts.remat_child == "checkpoint", opts.quick)), flush=True)
        return
    reps = ["--repeats", str(opts.repeats)]
    results = {}
    for name, libs in (("rnn", ("fgrad", "jax")), ("newton", ("fgrad", "jax")), ("w5", ("fgrad", "fgrad-unrolled"))):
        for lib in libs:
            results[(name, lib)] = run_child(["--child", lib, name] + reps, opts.quick)
            print(name, lib, results[(name, lib)], flush=True)
    remat = {v: run_child(["--remat-child", v], opts.quick) for v in ("plain", "checkpoint")}
    print("remat", remat, flush=True)

    def row(title, a, b, a_name, b_name):
        if "error" in a or "error" in b:
            return f"| {title} | {a.get('error', '')} | {b.get('error', '')} | | | | |"
        return (f"| {title} | {fmt(a['first'])} | {fmt(b['first'])} | {a['first'] / b['first']:.2f}x | "
                f"{fmt(a['steady'])} | {fmt(b['steady'])} | {a['steady'] / b['steady']:.2f}x |")
    lines = ["## Control flow (`python benchmarks/bench_control.py`)", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. First result: fresh process, empty "
             "caches, from defining the function to its first result (import excluded); steady: median of "
             f"{opts.repeats} calls. Ratios are the first column's over the second's.", "",
             "| case | fgrad first | other first | ratio | fgrad steady | other steady | ratio |", "|---|---|---|---|---|---|---|",
             row("tanh RNN (64, 1,000 steps), scan, jit(value_and_grad) — vs JAX", results[("rnn", "fgrad")],
                 results[("rnn", "jax")], "fgrad", "JAX"),
             row("Newton vector root, while_loop, jit(grad) — vs JAX's fori_loop at the same count",
                 results[("newton", "fgrad")], results[("newton", "jax")], "fgrad", "JAX"),
             row("W5 (200 steps) with fori_loop — vs fgrad's unrolled W5", results[("w5", "fgrad")],
                 results[("w5", "fgrad-unrolled")], "fori_loop", "unrolled"), ""]
    if all("error" not in r for r in remat.values()):
        lines.append(f"Remat: jit(grad) of a 20,000-step scan (state 256, four tanh layers per step) grows the peak "
                     f"resident memory by {remat['plain']['peak_growth_mb']:.0f} MB, and by "
                     f"{remat['checkpoint']['peak_growth_mb']:.0f} MB with `fgrad.checkpoint` on the step (the "
                     "reverse sweep recomputes each step's layers from its carry instead of keeping them).")
    text = "\n".join(lines) + "\n"
    print(text)
    if not opts.quick:
        write_section("control-flow", text)


if __name__ == "__main__":
    main()
