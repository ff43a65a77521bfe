"""Shape primitives: broadcast_to, reshape, transpose, squeeze, expand_dims.

`broadcast_to` is the only broadcasting in the IR, and its VJP (a sum over the broadcast axes) is the
only "unbroadcast" in fgrad.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, broadcast_shapes
from fgrad.ops.base import as_value, static_dims, typeof


def normalize_axis(axis: int, ndim: int) -> int:
    """`axis` in range(ndim), negative axes counted from the end; an IndexError names both."""
    if not -ndim <= axis < ndim:
        raise IndexError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def normalize_axes(axes, ndim: int) -> tuple:
    """A sorted tuple of distinct non-negative axes (None means all)."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = tuple(sorted(normalize_axis(int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axes}")
    return out


# ---- broadcast_to ---------------------------------------------------------------------------------

def _broadcast_type(x: ArrayType, *, shape) -> ArrayType:
    if len(shape) < x.ndim or broadcast_shapes(x.shape, shape) != tuple(shape):
        raise ValueError(f"cannot broadcast an array of shape {x.shape} to shape {tuple(shape)}")
    return ArrayType(shape, x.dtype)


def unbroadcast(out_ct, x_shape: tuple):
    """Sum `out_ct` over the axes that broadcasting `x_shape` to out_ct's shape added or stretched."""
    ct_shape = typeof(out_ct).shape
    lead = len(ct_shape) - len(x_shape)
    stretched = tuple(lead + i for i, d in enumerate(x_shape) if d == 1 and ct_shape[lead + i] != 1)
    axes = tuple(range(lead)) + stretched
    if not axes:
        return out_ct
    summed = reduce_sum(out_ct, axes=axes)
    return summed if typeof(summed).shape == x_shape else reshape(summed, shape=x_shape)


broadcast_to_p = Primitive(
    "broadcast_to", shape_rule=_broadcast_type,
    impl=lambda x, *, shape: np.broadcast_to(x, shape),
    jvp=(lambda x_dot, out, x, *, shape: broadcast_to(x_dot, shape),),
    vjp=(lambda out_ct, out, x, *, shape: unbroadcast(out_ct, typeof(x).shape),),
    numba="broadcast")


def broadcast_to(x, shape):
    """`x` broadcast to `shape` (numpy rules); a no-op when the shape already matches."""
    x = as_value(x)
    shape = static_dims(shape)
    if typeof(x).shape == shape:
        return x
    return broadcast_to_p.bind(x, shape=shape)


# ---- reshape --------------------------------------------------------------------------------------

def _reshape_type(x: ArrayType, *, shape) -> ArrayType:
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ValueError(f"cannot reshape an array of shape {x.shape} (size {x.size}) into shape {tuple(shape)}")
    return ArrayType(shape, x.dtype)


reshape_p = Primitive(
    "reshape", shape_rule=_reshape_type,
    impl=lambda x, *, shape: np.reshape(x, shape),
    jvp=(lambda x_dot, out, x, *, shape: reshape(x_dot, shape=shape),),
    vjp=(lambda out_ct, out, x, *, shape: reshape(out_ct, shape=typeof(x).shape),),
    numba="reshape")


def resolve_shape(shape, size: int) -> tuple:
    """numpy's `-1` in a target shape, resolved."""
    shape = static_dims(shape)
    if shape.count(-1) > 1:
        raise ValueError(f"can only specify one unknown dimension (-1) in shape {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    return shape


def reshape(x, shape):
    """`x` with a new shape of the same size (`-1` allowed once)."""
    x = as_value(x)
    t = typeof(x)
    shape = resolve_shape(shape, t.size)
    if shape == t.shape:
        return x
    return reshape_p.bind(x, shape=shape)


# ---- transpose ------------------------------------------------------------------------------------

def _transpose_type(x: ArrayType, *, perm) -> ArrayType:
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose permutation {perm} does not match an array of dimension {x.ndim}")
    return ArrayType(tuple(x.shape[p] for p in perm), x.dtype)


def _inverse_perm(perm) -> tuple:
    return tuple(int(i) for i in np.argsort(perm))


transpose_p = Primitive(
    "transpose", shape_rule=_transpose_type,
    impl=lambda x, *, perm: np.transpose(x, perm),
    jvp=(lambda x_dot, out, x, *, perm: transpose(x_dot, perm),),
    vjp=(lambda out_ct, out, x, *, perm: transpose(out_ct, _inverse_perm(perm)),),
    numba="transpose")


def transpose(x, perm=None):
    """Permute the axes of `x` (reverse them when `perm` is None)."""
    x = as_value(x)
    ndim = typeof(x).ndim
    perm = tuple(reversed(range(ndim))) if perm is None else tuple(normalize_axis(int(p), ndim) for p in perm)
    if perm == tuple(range(ndim)):
        return x
    return transpose_p.bind(x, perm=perm)


# ---- squeeze / expand_dims ------------------------------------------------------------------------

def _squeeze_type(x: ArrayType, *, axes) -> ArrayType:
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of shape {x.shape}: its size is not 1")
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


squeeze_p = Primitive(
    "squeeze", shape_rule=_squeeze_type,
    impl=lambda x, *, axes: np.squeeze(x, axis=axes),
    jvp=(lambda x_dot, out, x, *, axes: squeeze(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: expand_dims(out_ct, axes),),
    numba="reshape")


def squeeze(x, axes=None):
    """Remove axes of size 1 (all of them when `axes` is None)."""
    x = as_value(x)
    t = typeof(x)
    axes = tuple(i for i, d in enumerate(t.shape) if d == 1) if axes is None else normalize_axes(axes, t.ndim)
    if not axes:
        return x
    return squeeze_p.bind(x, axes=axes)


def _expand_dims_type(x: ArrayType, *, axes) -> ArrayType:
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return ArrayType(shape, x.dtype)


expand_dims_p = Primitive(
    "expand_dims", shape_rule=_expand_dims_type,
    impl=lambda x, *, axes: np.expand_dims(x, axes),
    jvp=(lambda x_dot, out, x, *, axes: expand_dims(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: squeeze(out_ct, axes),),
    numba="reshape")


def expand_dims(x, axes):
    """Insert axes of size 1 at `axes` (positions in the result)."""
    x = as_value(x)
    out_ndim = typeof(x).ndim + (1 if isinstance(axes, (int, np.integer)) else len(axes))
    axes = normalize_axes(axes, out_ndim)
    return expand_dims_p.bind(x, axes=axes)


from fgrad.ops.reduce import reduce_sum  # noqa: E402  (the rules above call it; reduce imports this module)
