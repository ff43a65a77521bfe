"""Slicing primitives: slice (static, positive steps), pad (lo/hi/interior, static value), concatenate.

slice and pad are each other's transposes: the VJP of a strided slice pads the cotangent back into place
with zeros between the taken elements, and the VJP of pad slices the cotangent at the original elements.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive
from fgrad.ops.base import as_value, result_dtype, typeof
from fgrad.ops.core import batched_args_to_front, moveaxis, normalize_axis
from fgrad.ops.creation import static_scalar
from fgrad.ops.elementwise import cast
from fgrad.ops.identities import same_bits

__all__ = ["static_slice", "slice_p", "pad", "pad_p", "concatenate", "concatenate_p"]


def _per_axis(name: str, values, ndim: int, shape) -> tuple:
    values = tuple(values)
    if len(values) != ndim:
        raise ValueError(f"{name} needs one entry per axis of the array of shape {tuple(shape)} "
                         f"({ndim}), got {len(values)}: {values}")
    return values


def _slice_length(start: int, stop: int, step: int) -> int:
    return max(0, -(-(stop - start) // step))


def _tight_stop(start: int, stop: int, step: int) -> int:
    """The smallest stop that takes the same elements: one past the last element taken (start if none)."""
    n = _slice_length(start, stop, step)
    return start + (n - 1) * step + 1 if n else start


# ---- slice ----------------------------------------------------------------------------------------

def _slice_type(x: ArrayType, *, starts, stops, steps) -> ArrayType:
    for name, values in (("starts", starts), ("stops", stops), ("steps", steps)):
        _per_axis(f"slice {name}", values, x.ndim, x.shape)
    out = []
    for axis, (dim, start, stop, step) in enumerate(zip(x.shape, starts, stops, steps)):
        if step < 1:
            raise ValueError(f"slice step {step} on axis {axis} of shape {x.shape} must be positive")
        if not 0 <= start <= stop <= dim:
            raise ValueError(f"slice {start}:{stop} on axis {axis} of shape {x.shape} is not a "
                             f"normalized range (needs 0 <= start <= stop <= {dim})")
        out.append(_slice_length(start, stop, step))
    return ArrayType(out, x.dtype)


def _slice_impl(x, *, starts, stops, steps):
    return x[tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))]


def _slice_vjp(out_ct, out, x, *, starts, stops, steps):
    # Pad the cotangent back into place: `step - 1` zeros between the taken elements, exact for every step.
    widths = tuple((start, dim - _tight_stop(start, stop, step), step - 1)
                   for dim, start, stop, step in zip(typeof(x).shape, starts, stops, steps))
    return pad(out_ct, widths, 0)


def _slice_batch(args, dims, *, starts, stops, steps):
    x = moveaxis(args[0], dims[0], 0)
    size = typeof(x).shape[0]
    return slice_p.bind(x, starts=(0,) + starts, stops=(size,) + stops, steps=(1,) + steps), 0


slice_p = Primitive(
    "slice", kind="index", shape_rule=_slice_type, impl=_slice_impl,
    jvp=(lambda x_dot, out, x, *, starts, stops, steps: static_slice(x_dot, starts, stops, steps),),
    vjp=(_slice_vjp,), batch=_slice_batch, numba="slice",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=None,
    copies_input=True, distributes_over_add=True, keeps_order=False, aliases_input=True)


def static_slice(x, starts, stops, steps=None):
    """`x[starts[0]:stops[0]:steps[0], ...]` with static per-axis bounds and positive steps.

    Bounds follow Python slicing (None, negative counted from the end, clamped to the axis). Negative
    steps are not a slice here: reverse with gather.

    >>> static_slice(np.arange(10.0), (1,), (8,), (3,))
    array([1., 4., 7.])
    """
    x = as_value(x)
    t = typeof(x)
    starts = _per_axis("static_slice starts", starts, t.ndim, t.shape)
    stops = _per_axis("static_slice stops", stops, t.ndim, t.shape)
    steps = (1,) * t.ndim if steps is None else _per_axis("static_slice steps", steps, t.ndim, t.shape)
    norm_starts, norm_stops, norm_steps = [], [], []
    for axis, (dim, a, b, s) in enumerate(zip(t.shape, starts, stops, steps)):
        s = 1 if s is None else int(s)
        if s < 1:
            raise ValueError(f"static_slice step {s} on axis {axis} of shape {t.shape} must be positive; "
                             "reverse an axis with gather (or fgrad.numpy's x[::-1])")
        a, b, _ = slice(a, b, s).indices(dim)
        b = _tight_stop(a, max(a, b), s)   # one spelling per slice, so equal slices give equal equations
        norm_starts.append(a)
        norm_stops.append(b)
        norm_steps.append(s)
    if norm_starts == [0] * t.ndim and norm_stops == list(t.shape) and norm_steps == [1] * t.ndim:
        return x
    return slice_p.bind(x, starts=tuple(norm_starts), stops=tuple(norm_stops), steps=tuple(norm_steps))


# ---- pad ------------------------------------------------------------------------------------------

def _padded_size(dim: int, lo: int, hi: int, interior: int) -> int:
    return lo + hi + dim + max(dim - 1, 0) * interior


def _pad_type(x: ArrayType, *, widths, value) -> ArrayType:
    _per_axis("pad widths", widths, x.ndim, x.shape)
    for axis, w in enumerate(widths):
        if len(w) != 3 or any(v < 0 for v in w):
            raise ValueError(f"pad widths for axis {axis} of shape {x.shape} must be a non-negative "
                             f"(lo, hi, interior), got {w}")
    return ArrayType(tuple(_padded_size(d, *w) for d, w in zip(x.shape, widths)), x.dtype)


def _pad_impl(x, *, widths, value):
    out_shape = tuple(_padded_size(d, *w) for d, w in zip(x.shape, widths))
    out = np.full(out_shape, value, dtype=x.dtype)
    out[tuple(slice(lo, lo + d * (interior + 1), interior + 1)
              for d, (lo, hi, interior) in zip(x.shape, widths))] = x
    return out


def _pad_vjp(out_ct, out, x, *, widths, value):
    # The original elements sit at lo, lo + interior + 1, ...; the padding value is static, so no cotangent.
    ct_shape = typeof(out_ct).shape
    return static_slice(out_ct, [lo for lo, _, _ in widths],
                        [n - hi for n, (_, hi, _) in zip(ct_shape, widths)],
                        [interior + 1 for _, _, interior in widths])


def _pad_simplify(s, inputs, params, out_type):
    # Padding a uniform array with its own value gives a uniform array.
    fill = s.fill(inputs[0])
    pad_value = np.asarray(params["value"], dtype=out_type.dtype)
    return s.uniform(fill, out_type) if fill is not None and same_bits(pad_value, fill) else None


def _pad_batch(args, dims, *, widths, value):
    return pad_p.bind(moveaxis(args[0], dims[0], 0), widths=((0, 0, 0),) + widths, value=value), 0


# Linear (and distributing over add) only with the +0.0 fill that the derivative rules use: the simplifier
# checks the value before it merges two pads.
pad_p = Primitive(
    "pad", kind="index", shape_rule=_pad_type, impl=_pad_impl,
    jvp=(lambda x_dot, out, x, *, widths, value: pad(x_dot, widths, 0),),
    vjp=(_pad_vjp,), batch=_pad_batch, numba="pad",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=_pad_simplify,
    copies_input=False, distributes_over_add=True, keeps_order=False, aliases_input=False)


def pad(x, widths, value=0.0):
    """`x` padded with the static scalar `value`: per axis `lo` before, `hi` after and `interior` between
    neighbouring elements; widths is ((lo, hi, interior), ...), a pair (lo, hi) means no interior.

    >>> pad(np.array([1.0, 2.0]), ((1, 0, 2),))
    array([0., 1., 0., 0., 2.])
    """
    x = as_value(x)
    t = typeof(x)
    widths = _per_axis("pad widths", widths, t.ndim, t.shape)
    normalized = []
    for axis, w in enumerate(widths):
        w = tuple(int(v) for v in w)
        if len(w) == 2:
            w = w + (0,)
        if len(w) != 3 or any(v < 0 for v in w):
            raise ValueError(f"pad widths for axis {axis} of shape {t.shape} must be non-negative "
                             f"(lo, hi, interior) or (lo, hi), got {widths[axis]}")
        normalized.append(w)
    if all(w == (0, 0, 0) for w in normalized):
        return x
    return pad_p.bind(x, widths=tuple(normalized), value=static_scalar(value, t.dtype, "padding value"))


# ---- concatenate ----------------------------------------------------------------------------------

def _concatenate_type(*xs: ArrayType, axis) -> ArrayType:
    if not xs:
        raise ValueError("concatenate needs at least one array")
    first = xs[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated; expand_dims them first")
    if not 0 <= axis < first.ndim:
        raise ValueError(f"concatenate axis {axis} is out of range for arrays of dimension {first.ndim}")
    for x in xs:
        other_axes_differ = (x.ndim != first.ndim
                             or any(a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis))
        if other_axes_differ or x.dtype != first.dtype:
            listed = ", ".join(map(str, xs))
            raise ValueError(f"concatenate along axis {axis} needs one dtype and equal sizes on the other "
                             f"axes, got {listed}; the concatenate op promotes dtypes")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return ArrayType(shape, first.dtype)


def _offsets(xs, axis) -> list:
    """Where each input starts along `axis` in the result, and the total size at the end."""
    offsets = [0]
    for x in xs:
        offsets.append(offsets[-1] + typeof(x).shape[axis])
    return offsets


def _concatenate_jvp(i, x_dot, out, *xs, axis):
    # Input i's tangent lands in its own block of the output; zeros elsewhere (pad, not a concatenate of zeros).
    offsets = _offsets(xs, axis)
    widths = [(0, 0, 0)] * typeof(x_dot).ndim
    widths[axis] = (offsets[i], offsets[-1] - offsets[i + 1], 0)
    return pad(x_dot, widths, 0)


def _concatenate_vjp(i, out_ct, out, *xs, axis):
    offsets = _offsets(xs, axis)
    starts = [0] * typeof(out_ct).ndim
    stops = list(typeof(out_ct).shape)
    starts[axis], stops[axis] = offsets[i], offsets[i + 1]
    return static_slice(out_ct, starts, stops)


def _concatenate_simplify(s, inputs, params, out_type):
    fills = [s.fill(a) for a in inputs]
    if any(f is None for f in fills) or not all(same_bits(f, fills[0]) for f in fills):
        return None
    return s.uniform(fills[0], out_type)


concatenate_p = Primitive(
    "concatenate", kind="index", shape_rule=_concatenate_type,
    impl=lambda *xs, axis: np.concatenate(xs, axis=axis),
    jvp=_concatenate_jvp, vjp=_concatenate_vjp,
    batch=lambda args, dims, *, axis: (concatenate_p.bind(*batched_args_to_front(args, dims), axis=axis + 1), 0),
    numba="concatenate",
    commutative=False, linear_in="all", expensive=False, vector_math=None, simplify=_concatenate_simplify,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


def concatenate(xs, axis=0):
    """The arrays `xs` joined along `axis` (numpy's dtype promotion; other axes must match).

    >>> concatenate([np.zeros(2), np.ones(1)])
    array([0., 0., 1.])
    """
    xs = [as_value(x) for x in xs]
    if not xs:
        raise ValueError("concatenate needs at least one array")
    ndim = typeof(xs[0]).ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated; expand_dims them first")
    axis = normalize_axis(int(axis), ndim)
    dtype = result_dtype(*xs)
    xs = [cast(x, dtype) for x in xs]
    _concatenate_type(*[typeof(x) for x in xs], axis=axis)     # the shape errors, also when not tracing
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind(*xs, axis=axis)
