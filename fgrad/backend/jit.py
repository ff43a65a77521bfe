"""`jit`: trace a function per input signature, simplify, generate one Numba kernel, call it.

The layers of caching:
- per jitted function, a trace cache keyed by the argument signature (pytree structure, shapes, dtypes,
  static arguments) holding a ready-to-call `Entry`; plain positional arrays and Python scalars take a
  fast path whose key is built with a few tuple operations and no pytree walk. Both are LRU caches of
  `jit(..., cache_size=128)` entries (functools.lru_cache's default size and meaning: None is
  unbounded), so a long-running process that sees ever new shapes does not grow without limit;
- per process, lowered kernels keyed by program digest (equal programs from different functions share),
  an LRU cache of LOWERED_CACHE_SIZE entries. Programs carry shapes, so there is one per shape, as in
  the per-function caches; the compiled kernel module behind them is shared by source text, which does
  not depend on sizes (fgrad.backend.numba_jit keeps those);
- on disk, Numba's cache of the content-addressed kernel file (fgrad.backend.numba_jit). The source
  does not depend on array sizes, so one Numba compile serves every size of the same ranks and dtypes.

Arrays stored in non-native byte order (e.g. '>f8' on x86) are copied to native order on input, as JAX
does: kernels take native arrays only. Such calls take the slow path; their copies are not cached.

Called while another transform traces (grad(jit(f)), jit(jit(f))), a jitted function just runs `f`, so
the transform sees its equations.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from fgrad import config as _config
from fgrad.backend.codegen import generate
from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import EvalInterpreter, Program, current_interpreter, pytree, trace_pytree, typeof
from fgrad.ir.tracing import is_weak

__all__ = ["jit", "Jitted", "Lowered", "JitCompileError", "PARALLEL_THRESHOLD", "LOWERED_CACHE_SIZE"]

# Kernels whose largest array has at least this many elements run the prange variant (parallel=None).
PARALLEL_THRESHOLD = 2 ** 16

# How many lowered programs the process keeps (LRU). Each jitted function's own cache holds its entries'
# kernels too, so this bounds only the sharing between functions and re-traces, and the memory of the
# programs no function holds any more.
LOWERED_CACHE_SIZE = 1024

# jit's default per-function cache size: functools.lru_cache's default.
DEFAULT_CACHE_SIZE = 128

_PLAIN_SCALARS = (float, int, bool)
_LOCK = threading.Lock()
_LOWERED = {}     # (program digest, parallel, fastmath) -> (LoweredKernel, KernelModule), LRU (see _remember)


class JitCompileError(Exception):
    """Numba could not compile the kernel of a program; the message shows the program and the source."""


class Lowered:
    """What `jit(f).lower(*args)` returns: the simplified `program` and the generated kernel `source`."""

    def __init__(self, program: Program, kernel_source: str, parallel: bool):
        self.program = program
        self.source = kernel_source
        self.parallel = parallel

    def __str__(self) -> str:
        return f"{self.program}\n\n{self.source}"

    __repr__ = __str__


def _simplify(program: Program) -> Program:
    from fgrad.transforms.simplify import simplify
    return simplify(program)


def lower_program(program: Program, parallel: bool, fastmath: bool):
    """(LoweredKernel, KernelModule) for a simplified program, shared in-process by program digest."""
    key = (program.digest, parallel, fastmath)
    with _LOCK:
        hit = _LOWERED.get(key)
        if hit is not None:
            _remember(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
            return hit
    from fgrad.backend.numba_jit import load_kernel
    lowered = generate(program, parallel=parallel)
    kernel = load_kernel(lowered.source, lowered.entry, parallel=lowered.uses_prange, fastmath=fastmath)
    with _LOCK:
        hit = _LOWERED.get(key) or (lowered, kernel)     # another thread may have lowered it meanwhile
        _remember(_LOWERED, key, hit, LOWERED_CACHE_SIZE)
    return hit


def _remember(cache: dict, key, value, size) -> None:
    """Make `key` the most recently used entry of the LRU `cache` of at most `size` entries (None: unbounded).

    The LRU caches are plain dicts in least-to-most recently used order (dicts keep insertion order): a use
    pops the key and puts it back at the end. On the fast path that measured cheaper than an OrderedDict
    (whose .get is not specialised by CPython 3.11 and whose move_to_end costs more). Call with _LOCK held.
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
    """Whether `program` or a sub-program of its control flow calls BLAS/LAPACK."""
    from fgrad.ir.printer import sub_programs
    pending = [program]
    while pending:
        p = pending.pop()
        for e in p.equations:
            if e.prim.numba in ("matmul", "solve"):
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
        from fgrad.backend.numba_jit import KernelCompileError
        if isinstance(exc, KernelCompileError):
            return f"{exc}\n\nthe (simplified) program:\n{self.program}"
        lines = self.lowered.source.splitlines()
        numbered = "\n".join(f"{i:>3} | {line}" for i, line in enumerate(lines, 1))
        where = self.kernel.path or "compiled in memory"
        return (f"Numba could not compile the kernel: {type(exc).__name__}: {exc}\n\ngenerated source "
                f"({where}):\n{numbered}\n\nthe (simplified) program:\n{self.program}")


def _raised_while_compiling(exc) -> bool:
    """Did `exc` come out of Numba's compiler (typing, lowering) rather than out of the running kernel?"""
    from fgrad.backend.numba_jit import KernelCompileError
    if isinstance(exc, KernelCompileError):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if "numba" in tb.tb_frame.f_code.co_filename and "compiler" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _plain_key(args):
    """The signature of positional numpy arrays and Python scalars (None if any argument is another kind).

    The dtype itself, not its one-letter code, so that '>f8' and '<f8' differ (and it measured no slower)."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key.append((a.dtype, a.shape))
        elif t is float or t is int or t is bool:
            key.append(t)
        else:
            return None
    return tuple(key)


def _native_byte_order(x):
    """`x`, or a copy in native byte order if it is an array stored in the other one (as JAX converts)."""
    if isinstance(x, np.ndarray) and not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x


def _check_cache_size(cache_size):
    if cache_size is None or (type(cache_size) is int and cache_size >= 0):
        return cache_size
    raise TypeError(f"jit's cache_size must be an int >= 0 (the number of input signatures each jitted function "
                    f"keeps compiled) or None (unbounded), got {cache_size!r}")


class Jitted:
    """A function compiled by `jit`: call it like the original; `.lower(*args)` shows what runs."""

    def __init__(self, fun, static_argnums=(), parallel=None, fastmath=False, cache_size=DEFAULT_CACHE_SIZE):
        if isinstance(fun, Jitted) and not static_argnums:
            static_argnums = fun.static_argnums
        self.fun = fun
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.parallel = parallel
        self.fastmath = bool(fastmath or _config.config.fastmath)
        self.cache_size = _check_cache_size(cache_size)
        # Both LRU (see _remember), at most cache_size entries each; _fast indexes plain calls into the entries.
        self._fast = {}       # tuple of per-argument keys (plain arrays and scalars only) -> Entry
        self._traces = {}     # full signature -> Entry
        functools.update_wrapper(self, fun)

    def __call__(self, *args, **kwargs):
        # The hot path: plain arrays and Python scalars, a key of dtypes and shapes, one dict lookup. Popping
        # the entry and putting it back marks it most recently used (_remember); not locked: a thread that
        # finds it popped by another takes the slow path, which puts it back.
        if not kwargs and not self.static_argnums and type(current_interpreter()) is EvalInterpreter:
            key = _plain_key(args)
            fast = self._fast
            entry = fast.pop(key, None)
            if entry is not None:
                fast[key] = entry
                if not _config.config.disable_jit:
                    return entry(args)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        if type(current_interpreter()) is not EvalInterpreter:
            return self.fun(*args, **kwargs)      # inside a transform: trace inline
        key, leaves, args, kwargs = self._signature(args, kwargs)
        entry = self._traces.get(key)
        if entry is None:
            program, out_tree = self._trace(args, kwargs)
            if _config.config.disable_jit:
                outs = evaluate(program, *leaves)
                return pytree.tree_unflatten(out_tree, outs)
            entry = self._compile(_simplify(program), out_tree)
        elif _config.config.disable_jit:
            program, out_tree = self._trace(args, kwargs)
            return pytree.tree_unflatten(out_tree, evaluate(program, *leaves))
        # args are in native byte order here, so their plain key is one the fast path may serve.
        fast_key = None if kwargs or self.static_argnums else _plain_key(args)
        with _LOCK:
            _remember(self._traces, key, entry, self.cache_size)
            if fast_key is not None:
                _remember(self._fast, fast_key, entry, self.cache_size)
        return entry(leaves)

    def _static_positions(self, nargs: int) -> tuple:
        for i in self.static_argnums:
            if not -nargs <= i < nargs:
                raise IndexError(f"static_argnums {self.static_argnums} names argument {i}, but "
                                 f"{getattr(self.fun, '__name__', 'the function')} got {nargs} arguments")
        return tuple(sorted(i % nargs for i in self.static_argnums))

    def _signature(self, args, kwargs):
        """(cache key, input leaves, args, kwargs), arrays in native byte order in all three."""
        static = self._static_positions(len(args))
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, tree = pytree.tree_flatten((dynamic, kwargs))
        native = [_native_byte_order(x) for x in leaves]
        if any(n is not x for n, x in zip(native, leaves)):
            leaves = native
            dynamic, kwargs = pytree.tree_unflatten(tree, leaves)
            it = iter(dynamic)
            args = tuple(a if i in static else next(it) for i, a in enumerate(args))
        statics = tuple(args[i] for i in static)
        try:
            hash(statics)
        except TypeError:
            raise TypeError(f"static arguments must be hashable (they key jit's cache), got "
                            f"{[type(s).__name__ for s in statics]}; pass arrays as non-static arguments or "
                            "convert lists to tuples") from None
        # Weakness is part of the type: a Python float and a numpy float64 promote differently.
        types = tuple((typeof(x), is_weak(x)) for x in leaves)
        return (tree, statics, types), leaves, args, kwargs

    def _trace(self, args, kwargs):
        program, captured, out_tree, _ = trace_pytree(self.fun, args, kwargs, self._static_positions(len(args)))
        assert not captured, "a top-level trace cannot capture tracers"
        return program, out_tree

    def _compile(self, program: Program, out_tree) -> Entry:
        return Entry(program, out_tree, self.use_parallel(program), self.fastmath)

    def use_parallel(self, program: Program) -> bool:
        if self.parallel is not None:
            return bool(self.parallel)
        return choose_parallel(program)

    def lower(self, *args, **kwargs) -> Lowered:
        """The simplified program and kernel source for these arguments (nothing is compiled).

        >>> import fgrad, fgrad.numpy as fnp
        >>> print(fgrad.jit(lambda x: fnp.sin(x) * 2.0).lower(fnp.ones(3)).source)   # doctest: +SKIP
        """
        _, _, args, kwargs = self._signature(args, kwargs)
        program, _ = self._trace(args, kwargs)
        program = _simplify(program)
        parallel = self.use_parallel(program)
        return Lowered(program, generate(program, parallel=parallel).source, parallel)

    def __repr__(self) -> str:
        return f"jit({getattr(self.fun, '__qualname__', self.fun)!r})"


def jit(fun=None, *, static_argnums=(), parallel=None, fastmath=False, cache_size=DEFAULT_CACHE_SIZE):
    """Compile `fun` with Numba: traced once per argument signature, then one fused native kernel per call.

    `parallel=None` runs kernels over at least 2**16 elements with prange loops, `True`/`False` forces it;
    `fastmath=True` lets LLVM reorder float arithmetic (breaks NaN/inf semantics). FGRAD_DISABLE_JIT=1
    runs the traced program through the numpy reference executor instead.

    `cache_size` is how many argument signatures (shapes, dtypes, pytree structures, static values) the
    function keeps traced and compiled, least recently used first out, as in `functools.lru_cache`
    (whose default, 128, it shares): None keeps every one, 0 none. A signature that fell out is traced
    again when it comes back; its kernel is usually still compiled. Arrays in non-native byte order are
    copied to native order, as in JAX.

    >>> import fgrad, fgrad.numpy as fnp
    >>> f = fgrad.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    >>> f(fnp.zeros(3))                                   # doctest: +SKIP
    array(0.)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, parallel=parallel, fastmath=fastmath,
                                 cache_size=cache_size)
    return Jitted(fun, static_argnums=static_argnums, parallel=parallel, fastmath=fastmath, cache_size=cache_size)
