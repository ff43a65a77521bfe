"""fgrad.numpy's products (matmul, dot, tensordot, ...) and the `fnp.linalg` namespace (norm, solve)."""
from __future__ import annotations

import builtins
import math
import sys
import types

import numpy as np

import fgrad.ops as ops
from fgrad.numpy._arguments import arg
from fgrad.numpy._constants import inf
from fgrad.numpy._elementwise import power
from fgrad.numpy._reductions import max, min, sum
from fgrad.numpy._shapes import ravel
from fgrad.ops.base import float_dtype, typeof
from fgrad.ops.core import normalize_axis


def matmul(x1, x2):
    """numpy.matmul (`@`): vectors contract their only axis, batch axes broadcast.

    >>> fnp.matmul(np.ones((4, 2, 3)), np.ones(3)).shape
    (4, 2)
    """
    return ops.matmul(arg(x1), arg(x2))


def tensordot(a, b, axes=2):
    """numpy.tensordot: contract a's `axes[0]` with b's `axes[1]` (an int n means a's last n with b's first n),
    as one matmul of the transposed, reshaped operands.

    >>> fnp.tensordot(np.ones((2, 3, 4)), np.ones((3, 4, 5))).shape
    (2, 5)
    """
    a, b = arg(a), arg(b)
    sa, sb = typeof(a).shape, typeof(b).shape
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        axes_a, axes_b = list(range(len(sa) - n, len(sa))), list(range(n))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    axes_a = [normalize_axis(int(i), len(sa)) for i in axes_a]
    axes_b = [normalize_axis(int(i), len(sb)) for i in axes_b]
    if len(axes_a) != len(axes_b) or builtins.any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"shape-mismatch for sum: tensordot contracts axes {axes_a} of shape {sa} with axes "
                         f"{axes_b} of shape {sb}, whose sizes differ")
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    k = math.prod(sa[i] for i in axes_a)
    a2 = ops.reshape(ops.transpose(a, free_a + axes_a), (math.prod(sa[i] for i in free_a), k))
    b2 = ops.reshape(ops.transpose(b, axes_b + free_b), (k, math.prod(sb[j] for j in free_b)))
    return ops.reshape(ops.matmul(a2, b2), [sa[i] for i in free_a] + [sb[j] for j in free_b])


def dot(a, b):
    """numpy.dot: a product with a scalar, matmul up to 2-D (and N-D by a vector), else a tensordot of a's last
    axis with b's second-to-last.

    >>> fnp.dot(np.ones((2, 3)), np.ones(3))
    array([3., 3.])
    """
    a, b = arg(a), arg(b)
    na, nb = typeof(a).ndim, typeof(b).ndim
    if na == 0 or nb == 0:
        return ops.mul(a, b)
    if nb == 1 or (na <= 2 and nb <= 2):
        return ops.matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 2]))


def vdot(a, b):
    """numpy.vdot (real arrays): the dot product of the flattened arrays.

    >>> fnp.vdot(np.ones((2, 2)), np.ones((2, 2)))
    np.float64(4.0)
    """
    return ops.matmul(ravel(a), ravel(b))


def outer(a, b):
    """numpy.outer: out[i, j] = a.ravel()[i] * b.ravel()[j].

    >>> fnp.outer(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
    array([[ 1., 10.],
           [ 2., 20.]])
    """
    return ops.mul(ops.expand_dims(ravel(a), 1), ops.expand_dims(ravel(b), 0))


def _vector_norm(x, ord, axis: int, keepdims: bool):
    if ord == inf:
        return max(ops.abs(x), axis, keepdims=keepdims)
    if ord == -inf:
        return min(ops.abs(x), axis, keepdims=keepdims)
    if ord == 0:
        return sum(ops.cast(ops.ne(x, 0), typeof(x).dtype), axis, keepdims=keepdims)
    if ord == 1:
        return sum(ops.abs(x), axis, keepdims=keepdims)
    if ord is None or ord == 2:
        return ops.sqrt(sum(ops.mul(x, x), axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    total = sum(power(ops.abs(x), ord), axis, keepdims=keepdims)
    return ops.pow(total, 1.0 / ord)


def _matrix_norm(x, ord, axes: tuple, keepdims: bool):
    row, col = axes
    if row == col:
        raise ValueError("Duplicate axes given.")
    if isinstance(ord, str) and ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        raise NotImplementedError(f"linalg.norm with ord={ord!r} needs singular values (an SVD), which fgrad does not "
                                  "have; use the Frobenius norm (ord=None) or ord=1 / inf")
    absx = ops.abs(x)
    if ord in (1, -1):
        reduce_cols = max if ord == 1 else min
        out = reduce_cols(sum(absx, row), col - 1 if col > row else col)
    elif ord in (inf, -inf):
        reduce_rows = max if ord == inf else min
        out = reduce_rows(sum(absx, col), row - 1 if row > col else row)
    elif ord is None or ord in ("fro", "f"):
        out = ops.sqrt(sum(ops.mul(x, x), (row, col)))
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    if keepdims:
        kept = list(typeof(x).shape)
        kept[row] = kept[col] = 1
        out = ops.reshape(out, kept)
    return out


def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: vector norms (2, 1, inf, -inf, 0, p) along one axis, matrix norms (Frobenius, 1, inf)
    over two; the 2-norm of everything when axis and ord are None.

    >>> fnp.linalg.norm(np.array([3.0, 4.0]))
    np.float64(5.0)
    """
    x = arg(x)
    x = ops.cast(x, float_dtype(typeof(x).dtype))
    ndim_ = typeof(x).ndim
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim_ == 2) or (ord == 2 and ndim_ == 1):
            flat = ravel(x)
            out = ops.sqrt(ops.matmul(flat, flat))
            return ops.reshape(out, (1,) * ndim_) if keepdims else out
        axis = tuple(range(ndim_))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(normalize_axis(int(a), ndim_) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"Improper number of dimensions to norm: axis {axis} of an array of shape {typeof(x).shape}")


def _linalg_solve(a, b):
    """numpy.linalg.solve: x with a @ x = b (batched; b a vector or a stack of columns).

    >>> fnp.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    return ops.solve(arg(a), arg(b))


_linalg_norm.__name__ = _linalg_norm.__qualname__ = "norm"
_linalg_solve.__name__ = _linalg_solve.__qualname__ = "solve"

linalg = types.ModuleType(__package__ + ".linalg", "numpy.linalg's functions in fgrad: norm and solve.")
linalg.norm = _linalg_norm
linalg.solve = _linalg_solve
sys.modules[linalg.__name__] = linalg
