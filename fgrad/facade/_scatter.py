"""PyTorch's scatters and index updates: scatter(_), scatter_add(_), scatter_reduce(_), index_add(_), index_copy(_),
index_fill(_), take_along_dim; with PyTorch's checks, node names and gradients (derivatives.yaml).

All are written with fgrad's one-axis indexing primitives (fgrad/ops/indexing.py), so their derivatives are those
primitives' rules:
  - the index_* ops update whole slices along one dim: one `scatter` / `scatter_add` along that axis;
  - scatter, scatter_add and scatter_reduce write element by element (`index` may be smaller than `self` and `src` on
    the other dims): the element's flat position in `self` is index arithmetic (`_flat_positions`), then one flat
    scatter of the matching elements of `src`;
  - scatter_reduce's prod/amax/amin combine repeated targets: the updates are split into rounds whose targets are
    distinct (round r holds each target's r-th update, found from the concrete index), one scatter and one multiply
    or maximum per round.

Differences from PyTorch, on purpose: for repeated indices scatter's forward is "last write wins" (PyTorch leaves the
order undefined) and only the update that won receives a gradient (PyTorch sends one to every duplicate);
`scatter(..., reduce=...)` records a differentiable node (ScatterAddBackward0 / ScatterReduceBackward0) where
PyTorch records one whose backward raises.
"""
from __future__ import annotations

import math

import numpy as np

from fgrad import ops
from fgrad.transforms.custom import custom_vjp
from fgrad.ops.indexing import gather_p, scatter_add_p, scatter_p
from fgrad.facade._inplace import check_leaf_inplace, inplace
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _dtype_name, as_tensor_arg, numpy_names
from fgrad.facade._shapes import expand, gather
from fgrad.facade._tensor import Tensor, _dim

__all__ = ["scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "take_along_dim"]


# ---- checks (PyTorch's messages) ---------------------------------------------------------------------------------

def _shape_text(shape) -> str:
    return f"[{', '.join(map(str, shape))}]"


def _concrete(index) -> np.ndarray | None:
    """The index's values, or None while a transform traces it (its checks then happen at run time, if at all)."""
    data = index._data
    return data if type(data) is np.ndarray else None


def _check_index_dtype(name: str, index):
    if index._data.dtype.kind != "i":
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _check_bounds(index, size: int, dim: int, negative_ok: bool = False, error=RuntimeError, prefix: str = ""):
    values = _concrete(index)
    if values is None:
        return
    low = -size if negative_ok else 0
    bad = values[(values < low) | (values >= size)]
    if bad.size:
        raise error(f"{prefix}index {bad.flat[0]} is out of bounds for dimension {dim} with size {size}")


def _check_scatter_shapes(self, dim: int, index, src=None):
    """scatter's rule: index has self's rank, no larger than self off `dim` and no larger than src anywhere."""
    shape, ishape = self._data.shape, index._data.shape
    if len(ishape) != len(shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src is not None and src._data.ndim != len(ishape):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    too_big_self = any(i > s for d, (i, s) in enumerate(zip(ishape, shape)) if d != dim)
    too_big_src = src is not None and any(i > s for i, s in zip(ishape, src._data.shape))
    if too_big_self or too_big_src:
        message = f"Expected index {_shape_text(ishape)} to be no larger than self {_shape_text(shape)} apart from " \
                  f"dimension {dim}"
        if src is not None:
            message += f" and to be no larger size than src {_shape_text(src._data.shape)}"
        raise RuntimeError(message)


def _check_same_dtype(name: str, self, src):
    if src._data.dtype != self._data.dtype:
        raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")


# ---- element-wise scatters: flat positions ----------------------------------------------------------------------

def _flat_positions(x_shape: tuple, index, axis: int):
    """The flat position in an array of `x_shape` that each element of `index` writes: index on `axis`, the element's
    own coordinate on the other axes (int64, the shape of `index`)."""
    ishape = tuple(index.shape)
    strides = [math.prod(x_shape[d + 1:]) for d in range(len(x_shape))]
    positions = ops.mul(ops.convert_element_type(index, np.int64), strides[axis])
    for d in range(len(ishape)):
        if d != axis and ishape[d] > 1:
            positions = ops.add(positions, ops.mul(ops.iota(ishape, np.int64, d), strides[d]))
    return ops.reshape(positions, (-1,))


def _flat_positions_of_values(x_shape: tuple, index: np.ndarray, axis: int) -> np.ndarray:
    """`_flat_positions` of a concrete index, in numpy (a transform may be tracing the ops meanwhile)."""
    strides = [math.prod(x_shape[d + 1:]) for d in range(len(x_shape))]
    coordinates = np.indices(index.shape, dtype=np.int64)
    coordinates[axis] = index
    return np.tensordot(np.asarray(strides, np.int64), coordinates, axes=1).reshape(-1)


def _matching_updates(src, index_shape: tuple):
    """The elements of src that index's elements pair with: src[:i0, :i1, ...] flattened."""
    corner = ops.static_slice(src, (0,) * len(index_shape), index_shape)
    return ops.reshape(corner, (-1,))


def _scattered(prim, x, positions, updates):
    """x with one flat scatter (`prim`: scatter_p or scatter_add_p) of `updates` at `positions`."""
    flat = prim.bind(ops.reshape(x, (-1,)), positions, updates, axis=0)
    return ops.reshape(flat, tuple(x.shape))


def _scatter_fn(x, index, src, axis):
    positions = _flat_positions(tuple(x.shape), index, axis)
    return _scattered(scatter_p, x, positions, _matching_updates(src, tuple(index.shape)))


def _scatter_value_fn(x, index, axis, value):
    updates = ops.full((math.prod(index.shape),), value, x.dtype)
    return _scattered(scatter_p, x, _flat_positions(tuple(x.shape), index, axis), updates)


def _scatter_add_fn(x, index, src, axis):
    positions = _flat_positions(tuple(x.shape), index, axis)
    return _scattered(scatter_add_p, x, positions, _matching_updates(src, tuple(index.shape)))


_SCATTER = FacadeOp("scatter", _scatter_fn, "ScatterBackward0", nondiff=(1,))
_SCATTER_VALUE = FacadeOp("scatter", _scatter_value_fn, "ScatterBackward1", nondiff=(1,))
_SCATTER_ADD = FacadeOp("scatter_add", _scatter_add_fn, "ScatterAddBackward0", nondiff=(1,))


def _scatter_args(name: str, input, dim, index, src=None):
    """(axis, index) after PyTorch's checks of scatter's operands."""
    index = as_tensor_arg(index)
    _check_index_dtype(name, index)
    ndim = input._data.ndim
    axis = _dim(dim, ndim)
    _check_scatter_shapes(input, axis, index, src)
    if src is not None:
        _check_same_dtype(name, input, src)
    _check_bounds(index, input._data.shape[axis] if ndim else 1, axis)
    return axis, index


@numpy_names
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """out[index[i][j]][j] = src[i][j] for dim=0 (ScatterBackward0), or a scalar `value` (ScatterBackward1);
    reduce='add' / 'multiply' combines with what is there (scatter_add / scatter_reduce 'prod').

    >>> torch.zeros(2, 3).scatter(1, torch.tensor([[2], [0]]), 1.0)
    tensor([[0., 0., 1.],
            [1., 0., 0.]])
    """
    if src is None and value is None:
        raise TypeError("scatter() missing 1 required positional argument: 'src' (a tensor) or 'value' (a number)")
    scalar = not isinstance(src, Tensor) if src is not None else True
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError("reduce argument must be either add or multiply.")
        if scalar:
            src = _full_like_index(input, index, value if src is None else src)
        return _scatter_reduce(input, dim, index, src, "sum" if reduce == "add" else "prod", True,
                               "ScatterAddBackward0" if reduce == "add" else None)
    if scalar:
        axis, index = _scatter_args("scatter", input, dim, index)
        return apply(_SCATTER_VALUE, (input, index), (axis, value if src is None else src))
    axis, index = _scatter_args("scatter", input, dim, index, src)
    return apply(_SCATTER, (input, index, src), (axis,))


def _full_like_index(input, index, value) -> Tensor:
    index = as_tensor_arg(index)
    return Tensor.new_full(input, tuple(index._data.shape), value)


@numpy_names
def scatter_add(input, dim, index, src):
    """out = input with src[i][j] added at out[index[i][j]][j] for dim=0; repeated indices accumulate
    (ScatterAddBackward0: the gradient to src is a gather of the output's).

    >>> torch.zeros(3).scatter_add(0, torch.tensor([0, 0, 2]), torch.tensor([1.0, 2.0, 3.0]))
    tensor([3., 0., 3.])
    """
    src = as_tensor_arg(src)
    axis, index = _scatter_args("scatter_add", input, dim, index, src)
    return apply(_SCATTER_ADD, (input, index, src), (axis,))


# ---- scatter_reduce -------------------------------------------------------------------------------------------

def _rounds(positions: np.ndarray) -> list:
    """The update numbers grouped into rounds with distinct targets: round r holds each target's r-th update."""
    order = np.argsort(positions, kind="stable")
    sorted_positions = positions[order]
    starts = np.flatnonzero(np.r_[True, sorted_positions[1:] != sorted_positions[:-1]])
    occurrence = np.arange(positions.size) - np.repeat(starts, np.diff(np.r_[starts, positions.size]))
    return [np.sort(order[occurrence == r]) for r in range(int(occurrence.max(initial=-1)) + 1)]


def _combine(reduce: str):
    """The elementwise combination of a reduce: the product or the extremum of two arrays."""
    return {"prod": ops.mul, "amax": ops.maximum, "amin": ops.minimum}[reduce]


def _identity(reduce: str, dtype) -> float:
    if reduce == "prod":
        return 1
    if np.dtype(dtype).kind == "f":
        return -math.inf if reduce == "amax" else math.inf
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _reduced_by_rounds(x, positions, updates, rounds, reduce: str, include_self: bool):
    """x combined with the updates at their positions, one round of distinct targets after another."""
    identity = _identity(reduce, x.dtype)
    out = x if include_self else scatter_p.bind(x, positions, ops.full(tuple(positions.shape), identity, x.dtype),
                                                axis=0)
    fill = ops.full(tuple(x.shape), identity, x.dtype)
    for members in rounds:
        round_updates = gather_p.bind(updates, members, axis=0)
        round_positions = gather_p.bind(positions, members, axis=0)
        out = _combine(reduce)(out, scatter_p.bind(fill, round_positions, round_updates, axis=0))
    return out


def _extremum(reduce, include_self, axis, x, index, src, *rounds):
    """amax / amin of x and src's elements at index's positions, one round of distinct targets at a time."""
    positions = _flat_positions(tuple(x.shape), index, axis)
    updates = _matching_updates(src, tuple(index.shape))
    flat = _reduced_by_rounds(ops.reshape(x, (-1,)), positions, updates, rounds, reduce, include_self)
    return ops.reshape(flat, tuple(x.shape))


def _extremum_forward(reduce, include_self, axis, x, index, src, *rounds):
    # the residuals are the op's own inputs (not views of them), which the facade checks against in-place writes
    value = _extremum(reduce, include_self, axis, x, index, src, *rounds)
    return value, (x, index, src, value, rounds)


def _extremum_backward(reduce, include_self, axis, residuals, out_ct):
    """PyTorch's scatter_reduce amax/amin backward: the output's gradient split evenly among the inputs equal to
    it; x's element counts even when include_self=False, but then gets none of it where src was scattered."""
    x, index, src, value, rounds = residuals
    shape, dtype = tuple(x.shape), x.dtype
    positions = _flat_positions(shape, index, axis)
    flat_x, flat_value, flat_ct = (ops.reshape(a, (-1,)) for a in (x, value, out_ct))
    updates = _matching_updates(src, tuple(index.shape))
    self_hits = ops.eq(flat_x, flat_value)
    src_hits = ops.eq(updates, gather_p.bind(flat_value, positions, axis=0))
    count = ops.add(ops.convert_element_type(self_hits, dtype),
                    scatter_add_p.bind(ops.full(tuple(flat_x.shape), 0, dtype), positions,
                                       ops.convert_element_type(src_hits, dtype), axis=0))
    share = ops.div(flat_ct, ops.maximum(count, 1))
    flat_ct_updates = ops.select(src_hits, gather_p.bind(share, positions, axis=0), 0)
    if not include_self:
        touched = scatter_p.bind(ops.full(tuple(flat_x.shape), False, np.bool_), positions,
                                 ops.full(tuple(positions.shape), True, np.bool_), axis=0)
        self_hits = ops.select(touched, False, self_hits)
    ct_x = ops.reshape(ops.select(self_hits, share, 0), shape)
    # src's elements outside index's corner never reach the output
    widths = tuple((0, n - i) for n, i in zip(src.shape, index.shape))
    ct_src = ops.pad(ops.reshape(flat_ct_updates, tuple(index.shape)), widths)
    return (ct_x, None, ct_src) + (None,) * len(rounds)


# A custom rule: no composition of the primitives has the extremum's value and this derivative at infinite values.
_extremum_split_evenly = custom_vjp(_extremum, nondiff_argnums=(0, 1, 2))
_extremum_split_evenly.defvjp(_extremum_forward, _extremum_backward)


def _scatter_reduce_fn(x, index, src, *args):
    *rounds, axis, reduce, include_self = args
    if reduce in ("amax", "amin"):
        if x.dtype.kind != "f":
            return _extremum(reduce, include_self, axis, x, index, src, *rounds)
        return _extremum_split_evenly(reduce, include_self, axis, x, index, src, *rounds)
    shape = tuple(x.shape)
    positions = _flat_positions(shape, index, axis)
    updates = _matching_updates(src, tuple(index.shape))
    flat = ops.reshape(x, (-1,))
    if reduce == "prod":
        return ops.reshape(_reduced_by_rounds(flat, positions, updates, rounds, reduce, include_self), shape)
    start = flat if include_self else scatter_p.bind(flat, positions, ops.full(tuple(positions.shape), 0, x.dtype),
                                                     axis=0)
    out = scatter_add_p.bind(start, positions, updates, axis=0)
    if reduce == "mean":
        ones = ops.full(tuple(positions.shape), 1, x.dtype)
        count = scatter_add_p.bind(ops.full(tuple(flat.shape), 1 if include_self else 0, x.dtype), positions,
                                   ones, axis=0)
        out = _mean_of_sum(out, ops.maximum(count, 1))
    return ops.reshape(out, shape)


def _mean_of_sum(total, count):
    """total / count; integers floor-divide, as PyTorch's integer mean does."""
    if total.dtype.kind == "f":
        return ops.div(total, count)
    return ops.div_p.bind(total, count)        # the primitive floor-divides integers


_SCATTER_REDUCE = {name: FacadeOp("scatter_reduce", _scatter_reduce_fn, name, nondiff=(1,))
                   for name in ("ScatterReduceBackward0", "ScatterAddBackward0")}
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce(input, dim, index, src, reduce, include_self, node_name=None):
    src = as_tensor_arg(src)
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    axis, index = _scatter_args("scatter_reduce", input, dim, index, src)
    rounds = ()
    if reduce in ("prod", "amax", "amin"):
        values = _concrete(index)
        if values is None:
            raise NotImplementedError(f"scatter_reduce(reduce={reduce!r}) needs a concrete index (its repeated "
                                      "targets are grouped before tracing); under fgrad.func transforms use "
                                      "reduce='sum' or 'mean', or pass the index from outside the function")
        rounds = tuple(_rounds(_flat_positions_of_values(input._data.shape, values, axis)))
    op = _SCATTER_REDUCE[node_name or "ScatterReduceBackward0"]
    return apply(op, (input, index, src) + rounds, (axis, reduce, bool(include_self)))


@numpy_names
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """src's elements reduced into input at index (as scatter's positions) with "sum", "prod", "mean", "amax" or
    "amin"; include_self=False leaves input's values at the written positions out (ScatterReduceBackward0).

    >>> torch.tensor([1.0, 2.0]).scatter_reduce(0, torch.tensor([0, 0]), torch.tensor([5.0, 3.0]), "amax")
    tensor([5., 2.])
    """
    return _scatter_reduce(input, dim, index, src, reduce, include_self)


# ---- index_* : whole slices along one dim -----------------------------------------------------------------------

def _index_add_fn(x, index, source, axis, alpha):
    scaled = source if alpha == 1 else ops.mul(source, ops.convert_element_type(alpha, x.dtype))
    return scatter_add_p.bind(x, ops.convert_element_type(index, np.int64), scaled, axis=axis)


def _index_copy_fn(x, index, source, axis):
    return scatter_p.bind(x, ops.convert_element_type(index, np.int64), source, axis=axis)


def _index_fill_fn(x, index, axis, value):
    updates_shape = tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1:])
    updates = ops.broadcast_to(ops.convert_element_type(value, x.dtype), updates_shape)
    return scatter_p.bind(x, _nonnegative(index, x.shape[axis]), updates, axis=axis)


def _index_fill_tensor_fn(x, index, value, axis):
    return _index_fill_fn(x, index, axis, value)


def _nonnegative(index, size: int):
    index = ops.convert_element_type(index, np.int64)
    return ops.select(ops.lt(index, 0), ops.add(index, size), index)


_INDEX_ADD = FacadeOp("index_add", _index_add_fn, "IndexAddBackward0", nondiff=(1,))
_INDEX_COPY = FacadeOp("index_copy", _index_copy_fn, "IndexCopyBackward0", nondiff=(1,))
_INDEX_FILL = FacadeOp("index_fill", _index_fill_fn, "IndexFillBackward0", nondiff=(1,))
_INDEX_FILL_TENSOR = FacadeOp("index_fill", _index_fill_tensor_fn, "IndexFillBackward1", nondiff=(1,))


_NOT_A_VECTOR = {
    "index_add": lambda index: IndexError(
        f"index_add_(): Index is supposed to be a vector, but got dim: {index._data.ndim} with type: "
        f"{_dtype_name(index._data.dtype)} and size: {_shape_text(index._data.shape)}"),
    "index_copy": lambda index: IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got "
                                           f"{index._data.ndim})"),
    "index_fill": lambda index: RuntimeError("Index has to be a vector/scalar"),
}


def _index_args(name: str, input, dim, index):
    index = as_tensor_arg(index)
    if index._data.ndim > 1:
        raise _NOT_A_VECTOR[name](index)
    if index._data.dtype.kind != "i":
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    ndim = input._data.ndim
    axis = _dim(dim, ndim)
    return axis, Tensor.reshape(index, (-1,))


def _check_source(name: str, input, axis: int, index, source):
    shape, sshape = input._data.shape, source._data.shape
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(f"{name}(): self ({_dtype_name(input._data.dtype)}) and source "
                           f"({_dtype_name(source._data.dtype)}) must have the same scalar type")
    expected = shape[:axis] + (index._data.shape[0],) + shape[axis + 1:]
    if sshape != expected:
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {_shape_text(shape)} source.shape = {_shape_text(sshape)}")


@numpy_names
def index_add(input, dim, index, source, *, alpha=1):
    """input with alpha * source[..., i, ...] added to input[..., index[i], ...]; repeats accumulate
    (IndexAddBackward0).

    >>> torch.zeros(3).index_add(0, torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    tensor([3., 0., 0.])
    """
    axis, index = _index_args("index_add", input, dim, index)
    source = as_tensor_arg(source)
    _check_source("index_add_", input, axis, index, source)
    _check_bounds(index, input._data.shape[axis], axis)
    return apply(_INDEX_ADD, (input, index, source), (axis, alpha))


@numpy_names
def index_copy(input, dim, index, source):
    """input with input[..., index[i], ...] = source[..., i, ...] (IndexCopyBackward0).

    >>> torch.zeros(3).index_copy(0, torch.tensor([2]), torch.tensor([5.0]))
    tensor([0., 0., 5.])
    """
    axis, index = _index_args("index_copy", input, dim, index)
    source = as_tensor_arg(source)
    _check_source("index_copy_", input, axis, index, source)
    _check_bounds(index, input._data.shape[axis], axis, error=IndexError, prefix="index_copy_(): ")
    return apply(_INDEX_COPY, (input, index, source), (axis,))


@numpy_names
def index_fill(input, dim, index, value):
    """input with the slices at `index` along `dim` set to `value` (a number: IndexFillBackward0; a 0-d tensor,
    which receives a gradient: IndexFillBackward1). Negative indices count from the end.

    >>> torch.zeros(2, 3).index_fill(1, torch.tensor([-1]), 2.0)
    tensor([[0., 0., 2.],
            [0., 0., 2.]])
    """
    axis, index = _index_args("index_fill", input, dim, index)
    _check_bounds(index, input._data.shape[axis], axis, negative_ok=True, error=IndexError)
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._data.ndim} dimension(s).")
        return apply(_INDEX_FILL_TENSOR, (input, index, value.to(input.dtype)), (axis,))
    return apply(_INDEX_FILL, (input, index), (axis, value))


# ---- take_along_dim ---------------------------------------------------------------------------------------------

@numpy_names
def take_along_dim(input, indices, dim=None):
    """input's values at `indices` along `dim` (negative ones count from the end), or of the flattened input when
    dim is None (non-negative indices only, as PyTorch's); input and indices broadcast on the other dims
    (GatherBackward0, after ExpandBackward0 when input is broadcast).

    >>> torch.tensor([[10.0, 30.0, 20.0]]).take_along_dim(torch.tensor([[1, 2]]), dim=1)
    tensor([[30., 20.]])
    """
    indices = as_tensor_arg(indices)
    if indices._data.dtype.kind != "i":
        raise RuntimeError("torch.take_along_dim(): dtype of indices should be int64 but got "
                           f"{_dtype_name(indices._data.dtype)} instead")
    if dim is None:
        _check_bounds(indices, input._data.size, 0)
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    ndim = input._data.ndim
    if indices._data.ndim != ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {ndim} dimensions for input, and {indices._data.ndim} dimensions for indices")
    axis = _dim(dim, ndim)
    _check_bounds(indices, input._data.shape[axis], axis, negative_ok=True)
    indices = _wrapped(indices, input._data.shape[axis])
    shape, ishape = list(input._data.shape), list(indices._data.shape)
    shape[axis] = ishape[axis] = 1
    common = _broadcast(tuple(shape), tuple(ishape))
    input_shape = common[:axis] + (input._data.shape[axis],) + common[axis + 1:]
    index_shape = common[:axis] + (indices._data.shape[axis],) + common[axis + 1:]
    if input_shape != input._data.shape:
        input = expand(input, input_shape)
    if index_shape != indices._data.shape:
        indices = expand(indices, index_shape)
    return gather(input, axis, indices)


def _wrapped(indices, size: int):
    """Negative indices counted from the end (take_along_dim with a dim allows them; the flat form does not)."""
    values = _concrete(indices)
    if values is None or not (values < 0).any():
        return indices
    return as_tensor_arg(np.where(values < 0, values + size, values))


def _broadcast(a: tuple, b: tuple) -> tuple:
    """The broadcast of two shapes, or PyTorch's error naming the first dim that does not match."""
    for d, (m, n) in enumerate(zip(a, b)):
        if m != n and m != 1 and n != 1:
            raise RuntimeError(f"The size of tensor a ({m}) must match the size of tensor b ({n}) at non-singleton "
                               f"dimension {d}")
    return tuple(max(m, n) if min(m, n) != 0 else 0 for m, n in zip(a, b))


# ---- in-place forms and Tensor methods ---------------------------------------------------------------------------

def _inplace_form(name: str, fn):
    def method(self, *args, **kwargs):
        check_leaf_inplace(self)
        return inplace(self, fn(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}: the result written into this tensor's storage."
    return method


scatter_ = _inplace_form("scatter_", scatter)
scatter_add_ = _inplace_form("scatter_add_", scatter_add)
scatter_reduce_ = _inplace_form("scatter_reduce_", scatter_reduce)
index_add_ = _inplace_form("index_add_", index_add)
index_copy_ = _inplace_form("index_copy_", index_copy)
index_fill_ = _inplace_form("index_fill_", index_fill)

_METHODS = ("scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_", "index_add",
            "index_add_", "index_copy", "index_copy_", "index_fill", "index_fill_", "take_along_dim")
for _name in _METHODS:
    setattr(Tensor, _name, globals()[_name])
