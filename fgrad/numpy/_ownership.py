"""Eager results the caller owns, as fgrad Arrays: the one wrapper every public fgrad.numpy function is
installed with."""
from __future__ import annotations

import builtins
import functools
import types

import numpy as np

from fgrad.ir.ownership import owned_results
from fgrad.numpy._array import as_array, as_arrays


def _array_leaves(args, kwargs) -> list:
    """The numpy arrays among the arguments, inside lists and tuples too (concatenate's sequence)."""
    found, stack = [], [*args, *kwargs.values()]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _passed_in(out, args, kwargs) -> bool:
    for a in args:
        if a is out:
            return True
    for a in kwargs.values():
        if a is out:
            return True
    return False


def _owning(fn, public_module: str):
    """`fn` whose concrete results are arrays the caller owns (fgrad.ir.ownership): where numpy would return
    an argument, a view of one (reshape, transpose, asarray) or a read-only broadcast, a copy is returned.
    Arrays come back as fgrad Arrays (a view, no copy), so they have `.at`.
    The wrapper is named after `public_module`, where it is found (for pickle and help())."""
    @functools.wraps(fn)
    def owning(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, np.ndarray):
            if out.base is None and out.flags.writeable and not _passed_in(out, args, kwargs):
                return as_array(out)          # a new array, the common case: no search, no copy
            return as_array(owned_results([out], _array_leaves(args, kwargs))[0])
        if type(out) is tuple and builtins.any(isinstance(x, np.ndarray) for x in out):
            return tuple(as_arrays(owned_results(out, _array_leaves(args, kwargs))))
        return out
    owning.__module__ = public_module
    return owning


def install(namespace: dict) -> None:
    """Every public function's eager results are the caller's own arrays: one wrapper, installed here on the
    names in namespace["__all__"] and on fnp.linalg's functions, so that no function needs its own copy logic
    (traced results pass through untouched)."""
    for name in namespace["__all__"]:
        fn = namespace[name]
        if isinstance(fn, types.FunctionType):
            namespace[name] = _owning(fn, namespace["__name__"])
    linalg = namespace["linalg"]
    linalg.norm = _owning(linalg.norm, linalg.__name__)
    linalg.solve = _owning(linalg.solve, linalg.__name__)
