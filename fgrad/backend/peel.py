"""Peeled loops: a 1-D loop whose body reads through pads runs its interior without the pads' conditions.

A pad read at the loop index is `(x[i - lo] if i - lo >= 0 and i - lo < n else 0)`: a select around a load
that may be out of bounds, which LLVM cannot vectorise (it would have to load before knowing). The
conditions only fail near the ends of the loop, so the loop is written three times (codegen's write_group
calls `write_peeled` for a 1-D elementwise group):

    lo = max(0, <pad starts>)            hi = max(lo, min(n, <pad start + padded size>))
    for i0 in range(0, lo):   <body with the conditions>       # a few iterations at each end
    for i0 in prange(lo, hi): <body without them>              # the interior: plain loads, vectorised
    for i0 in range(hi, n):   <body with the conditions>

The codegen's `view_pad` reports each condition it writes on the loop index itself (`i0`, no interior
padding) to `writer.pad_bounds`, and drops those conditions while `writer.pads_in_bounds` is set. Other
conditions (interior padding, pads on indices computed from the loop index) stay in every copy; a body
without reported conditions is written once, as before.
"""
from __future__ import annotations

__all__ = ["write_peeled"]


def _body(writer, group, idx, depth, in_bounds):
    """The lines of the group's body at `depth`, written aside; with `in_bounds` the pads' conditions on
    the loop index are left out."""
    start = len(writer.lines)
    writer.pads_in_bounds = writer.unsigned_index = in_bounds
    try:
        writer.write_body(group, idx, depth)
    finally:
        writer.pads_in_bounds = writer.unsigned_index = False
    lines = writer.lines[start:]
    del writer.lines[start:]
    return lines


def write_peeled(writer, group, idx, extent: str, parallel: bool) -> bool:
    """Write the 1-D elementwise `group` as edge loops and an interior loop if its body reads pads on the
    loop index; returns False (nothing written) when there is nothing to peel."""
    bounds = writer.pad_bounds = []
    try:
        guarded = _body(writer, group, idx, 2, in_bounds=False)
    finally:
        writer.pad_bounds = None
    if not bounds:
        return False
    interior = _body(writer, group, idx, 2, in_bounds=True)
    gid = group.index
    starts = sorted({lo for lo, _ in bounds if lo != "0"})
    ends = sorted({end for _, end in bounds if end is not None})
    lo, hi = f"lo{gid}", f"hi{gid}"
    # max(0, ...) outermost: LLVM then proves the interior's index non-negative and drops Numba's
    # negative-index wraparound, whose select on every load would stop the vectorisation again.
    writer.emit(1, f"{lo} = max(0, min({extent}, {_fold('max', starts)}))" if starts else f"{lo} = 0")
    writer.emit(1, f"{hi} = max({lo}, {_fold('min', [extent] + ends)})")
    i = idx[0]
    if starts:
        writer.emit(1, f"for {i} in range(0, {lo}):")
        writer.lines += guarded
    writer.uses_prange |= parallel
    writer.emit(1, f"for {i} in {'prange' if parallel else 'range'}({lo}, {hi}):")
    writer.lines += interior
    writer.emit(1, f"for {i} in range({hi}, {extent}):")
    writer.lines += guarded
    return True


def _fold(fn: str, terms: list) -> str:
    return terms[0] if len(terms) == 1 else f"{fn}({', '.join(terms)})"
