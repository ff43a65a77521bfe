"""More of torch's namespace, shapes and index arithmetic: grids and pairs (meshgrid, cartesian_prod,
combinations, tril/triu_indices, cdist), diff, kron, cross, tensordot, diagonals, atleast_*d, stacking and
splitting helpers, flips and rotations, repeat_interleave, select, and the searches (argwhere,
masked_select, isin, searchsorted, bucketize, unique_consecutive).

Differentiable ones are compositions of the facade's own ops (reshape, expand, index_select, narrow, mul,
norm, ...), so their gradients are those ops' (fgrad's VJP rules); index computations on static values
(which positions to gather) are numpy on shapes or on integer tensors, which have no gradient.

>>> import fgrad as torch
>>> x, y = torch.meshgrid(torch.tensor([1, 2]), torch.tensor([3, 4, 5]), indexing="ij")
>>> x.shape
torch.Size([2, 3])
"""
from __future__ import annotations

import builtins
import itertools
import warnings

import numpy as np

from fgrad.facade import _dtypes, _operands
from fgrad.facade._elementwise import mul, nonzero, sub
from fgrad.facade._indexing import getitem
from fgrad.facade._linalg import matmul
from fgrad.facade._operands import as_tensor_arg
from fgrad.facade._reductions import norm
from fgrad.facade._shapes import (broadcast_tensors, cat, expand, flip, index_select, narrow, permute, reshape, split,
                                  stack, transpose, unsqueeze)
from fgrad.facade._tensor import Tensor, _dim, make

__all__ = ["meshgrid", "cartesian_prod", "combinations", "tril_indices", "triu_indices", "cdist", "diff", "kron",
           "cross", "tensordot", "diagonal", "diag_embed", "diagflat", "atleast_1d", "atleast_2d", "atleast_3d",
           "column_stack", "row_stack", "dstack", "hsplit", "vsplit", "dsplit", "fliplr", "flipud", "rot90",
           "repeat_interleave", "select", "argwhere", "masked_select", "isin", "searchsorted", "bucketize",
           "unique_consecutive", "adjoint", "ravel", "unravel_index", "scalar_tensor"]

# torch's numpy-style argument names (axis=, keepdims=) on the ops that take dim / keepdim: the facade's one
# helper for them, _operands.numpy_names, where this tree has it (it comes with the argument-conventions work)
numpy_names = getattr(_operands, "numpy_names", None) or (lambda fn: fn)


def _tensors(args) -> list:
    """The tensors of `f(a, b)` or `f([a, b])`."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    return [as_tensor_arg(t) for t in args]


# ---- grids and pairs --------------------------------------------------------------------------------------

def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors: 'ij' (matrix, the default) or 'xy' (Cartesian) indexing.

    >>> import fgrad as torch
    >>> torch.meshgrid(torch.tensor([1, 2]), torch.tensor([3, 4]), indexing="xy")[0]
    tensor([[1, 2],
            [1, 2]])
    """
    tensors = _tensors(tensors)
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    swap = indexing == "xy" and len(tensors) >= 2
    ordered = [tensors[1], tensors[0]] + tensors[2:] if swap else tensors
    shape = tuple(t._data.size for t in ordered)
    grids = []
    for i, t in enumerate(ordered):
        view = [1] * len(shape)
        view[i] = -1
        grids.append(expand(reshape(t, tuple(view)), *shape))
    if swap:
        grids = [grids[1], grids[0]] + grids[2:]
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor, one per row.

    >>> import fgrad as torch
    >>> torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([3, 4]))
    tensor([[1, 3],
            [1, 4],
            [2, 3],
            [2, 4]])
    """
    tensors = _tensors(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, -1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(input, r=2, with_replacement=False):
    """The length-r combinations of a 1-D tensor's elements, one per row (itertools' order).

    >>> import fgrad as torch
    >>> torch.combinations(torch.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    if input._data.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input._data.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return make(np.zeros((0,), input._data.dtype))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = np.array(list(pick(range(input._data.shape[0]), r)), np.int64).reshape(-1, r)
    return stack([index_select(input, 0, make(np.ascontiguousarray(rows[:, j]))) for j in range(r)], 1)


def _triangle_indices(np_fn, row, col, offset, dtype):
    rows, cols = np_fn(row, offset, col)
    return make(np.stack([rows, cols]).astype(_dtypes.to_numpy(dtype)))


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) indices of the lower triangle of a row x col matrix, as a 2 x N tensor.

    >>> import fgrad as torch
    >>> torch.tril_indices(3, 3)
    tensor([[0, 1, 1, 2, 2, 2],
            [0, 0, 1, 0, 1, 2]])
    """
    return _triangle_indices(np.tril_indices, row, col, offset, _dtypes.int64 if dtype is None else dtype)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) indices of the upper triangle of a row x col matrix, as a 2 x N tensor."""
    return _triangle_indices(np.triu_indices, row, col, offset, _dtypes.int64 if dtype is None else dtype)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distances between each row of x1 (..., P, M) and each row of x2 (..., R, M): (..., P, R).
    Computed directly (differences, then the norm), so the gradient at a zero distance is 0 as PyTorch's.

    >>> import fgrad as torch
    >>> torch.cdist(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
    tensor([[5., 1.]])
    """
    if x1._data.ndim < 2 or x2._data.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1._data.ndim}D")
    if x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1._data.shape[-1]} X2: "
                           f"{x2._data.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if x1._data.dtype.kind != "f":
        raise RuntimeError("cdist only supports floating-point dtypes, X1 got: " + _dtypes.from_numpy(
            x1._data.dtype).name.capitalize())
    return norm(sub(unsqueeze(x1, -2), unsqueeze(x2, -3)), p=float(p), dim=-1)


# ---- differences and products -----------------------------------------------------------------------------

@numpy_names
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along `dim` (with `prepend` / `append` joined first).

    >>> import fgrad as torch
    >>> torch.diff(torch.tensor([1, 3, 6, 10]))
    tensor([2, 3, 4])
    """
    if input._data.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    axis = _dim(dim, input._data.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat([_along(t, input, axis) for t in parts], axis) if len(parts) > 1 else input
    for _ in range(int(n)):
        size = x._data.shape[axis]
        if size == 0:
            break
        if x._data.dtype == np.bool_:
            from fgrad.facade._elementwise import logical_xor
            x = logical_xor(narrow(x, axis, 1, size - 1), narrow(x, axis, 0, size - 1))
        else:
            x = sub(narrow(x, axis, 1, size - 1), narrow(x, axis, 0, size - 1))
    return x


def _along(t, like, axis):
    """`t` as a tensor shaped like `like` except along `axis` (a scalar becomes one slice)."""
    t = as_tensor_arg(t)
    if t._data.ndim == 0:
        shape = list(like._data.shape)
        shape[axis] = 1
        return expand(reshape(t, (1,) * len(shape)), *shape)
    return t


def kron(input, other):
    """The Kronecker product: every element of input times the whole of other, in blocks.

    >>> import fgrad as torch
    >>> torch.kron(torch.tensor([1, 2]), torch.tensor([1, 10]))
    tensor([ 1, 10,  2, 20])
    """
    ndim = builtins.max(input._data.ndim, other._data.ndim)
    a_shape = (1,) * (ndim - input._data.ndim) + input._data.shape
    b_shape = (1,) * (ndim - other._data.ndim) + other._data.shape
    a = reshape(input, tuple(d for n in a_shape for d in (n, 1)))
    b = reshape(other, tuple(d for n in b_shape for d in (1, n)))
    return reshape(mul(a, b), tuple(m * n for m, n in zip(a_shape, b_shape)))


@numpy_names
def cross(input, other, dim=None):
    """The cross product of 3-vectors along `dim` (inputs broadcast). Without `dim`, the first dim of size 3,
    with PyTorch's deprecation warning.

    >>> import fgrad as torch
    >>> torch.cross(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), dim=0)
    tensor([0., 0., 1.])
    """
    input, other = as_tensor_arg(input), as_tensor_arg(other)
    if input._data.ndim != other._data.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    input, other = broadcast_tensors(input, other)
    shape = input._data.shape
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        sizes = [i for i, n in enumerate(shape) if n == 3]
        if not sizes:
            raise RuntimeError("no dimension of size 3 in input")
        axis = sizes[0]
    else:
        axis = _dim(dim, len(shape))
    if shape[axis] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {shape[axis]} and "
                           f"{shape[axis]}")
    a = [narrow(input, axis, i, 1) for i in range(3)]
    b = [narrow(other, axis, i, 1) for i in range(3)]
    parts = [sub(mul(a[(i + 1) % 3], b[(i + 2) % 3]), mul(a[(i + 2) % 3], b[(i + 1) % 3])) for i in range(3)]
    return cat(parts, axis)


def tensordot(a, b, dims=2, out=None):
    """The sum of products over `dims`: the last `dims` dims of a with the first of b, or the listed pairs.

    >>> import fgrad as torch
    >>> torch.tensordot(torch.ones(2, 3), torch.ones(3, 4), dims=1).shape
    torch.Size([2, 4])
    """
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        a_axes = list(range(a._data.ndim - dims, a._data.ndim))
        b_axes = list(range(dims))
    else:
        a_axes, b_axes = ([d] if isinstance(d, int) else list(d) for d in dims)
    a_axes = [_dim(d, a._data.ndim) for d in a_axes]
    b_axes = [_dim(d, b._data.ndim) for d in b_axes]
    if len(a_axes) != len(b_axes):
        raise RuntimeError("both dimension lists should have same length")
    for i, j in zip(a_axes, b_axes):
        if a._data.shape[i] != b._data.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a._data.shape[i]} in dim "
                               f"{i} and second has size {b._data.shape[j]} in dim {j}")
    a_free = [i for i in range(a._data.ndim) if i not in a_axes]
    b_free = [i for i in range(b._data.ndim) if i not in b_axes]
    k = int(np.prod([a._data.shape[i] for i in a_axes], dtype=np.int64))
    a2 = reshape(permute(a, a_free + a_axes), (-1, k))
    b2 = reshape(permute(b, b_axes + b_free), (k, -1))
    shape = tuple(a._data.shape[i] for i in a_free) + tuple(b._data.shape[i] for i in b_free)
    return reshape(matmul(a2, b2), shape)


# ---- diagonals ---------------------------------------------------------------------------------------------

def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal `offset` of the matrices in dims dim1 and dim2, as the last dim.

    >>> import fgrad as torch
    >>> torch.diagonal(torch.arange(9).reshape(3, 3), 1)
    tensor([1, 5])
    """
    ndim = input._data.ndim
    d1, d2 = _dim(dim1, ndim), _dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = [i for i in range(ndim) if i not in (d1, d2)]
    moved = permute(input, rest + [d1, d2])
    rows, cols = input._data.shape[d1], input._data.shape[d2]
    if offset >= 0:
        length = builtins.max(builtins.min(rows, cols - offset), 0)
        flat = np.arange(length, dtype=np.int64) * (cols + 1) + offset
    else:
        length = builtins.max(builtins.min(rows + offset, cols), 0)
        flat = np.arange(length, dtype=np.int64) * (cols + 1) - offset * cols
    merged = reshape(moved, tuple(input._data.shape[i] for i in rest) + (rows * cols,))
    return index_select(merged, -1, make(flat))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices with the last dim of input on their diagonal `offset` (zeros elsewhere, also next to inf
    or NaN), placed in dims dim1 and dim2 of the result.

    >>> import fgrad as torch
    >>> torch.diag_embed(torch.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    """
    n = input._data.shape[-1]
    size = n + builtins.abs(offset)
    padded = cat([input, make(np.zeros(input._data.shape[:-1] + (1,), input._data.dtype))], -1)
    source = np.full((size, size), n, np.int64)        # position n is the appended zero
    k = np.arange(n)
    rows, cols = (k, k + offset) if offset >= 0 else (k - offset, k)
    source[rows, cols] = k
    out = reshape(index_select(padded, -1, make(source.reshape(-1))), input._data.shape[:-1] + (size, size))
    ndim = out._data.ndim
    d1, d2 = _dim(dim1, ndim), _dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    order = [None] * ndim
    order[d1], order[d2] = ndim - 2, ndim - 1
    batch = iter(range(ndim - 2))
    return permute(out, [i if i is not None else next(batch) for i in order])


def diagflat(input, offset=0):
    """A matrix with the flattened input on its diagonal `offset`."""
    return diag_embed(reshape(input, -1), offset)


# ---- at least n dims, stacking and splitting ---------------------------------------------------------------

def _at_least(tensors, shape_of):
    tensors = _tensors(tensors)
    out = [reshape(t, shape_of(t._data.shape)) if t._data.ndim < len(shape_of(t._data.shape)) else t
           for t in tensors]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors):
    """Each tensor with at least one dim (0-d becomes shape (1,))."""
    return _at_least(tensors, lambda s: s if len(s) >= 1 else (1,))


def atleast_2d(*tensors):
    """Each tensor with at least two dims ((n,) becomes (1, n))."""
    return _at_least(tensors, lambda s: s if len(s) >= 2 else (1,) * (2 - len(s)) + s)


def atleast_3d(*tensors):
    """Each tensor with at least three dims (numpy's rule: (n,) becomes (1, n, 1), (m, n) becomes (m, n, 1))."""
    def shape(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
    return _at_least(tensors, shape)


def column_stack(tensors):
    """Tensors side by side as columns (1-D ones become columns)."""
    columns = [reshape(t, (-1, 1)) if t._data.ndim <= 1 else t for t in _tensors([tensors])]
    return cat(columns, 1)


def row_stack(tensors):
    """vstack (its old name)."""
    return cat([atleast_2d(t) for t in _tensors([tensors])], 0)


def dstack(tensors):
    """Tensors stacked along the third dim (after atleast_3d)."""
    return cat([atleast_3d(t) for t in _tensors([tensors])], 2)


def _numpy_style_split(name, input, sections, axis, min_ndim):
    ndim = input._data.ndim
    if ndim < min_ndim:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_ndim} dimension, but got a tensor "
                           f"with {ndim} dimensions!")
    if isinstance(sections, int):
        n = input._data.shape[axis]
        if sections == 0 or n % sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {axis}, but the size of the "
                               f"dimension {n} is not divisible by the split_size {sections}!")
        return split(input, n // sections, axis)
    return _split_at(input, list(sections), axis)


def _split_at(input, indices, axis):
    n = input._data.shape[axis]
    bounds = [builtins.min(builtins.max(i, 0), n) for i in indices]
    sizes, start = [], 0
    for b in bounds + [n]:
        sizes.append(builtins.max(b - start, 0))
        start = builtins.max(b, start)
    return split(input, sizes, axis)


def hsplit(input, sections):
    """Split along dim 1 (dim 0 for 1-D tensors) into equal parts or at the given indices."""
    axis = 0 if input._data.ndim == 1 else 1
    return _numpy_style_split("hsplit", input, sections, axis, 1)


def vsplit(input, sections):
    """Split along dim 0 into equal parts or at the given indices."""
    return _numpy_style_split("vsplit", input, sections, 0, 2)


def dsplit(input, sections):
    """Split along dim 2 into equal parts or at the given indices."""
    return _numpy_style_split("dsplit", input, sections, 2, 3)


def fliplr(input):
    """Columns in reverse order (dim 1)."""
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    """Rows in reverse order (dim 0)."""
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def rot90(input, k=1, dims=(0, 1)):
    """Rotated by 90 degrees k times, from dims[0] toward dims[1].

    >>> import fgrad as torch
    >>> torch.rot90(torch.tensor([[1, 2], [3, 4]]))
    tensor([[2, 4],
            [1, 3]])
    """
    dims = list(dims)
    ndim = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {ndim}")
    d0, d1 = _dim(dims[0], ndim), _dim(dims[1], ndim)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


@numpy_names
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element repeated `repeats` times (a number, or one count per element) along `dim` (flattened
    when None). `repeat_interleave(counts)` repeats 0, 1, 2, ... by counts.

    >>> import fgrad as torch
    >>> torch.repeat_interleave(torch.tensor([1, 2]), 2)
    tensor([1, 1, 2, 2])
    """
    if repeats is None:
        counts = input._data
        return make(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    if dim is None:
        input = reshape(input, -1)
        axis = 0
    else:
        axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.ndim == 1 and counts.size not in (1, n):
        raise RuntimeError("repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{counts.size} and input.size({axis}) = {n}")
    if (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    per_element = counts.reshape(-1) if counts.size > 1 else int(counts.reshape(-1)[0])
    positions = np.repeat(np.arange(n, dtype=np.int64), per_element)
    return index_select(input, axis, make(positions))


@numpy_names
def select(input, dim, index):
    """The slice at `index` along `dim`, that dim removed (a view, SelectBackward0)."""
    axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input._data.shape)} at "
                         f"dimension {dim}")
    return getitem(input, (slice(None),) * axis + (int(index),))


# ---- searches: integer and bool results, no gradient -------------------------------------------------------

def argwhere(input):
    """The indices of the nonzero elements, one row each."""
    return nonzero(input)


def masked_select(input, mask):
    """The elements where mask (broadcast) is True, as a 1-D tensor (gradient to the selected elements)."""
    mask = as_tensor_arg(mask)
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask")
    input, mask = broadcast_tensors(input, mask)
    return getitem(input, mask)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element is among test_elements (a bool tensor shaped like elements)."""
    values = elements._data if isinstance(elements, Tensor) else np.asarray(elements)
    tests = test_elements._data if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    return make(np.asarray(np.isin(values, tests, invert=invert)))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """Where `input`'s values would be inserted into sorted_sequence (per row of its last dim) to keep it
    sorted: before equal values, or after them with right=True / side='right'.

    >>> import fgrad as torch
    >>> torch.searchsorted(torch.tensor([1, 3, 5, 7]), torch.tensor([3, 6]))
    tensor([1, 3])
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence._data
    if sorter is not None:
        seq = np.take_along_axis(seq, sorter._data, -1)
    scalar = not isinstance(input, Tensor)
    values = np.asarray(input) if scalar else input._data
    dtype = np.int32 if out_int32 else np.int64
    if seq.ndim > 1 and seq.shape[:-1] != values.shape[:-1]:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                           "dimensions of boundaries tensor and input value tensor must match, but we got "
                           f"boundaries tensor {list(seq.shape)} and input value tensor {list(values.shape)}")
    found = _binary_search(seq, values, right)
    return make(np.asarray(found, dtype))


def _binary_search(seq, values, right):
    """PyTorch's binary search (cus_lower_bound / cus_upper_bound), vectorised: the same steps, so values
    and boundaries that are NaN or not sorted give PyTorch's positions too. `seq` is 1-D or one row per
    row of `values`' last dim."""
    n = seq.shape[-1]
    start = np.zeros(values.shape, np.int64)
    end = np.full(values.shape, n, np.int64)
    with np.errstate(invalid="ignore"):
        while (start < end).any():
            active = start < end
            mid = start + ((end - start) >> 1)
            at = np.minimum(mid, n - 1)
            mid_value = seq[at] if seq.ndim == 1 else np.take_along_axis(seq, at, -1)
            go_right = ~(mid_value > values) if right else ~(mid_value >= values)
            start = np.where(active & go_right, mid + 1, start)
            end = np.where(active & ~go_right, mid, end)
    return start


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The bucket of each value among the 1-D sorted `boundaries` (searchsorted with the roles of the
    arguments swapped)."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries._data.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


@numpy_names
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Runs of equal consecutive values collapsed to one (optionally with the inverse indices and the run
    lengths).

    >>> import fgrad as torch
    >>> torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 3, 1]))
    tensor([1, 2, 3, 1])
    """
    data = input._data
    if dim is None:
        flat = data.reshape(-1)
        starts = np.ones(flat.shape, bool)
        starts[1:] = flat[1:] != flat[:-1]
        values = flat[starts]
        inverse_shape = data.shape
    else:
        axis = _dim(dim, data.ndim)
        moved = np.moveaxis(data, axis, 0)
        starts = np.ones(moved.shape[0], bool)
        if moved.shape[0] > 1:
            starts[1:] = (moved[1:] != moved[:-1]).reshape(moved.shape[0] - 1, -1).any(axis=1)
        values = np.moveaxis(moved[starts], 0, axis)
        inverse_shape = (data.shape[axis],)
    out = [make(np.ascontiguousarray(values))]
    if return_inverse:
        out.append(make((np.cumsum(starts) - 1).astype(np.int64).reshape(inverse_shape)))
    if return_counts:
        out.append(make(np.diff(np.append(np.flatnonzero(starts), starts.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


# ---- small helpers ---------------------------------------------------------------------------------------------

def adjoint(input):
    """The conjugate transpose of the last two dims (for real tensors, the transpose: a view)."""
    if input._data.ndim < 2:
        raise RuntimeError("tensor.adjoint() is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


def ravel(input):
    """input flattened to one dim (a view when possible)."""
    return reshape(input, -1)


def unravel_index(indices, shape):
    """The coordinates in `shape` of flat indices, one int64 tensor per dim.

    >>> import fgrad as torch
    >>> torch.unravel_index(torch.tensor(5), (2, 3))
    (tensor(1), tensor(2))
    """
    indices = as_tensor_arg(indices)
    if indices._data.dtype.kind not in "iu":
        raise TypeError("expected 'indices' to be integer dtype, but got " + repr(_dtypes.from_numpy(
            indices._data.dtype)))
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = int(np.prod(shape, dtype=np.int64))
    # PyTorch does not check the range: an index outside it wraps around, as the remainder by the size
    coords = np.unravel_index(np.mod(indices._data, total) if total else indices._data, shape)
    return tuple(make(np.asarray(c, np.int64)) for c in coords)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor of `s` (the default float dtype unless given)."""
    from fgrad.facade._creation import tensor
    return tensor(float(s) if dtype is None else s, dtype=_dtypes.get_default_dtype() if dtype is None else dtype,
                  requires_grad=requires_grad)
