"""fgrad.distributed against one process: the W2 logistic-regression loss and gradient over a big Dask array.

    python benchmarks/bench_distributed.py            # 10 million rows x 100, float32, 100 chunks (~3 min)
    python benchmarks/bench_distributed.py --quick    # 200 000 rows, a smoke run
    python benchmarks/bench_distributed.py --threads 1 --no-cluster   # in-process rows with 1 BLAS thread

W2 is `mean(log1p(exp(-y * (X @ w)))) + 0.01 * sum(w ** 2)`, gradient with respect to w (workloads.py),
with reduction="mean". The data (a seeded dask.array.random generator) is float32: X takes 4 GB, and the
single-process baseline needs all of it in one process (float64 would be 8 GB, too much next to the other
jobs on a shared 23 GB machine). Rows:

1. single process: `fgrad.jit(fgrad.value_and_grad(W2))` on the whole array in memory (BLAS: OpenBLAS's
   default, 2 threads here, or --threads);
2. the same chunks as the Dask array, one after the other in a Python loop: what the chunk tasks compute;
3. Dask's threaded scheduler, 2 threads, on the same in-memory array (`da.from_array`);
4. a LocalCluster of 1, then 2, worker processes (1 thread each; Dask sets OPENBLAS_NUM_THREADS=1 there),
   the data generated on the workers and persisted there.

For the clusters, the per-task compute times come from Dask's task stream, and Dask's overhead is the
share of the wall time the worker threads were not computing fgrad's tasks:
`1 - (sum of task compute times) / (wall time x worker threads)`; Dask's own tree reduction over the same
chunks with next to no compute (`X[:, 0].sum(split_every=8)`) gives its floor per call. It prints a markdown table for
benchmarks/README.md (its "distributed" section, "Scale-out on Dask") and the load average, since the machine may be shared.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

if "--threads" in sys.argv:             # before numpy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream, wait  # noqa: E402

import fgrad  # noqa: E402
import fgrad.distributed  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

SEED = 20240607
LAM = 0.01


def loss_W2(w, X, y):
    return fnp.mean(fnp.log1p(fnp.exp(-y * (X @ w)))) + LAM * fnp.sum(w ** 2)


def make_data(rows, cols, chunk_rows, dtype):
    rng = da.random.default_rng(SEED)
    X = rng.standard_normal((rows, cols), chunks=(chunk_rows, cols), dtype=dtype)
    w_true = np.random.default_rng(SEED).standard_normal(cols).astype(dtype)
    noise = rng.standard_normal(rows, chunks=chunk_rows, dtype=dtype)
    y = da.where(X @ w_true + noise > 0, 1.0, -1.0).astype(dtype)
    w = (0.1 * np.random.default_rng(SEED + 1).standard_normal(cols)).astype(dtype)
    return X, y, w


def median_time(fn, repeats):
    """(median, best) wall time of `repeats` calls: the best is the least disturbed on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def check(got, expected, what):
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-4, err_msg=what)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-3, atol=1e-6, err_msg=what)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class _Sliced:
    """An array-like over a numpy array: da.from_array slices it inside each task (views). Given the numpy
    array itself, da.from_array copies every chunk into the graph (measured, dask 2026.8): 4 GB more here."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        return self.array[index]


def in_memory_rows(X, y, w, args, results):
    X_np = np.empty(X.shape, X.dtype)
    y_np = np.empty(y.shape, y.dtype)
    start = time.perf_counter()
    da.store([X, y], [X_np, y_np], lock=False, scheduler="threads")
    print(f"generated X in this process: {time.perf_counter() - start:.1f} s ({X_np.nbytes / 1e9:.1f} GB)")

    single = fgrad.jit(fgrad.value_and_grad(loss_W2))
    expected = single(w, X_np, y_np)                                  # compiles (or loads) the kernel
    t, best = median_time(lambda: single(w, X_np, y_np), args.repeats)
    results.append({"setup": f"single process, jit(value_and_grad), whole array in memory{args.blas}",
                    "wall": t, "best": best, "load": load()})
    print(results[-1])

    per_chunk = fgrad.jit(fgrad.value_and_grad(loss_W2), parallel=False)     # what each chunk task runs
    bounds = np.cumsum([0, *X.chunks[0]])
    pieces = [(X_np[a:b], y_np[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    per_chunk(w, *pieces[0])
    t, best = median_time(lambda: [per_chunk(w, Xc, yc) for Xc, yc in pieces], args.repeats)
    results.append({"setup": f"the same chunks in a Python loop, no Dask{args.blas}", "wall": t, "best": best,
                    "chunk": t / len(pieces), "load": load()})
    print(results[-1])

    dX = da.from_array(_Sliced(X_np), chunks=X.chunks)
    dy = da.from_array(_Sliced(y_np), chunks=y.chunks)
    distributed = fgrad.distributed.value_and_grad(loss_W2, reduction="mean")
    with dask.config.set(scheduler="threads", num_workers=2):
        check(distributed(w, dX, dy), expected, "threaded scheduler")
        t, best = median_time(lambda: distributed(w, dX, dy), args.repeats)
    results.append({"setup": f"Dask threaded scheduler, 2 threads, same array{args.blas}", "wall": t,
                    "best": best, "load": load()})
    print(results[-1])
    return expected


def cluster_row(X, y, w, n_workers, expected, args, results):
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster):
        start = time.perf_counter()
        X_p, y_p = dask.persist(X, y)
        wait([X_p, y_p])
        generated = time.perf_counter() - start
        distributed = fgrad.distributed.value_and_grad(loss_W2, reduction="mean")
        check(distributed(w, X_p, y_p), expected, f"{n_workers} workers")          # warm: kernels loaded
        walls, chunk_times, compute = [], [], []
        for _ in range(args.repeats):
            with get_task_stream() as stream:
                start = time.perf_counter()
                distributed(w, X_p, y_p)
                walls.append(time.perf_counter() - start)
            busy = 0.0
            for task in stream.data:
                key = str(task["key"])
                spans = [s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute"]
                if "fgrad-" in key:
                    busy += sum(spans)
                if "fgrad-chunk-" in key:
                    chunk_times.extend(spans)
            compute.append(busy)
        # Dask's own tree reduction over the same chunks, computing next to nothing: its floor per call.
        floor, _ = median_time(lambda: X_p[:, 0].sum(split_every=8).compute(), args.repeats)
        wall = statistics.median(walls)
        busy = statistics.median(compute)
        results.append({"setup": f"LocalCluster, {n_workers} worker process{'es' if n_workers > 1 else ''} x 1 thread",
                        "wall": wall, "best": min(walls), "chunk": statistics.median(chunk_times), "busy": busy,
                        "overhead": 1.0 - busy / (wall * n_workers), "floor": floor, "generated": generated,
                        "load": load()})
        print(results[-1])


def table(results, args, chunks):
    lines = [f"W2 over {args.rows:,} rows x {args.cols} ({args.dtype}) in {chunks} chunks of "
             f"{args.rows // chunks:,} rows; median of {args.repeats} calls after a warm-up call.", "",
             "| setup | wall per call: median (best) | vs single process (medians) | per-chunk compute | "
             "Dask overhead |",
             "|---|---|---|---|---|"]
    base = results[0]["wall"]
    for r in results:
        chunk = f"{r['chunk'] * 1e3:.1f} ms" if "chunk" in r else ""
        overhead = f"{100 * r['overhead']:.0f}%" if "overhead" in r else ""
        lines.append(f"| {r['setup']} | {r['wall'] * 1e3:.0f} ms ({r['best'] * 1e3:.0f} ms) | "
                     f"{base / r['wall']:.2f}x | {chunk} | {overhead} |")
    lines.append("")
    lines += [f"- {r['setup']}: load average {r['load']}" + (
        f"; Dask's floor (`X[:, 0].sum(split_every=8)`) {r['floor'] * 1e3:.0f} ms a call; generating and persisting "
        f"the data on the workers took {r['generated']:.1f} s" if "generated" in r else "") for r in results]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cols", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 000 rows, 3 repeats")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads of this process (OPENBLAS_NUM_THREADS; default: OpenBLAS's own)")
    parser.add_argument("--no-cluster", action="store_true", help="only the in-memory rows")
    args = parser.parse_args(argv)
    args.blas = f" (BLAS {args.threads} thread{'s' if args.threads > 1 else ''})" if args.threads else ""
    if args.quick:
        args.rows, args.repeats = 200_000, 3
    print(f"load average at the start: {load()}; {os.cpu_count()} cores")
    X, y, w = make_data(args.rows, args.cols, -(-args.rows // args.chunks), np.dtype(args.dtype))
    results = []
    expected = in_memory_rows(X, y, w, args, results)
    gc.collect()    # the in-memory copy is gone before the workers make theirs
    for n_workers in () if args.no_cluster else (1, 2):
        cluster_row(X, y, w, n_workers, expected, args, results)
    print()
    print(table(results, args, X.numblocks[0]))


if __name__ == "__main__":
    main()
