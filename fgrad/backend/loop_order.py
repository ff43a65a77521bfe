"""Reductions over leading axes loop in memory order: the reduced axes outside, an accumulator row inside.

A partial reduction is written with its kept axes outside and its reduced axes inside, a scalar accumulator
per kept element (codegen's write_group). When the reduced axes come first (a sum over the batch, `db =
sum(d, axis=0)`), that nest walks its arrays down the columns: every load a stride of a whole row, and
nothing for LLVM to vectorise. Here the loops keep the arrays' order (reduced axes outside, kept axes
inside) and each kept element accumulates in a row of accumulators:

    r61 = np.full((n1,), 0.0, np.float64)
    for i0 in range(n0):
        for i1 in range(n1):
            ...                                    # the group's body, contiguous loads and stores
            r61[i1] += v60
    a61[:] = r61

Each element still adds its terms in the same order (i0 ascending), so the results are bit for bit those
of the column-order nest. Serial kernels only: in a parallel kernel the outer loop of the column-order nest
is a prange over the kept axes, whose writes are disjoint; this loop's outer axis is the reduced one.
"""
from __future__ import annotations

__all__ = ["write_leading_reduction"]


def write_leading_reduction(writer, group, reductions, idx, kept, red_axes, extents, accumulator) -> bool:
    """Write `group` (a partial reduction over its leading axes `red_axes`) in memory order; False when it
    does not qualify (kept axes first, nothing reduced or kept, a parallel kernel). `accumulator` is
    codegen's (accumulator_dtype, reduce_init): an accumulator's dtype and identity for a reduction."""
    if writer.parallel or not reductions or not kept or list(red_axes) != list(range(len(red_axes))):
        return False
    dtype_of, init_of = accumulator
    kept_idx = ", ".join(idx[k] for k in kept)
    kept_shape = ", ".join(extents[k] for k in kept) + ("," if len(kept) == 1 else "")
    accs = {}
    for eqn in reductions:
        acc = f"r{writer.number[eqn.outputs[0]]}"
        writer.emit(1, f"{acc} = np.full(({kept_shape}), {init_of(eqn)}, {dtype_of(eqn)})")
        accs[eqn] = f"{acc}[{kept_idx}]"
    order = list(red_axes) + kept
    depth = writer.loops(1, [idx[k] for k in order], [extents[k] for k in order])
    writer.reduction_acc = accs
    try:
        writer.write_body(group, idx, depth)
    finally:
        writer.reduction_acc = {}
    for eqn in reductions:
        out = eqn.outputs[0]
        acc = f"r{writer.number[out]}"
        whole = ", ".join(":" for _ in kept)
        for name in writer.targets(out):      # allocated by write_group; the assignment casts
            writer.emit(1, f"{name}[{whole}] = {acc}")
    return True
