"""Creation primitives: iota and full. They take no array inputs, so their rule tuples are empty."""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, canonical_dtype
from fgrad.ops.base import is_tracer, no_inputs_batch, static_dims
from fgrad.ops.core import normalize_axis

__all__ = ["iota", "iota_p", "full", "full_p"]


def static_shape(shape) -> tuple:
    """`shape` (an int or a sequence of ints) as a tuple of non-negative Python ints."""
    shape = static_dims(shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed in shape {shape}")
    return shape


def static_scalar(value, dtype, what: str):
    """A concrete scalar `value` as a Python scalar of `dtype`, for a primitive's (hashable) params."""
    if is_tracer(value):
        raise TypeError(f"the {what} is a static parameter and got a traced value {value!r}; build the array "
                        "from a traced value with broadcast_to (and select) instead")
    value = np.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"the {what} must be a scalar, got an array of shape {value.shape}")
    return value.astype(dtype).item()


# ---- iota -----------------------------------------------------------------------------------------

def _iota_type(*, shape, dtype, axis) -> ArrayType:
    if not 0 <= axis < len(shape):
        raise ValueError(f"iota axis {axis} is out of range for shape {shape}")
    if np.dtype(dtype) == np.bool_:
        raise TypeError("iota needs a numeric dtype (int32, int64, float32, float64), got bool")
    return ArrayType(shape, dtype)


def _iota_impl(*, shape, dtype, axis):
    along = np.arange(shape[axis], dtype=dtype)
    column = along.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return np.array(np.broadcast_to(column, shape))


# Traits of a primitive without inputs: nothing to commute, copy or alias.
_NO_INPUTS = dict(commutative=False, linear_in=(), expensive=False, vector_math=None, simplify=None,
                  copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)

iota_p = Primitive("iota", kind="index", shape_rule=_iota_type, impl=_iota_impl, jvp=(), vjp=(), numba="iota",
                   **_NO_INPUTS)
iota_p.batch = no_inputs_batch(iota_p)


def iota(shape, dtype, axis=0):
    """The values 0..n-1 along `axis`, broadcast over the rest of `shape` (n = shape[axis]).

    >>> iota((2, 3), "int64", axis=1)
    array([[0, 1, 2],
           [0, 1, 2]])
    """
    shape = static_shape(shape)
    dtype = canonical_dtype(dtype)
    axis = normalize_axis(int(axis), len(shape))
    _iota_type(shape=shape, dtype=dtype, axis=axis)     # the dtype error, also when not tracing
    return iota_p.bind(shape=shape, dtype=dtype, axis=axis)


# ---- full -----------------------------------------------------------------------------------------

def _full_type(*, shape, value, dtype) -> ArrayType:
    return ArrayType(shape, dtype)


def _full_simplify(s, inputs, params, out_type):
    return s.uniform(np.asarray(params["value"], dtype=out_type.dtype), out_type)


full_p = Primitive(
    "full", kind="index", shape_rule=_full_type,
    impl=lambda *, shape, value, dtype: np.full(shape, value, dtype=dtype),
    jvp=(), vjp=(), numba="full", **dict(_NO_INPUTS, simplify=_full_simplify))
full_p.batch = no_inputs_batch(full_p)


def full(shape, value, dtype):
    """An array of `shape` filled with the static scalar `value`, as `dtype`.

    >>> full((2,), 1.5, "float32")
    array([1.5, 1.5], dtype=float32)
    """
    shape = static_shape(shape)
    dtype = canonical_dtype(dtype)
    return full_p.bind(shape=shape, value=static_scalar(value, dtype, "fill value of full"), dtype=dtype)
