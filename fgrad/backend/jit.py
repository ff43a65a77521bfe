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

from fgrad import config as _config
from fgrad.backend import nan_check
from fgrad.backend import row_stream
from fgrad.backend.codegen import VIEW_TAGS, generate, without_locations
from fgrad.backend.compile_log import Stopwatch, enabled as logging_compiles, numba_stage_times
from fgrad.backend.numba_jit import KernelCompileError, compile_now, load_kernel
from fgrad.ir import Program, pytree
from fgrad.ops.debug import kernel_callbacks
from fgrad.numpy._array import Array, as_arrays

__all__ = ["Entry", "lower_program", "kernel_source", "choose_parallel", "lru_put", "JitCompileError",
           "PARALLEL_THRESHOLD", "LOWERED_CACHE_SIZE"]

# Kernels whose largest array has at least this many elements run the prange variant (parallel=None).
PARALLEL_THRESHOLD = 2 ** 16

# Kernels with more calls than this to fgrad.backend.vecmath's functions use Numba's libm calls instead.
# Each vecmath call is force-inlined (sin/cos: Payne-Hanek reduction, polynomials), and LLVM's time grows
# with the inlined code. Measured on the k-step chain (value_and_grad, 100 elements, 20 sin+cos per 10 steps
# forward and as many backward): k = 10 compiled in 3.5 s with libm against 11.6 s with vecmath (LLVM 1.2 s
# against 5.4 s), and ran at the same speed (24 against 28 us at n = 100; 88 against 90 ms at n = 1e5),
# since loops that long are not vectorised anyway. W1 and W3 (a handful of calls) keep vecmath, where it
# buys 5x at N = 1e6.
VECMATH_MAX_CALLS = 16

# How many lowered programs the process keeps (LRU). Each jitted function's own cache holds its entries'
# kernels too, so this bounds only the sharing between functions and re-traces, and the memory of the
# programs no function holds any more.
LOWERED_CACHE_SIZE = 1024

_PLAIN_SCALARS = (float, int, bool)
_LOCK = threading.Lock()
_LOWERED = {}     # (program digest, parallel, fastmath) -> (LoweredKernel, KernelModule), LRU (see lru_put)


class JitCompileError(Exception):
    """Numba could not compile the kernel of a program; the message shows the program and the source."""


def lower_program(program: Program, parallel: bool, fastmath: bool, stopwatch: Stopwatch | None = None):
    """(LoweredKernel, KernelModule) for a simplified program, shared in-process by program digest.
    `stopwatch` gets the time of "generate" (the source) and "load" (file, import, njit)."""
    key = (program.digest, parallel, fastmath)
    with _LOCK:
        hit = _LOWERED.get(key)
        if hit is not None:
            lru_put(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
            return hit
    stopwatch = stopwatch or Stopwatch()
    with stopwatch("generate"):
        lowered = generate(program, parallel=parallel, vector_math=use_vector_math(program))
    # The file on disk leaves out the comments' source locations: its hash (the cache key) then stays the
    # same when the user's code moves (see fgrad.backend.codegen.LOCATION_MARK).
    with stopwatch("load"):
        kernel = load_kernel(without_locations(lowered.source), lowered.entry, parallel=lowered.uses_prange,
                             fastmath=fastmath)
    with _LOCK:
        hit = _LOWERED.get(key) or (lowered, kernel)     # another thread may have lowered it meanwhile
        lru_put(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
    return hit


def kernel_source(program: Program, parallel: bool) -> str:
    """The kernel source generated for a simplified program (nothing is compiled)."""
    return generate(program, parallel=parallel, vector_math=use_vector_math(program)).source


def vector_math_calls(program: Program) -> int:
    """How many equations of `program` and its sub-programs have a vecmath form (see VECMATH_MAX_CALLS)."""
    from fgrad.ir.printer import sub_programs
    pending, count = [program], 0
    while pending:
        p = pending.pop()
        for e in p.equations:
            count += e.prim.vector_math is not None
            pending += [sub for _, sub in sub_programs(e.params)]
    return count


def use_vector_math(program: Program) -> bool:
    """vecmath's inlined functions for small kernels, libm calls above VECMATH_MAX_CALLS (compile time)."""
    return vector_math_calls(program) <= VECMATH_MAX_CALLS


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
    """A fast `leaves -> pytree` for trees of tuples and lists (compiled once); tree_unflatten otherwise. The
    leaves (the kernel's arrays) become fgrad Arrays, zero-copy views with `.at`."""
    counter = iter(range(treedef.num_leaves))

    def text(node):
        if node.node_type is None:
            return f"L[{next(counter)}].view(Array)"
        inner = ", ".join(text(c) for c in node.children)
        if node.node_type is tuple:
            return f"({inner}{',' if len(node.children) == 1 else ''})"
        if node.node_type is list:
            return f"[{inner}]"
        raise TypeError

    try:
        return eval(f"lambda L: {text(treedef)}", {"Array": Array})   # noqa: S307  (text built from a TreeDef)
    except TypeError:
        return lambda leaves: pytree.tree_unflatten(treedef, as_arrays(leaves))


class Entry:
    """One traced signature: the kernel and how to turn its results into the function's outputs."""

    def __init__(self, program: Program, out_tree, parallel, fastmath, stopwatch: Stopwatch | None = None):
        self.program = program
        self.lowered, self.kernel = lower_program(program, parallel, fastmath, stopwatch)
        lowered = self.lowered
        if lowered.callbacks:         # debug.print / callback: bind the positions the kernel calls them by
            self.kernel = kernel_callbacks(self.kernel, lowered.callbacks)
        self.extra = lowered.constants + ((lowered.dims,) if lowered.dims is not None else ())
        # 0-d inputs are passed to the kernel as scalars.
        self.scalar_inputs = tuple(i for i, v in enumerate(program.inputs) if v.type.ndim == 0)
        self.outputs = []
        for (kind, what), v in zip(lowered.outputs, program.outputs):
            zero_d = v.type.ndim == 0
            self.outputs.append((kind, what, v.type.dtype if zero_d else None))
        self.simple_outputs = all(kind == "kernel" and dtype is None for kind, _, dtype in self.outputs) \
            and [what for _, what, _ in self.outputs] == list(range(len(self.outputs)))
        self.build = self.builder(out_tree)

    @staticmethod
    def builder(out_tree):
        """A fast `leaves -> outputs pytree` function for `out_tree`."""
        return _tree_builder(out_tree)

    def compile(self, leaves, stopwatch: Stopwatch | None = None, cached_only: bool = False) -> str | None:
        """Compile the kernel for the types of `leaves` now (see numba_jit.compile_now: "ready", "cache
        hit", "cache miss", "compiled in memory"; None if `cached_only` and it is not on disk). Numba's
        stage times go into `stopwatch.times` when compiles are logged. Errors: JitCompileError."""
        args = (*self._scalars(leaves), *self.extra)
        times = stopwatch.times if stopwatch is not None and logging_compiles() else None
        try:
            if times is None:
                return compile_now(self.kernel, args, cached_only=cached_only)
            with numba_stage_times(times):
                return compile_now(self.kernel, args, cached_only=cached_only)
        except Exception as exc:
            raise JitCompileError(self.explain(exc)) from exc

    def _scalars(self, leaves):
        """`leaves` with the 0-d inputs as the scalars the kernel takes."""
        if self.scalar_inputs:
            leaves = list(leaves)
            for i in self.scalar_inputs:
                x = leaves[i]
                if type(x) not in _PLAIN_SCALARS:
                    leaves[i] = np.asarray(x)[()]
        return leaves

    def __call__(self, leaves):
        # While fgrad.config's debug_nans or debug_infs is on, `_checked_call` takes this method's place (see
        # `_install_check` below), so the plain call pays nothing for the check.
        if self.scalar_inputs:      # inline, not _scalars(): W5-like calls are dispatch-bound
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

    def _checked_call(self, leaves):
        """The call with debug_nans / debug_infs on: the outputs checked, the bad one's equation located."""
        result = Entry._plain_call(self, leaves)
        nan_check.check_results(self.program, leaves, pytree.tree_leaves(result))
        return result

    def explain(self, exc) -> str:
        if isinstance(exc, KernelCompileError):
            return f"{exc}\n\nthe (simplified) program:\n{self.program}"
        lines = self.lowered.source.splitlines()
        numbered = "\n".join(f"{i:>3} | {line}" for i, line in enumerate(lines, 1))
        where = self.kernel.path or "compiled in memory"
        return (f"Numba could not compile the kernel: {type(exc).__name__}: {exc}\n\ngenerated source "
                f"({where}):\n{numbered}\n\nthe (simplified) program:\n{self.program}")


Entry._plain_call = Entry.__call__


def _install_check(cfg) -> None:
    Entry.__call__ = Entry._checked_call if (cfg.debug_nans or cfg.debug_infs) else Entry._plain_call


_config.on_change(_install_check)


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
