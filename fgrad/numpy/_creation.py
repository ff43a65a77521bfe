"""fgrad.numpy's creation functions: filled arrays, ranges, identity matrices and diagonals, `array`."""
from __future__ import annotations

import builtins
import math

import numpy as np

import fgrad.ops as ops
from fgrad.ir import canonical_dtype
from fgrad.ir.concrete import concrete_value_of
from fgrad.numpy._arguments import arg, asarray, contains_tracer
from fgrad.numpy._elementwise import floor
from fgrad.numpy._indexing import IndexUpdateRef
from fgrad.numpy._shapes import diagonal, moveaxis
from fgrad.ops.base import float_dtype, is_tracer, result_dtype, typeof


def _creation_dtype(dtype) -> np.dtype:
    return canonical_dtype(np.float64 if dtype is None else dtype)


def zeros(shape, dtype=None):
    """numpy.zeros (float64 by default); a `full` equation when traced.

    >>> fnp.zeros((2,), fnp.int32)
    array([0, 0], dtype=int32)
    """
    return ops.full(shape, 0, _creation_dtype(dtype))


def ones(shape, dtype=None):
    """numpy.ones (float64 by default).

    >>> fnp.ones(2)
    array([1., 1.])
    """
    return ops.full(shape, 1, _creation_dtype(dtype))


def full(shape, fill_value, dtype=None):
    """numpy.full: the dtype defaults to fill_value's (a Python float gives float64). A traced fill value
    is broadcast.

    >>> fnp.full((2,), 7)
    array([7, 7])
    """
    fill_value = arg(fill_value)
    dtype = canonical_dtype(dtype) if dtype is not None else typeof(fill_value).dtype
    if is_tracer(fill_value):
        return ops.broadcast_to(ops.cast(fill_value, dtype), shape)
    if np.ndim(fill_value) > 0:
        return np.full(shape, fill_value, dtype=dtype)
    return ops.full(shape, fill_value, dtype)


def _like(a, dtype, shape):
    t = typeof(arg(a))
    return (t.shape if shape is None else shape), (t.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    """numpy.zeros_like: zeros of a's shape and dtype.

    >>> fnp.zeros_like(np.ones(2, np.float32))
    array([0., 0.], dtype=float32)
    """
    shape, dtype = _like(a, dtype, shape)
    return ops.full(shape, 0, dtype)


def ones_like(a, dtype=None, shape=None):
    """numpy.ones_like.

    >>> fnp.ones_like(np.zeros(2))
    array([1., 1.])
    """
    shape, dtype = _like(a, dtype, shape)
    return ops.full(shape, 1, dtype)


def full_like(a, fill_value, dtype=None, shape=None):
    """numpy.full_like: fill_value cast to a's dtype.

    >>> fnp.full_like(np.zeros(2, np.int64), 2.7)
    array([2, 2])
    """
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def _static_number(value, what: str):
    if is_tracer(value):
        known = concrete_value_of(value)        # a bound known on this call (eager transforms) is static
        if known is not None:
            return known[()]
        raise TypeError(f"the {what} of arange must be static (a Python number), got {value!r}: the array's length "
                        "would depend on a traced value. Use fnp.arange(n) * step + start with a static n")
    return value


def arange(start, stop=None, step=None, dtype=None):
    """numpy.arange. Integer ranges and arange(n) are iota equations; other float ranges are numpy's exact
    values, a constant (the bounds are static anyway).

    >>> fnp.arange(1, 7, 2)
    array([1, 3, 5])
    """
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    start, stop, step = (_static_number(v, w) for v, w in ((start, "start"), (stop, "stop"), (step, "step")))
    if step == 0:
        raise ZeroDivisionError("arange: the step is zero")
    dtype = canonical_dtype(dtype if dtype is not None else np.result_type(start, stop, step))
    length = builtins.max(0, math.ceil((stop - start) / step))
    if dtype.kind == "i":
        values = ops.iota((length,), dtype)
        values = values if step == 1 else ops.mul(values, int(step))
        return values if start == 0 else ops.add(values, int(start))
    if start == 0 and step == 1:
        return ops.iota((length,), dtype)
    return np.arange(start, stop, step, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """numpy.linspace, in numpy's arithmetic (iota * step + start, the last sample set to stop). start and
    stop may be arrays or traced values; the samples run along a new axis `axis`.

    >>> fnp.linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = arg(start), arg(stop)
    div = (num - 1) if endpoint else num
    dt = float_dtype(result_dtype(start, stop))
    start, stop = ops.cast(start, dt), ops.cast(stop, dt)
    concrete = not (is_tracer(start) or is_tracer(stop))
    # Concrete bounds compute their step with numpy, so it stays a constant inside a trace.
    delta = np.subtract(stop, start, dtype=dt) if concrete else ops.sub(stop, start)
    extra = typeof(delta).ndim
    samples = ops.reshape(ops.iota((num,), dt), (num,) + (1,) * extra)
    if div > 0:
        step = np.divide(delta, div, dtype=dt) if concrete else ops.div(delta, div)
        step_is_zero = concrete and np.any(step == 0)
        # numpy divides first when the step underflows to zero (denormal deltas), to keep the samples apart.
        y = ops.mul(ops.div(samples, div), delta) if step_is_zero else ops.mul(samples, step)
    else:
        step = np.nan
        y = ops.mul(samples, delta)
    y = ops.add(y, start)
    if endpoint and num > 1:
        last = ops.eq(ops.iota((num,) + (1,) * extra, np.int64), num - 1)
        y = ops.select(last, stop, y)
    y = moveaxis(y, 0, axis) if axis != 0 else y
    if dtype is not None:
        dtype = canonical_dtype(dtype)
        y = ops.cast(floor(y) if dtype.kind == "i" else y, dtype)
    return (y, step) if retstep else y


def eye(N, M=None, k=0, dtype=None):
    """numpy.eye: ones on the k-th diagonal (float64 by default).

    >>> fnp.eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    shape = (int(N), int(N if M is None else M))
    on_diagonal = ops.eq(ops.add(ops.iota(shape, np.int64, 0), int(k)), ops.iota(shape, np.int64, 1))
    return ops.cast(on_diagonal, _creation_dtype(dtype))


def identity(n, dtype=None):
    """numpy.identity.

    >>> fnp.identity(2)
    array([[1., 0.],
           [0., 1.]])
    """
    return eye(n, dtype=dtype)


# ---- diagonal matrices, arrays from objects --------------------------------------------------------

def diag(v, k=0):
    """numpy.diag: the k-th diagonal of a 2-D array, or a 2-D array with the 1-D `v` on its k-th diagonal.

    >>> fnp.diag(np.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    v = arg(v)
    t = typeof(v)
    if t.ndim == 2:
        return diagonal(v, k)
    if t.ndim != 1:
        raise ValueError(f"Input must be 1- or 2-d, got an array of shape {t.shape}")
    k = int(k)
    n = t.shape[0] + builtins.abs(k)
    i = np.arange(t.shape[0], dtype=np.int64) - builtins.min(k, 0)
    return IndexUpdateRef(zeros((n, n), t.dtype), (i, i + k)).set(v)


def array(object, dtype=None, copy=True, ndmin=0):
    """numpy.array (traced values inside lists are stacked, as in asarray).

    >>> fnp.array([[1, 2]], ndmin=3).shape
    (1, 1, 2)
    """
    if is_tracer(object) or (isinstance(object, (list, tuple)) and contains_tracer(object)):
        out = asarray(object, dtype)
    else:
        out = np.array(object, dtype=dtype, copy=copy)
    shape_ = typeof(out).shape
    if len(shape_) < ndmin:
        out = ops.reshape(out, (1,) * (ndmin - len(shape_)) + shape_)
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """numpy.allclose, on concrete values only: it returns a Python bool.

    >>> fnp.allclose(np.array([1.0]), np.array([1.0 + 1e-9]))
    True
    """
    if contains_tracer([a, b]):
        raise TypeError(
            "fnp.allclose needs concrete values: it returns a Python bool, and a traced function cannot branch on its "
            "arrays' values. Call it on the results outside the traced function, or compute the test as an array: "
            "fnp.all(fnp.abs(a - b) <= atol + rtol * fnp.abs(b))")
    return builtins.bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
