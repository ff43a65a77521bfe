"""Numba's disk cache for fgrad's kernel files, with every cache file checked before Numba reads it.

Numba 0.68.1 trusts its cache files. A truncated or garbled ``.nbi``/``.nbc`` raises out of the
call, and one with flipped bytes inside the machine code reaches LLVM's object loader and kills the
process (a segmentation fault, or "LLVM ERROR: ..." and an abort). This module makes a cache file
either verified or ignored:

- Every file starts with ``MAGIC`` and the sha256 of (the file's own name, its payload); the payload
  is exactly what Numba would have written. Nothing is unpickled, let alone given to LLVM, before the
  digest checks out. The name is in the digest, so a file copied or renamed from another kernel
  (``k_A...nbc`` saved as ``k_B...nbc``) fails the check as surely as a flipped bit does.
- The digest lives inside the file rather than in a sidecar: Numba writes each file to a temporary
  name and renames it into place, so a file and its digest are replaced together in one
  ``os.replace``. With a sidecar, two processes compiling the same kernel at once could leave one's
  file next to the other's digest, and every reader after them would see a spurious mismatch.
- A data file's payload also holds the index key (signature, CPU, bytecode hash) it was saved
  under, and is used only for that key. Numba's own index can name a data file written for another
  signature when two processes save different signatures of one kernel at once; that is a plain miss
  (the compile that follows rewrites the file), not damage.
- A file that fails a check, or that Numba cannot read or rebuild for any other reason, is reported
  with one warning; the kernel's ``.nbi``/``.nbc`` files are deleted (if the directory is writable)
  and the signature is compiled afresh. A data file that the index names but that is gone is a plain
  miss, as in Numba.

What is hooked, on numba 0.68.1 (numba/core/caching.py; the same names exist back to 0.60), and why:

- ``Dispatcher._cache``. ``njit(cache=True)`` sets it to ``FunctionCache(py_func)``
  (``Dispatcher.enable_caching``); fgrad compiles with ``cache=False`` and sets it to a `KernelCache`.
  The dispatcher calls only ``load_overload`` before it compiles a signature, ``save_overload`` after,
  and reads ``cache_path``: the rest is Numba's driver logic, unchanged.
- ``KernelCache`` (a ``FunctionCache``): its ``load_overload`` turns any failure into a warning and a
  miss; its ``save_overload`` turns an unwritable directory into one warning (through a callback)
  instead of an exception out of the user's call.
- Its locator puts the files in ``<kernel dir>/__pycache__`` (where Numba's ``InTreeCacheLocator``
  puts them) whether or not that directory is writable. Numba's locators insist on a writable
  directory and otherwise move on to ``~/.cache/numba``, so a read-only fgrad cache would never be
  read. ``NUMBA_CACHE_DIR`` and ``NUMBA_CACHE_LOCATOR_CLASSES`` do not apply to fgrad's kernels:
  ``FGRAD_CACHE_DIR`` decides where they live.
- ``CheckedIndexDataCacheFile`` (an ``IndexDataCacheFile``, Numba's reader and writer of the index
  and data files): ``load``, ``save``, ``_load_index``, ``_save_index`` and ``_save_data`` add and
  check the header. Writing still goes through Numba's ``_open_for_write`` (temporary file, then
  ``os.replace``).

This module imports numba; `fgrad.backend.numba_jit` imports it lazily, with numba.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import os
import pickle
import sys
import threading
import warnings
from pathlib import Path

from numba.core import caching

__all__ = ["MAGIC", "DamagedCacheFile", "KernelCache", "NotCached", "drop_cache_files", "probing", "seal", "unseal"]

MAGIC = b"fgrad-numba-cache 1\n"
_DIGEST_LEN = 32  # sha256


class DamagedCacheFile(Exception):
    """A cache file that fails its check: it is never unpickled or handed to Numba."""


class NotCached(Exception):
    """Raised by a `KernelCache` lookup that misses while `probing()`: Numba then compiles nothing."""


_PROBE = threading.local()


class probing:
    """Inside `with probing():` on this thread, a dispatcher's compile loads from the disk cache or raises
    `NotCached` before compiling anything (Dispatcher.compile asks the cache first, then compiles).

    >>> with probing():                                 # doctest: +SKIP
    ...     kernel.dispatcher.compile(signature)        # a load, or NotCached
    """

    def __enter__(self):
        _PROBE.active = True

    def __exit__(self, *exc):
        _PROBE.active = False


# --------------------------------------------------------------------------- the file format


def _digest(name: str, payload: bytes) -> bytes:
    h = hashlib.sha256(name.encode("utf-8"))
    h.update(b"\0")
    h.update(payload)
    return h.digest()


def seal(name: str, payload: bytes) -> bytes:
    """The bytes of a cache file named ``name`` (a base name) holding ``payload``.

    >>> unseal("k_ab.nbc", seal("k_ab.nbc", b"data"))
    b'data'
    """
    return MAGIC + _digest(name, payload) + payload


def unseal(name: str, blob: bytes) -> bytes:
    """The payload of the cache file ``name`` (a base name) whose bytes are ``blob``.

    Raises `DamagedCacheFile` if the header is missing, or if the digest does not match the payload
    and the name (damaged, truncated, or taken from another kernel's file).

    >>> unseal("k_cd.nbc", seal("k_ab.nbc", b"data"))      # the right bytes under another name
    Traceback (most recent call last):
    ...
    fgrad.backend.numba_cache.DamagedCacheFile: k_cd.nbc: checksum mismatch (...)
    """
    start = len(MAGIC) + _DIGEST_LEN
    if len(blob) < start or not blob.startswith(MAGIC):
        raise DamagedCacheFile(f"{name}: no fgrad checksum header ({len(blob)} bytes; "
                               "truncated, or not written by fgrad)")
    if blob[len(MAGIC):start] != _digest(name, blob[start:]):
        raise DamagedCacheFile(f"{name}: checksum mismatch (changed, truncated, or copied from "
                               "another kernel's file)")
    return blob[start:]


def drop_cache_files(cache_path: Path, stem: str) -> None:
    """Delete Numba's index and data files of every function in the kernel module ``stem``.

    File names are ``<stem>.<qualname>-<line>.pyXY.nbi`` and ``....<n>.nbc``. A file that cannot be
    deleted (a read-only cache) stays, and is checked again, and ignored again, next time.
    """
    try:
        files = list(Path(cache_path).glob(f"{stem}.*"))
    except OSError:
        return
    for file in files:
        if file.suffix in (".nbi", ".nbc"):
            try:
                file.unlink(missing_ok=True)
            except OSError:
                pass


# --------------------------------------------------------------------------- Numba hooks


class CheckedIndexDataCacheFile(caching.IndexDataCacheFile):
    """Numba's index and data files, each sealed with a checksum that is checked before unpickling."""

    def load(self, key):
        overloads = self._load_index()
        name = overloads.get(key)
        if name is None:
            return None
        try:
            with open(self._data_path(name), "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return None  # the index names a data file that is gone: a miss, and the compile rewrites it
        saved_key, data = pickle.loads(unseal(name, blob))
        if saved_key != key:
            # Written for another signature: Numba's index and data files are saved separately, so two
            # processes saving different signatures of one kernel at once can leave this behind.
            return None
        return data

    def save(self, key, data):
        try:
            overloads = self._load_index()
        except Exception:  # damaged or unreadable: it is about to be replaced
            overloads = {}
        name = overloads.get(key)
        if name is None:
            taken = set(overloads.values())
            number = 1
            while self._data_name(number) in taken:
                number += 1
            name = overloads[key] = self._data_name(number)
            self._save_index(overloads)
        self._save_data(name, (key, data))

    def _load_index(self):
        try:
            with open(self._index_path, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return {}
        # Numba's layout inside the seal: its version pickled, then (source stamp, {key: data file name}).
        stream = io.BytesIO(unseal(self._index_name, blob))
        if pickle.load(stream) != self._version:
            return {}
        stamp, overloads = pickle.loads(stream.read())
        return overloads if stamp == self._source_stamp else {}

    def _save_index(self, overloads):
        payload = pickle.dumps(self._version, protocol=-1) + self._dump((self._source_stamp, overloads))
        with self._open_for_write(self._index_path) as f:
            f.write(seal(self._index_name, payload))

    def _save_data(self, name, data):
        with self._open_for_write(self._data_path(name)) as f:
            f.write(seal(name, self._dump(data)))


class _KernelLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """``<directory of the kernel file>/__pycache__``, writable or not (see the module docstring)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(os.path.dirname(py_file), "__pycache__")

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _KernelCacheImpl(caching.CompileResultCacheImpl):
    def __init__(self, py_func):
        # CacheImpl.__init__ minus its search through Numba's locators (and NUMBA_CACHE_LOCATOR_CLASSES).
        self._lineno = py_func.__code__.co_firstlineno
        py_file = inspect.getfile(py_func)
        self._locator = _KernelLocator(py_func, py_file)
        fullname = f"{os.path.splitext(os.path.basename(py_file))[0]}.{py_func.__qualname__}"
        self._filename_base = self.get_filename_base(fullname, getattr(sys, "abiflags", ""))


class KernelCache(caching.FunctionCache):
    """The Numba cache of one function of an fgrad kernel module, with checked files.

    ``on_write_error(kernel_directory, exc)`` is called when the cache files cannot be written; the
    compiled code is then kept in memory only.
    """

    _impl_class = _KernelCacheImpl

    def __init__(self, py_func, on_write_error):
        super().__init__(py_func)
        self._stem = py_func.__module__
        self._on_write_error = on_write_error
        self._cache_file = CheckedIndexDataCacheFile(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )

    def load_overload(self, sig, target_context):
        try:
            cres = super().load_overload(sig, target_context)
        except Exception as exc:  # a failed check, or anything Numba raises while reading or rebuilding
            reason = str(exc) if isinstance(exc, DamagedCacheFile) else f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"fgrad: damaged Numba cache file for kernel {self._stem} in {self._cache_path} "
                f"({reason}); deleting the kernel's cache files and recompiling",
                RuntimeWarning,
                stacklevel=2,
            )
            drop_cache_files(Path(self._cache_path), self._stem)
            cres = None
        if cres is None and getattr(_PROBE, "active", False):
            raise NotCached(self._stem)
        return cres

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except OSError as exc:
            # Reported against the kernel directory (the parent of __pycache__), which the user chose.
            self._on_write_error(Path(self._cache_path).parent, exc)
