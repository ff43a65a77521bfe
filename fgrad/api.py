"""The public functions, composed from tracing (fgrad.ir), the transforms and the backend: `make_ir`, the
transforms themselves, `jit` and `show_source`.

`jit` traces a function per input signature, simplifies the program and has the backend lower it to one
Numba kernel (fgrad.backend.jit), then calls that kernel. Per jitted function, a trace cache keyed by the
argument signature (pytree structure, shapes, dtypes, static arguments) holds a ready-to-call kernel
`Entry`; plain positional arrays and Python scalars take a fast path whose key is built with a few tuple
operations and no pytree walk. Both are LRU caches of `jit(..., cache_size=128)` entries
(functools.lru_cache's default size and meaning: None is unbounded), so a long-running process that sees
ever new shapes does not grow without limit. Below them, the backend shares lowered kernels between
functions by program digest, and Numba's disk cache keeps compiled code between processes.

Arrays stored in non-native byte order (e.g. '>f8' on x86) are copied to native order on input, as JAX
does: kernels take native arrays only. Such calls take the slow path; their copies are not cached.

Called while another transform traces (grad(jit(f)), jit(jit(f))), a jitted function just runs `f`, so
the transform sees its equations.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import time

import numpy as np

from fgrad import config as _config
from fgrad.backend import nan_check
from fgrad.backend.compile_log import Stopwatch, log_compile
from fgrad.backend.jit import Entry, choose_parallel, kernel_source, lru_put
from fgrad.backend.tiers import EagerEntry, TieredEntry, check_tier, numba_is_set_up
from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import EvalInterpreter, Program, current_interpreter, pytree, trace_pytree, typeof
from fgrad.ir.concrete import abstract_values
from fgrad.ir.tracing import is_weak
from fgrad.numpy._array import Array, as_arrays
from fgrad.ops import matmul_p
from fgrad.ops.control import stop_gradient
from fgrad.transforms.check import check_grads
from fgrad.transforms.custom import custom_jvp, custom_vjp
from fgrad.transforms.grad import (grad, hessian, jacfwd, jacobian, jacrev, jvp, linearize, value_and_grad,
                                   vjp)
from fgrad.transforms.simplify import as_emitted, simplify as simplify_program
from fgrad.transforms.vmap import vmap
from fgrad.transforms.control_flow import Policy, checkpoint_p

__all__ = ["make_ir", "vmap", "checkpoint", "remat", "checkpoint_policies", "grad", "value_and_grad", "vjp", "jvp",
           "linearize", "jacfwd", "jacrev", "jacobian", "hessian", "stop_gradient", "custom_vjp", "custom_jvp",
           "check_grads", "jit", "show_source"]


def make_ir(fun, static_argnums=(), *, simplify=None):
    """A function that traces `fun` on example arguments and returns its Program (prints like a jaxpr).

    `simplify` chooses how much of it is simplified:
      None (default): the program as traced; a transform inside `fun` (grad, jvp, vjp, ...) contributes the
        simplified program it runs, so `make_ir(grad(f))` shows what `grad(f)` runs;
      True: the whole program simplified, which is exactly what `jit(fun)` compiles (`jit(fun).lower(...)`);
      False: nothing simplified, derived programs included: a gradient as the reverse sweep emits it.

    >>> import fgrad, fgrad.numpy as fnp
    >>> print(fgrad.make_ir(lambda x: fnp.sum(fnp.sin(x)))(fnp.ones(3)))
    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[] = reduce_sum[axes=(0,)] b
      return c
    }
    >>> print(fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(fnp.sin(x) * 2.0)))(fnp.ones(3)))
    program(a:f64[3]) {
      b:f64[3] = cos a
      a_ct:f64[3] = mul 2.0:f64[3] b
      return a_ct
    }
    """
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    if simplify not in (None, True, False):
        raise ValueError(f"make_ir's simplify must be None (as traced), True (as jit compiles it) or False "
                         f"(nothing simplified), got {simplify!r}")

    def traced(*args, **kwargs) -> Program:
        with as_emitted() if simplify is False else contextlib.nullcontext():
            program, captured, _, _ = trace_pytree(fun, args, kwargs, static_argnums)
        if captured:
            raise ValueError("make_ir was called inside another transform on a function that closes over "
                             "its traced values; call make_ir at the top level")
        return simplify_program(program) if simplify else program
    return traced


# ---- jit ----------------------------------------------------------------------------------------------

# jit's default per-function cache size: functools.lru_cache's default.
DEFAULT_CACHE_SIZE = 128

_LOCK = threading.Lock()      # guards every jitted function's two caches (fgrad.backend.jit has its own)


class Lowered:
    """What `jit(f).lower(*args)` returns: the simplified `program` and the generated kernel `source`."""

    def __init__(self, program: Program, source: str, parallel: bool):
        self.program = program
        self.source = source
        self.parallel = parallel

    def __str__(self) -> str:
        return f"{self.program}\n\n{self.source}"

    __repr__ = __str__


def _plain_key(args):
    """The signature of positional numpy arrays and Python scalars (None if any argument is another kind).

    The dtype itself, not its one-letter code, so that '>f8' and '<f8' differ (and it measured no slower)."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray or t is Array:
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


def _evaluate_checked(program: Program, leaves) -> list:
    """The reference executor's outputs (FGRAD_DISABLE_JIT), checked as a kernel's are under debug_nans."""
    outs = evaluate(program, *leaves)
    if _config.config.debug_nans or _config.config.debug_infs:
        nan_check.check_results(program, leaves, outs, "the program")
    return outs


def _check_cache_size(cache_size):
    if cache_size is None or (type(cache_size) is int and cache_size >= 0):
        return cache_size
    raise TypeError(f"jit's cache_size must be an int >= 0 (the number of input signatures each jitted function "
                    f"keeps compiled) or None (unbounded), got {cache_size!r}")


class Jitted:
    """A function compiled by `jit`: call it like the original; `.lower(*args)` shows what runs."""

    def __init__(self, fun, static_argnums=(), parallel=None, fastmath=False, cache_size=DEFAULT_CACHE_SIZE,
                 tier=None):
        if isinstance(fun, Jitted) and not static_argnums:
            static_argnums = fun.static_argnums
        self.fun = fun
        self.tier = check_tier(tier) if tier is not None else None
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.parallel = parallel
        self.fastmath = bool(fastmath or _config.config.fastmath)
        self.cache_size = _check_cache_size(cache_size)
        # Both LRU (see lru_put), at most cache_size entries each; _fast indexes plain calls into the entries.
        self._fast = {}       # tuple of per-argument keys (plain arrays and scalars only) -> Entry
        self._traces = {}     # full signature -> Entry
        functools.update_wrapper(self, fun)

    def __call__(self, *args, **kwargs):
        # The hot path: plain arrays and Python scalars, a key of dtypes and shapes, one dict lookup. Popping
        # the entry and putting it back marks it most recently used (lru_put); not locked: a thread that
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
            # Inside a transform: trace inline, with jit's semantics (no concrete values for Python control flow).
            with abstract_values():
                return self.fun(*args, **kwargs)
        key, leaves, args, kwargs = self._signature(args, kwargs)
        if _config.config.disable_jit:
            program, out_tree = self._trace(args, kwargs)
            return pytree.tree_unflatten(out_tree, as_arrays(_evaluate_checked(program, leaves)))
        entry = self._traces.get(key)
        if entry is None:
            program, out_tree, stopwatch = self._trace_and_simplify(args, kwargs)
            entry = self._compile(program, out_tree, leaves, stopwatch)
        self._remember(key, args, kwargs, entry)
        return entry(leaves)

    def _trace_and_simplify(self, args, kwargs):
        """(simplified program, output tree, Stopwatch with the time of both) for these arguments."""
        stopwatch = Stopwatch()
        with stopwatch("trace"):
            program, out_tree = self._trace(args, kwargs)
        with stopwatch("simplify"):
            program = simplify_program(program)
        return program, out_tree, stopwatch

    def _remember(self, key, args, kwargs, entry) -> None:
        """Put `entry` in both caches (args in native byte order: their plain key is one the fast path serves)."""
        fast_key = None if kwargs or self.static_argnums else _plain_key(args)
        with _LOCK:
            lru_put(self._traces, key, entry, self.cache_size)
            if fast_key is not None:
                lru_put(self._fast, fast_key, entry, self.cache_size)

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

    @property
    def current_tier(self) -> str:
        """The tier new signatures run on: jit's `tier`, else FGRAD_JIT_TIER, else "compiled"."""
        return self.tier or check_tier(_config.config.jit_tier)

    def _compile(self, program: Program, out_tree, leaves, stopwatch: Stopwatch):
        """The entry for a new signature, on this function's tier (fgrad.backend.tiers)."""
        tier = self.current_tier
        if tier == "eager":
            return EagerEntry(program, Entry.builder(out_tree))
        if tier == "compiled":
            return self._kernel_entry(program, out_tree, stopwatch)(leaves)
        if numba_is_set_up():
            # Loading a kernel from the disk cache takes milliseconds now: skip the eager tier if it is there.
            entry = Entry(program, out_tree, self.use_parallel(program), self.fastmath, stopwatch)
            outcome = entry.compile(leaves, stopwatch, cached_only=True)
            if outcome is not None:
                self._log(entry, outcome, stopwatch)
                return entry
        # Numba's set-up alone (its numpy support, which imports scipy.linalg) takes ~1 s in a new process,
        # so generating, loading (from disk, if there) or compiling the kernel all go to the background.
        return TieredEntry(program, Entry.builder(out_tree), leaves,
                           self._kernel_entry(program, out_tree, stopwatch), self._promote)

    def _kernel_entry(self, program, out_tree, stopwatch: Stopwatch):
        """A function of the leaves that lowers and compiles `program`'s kernel and returns its Entry."""
        def kernel_entry(leaves):
            entry = Entry(program, out_tree, self.use_parallel(program), self.fastmath, stopwatch)
            outcome = entry.compile(leaves, stopwatch)
            self._log(entry, outcome, stopwatch)
            return entry
        return kernel_entry

    def _log(self, entry, outcome, stopwatch):
        if outcome == "ready":
            return          # a new trace of a kernel this process compiled already: no compile to log
        total = sum(stopwatch.times.values())
        log_compile(repr(self), entry.program, entry.lowered.source, stopwatch.times, outcome, total)

    def _promote(self, tiered, entry):
        """Called by a finished background compile: the kernel entry replaces the tiered one."""
        with _LOCK:
            for cache in (self._traces, self._fast):
                for k, v in list(cache.items()):
                    if v is tiered:
                        cache[k] = entry

    def wait(self, timeout=None) -> bool:
        """Block until the kernels of every signature called so far are compiled (tier="auto" compiles them
        in the background); raises a background compile's JitCompileError. False if `timeout` ran out.

        >>> import fgrad, fgrad.numpy as fnp
        >>> f = fgrad.jit(lambda x: fnp.sin(x) * 2.0)
        >>> _ = f(fnp.ones(3))        # eager result while the kernel compiles
        >>> f.wait()                  # doctest: +SKIP
        True
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with _LOCK:
            pending = [e for e in self._traces.values() if isinstance(e, TieredEntry)]
        for e in pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not e.wait(left):
                return False
        return True

    def compile(self, *args, **kwargs) -> "Jitted":
        """Trace and compile the kernel for these arguments now, and wait for it (nothing is run). Returns
        the function, so `f = jit(f).compile(x)` is a function whose calls run the kernel from the start.

        >>> import fgrad, fgrad.numpy as fnp
        >>> f = fgrad.jit(lambda x: fnp.sin(x) * 2.0).compile(fnp.ones(3))   # doctest: +SKIP
        """
        key, leaves, args, kwargs = self._signature(args, kwargs)
        entry = self._traces.get(key)
        if entry is None:
            program, out_tree, stopwatch = self._trace_and_simplify(args, kwargs)
            self._remember(key, args, kwargs, self._kernel_entry(program, out_tree, stopwatch)(leaves))
        elif isinstance(entry, TieredEntry):
            entry.wait()
        return self

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
        program = simplify_program(program)
        parallel = self.use_parallel(program)
        return Lowered(program, kernel_source(program, parallel), parallel)

    def __repr__(self) -> str:
        return f"jit({getattr(self.fun, '__qualname__', self.fun)!r})"


def jit(fun=None, *, static_argnums=(), parallel=None, fastmath=False, cache_size=DEFAULT_CACHE_SIZE, tier=None):
    """Compile `fun` with Numba: traced once per argument signature, then one fused native kernel per call.

    `tier` says what runs while a new signature's kernel compiles (fgrad.backend.tiers): "compiled" (the
    default unless FGRAD_JIT_TIER says otherwise) waits for the kernel on the first call; "auto" runs the
    first calls on the numpy reference executor while a background thread loads the kernel from the disk
    cache or compiles it, and switches to the kernel when it is ready (same results up to round-off; once
    Numba is set up in the process, a kernel on disk is loaded at once); "eager" never compiles.
    `f.wait()` or `f.compile(*args)` block until the kernel is ready. FGRAD_LOG_COMPILES=1 logs one line per
    compile (fgrad.backend.compile_log).

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
                                 cache_size=cache_size, tier=tier)
    return Jitted(fun, static_argnums=static_argnums, parallel=parallel, fastmath=fastmath, cache_size=cache_size,
                  tier=tier)


def show_source(fun, *args, **kwargs):
    """Print the simplified program and the Numba kernel source `jit(fun)` runs for these arguments.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.show_source(lambda x: fnp.sum(fnp.sin(x)), fnp.ones(3))   # doctest: +SKIP
    """
    jitted = fun if isinstance(fun, Jitted) else jit(fun)
    lowered = jitted.lower(*args, **kwargs)
    print(lowered.program)
    print()
    print(lowered.source)


class checkpoint_policies:
    """Which intermediates `checkpoint(fun, policy=...)` may keep from the forward sweep (as
    jax.checkpoint_policies); the rest are recomputed in the reverse sweep. A policy is also any function
    `saveable(prim, *in_types, **params) -> bool`."""
    nothing_saveable = Policy("nothing_saveable", lambda prim, *types, **params: False)
    everything_saveable = Policy("everything_saveable", lambda prim, *types, **params: True)
    dots_saveable = Policy("dots_saveable", lambda prim, *types, **params: prim is matmul_p)
    dots_with_no_batch_dims_saveable = Policy(
        "dots_with_no_batch_dims_saveable",
        lambda prim, *types, **params: prim is matmul_p and all(t.ndim <= 2 for t in types))


def checkpoint(fun, *, policy=None, static_argnums=()):
    """`fun` whose reverse-mode derivative recomputes its intermediates instead of storing them (jax.checkpoint,
    "remat"): memory for compute. Inside a scan body it bounds a long loop's memory by the carries alone.
    `policy` (checkpoint_policies, or a function saveable(prim, *in_types, **params) -> bool) names the
    intermediates worth keeping, e.g. `dots_saveable` keeps matrix products and recomputes the cheap rest.

    >>> import fgrad, fgrad.numpy as fnp
    >>> f = fgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> fgrad.grad(f)(0.0)
    array(1.)
    """
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    name = getattr(fun, "__name__", None) or type(fun).__name__
    if policy is not None and not isinstance(policy, Policy):
        if not callable(policy):
            raise TypeError(f"checkpoint's policy must be one of fgrad.checkpoint_policies or a function "
                            f"saveable(prim, *in_types, **params) -> bool, got {type(policy).__name__}")
        policy = Policy(getattr(policy, "__qualname__", None) or type(policy).__name__, policy)

    def checkpointed(*args, **kwargs):
        program, captured, out_tree, leaves = trace_pytree(fun, args, kwargs, static_argnums)
        outs = checkpoint_p.bind(*leaves, *captured, primal=program, policy=policy)
        return pytree.tree_unflatten(out_tree, outs)

    checkpointed.__name__ = f"checkpoint({name})"
    return checkpointed


remat = checkpoint
