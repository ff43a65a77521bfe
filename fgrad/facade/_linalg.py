"""Matrix products as PyTorch dispatches them (dot, mv, mm, bmm, folded batches), addmm, outer."""
from __future__ import annotations

import builtins

import numpy as np

from fgrad import ops
from fgrad.facade._dtypes import c_type_name
from fgrad.facade._elementwise import mul
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _check_broadcast, _dtype_name
from fgrad.facade._reductions import sum
from fgrad.facade._shapes import _SQUEEZE_INPLACE, _UNSAFE_VIEW, expand, reshape, squeeze, unsqueeze
from fgrad.facade._tensor import Tensor

__all__ = ["mm", "mv", "dot", "bmm", "matmul", "addmm", "outer", "trace", "diag", "inner", "ger", "tril", "triu"]


# ---- linear algebra -------------------------------------------------------------------------------------

def _matmul_fn(a, b):
    return ops.matmul(a, b)


_MM = FacadeOp("mm", _matmul_fn, "MmBackward0")
_MV = FacadeOp("mv", _matmul_fn, "MvBackward0")
_DOT = FacadeOp("dot", _matmul_fn, "DotBackward0")
_BMM = FacadeOp("bmm", _matmul_fn, "BmmBackward0")


def _same_dtype(name, a, b):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {c_type_name(a._data.dtype)} != "
                           f"{c_type_name(b._data.dtype)}"
                           if name in ("mm", "matmul", "addmm") else
                           f"{name}: expected both vectors to have same dtype, but found {_dtype_name(a._data.dtype)} "
                           f"and {_dtype_name(b._data.dtype)}" if name == "dot" else
                           f"expected scalar type {_dtype_name(a._data.dtype)} but found {_dtype_name(b._data.dtype)}")


def mm(input, mat2):
    """The matrix product of two 2-D tensors (MmBackward0)."""
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                           f"{b.shape[0]}x{b.shape[1]})")
    _same_dtype("mm", input, mat2)
    return apply(_MM, (input, mat2))


def mv(input, vec):
    """Matrix times vector (MvBackward0)."""
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
                           f"vec ({v.shape[0]})")
    _same_dtype("mv", input, vec)
    return apply(_MV, (input, vec))


def dot(input, other):
    """The inner product of two 1-D tensors (DotBackward0)."""
    a, b = input._data, other._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                           f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                           "respectively")
    _same_dtype("dot", input, other)
    return apply(_DOT, (input, other))


inner = dot


def bmm(input, mat2):
    """Batched matrix product of two 3-D tensors (BmmBackward0)."""
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, "
                           f"{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    _same_dtype("bmm", input, mat2)
    return apply(_BMM, (input, mat2))


def matmul(input, other):
    """PyTorch's matmul: dot, mv, mm, or a batched product with broadcast batch dims (folded into mm or
    bmm as PyTorch does, so the nodes are the same)."""
    for position, (name, value) in enumerate((("input", input), ("other", other)), 1):
        if not isinstance(value, Tensor):
            kind = type(value)
            kind = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
            raise TypeError(f"matmul(): argument '{name}' (position {position}) must be Tensor, not {kind}")
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    if a.ndim == 1 and b.ndim == 1:
        return dot(input, other)
    if a.ndim == 2 and b.ndim == 1:
        return mv(input, other)
    if a.ndim == 1 and b.ndim == 2:
        return apply(_SQUEEZE_INPLACE, (mm(unsqueeze(input, 0), other),), ((0,),))
    if a.ndim == 2 and b.ndim == 2:
        return mm(input, other)
    _same_dtype("matmul", input, other)
    if b.ndim <= 2:
        # (..., n, k) @ (k, m) or (k,): fold the batch into the rows of one mm
        k = a.shape[-1]
        if b.shape[0] != k:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({int(np.prod(a.shape[:-1]))}x{k} and "
                               f"{b.shape[0]}x{b.shape[-1] if b.ndim == 2 else 1})")
        rows = reshape(input, -1, k)
        if b.ndim == 1:
            return apply(_UNSAFE_VIEW, (mv(rows, other),), (a.shape[:-1],))
        return apply(_UNSAFE_VIEW, (mm(rows, other),), (a.shape[:-1] + b.shape[-1:],))
    lifted_a = unsqueeze(input, 0) if a.ndim == 1 else input
    lifted_b = unsqueeze(other, -1) if b.ndim == 1 else other
    sa, sb = lifted_a._data.shape, lifted_b._data.shape
    if sa[-1] != sb[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{int(np.prod(sa[:-2]))}, {sa[-1]}] but got: [{int(np.prod(sb[:-2]))}, {sb[-2]}].")
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    left = reshape(expand(lifted_a, batch + sa[-2:]), -1, sa[-2], sa[-1])
    right = reshape(expand(lifted_b, batch + sb[-2:]), -1, sb[-2], sb[-1])
    out = apply(_UNSAFE_VIEW, (bmm(left, right),), (batch + (sa[-2], sb[-1]),))
    if a.ndim == 1:
        out = squeeze(out, -2)
    if b.ndim == 1:
        out = squeeze(out, -1)
    return out


def _addmm_fn(bias, a, b, beta, alpha):
    product = ops.matmul(a, b)
    if alpha != 1:
        product = ops.mul(product, alpha)
    scaled = bias if beta == 1 else ops.mul(bias, beta)
    _check_broadcast(tuple(bias.shape), tuple(product.shape))
    return ops.add(scaled, product) if beta != 0 else product


_ADDMM = FacadeOp("addmm", _addmm_fn, "AddmmBackward0")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) (AddmmBackward0), the op nn.Linear's forward uses."""
    if mat1._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError("mat1 must be a matrix, got " f"{mat1._data.ndim}-D tensor")
    if mat1._data.shape[1] != mat2._data.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1._data.shape[0]}x{mat1._data.shape[1]} "
                           f"and {mat2._data.shape[0]}x{mat2._data.shape[1]})")
    _same_dtype("addmm", mat1, mat2)
    return apply(_ADDMM, (input, mat1, mat2), (beta, alpha))


def outer(input, vec2):
    """The outer product of two vectors (MulBackward0 of a column and a row, as PyTorch)."""
    return mul(reshape(input, -1, 1), vec2)


ger = outer


def trace(input):
    if input._data.ndim != 2:
        raise RuntimeError("trace: expected a matrix")
    n = builtins.min(input._data.shape)
    return sum(reshape(input, -1)[:: input._data.shape[1] + 1][:n]) if n else sum(input)


_DIAG_EMBED = FacadeOp("diag_embed", lambda x, on_diagonal: ops.select(on_diagonal, x, 0), "DiagEmbedBackward0",
                       nondiff=(1,))


def diag(input, diagonal=0):
    """The diagonal of a matrix, or a matrix with the vector on its diagonal."""
    if diagonal != 0:
        raise NotImplementedError("fgrad's diag supports the main diagonal only")
    if input._data.ndim == 1:
        # The vector selected onto the diagonal (DiagEmbedBackward0): zeros elsewhere, also next to NaN or inf,
        # where multiplying by an identity matrix would give NaN.
        n = input._data.shape[0]
        return apply(_DIAG_EMBED, (input, np.eye(n, dtype=bool)))
    n = builtins.min(input._data.shape)
    return reshape(input, -1)[:: input._data.shape[1] + 1][:n]


def _triangle(input, diagonal, op, keep):
    """input with the elements outside a triangle of its last two dims zeroed (`keep`: np.tril or np.triu)."""
    if input._data.ndim < 2:
        raise RuntimeError(f"{op.name}: input tensor must have at least 2 dimensions")
    mask = keep(np.ones(input._data.shape[-2:], np.bool_), int(diagonal))
    return apply(op, (input, mask))


_TRIL = FacadeOp("tril", lambda x, mask: ops.select(mask, x, 0), "TrilBackward0", nondiff=(1,))
_TRIU = FacadeOp("triu", lambda x, mask: ops.select(mask, x, 0), "TriuBackward0", nondiff=(1,))


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (on and below the `diagonal`-th diagonal), zeros above
    (TrilBackward0).

    >>> import fgrad as torch
    >>> torch.ones(2, 2).tril()
    tensor([[1., 0.],
            [1., 1.]])
    """
    return _triangle(input, diagonal, _TRIL, np.tril)


def triu(input, diagonal=0):
    """The upper triangle of the last two dims, zeros below (TriuBackward0)."""
    return _triangle(input, diagonal, _TRIU, np.triu)
