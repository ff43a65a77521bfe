"""Arguments as fgrad values, for every family of fgrad.numpy: Python sequences become arrays (`asarray`,
which stacks traced values inside lists), and the checks that several families share."""
from __future__ import annotations

import numpy as np

import fgrad.ops as ops
from fgrad.ir import canonical_dtype
from fgrad.ops.base import PYTHON_SCALARS, is_tracer, promotion_operand, typeof
from fgrad.ops.core import normalize_axis


def arg(x):
    """An argument as an fgrad value: tracers, arrays and (weak) Python scalars pass, sequences become arrays."""
    if isinstance(x, (list, tuple)):
        return asarray(x)
    return x


def contains_tracer(obj) -> bool:
    """Whether a (nested) list, tuple or slice holds a traced value anywhere."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if is_tracer(item):
            return True
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, slice):
            stack.extend((item.start, item.stop, item.step))
    return False


def check_order(order):
    if order not in ("C", "A", "K", None):
        raise NotImplementedError(f"order={order!r} is not supported: fgrad arrays are row-major (order='C')")


# ---- sequences as arrays ---------------------------------------------------------------------------

def _nested_leaves(seq) -> list:
    leaves, stack = [], [seq]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            leaves.append(item)
    return leaves


def _weak_result_dtype(leaves) -> np.dtype:
    """result_dtype over many leaves: each distinct strong dtype once, Python scalars (weak) once per kind."""
    operands = [promotion_operand(x) for x in leaves]
    strong = {x for x in operands if type(x) not in PYTHON_SCALARS}
    weak = {type(x): x for x in operands if type(x) in PYTHON_SCALARS}
    return canonical_dtype(np.result_type(*strong, *weak.values()))


def stacked(xs: list, axis: int):
    """fgrad values of one shape joined along a new axis `axis` (numpy.stack on converted arguments)."""
    if not xs:
        raise ValueError("need at least one array to stack")
    shapes = [typeof(x).shape for x in xs]
    if any(s != shapes[0] for s in shapes):
        listed = ", ".join(str(s) for s in shapes)
        raise ValueError(f"all input arrays must have the same shape to stack, got shapes {listed}")
    axis = normalize_axis(int(axis), len(shapes[0]) + 1)
    return ops.concatenate([ops.expand_dims(x, axis) for x in xs], axis)


def _stack_nested(seq, dtype):
    items = [_stack_nested(item, dtype) if isinstance(item, (list, tuple)) else ops.cast(item, dtype)
             for item in seq]
    return stacked(items, 0)


def asarray(a, dtype=None):
    """numpy.asarray; a (nested) list holding traced values stacks them into one traced array.

    >>> fnp.asarray([1.0, 2.0], dtype=fnp.float32)
    array([1., 2.], dtype=float32)
    """
    if is_tracer(a):
        return a if dtype is None else ops.cast(a, dtype)
    if isinstance(a, (list, tuple)) and contains_tracer(a):
        leaves = _nested_leaves(a)
        return _stack_nested(a, canonical_dtype(dtype) if dtype is not None else _weak_result_dtype(leaves))
    return np.asarray(a, dtype=dtype)
