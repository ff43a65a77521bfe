"""Tensor indexing, `x[index]` and `x[index] = value`, with PyTorch's nodes and views.

Reading applies the basic parts of the index one by one, as PyTorch does (each int a SelectBackward0, each
slice a SliceBackward0, each None an UnsqueezeBackward0, all views of the storage), then the advanced
parts (integer and bool tensors, lists) as one gather (IndexBackward0). Without a graph to record, numpy's
indexing gives the same values (and the same views) directly.

Writing is one scatter into the flattened tensor at the positions the index selects (CopySlices), written
in place; without a graph, numpy's assignment.
"""
from __future__ import annotations

import numpy as np

from fgrad import ops
from fgrad.facade import _grad_mode
from fgrad.facade._dual import carries_tangent
from fgrad.facade._inplace import COPY_SLICES, check_leaf_inplace, inplace
from fgrad.facade._op import FacadeOp, apply, share_storage
from fgrad.facade._shapes import _SLICE, _UNSQUEEZE
from fgrad.facade._tensor import Tensor, make

_SELECT = FacadeOp("select", lambda x, axis, i: ops.squeeze(ops.static_slice(x, *_select_bounds(x.shape, axis, i)),
                                                                axis), "SelectBackward0", view=True)
_ALIAS = FacadeOp("alias", lambda x: x, "AliasBackward0", view=True)


def _select_bounds(shape, axis, i):
    starts, stops = [0] * len(shape), list(shape)
    starts[axis], stops[axis] = i, i + 1
    return starts, stops


def _index_fn(x, positions, axis, perm, merged_shape, out_perm):
    """One gather: along `axis` for a single index array; for several, from x with the indexed dims moved
    first (`perm`) and merged into one (`merged_shape`), the result dims then put in place (`out_perm`)."""
    if perm is None:
        return ops.gather(x, positions, axis)
    y = ops.gather(ops.reshape(ops.transpose(x, perm), merged_shape), positions, 0)
    return ops.transpose(y, out_perm) if out_perm is not None else y


_INDEX = FacadeOp("index", _index_fn, "IndexBackward0", nondiff=(1,))
# x[index] = v with arrays in the index: the same write as COPY_SLICES, named as PyTorch's index_put_ node
_INDEX_PUT = FacadeOp("index_put", COPY_SLICES.fn, "IndexPutBackward0", nondiff=(1,))


def _is_int_scalar(item) -> bool:
    return isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))


def _as_index_array(item):
    """An advanced index as a numpy array (int64, or bool for a mask)."""
    if isinstance(item, Tensor):
        array = item._data
    else:
        array = np.asarray(item)
        if array.size == 0:                     # x[[]]: no rows (the empty list's float dtype means nothing)
            return array.astype(np.int64)
    if array.dtype.kind == "f":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype == np.bool_:
        return array
    if array.size == 0:
        return array.astype(np.int64)
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


def _normalize(index, ndim: int) -> list:
    """The index as a list of components with Ellipsis expanded; advanced parts as numpy arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for item in index:
        if isinstance(item, Tensor) and item._data.ndim == 0 and item._data.dtype.kind in "iu":
            items.append(int(item._data))
        elif isinstance(item, (Tensor, list, np.ndarray, range)) or (isinstance(item, tuple)):
            items.append(_as_index_array(item))
        else:
            items.append(item)
    consumed = 0
    for item in items:
        if item is None or item is Ellipsis or isinstance(item, (bool, np.bool_)):
            continue
        consumed += item.ndim if isinstance(item, np.ndarray) and item.dtype == np.bool_ else 1
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    out = []
    seen_ellipsis = False
    for item in items:
        if item is Ellipsis:
            if seen_ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            out.extend([slice(None)] * (ndim - consumed))
        else:
            out.append(item)
    return out


def getitem(self, index):
    """self[index], PyTorch's semantics (views for basic indexing, IndexBackward0 for advanced)."""
    data = self._data
    if type(index) is int and data.ndim and -data.shape[0] <= index < data.shape[0] \
            and not (self.requires_grad and _grad_mode.state.enabled) and not carries_tangent(self):
        # One row of a tensor outside the graph: what a Dataset's __getitem__ does for every sample, so it
        # skips the general path (20 us -> 2 us a row). `...` keeps a 0-d result a view, not a numpy scalar.
        t = make(data[index, ...])
        share_storage(self, t)
        return t
    ndim = data.ndim
    if ndim == 0 and (_is_int_scalar(index) or isinstance(index, slice)):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in "
                         "C++ to convert a 0-dim tensor to a number")
    items = _normalize(index, ndim)
    if not (self.requires_grad and _grad_mode.state.enabled) and not carries_tangent(self):
        return _numpy_getitem(self, items)
    return _recorded_getitem(self, items, isinstance(index, slice))


def _recorded_getitem(self, items, bare_slice):
    """self[items] as facade ops (recorded in the graph), basic parts first as PyTorch."""
    result = self
    dim = 0
    source_dim = 0                      # the dim of self an item indexes (PyTorch's error messages name it)
    advanced = []
    touched = False
    # A bare slice (x[:], x[0:n]) is always a SliceBackward0 in PyTorch, even when it covers the whole dim; in a
    # tuple (x[:, 0:n]) whole-dim slices are skipped, and an index that changes nothing is an AliasBackward0.
    for item in items:
        if item is None:
            result = apply(_UNSQUEEZE, (result,), (dim,))
            dim += 1
            touched = True
        elif isinstance(item, (bool, np.bool_)):
            # x[True] / x[False]: a new dim of size 1 indexed by a 0-d bool mask, i.e. by [0] or by [] (an
            # advanced index, so IndexBackward0, as PyTorch's)
            result = apply(_UNSQUEEZE, (result,), (dim,))
            advanced.append((dim, np.zeros(1 if item else 0, np.int64)))
            dim += 1
            touched = True
        elif isinstance(item, slice):
            n = result._data.shape[dim]
            start, stop, step = item.indices(n)
            if item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            if bare_slice or (start, stop, step) != (0, n, 1):
                result = apply(_SLICE, (result,), (dim, start, max(start, stop), step))
                touched = True
            dim += 1
            source_dim += 1
        elif _is_int_scalar(item):
            n = result._data.shape[dim]
            i = int(item)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {source_dim} with size {n}")
            result = apply(_SELECT, (result,), (dim, i % n))
            touched = True
            source_dim += 1
        elif isinstance(item, np.ndarray):
            if item.dtype == np.bool_:
                for axis_index in np.nonzero(_check_mask(item, result._data.shape, dim)):
                    advanced.append((dim, axis_index.astype(np.int64)))
                    dim += 1
                    source_dim += 1
            else:
                advanced.append((dim, item))
                dim += 1
                source_dim += 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             "valid indices (got " + type(item).__name__ + ")")
    if advanced:
        return _advanced(result, advanced)
    if not touched:
        return apply(_ALIAS, (result,))
    return result


def _check_mask(mask, shape, dim):
    for k, (m, s) in enumerate(zip(mask.shape, shape[dim:])):
        if m != s:
            raise IndexError(f"The shape of the mask [{', '.join(map(str, mask.shape))}] at index {k} does not match "
                             f"the shape of the indexed tensor [{', '.join(map(str, shape))}] at index {dim + k}")
    return mask


def _advanced(x, advanced):
    """x indexed by integer arrays at the given dims (numpy's rules for where the result dims go)."""
    shape = x._data.shape
    dims = [d for d, _ in advanced]
    arrays = []
    for d, a in advanced:
        n = shape[d]
        bad = a[(a < -n) | (a >= n)]
        if bad.size:
            raise IndexError(f"index {bad.flat[0]} is out of bounds for dimension {d} with size {n}")
        arrays.append(np.where(a < 0, a + n, a))
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes " +
                         ", ".join(f"[{', '.join(map(str, a.shape))}]" for a in arrays)) from None
    if len(dims) == 1:
        return apply(_INDEX, (x, np.ascontiguousarray(arrays[0])), (dims[0], None, None, None))
    rest = [d for d in range(len(shape)) if d not in dims]
    perm = tuple(dims + rest)
    positions = np.ravel_multi_index(tuple(arrays), tuple(shape[d] for d in dims)).astype(np.int64)
    merged = (int(np.prod([shape[d] for d in dims], dtype=np.int64)),) + tuple(shape[d] for d in rest)
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    nb = positions.ndim
    if adjacent and dims[0] > 0:
        # the broadcast index dims go where the first advanced dim was
        lead = list(range(nb, nb + dims[0]))
        out_perm = tuple(lead + list(range(nb)) + list(range(nb + dims[0], nb + len(rest))))
    else:
        out_perm = None
    return apply(_INDEX, (x, positions), (0, perm, merged, out_perm))


def _torch_order(items):
    """The index as (basic, advanced) numpy indices such that `a[basic][advanced]` is PyTorch's `a[index]`, or
    (index, None) when numpy's single step gives PyTorch's result. PyTorch applies ints, slices, None and bool
    scalars first (views) and then the arrays, so in `x[0, :, [1, 3]]` the int does not count as an advanced
    index (numpy would put the arrays' dims first: shape (2, 3) instead of PyTorch's (3, 2))."""
    has_array = any(isinstance(item, np.ndarray) for item in items)
    mixed = has_array and any(_is_int_scalar(item) or isinstance(item, (bool, np.bool_)) for item in items)
    if not mixed:
        return tuple(items), None
    basic, advanced = [], []
    for item in items:
        if isinstance(item, (bool, np.bool_)):          # a new dim of size 1, indexed by [0] or []
            basic.append(None)
            advanced.append(np.zeros(1 if item else 0, np.int64))
        elif isinstance(item, np.ndarray):
            basic.extend([slice(None)] * (item.ndim if item.dtype == np.bool_ else 1))
            advanced.append(item)
        else:
            basic.append(item)
            if not _is_int_scalar(item):
                advanced.append(slice(None))
    return tuple(basic), tuple(advanced)


def _numpy_getitem(self, items):
    for item in items:
        if isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError("step must be greater than zero")
    basic = not any(isinstance(item, np.ndarray) for item in items)
    index = tuple(items) + ((Ellipsis,) if basic and Ellipsis not in items else ())   # a 0-d view, not a scalar
    first, then = _torch_order(index)
    try:
        value = self._data[first] if then is None else self._data[first][then]
    except IndexError:
        _raise_torch_index_error(self, items)
        raise
    t = make(value)
    if basic:                           # basic indexing gives a view of the same storage, as PyTorch's
        share_storage(self, t)
    return t


def _raise_torch_index_error(self, items):
    """PyTorch's IndexError for an index numpy refused: the recording path's checks, which raise it, run on
    the index (numpy's own message stands when they find nothing)."""
    _recorded_getitem(make(self._data), items, False)


def setitem(self, index, value):
    """self[index] = value, in place: recorded as CopySlices for basic indices (a write through a view) and as
    IndexPutBackward0 when the index has arrays, lists or masks (PyTorch's index_put_)."""
    items = _normalize(index, self._data.ndim)
    for item in items:
        if isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError("step must be greater than zero")
    if any(item is False or isinstance(item, np.bool_) and not item for item in items):
        return                          # x[False] = v selects nothing: PyTorch writes and records nothing
    first, then = _torch_order(tuple(items))
    value_requires = isinstance(value, Tensor) and value.requires_grad
    recording = _grad_mode.state.enabled and (self.requires_grad or value_requires)
    dual = carries_tangent(self, value)
    if recording:
        # self[index] writes through a view of self, so a leaf gets PyTorch's view message
        if self._grad_fn is None and self._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        check_leaf_inplace(self)
    traced = type(self._data) is not np.ndarray or (isinstance(value, Tensor) and type(value._data) is not np.ndarray)
    if not recording and not dual and not traced:
        array = value._data if isinstance(value, Tensor) else np.asarray(value)
        if array.dtype.kind == "f" and self._data.dtype.kind in "iub" and array.ndim == 0:
            array = array.astype(self._data.dtype)
        try:
            if then is None:
                self._data[first] = array
            else:
                self._data[first][then] = array         # self._data[first] is a view: the write reaches self
        except IndexError:
            _raise_torch_index_error(self, items)
            raise
        except ValueError as e:
            raise RuntimeError(str(e)) from None
        self._vc[0] += 1
        return
    flat = np.arange(self._data.size, dtype=np.int64).reshape(self._data.shape)
    try:
        positions = np.ascontiguousarray(flat[first] if then is None else flat[first][then])
    except IndexError:
        _raise_torch_index_error(self, items)
        raise
    if not isinstance(value, Tensor):
        value = make(np.asarray(value, self._data.dtype))
    try:
        fits = np.broadcast_shapes(value._data.shape, positions.shape) == positions.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"shape mismatch: value tensor of shape [{', '.join(map(str, value._data.shape))}] "
                           f"cannot be broadcast to indexing result of shape "
                           f"[{', '.join(map(str, positions.shape))}]")
    # PyTorch's index_put_ runs on the view the basic parts select: on self itself (IndexPutBackward0) when they
    # select everything, else on a view, which rewrites self's graph (CopySlices)
    on_self = any(isinstance(item, np.ndarray) for item in items) and all(
        isinstance(item, np.ndarray) or item == slice(None) for item in items)
    result = apply(_INDEX_PUT if on_self else COPY_SLICES, (self, positions, value), (self._data.shape,))
    inplace(self, result)
