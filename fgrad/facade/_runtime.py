"""Process-wide settings real PyTorch scripts make before they start: threads, determinism, matmul
precision, the default device, torch.compile.

Each does what it can mean on fgrad's CPU backend and says so in its docstring; bad arguments raise as
PyTorch's do.
"""
from __future__ import annotations

import warnings

from fgrad.facade._tensor import device as _device

__all__ = ["set_num_threads", "get_num_threads", "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "set_float32_matmul_precision",
           "get_float32_matmul_precision", "get_default_device", "set_default_device", "compile"]

_settings = {"deterministic": False, "warn_only": False, "matmul_precision": "highest", "threads": None}
_MATMUL_PRECISIONS = ("highest", "high", "medium")


def set_num_threads(num: int) -> None:
    """The number of threads fgrad's parallel kernels (Numba `prange` loops) use, at most Numba's
    NUMBA_NUM_THREADS. BLAS (numpy's OpenBLAS) keeps the count it started with: set OPENBLAS_NUM_THREADS
    before Python starts to change it.

    >>> import fgrad as torch
    >>> torch.set_num_threads(1); torch.get_num_threads()
    1
    """
    if isinstance(num, bool) or not isinstance(num, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(num).__name__}")
    if num <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    import numba
    numba.set_num_threads(min(num, numba.config.NUMBA_NUM_THREADS))
    _settings["threads"] = num


def get_num_threads() -> int:
    """The thread count set by set_num_threads, else Numba's (one per core by default)."""
    if _settings["threads"] is not None:
        return _settings["threads"]
    import numba
    return numba.get_num_threads()


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted and recorded: every fgrad CPU op is deterministic already (no atomics, fixed reduction
    orders), so there is nothing to switch.

    >>> import io, fgrad as torch
    >>> torch.use_deterministic_algorithms(True); torch.are_deterministic_algorithms_enabled()
    True
    """
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    _settings["deterministic"], _settings["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _settings["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _settings["warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """Recorded; float32 matmuls on the CPU always run in full float32 ("highest"), in PyTorch as in fgrad.
    An unknown name warns and changes nothing, as PyTorch's does."""
    if precision not in _MATMUL_PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _settings["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _settings["matmul_precision"]


def get_default_device() -> _device:
    """Always the CPU."""
    return _device("cpu")


def set_default_device(device) -> None:
    """Accepts only the CPU (or None): fgrad has no other device.

    >>> import io, fgrad as torch
    >>> torch.set_default_device("cpu")
    """
    kind = device.type if isinstance(device, _device) else str(device).partition(":")[0]
    if device is not None and kind != "cpu":
        raise RuntimeError(f"fgrad runs on the CPU only, so the default device cannot be {device!r}; remove the "
                           "set_default_device call or pass 'cpu'")


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, name=None,
            disable=False, **kwargs):
    """torch.compile: returns `model` itself (also as a decorator, with or without arguments).

    The facade already traces each op once per signature and reuses the compiled program, so a compiled
    model runs as the eager one does and gives the same numbers. To compile a whole function into one
    native kernel, write it with fgrad.numpy and use fgrad.jit.

    >>> import io, fgrad as torch
    >>> f = torch.compile(lambda x: x * 2)
    >>> f(torch.tensor(3.0))
    tensor(6.)
    """
    if model is None:
        return lambda fn: fn
    if not callable(model):
        raise RuntimeError(f"torch.compile expects a callable (a function or an nn.Module), got "
                           f"{type(model).__name__}")
    return model
