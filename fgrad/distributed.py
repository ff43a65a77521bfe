"""Data-parallel value and gradient over Dask arrays: one compiled kernel per chunk, a tree of sums.

    >>> import dask.array as da, numpy as np
    >>> import fgrad.numpy as fnp, fgrad.distributed
    >>> def loss(w, X, y):                              # written for one chunk of rows
    ...     return fnp.mean(fnp.log1p(fnp.exp(-y * (X @ w))))
    >>> X = da.random.default_rng(0).standard_normal((10_000, 5), chunks=(2_500, 5))
    >>> y = da.sign(X[:, 0])
    >>> value, g = fgrad.distributed.value_and_grad(loss, reduction="mean")(np.zeros(5), X, y)
    >>> round(float(value), 12)                         # log(2): w = 0 predicts 1/2 everywhere
    0.69314718056

How it works. Every Dask-array argument is split along axis 0 by its row chunks (all of them must have
the same row chunks). For each chunk one task runs `fgrad.jit(fgrad.value_and_grad(fun, argnums))` on
that chunk's rows and the other arguments (the parameters, any pytree: sent once per call, as one
shared task). The per-chunk values and gradients are added in a tree of tasks (fan-in 8), so only the
final sum travels to the caller, as numpy arrays. `reduction="mean"` weights each chunk by its share of
the rows, which makes a loss written with `mean` (plus terms that do not depend on the data, such as a
penalty on the parameters) equal to the same loss on the whole data. With `reduction="sum"` every term
is summed over the chunks, a penalty included, so write losses for `sum` as sums over the rows.

Where it runs. On the current `dask.distributed.Client` if there is one (`Client(...)` makes itself
current), else on Dask's default scheduler (threads for Dask arrays); `dask.config.set(scheduler=...)`
picks another. The kernels release the GIL, so the threaded scheduler runs chunks in parallel too.
Each chunk runs serially (no prange): the parallelism is across chunks. Dask's worker processes run
BLAS (`X @ w`) on one thread; with the threaded scheduler, start Python with OPENBLAS_NUM_THREADS=1 so
that BLAS's threads do not fight the scheduler's (measured: 100 chunks of a matmul loss took 7x longer
with 2 BLAS threads than with 1 on a busy 2-core machine). Dask retries the tasks of a
worker that dies; a chunk whose computation raises stops the call with a `ChunkError` that names the
chunk, its rows and the worker's error.

Which functions work. `fun` is sent to the workers with cloudpickle, once per call and unpickled once
per worker process:
- module-level functions of a module the workers can import go by reference (the workers need the
  same code installed);
- lambdas, closures and functions defined in `__main__` (a script, a notebook) go by value, together
  with what they close over (numpy arrays, numbers, other functions); like `fgrad.jit`, the closed-over
  values are captured on the first call;
- a function closing over something that cannot be pickled (a lock, an open file, a Client) fails on
  the first call with an error saying so.

Kernels on workers. A worker keeps the jitted function of each `fun` for the life of its process, so it
traces each chunk shape and compiles each kernel at most once. Kernels are cached on disk in
FGRAD_CACHE_DIR (default `~/.cache/fgrad`, per worker machine): point every worker's FGRAD_CACHE_DIR at
a shared directory (or ship a warm one in the worker image) and workers load kernels another process
compiled instead of compiling them. Set it in the workers' environment; the client does not send it.
Keep the row chunks of equal size where you can: a loss with `mean` bakes its row count into the kernel
(as 1/n), so each distinct chunk size is a kernel of its own.

Dask is optional: `pip install fgrad[distributed]` brings `dask[array]` and `distributed`.
"""
from __future__ import annotations

import hashlib
import inspect
import re
import threading
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

try:
    import cloudpickle
    import dask
    import dask.array as da
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph
    from dask.task_spec import DataNode, List, Task, TaskRef
except ImportError as exc:   # pragma: no cover - exercised in a subprocess by test_distributed_optional.py
    raise ImportError("fgrad.distributed needs Dask: pip install fgrad[distributed] "
                      f"(it brings dask[array] and distributed); the import failed with: {exc}") from exc

from fgrad.api import Jitted, jit
from fgrad.api import value_and_grad as _local_value_and_grad
from fgrad.ir import pytree

__all__ = ["value_and_grad", "grad", "ChunkError"]

REDUCTIONS = ("sum", "mean")
SPLIT_EVERY = 8          # fan-in of the reduction tree: depth log8(chunks), 100 chunks -> 3 levels
_WORKER_CACHE_SIZE = 32  # jitted functions kept per worker process (each may hold closed-over arrays)


class ChunkError(RuntimeError):
    """The computation of one chunk raised; the message names the chunk, its rows and the worker's error.

    `chunk` is the chunk's index along axis 0.
    """

    def __init__(self, chunk: int, message: str):
        super().__init__(message)
        self.chunk = chunk

    def __reduce__(self):   # travels from the worker to the client by pickle
        return (ChunkError, (self.chunk, self.args[0]))


def value_and_grad(fun, argnums=0, reduction="sum"):
    """Like `fgrad.value_and_grad`, with the data as Dask arrays split over their row chunks.

    The returned function takes `fun`'s arguments. Dask arrays (anywhere in the arguments, all with the
    same row chunks) are the data; each worker runs `fun` on its chunks' rows with the other arguments
    as they are. It returns the value and the gradient with respect to the `argnums` arguments, as numpy
    arrays: summed over the chunks (`reduction="sum"`), or their row-weighted mean (`"mean"`, for losses
    written with `mean`). The arguments differentiated must not contain Dask arrays.

    >>> import dask.array as da, numpy as np
    >>> import fgrad.numpy as fnp, fgrad.distributed
    >>> X = da.from_array(np.arange(6.0).reshape(3, 2), chunks=(2, 2))
    >>> fgrad.distributed.value_and_grad(lambda w, X: fnp.sum((X @ w) ** 2))(np.ones(2), X)
    (array(107.), array([ 92., 122.]))
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}: 'sum' adds the chunks' "
                         "values and gradients, 'mean' weights each chunk by its share of the rows")
    argnums = _check_argnums(argnums)
    if isinstance(fun, Jitted):
        fun = fun.fun     # every worker jits it; the jitted object holds kernels that do not pickle
    shipped = _ShippedFunction(fun)

    def distributed_value_and_grad(*args, **kwargs):
        (treedef, leaves), = dask.compute(_graph(fun, shipped, argnums, reduction, args, kwargs))
        value, grads = pytree.tree_unflatten(treedef, [np.asarray(leaf) for leaf in leaves])
        return value, grads

    distributed_value_and_grad.__name__ = f"distributed_value_and_grad({_name(fun)})"
    distributed_value_and_grad.__doc__ = value_and_grad.__doc__
    return distributed_value_and_grad


def grad(fun, argnums=0, reduction="sum"):
    """Like `fgrad.grad`, with the data as Dask arrays: the gradient of `value_and_grad` (see there).

    >>> import dask.array as da, numpy as np
    >>> import fgrad.numpy as fnp, fgrad.distributed
    >>> X = da.from_array(np.arange(6.0).reshape(3, 2), chunks=(2, 2))
    >>> fgrad.distributed.grad(lambda w, X: fnp.mean(X @ w), reduction="mean")(np.ones(2), X)
    array([2., 3.])
    """
    fun_value_and_grad = value_and_grad(fun, argnums, reduction)

    def distributed_grad(*args, **kwargs):
        return fun_value_and_grad(*args, **kwargs)[1]

    distributed_grad.__name__ = f"distributed_grad({_name(fun)})"
    return distributed_grad


# --------------------------------------------------------------------------- the client side


class _ShippedFunction:
    """`fun` pickled once (on the first call), and the hash of those bytes that keys the workers' caches."""

    def __init__(self, fun):
        self.fun = fun
        self.data = None
        self.key = None

    def pickled(self):
        if self.data is None:
            try:
                data = cloudpickle.dumps(self.fun)
            except Exception as exc:
                raise TypeError(f"fgrad.distributed cannot send {_name(self.fun)} to the workers: pickling it "
                                f"failed with {type(exc).__name__}: {exc}. Use a module-level function or a "
                                "closure over picklable values (arrays, numbers, functions).") from exc
            self.data, self.key = data, hashlib.sha256(data).hexdigest()[:24]
        return self.data, self.key


@dataclass(frozen=True, eq=False)
class _Plan:
    """What every chunk task needs, shipped once per call as one shared task of the graph."""
    name: str               # the function's name, for messages
    fun_key: str            # hash of fun_bytes, keys the workers' cache of jitted functions
    fun_bytes: bytes
    argnums: int | tuple
    reduction: str
    treedef: object         # of (args, kwargs)
    leaves: tuple           # their leaves, with None where each chunk puts its rows of a Dask array
    data_slots: tuple       # the positions of the Dask arrays among the leaves
    starts: tuple           # the first row of each chunk, and the number of rows at the end
    joined: tuple           # per data slot: is a chunk's row split over several blocks to join


def _graph(fun, shipped, argnums, reduction, args, kwargs):
    """The task graph of one call, as a Delayed: a plan task, a task per chunk, a tree of sums.

    The graph is a dict of dask.task_spec tasks, which takes microseconds per chunk to build; dask.delayed
    calls took over 1 ms each (measured with dask 2026.8: 130 ms per call for 100 chunks)."""
    leaves, treedef = pytree.tree_flatten((args, kwargs))
    data = _data_arguments(fun, leaves, (args, kwargs))
    _check_not_differentiated(argnums, len(args), data)
    row_chunks = _common_row_chunks(data)
    if sum(row_chunks) == 0:
        raise ValueError(f"the Dask arrays have no rows ({data[0].what} has shape {data[0].array.shape})")
    arrays = dask.optimize(*[d.array for d in data])   # one graph: parents they share are computed once
    fun_bytes, fun_key = shipped.pickled()
    template = list(leaves)
    for d in data:
        template[d.leaf] = None
    plan = _Plan(name=_name(fun), fun_key=fun_key, fun_bytes=fun_bytes, argnums=argnums, reduction=reduction,
                 treedef=treedef, leaves=tuple(template), data_slots=tuple(d.leaf for d in data),
                 starts=tuple(int(s) for s in np.cumsum([0, *row_chunks])),
                 joined=tuple(int(np.prod(d.array.numblocks[1:])) > 1 for d in data))
    token = uuid.uuid4().hex[:16]
    plan_key = f"fgrad-plan-{token}"
    layer = {plan_key: DataNode(plan_key, plan)}
    block_keys = [array.__dask_keys__() for array in arrays]
    chunk_keys = []
    for i, rows in enumerate(row_chunks):
        if rows == 0:
            continue    # no rows add nothing (and a mean over zero rows is nan)
        row = [_row_keys(keys[i], joined) for keys, joined in zip(block_keys, plan.joined)]
        chunk_keys.append((f"fgrad-chunk-{token}", i))
        layer[chunk_keys[-1]] = Task(chunk_keys[-1], _run_chunk, TaskRef(plan_key), i, List(*row))
    root = _tree_sum(layer, chunk_keys, token)
    graph = HighLevelGraph.from_collections(f"fgrad-{token}", layer, dependencies=arrays)
    return Delayed(root, graph, layer=f"fgrad-{token}")


@dataclass(frozen=True)
class _Data:
    leaf: int               # position among the leaves of (args, kwargs)
    position: int | None    # the positional argument it is in (None for a keyword argument)
    what: str               # "argument 1 (X)", "keyword argument 'y'", "argument 2 (data)['X']"
    array: object           # the dask.array.Array


def _data_arguments(fun, leaves, args_kwargs):
    """The Dask arrays among the leaves of (args, kwargs), described by where they are."""
    names = _parameter_names(fun)
    data = []
    for index, ((path, leaf), same) in enumerate(zip(pytree.tree_leaves_with_path(args_kwargs), leaves)):
        assert leaf is same, "tree_leaves_with_path and tree_flatten disagree on the order of leaves"
        if not dask.is_dask_collection(leaf):
            continue
        position, what = _describe(path, names)
        if not isinstance(leaf, da.Array):
            raise TypeError(f"{what} is a {type(leaf).__name__}; fgrad.distributed takes Dask arrays: "
                            "convert it with .to_dask_array(lengths=True)")
        if leaf.ndim == 0:
            raise ValueError(f"{what} is a 0-d Dask array, with no rows to split: compute it (.compute()) "
                             "and pass it as a parameter")
        data.append(_Data(index, position, what, leaf))
    if not data:
        raise TypeError(f"none of the arguments of {_name(fun)} is a Dask array, so there are no chunks to "
                        "distribute: wrap the data with dask.array.from_array(x, chunks=(rows, ...)), or use "
                        "fgrad.value_and_grad for data in memory")
    return data


_PATH = re.compile(r"\[(\d)\]\[([^\]]+)\](.*)")


def _describe(path: str, names) -> tuple:
    """(positional index or None, text) for a leaf's path in (args, kwargs): "[0][1]['X']" -> (1, ...)."""
    group, key, rest = _PATH.fullmatch(path).groups()
    if group == "1":
        return None, f"keyword argument {key}{rest}"
    i = int(key)
    return i, (f"argument {i} ({names[i]}){rest}" if i < len(names) else f"argument {i}{rest}")


def _row_keys(keys, joined):
    """The blocks of one row of chunks: the nested list to join with np.block, or its only block."""
    if joined:
        return List(*[_row_keys(k, True) for k in keys]) if isinstance(keys, list) else TaskRef(keys)
    while isinstance(keys, list):     # [[key]] -> key
        keys = keys[0]
    return TaskRef(keys)


def _check_argnums(argnums):
    if isinstance(argnums, int):
        return argnums
    if isinstance(argnums, (tuple, list)) and all(isinstance(a, int) for a in argnums):
        return tuple(argnums)
    raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")


def _check_not_differentiated(argnums, nargs, data):
    for a in (argnums,) if isinstance(argnums, int) else argnums:
        if not -nargs <= a < nargs:
            raise IndexError(f"argnums {argnums} names argument {a}, but the function got {nargs} positional "
                             "arguments")
        for d in data:
            if d.position == a % nargs:
                raise ValueError(f"argnums {argnums} asks for the gradient with respect to {d.what}, a Dask "
                                 "array; fgrad.distributed differentiates the parameters (sent whole to every "
                                 "worker), not the data split over the chunks")


def _common_row_chunks(data):
    unknown = [d.what for d in data if any(np.isnan(c) for c in d.array.chunks[0])]
    if unknown:
        raise ValueError(f"the row chunks of {', '.join(unknown)} have unknown sizes (nan); call "
                         ".compute_chunk_sizes() on them first")
    first = data[0]
    for d in data[1:]:
        if d.array.chunks[0] != first.array.chunks[0]:
            listing = "\n".join(f"  {e.what}: {e.array.chunks[0]}" for e in data)
            raise ValueError(f"the Dask arrays must have the same row chunks (axis 0), but {first.what} and "
                             f"{d.what} differ:\n{listing}\nrechunk them alike, e.g. "
                             "y = y.rechunk({0: X.chunks[0]}); fgrad.distributed does not rechunk for you")
    return first.array.chunks[0]


def _parameter_names(fun):
    try:
        return [p.name for p in inspect.signature(fun).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _tree_sum(layer, keys, token):
    """Add the chunks' results in a tree of tasks with fan-in SPLIT_EVERY; return the key of the total."""
    level = 0
    while len(keys) > 1:
        groups = [keys[i:i + SPLIT_EVERY] for i in range(0, len(keys), SPLIT_EVERY)]
        keys = [(f"fgrad-sum-{token}", level, j) for j in range(len(groups))]
        for key, group in zip(keys, groups):
            layer[key] = Task(key, _add_parts, *[TaskRef(k) for k in group])
        level += 1
    return keys[0]


def _name(fun) -> str:
    return getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or type(fun).__name__


# --------------------------------------------------------------------------- the worker side

_JITTED: OrderedDict = OrderedDict()   # (fun_key, argnums) -> jitted value_and_grad, least recently used first
_JITTED_LOCK = threading.Lock()


def _jitted(plan: _Plan):
    """This process's jitted value_and_grad of the plan's function: unpickled and jitted once per process."""
    key = (plan.fun_key, plan.argnums)
    with _JITTED_LOCK:
        fn = _JITTED.get(key)
        if fn is not None:
            _JITTED.move_to_end(key)
            return fn
    fun = cloudpickle.loads(plan.fun_bytes)
    # parallel=False: a worker's threads already run one chunk each.
    fn = jit(_local_value_and_grad(fun, plan.argnums), parallel=False)
    with _JITTED_LOCK:
        fn = _JITTED.setdefault(key, fn)
        while len(_JITTED) > _WORKER_CACHE_SIZE:
            _JITTED.popitem(last=False)
    return fn


def _run_chunk(plan: _Plan, index: int, row_blocks):
    """One chunk: its value and gradient as (treedef, leaves), weighted by its share of rows for 'mean'."""
    start, stop = plan.starts[index], plan.starts[index + 1]
    try:
        leaves = list(plan.leaves)
        for slot, block, joined in zip(plan.data_slots, row_blocks, plan.joined):
            leaves[slot] = np.block(block) if joined else block
        args, kwargs = pytree.tree_unflatten(plan.treedef, leaves)
        value, grads = _jitted(plan)(*args, **kwargs)
        out_leaves, treedef = pytree.tree_flatten((value, grads))
        if plan.reduction == "mean":
            weight = (stop - start) / plan.starts[-1]
            out_leaves = [np.asarray(leaf) * weight for leaf in out_leaves]
        return treedef, out_leaves
    except Exception as exc:
        n = len(plan.starts) - 1
        worker_error = "".join(traceback.format_exception(exc)).rstrip()
        raise ChunkError(index, f"fgrad.distributed: chunk {index} of {n} (rows {start}:{stop}) of "
                                f"{plan.name} raised {type(exc).__name__}: {exc}\n\n"
                                f"the worker's traceback:\n{worker_error}") from exc


def _add_parts(*parts):
    treedef, total = parts[0]
    total = list(total)
    for other_treedef, leaves in parts[1:]:
        assert other_treedef == treedef, "chunks returned gradients of different structures"
        total = [a + b for a, b in zip(total, leaves)]
    return treedef, total
