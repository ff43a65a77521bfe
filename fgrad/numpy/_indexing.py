"""numpy's indexing on fgrad values (`x[index]`, take, take_along_axis) and JAX's functional updates `x.at[index]`."""
from __future__ import annotations

import builtins
import math

import numpy as np

import fgrad.ops as ops
from fgrad.numpy._arguments import arg, asarray, contains_tracer
from fgrad.numpy._array import as_array
from fgrad.numpy._elementwise import clip, divide, power, remainder
from fgrad.numpy._reductions import max, min, prod
from fgrad.ops.base import is_tracer, typeof
from fgrad.ops.core import normalize_axis


class _BoolMask:
    """A concrete boolean index, kept whole until the Ellipsis is expanded (it spans mask.ndim axes)."""
    __slots__ = ("mask",)

    def __init__(self, mask):
        self.mask = mask


def _index_entry(item):
    """One entry of an index, classified: None, Ellipsis, a slice, an int, a _BoolMask or an integer array."""
    if item is None or item is Ellipsis:
        return item
    if isinstance(item, slice):
        if contains_tracer(item):
            raise IndexError(f"slice bounds must be static Python ints, got a traced bound in {item}: a slice's "
                             "length cannot depend on traced values. Index with a traced integer array instead, "
                             "e.g. x[i + fnp.arange(k)] for a window of static length k")
        return item
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("a bool scalar as an index (x[True]) is not supported; use x[None] to add an axis")
    if isinstance(item, (int, np.integer)):
        return int(item)
    if not (is_tracer(item) or isinstance(item, (list, tuple, np.ndarray))):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None (fnp.newaxis) and integer or boolean "
                         f"arrays are valid indices, got {item!r}")
    index = asarray(item)
    t = typeof(index)
    if t.dtype == np.bool_:
        if is_tracer(index):
            raise IndexError(
                f"boolean mask indexing with a traced mask {index!r} is not supported: the result's shape would "
                "depend on how many elements are True, which is unknown while tracing. Use fnp.where(mask, x, 0) to "
                "keep the shape (and reduce with a sum), or pass the mask as a concrete numpy array")
        if t.ndim == 0:
            raise IndexError("a 0-d boolean index (x[np.True_]) is not supported; use x[None] to add an axis")
        return _BoolMask(index)
    if t.dtype.kind in "iu":
        return index if is_tracer(index) or t.ndim else int(index)
    if not is_tracer(index) and index.size == 0:
        return index.astype(np.int64)        # x[[]] selects nothing, as in numpy
    raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got {t}")


def _axes_used(entry) -> int:
    if entry is None or entry is Ellipsis:
        return 0
    return entry.mask.ndim if type(entry) is _BoolMask else 1


def _expand_index(index, shape: tuple) -> list:
    """The index as one entry per axis (plus Nones): Ellipsis filled in, masks turned into integer arrays."""
    entries = [_index_entry(item) for item in (index if isinstance(index, tuple) else (index,))]
    used = builtins.sum(_axes_used(entry) for entry in entries)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but {used} were indexed")
    ellipses = [i for i, entry in enumerate(entries) if entry is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [slice(None)] * (len(shape) - used)
    if ellipses:
        entries[ellipses[0]:ellipses[0] + 1] = fill
    else:
        entries += fill
    out, axis = [], 0
    for entry in entries:
        if type(entry) is _BoolMask:
            mask = entry.mask
            covered = shape[axis:axis + mask.ndim]
            if mask.shape != covered:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed axes of shape "
                                 f"{covered} (array of shape {shape})")
            out.extend(np.nonzero(mask))      # a k-d mask is k integer arrays, adjacent
            axis += mask.ndim
        else:
            out.append(entry)
            axis += _axes_used(entry)
    return out


def _insert_new_axes(x, entries: list):
    """Turn each None into a size-1 axis of x indexed by `:` (numpy places it the same way)."""
    if not builtins.any(entry is None for entry in entries):
        return x, entries
    shape, out, axis = [], [], 0
    for entry in entries:
        if entry is None:
            shape.append(1)
            out.append(slice(None))
        else:
            shape.append(typeof(x).shape[axis])
            out.append(entry)
            axis += 1
    return ops.reshape(x, shape), out


def _is_index_array(entry) -> bool:
    return is_tracer(entry) or isinstance(entry, np.ndarray)


def _checked_int(i: int, dim: int, axis: int) -> int:
    if not -dim <= i < dim:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
    return i % dim


def _basic_indexing(x, entries: list):
    """Apply the slices (one static_slice; negative steps as a gather) and int indices (slice, then squeeze)."""
    shape = typeof(x).shape
    starts, stops, steps, reversed_axes, int_axes = [], [], [], [], []
    for axis, (entry, dim) in enumerate(zip(entries, shape)):
        start, stop, step = 0, dim, 1
        if isinstance(entry, slice):
            start, stop, step = entry.indices(dim)
            if step < 0:
                reversed_axes.append((axis, np.arange(start, stop, step, dtype=np.int64)))
                start, stop, step = 0, dim, 1
        elif type(entry) is int:
            start = _checked_int(entry, dim, axis)
            stop = start + 1
            int_axes.append(axis)
        starts.append(start)
        stops.append(stop)
        steps.append(step)
    x = ops.static_slice(x, starts, stops, steps)
    for axis, positions in reversed_axes:
        x = ops.gather(x, positions, axis)
    return ops.squeeze(x, int_axes) if int_axes else x


def _nonnegative_index(index, dim: int, axis: int):
    """An integer index array with negative entries counted from the end (concrete ones bounds-checked)."""
    if is_tracer(index):
        index = ops.cast(index, np.int64)
        return ops.select(ops.lt(index, 0), ops.add(index, dim), index)
    bad = index[(index < -dim) | (index >= dim)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {dim}")
    return np.where(index < 0, index + dim, index).astype(np.int64)


def _linear_index(indices: list, dims: list):
    """The row-major position in the merged axes of size prod(dims) of each (broadcast) multi-index."""
    strides = [math.prod(dims[j + 1:]) for j in range(len(dims))]
    if not builtins.any(is_tracer(index) for index in indices):
        # numpy, not ops: inside a trace an op on constants would still record equations.
        return builtins.sum(index * stride for index, stride in zip(indices, strides))
    linear = None
    for index, stride in zip(indices, strides):
        term = ops.mul(index, stride) if stride != 1 else index
        linear = term if linear is None else ops.add(linear, term)
    return linear


def _advanced_indexing(x, entries: list, advanced: list):
    """Integer-array indices: one gather. Several indices merge their axes into one and index it with the
    linear position; numpy puts the broadcast index dimensions in place of adjacent indexed axes, and first
    when the indexed axes are separated by a slice."""
    shape = typeof(x).shape
    if len(advanced) == 1:
        return ops.gather(x, entries[advanced[0]], advanced[0])
    indices = [_nonnegative_index(entries[a], shape[a], a) for a in advanced]
    first = advanced[0]
    if advanced != list(range(first, advanced[-1] + 1)):
        x = ops.transpose(x, advanced + [a for a in range(len(shape)) if a not in advanced])
        first = 0
    dims = [shape[a] for a in advanced]
    moved = typeof(x).shape
    x = ops.reshape(x, moved[:first] + (math.prod(dims),) + moved[first + len(dims):])
    return ops.gather(x, _linear_index(indices, dims), first)


def getitem(x, index):
    """numpy's `x[index]` on fgrad values: ints, slices (negative steps too), None, Ellipsis, integer arrays
    (numpy, lists or traced, several at once) and concrete boolean masks."""
    x = arg(x)
    entries = _expand_index(index, typeof(x).shape)
    x, entries = _insert_new_axes(x, entries)
    if builtins.any(_is_index_array(entry) for entry in entries):
        # With an integer array present, int indices are advanced indices too (their axis joins the broadcast).
        entries = [np.asarray(entry, np.int64) if type(entry) is int else entry for entry in entries]
    advanced = [axis for axis, entry in enumerate(entries) if _is_index_array(entry)]
    x = _basic_indexing(x, entries)
    return _advanced_indexing(x, entries, advanced) if advanced else x


def take(a, indices, axis=None, mode=None):
    """numpy.take: elements at `indices` along `axis` (of the flattened array when None). mode 'clip' clamps
    indices into range and 'wrap' wraps them; the default checks concrete indices.

    >>> fnp.take(np.array([[1.0, 2.0], [3.0, 4.0]]), [1, 0], axis=1)
    array([[2., 1.],
           [4., 3.]])
    """
    a, indices = arg(a), arg(indices)
    if axis is None:
        a, axis = ops.reshape(a, (-1,)), 0
    if isinstance(indices, (int, np.integer)):
        indices = np.asarray(indices, np.int64)
    dim = typeof(a).shape[normalize_axis(int(axis), typeof(a).ndim)]
    # Concrete indices are adjusted with numpy, so they stay constants inside a trace.
    if mode == "clip":
        indices = clip(indices, 0, dim - 1) if is_tracer(indices) else np.clip(indices, 0, dim - 1)
    elif mode == "wrap":
        indices = remainder(indices, dim) if is_tracer(indices) else np.remainder(indices, dim)
    elif mode not in (None, "raise"):
        raise ValueError(f"take mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    return ops.gather(a, indices, axis)


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis: indices shaped like arr (broadcasting on the other axes) pick along `axis`.

    >>> fnp.take_along_axis(np.array([[10.0, 30.0, 20.0]]), np.array([[1, 2]]), axis=1)
    array([[30., 20.]])
    """
    arr, indices = arg(arr), arg(indices)
    if axis is None:
        arr, axis = ops.reshape(arr, (-1,)), 0
    shape_ = typeof(arr).shape
    if typeof(indices).ndim != len(shape_):
        raise ValueError(f"`indices` and `arr` must have the same number of dimensions, got shapes "
                         f"{typeof(indices).shape} and {shape_}")
    axis = normalize_axis(int(axis), len(shape_))
    index = tuple(indices if d == axis else
                  np.arange(n, dtype=np.int64).reshape([n if k == d else 1 for k in range(len(shape_))])
                  for d, n in enumerate(shape_))
    return getitem(arr, index)


# ---- .at[]: functional updates ---------------------------------------------------------------------

def _selected_positions(shape: tuple, index):
    """The flat (row-major) positions of the elements `x[index]` selects, shaped like `x[index]`."""
    size_ = math.prod(shape)
    if not contains_tracer(index):
        return np.arange(size_, dtype=np.int64).reshape(shape)[index]
    return getitem(ops.reshape(ops.iota((size_,), np.int64), shape), index)


def _occurrence_rounds(positions: np.ndarray) -> list:
    """Split flat update slots into rounds with distinct targets: round r holds each target's r-th update,
    so applying the rounds in order repeats numpy's sequential np.multiply.at exactly."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    slots = np.arange(positions.size)
    group_start = np.maximum.accumulate(np.where(np.r_[True, ordered[1:] != ordered[:-1]], slots, 0))
    occurrence = np.empty_like(slots)
    occurrence[order] = slots - group_start
    return [np.flatnonzero(occurrence == r) for r in range(int(occurrence.max()) + 1)]


def _combine_at(flat, positions, values, combine, fold, identity):
    """flat with flat[p] = combine(flat[p], v) for each update (p, v), a repeated position combined with each of
    its values in turn (np.multiply.at, np.minimum.at, ...). `fold(table, axis)` reduces several values into one
    and `identity` is its neutral element, for traced positions."""
    dtype = typeof(flat).dtype
    values = ops.reshape(ops.broadcast_to(ops.cast(arg(values), dtype), typeof(positions).shape), (-1,))
    if not is_tracer(positions):
        positions = np.reshape(positions, -1)       # numpy, not an op: inside a trace an op would be traced
        for slots in (_occurrence_rounds(positions) if positions.size else []):
            targets = positions[slots]
            combined = combine(ops.gather(flat, targets, 0), ops.gather(values, slots, 0))
            flat = ops.scatter(flat, targets, combined, 0)
        return flat
    # Traced positions: each element's update folds the values aimed at it (a size x updates table; the
    # repeats cannot be known at trace time).
    positions = ops.reshape(positions, (-1,))
    hits = ops.eq(ops.expand_dims(ops.iota(typeof(flat).shape, np.int64), 1), ops.expand_dims(positions, 0))
    table = ops.select(hits, ops.expand_dims(values, 0), identity(dtype))
    return combine(flat, fold(table, axis=1))


def _multiply_at(flat, positions, values):
    """flat with flat[positions] *= values, every repeated position multiplied by each of its values."""
    return _combine_at(flat, positions, values, ops.mul, prod, lambda dtype: 1)


def _minimum_at(flat, positions, values):
    """flat with flat[positions] = minimum(flat[positions], values), repeats included (np.minimum.at)."""
    return _combine_at(flat, positions, values, ops.minimum, min, _largest)


def _maximum_at(flat, positions, values):
    """flat with flat[positions] = maximum(flat[positions], values), repeats included (np.maximum.at)."""
    return _combine_at(flat, positions, values, ops.maximum, max, _smallest)


def _largest(dtype):
    dtype = np.dtype(dtype)
    return np.inf if dtype.kind == "f" else True if dtype.kind == "b" else np.iinfo(dtype).max


def _smallest(dtype):
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else False if dtype.kind == "b" else np.iinfo(dtype).min


def _set_at(flat, positions, values):
    return ops.scatter(flat, positions, arg(values), 0)


def _add_at(flat, positions, values):
    return ops.scatter_add(flat, positions, arg(values), 0)


# JAX's `mode` values: how out-of-bound indices are treated.
_MODES = (None, "promise_in_bounds", "clip", "drop", "fill")


def _clipped_index(index, shape: tuple) -> tuple:
    """`index` with each integer (array) entry counted from the end if negative, then clamped into its axis
    (mode='clip', as JAX)."""
    out, axis = [], 0
    for entry in _expand_index(index, shape):
        if entry is not None and not isinstance(entry, slice):
            dim = shape[axis]
            if type(entry) is int:
                entry = builtins.min(builtins.max(entry + dim if entry < 0 else entry, 0), dim - 1)
            elif is_tracer(entry):
                entry = clip(ops.select(ops.lt(entry, 0), ops.add(entry, dim), entry), 0, dim - 1)
            else:
                entry = np.clip(np.where(entry < 0, entry + dim, entry), 0, dim - 1)
        out.append(entry)
        axis += entry is not None
    return tuple(out)


def _out_of_bounds_to_padding(index, shape: tuple):
    """For mode 'drop' / 'fill': `index` with negative entries counted from the end and every out-of-bounds
    integer entry pointing at a padding slot one past its axis's end; and the axes that need that slot."""
    out, axis, padded = [], 0, []
    for entry in _expand_index(index, shape):
        if entry is not None and not isinstance(entry, slice):
            dim = shape[axis]
            padded.append(axis)
            if isinstance(entry, (int, np.integer)):
                entry = int(entry) + dim if entry < 0 else int(entry)
                entry = entry if 0 <= entry < dim else dim
            elif is_tracer(entry):
                wrapped = ops.select(ops.lt(entry, 0), ops.add(entry, dim), entry)
                entry = ops.select(ops.lt(wrapped, 0), dim, ops.select(ops.lt(wrapped, dim), wrapped, dim))
            else:
                entry = np.asarray(entry)
                wrapped = np.where(entry < 0, entry + dim, entry)
                entry = np.where((wrapped >= 0) & (wrapped < dim), wrapped, dim)
        out.append(entry)
        axis += entry is not None
    return tuple(out), padded


def _with_padding_slot(x, axes, value):
    """x with one more element, `value`, at the end of each of `axes`."""
    t = typeof(x)
    return ops.pad(x, tuple((0, 1 if a in axes else 0) for a in range(t.ndim)), value)


def _without_padding_slot(x, shape: tuple):
    return ops.static_slice(x, (0,) * len(shape), shape) if typeof(x).shape != shape else x


def _default_fill(dtype):
    """JAX's fill value for out-of-bounds gets: NaN, the most negative / largest integer, True."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max


class IndexUpdateRef:
    """`x.at[index]`, waiting for the update: JAX's set, add, multiply (mul), divide, power, min, max and get.

    Every method returns a new array and leaves x unchanged. `values` broadcast to the shape of x[index] and
    are cast to x's dtype. A repeated index keeps its last value for `set` and applies every value for
    `add`, `multiply`, `divide`, `power`, `min` and `max`. Keywords as JAX's: `mode` is None
    or 'promise_in_bounds' (fgrad checks concrete indices and raises IndexError when one is out of bounds),
    'clip' (clamp each index into its axis), 'drop' (updates aimed out of bounds are dropped) and 'fill' (`get`
    gives `fill_value` where an index is out of bounds: by default NaN for floats, the most negative value for
    signed integers, the largest for unsigned ones, True for booleans; JAX treats the two modes as one, so
    updates drop and gets fill under either). Negative
    indices count from the end in every mode. `indices_are_sorted` and `unique_indices` are hints fgrad does
    not need and ignores. Gradients flow to x and to `values`.

    >>> import fgrad.numpy as fnp
    >>> fnp.ones(4).at[::2].multiply(3.0)
    array([3., 1., 3., 1.])
    """
    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"{self.array!r}.at[{self.index!r}]"

    def _index_for(self, mode, method: str):
        if mode not in _MODES:
            raise ValueError(f"x.at[...].{method}: mode must be one of {_MODES}, got {mode!r}")
        return _clipped_index(self.index, typeof(self.array).shape) if mode == "clip" else self.index

    def _scattered(self, base, update, values, mode, method: str):
        """`base` (shaped like x) with update(flat, positions, values) applied at the index."""
        shape_ = typeof(self.array).shape
        index = self._index_for(mode, method)
        if mode in ("drop", "fill"):
            # Out-of-bounds updates land in a padding slot past each indexed axis's end, cut off afterwards.
            index, padded = _out_of_bounds_to_padding(index, shape_)
            base = _with_padding_slot(base, padded, 0)
            scattered = update(ops.reshape(base, (-1,)), _selected_positions(typeof(base).shape, index), values)
            return _without_padding_slot(ops.reshape(scattered, typeof(base).shape), shape_)
        positions = _selected_positions(shape_, index)
        return ops.reshape(update(ops.reshape(base, (-1,)), positions, values), shape_)

    def _ones(self):
        t = typeof(self.array)
        return ops.broadcast_to(np.ones((), t.dtype), t.shape)

    def get(self, *, indices_are_sorted=False, unique_indices=False, mode=None, fill_value=None):
        """x[index] (with mode='clip', clamped indices).

        >>> fnp.arange(5.0).at[-2:].get()   # doctest: +SKIP
        array([3., 4.])
        """
        if mode in ("fill", "drop"):          # JAX's FILL_OR_DROP: for a get, both fill
            index, padded = _out_of_bounds_to_padding(self.index, typeof(self.array).shape)
            dtype = typeof(self.array).dtype
            fill = _default_fill(dtype) if fill_value is None else fill_value
            return as_array(getitem(_with_padding_slot(self.array, padded, fill), index))
        return as_array(getitem(self.array, self._index_for(mode, "get")))

    def set(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with x[index] = values; a repeated index keeps its last value.

        >>> fnp.zeros(3).at[0].set(5.0)   # doctest: +SKIP
        array([5., 0., 0.])
        """
        return as_array(self._scattered(self.array, _set_at, values, mode, "set"))

    def add(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with values added at index; repeated indices accumulate (np.add.at).

        >>> fnp.zeros(3).at[[0, 0]].add(1.0)   # doctest: +SKIP
        array([2., 0., 0.])
        """
        return as_array(self._scattered(self.array, _add_at, values, mode, "add"))

    def multiply(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with x[index] multiplied by values; repeated indices multiply each time (np.multiply.at).

        >>> fnp.ones(3).at[1].multiply(2.0)   # doctest: +SKIP
        array([1., 2., 1.])
        """
        return as_array(self._scattered(self.array, _multiply_at, values, mode, "multiply"))

    mul = multiply

    def divide(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """x divided at index by values, as JAX: x / (ones with the values multiplied in at index), so integer x
        gives a float result and a repeated index divides by the product of its values.

        >>> fnp.ones(3).at[1].divide(4.0)   # doctest: +SKIP
        array([1.  , 0.25, 1.  ])
        """
        return as_array(divide(self.array, self._scattered(self._ones(), _multiply_at, values, mode, "divide")))

    def power(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """x raised at index to values, as JAX: x ** (ones with the values multiplied in at index), so a repeated
        index raises to each of its values in turn.

        >>> fnp.full(3, 2.0).at[2].power(3.0)   # doctest: +SKIP
        array([2., 2., 8.])
        """
        return as_array(power(self.array, self._scattered(self._ones(), _multiply_at, values, mode, "power")))

    def min(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with x[index] = minimum(x[index], values), every repeated value taken in (np.minimum.at).

        >>> fnp.ones(3).at[[0, 0]].min(fnp.array([0.5, -1.0]))   # doctest: +SKIP
        array([-1.,  1.,  1.])
        """
        return as_array(self._scattered(self.array, _minimum_at, values, mode, "min"))

    def max(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with x[index] = maximum(x[index], values), every repeated value taken in (np.maximum.at).

        >>> fnp.ones(3).at[2].max(4.0)   # doctest: +SKIP
        array([1., 1., 4.])
        """
        return as_array(self._scattered(self.array, _maximum_at, values, mode, "max"))


class IndexUpdateHelper:
    """The `.at` of fgrad arrays and traced values: `x.at[index].set(v)` and friends (JAX's functional updates)."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index) -> IndexUpdateRef:
        return IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"{self.array!r}.at"
