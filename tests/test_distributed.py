"""fgrad.distributed on a real LocalCluster (one per module: 2 worker processes, 1 thread each) and on
Dask's threaded scheduler: results equal the single-machine value_and_grad; errors name what was wrong;
workers compile each kernel once and load kernels compiled by another process; a killed worker does not
change the result.

The workers inherit this session's FGRAD_CACHE_DIR (tests/conftest.py), so they share its kernels.
"""
import os
import runpy
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import fgrad  # noqa: E402
import fgrad.distributed as fd  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import distributed_losses as losses  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Uneven row chunks, with only two sizes: a kernel with `mean` is compiled per row count (its 1/n is a literal).
ROWS = (6, 6, 6, 2)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        yield client


def regression_data(dtype=np.float64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((sum(ROWS), 3)).astype(dtype)
    y = rng.standard_normal(sum(ROWS)).astype(dtype)
    params = {"w": rng.standard_normal(3).astype(dtype), "b": np.asarray(0.5, dtype)}
    # X is split over its columns as well: each chunk's rows are joined from two blocks.
    return params, X, y, da.from_array(X, chunks=(ROWS, 2)), da.from_array(y, chunks=(ROWS,))


def assert_tree_close(actual, expected, rtol):
    actual_leaves, actual_tree = fgrad.tree_util.tree_flatten(actual)
    expected_leaves, expected_tree = fgrad.tree_util.tree_flatten(expected)
    assert actual_tree == expected_tree
    for a, e in zip(actual_leaves, expected_leaves):
        assert isinstance(a, np.ndarray) and a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=rtol)


def test_sum_equals_single_machine_with_pytree_params_and_several_dask_arguments(client):
    params, X, y, dX, dy = regression_data()
    argnums = (0, 2)    # the params dict and the scalar offset
    expected = fgrad.jit(fgrad.value_and_grad(losses.squared_error, argnums))(params, X, 0.25, y=y)
    got = fd.value_and_grad(losses.squared_error, argnums)(params, dX, 0.25, y=dy)
    assert_tree_close(got, expected, rtol=1e-12)
    assert_tree_close(fd.grad(losses.squared_error, argnums)(params, dX, 0.25, y=dy), expected[1], rtol=1e-12)


def test_mean_of_a_closure_equals_single_machine(client):
    params, X, y, dX, dy = regression_data()
    scale = np.array([1.0, -2.0, 0.5])      # closed over: the closure travels by value

    def loss(w, X, y):
        return fnp.mean(fnp.log1p(fnp.exp(-y * ((X * scale) @ w)))) + 0.01 * fnp.sum(w ** 2)

    expected = fgrad.value_and_grad(loss)(params["w"], X, y)
    distributed_loss = fd.value_and_grad(loss, reduction="mean")
    with dask.config.set(scheduler="threads"):   # first here: the workers then load the kernels it compiles
        assert_tree_close(distributed_loss(params["w"], dX, dy), expected, rtol=1e-12)
    assert_tree_close(distributed_loss(params["w"], dX, dy), expected, rtol=1e-12)


def test_threaded_scheduler_gives_the_same_result_in_float32():
    params, X, y, dX, dy = regression_data(np.float32)
    expected = fgrad.value_and_grad(losses.squared_error, (0, 2))(params, X, np.float32(0.25), y=y)
    with dask.config.set(scheduler="threads"):
        got = fd.value_and_grad(losses.squared_error, (0, 2))(params, dX, np.float32(0.25), y=dy)
    assert_tree_close(got, expected, rtol=1e-5)


def test_workers_load_kernels_compiled_by_another_process_and_compile_each_once(client):
    X = np.random.default_rng(1).standard_normal((23, 4))
    dX = da.from_array(X, chunks=((3,) * 7 + (2,), 4))
    w = np.full(4, 0.1)
    # This process runs the chunks first (threaded scheduler), compiling the kernel into the shared cache.
    before = set(sys.modules)
    with dask.config.set(scheduler="threads"):
        expected = fd.value_and_grad(losses.counted_loss)(w, dX)
    kernel_modules = sorted(m for m in set(sys.modules) - before if m.startswith("k_"))
    assert kernel_modules, "the threaded run loaded no kernel module"

    for _ in range(2):
        assert_tree_close(fd.value_and_grad(losses.counted_loss)(w, dX), expected, rtol=1e-12)
    reports = client.run(losses.kernel_report, kernel_modules)
    loaded = [(worker, dispatcher) for worker, report in reports.items()
              for dispatchers in report["kernels"].values() for dispatcher in dispatchers]
    assert loaded, f"no worker loaded the kernel: {reports}"
    for worker, dispatcher in loaded:
        assert dispatcher == {"hits": 1, "misses": 0, "signatures": 1, "nogil": True}, (worker, dispatcher)
    # Two calls of 8 chunks: each worker traced each chunk shape (3 and 2 rows) at most once.
    traces = [n for report in reports.values() for n in report["traces"]]
    assert 1 <= len(traces) <= 4 and all(traces.count(n) <= 2 for n in (2, 3)), reports


def test_a_raising_chunk_names_its_index_rows_and_error(client):
    dX = da.from_array(np.ones((20, 2)), chunks=((5, 5, 7, 3), 2))
    with pytest.raises(fd.ChunkError, match=r"chunk 2 of 4 \(rows 10:17\) of fails_on_seven_rows raised "
                                             r"ValueError: this chunk has seven rows") as info:
        fd.value_and_grad(losses.fails_on_seven_rows)(np.ones(2), dX)
    assert info.value.chunk == 2
    assert "distributed_losses.py" in str(info.value)     # the worker's traceback


def test_example_runs_on_the_cluster(client, capsys):
    example = runpy.run_path(str(ROOT / "examples" / "distributed_logreg.py"), run_name="distributed_logreg")
    result = example["main"](["--small", "--scheduler", client.scheduler.address])
    out = capsys.readouterr().out
    assert "iteration   1" in out and f"final loss {result.fun:.6f}" in out
    assert result.success and result.fun < np.log(2.0)


def test_a_killed_worker_does_not_change_the_result(client, tmp_path):
    """The first worker to trace the loss exits on the spot, in the middle of a chunk; Dask reruns its
    chunks on the other worker (and the restarted one)."""
    params, X, y, dX, dy = regression_data()
    marker = str(tmp_path / "killed")

    def loss(w, X, y):
        if not os.path.exists(marker):   # runs while tracing, on a worker: once per cluster
            open(marker, "w").close()
            os._exit(1)
        return fnp.sum((X @ w - y) ** 2)

    expected = fgrad.value_and_grad(lambda w, X, y: fnp.sum((X @ w - y) ** 2))(params["w"], X, y)
    workers_before = set(client.scheduler_info()["workers"])
    got = fd.value_and_grad(loss)(params["w"], dX, dy)
    assert os.path.exists(marker), "no worker was killed"
    assert_tree_close(got, expected, rtol=1e-12)
    assert set(client.scheduler_info()["workers"]) != workers_before    # the nanny started a new one


# --------------------------------------------------------------------------- errors found before computing


def _unpicklable_closure():
    lock = threading.Lock()

    def loss(w, X):
        with lock:
            return fnp.sum(X @ w)
    return loss


def _bad_calls():
    ones = np.ones((6, 2))
    X = da.from_array(ones, chunks=(3, 2))
    unknown = X[da.from_array(np.arange(6) > 2, chunks=3)]
    sum_xw = lambda w, X, y=None: fnp.sum(X @ w)   # noqa: E731
    return {
        "mismatched-row-chunks": (
            lambda: fd.value_and_grad(sum_xw)(np.ones(2), X, y=da.ones(6, chunks=2)),
            ValueError, r"same row chunks \(axis 0\), but argument 1 \(X\) and keyword argument 'y' differ:\n"
                        r"  argument 1 \(X\): \(3, 3\)\n  keyword argument 'y': \(2, 2, 2\)\nrechunk them alike"),
        "grad-of-data": (lambda: fd.value_and_grad(sum_xw, argnums=1)(np.ones(2), X),
                         ValueError, r"gradient with respect to argument 1 \(X\), a Dask array"),
        "no-dask-array": (lambda: fd.value_and_grad(sum_xw)(np.ones(2), ones),
                          TypeError, r"none of the arguments of .*<lambda> is a Dask array"),
        "unknown-chunks": (lambda: fd.value_and_grad(sum_xw)(np.ones(2), unknown),
                           ValueError, r"row chunks of argument 1 \(X\) have unknown sizes .*compute_chunk_sizes"),
        "zero-d": (lambda: fd.value_and_grad(sum_xw)(np.ones(2), X, y=da.ones(())),
                   ValueError, r"keyword argument 'y' is a 0-d Dask array"),
        "reduction": (lambda: fd.value_and_grad(sum_xw, reduction="max"),
                      ValueError, r"reduction must be one of \('sum', 'mean'\), got 'max'"),
        "unpicklable": (lambda: fd.value_and_grad(_unpicklable_closure())(np.ones(2), X),
                        TypeError, r"cannot send .*loss to the workers: pickling it failed"),
    }


@pytest.mark.parametrize("case", list(_bad_calls()))
def test_bad_calls_say_what_is_wrong(case):
    call, error, message = _bad_calls()[case]
    with pytest.raises(error, match=message):
        call()
