"""Row streaming: matrix-vector products fused into the loop over the matrix's rows.

A program that reads a matrix M (n, d) through a matrix-vector product `M @ v` (one element per row) and a
vector-matrix product `u @ M` (a sum over the rows) reads M twice when both are BLAS calls. Written as
members of the loop over the n rows they read each row once: the product `M[i] . v` is a scalar of the loop
body (an inner loop over the row), elementwise work on it follows as usual, and `u @ M` is an accumulator
row that gathers `u[i] * M[i]` (an inner loop over the row while it is in cache). The logistic-regression
gradient `X @ w -> f -> r @ X` is one pass over X instead of two:

    for i0 in range(lo1, hi1):                     # the loop over the rows (blocks of them)
        v4 = dot(a1[i0, :], a0)                    # rowdot: M @ v, an 8-lane inner loop
        v5 = ...                                   # elementwise members on it
        q24b[:] += v23 * a1[i0, :]                 # rowacc: u @ M, an inner loop into the block's row

The codegen (fgrad/backend/codegen.py) plans these as group members over the row space (n,): a "rowdot"
is an elementwise member whose value needs the whole row, a "rowacc" a reduction over the rows whose
accumulator is a vector. A rowacc makes its group a 1-D full reduction, written in blocks of rows; each
block sums into a row of its own (no shared accumulator under prange) and the blocks' rows are added in
block order afterwards, so serial and parallel kernels add in the same order.

Which products stream (`streamed_products`): both kinds on a matrix that some program product reads both
ways — that is where one read replaces two. A matrix read by one kind alone stays a BLAS call (multithreaded
and faster than these loops when nothing is shared). Whether the two land in the same loop is the planner's
usual rule: a rowacc whose vector needs a full reduction over the same rows (a normalisation by the mean,
say) cannot run in that loop, and goes to a later loop over the rows.

This module imports nothing from codegen (codegen imports it): the writer and the planner are passed in.
"""
from __future__ import annotations

from fgrad.ir import Var

__all__ = ["streamed_products", "plan_product", "write_member", "open_partials", "block_rows",
           "combine_partials", "LANES"]

LANES = 8      # independent accumulators of a row's dot product (a fixed order; LLVM runs them as vectors)

_ZERO = {"float64": "0.0", "float32": "np.float32(0.0)"}


def _kind(eqn) -> str | None:
    """"rowdot" for `M @ v`, "rowacc" for `u @ M` (M 2-D, v and u 1-D, float64/float32), else None."""
    if eqn.prim.numba != "matmul" or eqn.outputs[0].type.dtype.name not in _ZERO:
        return None
    a, b = eqn.inputs
    if a.type.ndim == 2 and b.type.ndim == 1 and type(a) is Var:
        return "rowdot"
    if a.type.ndim == 1 and b.type.ndim == 2 and type(b) is Var:
        return "rowacc"
    return None


def _matrix(eqn):
    return eqn.inputs[0] if _kind(eqn) == "rowdot" else eqn.inputs[1]


def streamed_products(program, view_tags) -> dict:
    """{id(eqn): "rowdot" | "rowacc"} for the matrix products of `program` that are written as members of the
    loop over their matrix's rows: those on a matrix (not a view: an equation whose Numba tag is in
    `view_tags`) that the program reads both ways."""
    views = {v for e in program.equations if isinstance(e.prim.numba, str) and e.prim.numba in view_tags
             for v in e.outputs}
    by_matrix = {}
    for eqn in program.equations:
        kind = _kind(eqn)
        if kind is not None and _matrix(eqn) not in views:
            by_matrix.setdefault(_matrix(eqn), []).append((eqn, kind))
    streamed = {}
    for products in by_matrix.values():
        if {kind for _, kind in products} == {"rowdot", "rowacc"}:
            streamed.update((id(eqn), kind) for eqn, kind in products)
    return streamed


def plan_product(plan, eqn, kind):
    """Add the product `eqn` to a group over its matrix's rows (Planner.add_member with the matrix, and a
    rowdot's vector, read whole)."""
    matrix = _matrix(eqn)
    rows = (matrix.type.shape[0],)
    for atom in eqn.inputs:
        if type(atom) is Var and atom in plan.views:
            plan.require_array(atom)          # a view vector (a broadcast, a slice): read whole, so stored
    if kind == "rowdot":
        return plan.add_member(("rowdot", eqn), rows, (), None, whole=eqn.inputs)
    group = plan.add_member(("rowacc", eqn), rows, eqn.inputs[:1], (0,), whole=(matrix,))
    plan.ready[eqn.outputs[0]] = group.index
    return group


def _columns(writer, eqn) -> str:
    return writer.size(_matrix(eqn), 1)


def write_member(writer, kind, eqn, idx, depth, value):
    """The body lines of a rowdot (the row's dot product into the member's scalar) or a rowacc (the row,
    scaled by the vector's element, added to the block's accumulator row). `value(atom)` names an element
    of the loop (codegen's write_body)."""
    i = idx[0]
    d = _columns(writer, eqn)
    out = eqn.outputs[0]
    name = writer.number[out]
    col = f"c{name}"
    if kind == "rowacc":
        scale = value(eqn.inputs[0])
        matrix = writer.array(eqn.inputs[1])
        writer.emit(depth, f"for {col} in range({d}):")
        writer.emit(depth + 1, f"{writer.reduction_sink[eqn]}[{col}] += {scale} * {matrix}[{i}, {col}]")
        return
    matrix, vector = eqn.inputs
    m_row = writer.array(matrix)
    v = writer.array(vector) if type(vector) is Var else writer.constant(vector)
    zero = _ZERO[out.type.dtype.name]
    lanes = [f"{writer.scalar(out)}_{k}" for k in range(LANES)]
    for acc in lanes:
        writer.emit(depth, f"{acc} = {zero}")
    writer.emit(depth, f"for {col} in range(0, {d} - {LANES - 1}, {LANES}):")
    for k, acc in enumerate(lanes):
        j = col if k == 0 else f"np.uint64({col} + {k})"
        writer.emit(depth + 1, f"{acc} += {m_row}[{i}, {j}] * {v}[{j}]")
    total = lanes[0]
    for acc in lanes[1:]:
        total = f"({total} + {acc})"
    writer.emit(depth, f"{writer.scalar(out)} = {total}")
    writer.emit(depth, f"for {col} in range({d} - {d} % {LANES}, {d}):")
    writer.emit(depth + 1, f"{writer.scalar(out)} += {m_row}[{i}, {col}] * {v}[{col}]")


def _accumulators(group) -> list:
    return [what for kind, what in group.members if kind == "rowacc"]


def open_partials(writer, group, blocks: str):
    """Before the loop over blocks: a zeroed row per block for each rowacc (q<k>[block, column])."""
    for eqn in _accumulators(group):
        out = eqn.outputs[0]
        writer.emit(1, f"q{writer.number[out]} = np.zeros(({blocks}, {_columns(writer, eqn)}), "
                       f"np.{out.type.dtype.name})")


def block_rows(writer, group, block: str, depth: int) -> dict:
    """At the head of a block: name its accumulator rows; returns the reduction sinks of the rowaccs."""
    sinks = {}
    for eqn in _accumulators(group):
        k = writer.number[eqn.outputs[0]]
        writer.emit(depth, f"q{k}b = q{k}[{block}]")
        sinks[eqn] = f"q{k}b"
    return sinks


def combine_partials(writer, group, blocks: str, block: str):
    """After the blocks: each rowacc's result is the sum of the blocks' rows, added in block order."""
    for eqn in _accumulators(group):
        out = eqn.outputs[0]
        k = writer.number[out]
        col = f"c{k}"
        targets = writer.targets(out)
        for name in targets:
            writer.emit(1, writer.alloc(out, name))
        writer.emit(1, f"for {col} in range({_columns(writer, eqn)}):")
        writer.emit(2, f"s{k} = {_ZERO[out.type.dtype.name]}")
        writer.emit(2, f"for {block} in range({blocks}):")
        writer.emit(3, f"s{k} += q{k}[{block}, {col}]")
        for name in targets:
            writer.emit(2, f"{name}[{col}] = s{k}")
