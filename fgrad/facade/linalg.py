"""torch.linalg: norms (norm, vector_norm, matrix_norm), solve and inv, on fgrad's primitives.

What fgrad has primitives for is here: the norms are sums, maxima and square roots; solve is the `solve` primitive
(LAPACK's gesv) and inv solves against the identity. Decompositions (det, cholesky, qr, svd, eigh) and the norms that
need singular values (matrix_norm's 'nuc', 2 and -2) are not: they raise NotImplementedError saying so.
"""
from __future__ import annotations

import math

import numpy as np

from fgrad import ops
from fgrad.facade import _dtypes
from fgrad.facade._elementwise import abs as _abs
from fgrad.facade._linalg import matmul
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _axes, _dtype_name, as_tensor_arg
from fgrad.facade._reductions import _NORM, amax, amin, sum as _sum
from fgrad.facade._tensor import _dim

__all__ = ["norm", "vector_norm", "matrix_norm", "solve", "inv", "matmul", "LinAlgError"]


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a singular matrix where an invertible one was needed."""


# ---- norms -------------------------------------------------------------------------------------------------------

def _float_dtype(name: str, input, dtype) -> np.dtype:
    out = _dtypes.to_numpy(dtype) if dtype is not None else input._data.dtype
    if out.kind != "f":
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as input. Got "
                           f"{_dtype_name(out)}")
    return out


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ord-norm of x over `dim` (all elements when None): sum(|x|**ord)**(1/ord), with ord inf / -inf
    the largest / smallest |x| and ord 0 the count of non-zeros (LinalgVectorNormBackward0).

    >>> torch.linalg.vector_norm(torch.tensor([3.0, 4.0]))
    tensor(5.)
    """
    x = as_tensor_arg(x)
    out_dtype = _float_dtype("vector_norm", x, dtype)
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    ndim = x._data.ndim
    axes = tuple(range(ndim)) if dim is None else _axes(dim, ndim)
    return apply(_NORM, (x,), (float(ord), axes, bool(keepdim), out_dtype))


def _matrix_dims(name: str, A, dim) -> tuple:
    if A._data.ndim < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    rows, cols = (_dim(d, A._data.ndim) for d in dim)
    if rows == cols:
        raise RuntimeError(f"linalg.{name}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return rows, cols


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The matrix norm of A over the two dims `dim`: 'fro' (Frobenius: the 2-norm of the entries), 1 / -1 (the
    largest / smallest column sum of |A|), inf / -inf (the largest / smallest row sum). 'nuc', 2 and -2 need
    singular values, which fgrad does not compute.

    >>> torch.linalg.matrix_norm(torch.tensor([[1.0, -2.0], [3.0, 4.0]]), 1)
    tensor(6.)
    """
    A = as_tensor_arg(A)
    rows, cols = _matrix_dims("matrix_norm", A, dim)
    if dtype is not None:
        A = A.to(dtype)
    _float_dtype("matrix_norm", A, None)
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm(ord={ord!r}) needs singular values (an SVD), which fgrad does "
                                  "not have; use ord='fro', 1, -1, inf or -inf")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    summed, kept = (rows, cols) if abs(ord) == 1 else (cols, rows)   # column sums for 1, row sums for inf
    if not keepdim and kept > summed:
        kept -= 1
    pick = amax if ord > 0 else amin
    return pick(_sum(_abs(A), summed, keepdim), kept, keepdim)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm over one dim, a matrix norm over two; with dim=None, the 2-norm of all
    elements when ord is None, else the vector (1-d A) or matrix (2-d A) norm of order `ord`.

    >>> torch.linalg.norm(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    tensor(5.)
    """
    A = as_tensor_arg(A)
    ndim = A._data.ndim
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                               f"{ndim}D.")
        dim = tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if len(dims) == 1:
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
    if len(dims) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")


# ---- solve, inv --------------------------------------------------------------------------------------------------

def _solve_fn(a, b, batched_vectors):
    if batched_vectors:     # b of shape a.shape[:-1]: one column per matrix
        return ops.squeeze(ops.solve(a, ops.expand_dims(b, -1)), -1)
    return ops.solve(a, b)


_SOLVE = FacadeOp("solve", _solve_fn, "LinalgSolveExBackward0", variant=None)
_INV = FacadeOp("inv", lambda a: ops.solve(a, ops.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), tuple(a.shape))),
                "LinalgInvExBackward0", variant=None)


def _check_square(name: str, A):
    shape = A._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    if shape[-1] != shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are {shape[-2]} by "
                           f"{shape[-1]} matrices")
    _float_dtype(name, A, None)


def _solved(name: str, op, args, static=()):
    try:
        return apply(op, args, static)
    except np.linalg.LinAlgError:
        raise LinAlgError(f"linalg.{name}: The solver failed because the input matrix is singular.") from None


def solve(A, B, *, left=True, out=None):
    """X with A @ X = B (batched, broadcast). B is a vector (or a batch of vectors) when it is 1-d or has A's
    shape without its last dim, as PyTorch decides (LinalgSolveExBackward0).

    >>> torch.linalg.solve(torch.tensor([[2.0, 0.0], [0.0, 4.0]]), torch.tensor([2.0, 2.0]))
    tensor([1.0000, 0.5000])
    """
    if not left:
        raise NotImplementedError("linalg.solve(left=False) is not supported; solve A.mT @ X.mT = B.mT instead")
    if out is not None:
        raise NotImplementedError("linalg.solve(out=...) is not supported; use the returned tensor")
    A, B = as_tensor_arg(A), as_tensor_arg(B)
    _check_square("solve", A)
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                           f"{_dtype_name(A._data.dtype)} and B of type {_dtype_name(B._data.dtype)} instead")
    batched_vectors = B._data.ndim > 1 and B._data.ndim == A._data.ndim - 1 and B._data.shape == A._data.shape[:-1]
    return _solved("solve", _SOLVE, (A, B), (batched_vectors,))


def inv(A, *, out=None):
    """The inverse of each square matrix of A (LinalgInvExBackward0); a singular matrix raises LinAlgError.

    >>> torch.linalg.inv(torch.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    if out is not None:
        raise NotImplementedError("linalg.inv(out=...) is not supported; use the returned tensor")
    A = as_tensor_arg(A)
    _check_square("inv", A)
    return _solved("inv", _INV, (A,))


def _missing(name: str):
    def missing(*args, **kwargs):
        raise NotImplementedError(f"torch.linalg.{name} needs a matrix decomposition, which fgrad does not have (its "
                                  "linear algebra primitives are matmul and solve); compute it with numpy or "
                                  "scipy on tensor.detach().numpy() if no gradient is needed")
    missing.__name__ = name
    return missing


det = _missing("det")
slogdet = _missing("slogdet")
cholesky = _missing("cholesky")
qr = _missing("qr")
svd = _missing("svd")
svdvals = _missing("svdvals")
eigh = _missing("eigh")
eig = _missing("eig")
