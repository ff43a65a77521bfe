"""glibc malloc's policy for the large arrays the numpy executor allocates and frees on every call.

By default glibc serves a block of more than 128 KB (a threshold it raises as such blocks are freed, up to
32 MB) with a fresh mmap, and returns free memory at the top of its heap to the kernel once more than twice
that threshold is free. A program run per op call (the PyTorch facade) allocates a new array per equation,
so the next step touches fresh pages again: each 4 KB page is a page fault and is zeroed by the kernel.
Measured on a training step of a small CNN (bench_facade.py): ~9,900 page faults per step, 44.6 ms of CPU;
with the policy below 2 faults and 23.5 ms.

The policy (config.keep_freed_memory, on by default; FGRAD_KEEP_FREED_MEMORY=0 turns it off): blocks of up to
32 MB come from the heap, and the heap keeps up to 64 MB of free memory at its top. The cost is that much
resident memory held after a peak. Outside glibc (macOS, musl) nothing is changed.
"""
from __future__ import annotations

import ctypes
import ctypes.util

from fgrad import config

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # mallopt's parameter numbers (malloc.h)
KEEP_MMAP_THRESHOLD = 32 << 20
KEEP_TRIM_THRESHOLD = 64 << 20
GLIBC_DEFAULT_THRESHOLD = 128 << 10                  # both thresholds' initial values


def _mallopt():
    """glibc's mallopt, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.mallopt
    except (OSError, AttributeError):
        return None


_MALLOPT = _mallopt()


def set_keep_freed_memory(keep: bool) -> bool:
    """Apply (keep=True) or undo the policy above; returns whether malloc took it (False outside glibc).
    Undoing sets glibc's initial thresholds, without its dynamic raising of them.

    >>> set_keep_freed_memory(True)           # doctest: +SKIP
    True
    """
    if _MALLOPT is None:
        return False
    mmap, trim = (KEEP_MMAP_THRESHOLD, KEEP_TRIM_THRESHOLD) if keep else (GLIBC_DEFAULT_THRESHOLD,) * 2
    return bool(_MALLOPT(M_MMAP_THRESHOLD, mmap)) and bool(_MALLOPT(M_TRIM_THRESHOLD, trim))


_applied = None


def _follow_config(cfg) -> None:
    global _applied
    if cfg.keep_freed_memory != _applied and (_applied is not None or cfg.keep_freed_memory):
        set_keep_freed_memory(cfg.keep_freed_memory)
    _applied = cfg.keep_freed_memory


config.on_change(_follow_config)
