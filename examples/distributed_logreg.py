"""Logistic regression on a Dask array that no single process holds, with fgrad.distributed and L-BFGS-B.

The data is generated on the workers and kept there (`dask.persist`); each L-BFGS-B step asks the cluster
for the loss and its gradient: every worker runs fgrad's compiled kernel on its chunks and the results are
added up in a tree, so only the parameters (one vector) and the summed gradient cross the network.

    python examples/distributed_logreg.py             # 2 million rows x 20 on a LocalCluster here
    python examples/distributed_logreg.py --small     # 20 000 rows, a few seconds
    python examples/distributed_logreg.py --scheduler tcp://scheduler-host:8786

To use a real cluster, start a scheduler (`dask scheduler`) and workers on the other machines
(`dask worker tcp://scheduler-host:8786`; or dask-jobqueue on an HPC batch system, dask-kubernetes on
Kubernetes), install fgrad and dask there (`pip install fgrad[distributed]`), set FGRAD_CACHE_DIR on the
workers to a directory they share so that one process compiles each kernel and the others load it, and
pass the scheduler's address with --scheduler. The loss below is defined in this script, so it travels
to the workers by value; the workers need only fgrad, not this file.
"""
import argparse
import time

import dask
import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster, wait
from scipy.optimize import minimize

import fgrad.distributed
import fgrad.numpy as fnp

LAM = 1e-3   # L2 penalty


def loss(w, X, y):
    """Mean logistic loss of weights `w` on rows X with labels y in {-1, +1}, plus an L2 penalty.

    Written for the rows of one chunk; reduction="mean" makes it the loss over all rows."""
    return fnp.mean(fnp.log1p(fnp.exp(-y * (X @ w)))) + LAM * fnp.sum(w ** 2)


def make_data(rows, cols, chunk_rows, seed=0):
    """Features X ~ N(0, 1) and noisy labels of a random linear model, as lazy Dask arrays."""
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, cols), chunks=(chunk_rows, cols))
    w_true = np.random.default_rng(seed).standard_normal(cols)
    noise = rng.logistic(size=rows, chunks=chunk_rows)
    y = da.where(X @ w_true + noise > 0, 1.0, -1.0)
    return X, y


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a new LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    parser.add_argument("--small", action="store_true", help="20 000 rows x 10 in 8 chunks, for a quick run")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=50, help="number of row chunks")
    parser.add_argument("--maxiter", type=int, default=50)
    args = parser.parse_args(argv)
    if args.small:
        args.rows, args.cols, args.chunks = 20_000, 10, 8
    return args


def train(args):
    """Fit on the current Dask client; return scipy's OptimizeResult."""
    X, y = make_data(args.rows, args.cols, chunk_rows=-(-args.rows // args.chunks))
    X, y = dask.persist(X, y)           # generated on the workers, and kept there
    wait([X, y])
    print(f"data: X {X.shape} float64 in {X.numblocks[0]} chunks of {X.chunks[0][0]} rows "
          f"({X.nbytes / 1e6:.0f} MB on the workers)")

    value_and_grad = fgrad.distributed.value_and_grad(loss, reduction="mean")
    start = time.perf_counter()

    def progress(intermediate_result):
        print(f"iteration {progress.count:3d}  loss {intermediate_result.fun:.6f}  "
              f"({time.perf_counter() - start:.2f} s)", flush=True)
        progress.count += 1
    progress.count = 1

    result = minimize(value_and_grad, np.zeros(args.cols), args=(X, y), jac=True, method="L-BFGS-B",
                      callback=progress, options={"maxiter": args.maxiter})
    accuracy = float((da.sign(X @ result.x) == y).mean().compute())
    print(f"final loss {result.fun:.6f} after {result.nit} iterations and {result.nfev} evaluations "
          f"({time.perf_counter() - start:.2f} s); training accuracy {accuracy:.3f}; {result.message}")
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.scheduler:
        with Client(args.scheduler) as client:
            print(f"cluster: {client.scheduler_info()['address']}, {len(client.scheduler_info()['workers'])} workers")
            return train(args)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        print(f"cluster: a LocalCluster of {len(client.scheduler_info()['workers'])} worker processes")
        return train(args)


if __name__ == "__main__":
    main()
