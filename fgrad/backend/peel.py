"""1-D loops with edges: pads read without conditions, and neighbouring domains fused into one pass.

*Peeling.* A pad read at the loop index is `(x[i - lo] if i - lo >= 0 and i - lo < n else 0)`: a select
around a load that may be out of bounds, which LLVM cannot vectorise (it would have to load before knowing).
The conditions only fail near the ends of the loop, so the loop is written three times:

    lo = max(0, <pad starts>)            hi = max(lo, min(n, <pad start + padded size>, <domain ends>))
    for i0 in range(0, lo):   <body with the conditions>       # a few iterations at each end
    for i0 in prange(lo, hi): <body without them>              # the interior: plain loads, vectorised
    for i0 in range(hi, n):   <body with the conditions>

The codegen's `view_pad` reports each condition it writes on the loop index itself (`i0`, no interior
padding) to `writer.pad_bounds`, and drops those conditions while `writer.pads_in_bounds` is set. Other
conditions (interior padding, pads on indices computed from the loop index) stay in every copy.

*Domains.* Shifted windows of one vector (`x[1:]`, `x[:-1]`) and the gradient that pads them back to the
vector's length (`pad(r, (0, 1)) + pad(q, (1, 0))`) are loops over extents that differ by a few elements:
the Rosenbrock value sums over n - 1 elements and its gradient writes n. As separate loop nests they read
the vector twice. `shares_loop` lets the planner put members over nearby 1-D extents (at most MAX_GAP
apart) into one group, whose loop runs over the largest; each member keeps its own extent (its *domain*),
and the elements past a domain's end are the edges' business: the interior ends at the smallest domain,
and in the edge loops each smaller domain's members sit under `if i0 < <its extent>:`. Members of two
domains never read each other at the loop index (their shapes differ); they read each other through views
(pads, slices), at another index, recomputed there or stored by an earlier loop, as between any groups.

A reduction in such a group is blocked as codegen's 1-D full reductions are: the interior runs in blocks
of BLOCK elements (a prange over them in a parallel kernel), each block's values go to a buffer that
LANES accumulators sum, and the result adds the head edge, the blocks in order, then the tail edge. Serial
and parallel kernels add in the same order. So the value of the Rosenbrock function and its gradient are
one pass over x, with no condition in the vectorised body:

    w12 = 0.0                                  # the edges' accumulator
    for i0 in range(0, lo0):  <domain n: gradient with pad conditions>;  if i0 < n0: <value>; w12 += v11
    for b0 in prange(nb0):    <for i0 in the block: value into t12[i0 - blo0], gradient stored>; p12[b0] = ...
    for b0 in range(nb0):     w12 += p12[b0]
    for i0 in range(hi0, n2): <as the head>
"""
from __future__ import annotations

__all__ = ["write_edges", "shares_loop", "MAX_GAP"]

# Two 1-D extents at most this far apart share a loop (planner: `shares_loop`). The members of the shorter
# domain are guarded only in the edge loops, which run at most this many iterations more: the choice
# depends on sizes only through "nearly equal", which the shifted windows of one vector are at every size.
MAX_GAP = 16
# Members written by a group's own loop body; row-streamed products (fgrad.backend.row_stream) have loops
# and blocks of their own and keep to groups over one exact extent.
_PLAIN = ("eqn", "copy")


def shares_loop(group, space: tuple, member, windows_of) -> bool:
    """May `member` (iterating over `space`) join `group`, whose loop runs over `group.space`? Equal spaces
    always may (row-streamed members only into groups of one domain); two 1-D extents at most MAX_GAP apart
    may when they are windows of one axis (`windows_of(a, b)`: slices and pads of each other, never sizes
    equal by chance) and the member and every member of the group are plain."""
    if group.space == space:
        return member[0] in _PLAIN or not _mixed(group)
    return (len(space) == 1 and len(group.space) == 1 and abs(space[0] - group.space[0]) <= MAX_GAP
            and member[0] in _PLAIN and all(kind in _PLAIN for kind, _ in group.members)
            and windows_of(group.space_var, group.domain(member)))


def _mixed(group) -> bool:
    return any(group.domain(m).type.shape != group.space for m in group.members)


def domains(writer, group) -> list:
    """[(extent name or None, members)] in order of first appearance; None for the loop's own extent."""
    out = {}
    for m in group.members:
        v = group.domain(m)
        key = None if v.type.shape == group.space else writer.size(v, 0)
        out.setdefault(key, []).append(m)
    return list(out.items())


def _body(writer, group, idx, depth, in_bounds, parts):
    """The lines of the group's body at `depth`, written aside; with `in_bounds` the pads' conditions on the
    loop index and the domains' guards are left out."""
    start = len(writer.lines)
    writer.pads_in_bounds = writer.unsigned_index = in_bounds
    shared = set()                       # the interior's domains share their scalars (no guard around any)
    try:
        for extent, members in parts:
            if extent is None or in_bounds:
                writer.write_body(group, idx, depth, members, shared)
            else:
                writer.emit(depth, f"if {idx[0]} < {extent}:")
                writer.write_body(group, idx, depth + 1, members)
    finally:
        writer.pads_in_bounds = writer.unsigned_index = False
    lines = writer.lines[start:]
    del writer.lines[start:]
    return lines


def _plain(group) -> bool:
    return all(kind in _PLAIN for kind, _ in group.members)


def write_edges(writer, group, reductions, idx, extent: str, parallel: bool, block: int, folds) -> bool:
    """Write the 1-D `group` as edge loops and an interior when its body reads pads on the loop index or its
    members span several domains; returns False (nothing written) otherwise. `reductions` are its folds
    (full reductions of 1-D domains), `block` the block size of their interior and `folds` codegen's
    (reduce_init, cast_expr): a fold's identity and the cast of its result."""
    if not _plain(group):
        return False
    parts = domains(writer, group)
    totals = {eqn: f"w{writer.number[eqn.outputs[0]]}" for eqn in reductions}   # the edges add here
    bounds = writer.pad_bounds = []
    writer.reduction_acc = totals
    try:
        guarded = _body(writer, group, idx, 2, False, parts)
    finally:
        writer.pad_bounds = None
        writer.reduction_acc = {}
    if not bounds and len(parts) == 1:
        return False
    gid = group.index
    starts = sorted({lo for lo, _ in bounds if lo != "0"})
    ends = sorted({end for _, end in bounds if end is not None} | {name for name, _ in parts if name is not None})
    lo, hi = f"lo{gid}", f"hi{gid}"
    # max(0, ...) outermost: LLVM then proves the interior's index non-negative and drops Numba's
    # negative-index wraparound, whose select on every load would stop the vectorisation again.
    writer.emit(1, f"{lo} = max(0, min({extent}, {_fold('max', starts)}))" if starts else f"{lo} = 0")
    writer.emit(1, f"{hi} = max({lo}, {_fold('min', [extent] + ends)})")
    reduce_init, cast_expr = folds
    for eqn in reductions:
        writer.emit(1, f"{totals[eqn]} = {reduce_init(eqn)}")
    i = idx[0]
    if starts:
        writer.emit(1, f"for {i} in range(0, {lo}):")
        writer.lines += guarded
    if reductions:
        _blocked_interior(writer, group, reductions, idx, parts, parallel, block, totals)
    else:
        writer.uses_prange |= parallel
        writer.emit(1, f"for {i} in {'prange' if parallel else 'range'}({lo}, {hi}):")
        writer.lines += _body(writer, group, idx, 2, True, parts)
    writer.emit(1, f"for {i} in range({hi}, {extent}):")
    writer.lines += guarded
    for eqn in reductions:
        out = eqn.outputs[0]
        writer.emit(1, f"{writer.scalar(out)} = {cast_expr(totals[eqn], out.type.dtype)}")
    return True


def _blocked_interior(writer, group, reductions, idx, parts, parallel, block, totals):
    """The interior lo..hi in blocks, each folding into accumulators of its own (codegen's block_folds),
    the blocks' partial results added to the totals in block order."""
    gid = group.index
    i = idx[0]
    lo, hi, blo, bhi = f"lo{gid}", f"hi{gid}", f"blo{gid}", f"bhi{gid}"
    writer.emit(1, f"nb{gid} = ({hi} - {lo} + {block - 1}) // {block}")
    writer.open_partials(reductions, f"nb{gid}", parallel)
    writer.uses_prange |= parallel
    writer.emit(1, f"for b{gid} in {'prange' if parallel else 'range'}(nb{gid}):")
    writer.emit(2, f"{blo} = {lo} + b{gid} * {block}")
    writer.emit(2, f"{bhi} = min({blo} + {block}, {hi})")
    with writer.block_folds(reductions, i, blo, parallel):
        writer.emit(2, f"for {i} in range({blo}, {bhi}):")
        writer.lines += _body(writer, group, idx, 3, True, parts)
    writer.close_partials(reductions, gid, f"{bhi} - {blo}")
    writer.combine_partials(reductions, gid, totals)


def _fold(fn: str, terms: list) -> str:
    return terms[0] if len(terms) == 1 else f"{fn}({', '.join(terms)})"
