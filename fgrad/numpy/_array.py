"""`fgrad.Array`: the concrete arrays fgrad hands out, numpy arrays with JAX's functional updates `x.at[...]`.

fgrad computes with plain numpy arrays; at the public boundary (fgrad.numpy's functions, the transforms, jit)
a result is re-labelled as an `Array` by `as_array`, a zero-copy `.view`. An Array *is* a numpy ndarray (a
subclass), so every numpy function, Numba kernel and library that takes an ndarray takes it, numpy operations
on Arrays return Arrays, and its repr is numpy's. It adds one attribute, `.at` (installed by
fgrad.numpy._interop, as on traced values). Unlike JAX's arrays it stays mutable, as numpy's are.
"""
from __future__ import annotations

import numpy as np


class Array(np.ndarray):
    """A numpy array with JAX's out-of-place updates `x.at[index].set/add/multiply/divide/power/min/max/get`.

    What fgrad.numpy functions and fgrad's transforms return; `fnp.asarray(a)` makes one of a numpy array.

    >>> import fgrad.numpy as fnp
    >>> x = fnp.arange(5.0)
    >>> x.at[1:3].set(10.0)
    array([ 0., 10., 10.,  3.,  4.])
    >>> x.at[[0, 0, 4]].add(1.0)          # repeated indices accumulate
    array([2., 1., 2., 3., 5.])
    >>> x                                  # x itself is unchanged
    array([0., 1., 2., 3., 4.])
    """

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # Where numpy gives a plain array a scalar (x.sum(), np.sum(x)), give one here too: a 0-d subclass
        # would not hash, and would print differently.
        if return_scalar:
            return arr[()]
        return super().__array_wrap__(arr, context, return_scalar)


def as_array(x):
    """`x` as an fgrad Array if it is a numpy array (a view: no copy); anything else (tracers, numpy scalars,
    Python values) unchanged."""
    if type(x) is np.ndarray:
        return x.view(Array)
    return x


def as_arrays(values) -> list:
    """`as_array` of each value."""
    return [x.view(Array) if type(x) is np.ndarray else x for x in values]
