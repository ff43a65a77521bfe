"""`radd`: the add that accumulates a float sum in a kernel's loop, the one instruction allowed to reassociate.

LLVM vectorises a loop that accumulates `acc += value` only when it may reorder the additions (several
partial sums in the lanes of a vector, added at the end); without that licence every element waits for the
previous add. fgrad's kernels are compiled without fastmath (it would license LLVM to drop NaN/inf
semantics everywhere), so a sum used to be written as a block buffer that the body stores each value to and
eight scalar accumulators that sum it afterwards: a vectorised body, but a scalar pass over the buffer.

`radd(acc, value)` is `acc + value` compiled with LLVM's `reassoc` flag alone and inlined (LLVM
`alwaysinline`) into the kernel, where that one instruction keeps its flag: the loop vectoriser then keeps
partial sums in vector registers, and every other instruction of the body (the value's own arithmetic
included) stays IEEE-exact. A NaN or an infinity anywhere still makes the sum NaN or infinite, in any order.
What changes is the order of the additions inside a block: LLVM's (lanes of the vector width the CPU has,
interleaved), fixed by the compiled code, so serial and prange kernels, which sum the same blocks the same
way, still agree bit for bit; a machine with another vector width may round differently.

Measured (serial, 1e6 elements, the Rosenbrock value's loop, values in cache): buffer and eight lanes
323 us, buffer summed by a reassoc loop 232 us, `radd` in the body 173 us, the whole function with
fastmath 159 us.

The kernel's import line carries SOURCE_HASH: Numba's disk cache of a kernel holds the inlined code, and
checks only the kernel's own file.
"""
from __future__ import annotations

import hashlib
import os

import numba
from numba.extending import overload

__all__ = ["radd", "SOURCE_HASH"]

with open(os.path.abspath(__file__), "rb") as _f:
    SOURCE_HASH = hashlib.sha256(_f.read()).hexdigest()[:16]


# The add itself: its own flags (reassoc alone), and LLVM `alwaysinline`, so it lands in the caller's loop
# with them. Numba's inline="always" would compile it with the caller's flags instead.
@numba.njit(forceinline=True, error_model="numpy", nogil=True, fastmath={"reassoc"})
def _radd(acc, value):
    return acc + value


def radd(acc, value):
    """acc + value, an add LLVM may reassociate with the adds of the same accumulation (see the module).
    In Numba code an overload calls the compiled add, so a kernel module holds no dispatcher of it, as with
    fgrad.backend.vecmath's functions.

    >>> radd(1.0, 2.0)
    3.0
    """
    return acc + value


@overload(radd, inline="always")
def _radd_overload(acc, value):
    return lambda acc, value: _radd(acc, value)
