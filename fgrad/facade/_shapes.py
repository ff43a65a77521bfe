"""Shape and view ops (views share storage), joining and splitting, gather and index_select."""
from __future__ import annotations

import builtins
import warnings

import numpy as np

from fgrad import ops
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _axes, _cast, _out, as_tensor_arg, numpy_names, result_type
from fgrad.facade._reductions import take_along_axis
from fgrad.facade._tensor import _dim

__all__ = ["view", "reshape", "clone", "contiguous", "flatten", "unflatten", "view_as", "reshape_as", "transpose",
           "permute", "t", "T", "mT", "mH", "H", "squeeze", "unsqueeze", "expand", "expand_as", "broadcast_to",
           "broadcast_tensors", "repeat", "flip", "narrow", "split", "chunk", "tensor_split", "unbind", "cat",
           "stack", "hstack", "vstack", "gather", "index_select", "take", "swapaxes", "swapdims", "concat",
           "concatenate", "movedim", "moveaxis"]


# ---- shape and view ops ------------------------------------------------------------------------------

def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(d) for d in shape)


def _infer_shape(shape, numel: int) -> tuple:
    """A target shape with one -1 resolved, or PyTorch's RuntimeError."""
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for d in shape:
        if d < -1:
            raise RuntimeError(f"invalid shape dimension {d}")
    if unknown:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    elif int(np.prod(shape, dtype=np.int64)) != numel:
        raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}")
    return shape


_VIEW = FacadeOp("view", lambda x, shape: ops.reshape(x, shape), "ViewBackward0", view=True)
_UNSAFE_VIEW = FacadeOp("reshape", lambda x, shape: ops.reshape(x, shape), "UnsafeViewBackward0", view=True)
_CLONE = FacadeOp("clone", lambda x: x, "CloneBackward0")


def view(input, *shape):
    """The same storage seen with a new shape (ViewBackward0); the tensor must be laid out compatibly."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        return input.to(shape[0])
    shape = _infer_shape(_shape_arg(shape), input._data.size)
    if not _reshapes_in_place(input._data, shape):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return apply(_VIEW, (input,), (shape,))


def reshape(input, *shape):
    """A tensor of the new shape: a view when the layout allows (ViewBackward0), else a copy."""
    shape = _infer_shape(_shape_arg(shape), input._data.size)
    if not _reshapes_in_place(input._data, shape):
        return apply(_UNSAFE_VIEW, (clone(input),), (shape,))
    return apply(_VIEW, (input,), (shape,))


def _reshapes_in_place(data, shape) -> bool:
    """Whether numpy can reshape `data` without a copy (its layout allows a view). A value traced by a
    transform (fgrad.func) has no layout yet: it always can."""
    if type(data) is not np.ndarray:
        return True
    try:
        data.reshape(shape, copy=False)
    except ValueError:
        return False
    return True


def clone(input, *, memory_format=None):
    """A copy with its own storage (CloneBackward0)."""
    return apply(_CLONE, (input,))


def contiguous(input, memory_format=None):
    data = input._data
    if type(data) is not np.ndarray or data.flags.c_contiguous:     # a traced value has no layout yet
        return input
    result = clone(input)        # CloneBackward0, as PyTorch's; clone keeps the layout (preserve_format),
    result._data = np.ascontiguousarray(result._data)       # so the new tensor's copy is laid out row-major
    return result


def flatten(input, start_dim=0, end_dim=-1):
    """Dims start_dim..end_dim merged into one (a view when possible)."""
    ndim = input._data.ndim
    if ndim == 0:
        return reshape(input, 1)
    start, end = _dim(start_dim, ndim), _dim(end_dim, ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input._data.shape
    if start == end:
        return input
    return reshape(input, shape[:start] + (-1,) + shape[end + 1:])


@numpy_names
def unflatten(input, dim, sizes):
    """Dim `dim` split into dims of `sizes` (one may be -1) (a view when possible).

    >>> import fgrad as torch
    >>> torch.zeros(2, 6).unflatten(1, (3, -1)).shape
    torch.Size([2, 3, 2])
    """
    axis = _dim(dim, input._data.ndim)
    shape = input._data.shape
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten: only one dimension can be inferred")
    known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
    n = shape[axis]
    if (-1 not in sizes and known != n) or (-1 in sizes and (known == 0 or n % known)):
        raise RuntimeError(f"unflatten: Provided sizes [{', '.join(map(str, sizes))}] don't multiply up to the size "
                           f"of dim {dim} ({n}) in the input tensor")
    return reshape(input, shape[:axis] + sizes + shape[axis + 1:])


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def _permute_fn(x, perm):
    return ops.transpose(x, perm)


_TRANSPOSE = FacadeOp("transpose", _permute_fn, "TransposeBackward0", view=True)
_PERMUTE = FacadeOp("permute", _permute_fn, "PermuteBackward0", view=True)
_T = FacadeOp("t", _permute_fn, "TBackward0", view=True)


def transpose(input, dim0, dim1):
    """dims dim0 and dim1 swapped (a view, TransposeBackward0)."""
    ndim = input._data.ndim
    if ndim == 0:
        _dim(dim0, 0), _dim(dim1, 0)
        return apply(_TRANSPOSE, (input,), ((),))
    perm = list(range(ndim))
    a, b = _dim(dim0, ndim), _dim(dim1, ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return apply(_TRANSPOSE, (input,), (tuple(perm),))


swapaxes = swapdims = transpose


def _given_dims(dims) -> list:
    return [dims] if isinstance(dims, (int, np.integer)) else list(dims)


def _dims_list(dims, ndim: int, what: str) -> list:
    """movedim's source or destination (an int or a sequence of ints) as normalized dims, without repeats."""
    given = _given_dims(dims)
    normalized = [_dim(d, ndim) for d in given]
    if len(set(normalized)) != len(normalized):
        raise RuntimeError(f"movedim: repeated dim in `{what}` ([{', '.join(map(str, given))}])")
    return normalized


def movedim(input, source, destination):
    """The dims at `source` moved to `destination` (ints or sequences of ints), the others keeping their
    order (a view, PermuteBackward0). `moveaxis` is the same function.

    >>> import fgrad as torch
    >>> torch.zeros(2, 3, 4).movedim(0, -1).shape
    torch.Size([3, 4, 2])
    """
    ndim = input._data.ndim
    src = _dims_list(source, ndim, "source")
    dst = _dims_list(destination, ndim, "destination")
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source "
                           f"([{', '.join(map(str, _given_dims(source)))}] dims) should contain the same number of "
                           f"dims as destination ([{', '.join(map(str, _given_dims(destination)))}] dims)")
    order = [d for d in range(ndim) if d not in src]
    for to, moved in sorted(zip(dst, src)):
        order.insert(to, moved)
    return apply(_PERMUTE, (input,), (tuple(order),))


moveaxis = movedim


def permute(input, *dims):
    """dims reordered (a view, PermuteBackward0)."""
    dims = _shape_arg(dims)
    ndim = input._data.ndim
    if len(dims) != ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {ndim} is not equal "
                           f"to len(dims) = {len(dims)}")
    perm = tuple(_dim(d, ndim) for d in dims)
    if len(set(perm)) != ndim:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return apply(_PERMUTE, (input,), (perm,))


def t(input):
    """The transpose of a matrix (vectors and scalars unchanged) (TBackward0)."""
    ndim = input._data.ndim
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D")
    return apply(_T, (input,), (tuple(reversed(range(ndim))),))


def T(input):
    """All dims reversed (PermuteBackward0), PyTorch's `.T`; deprecated (a UserWarning) other than on
    matrices and vectors, as in PyTorch."""
    ndim = input._data.ndim
    if ndim > 2:
        warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
                      "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
                      "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
                      "tensor.", UserWarning, stacklevel=2)
    elif ndim == 0:
        warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
                      UserWarning, stacklevel=2)
    return apply(_PERMUTE, (input,), (tuple(reversed(range(ndim))),))


def _matrix_transpose(name):
    def transposed(input):
        ndim = input._data.ndim
        if ndim < 2:
            raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of matrices. Got {ndim}-D "
                               "tensor.")
        return transpose(input, -2, -1)
    transposed.__name__ = name
    transposed.__doc__ = f"`.{name}`: the last two dims swapped (TransposeBackward0); real tensors only, so the same as mT."
    return transposed


mT = _matrix_transpose("mT")
mH = _matrix_transpose("mH")


def H(input):
    """`.H`, the (conjugate) transpose of a matrix: real tensors only, so the same as `.T` on 2-D."""
    ndim = input._data.ndim
    if ndim != 2:
        hint = " For batches of matrices, consider using tensor.mH" if ndim > 2 else ""
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {ndim}-D tensor.{hint}")
    return transpose(input, 0, 1)


def _squeeze_fn(x, axes):
    return ops.squeeze(x, axes)


_SQUEEZE = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward0", view=True)
_SQUEEZE_DIM = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward1", view=True)
_SQUEEZE_DIMS = FacadeOp("squeeze", _squeeze_fn, "SqueezeBackward2", view=True)
_SQUEEZE_INPLACE = FacadeOp("squeeze_", _squeeze_fn, "SqueezeBackward4", view=True)


@numpy_names
def squeeze(input, dim=None):
    """Size-1 dims removed (all, or those among `dim` of size 1) (a view)."""
    shape = input._data.shape
    if dim is None:
        return apply(_SQUEEZE, (input,), (tuple(i for i, d in enumerate(shape) if d == 1),))
    if isinstance(dim, (list, tuple)):
        axes = tuple(a for a in _axes(dim, input._data.ndim) if shape[a] == 1) if shape else ()
        return apply(_SQUEEZE_DIMS, (input,), (axes,))
    axis = _dim(dim, input._data.ndim)
    return apply(_SQUEEZE_DIM, (input,), ((axis,) if shape and shape[axis] == 1 else (),))


_UNSQUEEZE = FacadeOp("unsqueeze", lambda x, axis: ops.expand_dims(x, axis), "UnsqueezeBackward0", view=True)


@numpy_names
def unsqueeze(input, dim):
    """A size-1 dim inserted at `dim` (a view, UnsqueezeBackward0)."""
    return apply(_UNSQUEEZE, (input,), (_dim(dim, input._data.ndim + 1),))


_EXPAND = FacadeOp("expand", lambda x, shape: ops.broadcast_to(x, shape), "ExpandBackward0", view=True)


def expand(input, *sizes):
    """A broadcast view of `sizes` (-1 keeps a dim) (ExpandBackward0)."""
    sizes = _shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand(torch.{input.dtype.name[0].upper()}{input.dtype.name[1:]}Tensor"
                           f"{{[{', '.join(map(str, shape))}]}}, size=[{', '.join(map(str, sizes))}]): the number "
                           "of sizes provided (" + str(len(sizes)) + ") must be greater or equal to the number of "
                           "dimensions in the tensor (" + str(len(shape)) + ")")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                                   f"non-existing dimension {i}")
            target.append(s)
            continue
        d = shape[i - lead]
        if s == -1:
            target.append(d)
        elif d == s or d == 1:
            target.append(s)
        else:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({d}) at "
                               f"non-singleton dimension {i}.  Target sizes: [{', '.join(map(str, sizes))}].  "
                               f"Tensor sizes: [{', '.join(map(str, shape))}]")
    return apply(_EXPAND, (input,), (tuple(target),))


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, size):
    return expand(input, size)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[t._data.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def _repeat_fn(x, repeats):
    lead = len(repeats) - len(x.shape)
    shape = (1,) * lead + tuple(x.shape)
    interleaved = []
    for r, d in zip(repeats, shape):
        interleaved += [1, d]
    y = ops.reshape(x, interleaved)
    target = []
    for r, d in zip(repeats, shape):
        target += [r, d]
    y = ops.broadcast_to(y, tuple(target))
    return ops.reshape(y, tuple(r * d for r, d in zip(repeats, shape)))


_REPEAT = FacadeOp("repeat", _repeat_fn, "RepeatBackward0")


def repeat(input, *sizes):
    """The tensor tiled `sizes` times along each dim (RepeatBackward0)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    return apply(_REPEAT, (input,), (sizes,))


def _flip_fn(x, axes):
    for axis in axes:
        n = x.shape[axis]
        x = ops.gather(x, np.arange(n - 1, -1, -1, dtype=np.int64), axis)
    return x


_FLIP = FacadeOp("flip", _flip_fn, "FlipBackward0")


def flip_method(input, *args, dims=None):
    """x.flip(0, 1), x.flip((0, 1)), x.flip(dims=(0, 1)): the method takes the dims as separate arguments too."""
    if dims is None:
        dims = args[0] if len(args) == 1 else args
    return flip(input, dims)


def flip(input, dims):
    """The order of elements reversed along `dims` (FlipBackward0)."""
    return apply(_FLIP, (input,), (_axes(dims, input._data.ndim),))


def _slice_fn(x, axis, start, stop, step):
    ndim = len(x.shape)
    starts, stops, steps = [0] * ndim, list(x.shape), [1] * ndim
    starts[axis], stops[axis], steps[axis] = start, stop, step
    return ops.static_slice(x, starts, stops, steps)


_SLICE = FacadeOp("slice", _slice_fn, "SliceBackward0", view=True)


@numpy_names
def narrow(input, dim, start, length):
    """`length` elements from `start` along `dim` (a view, SliceBackward0)."""
    axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    start = int(start) + (n if int(start) < 0 else 0)
    if not 0 <= start <= n or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return apply(_SLICE, (input,), (axis, start, start + int(length), 1))


def _split_fn(x, axis, bounds):
    ndim = len(x.shape)
    outs = []
    for start, stop in bounds:
        starts, stops = [0] * ndim, list(x.shape)
        starts[axis], stops[axis] = start, stop
        outs.append(ops.static_slice(x, starts, stops) if (start, stop) != (0, x.shape[axis]) else x)
    return tuple(outs)


_SPLIT = FacadeOp("split", _split_fn, "SplitBackward0", view=True)
_SPLIT_SIZES = FacadeOp("split", _split_fn, "SplitWithSizesBackward0", view=True)


@numpy_names
def split(tensor, split_size_or_sections, dim=0):
    """Pieces along `dim` of the given size (the last may be smaller) or sizes (views sharing one node)."""
    axis = _dim(dim, tensor._data.ndim)
    n = tensor._data.shape[axis]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {dim}), but got split_sizes={sizes}")
        op = _SPLIT_SIZES
    else:
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] if n else [0]
        op = _SPLIT
    bounds, start = [], 0
    for s in sizes:
        bounds.append((start, start + s))
        start += s
    return apply(op, (tensor,), (axis, tuple(bounds)), multi=True)


@numpy_names
def chunk(input, chunks, dim=0):
    """`chunks` pieces of equal size along `dim` (the last may be smaller) (SplitBackward0)."""
    if int(chunks) <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {int(chunks)}")
    n = input._data.shape[_dim(dim, input._data.ndim)]
    size = -(-n // int(chunks)) if n else 1
    return split(input, builtins.max(size, 1), dim)


@numpy_names
def tensor_split(input, indices_or_sections, dim=0):
    """Pieces along `dim`: `n` sections of near-equal size (the first ones one longer), or split before each
    of the given indices; each a view of its own (SliceBackward0), as PyTorch's.

    >>> import fgrad as torch
    >>> [p.tolist() for p in torch.arange(5).tensor_split(2)]
    [[0, 1, 2], [3, 4]]
    """
    axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    if hasattr(indices_or_sections, "tolist"):              # a tensor (or array) of sections or indices
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        size, longer = divmod(n, sections)
        stops = list(np.cumsum([size + 1] * longer + [size] * (sections - longer)))
        starts = [0] + stops[:-1]
    else:
        cuts = [int(i) for i in indices_or_sections]
        starts, stops = [0] + cuts, cuts + [n]
    pieces = []
    for start, stop in zip(starts, stops):
        start, stop, _ = slice(int(start), int(stop)).indices(n)
        pieces.append(apply(_SLICE, (input,), (axis, start, builtins.max(start, stop), 1)))
    return tuple(pieces)


def _unbind_fn(x, axis):
    return tuple(ops.squeeze(ops.static_slice(x, *_one(x.shape, axis, i)), axis) for i in range(x.shape[axis]))


def _one(shape, axis, i):
    starts, stops = [0] * len(shape), list(shape)
    starts[axis], stops[axis] = i, i + 1
    return starts, stops


_UNBIND = FacadeOp("unbind", _unbind_fn, "UnbindBackward0", view=True)


@numpy_names
def unbind(input, dim=0):
    """The slices along `dim`, each without that dim (UnbindBackward0)."""
    axis = _dim(dim, input._data.ndim)
    if input._data.shape[axis] == 0:
        return ()
    return apply(_UNBIND, (input,), (axis,), multi=True)


def _cat_fn(*args):
    *xs, axis, dtype = args
    return ops.concatenate([_cast(x, dtype) for x in xs], axis)


_CAT = FacadeOp("cat", _cat_fn, "CatBackward0")


@numpy_names
def cat(tensors, dim=0, *, out=None):
    """The tensors joined along `dim`, dtypes promoted (CatBackward0)."""
    tensors = [as_tensor_arg(t) for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors (legacy behaviour)
    parts = [t for t in tensors if not (t._data.ndim == 1 and t._data.size == 0)] or tensors[:1]
    ndim = parts[0]._data.ndim
    if ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = _dim(dim, ndim)
    for i, t in enumerate(parts):
        if t._data.ndim != ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ndim} and {t._data.ndim}")
        for d in range(ndim):
            if d != axis and t._data.shape[d] != parts[0]._data.shape[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size "
                                   f"{parts[0]._data.shape[d]} but got size {t._data.shape[d]} for tensor number "
                                   f"{i} in the list.")
    dtype = result_type(*parts)
    return _out(apply(_CAT, tuple(parts), (axis, dtype)), out)


concat = concatenate = cat


def _stack_fn(*args):
    *xs, axis, dtype = args
    return ops.concatenate([ops.expand_dims(_cast(x, dtype), axis) for x in xs], axis)


_STACK = FacadeOp("stack", _stack_fn, "StackBackward0")


@numpy_names
def stack(tensors, dim=0, *, out=None):
    """The tensors (of one shape) joined along a new dim (StackBackward0)."""
    tensors = [as_tensor_arg(t) for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got [{', '.join(map(str, shape))}] "
                               f"at entry 0 and [{', '.join(map(str, t._data.shape))}] at entry {i}")
    axis = _dim(dim, len(shape) + 1)
    return _out(apply(_STACK, tuple(tensors), (axis, result_type(*tensors))), out)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t._data.ndim == 1 else t for t in tensors], 0)


def _gather_fn(x, index, axis):
    return take_along_axis(x, index, axis)


_GATHER = FacadeOp("gather", _gather_fn, "GatherBackward0", nondiff=(1,))


@numpy_names
def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j] = input[i][index[i][j]] for dim=1 (GatherBackward0)."""
    axis = _dim(dim, input._data.ndim)
    if index._data.dtype.kind != "i":
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if index._data.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(input._data.ndim):
        if d != axis and index._data.shape[d] > input._data.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index "
                               f"[{', '.join(map(str, index._data.shape))}] to be no larger than self "
                               f"[{', '.join(map(str, input._data.shape))}] apart from dimension {axis}")
    n = input._data.shape[axis]
    bad = index._data[(index._data < 0) | (index._data >= n)]      # no negative indices, as PyTorch's gather
    if bad.size:
        raise RuntimeError(f"index {bad.flat[0]} is out of bounds for dimension {axis} with size {n}")
    return apply(_GATHER, (input, index), (axis,))


_INDEX_SELECT = FacadeOp("index_select", lambda x, index, axis: ops.gather(x, index, axis), "IndexSelectBackward0",
                         nondiff=(1,))


@numpy_names
def index_select(input, dim, index):
    """The entries at `index` (1-D) along `dim` (IndexSelectBackward0)."""
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if index._data.dtype.kind != "i":
        raise RuntimeError("index_select(): Expected dtype int32/int64 for index")
    axis = _dim(dim, input._data.ndim) if input._data.ndim else 0
    n = input._data.shape[axis] if input._data.ndim else 1
    bad = index._data[(index._data < 0) | (index._data >= n)]
    if bad.size:
        raise IndexError(f"index out of range in self")
    idx = index.reshape(-1)
    if input._data.ndim == 0:
        return apply(_INDEX_SELECT, (input.reshape(1), idx), (0,)).reshape(index.shape)
    return apply(_INDEX_SELECT, (input, idx), (axis,))


def take(input, index):
    return index_select(input.reshape(-1), 0, index.reshape(-1)).reshape(index.shape)
