"""The primitives every other block builds on: convert_element_type, broadcast_to, reshape, squeeze,
expand_dims, transpose and reduce_sum, and the axis helpers of the batching rules.

They live together because their rules use each other: broadcast_to's VJP is a reduce_sum (the only
"unbroadcast" in fgrad), reduce_sum's VJP a broadcast_to, squeeze and expand_dims transpose each other,
and every batching rule moves its batch axis with transpose.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, broadcast_shapes, canonical_dtype, is_float
from fgrad.ops.base import as_value, batch_size, static_dims, typeof
from fgrad.ops.identities import Rewrite, strip_leading_ones, sum_of_uniform
from fgrad.ops.torch_numerics import torch_sum

__all__ = ["normalize_axis", "normalize_axes", "convert_element_type", "convert_element_type_p",
           "broadcast_to", "broadcast_to_p", "unbroadcast", "reshape", "reshape_p", "resolve_shape",
           "squeeze", "squeeze_p", "expand_dims", "expand_dims_p", "transpose", "transpose_p", "reduce_sum",
           "reduce_sum_p", "restore_reduced", "moveaxis", "batch_to_front", "batched_args_to_front"]


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


# ---- batching helpers: where the batch axis goes --------------------------------------------------

def moveaxis(x, source: int, destination: int):
    """`x` with axis `source` moved to position `destination` (a transpose; none when they are equal)."""
    ndim = typeof(x).ndim
    if source == destination:
        return x
    order = [a for a in range(ndim) if a != source]
    order.insert(destination, source)
    return transpose(x, order)


def batch_to_front(x, dim, size: int):
    """`x` with its batch axis `dim` first; an unbatched `x` (dim None) broadcast along a new first axis."""
    if dim is None:
        return broadcast_to(x, (size,) + typeof(x).shape)
    return moveaxis(x, dim, 0)


def batched_args_to_front(args, dims) -> list:
    """Every argument with the batch axis first, unbatched ones broadcast: how most batching rules start."""
    size = batch_size(args, dims)
    return [batch_to_front(x, d, size) for x, d in zip(args, dims)]


def elementwise_batch(prim):
    """The batching rule of an elementwise primitive: batch axes first, unbatched operands broadcast."""
    def rule(args, dims, **params):
        if len(args) == 1:
            return prim.bind(args[0], **params), dims[0]
        return prim.bind(*batched_args_to_front(args, dims), **params), 0
    return rule


def _axes_after_front(axes) -> tuple:
    return tuple(a + 1 for a in axes)


# ---- convert_element_type -------------------------------------------------------------------------

def _convert_type(x: ArrayType, *, dtype) -> ArrayType:
    return ArrayType(x.shape, dtype)


def _convert_vjp(out_ct, out, x, *, dtype):
    # Only a float -> float cast carries a derivative; its cotangent casts back.
    return convert_element_type(out_ct, typeof(x).dtype) if is_float(typeof(x).dtype) else None


def _convert_jvp(x_dot, out, x, *, dtype):
    return convert_element_type(x_dot, dtype) if is_float(dtype) else None


def _convert_simplify(s, inputs, params, out_type):
    return inputs[0] if inputs[0].type.dtype == params["dtype"] else None


def _convert_numba(args, dtype):
    return f"({args[0]} != 0)" if dtype == np.bool_ else f"np.{dtype.name}({args[0]})"


convert_element_type_p = Primitive(
    "convert_element_type", kind="elementwise", shape_rule=_convert_type,
    impl=lambda x, *, dtype: np.asarray(x).astype(dtype),
    jvp=(_convert_jvp,), vjp=(_convert_vjp,),
    batch=lambda args, dims, *, dtype: (convert_element_type_p.bind(args[0], dtype=dtype), dims[0]),
    numba=_convert_numba, commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=_convert_simplify,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


def convert_element_type(x, dtype):
    """`x` cast to `dtype` (float -> int truncates toward zero, as numpy's astype)."""
    dtype = canonical_dtype(dtype)
    x = as_value(x)
    if typeof(x).dtype == dtype:
        return x
    return convert_element_type_p.bind(x, dtype=dtype)


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


def _broadcast_batch(args, dims, *, shape):
    # numpy aligns shapes at the right: the batched operand gets leading 1s up to the target's rank.
    x = moveaxis(args[0], dims[0], 0)
    x_shape = typeof(x).shape
    x = reshape(x, x_shape[:1] + (1,) * (len(shape) - len(x_shape) + 1) + x_shape[1:])
    return broadcast_to(x, x_shape[:1] + tuple(shape)), 0


def _broadcast_simplify(s, inputs, params, out_type):
    x = inputs[0]
    if x.type.shape == out_type.shape:
        return x
    inner = s.producer_of(x, broadcast_to_p)
    if inner is not None:
        return Rewrite(broadcast_to_p, inner.inputs, {"shape": out_type.shape})
    # numpy aligns shapes at the right, so leading 1s added or removed by a reshape change nothing, as long
    # as the source has no more axes than the result (broadcast_to never drops axes).
    inner = s.producer_of(x, reshape_p, squeeze_p, expand_dims_p)
    if (inner is not None and inner.inputs[0].type.ndim <= len(out_type.shape)
            and strip_leading_ones(inner.inputs[0].type.shape) == strip_leading_ones(x.type.shape)):
        return Rewrite(broadcast_to_p, inner.inputs, {"shape": out_type.shape})
    return None


broadcast_to_p = Primitive(
    "broadcast_to", kind="index", shape_rule=_broadcast_type,
    impl=lambda x, *, shape: np.broadcast_to(x, shape),
    jvp=(lambda x_dot, out, x, *, shape: broadcast_to(x_dot, shape),),
    vjp=(lambda out_ct, out, x, *, shape: unbroadcast(out_ct, typeof(x).shape),),
    batch=_broadcast_batch, numba="broadcast",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=_broadcast_simplify,
    copies_input=True, distributes_over_add=True, keeps_order=False, aliases_input=True)


def broadcast_to(x, shape):
    """`x` broadcast to `shape` (numpy rules); a no-op when the shape already matches."""
    x = as_value(x)
    shape = static_dims(shape)
    if typeof(x).shape == shape:
        return x
    return broadcast_to_p.bind(x, shape=shape)


# ---- reshape, squeeze, expand_dims: one row-major order, another shape ------------------------------

def _reshape_type(x: ArrayType, *, shape) -> ArrayType:
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ValueError(f"cannot reshape an array of shape {x.shape} (size {x.size}) into shape {tuple(shape)}")
    return ArrayType(shape, x.dtype)


def _reshape_like_simplify(s, inputs, params, out_type):
    """Reshape-like ops (reshape, expand_dims, squeeze) keep row-major order, so a chain is one reshape."""
    x = inputs[0]
    if x.type.shape == out_type.shape:
        return x
    inner = s.producer_of(x, reshape_p, squeeze_p, expand_dims_p)
    if inner is not None:
        source = inner.inputs[0]
        if source.type.shape == out_type.shape:
            return source
        return Rewrite(reshape_p, (source,), {"shape": out_type.shape})
    return None


_ORDER_KEEPING = dict(commutative=False, linear_in=(0,), expensive=False, vector_math=None,
                      simplify=_reshape_like_simplify, copies_input=True, distributes_over_add=True,
                      keeps_order=True, aliases_input=True)

reshape_p = Primitive(
    "reshape", kind="index", shape_rule=_reshape_type,
    impl=lambda x, *, shape: np.reshape(x, shape),
    jvp=(lambda x_dot, out, x, *, shape: reshape(x_dot, shape=shape),),
    vjp=(lambda out_ct, out, x, *, shape: reshape(out_ct, shape=typeof(x).shape),),
    batch=lambda args, dims, *, shape: (reshape(moveaxis(args[0], dims[0], 0),
                                                (typeof(args[0]).shape[dims[0]],) + tuple(shape)), 0),
    numba="reshape", **_ORDER_KEEPING)


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


def _squeeze_type(x: ArrayType, *, axes) -> ArrayType:
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of shape {x.shape}: its size is not 1")
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


squeeze_p = Primitive(
    "squeeze", kind="index", shape_rule=_squeeze_type,
    impl=lambda x, *, axes: np.squeeze(x, axis=axes),
    jvp=(lambda x_dot, out, x, *, axes: squeeze(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: expand_dims(out_ct, axes),),
    batch=lambda args, dims, *, axes: (squeeze(moveaxis(args[0], dims[0], 0), _axes_after_front(axes)), 0),
    numba="reshape", **_ORDER_KEEPING)


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
    "expand_dims", kind="index", shape_rule=_expand_dims_type,
    impl=lambda x, *, axes: np.expand_dims(x, axes),
    jvp=(lambda x_dot, out, x, *, axes: expand_dims(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: squeeze(out_ct, axes),),
    batch=lambda args, dims, *, axes: (expand_dims(moveaxis(args[0], dims[0], 0), _axes_after_front(axes)), 0),
    numba="reshape", **_ORDER_KEEPING)


def expand_dims(x, axes):
    """Insert axes of size 1 at `axes` (positions in the result)."""
    x = as_value(x)
    out_ndim = typeof(x).ndim + (1 if isinstance(axes, (int, np.integer)) else len(axes))
    axes = normalize_axes(axes, out_ndim)
    return expand_dims_p.bind(x, axes=axes)


# ---- transpose ------------------------------------------------------------------------------------

def _transpose_type(x: ArrayType, *, perm) -> ArrayType:
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose permutation {perm} does not match an array of dimension {x.ndim}")
    return ArrayType(tuple(x.shape[p] for p in perm), x.dtype)


def _inverse_perm(perm) -> tuple:
    return tuple(int(i) for i in np.argsort(perm))


def _transpose_batch(args, dims, *, perm):
    x = moveaxis(args[0], dims[0], 0)
    return transpose(x, (0,) + _axes_after_front(perm)), 0


def _transpose_simplify(s, inputs, params, out_type):
    x, perm = inputs[0], params["perm"]
    if perm == tuple(range(len(perm))):
        return x
    inner = s.producer_of(x, transpose_p)
    if inner is not None:
        # transpose(transpose(a, p), q) takes axis p[q[j]] of a to position j.
        first = inner.params["perm"]
        return Rewrite(transpose_p, inner.inputs, {"perm": tuple(first[j] for j in perm)})
    return None


transpose_p = Primitive(
    "transpose", kind="index", shape_rule=_transpose_type,
    impl=lambda x, *, perm: np.transpose(x, perm),
    jvp=(lambda x_dot, out, x, *, perm: transpose(x_dot, perm),),
    vjp=(lambda out_ct, out, x, *, perm: transpose(out_ct, _inverse_perm(perm)),),
    batch=_transpose_batch, numba="transpose",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=_transpose_simplify,
    copies_input=True, distributes_over_add=True, keeps_order=False, aliases_input=True)


def transpose(x, perm=None):
    """Permute the axes of `x` (reverse them when `perm` is None)."""
    x = as_value(x)
    ndim = typeof(x).ndim
    perm = tuple(reversed(range(ndim))) if perm is None else tuple(normalize_axis(int(p), ndim) for p in perm)
    if perm == tuple(range(ndim)):
        return x
    return transpose_p.bind(x, perm=perm)


# ---- reduce_sum -----------------------------------------------------------------------------------

def reduced_type(x: ArrayType, *, axes) -> ArrayType:
    return ArrayType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def restore_reduced(y, x_shape: tuple, axes: tuple):
    """Broadcast a reduced value back over the reduced `axes` of `x_shape` (keepdims, then broadcast)."""
    return broadcast_to(expand_dims(y, axes), x_shape)


def reduction_batch(op):
    """The batching rule of a reduction over `axes`: batch axis first, the reduced axes shifted by one."""
    def rule(args, dims, *, axes):
        return op(moveaxis(args[0], dims[0], 0), _axes_after_front(axes)), 0
    return rule


def _reduce_sum_simplify(s, inputs, params, out_type):
    fill = s.fill(inputs[0])
    if fill is None:
        return None
    count = int(np.prod([inputs[0].type.shape[a] for a in params["axes"]], dtype=np.int64))
    total = sum_of_uniform(fill, count, out_type)
    return None if total is None else s.uniform(total, out_type)


reduce_sum_p = Primitive(
    "reduce_sum", kind="reduction", shape_rule=reduced_type,
    impl=lambda x, *, axes: np.sum(x, axis=axes, dtype=np.result_type(x)),
    impl_variants={"torch": torch_sum},          # torch.sum's cascade order (fgrad/ops/torch_numerics.py)
    jvp=(lambda x_dot, out, x, *, axes: reduce_sum(x_dot, axes),),
    vjp=(lambda out_ct, out, x, *, axes: restore_reduced(out_ct, typeof(x).shape, axes),),
    batch=reduction_batch(lambda x, axes: reduce_sum(x, axes)), numba="reduce_sum",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=_reduce_sum_simplify,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


def reduce_sum(x, axes=None):
    """The sum of `x` over `axes` (all when None). Bool sums count in int64, as numpy's."""
    x = as_value(x)
    t = typeof(x)
    if t.dtype == np.bool_:
        x = convert_element_type(x, np.int64)
    axes = normalize_axes(axes, t.ndim)
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)
