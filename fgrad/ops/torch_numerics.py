"""Implementation variants that round like PyTorch's CPU kernels: the "torch" variants of reduce_sum and
integer_pow (declared in their blocks, `impl_variants={"torch": ...}`; the facade runs programs with them).

Same semantics, shapes and dtypes as the primitives' impls; only the order of the floating-point operations
differs, where PyTorch's kernel orders them differently enough to show in printed results.

reduce_sum: PyTorch sums float tensors with a *cascade sum* (aten/src/ATen/native/cpu/SumKernel.cpp):
the loop nest TensorIterator builds (reduced dims innermost, coalesced), 8-lane vectors, 4 independent
accumulators ("ilp"), and partial sums carried up 4 levels every 16 steps. numpy's pairwise sum rounds
differently from 5 elements on, which changes float32 results printed with 2 decimals (seed tutorial
001's loss column). Reproduced here exactly, except for full reductions of more than 32768 elements,
which PyTorch splits across its threads (a machine-dependent order): those use numpy's sum.

integer_pow: PyTorch's pow kernel computes small exponents as products (x*x, x*x*x, 1/x, 1/(x*x)).
"""
from __future__ import annotations

import numpy as np

__all__ = ["torch_sum", "torch_integer_pow"]

VECTOR = 8              # lanes of Vectorized<float> in PyTorch's sum kernel on x86
ILP = 4                 # independent accumulators per row
LEVELS = 4              # cascade levels of multi_row_sum
GRAIN = 32768           # at::internal::GRAIN_SIZE: larger full reductions are parallel in PyTorch


def torch_sum(x, *, axes):
    """reduce_sum rounding like torch.sum on CPU (see the module docstring)."""
    x = np.asarray(x)
    if x.dtype.kind != "f" or x.size == 0 or not axes:
        return np.sum(x, axis=axes, dtype=x.dtype)
    if x.size > GRAIN and all(n == 1 for i, n in enumerate(x.shape) if i not in axes):
        return np.sum(x, axis=axes, dtype=x.dtype)
    if x.ndim == 1 or (len(axes) == x.ndim and x.flags.c_contiguous):
        flat = x.reshape(-1)
        if flat.size <= ILP:                # 0 + a0 + a1 + ...: numpy's sum adds in the same order
            return _add_reduce(flat, dtype=x.dtype)
        if flat.strides[0] == x.itemsize:
            if flat.size < VECTOR:
                return _small_row_sum(flat)
            if flat.size < ILP * VECTOR * 16:
                return _contiguous_row_sum(flat)
    key = (x.shape, x.strides, x.dtype, axes)  # the loop nest depends on the layout
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) > 1024:
            _plans.clear()
        plan = _plans[key] = _SumPlan(x, axes)
    return plan(x)


_plans = {}


def _contiguous_row_sum(flat):
    """vectorized_inner_sum of one contiguous row of 8 <= n < 512 elements (no cascade levels at this size):
    the 32 lanes summed over rows, folded to 8, then the tail elements and the 8 lanes added one by one."""
    n = flat.size
    n_vec = n // VECTOR
    groups = n_vec // ILP
    lanes = None
    if groups:
        rows = flat[:groups * ILP * VECTOR].reshape(groups, ILP * VECTOR)
        partial = rows[0]
        for i in range(1, groups):
            partial = partial + rows[i]
        lanes = partial[:VECTOR]
    for v in range(groups * ILP, n_vec):
        lanes = _add(lanes, flat[v * VECTOR:(v + 1) * VECTOR])
    if groups:
        for k in range(1, ILP):
            lanes = lanes + partial[k * VECTOR:(k + 1) * VECTOR]
    f = flat.dtype.type
    total = f(0)
    for value in flat[n_vec * VECTOR:].tolist() + lanes.tolist():
        total = f(total + value)       # a float32 sum rounded from the exact double sum is the float32 sum
    return np.asarray(total)


def _small_row_sum(flat):
    # row_sum of 5..7 contiguous elements: accumulators a0..a3, the tail added to the first, then combined.
    v = flat.tolist()
    f = flat.dtype.type
    p0 = f(v[0])
    for t in v[ILP:]:
        p0 = f(p0 + t)
    return np.asarray(f(f(f(p0 + v[1]) + v[2]) + v[3]))


class _SumPlan:
    """The loop nest TensorIterator builds for one reduction (shape, strides, axes), worked out once; each
    call then sums the 2-D inner loops as SumKernel.cpp does and adds up their contributions in order."""

    def __init__(self, x, axes):
        dims = _iteration_dims(x, axes)
        self.out_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        self.trivial = not dims or not dims[0].reduced            # only size-1 axes are reduced
        if self.trivial:
            self.axes = axes
            return
        d0 = dims[0]
        d1 = dims[1] if len(dims) > 1 else _Dim(1, 0, 0, False, ())
        outer = dims[2:]
        perm = _arrangement(x, list(reversed(outer)) + [d1, d0])
        self.perm = None if perm == tuple(range(x.ndim)) else perm
        self.values_shape = (-1, d1.size, d0.size)
        self.kernel = _kernel_for(d0, d1, x.itemsize)
        # one 2-D loop whose second dim is kept (or absent): its sums are the outputs
        self.direct = not outer and not (d1.reduced and d1.size > 1)
        # Each output element adds its contributions in iteration order (outer dims, then d1's columns).
        order = list(reversed(outer)) + [d1]
        kept = [i for i, d in enumerate(order) if not d.reduced]
        summed = [i for i, d in enumerate(order) if d.reduced]
        self.contributions_shape = tuple(d.size for d in order)
        self.contributions_perm = tuple(kept + summed)
        self.grouped_shape = tuple(order[i].size for i in kept) + (-1,)

    def __call__(self, x):
        if self.trivial:
            return np.sum(x, axis=self.axes, dtype=x.dtype)
        values = (x if self.perm is None else np.transpose(x, self.perm)).reshape(self.values_shape)
        sums = self.kernel(values)                                 # (outer combinations, size1)
        if self.direct:
            return np.asarray((sums[0] + x.dtype.type(0)).reshape(self.out_shape))
        contributions = np.transpose(sums.reshape(self.contributions_shape), self.contributions_perm)
        contributions = contributions.reshape(self.grouped_shape)
        total = _sequential_last(contributions) + x.dtype.type(0)
        return np.asarray(total.reshape(self.out_shape), dtype=x.dtype)


class _Dim:
    """One dim of the loop nest: its size, byte strides in the input and the output, whether it is
    reduced, and the array axes it coalesces (innermost first)."""
    __slots__ = ("size", "in_stride", "out_stride", "reduced", "axes")

    def __init__(self, size, in_stride, out_stride, reduced, axes):
        self.size, self.in_stride, self.out_stride = size, in_stride, out_stride
        self.reduced, self.axes = reduced, axes


def _iteration_dims(x, axes):
    """TensorIterator's dims for a reduction, innermost first.

    Reduced dims go innermost, sorted by input stride; kept dims follow in the output's order (the last
    axis innermost). Neighbours whose strides line up in the input and the output are coalesced.
    """
    out_strides = {}
    stride = x.itemsize
    for i in reversed(range(x.ndim)):
        if i not in axes:
            out_strides[i] = stride
            stride *= x.shape[i]
    dims = [_Dim(n, s, out_strides.get(i, 0), i in axes, (i,))
            for i, (n, s) in enumerate(zip(x.shape, x.strides)) if n != 1]
    reduced = sorted((d for d in dims if d.reduced), key=lambda d: d.in_stride)
    kept = sorted((d for d in dims if not d.reduced), key=lambda d: -d.axes[0])
    merged = []
    for d in reduced + kept:
        prev = merged[-1] if merged else None
        if (prev is not None and prev.reduced == d.reduced and d.in_stride == prev.in_stride * prev.size
                and d.out_stride == prev.out_stride * prev.size):
            merged[-1] = _Dim(prev.size * d.size, prev.in_stride, prev.out_stride, prev.reduced,
                              prev.axes + d.axes)
        else:
            merged.append(d)
    return merged


def _arrangement(x, dims_outer_to_inner):
    """The transpose of x that runs `dims` outermost to innermost (size-1 axes first)."""
    perm = [axis for d in dims_outer_to_inner for axis in reversed(d.axes)]
    return tuple([i for i in range(x.ndim) if i not in perm] + perm)


def _kernel_for(d0, d1, itemsize):
    """Which of cascade_sum's four 2-D loops runs, from the strides: a function of values
    (batch, size1, size0) summed over size0, giving (batch, size1)."""
    if d0.in_stride == itemsize and d0.size >= VECTOR:
        return _vectorized_inner_sum
    if d1.in_stride == itemsize and d1.size >= VECTOR:
        return lambda values: _outer_sum(values, block=ILP * VECTOR)
    if d0.in_stride < d1.in_stride:
        return lambda values: _row_partials(values[..., None])[..., 0]
    return lambda values: _outer_sum(values, block=ILP)


# The C++ accumulators start at 0.0; here a structural zero is None and skipped. Adding +0.0 only
# changes the sign of a zero, and the kernel's output starts at +0.0 too, so torch_sum's final `+ 0`
# gives the same result.

def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _sequential_rows(values):
    """v[..., 0, :] + v[..., 1, :] + ..., in that order (None when there are no rows)."""
    n = values.shape[-2]
    if n > 2 and values.shape[-1] > 1 and values.flags.c_contiguous and _OUTER_REDUCE_IS_SEQUENTIAL:
        return _add_reduce(values, axis=-2)
    acc = values[..., 0, :] if n else None
    for i in range(1, n):
        acc = acc + values[..., i, :]
    return acc


def _outer_reduce_is_sequential() -> bool:
    """numpy reduces a C-contiguous array over a non-innermost axis row by row, in order (its pairwise
    summation only applies along the innermost axis); checked once rather than assumed."""
    values = np.random.default_rng(0).standard_normal((2, 40, 3)).astype(np.float32) * 1000
    expected = values[:, 0, :]
    for i in range(1, values.shape[1]):
        expected = expected + values[:, i, :]
    return bool(np.array_equal(np.add.reduce(values, axis=1), expected))


def _sequential_last(values):
    """v[..., 0] + v[..., 1] + ..., in that order."""
    acc = values[..., 0]
    for i in range(1, values.shape[-1]):
        acc = acc + values[..., i]
    return acc


def _multi_row_sum(rows):
    """multi_row_sum: rows (..., size, lanes) summed over `size` with the 4-level cascade."""
    size = rows.shape[-2]
    level_power = max(4, _ceil_log2(size) // LEVELS)
    step = 1 << level_power
    chunks = size // step
    if not chunks:
        return _sequential_rows(rows)
    # acc[1] takes each chunk's sum; every `step` chunks it moves up to acc[2], and every step**2 to acc[3].
    acc = [None] * LEVELS
    carried = None
    if chunks:
        carried = _sequential_rows(_split(rows[..., :chunks * step, :], step))
    for level in range(1, LEVELS):
        if carried is None:
            break
        groups = carried.shape[-2] // step if level < LEVELS - 1 else 0
        acc[level] = _sequential_rows(carried[..., groups * step:, :])
        carried = _sequential_rows(_split(carried[..., :groups * step, :], step)) if groups else None
    total = _sequential_rows(rows[..., chunks * step:, :])
    for level in range(1, LEVELS):
        total = _add(total, acc[level])
    return total


def _split(rows, step):
    """(..., n, lanes) -> (..., n // step, step, lanes)."""
    return rows.reshape(rows.shape[:-2] + (rows.shape[-2] // step, step) + rows.shape[-1:])


def _row_partials(rows):
    """row_sum over the rows of `rows` (..., n, lanes) with 4-way ILP: (..., lanes)."""
    n = rows.shape[-2]
    groups = n // ILP
    lanes = rows.shape[-1]
    partial = None
    if groups:
        grouped = rows[..., :groups * ILP, :].reshape(rows.shape[:-2] + (groups, ILP * lanes))
        partial = _multi_row_sum(grouped).reshape(rows.shape[:-2] + (ILP, lanes))
    total = partial[..., 0, :] if groups else None
    for i in range(groups * ILP, n):
        total = _add(total, rows[..., i, :])
    if groups:
        for k in range(1, ILP):
            total = total + partial[..., k, :]
    return total


def _vectorized_inner_sum(values):
    """vectorized_inner_sum: values (batch, rows, n) summed over n with 8-lane vectors (n >= 8)."""
    n = values.shape[-1]
    n_vec = n // VECTOR
    vectors = values[..., :n_vec * VECTOR].reshape(values.shape[:-1] + (n_vec, VECTOR))
    lanes = _row_partials(vectors)                                 # (batch, rows, 8)
    total = None
    for k in range(n_vec * VECTOR, n):
        total = _add(total, values[..., k])
    for lane in range(VECTOR):
        total = _add(total, lanes[..., lane])
    return total


def _outer_sum(values, block):
    """vectorized_outer_sum (block 32) / scalar_outer_sum (block 4): values (batch, cols, rows) summed over
    rows. Whole blocks of columns take the cascade over all rows, the other columns row_sum's ILP split."""
    columns = values.shape[1]
    by_rows = np.swapaxes(values, 1, 2)                            # (batch, rows, cols)
    split = columns // block * block
    parts = []
    if split:
        parts.append(_multi_row_sum(by_rows[..., :split]))
    if split < columns:
        parts.append(_row_partials(by_rows[..., split:]))
    return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _ceil_log2(n: int) -> int:
    return 1 if n <= 2 else int(n - 1).bit_length()


_add_reduce = np.add.reduce
_OUTER_REDUCE_IS_SEQUENTIAL = _outer_reduce_is_sequential()


def torch_integer_pow(x, *, y):
    """integer_pow as PyTorch's pow kernel computes small exponents: x*x, x*x*x, 1/x, 1/(x*x)."""
    if y == 1:
        return np.positive(x)           # a new array: kernels treat integer_pow's result as their own
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if y == 2:
            return np.multiply(x, x)
        if y == 3:
            return np.multiply(np.multiply(x, x), x)
        dtype = np.result_type(x)
        if dtype.kind == "f" and y == -1:
            return np.divide(dtype.type(1), x)
        if dtype.kind == "f" and y == -2:
            return np.divide(dtype.type(1), np.multiply(x, x))
        if y < 0 and dtype.kind != "f":
            raise ValueError("integers to negative integer powers are not allowed")
        return np.power(x, np.asarray(y, dtype=dtype))
