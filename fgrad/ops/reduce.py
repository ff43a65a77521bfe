"""Reductions: reduce_sum (more join it in the same form)."""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive
from fgrad.ops.base import as_value, typeof
from fgrad.ops.shape import broadcast_to, expand_dims, normalize_axes


def _reduce_type(x: ArrayType, *, axes) -> ArrayType:
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def restore_reduced(y, x_shape: tuple, axes: tuple):
    """Broadcast a reduced value back over the reduced `axes` of `x_shape` (keepdims, then broadcast)."""
    return broadcast_to(expand_dims(y, axes), x_shape)


reduce_sum_p = Primitive(
    "reduce_sum", shape_rule=_reduce_type,
    impl=lambda x, *, axes: np.sum(x, axis=axes, dtype=np.result_type(x)),
    jvp=(lambda x_dot, out, x, *, axes: reduce_sum(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: restore_reduced(out_ct, typeof(x).shape, axes),),
    numba="reduce_sum")


def reduce_sum(x, axes=None):
    """The sum of `x` over `axes` (all when None). Bool sums count in int64, as numpy's."""
    x = as_value(x)
    t = typeof(x)
    axes = normalize_axes(axes, t.ndim)
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)
