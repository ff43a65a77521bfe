"""Turn generated Python source into a compiled, disk-cached Numba function.

This module knows nothing about fgrad's IR. It gets the text of a complete
Python module from the code generator and returns a callable backed by
``numba.njit`` with a disk cache (Numba's, with checked files), so a second
process reuses the machine code.

    >>> import numpy as np
    >>> src = '''
    ... def entry(x):
    ...     s = 0.0
    ...     for i in range(x.shape[0]):
    ...         s += x[i]
    ...     return s
    ... '''
    >>> kernel = load_kernel(src, "entry")
    >>> kernel(np.arange(4.0))
    6.0

How the disk cache works, and why it works like this (checked on numba 0.68.1):

- Numba can only cache functions that live in a real file. ``exec``'d text has
  no locator ("no locator available"), so every kernel is written to
  ``<cache_dir>/k_<hash>.py`` and imported from there.
- The module is registered in ``sys.modules`` before it runs, because a cached
  entry is rebuilt by ``importlib.import_module(<module name>)``.
- The file name is a hash of the file contents. The contents are the source
  plus a trailing comment with the entry name and the njit options. Numba's
  cache index is keyed by signature and bytecode, not by ``parallel`` or
  ``fastmath``, so each set of options needs its own file.
- A file that already exists is never rewritten. Numba 0.68.1 stamps its
  index with a hash of the contents, so an identical rewrite would be harmless
  there. Older Numbas stamped with mtime, and a rewrite would lose the cache.
  A file whose contents do not match its name is damaged: it is rewritten
  (with a warning) and Numba's cache files for it are dropped.
- Numba's own cache files (``__pycache__/k_<hash>.*.nbi`` and ``.nbc``) carry
  a checksum that is verified before Numba reads them, so a damaged, truncated
  or swapped file is rebuilt with a warning instead of crashing the process
  inside LLVM (fgrad.backend.numba_cache says how, and which Numba internals it
  hooks). The functions are jitted with ``cache=False`` and given that checked
  cache, which is what ``cache=True`` does with Numba's own.
- A cache directory that cannot be written (read-only, uncreatable, or
  ``FGRAD_CACHE_DIR`` naming a file) is still read: kernels and compiled code
  found there are loaded. What is missing is compiled in memory, with one
  warning per process naming the directory and ``FGRAD_CACHE_DIR``. A kernel
  with no file on disk is executed from its text (``linecache`` holds the
  text, so tracebacks and Numba's messages still show the lines) and jitted
  without a disk cache. This is what Numba and JAX do with a cache they cannot
  write.

``import numba`` happens lazily, on the first ``load_kernel``, so that
importing fgrad does not pay for it.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import linecache
import os
import re
import sys
import threading
import types
import uuid
import warnings
from pathlib import Path

__all__ = [
    "KernelCompileError",
    "KernelModule",
    "cache_dir",
    "clear_memory_cache",
    "compile_now",
    "compile_stats",
    "load_kernel",
]

_HASH_LEN = 24  # hex digits of sha256 in the file name; 96 bits
_KERNELS: dict[tuple[str, str], "KernelModule"] = {}  # (directory, hash) -> kernel
_LOCK = threading.Lock()  # one thread writes and imports a given kernel file at a time
_UNWRITABLE: set[str] = set()  # cache directories already warned about in this process


class KernelCompileError(Exception):
    """Numba (or Python) could not compile a generated kernel.

    The message includes Numba's error and the generated source with line numbers.
    """


# --------------------------------------------------------------------------- cache dir


@functools.cache
def _numba_version() -> str:
    # Read from the package metadata rather than `import numba`, so that
    # cache_dir() stays cheap and does not load LLVM.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numba")
    except PackageNotFoundError:
        raise ImportError("fgrad's Numba backend needs numba: pip install numba") from None


def _kernel_dir() -> Path:
    root = os.environ.get("FGRAD_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        # XDG says to ignore a relative XDG_CACHE_HOME.
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "fgrad"
    # A folder per cache layout (v2: checksummed Numba cache files, see
    # numba_cache), Numba version and Python version: after an upgrade no stale
    # kernel or cache file is ever looked at.
    py = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    return base / f"kernels-v2-numba{_numba_version()}-{py}"


def cache_dir() -> Path:
    """Return the kernel cache directory, creating it if it can.

    ``$FGRAD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/fgrad`` or ``~/.cache/fgrad``,
    plus a subfolder per cache layout, Numba version and Python version. It is never inside site-packages.
    If it cannot be created, kernels are compiled in memory (see `load_kernel`).

    >>> cache_dir().name                        # doctest: +SKIP
    'kernels-v2-numba0.68.1-py311'
    """
    path = _kernel_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


def _cannot_write(directory: Path, exc: OSError) -> None:
    """Warn, once per process and directory, that kernels are compiled in memory."""
    if str(directory) in _UNWRITABLE:
        return
    _UNWRITABLE.add(str(directory))
    root = os.environ.get("FGRAD_CACHE_DIR")
    now = f" (now {root!r})" if root else ""
    warnings.warn(
        f"fgrad: cannot write to the kernel cache directory {directory} ({type(exc).__name__}: {exc}). "
        "Kernels not already cached there are compiled in memory and will be compiled again by the next "
        f"process. Set FGRAD_CACHE_DIR{now} to a writable directory to keep them.",
        RuntimeWarning,
        stacklevel=5,
    )


# --------------------------------------------------------------------------- the kernel


class KernelModule:
    """A loaded kernel. Call it like its entry function.

    Attributes: ``entry`` (its name), ``dispatcher`` (the Numba dispatcher),
    ``module``, ``path`` (the ``.py`` file, or None for a kernel compiled in
    memory because the cache directory cannot be written), ``key`` (its hash)
    and ``source``. Calling through this object, not ``dispatcher``, is what
    turns Numba's compile errors into `KernelCompileError`.

    >>> kernel = load_kernel("def entry(a, b):\\n    return a + b\\n", "entry")
    >>> kernel(1.0, 2.0)
    3.0
    """

    __slots__ = ("entry", "dispatcher", "module", "path", "key", "source", "_numba_error")

    def __init__(self, entry, dispatcher, module, path, key, source):
        from numba.core.errors import NumbaError

        self.entry = entry
        self.dispatcher = dispatcher
        self.module = module
        self.path = path
        self.key = key
        self.source = source
        self._numba_error = NumbaError

    def __call__(self, *args):
        # Numba compiles on the first call with each new signature, so this is
        # where its typing and lowering errors come out. Errors raised while
        # the kernel runs are Python exceptions, not NumbaError, and pass through.
        try:
            return self.dispatcher(*args)
        except self._numba_error as exc:
            raise _compile_error(f"Numba could not compile kernel {self.entry!r}", self.path, self.source, exc) from exc

    def __repr__(self):
        return f"<KernelModule {self.entry!r} from {_where(self.path)}>"


def compile_stats(kernel: KernelModule) -> dict:
    """Report whether the entry function came from Numba's disk cache or was compiled.

    Counts are summed over signatures. ``cache_hits`` counts loads from disk and
    ``cache_misses`` counts fresh compiles. Both stay 0 until the first call.
    ``cache_path`` is the directory of Numba's cache files, or None for a kernel
    compiled in memory.

    >>> import numpy as np
    >>> kernel = load_kernel("def entry(x):\\n    return x * 2.0\\n", "entry")
    >>> compile_stats(kernel)["cache_misses"]   # nothing compiled yet
    0
    >>> _ = kernel(np.ones(2))
    >>> stats = compile_stats(kernel)            # 0, 1 on a cold cache; 1, 0 from disk
    >>> stats["cache_hits"] + stats["cache_misses"]
    1
    """
    stats = kernel.dispatcher.stats
    return {
        "cache_hits": sum(stats.cache_hits.values()),
        "cache_misses": sum(stats.cache_misses.values()),
        "cache_path": None if stats.cache_path is None else str(stats.cache_path),
        "signatures": [str(sig) for sig in kernel.dispatcher.signatures],
    }


def compile_now(kernel: KernelModule, args, *, cached_only: bool = False) -> str | None:
    """Compile `kernel` for the Numba types of `args` now, instead of on the first call; nothing is run.

    Returns "ready" (already compiled in this process), "cache hit" (loaded from the disk cache),
    "cache miss" (compiled, and saved to the disk cache) or "compiled in memory" (no disk cache). With
    ``cached_only=True`` only the disk cache is tried: None if the kernel is not there (nothing compiled).
    Numba's errors come out as `KernelCompileError`, with the source.

    >>> import numpy as np
    >>> kernel = load_kernel("def entry(x):\n    return x * 2.0\n", "entry")
    >>> compile_now(kernel, (np.ones(2),)) in ("cache hit", "cache miss")
    True
    >>> compile_now(kernel, (np.ones(3),))             # sizes are not part of the signature
    'ready'
    """
    from numba.core.errors import NumbaError

    from fgrad.backend import numba_cache

    dispatcher = kernel.dispatcher
    signature = tuple(dispatcher.typeof_pyval(a) for a in args)
    if signature in dispatcher.overloads:
        return "ready"
    hits = sum(dispatcher.stats.cache_hits.values())
    try:
        if cached_only:
            if kernel.path is None:
                return None
            with numba_cache.probing():
                dispatcher.compile(signature)
        else:
            dispatcher.compile(signature)
    except numba_cache.NotCached:
        return None
    except NumbaError as exc:
        raise _compile_error(f"Numba could not compile kernel {kernel.entry!r}", kernel.path, kernel.source,
                             exc) from exc
    if sum(dispatcher.stats.cache_hits.values()) > hits:
        return "cache hit"
    return "cache miss" if kernel.path is not None else "compiled in memory"


def clear_memory_cache() -> None:
    """Forget every kernel loaded in this process. The disk cache is kept.

    The next `load_kernel` imports the file again and gets a new dispatcher,
    and a cache directory that cannot be written is warned about again.
    Tests use this to act like a new process without starting one.
    """
    with _LOCK:
        _KERNELS.clear()
        _UNWRITABLE.clear()


def load_kernel(source: str, entry: str, *, parallel: bool = False, fastmath: bool = False) -> KernelModule:
    """Compile the function ``entry`` defined in the module text ``source``, with a disk cache.

    ``source`` defines plain functions (no decorators). It may use ``numpy as
    np``, ``math`` and ``numba.prange``. The function ``entry`` is jitted, and
    so is every function named in a module-level ``__njit__ = ("helper", ...)``
    tuple, so that the entry can call them. All of them use
    ``njit(error_model="numpy", parallel=parallel, fastmath=fastmath, nogil=True)``
    with fgrad's checked disk cache (see the module docstring).
    Compilation happens lazily, on the first call with each signature.

    >>> import numpy as np
    >>> kernel = load_kernel(\'\'\'
    ... __njit__ = ("twice",)
    ... def twice(v):
    ...     return 2.0 * v
    ... def entry(x, out):
    ...     for i in range(x.shape[0]):
    ...         out[i] = twice(x[i])
    ...     return out
    ... \'\'\', "entry")
    >>> kernel(np.arange(3.0), np.empty(3))
    array([0., 2., 4.])
    """
    if not isinstance(source, str) or not isinstance(entry, str):
        raise TypeError("load_kernel(source, entry) takes two strings")
    text = source if source.endswith("\n") else source + "\n"
    text += f"# fgrad kernel: entry={entry} parallel={bool(parallel)} fastmath={bool(fastmath)}\n"
    data = text.encode("utf-8")
    key = hashlib.sha256(data).hexdigest()[:_HASH_LEN]
    directory = _kernel_dir()
    with _LOCK:
        kernel = _KERNELS.get((str(directory), key))
        if kernel is None:
            kernel = _load(directory, key, data, text, entry, parallel, fastmath)
            _KERNELS[(str(directory), key)] = kernel
    return kernel


# --------------------------------------------------------------------------- internals


def _load(directory: Path, key: str, data: bytes, text: str, entry: str, parallel: bool, fastmath: bool):
    import numba

    from fgrad.backend import numba_cache

    name = f"k_{key}"
    path = directory / f"{name}.py"
    state = _ensure_file(path, key, data)
    if state is None:
        path = None
        module = _module_in_memory(name, text)
    else:
        module = _import_file(name, path, text)

    options = dict(error_model="numpy", parallel=parallel, fastmath=fastmath, nogil=True)
    helpers = getattr(module, "__njit__", ())
    if isinstance(helpers, str):  # ("f") is a string, not a tuple: a likely slip
        helpers = (helpers,)
    # Helpers first: when the entry is compiled it resolves each helper as a
    # module global, and that global must already be a dispatcher.
    dispatchers = {}
    for fname in [h for h in helpers if h != entry] + [entry]:
        func = getattr(module, fname, None)
        if not isinstance(func, types.FunctionType):
            raise _compile_error(f"kernel module {name} has no function {fname!r} to jit", path, text, None)
        try:
            dispatchers[fname] = numba.njit(**options)(func)
        except Exception as exc:
            raise _compile_error(f"numba.njit rejected {fname!r}", path, text, exc) from exc
        setattr(module, fname, dispatchers[fname])

    if path is not None:
        cache_path = path.parent / "__pycache__"
        if state == "repaired":
            # Cache files built from the damaged text must not be trusted.
            numba_cache.drop_cache_files(cache_path, name)
        for dispatcher in dispatchers.values():
            # What njit(cache=True) does (Dispatcher.enable_caching), with checked cache files.
            dispatcher._cache = numba_cache.KernelCache(dispatcher.py_func, _cannot_write)
    return KernelModule(entry, dispatchers[entry], module, path, key, text)


def _ensure_file(path: Path, key: str, data: bytes) -> str | None:
    """Make sure ``path`` holds ``data``: "intact", "written", "repaired" (a damaged file was
    replaced) or None (no such file can be written there: compile in memory)."""
    try:
        existing = path.read_bytes()
    except OSError:  # missing, or the cache directory is missing, unreadable or a file
        existing = None
    if existing is not None and hashlib.sha256(existing).hexdigest()[:_HASH_LEN] == key:
        return "intact"  # leave the file and its mtime alone
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        written = True
    except OSError as exc:
        _cannot_write(path.parent, exc)
        written = False
    if existing is not None:
        what = "rewrote it" if written else "compiling the kernel in memory"
        warnings.warn(f"fgrad: kernel file {path} did not match its hash; {what}", RuntimeWarning, stacklevel=5)
    if not written:
        return None
    if existing is None:
        return "written"
    # Python's .pyc check is mtime (whole seconds) plus size, so a same-size
    # repair within one second could reuse bytecode from the damaged file.
    for pyc in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        try:
            pyc.unlink(missing_ok=True)
        except OSError:
            pass  # then Python's own check decides; a same-size, same-second repair is all it misses
    return "repaired"


def _write_atomic(path: Path, data: bytes) -> None:
    # Write to a temp name in the same directory, then rename. Readers see the
    # old file or the whole new one, never a partial one. Two processes racing
    # here write identical bytes. The temp name does not end in .py, so nothing
    # can import it. No fsync: a file torn by a power cut fails the hash check
    # and gets rewritten.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _import_file(name: str, path: Path, text: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: Numba rebuilds cached code via import_module(name)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _compile_error(f"kernel module {name} failed to import", path, text, exc) from exc
    return module


def _module_in_memory(name: str, text: str) -> types.ModuleType:
    """The kernel module executed from its text, for a cache directory that cannot be written.

    Not registered in ``sys.modules``: nothing imports it by name, as there is no disk cache to
    rebuild from. Its text goes into ``linecache`` under a pseudo file name, so that tracebacks,
    ``inspect.getsource`` and Numba's error messages show the lines.
    """
    filename = f"<fgrad kernel {name}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    try:
        exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102  (fgrad's own generated source)
    except Exception as exc:
        raise _compile_error(f"kernel module {name} failed to import", None, text, exc) from exc
    return module


def _where(path: Path | None) -> str:
    return "compiled in memory" if path is None else str(path)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Numba highlights its messages with terminal escapes


def _compile_error(what: str, path: Path | None, text: str, exc: BaseException | None) -> KernelCompileError:
    lines = text.splitlines()
    width = len(str(len(lines)))
    numbered = "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))
    reason = "" if exc is None else f"\n{type(exc).__name__}: {_ANSI.sub('', str(exc)).strip()}\n"
    return KernelCompileError(f"{what}{reason}\ngenerated source ({_where(path)}):\n{numbered}")
