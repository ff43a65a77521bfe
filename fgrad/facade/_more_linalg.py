"""More of torch's namespace, products with a scaled accumulator (addmv, addr, baddbmm, addbmm), vdot, dist,
block_diag, vander, trapezoid / cumulative_trapezoid, renorm: compositions of the facade's ops, so their
gradients are those ops'.

>>> import fgrad as torch
>>> torch.addmv(torch.ones(2), torch.eye(2), torch.tensor([1.0, 2.0]), beta=2.0)
tensor([3., 4.])
"""
from __future__ import annotations

import builtins

import numpy as np

from fgrad.facade import _dtypes, _operands
from fgrad.facade._creation import ones_like, zeros
from fgrad.facade._elementwise import add, mul, sub, where
from fgrad.facade._linalg import bmm, dot, mv, outer
from fgrad.facade._operands import as_tensor_arg, result_type
from fgrad.facade._reductions import cumprod, cumsum, norm, sum
from fgrad.facade._shapes import cat, expand, flip, narrow, reshape, unsqueeze
from fgrad.facade._tensor import _dim

__all__ = ["addmv", "addr", "baddbmm", "addbmm", "vdot", "dist", "block_diag", "vander", "trapezoid", "trapz",
           "cumulative_trapezoid", "renorm"]

# torch's numpy-style argument names (axis=, keepdims=) on the ops that take dim / keepdim: the facade's one
# helper for them, _operands.numpy_names, where this tree has it (it comes with the argument-conventions work)
numpy_names = getattr(_operands, "numpy_names", None) or (lambda fn: fn)


def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product; with beta == 0, input is not read (its NaN and inf do not propagate)."""
    scaled = product if alpha == 1 else mul(product, alpha)
    if beta == 0:
        return _broadcast_like(scaled, input)
    return add(input if beta == 1 else mul(input, beta), scaled)


def _broadcast_like(product, input):
    shape = np.broadcast_shapes(tuple(product.shape), tuple(input.shape))
    return product if tuple(product.shape) == shape else expand(product, *shape).clone()


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2)."""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2), batch by batch."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * the sum over the batch of batch1[i] @ batch2[i]."""
    return _scaled_sum(input, sum(bmm(batch1, batch2), 0), beta, alpha)


def vdot(input, other):
    """The dot product of two 1-D tensors (real tensors: dot)."""
    return dot(input, other)


def dist(input, other, p=2):
    """The p-norm of input - other.

    >>> import fgrad as torch
    >>> torch.dist(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
    tensor(5.)
    """
    return norm(sub(input, other), p=float(p))


def block_diag(*tensors):
    """The tensors as blocks along the diagonal of one matrix (0-d as 1 x 1, 1-D as one row), zeros elsewhere.

    >>> import fgrad as torch
    >>> torch.block_diag(torch.tensor([[1, 2]]), torch.tensor(3))
    tensor([[1, 2, 0],
            [0, 0, 3]])
    """
    blocks = []
    for i, t in enumerate(tensors):
        t = as_tensor_arg(t)
        if t.dim() > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.dim()} dimensions")
        blocks.append(reshape(t, (1, -1)) if t.dim() < 2 else t)
    if not blocks:
        return zeros((1, 0))
    dtype = _dtypes.from_numpy(result_type(*blocks))
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        b = b if b.dtype is dtype else b.to(dtype)
        r, c = b.shape
        parts = [zeros((r, left), dtype=dtype), b, zeros((r, width - left - c), dtype=dtype)]
        rows.append(cat([p for p in parts if p.shape[1] or p is b], 1))
        left += c
    return cat(rows, 0)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D tensor: columns x**(N-1), ..., x**0 (reversed when increasing), as
    running products (ints in int64)."""
    if x.dim() != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x.dtype.is_floating_point:
        base = x
    else:
        base = x.to(_dtypes.int64)
    if n == 0:
        return zeros((x.shape[0], 0), dtype=base.dtype)
    columns = [reshape(ones_like(base), (-1, 1))]
    if n > 1:
        columns.append(expand(unsqueeze(base, 1), x.shape[0], n - 1))
    powers = cumprod(cat(columns, 1), 1)
    return powers if increasing else flip(powers, (1,))


def _pair_sums(y, axis):
    n = y.shape[axis]
    return add(narrow(y, axis, 1, n - 1), narrow(y, axis, 0, n - 1))


def _spacing(x, y, axis):
    """The differences of the sample points x along `axis` (a 1-D x: along its only dim, placed at y's axis)."""
    x = as_tensor_arg(x)
    along = -1 if x.dim() == 1 else axis
    n = x.shape[along]
    spacing = sub(narrow(x, along, 1, n - 1), narrow(x, along, 0, n - 1))
    if x.dim() == 1 and y.dim() > 1:
        spacing = reshape(spacing, (-1,) + (1,) * (y.dim() - axis - 1))
    return spacing


@numpy_names
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The integral of y along `dim` by the trapezoid rule, at spacing dx (1 by default) or at points x.

    >>> import fgrad as torch
    >>> torch.trapezoid(torch.tensor([1.0, 2.0, 3.0]))
    tensor(4.)
    """
    axis = _dim(dim, y.dim())
    if y.shape[axis] == 0:
        return sum(y, axis)
    if x is not None:
        return sum(mul(_spacing(x, y, axis), _pair_sums(y, axis)), axis) / 2.0
    step = 1.0 if dx is None else dx
    first, last = narrow(y, axis, 0, 1), narrow(y, axis, y.shape[axis] - 1, 1)
    ends = reshape(add(first, last), tuple(s for i, s in enumerate(y.shape) if i != axis))
    return mul(sub(sum(y, axis), mul(ends, 0.5)), step)


@numpy_names
def trapz(y, x=None, *, dx=None, dim=-1):
    """trapezoid (its older name)."""
    return trapezoid(y, x, dx=dx, dim=dim)


@numpy_names
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running integral of y along `dim` by the trapezoid rule (one element fewer than y)."""
    axis = _dim(dim, y.dim())
    if x is not None:
        return cumsum(mul(_spacing(x, y, axis), _pair_sums(y, axis)) / 2.0, axis)
    step = 1.0 if dx is None else dx
    return cumsum(mul(_pair_sums(y, axis), step / 2.0), axis)


@numpy_names
def renorm(input, p, dim, maxnorm):
    """input with each slice along `dim` whose p-norm exceeds maxnorm scaled down to norm maxnorm.

    >>> import fgrad as torch
    >>> torch.renorm(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 2, 0, 1.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported")
    axis = _dim(dim, input.dim())
    others = tuple(i for i in range(input.dim()) if i != axis)
    norms = norm(input, p=float(p), dim=others, keepdim=True)
    factor = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return mul(input, factor)
