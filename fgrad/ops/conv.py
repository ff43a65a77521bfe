"""Convolution: one primitive, `conv_general_dilated`, with JAX's semantics and every rule.

The primitive sees the canonical layout: lhs (N, C, *spatial), rhs (O, C // groups, *window), out
(N, O, *out_spatial), i.e. XLA's ConvGeneralDilated with dimension numbers NC..., OI..., NC.... The op
`conv_general_dilated` takes JAX's other layouts ("NHWC", "HWIO", ...) and padding strings and transposes
to the canonical one, so the rules never see a layout.

    out[n, o, y] = sum_{i, k} lhs_dilated_padded[n, g(o) * C/G + i, y * stride + k * rhs_dilation] * rhs[o, i, k]

where lhs_dilated_padded inserts lhs_dilation - 1 zeros between input elements, then pads (lo, hi) per
spatial axis (a negative pad crops). The derivatives are convolutions again (JAX's transposition rules):
the cotangent of lhs convolves the cotangent with the flipped kernel (a "transposed convolution"), that of
rhs convolves lhs with the cotangent; both are written with this primitive, so derivatives of any order
are convolutions.

The numpy impl is im2col and BLAS: per chunk of examples, the columns gathered per window offset and one
product per group; or, when the output has fewer positions than the window (the kernel's
cotangent), a strided view of the windows contracted directly. The Numba emitter (`CallEmitter`) calls a
jitted helper: im2col per example and group and one np.dot (float32/float64), or the direct loops.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, is_float
from fgrad.ops.base import CallEmitter, as_value, float_dtype, result_dtype, static_dims, typeof
from fgrad.ops.core import reshape, transpose
from fgrad.ops.elementwise import cast
from fgrad.ops.indexing import gather

__all__ = ["conv_general_dilated", "conv_general_dilated_p", "conv_dimension_numbers", "padding_for"]


def dilate_dim(size: int, dilation: int) -> int:
    """The length of `size` elements with `dilation - 1` zeros between neighbours (0 stays 0)."""
    return 0 if size == 0 else 1 + dilation * (size - 1)


def _out_dim(size, window, stride, lo, hi, lhs_dilation, rhs_dilation) -> int:
    padded = dilate_dim(size, lhs_dilation) + lo + hi
    span = dilate_dim(window, rhs_dilation)
    return max(0, (padded - span) // stride + 1) if padded >= span else 0


# ---- the shape rule -------------------------------------------------------------------------------

def _check_params(nsp: int, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
    for name, values in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                         ("rhs_dilation", rhs_dilation)):
        if len(values) != nsp:
            raise ValueError(f"conv_general_dilated: {name} needs one entry per spatial axis ({nsp}), got {values}")
        if any(v < 1 for v in values):
            raise ValueError(f"conv_general_dilated: {name} must be positive integers, got {values}")
    if len(padding) != nsp or any(len(p) != 2 for p in padding):
        raise ValueError(f"conv_general_dilated: padding needs one (lo, hi) pair per spatial axis ({nsp}), "
                         f"got {padding}")
    if feature_group_count < 1:
        raise ValueError(f"conv_general_dilated: feature_group_count must be >= 1, got {feature_group_count}")


def _conv_type(lhs: ArrayType, rhs: ArrayType, *, window_strides, padding, lhs_dilation, rhs_dilation,
               feature_group_count) -> ArrayType:
    if lhs.ndim < 3 or lhs.ndim != rhs.ndim:
        raise ValueError(f"conv_general_dilated needs lhs and rhs of equal rank >= 3 (batch, feature, spatial...), "
                         f"got shapes {lhs.shape} and {rhs.shape}")
    if lhs.dtype != rhs.dtype or not is_float(lhs.dtype):
        raise TypeError(f"the conv_general_dilated primitive needs equal float dtypes, got {lhs} and {rhs}; use "
                        "fgrad.lax.conv_general_dilated, which promotes")
    nsp = lhs.ndim - 2
    _check_params(nsp, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count)
    channels, out_features = lhs.shape[1], rhs.shape[0]
    groups = feature_group_count
    if channels % groups or out_features % groups:
        raise ValueError(f"conv_general_dilated: feature_group_count={groups} must divide the input features "
                         f"({channels}) and the output features ({out_features}); shapes {lhs.shape} and {rhs.shape}")
    if rhs.shape[1] * groups != channels:
        raise ValueError(f"conv_general_dilated: rhs has {rhs.shape[1]} input features but lhs has {channels} "
                         f"features in {groups} group(s) (needs {channels // groups}); shapes {lhs.shape} and "
                         f"{rhs.shape}")
    spatial = tuple(_out_dim(s, k, st, lo, hi, ld, rd) for s, k, st, (lo, hi), ld, rd in
                    zip(lhs.shape[2:], rhs.shape[2:], window_strides, padding, lhs_dilation, rhs_dilation))
    return ArrayType((lhs.shape[0], out_features) + spatial, lhs.dtype)


# ---- the numpy implementation (im2col + BLAS) ------------------------------------------------------

def _dilate_and_pad(x: np.ndarray, padding, lhs_dilation) -> np.ndarray:
    """x with lhs_dilation - 1 zeros between spatial neighbours, padded (lo, hi) per spatial axis; negative
    pads crop. x itself when there is nothing to insert; else one zeroed array and one strided assignment
    (cheaper than np.pad)."""
    if all(d == 1 for d in lhs_dilation) and all(p == (0, 0) for p in padding):
        return x
    sizes, into, read = [], [], []
    for n, d, (lo, hi) in zip(x.shape[2:], lhs_dilation, padding):
        size = max(dilate_dim(n, d) + lo + hi, 0)
        first = max(0, -(lo // d))                  # input element i lands at lo + d * i: keep 0 <= it < size
        last = min(n - 1, (size - 1 - lo) // d)
        sizes.append(size)
        into.append(slice(lo + d * first, lo + d * last + 1, d) if last >= first else slice(0, 0))
        read.append(slice(first, last + 1) if last >= first else slice(0, 0))
    out = np.zeros(x.shape[:2] + tuple(sizes), x.dtype)
    out[(slice(None), slice(None)) + tuple(into)] = x[(slice(None), slice(None)) + tuple(read)]
    return out


_CHUNK_BYTES = 1 << 20     # im2col columns per chunk of examples: ~1 MB stays in cache (measured best of 256k..1G)


def _conv_impl(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
    out_type = _conv_type(typeof(lhs), typeof(rhs), window_strides=window_strides, padding=padding,
                          lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                          feature_group_count=feature_group_count)
    out_spatial, window = out_type.shape[2:], rhs.shape[2:]
    if 0 in out_type.shape or 0 in window or lhs.shape[1] == 0:
        return np.zeros(out_type.shape, lhs.dtype)
    x = _dilate_and_pad(lhs, padding, lhs_dilation)
    groups = feature_group_count
    # Few window offsets (the forward pass, the input's cotangent): im2col per chunk of examples and one
    # product per group. Few output positions (the kernel's cotangent, whose "window" is the cotangent
    # itself): contract a strided view of all windows instead.
    if int(np.prod(window)) <= int(np.prod(out_spatial)):
        out = _by_example_columns(x, rhs, out_spatial, window_strides, rhs_dilation, groups)
    else:
        per_group_in, per_group_out = lhs.shape[1] // groups, rhs.shape[0] // groups
        parts = [_by_windows_view(x[:, g * per_group_in:(g + 1) * per_group_in],
                                  rhs[g * per_group_out:(g + 1) * per_group_out], out_spatial, window_strides,
                                  rhs_dilation) for g in range(groups)]
        out = parts[0] if groups == 1 else np.concatenate(parts, axis=1)
    return out.astype(lhs.dtype, copy=False)


def _offset_slice(k, dilation, out_spatial, strides) -> tuple:
    """The strided slice of the spatial axes that window offset k reads for every output position."""
    return tuple(slice(kk * d, kk * d + (y - 1) * s + 1, s) for kk, d, y, s in zip(k, dilation, out_spatial, strides))


def _by_example_columns(x, w, out_spatial, strides, dilation, groups):
    """im2col per chunk of examples: columns (C, *K, n, *Y), one strided copy per window offset, then per
    group one BLAS product (O/G, C/G * prod(K)) @ (C/G * prod(K), n * prod(Y)), its (O/G, n, *Y) result
    copied into the (N, O, *Y) output. A chunk's columns (~_CHUNK_BYTES) stay in cache between the copy and
    the product. One chunk is one product over the whole batch, bit for bit the earlier impl (whose
    rounding the tutorials' PyTorch transcripts were matched with); more chunks may round a few elements
    differently (OpenBLAS's edge blocks), as a product per example would (a batched np.matmul was 20%
    faster but moved a small CNN's training loss in the 4th decimal after five epochs)."""
    n, c = x.shape[:2]
    o, window = w.shape[0], tuple(w.shape[2:])
    out_spatial = tuple(out_spatial)
    taps, positions = int(np.prod(window)), int(np.prod(out_spatial))
    per_group_in, per_group_out = c // groups, o // groups
    kernel = np.ascontiguousarray(w).reshape(groups, per_group_out, per_group_in * taps)
    out = np.empty((n, o) + out_spatial, x.dtype)
    step = max(1, min(n, _CHUNK_BYTES // (c * taps * positions * x.itemsize)))
    buffer = np.empty(c * taps * step * positions, x.dtype)
    by_feature = x.transpose((1, 0) + tuple(range(2, x.ndim)))                  # (C, N, *S), a view
    reads = [((slice(None),) + k, (slice(None), slice(None)) + _offset_slice(k, dilation, out_spatial, strides))
             for k in np.ndindex(*window)]
    for start in range(0, n, step):
        stop = min(n, start + step)
        columns = buffer[:c * taps * (stop - start) * positions].reshape((c,) + window + (stop - start,) +
                                                                          out_spatial)
        source = by_feature[:, start:stop]
        for into, read in reads:
            columns[into] = source[read]
        rows = columns.reshape(groups, per_group_in * taps, (stop - start) * positions)
        for g in range(groups):
            product = np.dot(kernel[g], rows[g])                                # (O/G, n * prod(Y))
            out[start:stop, g * per_group_out:(g + 1) * per_group_out] = \
                product.reshape((per_group_out, stop - start) + out_spatial).swapaxes(0, 1)
    return out


def _by_windows_view(x, w, out_spatial, strides, dilation):
    """All windows as one strided view (N, C, *Y, *K) contracted with the kernel over (C, *K)."""
    nsp = len(out_spatial)
    x = np.ascontiguousarray(x)
    spatial_strides = x.strides[2:]
    view_strides = x.strides[:2] + tuple(st * s for st, s in zip(spatial_strides, strides)) + \
        tuple(st * d for st, d in zip(spatial_strides, dilation))
    windows = np.lib.stride_tricks.as_strided(x, x.shape[:2] + tuple(out_spatial) + tuple(w.shape[2:]),
                                              view_strides, writeable=False)
    axes = [1] + list(range(2 + nsp, 2 + 2 * nsp))
    out = np.tensordot(windows, w, axes=(axes, [1] + list(range(2, 2 + nsp))))    # (N, *Y, O)
    return np.ascontiguousarray(np.moveaxis(out, -1, 1))


# ---- derivatives: convolutions again ---------------------------------------------------------------

def _flip_spatial(x):
    """x reversed along every axis after the first two (the kernel's window)."""
    for axis in range(2, typeof(x).ndim):
        n = typeof(x).shape[axis]
        x = gather(x, np.arange(n - 1, -1, -1, dtype=np.int64), axis)
    return x


def _transposed_kernel(rhs, groups: int):
    """The kernel of the transposed convolution: (O, C/G, *K) -> (C, O/G, *K) with the window flipped, the
    groups kept in order (group g's input features become its output features)."""
    shape = typeof(rhs).shape
    out_features, per_group_in, window = shape[0], shape[1], shape[2:]
    per_group_out = out_features // groups
    nsp = len(window)
    spatial = tuple(range(3, 3 + nsp))
    k = reshape(rhs, (groups, per_group_out, per_group_in) + window)
    k = transpose(k, (0, 2, 1) + spatial)
    return _flip_spatial(reshape(k, (groups * per_group_in, per_group_out) + window))


def _conv_vjp_lhs(out_ct, out, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                  feature_group_count):
    # The transposed convolution: the cotangent, dilated by the strides, against the flipped kernel; the
    # padding puts every input position under the windows that read it (it may be negative: a crop).
    pads = []
    for size, window, out_size, stride, (lo, hi), ld, rd in zip(
            typeof(lhs).shape[2:], typeof(rhs).shape[2:], typeof(out_ct).shape[2:], window_strides, padding,
            lhs_dilation, rhs_dilation):
        span = dilate_dim(window, rd)
        before = span - lo - 1
        after = dilate_dim(size, ld) + span - 1 - dilate_dim(out_size, stride) - before
        pads.append((before, after))
    return conv_general_dilated_p.bind(
        out_ct, _transposed_kernel(rhs, feature_group_count), window_strides=lhs_dilation, padding=tuple(pads),
        lhs_dilation=window_strides, rhs_dilation=rhs_dilation, feature_group_count=feature_group_count)


def _conv_vjp_rhs(out_ct, out, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                  feature_group_count):
    # The kernel's cotangent correlates lhs with the cotangent over the batch: lhs becomes (C/G, G*N, *S)
    # (its features the "batch"), the cotangent (O, N, *Y) the kernel, one group per feature group; the
    # result (C/G, O, *K) is transposed back. The strides become the dilation of the cotangent's window.
    groups = feature_group_count
    n, channels = typeof(lhs).shape[:2]
    out_features = typeof(rhs).shape[0]
    spatial_in, spatial_out = typeof(lhs).shape[2:], typeof(out_ct).shape[2:]
    nsp = len(spatial_in)
    tail = tuple(range(3, 3 + nsp))
    x = reshape(lhs, (n, groups, channels // groups) + spatial_in)
    x = reshape(transpose(x, (2, 1, 0) + tail), (channels // groups, groups * n) + spatial_in)
    ct = reshape(out_ct, (n, groups, out_features // groups) + spatial_out)
    ct = reshape(transpose(ct, (1, 2, 0) + tail), (out_features, n) + spatial_out)
    pads = []
    for size, window, out_size, stride, (lo, hi), ld, rd in zip(
            spatial_in, typeof(rhs).shape[2:], spatial_out, window_strides, padding, lhs_dilation, rhs_dilation):
        after = dilate_dim(out_size, stride) - dilate_dim(size, ld) + dilate_dim(window, rd) - lo - 1
        pads.append((lo, after))
    result = conv_general_dilated_p.bind(x, ct, window_strides=rhs_dilation, padding=tuple(pads),
                                         lhs_dilation=lhs_dilation, rhs_dilation=window_strides,
                                         feature_group_count=groups)
    return transpose(result, (1, 0) + tuple(range(2, 2 + nsp)))


# ---- batching: the batch axis joins the examples or the feature groups -------------------------------

def _conv_batch(args, dims, **params):
    (lhs, rhs), (dl, dr) = args, dims
    groups = params["feature_group_count"]
    if dr is None:
        # Only lhs is batched: the vmapped axis joins the examples.
        b = typeof(lhs).shape[dl]
        x = _move_to_front(lhs, dl)
        x = reshape(x, (b * typeof(x).shape[1],) + typeof(x).shape[2:])
        out = conv_general_dilated_p.bind(x, rhs, **params)
        return reshape(out, (b, typeof(out).shape[0] // b) + typeof(out).shape[1:]), 0
    b = typeof(rhs).shape[dr]
    w = _move_to_front(rhs, dr)                              # (B, O, I, *K)
    shape = typeof(w).shape
    out_features = shape[1]
    if dl is None:
        # Only rhs is batched: each group's output features take the B kernels, (G, B, O/G) in order.
        w = reshape(w, (b, groups, out_features // groups) + shape[2:])
        w = transpose(w, (1, 0, 2) + tuple(range(3, len(shape) + 1)))
        out = conv_general_dilated_p.bind(lhs, reshape(w, (b * out_features,) + shape[2:]), **params)
        n, spatial = typeof(out).shape[0], typeof(out).shape[2:]
        out = reshape(out, (n, groups, b, out_features // groups) + spatial)
        out = transpose(out, (2, 0, 1, 3) + tuple(range(4, 4 + len(spatial))))
        return reshape(out, (b, n, out_features) + spatial), 0
    # Both batched: B * G groups, member b's features and kernels side by side.
    x = _move_to_front(lhs, dl)                              # (B, N, C, *S)
    xs = typeof(x).shape
    x = reshape(transpose(x, (1, 0) + tuple(range(2, len(xs)))), (xs[1], b * xs[2]) + xs[3:])
    params = dict(params, feature_group_count=b * groups)
    out = conv_general_dilated_p.bind(x, reshape(w, (b * out_features,) + shape[2:]), **params)
    n, spatial = typeof(out).shape[0], typeof(out).shape[2:]
    out = reshape(out, (n, b, out_features) + spatial)
    return transpose(out, (1, 0) + tuple(range(2, 3 + len(spatial)))), 0


def _move_to_front(x, axis: int):
    ndim = typeof(x).ndim
    return x if axis == 0 else transpose(x, (axis,) + tuple(a for a in range(ndim) if a != axis))


# ---- the Numba emitter: a jitted helper, im2col and BLAS as the numpy impl ---------------------------------

_BLAS_DTYPES = ("float32", "float64")          # np.dot inside njit (SciPy's BLAS); others take the direct loops


def _helper_source(name: str, nsp: int, dtype: np.dtype) -> str:
    """A plain function (jitted with the kernel) computing the convolution for `nsp` spatial axes. For
    float32/float64, per example and group: the columns (C/G * prod(K), prod(Y)) of the dilated, padded
    input (zeros where a window reads padding or an inserted zero), then one np.dot with the group's
    kernel (O/G, C/G * prod(K)), as the numpy impl. Other dtypes: the definition's direct loops."""
    if dtype.name in _BLAS_DTYPES:
        return _columns_helper_source(name, nsp, dtype)
    return _direct_helper_source(name, nsp, dtype)


def _columns_helper_source(name: str, nsp: int, dtype: np.dtype) -> str:
    ks, ys = [f"k{a}" for a in range(nsp)], [f"y{a}" for a in range(nsp)]
    params = ", ".join(f"s{a}, p{a}, l{a}, r{a}" for a in range(nsp))
    taps = " * ".join(f"rhs.shape[{2 + a}]" for a in range(nsp))
    positions = " * ".join(f"out.shape[{2 + a}]" for a in range(nsp))
    lines = [f"def {name}(lhs, rhs, out, groups, {params}):",
             "    per_group_in = rhs.shape[1]",
             "    per_group_out = out.shape[1] // groups",
             f"    taps = {taps}",
             f"    positions = {positions}",
             "    kernel = np.ascontiguousarray(rhs).reshape((groups, per_group_out, per_group_in * taps))",
             "    rows = out.reshape((out.shape[0], out.shape[1], positions))",
             "    if rows.size == 0 or per_group_in * taps == 0:      # nothing to sum: zeros (np.dot of empty)",
             "        rows[:, :, :] = 0",
             "        return out",
             f"    columns = np.empty((per_group_in * taps, positions), dtype=np.{dtype.name})",
             "    for n in range(out.shape[0]):",
             "        for g in range(groups):",
             "            for i in range(per_group_in):",
             "                feature = g * per_group_in + i"]
    depth = 4
    row, col = "i", None
    for a in range(nsp):
        pad = "    " * depth
        lines.append(pad + f"for {ks[a]} in range(rhs.shape[{2 + a}]):")
        row = f"({row}) * rhs.shape[{2 + a}] + {ks[a]}"
        depth += 1
    lines.append("    " * depth + f"row = {row}")
    for a in range(nsp):
        pad = "    " * depth
        lines += [pad + f"for {ys[a]} in range(out.shape[{2 + a}]):",
                  pad + f"    q{a} = {ys[a]} * s{a} + {ks[a]} * r{a} - p{a}",
                  pad + f"    inside{a} = q{a} >= 0 and q{a} % l{a} == 0 and q{a} // l{a} < lhs.shape[{2 + a}]" +
                  (f" and inside{a - 1}" if a else "")]
        col = ys[a] if col is None else f"({col}) * out.shape[{2 + a}] + {ys[a]}"
        depth += 1
    pad = "    " * depth
    reads = ", ".join(f"q{a} // l{a}" for a in range(nsp))
    lines += [pad + f"if inside{nsp - 1}:",
              pad + f"    columns[row, {col}] = lhs[n, feature, {reads}]",
              pad + "else:",
              pad + f"    columns[row, {col}] = 0",
              "            rows[n, g * per_group_out:(g + 1) * per_group_out, :] = np.dot(kernel[g], columns)",
              "    return out"]
    return "\n".join(lines) + "\n"


def _direct_helper_source(name: str, nsp: int, dtype: np.dtype) -> str:
    """The convolution by its definition, for `nsp` spatial axes: out[n, o, y...] = sum over i, k... of lhs
    at the dilated, padded position times rhs (dtypes np.dot does not take)."""
    ys = [f"y{a}" for a in range(nsp)]
    ks = [f"k{a}" for a in range(nsp)]
    xs = [f"x{a}" for a in range(nsp)]
    params = ", ".join(f"s{a}, p{a}, l{a}, r{a}" for a in range(nsp))
    lines = [f"def {name}(lhs, rhs, out, groups, {params}):",
             "    per_group_in = rhs.shape[1]",
             "    per_group_out = out.shape[1] // groups",
             "    for n in range(out.shape[0]):",
             "        for o in range(out.shape[1]):",
             "            base = (o // per_group_out) * per_group_in"]
    depth = 3
    for a in range(nsp):
        lines.append("    " * depth + f"for {ys[a]} in range(out.shape[{2 + a}]):")
        depth += 1
    lines.append("    " * depth + f"acc = np.{dtype.name}(0)")
    lines.append("    " * depth + "for i in range(per_group_in):")
    depth += 1
    for a in range(nsp):
        pad = "    " * depth
        lines += [pad + f"for {ks[a]} in range(rhs.shape[{2 + a}]):",
                  pad + f"    q{a} = {ys[a]} * s{a} + {ks[a]} * r{a} - p{a}",
                  pad + f"    if q{a} < 0 or q{a} % l{a} != 0 or q{a} // l{a} >= lhs.shape[{2 + a}]:",
                  pad + "        continue",
                  pad + f"    {xs[a]} = q{a} // l{a}"]
        depth += 1
    lines.append("    " * depth + f"acc += lhs[n, base + i, {', '.join(xs)}] * rhs[o, i, {', '.join(ks)}]")
    lines.append("    " * (3 + nsp) + f"out[n, o, {', '.join(ys)}] = acc")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def _write_conv(w, eqn):
    lhs, rhs = eqn.inputs
    out = eqn.outputs[0]
    p = eqn.params
    nsp = lhs.type.ndim - 2
    name = w.helper(f"conv_general_{nsp}d_{out.type.dtype.name}",
                    _helper_source(f"conv_general_{nsp}d_{out.type.dtype.name}", nsp, out.type.dtype))
    key = ("conv", w.array(out))
    args = []
    for a in range(nsp):
        args += [w.offset(key + ("stride", a), p["window_strides"][a]),
                 w.offset(key + ("pad", a), p["padding"][a][0]),
                 w.offset(key + ("lhs_dilation", a), p["lhs_dilation"][a]),
                 w.offset(key + ("rhs_dilation", a), p["rhs_dilation"][a])]
    w.emit(1, w.alloc(out))
    w.emit(1, f"{name}({w.value_of(lhs)}, {w.value_of(rhs)}, {w.array(out)}, "
              f"{w.offset(key + ('groups',), p['feature_group_count'])}, {', '.join(args)})")


# conv is bilinear (linear in each operand alone), as matmul: each tangent convolves with the other primal.
conv_general_dilated_p = Primitive(
    "conv_general_dilated", kind="call", shape_rule=_conv_type, impl=_conv_impl,
    jvp=(lambda lhs_dot, out, lhs, rhs, **p: conv_general_dilated_p.bind(lhs_dot, rhs, **p),
         lambda rhs_dot, out, lhs, rhs, **p: conv_general_dilated_p.bind(lhs, rhs_dot, **p)),
    vjp=(_conv_vjp_lhs, _conv_vjp_rhs), batch=_conv_batch, numba=CallEmitter(_write_conv),
    commutative=False, linear_in=(), expensive=True, vector_math=None, simplify=None,
    copies_input=False, distributes_over_add=False, keeps_order=False, aliases_input=False)


# ---- the op: JAX's layouts, padding strings and promotion ------------------------------------------

def conv_dimension_numbers(nsp: int, dimension_numbers):
    """JAX's dimension numbers as three permutations (lhs, rhs, out) that bring each array to the canonical
    (batch, feature, *spatial) / (out feature, in feature, *spatial) layout. `dimension_numbers` is None
    (NC..., OI..., NC...), three layout strings such as ("NHWC", "HWIO", "NHWC"), or three tuples of axes
    in that canonical order (JAX's ConvDimensionNumbers).

    >>> conv_dimension_numbers(2, ("NHWC", "HWIO", "NHWC"))
    ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    """
    if dimension_numbers is None:
        identity = tuple(range(nsp + 2))
        return identity, identity, identity
    if len(dimension_numbers) != 3:
        raise TypeError(f"conv_general_dilated: dimension_numbers must be None or three specs (lhs, rhs, out), "
                        f"got {dimension_numbers!r}")
    if all(isinstance(spec, str) for spec in dimension_numbers):
        return tuple(_perm_of(spec, lead, nsp) for spec, lead in zip(dimension_numbers, ("NC", "OI", "NC")))
    perms = tuple(tuple(int(a) for a in spec) for spec in dimension_numbers)
    for spec in perms:
        if sorted(spec) != list(range(nsp + 2)):
            raise ValueError(f"conv_general_dilated: dimension_numbers {dimension_numbers!r} are not permutations "
                             f"of the {nsp + 2} axes")
    return perms


def _perm_of(spec: str, lead: str, nsp: int) -> tuple:
    """The axes of a layout string in canonical order: the two named axes (N, C or O, I), then the others
    (the spatial axes) in the order they appear in the string."""
    if len(spec) != nsp + 2 or len(set(spec)) != len(spec) or not set(lead) <= set(spec):
        raise ValueError(f"conv_general_dilated: the layout {spec!r} must name {nsp + 2} distinct axes including "
                         f"{lead[0]!r} and {lead[1]!r}")
    spatial = [i for i, c in enumerate(spec) if c not in lead]
    return (spec.index(lead[0]), spec.index(lead[1])) + tuple(spatial)


def padding_for(padding, in_spatial, window_spatial, window_strides, rhs_dilation) -> tuple:
    """Padding pairs from JAX's padding strings ("VALID", "SAME", "SAME_LOWER") or a sequence of (lo, hi).
    SAME gives out = ceil(in / stride), the extra on the high side (SAME_LOWER: the low side).

    >>> padding_for("SAME", (5,), (3,), (2,), (1,))
    ((1, 1),)
    """
    if isinstance(padding, str):
        kind = padding.upper()
        if kind == "VALID":
            return tuple((0, 0) for _ in in_spatial)
        if kind not in ("SAME", "SAME_LOWER"):
            raise ValueError(f"conv_general_dilated: padding must be 'VALID', 'SAME', 'SAME_LOWER' or a sequence "
                             f"of (lo, hi) pairs, got {padding!r}")
        pads = []
        for size, window, stride, rd in zip(in_spatial, window_spatial, window_strides, rhs_dilation):
            out = -(-size // stride)
            total = max((out - 1) * stride + dilate_dim(window, rd) - size, 0)
            small, large = total // 2, total - total // 2
            pads.append((small, large) if kind == "SAME" else (large, small))
        return tuple(pads)
    pairs = tuple(tuple(int(v) for v in p) for p in padding)
    if len(pairs) != len(in_spatial) or any(len(p) != 2 for p in pairs):
        raise ValueError(f"conv_general_dilated: padding needs one (lo, hi) pair per spatial axis "
                         f"({len(in_spatial)}), got {padding!r}")
    return pairs


def _per_spatial(name: str, values, nsp: int) -> tuple:
    if values is None:
        return (1,) * nsp
    values = static_dims(values)
    if len(values) != nsp:
        raise ValueError(f"conv_general_dilated: {name} needs one entry per spatial axis ({nsp}), got {values}")
    return values


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1):
    """jax.lax.conv_general_dilated: a batched, grouped, strided and dilated N-d convolution (cross-correlation,
    as in deep learning). Layouts default to NC... (lhs), OI... (rhs) and NC... (out); `padding` is "VALID",
    "SAME", "SAME_LOWER" or (lo, hi) per spatial axis (negative crops); ints compute in float64.

    >>> conv_general_dilated(np.ones((1, 1, 5)), np.ones((1, 1, 3)), (1,), "VALID")
    array([[[3., 3., 3.]]])
    """
    dtype = float_dtype(result_dtype(lhs, rhs))
    lhs, rhs = cast(as_value(lhs), dtype), cast(as_value(rhs), dtype)
    lt, rt = typeof(lhs), typeof(rhs)
    if lt.ndim < 3 or lt.ndim != rt.ndim:
        raise ValueError(f"conv_general_dilated needs lhs and rhs of equal rank >= 3 (batch, feature, spatial...), "
                         f"got shapes {lt.shape} and {rt.shape}")
    nsp = lt.ndim - 2
    lhs_perm, rhs_perm, out_perm = conv_dimension_numbers(nsp, dimension_numbers)
    lhs, rhs = transpose(lhs, lhs_perm), transpose(rhs, rhs_perm)
    window_strides = _per_spatial("window_strides", window_strides, nsp)
    lhs_dilation = _per_spatial("lhs_dilation", lhs_dilation, nsp)
    rhs_dilation = _per_spatial("rhs_dilation", rhs_dilation, nsp)
    pads = padding_for(padding, typeof(lhs).shape[2:], typeof(rhs).shape[2:], window_strides, rhs_dilation)
    out = conv_general_dilated_p.bind(lhs, rhs, window_strides=window_strides, padding=pads,
                                      lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                                      feature_group_count=int(feature_group_count))
    inverse = tuple(int(a) for a in np.argsort(out_perm))
    return transpose(out, inverse)

