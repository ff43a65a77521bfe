"""The kernel side of `fgrad.jit`: a simplified Program lowered to one Numba kernel, and that kernel called.

`lower_program` generates the kernel source (fgrad.backend.codegen) and loads it (fgrad.backend.numba_jit);
`Entry` is one traced signature's ready-to-call kernel, with what turns the kernel's results into the
function's outputs. `fgrad.api.jit` traces, simplifies and keeps the per-function caches.

The caches here and below it:
- per process, lowered kernels keyed by program digest (equal programs from different functions share),
  an LRU cache of LOWERED_CACHE_SIZE entries. Programs carry shapes, so there is one per shape, as in
  the per-function caches; the compiled kernel module behind them is shared by source text, which does
  not depend on sizes (fgrad.backend.numba_jit keeps those);
- on disk, Numba's cache of the content-addressed kernel file (fgrad.backend.numba_jit). The source
  does not depend on array sizes, so one Numba compile serves every size of the same ranks and dtypes.
"""
from __future__ import annotations

import threading

import numpy as np

from fgrad.backend import row_stream
from fgrad.backend.codegen import VIEW_TAGS, generate
from fgrad.backend.numba_jit import KernelCompileError, load_kernel
from fgrad.ir import Program, pytree

__all__ = ["Entry", "lower_program", "kernel_source", "choose_parallel", "lru_put", "JitCompileError",
           "PARALLEL_THRESHOLD", "LOWERED_CACHE_SIZE"]

# Kernels whose largest array has at least this many elements run the prange variant (parallel=None).
PARALLEL_THRESHOLD = 2 ** 16

# How many lowered programs the process keeps (LRU). Each jitted function's own cache holds its entries'
# kernels too, so this bounds only the sharing between functions and re-traces, and the memory of the
# programs no function holds any more.
LOWERED_CACHE_SIZE = 1024

_PLAIN_SCALARS = (float, int, bool)
_LOCK = threading.Lock()
_LOWERED = {}     # (program digest, parallel, fastmath) -> (LoweredKernel, KernelModule), LRU (see lru_put)


class JitCompileError(Exception):
    """Numba could not compile the kernel of a program; the message shows the program and the source."""


def lower_program(program: Program, parallel: bool, fastmath: bool):
    """(LoweredKernel, KernelModule) for a simplified program, shared in-process by program digest."""
    key = (program.digest, parallel, fastmath)
    with _LOCK:
        hit = _LOWERED.get(key)
        if hit is not None:
            lru_put(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
            return hit
    lowered = generate(program, parallel=parallel)
    kernel = load_kernel(lowered.source, lowered.entry, parallel=lowered.uses_prange, fastmath=fastmath)
    with _LOCK:
        hit = _LOWERED.get(key) or (lowered, kernel)     # another thread may have lowered it meanwhile
        lru_put(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
    return hit


def kernel_source(program: Program, parallel: bool) -> str:
    """The kernel source generated for a simplified program (nothing is compiled)."""
    return generate(program, parallel=parallel).source


def lru_put(cache: dict, key, value, size) -> None:
    """Make `key` the most recently used entry of the LRU `cache` of at most `size` entries (None: unbounded).

    The LRU caches (here and jit's per-function ones) are plain dicts in least-to-most recently used order
    (dicts keep insertion order): a use pops the key and puts it back at the end. On jit's fast path that
    measured cheaper than an OrderedDict (whose .get is not specialised by CPython 3.11 and whose move_to_end
    costs more). Call with the lock that guards `cache` held.
    """
    if size == 0:
        return
    cache.pop(key, None)
    cache[key] = value
    if size is not None and len(cache) > size:
        # list() takes the keys in one step, which a fast-path use in another thread cannot interleave with.
        for oldest in list(cache)[: len(cache) - size]:
            cache.pop(oldest, None)


def largest_size(program: Program) -> int:
    """The most elements any value of `program` has (tapes, whose size is known only at run time, aside)."""
    values = list(program.inputs) + [v for e in program.equations for v in e.outputs]
    return max((v.type.size for v in values if not v.type.is_tape), default=0)


def calls_blas(program: Program) -> bool:
    """Whether `program` or a sub-program of its control flow calls BLAS/LAPACK. Matrix products that the
    kernel streams over their matrix's rows (fgrad.backend.row_stream) are loops of its own, not calls."""
    from fgrad.ir.printer import sub_programs
    pending = [program]
    while pending:
        p = pending.pop()
        streamed = row_stream.streamed_products(p, VIEW_TAGS)
        for e in p.equations:
            if e.prim.numba in ("matmul", "solve") and id(e) not in streamed:
                return True
            pending += [sub for _, sub in sub_programs(e.params)]
    return False


def choose_parallel(program: Program) -> bool:
    """prange loops for programs over at least PARALLEL_THRESHOLD elements, unless the program calls
    BLAS/LAPACK: their own threads and Numba's fight for the cores (measured 3-4x slower on 2 cores)."""
    if calls_blas(program):
        return False
    return largest_size(program) >= PARALLEL_THRESHOLD


def _tree_builder(treedef):
    """A fast `leaves -> pytree` for trees of tuples and lists (compiled once); tree_unflatten otherwise."""
    counter = iter(range(treedef.num_leaves))

    def text(node):
        if node.node_type is None:
            return f"L[{next(counter)}]"
        inner = ", ".join(text(c) for c in node.children)
        if node.node_type is tuple:
            return f"({inner}{',' if len(node.children) == 1 else ''})"
        if node.node_type is list:
            return f"[{inner}]"
        raise TypeError

    try:
        return eval(f"lambda L: {text(treedef)}")   # noqa: S307  (text built above from a TreeDef)
    except TypeError:
        return lambda leaves: pytree.tree_unflatten(treedef, leaves)


class Entry:
    """One traced signature: the kernel and how to turn its results into the function's outputs."""

    def __init__(self, program: Program, out_tree, parallel, fastmath):
        self.program = program
        self.lowered, self.kernel = lower_program(program, parallel, fastmath)
        lowered = self.lowered
        self.extra = lowered.constants + ((lowered.dims,) if lowered.dims is not None else ())
        # 0-d inputs are passed to the kernel as scalars.
        self.scalar_inputs = tuple(i for i, v in enumerate(program.inputs) if v.type.ndim == 0)
        self.outputs = []
        for (kind, what), v in zip(lowered.outputs, program.outputs):
            zero_d = v.type.ndim == 0
            self.outputs.append((kind, what, v.type.dtype if zero_d else None))
        self.simple_outputs = all(kind == "kernel" and dtype is None for kind, _, dtype in self.outputs) \
            and [what for _, what, _ in self.outputs] == list(range(len(self.outputs)))
        self.build = _tree_builder(out_tree)

    def __call__(self, leaves):
        if self.scalar_inputs:
            leaves = list(leaves)
            for i in self.scalar_inputs:
                x = leaves[i]
                if type(x) not in _PLAIN_SCALARS:
                    leaves[i] = np.asarray(x)[()]
        # BLAS keeps its own thread count: measured on a quiet 2-core machine, W3 2.8 ms with 2 OpenBLAS
        # threads against 4.5 ms with 1, W2 7.0 against 8.8 ms.
        try:
            out = self.kernel(*leaves, *self.extra)
        except Exception as exc:
            if _raised_while_compiling(exc):
                raise JitCompileError(self.explain(exc)) from exc
            raise
        # Every result is the caller's own: the kernel's arrays alias no argument and no other result
        # (codegen copies exactly those that would), literal and 0-d results are new arrays every call.
        if self.simple_outputs:
            return self.build(out)
        results = []
        for kind, what, dtype in self.outputs:
            if kind == "literal":
                results.append(np.array(what))
            elif dtype is not None:
                results.append(np.array(out[what], dtype=dtype))
            else:
                results.append(out[what])
        return self.build(results)

    def explain(self, exc) -> str:
        if isinstance(exc, KernelCompileError):
            return f"{exc}\n\nthe (simplified) program:\n{self.program}"
        lines = self.lowered.source.splitlines()
        numbered = "\n".join(f"{i:>3} | {line}" for i, line in enumerate(lines, 1))
        where = self.kernel.path or "compiled in memory"
        return (f"Numba could not compile the kernel: {type(exc).__name__}: {exc}\n\ngenerated source "
                f"({where}):\n{numbered}\n\nthe (simplified) program:\n{self.program}")


def _raised_while_compiling(exc) -> bool:
    """Did `exc` come out of Numba's compiler (typing, lowering) rather than out of the running kernel?"""
    if isinstance(exc, KernelCompileError):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if "numba" in tb.tb_frame.f_code.co_filename and "compiler" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False
