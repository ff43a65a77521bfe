"""`jit`: trace a function per input signature, simplify, generate one Numba kernel, call it.

The layers of caching:
- per jitted function, a trace cache keyed by the argument signature (pytree structure, shapes, dtypes,
  static arguments) holding a ready-to-call `Entry`; plain positional arrays and Python scalars take a
  fast path whose key is built with a few tuple operations and no pytree walk;
- per process, lowered kernels keyed by program digest (equal programs from different functions share);
- on disk, Numba's cache of the content-addressed kernel file (fgrad.backend.numba_jit). The source
  does not depend on array sizes, so one Numba compile serves every size of the same ranks and dtypes.

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
from fgrad.ir import EvalInterpreter, Program, current_interpreter, pytree, trace_pytree, to_value_type
from fgrad.ir.tracing import is_weak

__all__ = ["jit", "Jitted", "Lowered", "JitCompileError", "PARALLEL_THRESHOLD"]

# Kernels whose largest array has at least this many elements run the prange variant (parallel=None).
PARALLEL_THRESHOLD = 2 ** 16

_PLAIN_SCALARS = (float, int, bool)
_LOCK = threading.Lock()
_LOWERED = {}     # (program digest, parallel, fastmath) -> (LoweredKernel, KernelModule)


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
    hit = _LOWERED.get(key)
    if hit is not None:
        return hit
    from fgrad.backend.numba_jit import load_kernel
    lowered = generate(program, parallel=parallel)
    kernel = load_kernel(lowered.source, lowered.entry, parallel=lowered.uses_prange, fastmath=fastmath)
    with _LOCK:
        return _LOWERED.setdefault(key, (lowered, kernel))


def largest_size(program: Program) -> int:
    sizes = [v.type.size for v in program.inputs]
    sizes += [v.type.size for e in program.equations for v in e.outputs]
    return max(sizes, default=0)


def calls_blas(program: Program) -> bool:
    return any(e.prim.numba in ("matmul", "solve") for e in program.equations)


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
        return (f"Numba could not compile the kernel: {type(exc).__name__}: {exc}\n\ngenerated source "
                f"({self.kernel.path}):\n{numbered}\n\nthe (simplified) program:\n{self.program}")


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
    """The signature of positional numpy arrays and Python scalars (None if any argument is another kind)."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key.append((a.dtype.char, a.shape))
        elif t is float or t is int or t is bool:
            key.append(t)
        else:
            return None
    return tuple(key)


class Jitted:
    """A function compiled by `jit`: call it like the original; `.lower(*args)` shows what runs."""

    def __init__(self, fun, static_argnums=(), parallel=None, fastmath=False):
        if isinstance(fun, Jitted) and not static_argnums:
            static_argnums = fun.static_argnums
        self.fun = fun
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.parallel = parallel
        self.fastmath = bool(fastmath or _config.config.fastmath)
        self._fast = {}       # tuple of per-argument keys (plain arrays and scalars only) -> Entry
        self._traces = {}     # full signature -> Entry
        functools.update_wrapper(self, fun)

    def __call__(self, *args, **kwargs):
        # The hot path: plain arrays and Python scalars, a key of dtypes and shapes, one dict lookup.
        if not kwargs and not self.static_argnums and type(current_interpreter()) is EvalInterpreter:
            entry = self._fast.get(_plain_key(args))
            if entry is not None and not _config.config.disable_jit:
                return entry(args)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        if type(current_interpreter()) is not EvalInterpreter:
            return self.fun(*args, **kwargs)      # inside a transform: trace inline
        key, leaves = self._signature(args, kwargs)
        entry = self._traces.get(key)
        if entry is None:
            program, out_tree = self._trace(args, kwargs)
            if _config.config.disable_jit:
                outs = evaluate(program, *leaves)
                return pytree.tree_unflatten(out_tree, outs)
            entry = self._traces[key] = self._compile(_simplify(program), out_tree)
            if not kwargs and not self.static_argnums and _plain_key(args) is not None:
                self._fast[_plain_key(args)] = entry
        elif _config.config.disable_jit:
            program, out_tree = self._trace(args, kwargs)
            return pytree.tree_unflatten(out_tree, evaluate(program, *leaves))
        return entry(leaves)

    def _static_positions(self, nargs: int) -> tuple:
        for i in self.static_argnums:
            if not -nargs <= i < nargs:
                raise IndexError(f"static_argnums {self.static_argnums} names argument {i}, but "
                                 f"{getattr(self.fun, '__name__', 'the function')} got {nargs} arguments")
        return tuple(sorted(i % nargs for i in self.static_argnums))

    def _signature(self, args, kwargs):
        static = self._static_positions(len(args))
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, tree = pytree.tree_flatten((dynamic, kwargs))
        statics = tuple(args[i] for i in static)
        try:
            hash(statics)
        except TypeError:
            raise TypeError(f"static arguments must be hashable (they key jit's cache), got "
                            f"{[type(s).__name__ for s in statics]}; pass arrays as non-static arguments or "
                            "convert lists to tuples") from None
        # Weakness is part of the type: a Python float and a numpy float64 promote differently.
        types = tuple((to_value_type(x), is_weak(x)) for x in leaves)
        return (tree, statics, types), leaves

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
        program, _ = self._trace(args, kwargs)
        program = _simplify(program)
        parallel = self.use_parallel(program)
        return Lowered(program, generate(program, parallel=parallel).source, parallel)

    def __repr__(self) -> str:
        return f"jit({getattr(self.fun, '__qualname__', self.fun)!r})"


def jit(fun=None, *, static_argnums=(), parallel=None, fastmath=False):
    """Compile `fun` with Numba: traced once per argument signature, then one fused native kernel per call.

    `parallel=None` runs kernels over at least 2**16 elements with prange loops, `True`/`False` forces it;
    `fastmath=True` lets LLVM reorder float arithmetic (breaks NaN/inf semantics). FGRAD_DISABLE_JIT=1
    runs the traced program through the numpy reference executor instead.

    >>> import fgrad, fgrad.numpy as fnp
    >>> f = fgrad.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    >>> f(fnp.zeros(3))                                   # doctest: +SKIP
    array(0.)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, parallel=parallel, fastmath=fastmath)
    return Jitted(fun, static_argnums=static_argnums, parallel=parallel, fastmath=fastmath)
