"""Linear algebra primitives: matmul and solve, with numpy's semantics and every rule.

The primitives see equal batch dimensions: the ops `matmul` and `solve` broadcast them with explicit
`broadcast_to`, so the rules never unbroadcast (broadcast_to's VJP does).
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, broadcast_shapes
from fgrad.ops.base import as_value, float_dtype, float_only, result_dtype, typeof
from fgrad.ops.core import (batched_args_to_front, broadcast_to, expand_dims, moveaxis, reduce_sum, reshape,
                            squeeze, transpose)
from fgrad.ops.elementwise import cast, mul, neg

__all__ = ["matmul", "matmul_p", "solve", "solve_p", "matrix_transpose"]

_MATMUL_SIGNATURE = "(n?,k),(k,m?)->(n?,m?)"


def matrix_transpose(x):
    """`x` with its last two axes swapped (numpy's `x.mT`).

    >>> matrix_transpose(np.ones((5, 2, 3))).shape
    (5, 3, 2)
    """
    ndim = typeof(x).ndim
    if ndim < 2:
        raise ValueError(f"matrix_transpose needs an array with at least 2 dimensions, got shape {typeof(x).shape}")
    return transpose(x, tuple(range(ndim - 2)) + (ndim - 1, ndim - 2))


# ---- matmul ---------------------------------------------------------------------------------------

def _check_matmul_core(a_shape: tuple, b_shape: tuple) -> None:
    """numpy's errors for operands matmul cannot contract, naming both shapes."""
    for i, shape in enumerate((a_shape, b_shape)):
        if len(shape) == 0:
            raise ValueError(f"matmul: Input operand {i} does not have enough dimensions (has 0, gufunc core with "
                             f"signature {_MATMUL_SIGNATURE} requires 1); shapes {a_shape} and {b_shape}. "
                             "Use mul for a product with a scalar")
    k_a = a_shape[-1]
    k_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc signature "
                         f"{_MATMUL_SIGNATURE} (size {k_b} is different from {k_a}); shapes {a_shape} and {b_shape}: "
                         "the last axis of a must match the second-to-last axis of b (its only axis for a vector)")


def _matmul_type(a: ArrayType, b: ArrayType) -> ArrayType:
    _check_matmul_core(a.shape, b.shape)
    if a.dtype != b.dtype:
        raise TypeError(f"the matmul primitive needs equal dtypes, got {a} and {b}; use fgrad.ops.matmul, "
                        "which promotes")
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"the matmul primitive needs equal batch dimensions, got shapes {a.shape} and {b.shape}; "
                         "use fgrad.ops.matmul, which broadcasts them")
    if a.ndim == 1:
        shape = b.shape[:-2] + b.shape[-1:] if b.ndim >= 2 else ()
    elif b.ndim == 1:
        shape = a.shape[:-1]
    else:
        shape = a.shape[:-1] + b.shape[-1:]
    return ArrayType(shape, a.dtype)


def _outer(u, v):
    """u[..., :, None] * v[..., None, :]: an outer product as a broadcast multiply, which loops fuse."""
    return mul(expand_dims(u, typeof(u).ndim), expand_dims(v, typeof(v).ndim - 1))


def _sum_batch(ct, ndim: int):
    """Sum the leading batch axes of `ct` down to `ndim` axes (a vector operand had none)."""
    extra = typeof(ct).ndim - ndim
    return reduce_sum(ct, tuple(range(extra))) if extra else ct


def _matmul_vjp_a(out_ct, out, a, b):
    # ct_a = ct @ b^T; a vector operand on either side turns the product into an outer product or a sum.
    a_nd, b_nd = typeof(a).ndim, typeof(b).ndim
    if a_nd == 1 and b_nd == 1:
        return mul(out_ct, b)
    if b_nd == 1:
        return _outer(out_ct, broadcast_to(b, typeof(out_ct).shape[:-1] + typeof(b).shape))
    if a_nd == 1 and b_nd == 2:
        return matmul(b, out_ct)
    if a_nd == 1:
        return _sum_batch(squeeze(matmul(b, expand_dims(out_ct, -1)), -1), 1)
    return matmul(out_ct, matrix_transpose(b))


def _matmul_vjp_b(out_ct, out, a, b):
    # ct_b = a^T @ ct, with the same vector cases as for a.
    a_nd, b_nd = typeof(a).ndim, typeof(b).ndim
    if a_nd == 1 and b_nd == 1:
        return mul(a, out_ct)
    if a_nd == 1:
        return _outer(broadcast_to(a, typeof(out_ct).shape[:-1] + typeof(a).shape), out_ct)
    if b_nd == 1 and a_nd == 2:
        return matmul(out_ct, a)
    if b_nd == 1:
        return _sum_batch(squeeze(matmul(expand_dims(out_ct, -2), a), -2), 1)
    return matmul(matrix_transpose(a), out_ct)


def _as_matrix_operand(x, dim, ndim: int, vector_shape, batch_rank: int):
    """A matmul operand of per-example rank `ndim` as a batched matrix: batch axis first (or none), a vector
    lifted to a row or column (`vector_shape`), and leading 1s up to `batch_rank` per-example batch axes,
    so that numpy's right-aligned broadcasting of batch axes never lines the vmap axis up with another."""
    if dim is not None:
        x = moveaxis(x, dim, 0)
    shape = typeof(x).shape
    lead, core = (shape[:1], shape[1:]) if dim is not None else ((), shape)
    if ndim == 1:
        core = vector_shape(core[0])
    ones = (1,) * (batch_rank - (len(core) - 2))
    return reshape(x, (lead if dim is not None else (1,)) + ones + core)


def _matmul_batch(args, dims):
    (a, b), (da, db) = args, dims
    a_nd = typeof(a).ndim - (da is not None)
    b_nd = typeof(b).ndim - (db is not None)
    batch_rank = max(a_nd, b_nd, 2) - 2
    a = _as_matrix_operand(a, da, a_nd, lambda k: (1, k), batch_rank)
    b = _as_matrix_operand(b, db, b_nd, lambda k: (k, 1), batch_rank)
    out = matmul(a, b)
    if b_nd == 1:
        out = squeeze(out, -1)
    if a_nd == 1:
        out = squeeze(out, -1 if b_nd == 1 else -2)
    return out, 0


# matmul is bilinear (linear in each operand alone): each input's tangent goes through the product with the
# other primal.
matmul_p = Primitive(
    "matmul", kind="call", shape_rule=_matmul_type, impl=np.matmul,
    jvp=(lambda a_dot, out, a, b: matmul(a_dot, b), lambda b_dot, out, a, b: matmul(a, b_dot)),
    vjp=(_matmul_vjp_a, _matmul_vjp_b), batch=_matmul_batch, numba="matmul",
    commutative=False, linear_in=(), expensive=True, vector_math=None, simplify=None,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


def matmul(a, b):
    """numpy's `a @ b`: vectors contract their only axis, batch axes broadcast.

    >>> matmul(np.ones((4, 2, 3)), np.ones(3)).shape
    (4, 2)
    """
    dtype = result_dtype(a, b)
    a, b = cast(a, dtype), cast(b, dtype)
    a_shape, b_shape = typeof(a).shape, typeof(b).shape
    _check_matmul_core(a_shape, b_shape)
    if len(a_shape) < 2 or len(b_shape) < 2:
        return matmul_p.bind(a, b)
    batch = _broadcast_batch("matmul", a_shape, b_shape)
    out_shape = batch + (a_shape[-2], b_shape[-1])
    # One matrix against a stack: the stack's batch axes fold into its rows (or columns), so one GEMM runs and
    # the single matrix is never broadcast (copied) once per batch member.
    if _single_matrix(b_shape) and not _single_matrix(a_shape):
        stacked = int(np.prod(a_shape[:-1], dtype=np.int64))          # (no -1: sizes may be 0)
        rows = reshape(a, (stacked, a_shape[-1]))
        return reshape(matmul_p.bind(rows, reshape(b, b_shape[-2:])), out_shape)
    if _single_matrix(a_shape) and not _single_matrix(b_shape):
        k, m = b_shape[-2:]
        stacked = int(np.prod(b_shape[:-2], dtype=np.int64))
        columns = reshape(moveaxis(reshape(b, (stacked, k, m)), 1, 0), (k, stacked * m))
        product = reshape(matmul_p.bind(reshape(a, a_shape[-2:]), columns), (a_shape[-2], stacked, m))
        return reshape(moveaxis(product, 0, 1), out_shape)
    a = broadcast_to(a, batch + a_shape[-2:])
    b = broadcast_to(b, batch + b_shape[-2:])
    return matmul_p.bind(a, b)


def _single_matrix(shape) -> bool:
    """A (..., n, k) shape whose batch axes are all 1: one matrix."""
    return all(d == 1 for d in shape[:-2])


def _broadcast_batch(name: str, a_shape: tuple, b_shape: tuple) -> tuple:
    try:
        return broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch dimensions of shapes {a_shape} and {b_shape} (all but the last two axes) "
                         "cannot be broadcast together") from None


# ---- solve ----------------------------------------------------------------------------------------

def _check_square(name: str, a_shape: tuple) -> None:
    if len(a_shape) < 2 or a_shape[-1] != a_shape[-2]:
        raise np.linalg.LinAlgError(f"{name}: Last 2 dimensions of the array must be square; a must have shape "
                                    f"(..., n, n), got {a_shape}")


def _solve_type(a: ArrayType, b: ArrayType) -> ArrayType:
    _check_square("solve", a.shape)
    if b.ndim < 2 or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"the solve primitive needs b of shape a.shape[:-1] + (k,), got shapes {a.shape} and "
                         f"{b.shape}; use fgrad.ops.solve, which takes vectors and broadcasts batch dimensions")
    if a.dtype != b.dtype:
        raise TypeError(f"the solve primitive needs equal dtypes, got {a} and {b}; use fgrad.ops.solve, "
                        "which promotes")
    return b


def _solve_vjp_b(out_ct, out, a, b):
    # The cotangent of b solves the transposed system: a^T ct_b = ct.
    return solve(matrix_transpose(a), out_ct)


def _solve_vjp_a(out_ct, out, a, b):
    # x = a^{-1} b gives ct_a = -(a^{-T} ct) x^T, a batched outer product when x has one column.
    return neg(matmul(_solve_vjp_b(out_ct, out, a, b), matrix_transpose(out)))


# x_dot = a^{-1} (b_dot - a_dot x): each input's share of it below.
solve_p = Primitive(
    "solve", kind="call", shape_rule=float_only(_solve_type), impl=np.linalg.solve,
    jvp=(lambda a_dot, out, a, b: neg(solve(a, matmul(a_dot, out))),
         lambda b_dot, out, a, b: solve(a, b_dot)),
    vjp=(_solve_vjp_a, _solve_vjp_b),
    batch=lambda args, dims: (solve_p.bind(*batched_args_to_front(args, dims)), 0), numba="solve",
    commutative=False, linear_in=(1,), expensive=True, vector_math=None, simplify=None,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


def solve(a, b):
    """numpy.linalg.solve: x with a @ x = b, for a of shape (..., n, n) and b of shape (..., n, k), or (n,) when
    b is 1-D (one vector, solved against every matrix of a). Batch axes broadcast; ints compute in float64.

    >>> solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    dtype = float_dtype(result_dtype(a, b))
    a, b = cast(a, dtype), cast(b, dtype)
    a_shape, b_shape = typeof(a).shape, typeof(b).shape
    _check_square("solve", a_shape)
    if len(b_shape) == 0 or (len(b_shape) == 1 and b_shape[0] != a_shape[-1]) or \
            (len(b_shape) >= 2 and b_shape[-2] != a_shape[-1]):
        raise ValueError(f"solve: b must have shape (n,) or (..., n, k) with n = {a_shape[-1]} from a; got shapes "
                         f"{a_shape} and {b_shape}")
    vector = len(b_shape) == 1
    if vector:
        b = expand_dims(b, 1)       # a column; numpy treats only a 1-D b as a vector
        b_shape = typeof(b).shape
    batch = _broadcast_batch("solve", a_shape, b_shape)
    x = solve_p.bind(broadcast_to(a, batch + a_shape[-2:]), broadcast_to(b, batch + b_shape[-2:]))
    return squeeze(x, len(batch) + 1) if vector else x
