"""Module-level losses and worker probes for tests/test_distributed.py.

They live in a plain module (not the test module) so that the cluster's workers import them by reference,
the way a user's installed code travels: cloudpickle sends module-level functions by name, and the
workers, spawned from the test process, have its sys.path.
"""
import sys
from pathlib import Path

import fgrad.numpy as fnp

TRACES = []   # the row counts `counted_loss` was traced with in this process


def squared_error(params, X, offset, y):
    """A sum over rows; params is a dict, X is 2-D, y is 1-D, offset a scalar parameter."""
    r = X @ params["w"] + params["b"] + offset - y
    return fnp.sum(r * r)


def fails_on_seven_rows(w, X):
    """Raises while tracing a chunk of exactly 7 rows (shapes are known at trace time)."""
    if X.shape[0] == 7:
        raise ValueError("this chunk has seven rows")
    return fnp.sum(X @ w)


def counted_loss(w, X):
    """A loss of its own (its kernel is no other test's), recording each trace in this process."""
    TRACES.append(X.shape[0])
    return fnp.sum(fnp.cos(X @ w) * 3.0)


def kernel_report(module_names):
    """In a worker: the numba dispatchers' cache counts of the named kernel modules it has loaded, and its
    traces of `counted_loss`. Kernel modules are registered in sys.modules (fgrad.backend.numba_jit)."""
    from fgrad.backend.numba_jit import cache_dir
    kernels = {}
    for name in module_names:
        module = sys.modules.get(name)
        if module is None:
            continue
        assert Path(module.__file__).parent == cache_dir()
        dispatchers = [v for v in vars(module).values() if hasattr(v, "stats") and hasattr(v, "targetoptions")]
        kernels[name] = [{"hits": sum(d.stats.cache_hits.values()), "misses": sum(d.stats.cache_misses.values()),
                          "signatures": len(d.signatures), "nogil": d.targetoptions.get("nogil", False)}
                         for d in dispatchers]
    return {"kernels": kernels, "traces": list(TRACES), "cache_dir": str(cache_dir())}
