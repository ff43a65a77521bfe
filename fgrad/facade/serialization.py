"""torch.save / torch.load in PyTorch's own file format, so checkpoints go both ways between fgrad and PyTorch.

The format (torch/serialization.py, "zipfile" serialization, version 3): a zip archive, stored without
compression, holding `<name>/data.pkl` (a protocol-2 pickle of the object in which each tensor is
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` and each storage a
persistent id `("storage", torch.FloatStorage, key, "cpu", numel)`), the raw bytes of storage `key` in
`<name>/data/<key>`, and a few small records (`version`, `byteorder`, ...).

fgrad writes one storage per tensor (a view is saved as its own values, as `t.clone()` would be) and
reads any storage layout PyTorch writes (offsets, strides, storages shared between tensors). As in
PyTorch 2.6 and later, `load` is `weights_only` by default: only tensors, parameters, containers, numbers
and strings are rebuilt, never arbitrary classes; pass `weights_only=False` for files you trust (a whole
pickled model, say), or allow more classes with `add_safe_globals`.

>>> import io, fgrad as torch
>>> buffer = io.BytesIO()
>>> torch.save({"w": torch.ones(2)}, buffer); _ = buffer.seek(0)
>>> torch.load(buffer)
{'w': tensor([1., 1.])}
"""
from __future__ import annotations

import builtins
import collections
import contextlib
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np

from fgrad.facade import _tensor
from fgrad.facade._tensor import Size, Tensor, device
from fgrad.facade.nn.parameter import Parameter

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

_RECORD_VERSION = b"3\n"       # what PyTorch 2.x writes in <name>/version


class _StorageType:
    """`torch.FloatStorage` and friends as they appear in the pickle: which dtype a storage's bytes hold."""

    def __init__(self, name: str, dtype):
        self.name = name
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_STORAGE_TYPES = {t.name: t for t in (
    _StorageType("FloatStorage", np.float32), _StorageType("DoubleStorage", np.float64),
    _StorageType("HalfStorage", np.float16), _StorageType("LongStorage", np.int64),
    _StorageType("IntStorage", np.int32), _StorageType("ShortStorage", np.int16),
    _StorageType("CharStorage", np.int8), _StorageType("ByteStorage", np.uint8),
    _StorageType("BoolStorage", np.bool_), _StorageType("ComplexFloatStorage", np.complex64),
    _StorageType("ComplexDoubleStorage", np.complex128))}
_STORAGE_TYPE_OF_DTYPE = {t.dtype: t for t in _STORAGE_TYPES.values()}


class _Storage:
    """A tensor's values on their way into the archive (one record each)."""

    def __init__(self, array: np.ndarray):
        self.array = np.ascontiguousarray(array)
        self.type = _STORAGE_TYPE_OF_DTYPE[self.array.dtype]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """torch._utils._rebuild_tensor_v2: the tensor of `size` and `stride` (in elements) at `storage_offset`."""
    size, stride = tuple(size), tuple(stride)
    if storage.size and size:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if storage_offset < 0 or last >= storage.size or min(stride) < 0:
            raise RuntimeError(f"the checkpoint's tensor of size {size} and stride {stride} at offset "
                               f"{storage_offset} reaches outside its storage of {storage.size} elements: the "
                               "file is damaged")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=size,
                                           strides=tuple(s * itemsize for s in stride))
    return _tensor.make(np.array(view), requires_grad=bool(requires_grad))


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """torch._utils._rebuild_parameter (and _rebuild_parameter_with_state)."""
    return Parameter(data, requires_grad)


def _rebuild_device(type_="cpu", index=None):
    return device(type_, index)


# What PyTorch's names in a checkpoint mean in fgrad; all of them are safe to rebuild with weights_only.
_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): Size,
    ("torch", "device"): _rebuild_device,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): t for name, t in _STORAGE_TYPES.items()},
}
_SAFE_BUILTINS = {("builtins", n): getattr(builtins, n)
                  for n in ("set", "frozenset", "complex", "slice", "range", "bytearray")}
# The name each of fgrad's stand-ins is written under (the first, for a function standing in for two).
_NAMES_OF_OURS = {}
for _name, _value in _TORCH_GLOBALS.items():
    if _value is not collections.OrderedDict:
        _NAMES_OF_OURS.setdefault(id(_value), _name)
_user_safe_globals: dict = {}


def add_safe_globals(safe_globals) -> None:
    """Let `load(..., weights_only=True)` rebuild these classes or functions too (torch.serialization's).

    >>> import io, fgrad as torch
    >>> class Point: pass
    >>> torch.serialization.add_safe_globals([Point])
    """
    for g in safe_globals:
        obj, name = (g if isinstance(g, tuple) else (g, None))
        module = getattr(obj, "__module__", None)
        qualname = name or getattr(obj, "__qualname__", None)
        if module is None or qualname is None:
            raise TypeError(f"add_safe_globals takes classes and functions (or (object, 'module.name') pairs), "
                            f"got {obj!r}")
        if name is not None and "." in name:
            module, _, qualname = name.rpartition(".")
        _user_safe_globals[(module, qualname)] = obj


def get_safe_globals() -> list:
    return list(_user_safe_globals.values())


def clear_safe_globals() -> None:
    _user_safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """add_safe_globals for the duration of a `with` block."""
    saved = dict(_user_safe_globals)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _user_safe_globals.clear()
        _user_safe_globals.update(saved)


# ---- save ---------------------------------------------------------------------------------------------------

class _Pickler(pickle._Pickler):
    """pickle's Python pickler, writing tensors as PyTorch does: the rebuild call, storages as persistent ids,
    and PyTorch's global names (`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`) for fgrad's
    stand-ins. (The Python pickler, not the C one, because only it lets a global be written under another
    module's name.)"""

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self.storages: list[_Storage] = []

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            self.storages.append(obj)
            return ("storage", obj.type, str(len(self.storages) - 1), "cpu", obj.array.size)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Parameter):
            plain = _tensor.make(obj._data, requires_grad=False)
            return _rebuild_parameter, (plain, obj.requires_grad, collections.OrderedDict())
        if isinstance(obj, Tensor):
            return _tensor_reduction(obj)
        return NotImplemented

    def save_global(self, obj, name=None):
        torch_name = _NAMES_OF_OURS.get(id(obj))
        if torch_name is None:
            return super().save_global(obj, name)
        module, qualname = torch_name
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("utf-8"))
        self.memoize(obj)

    # The dispatch table holds the base class's save_global for functions: point it at ours (classes go
    # through save_type, which calls self.save_global).
    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[types.FunctionType] = save_global
    dispatch[_StorageType] = save_global


def _tensor_reduction(t: Tensor):
    data = t._data
    if data.dtype not in _STORAGE_TYPE_OF_DTYPE:
        raise RuntimeError(f"torch.save cannot write a tensor of dtype {data.dtype}: PyTorch's format has no "
                           "storage type for it")
    contiguous_strides = tuple(int(np.prod(data.shape[k + 1:])) for k in range(data.ndim))
    return _rebuild_tensor_v2, (_Storage(data), 0, tuple(data.shape), contiguous_strides, t.requires_grad,
                                collections.OrderedDict())


def save(obj, f, pickle_module=pickle, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False) -> None:
    """Write `obj` (a state_dict, a tensor, any picklable object holding tensors) to the path or binary file
    `f` in PyTorch's format: PyTorch's torch.load reads it, and fgrad's reads PyTorch's files.

    >>> import io, fgrad as torch
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), io.BytesIO())
    """
    if pickle_module is not pickle:
        raise NotImplementedError("fgrad's torch.save writes with the standard pickle module only; drop "
                                  "pickle_module")
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("fgrad writes only PyTorch's zip format (_use_new_zipfile_serialization=True)")
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, pickle_protocol)
    pickler.dump(obj)
    name = _archive_name(f)
    with _opened(f, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{name}/data.pkl", buffer.getvalue())
        archive.writestr(f"{name}/.format_version", b"1")
        archive.writestr(f"{name}/.storage_alignment", b"64")
        if not _disable_byteorder_record:
            archive.writestr(f"{name}/byteorder", sys.byteorder.encode())
        for key, storage in enumerate(pickler.storages):
            archive.writestr(f"{name}/data/{key}", storage.array.tobytes())
        archive.writestr(f"{name}/version", _RECORD_VERSION)


def _archive_name(f) -> str:
    """PyTorch names the archive's top folder after the file ("archive" for a file object)."""
    if isinstance(f, (str, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.fspath(f)))[0]
        return stem or "archive"
    return "archive"


@contextlib.contextmanager
def _opened(f, mode):
    if isinstance(f, (str, os.PathLike)):
        with open(f, mode) as stream:
            yield stream
    else:
        yield f


# ---- load ---------------------------------------------------------------------------------------------------

class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix, weights_only, byteorder):
        super().__init__(file)
        self.archive, self.prefix, self.weights_only, self.byteorder = archive, prefix, weights_only, byteorder
        self.storages = {}

    def find_class(self, module, name):
        if module == "__builtin__":         # protocol 2 writes Python 2's name for builtins
            module = "builtins"
        known = _TORCH_GLOBALS.get((module, name)) or _SAFE_BUILTINS.get((module, name)) \
            or _user_safe_globals.get((module, name))
        if known is not None:
            return known
        if module == "torch" and name.endswith("Storage"):
            raise RuntimeError(f"torch.load: the checkpoint holds a torch.{name}, a dtype numpy (and so fgrad) "
                               "does not have; convert those tensors in PyTorch first (e.g. .float()) and save again")
        if self.weights_only:
            raise pickle.UnpicklingError(
                f"Weights only load failed: the file asks for {module}.{name}, which is not a tensor, container "
                f"or number. If you trust the file, load it with weights_only=False, or allow the class with "
                f"torch.serialization.add_safe_globals([{name}]).")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unknown storage reference {pid!r} in the checkpoint")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            dtype = storage_type.dtype.newbyteorder("<" if self.byteorder == "little" else ">")
            self.storages[key] = np.frombuffer(raw, dtype=dtype).astype(storage_type.dtype)
        return self.storages[key]


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Read what torch.save wrote (fgrad's or PyTorch's) from a path or binary file.

    `weights_only` (default True, as PyTorch 2.6+) rebuilds only tensors, parameters, containers and
    numbers; `map_location` may name the CPU only (fgrad has no other device).

    >>> import io, fgrad as torch
    >>> buffer = io.BytesIO(); torch.save([torch.arange(3)], buffer); _ = buffer.seek(0)
    >>> torch.load(buffer, map_location="cpu")
    [tensor([0, 1, 2])]
    """
    _check_map_location(map_location)
    weights_only = True if weights_only is None else weights_only
    with _opened(f, "rb") as stream:
        data = stream.read()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise RuntimeError("torch.load: the file is not a zip archive, the format torch.save writes (PyTorch "
                           "before 1.6 wrote another, which fgrad does not read; load and re-save it with a "
                           "newer PyTorch)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise RuntimeError(f"torch.load: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(archive.namelist())
        byteorder = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
        unpickler = _Unpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, weights_only, byteorder)
        return unpickler.load()


def _check_map_location(map_location) -> None:
    if map_location is None or callable(map_location):
        return
    targets = map_location.values() if isinstance(map_location, dict) else [map_location]
    for target in targets:
        kind = target.type if isinstance(target, device) else str(target).partition(":")[0]
        if kind != "cpu":
            raise RuntimeError(f"map_location={map_location!r}: fgrad runs on the CPU only; pass 'cpu' or omit it")
