"""Structured control flow: `cond`, `while` and `scan` as primitives that hold sub-programs, with every rule.

The blocks live in the transforms layer because their rules run the transforms (jvp, vjp, vmap, simplify)
on the sub-programs, as the custom-rule calls do (fgrad/transforms/custom.py). The user-facing functions
are in fgrad.lax (cond, switch, fori_loop, while_loop, scan, map); `checkpoint` is here too.

    cond[branches]        index, *operands                 -> outputs of branch clamp(index)
    while[cond body ...]  *cond_consts, *body_consts, *carries -> final carries (and, when it records: the
                          trip count and the per-iteration values the body returns after its carries, as tapes)
    scan[body length ...] (n if length is None), *consts, *carries, *xs -> final carries, stacked ys

Reverse mode through a loop records what the reverse sweep reads: `vjp_fwd` runs the loop with a body that
also returns, per iteration, the residuals of the body's own reverse sweep (the values its VJP reads that do
not depend on the cotangents), stacked by scan or taped by while; the VJP is then one scan in the other
direction over them. A `while_loop`'s trip count is known only when it has run, so its tape has a dynamic
leading dimension (`f64[?,3]`) and the reverse scan takes the trip count as an input: this is how fgrad
differentiates data-dependent loops in reverse mode, which JAX refuses. Each reverse loop is itself a scan
with the same rules, so derivatives of any order follow.
"""
from __future__ import annotations

import functools

import numpy as np

from fgrad.ir import (ArrayType, Equation, Literal, Params, Primitive, Program, Var, eval_program, has_effect, is_float,
                      trace_flat, typeof)
from fgrad.ops import (add, broadcast_to, convert_element_type, eq, lt, maximum, minimum, moveaxis, reduce_max,
                       reshape, select, sub)
from fgrad.ops.base import batch_size
from fgrad.transforms.jvp import instantiate, jvp_eval, zeros_of
from fgrad.transforms.simplify import simplify
from fgrad.transforms.vjp import split_program, vjp_eval, vjp_function
from fgrad.transforms.vmap import batch_eval, move_batch_axis

__all__ = ["cond_p", "while_p", "scan_p", "checkpoint_p", "derive_closed", "INDEX_DTYPE", "COUNT_DTYPE"]

INDEX_DTYPE = np.dtype("int32")      # the branch index of cond (as JAX's)
COUNT_DTYPE = np.dtype("int64")      # trip counts

# Traits shared by the control-flow primitives: opaque computations (simplify recurses into their programs).
_CONTROL = dict(commutative=False, linear_in=(), expensive=True, vector_math=None, copies_input=False,
                distributes_over_add=False, keeps_order=False, aliases_input=False)


# ---- sub-programs -------------------------------------------------------------------------------------

def derive_closed(fun, in_types) -> tuple[Program, list]:
    """Trace `fun` (a rule's function of a sub-program) into a simplified Program, and the outer values it
    captured (they become explicit operands: a sub-program never closes over anything)."""
    program, captured = trace_flat(fun, list(in_types))
    return simplify(program), captured


def with_inputs(program: Program, extra_types) -> Program:
    """`program` taking further (ignored) inputs of `extra_types` after its own."""
    return Program(tuple(program.inputs) + tuple(Var(t) for t in extra_types), program.equations, program.outputs)


def unify_captures(derived, n_shared: int) -> tuple[list, list]:
    """Branches derived separately capture different outer values; each takes all of them (its own in place,
    the others' ignored) after the `n_shared` common inputs, so every branch has one signature."""
    captured = [c for _, caps in derived for c in caps]
    programs = []
    for k, (program, caps) in enumerate(derived):
        before = [typeof(c) for _, other in derived[:k] for c in other]
        after = [typeof(c) for _, other in derived[k + 1:] for c in other]
        shared, own = program.inputs[:n_shared], program.inputs[n_shared:]
        inputs = tuple(shared) + tuple(Var(t) for t in before) + tuple(own) + tuple(Var(t) for t in after)
        programs.append(Program(inputs, program.equations, program.outputs))
    return programs, captured


def dependencies(program: Program) -> list:
    """For each output of `program`, the set of input positions it depends on (one forward sweep)."""
    deps = {v: {i} for i, v in enumerate(program.inputs)}
    for eqn in program.equations:
        reads = set()
        for a in eqn.inputs:
            if type(a) is not Literal:
                reads |= deps.get(a, set())
        for v in eqn.outputs:
            deps[v] = reads
    return [set() if type(v) is Literal else deps.get(v, set()) for v in program.outputs]


def without_effects(program: Program) -> Program:
    """`program` without its effects (fgrad.debug prints and callbacks, also inside nested control flow): what
    a pullback runs when it recomputes a forward that has printed already."""
    if not any(has_effect(e) for e in program.equations):
        return program
    equations = []
    for eqn in program.equations:
        if eqn.prim.effectful:
            continue
        if has_effect(eqn):
            params = {k: (without_effects(v) if isinstance(v, Program) else
                          tuple(without_effects(b) for b in v) if isinstance(v, tuple) and v and
                          all(isinstance(b, Program) for b in v) else v) for k, v in eqn.params.items()}
            eqn = Equation(eqn.prim, eqn.inputs, Params(params), eqn.outputs, eqn.source)
        equations.append(eqn)
    return Program(program.inputs, tuple(equations), program.outputs)


def prune(program: Program, keep_inputs, keep_outputs) -> Program:
    """`program` with only the inputs and outputs at the given positions (dead equations dropped)."""
    outputs = tuple(program.outputs[j] for j in keep_outputs)
    return simplify(Program(tuple(program.inputs[i] for i in keep_inputs), program.equations, outputs))


def run(program: Program, *args) -> list:
    return eval_program(program, *args)


def concrete(values) -> list:
    """An impl's results as numpy arrays (numpy's 0-d arithmetic gives scalars)."""
    return [np.asarray(v) for v in values]


def float_type(t: ArrayType) -> bool:
    return is_float(t.dtype)


# ---- the split of a body's reverse sweep: forward with residuals, and reverse -------------------------

class ReverseSplit:
    """The VJP of a loop body, split in two: `forward` computes the body's outputs and the residuals of its
    reverse sweep; `reverse` takes those residuals and the output cotangents and gives the cotangents of the
    inputs `wrt` (all of them, a known zero included).

    Residuals are classified by where they come from, so nothing is stacked needlessly: an input of the body
    that is the same every iteration (a constant) is passed to the reverse loop as a constant, an x of a scan
    as that x, and anything else is recorded per iteration.
    """

    def __init__(self, body: Program, wrt: tuple, per_step_inputs: tuple):
        n_in, n_out = len(body.inputs), len(body.outputs)
        fun, in_types = vjp_function(body, list(wrt))
        joint, captured = derive_closed(fun, in_types)
        if captured:
            raise NotImplementedError("a loop body whose derivative rules close over outer traced values "
                                      "(a custom_vjp closing over a traced value inside a loop) cannot be "
                                      "differentiated in reverse mode; pass that value to it as an argument")
        # The part that does not read the cotangents runs in the forward loop; what the reverse part reads of
        # it (the residuals) is recorded per iteration. split_program returns every cotangent from the reverse
        # part (a known one, say a zero, passes through as a residual).
        split = split_program(joint, [False] * n_in + [True] * n_out, n_out)
        all_residuals = list(split.residuals)
        known_outs = list(split.first.outputs[:n_out])
        body_inputs = list(joint.inputs[:n_in])
        self.tape_residuals = any(r.type.is_tape for r in all_residuals if type(r) is Var)
        # Where each residual comes from: ("input", i) for a body input, ("record", j) otherwise.
        self.sources = []
        recorded = []
        for r in all_residuals:
            if r in body_inputs and not per_step_inputs[body_inputs.index(r)]:
                self.sources.append(("const", body_inputs.index(r)))
            elif r in body_inputs:
                self.sources.append(("input", body_inputs.index(r)))
            else:
                self.sources.append(("record", len(recorded)))
                recorded.append(r)
        self.forward = Program(split.first.inputs, split.first.equations, tuple(known_outs) + tuple(recorded))
        self.recorded_types = [r.type for r in recorded]
        self.reverse = split.second
        self.n_residuals = len(all_residuals)


# ==== cond ===============================================================================================

def _cond_type(index: ArrayType, *operands: ArrayType, branches) -> tuple:
    if index.shape != () or index.dtype != INDEX_DTYPE:
        raise TypeError(f"cond's branch index must be an int32 scalar, got {index}")
    for k, branch in enumerate(branches):
        if branch.in_types != tuple(operands):
            raise TypeError(f"branch {k} of cond takes {_types(branch.in_types)} but the operands are "
                            f"{_types(operands)}")
        if branch.out_types != branches[0].out_types:
            raise TypeError(f"branch {k} of cond returns {_types(branch.out_types)} but branch 0 returns "
                            f"{_types(branches[0].out_types)}; every branch must return the same types")
    return branches[0].out_types


def _types(ts) -> str:
    return "(" + ", ".join(map(str, ts)) + ")"


def _cond_impl(index, *operands, branches):
    return concrete(run(branches[int(np.clip(index, 0, len(branches) - 1))], *operands))


def _cond_jvp(primals, tangents, *, branches):
    index, operands = primals[0], primals[1:]
    mask = [t is not None and float_type(typeof(x)) for x, t in zip(operands, tangents[1:])]
    derived = []
    for branch in branches:
        n = len(branch.inputs)

        def fun(*args, branch=branch, n=n):
            tangent_args = iter(args[n:])
            outs, dots = jvp_eval(branch, args[:n], [next(tangent_args) if m else None for m in mask])
            return outs + [instantiate(d, t) for d, t in zip(dots, branch.out_types)]
        derived.append(derive_closed(fun, list(branch.in_types) + [typeof(x) for x, m in zip(operands, mask) if m]))
    programs, captured = unify_captures(derived, len(operands) + sum(mask))
    dots = [t for t, m in zip(tangents[1:], mask) if m]
    outs = cond_p.bind(index, *operands, *dots, *captured, branches=tuple(programs))
    n_out = len(branches[0].outputs)
    out_dots = [d if float_type(t) else None for d, t in zip(outs[n_out:], branches[0].out_types)]
    return outs[:n_out], out_dots


def _cond_vjp(cts, outs, primals, needs, *, branches):
    # The taken branch is differentiated: its pullback recomputes that branch, inside the same cond.
    index, operands = primals[0], primals[1:]
    wrt = [i for i, (x, need) in enumerate(zip(operands, needs[1:])) if need and float_type(typeof(x))]
    given = [j for j, (ct, t) in enumerate(zip(cts, branches[0].out_types)) if ct is not None and float_type(t)]
    if not wrt or not given:
        return [None] * len(primals)
    derived = []
    for branch in branches:
        n = len(branch.inputs)

        def fun(*args, branch=branch, n=n):
            full = [None] * len(branch.outputs)
            for j, ct in zip(given, args[n:]):
                full[j] = ct
            return vjp_eval(branch, args[:n], wrt, full)[1]
        derived.append(derive_closed(fun, list(branch.in_types) + [branch.out_types[j] for j in given]))
    # The recomputed branch does not print again (fgrad.debug): the forward cond printed already.
    derived = [(without_effects(program), extra) for program, extra in derived]
    programs, captured = unify_captures(derived, len(operands) + len(given))
    in_cts = cond_p.bind(index, *operands, *[cts[j] for j in given], *captured, branches=tuple(programs))
    result = [None] * len(primals)
    for i, ct in zip(wrt, in_cts):
        result[1 + i] = ct
    return result


def _cond_batch(args, dims, *, branches):
    index, operands = args[0], args[1:]
    size = batch_size(args, dims)
    if dims[0] is None:
        programs = [batched(branch, dims[1:], size) for branch in branches]
        outs = cond_p.bind(index, *operands, branches=tuple(programs))
        return outs, [0] * len(outs)
    # A batched index: members may take different branches, so every branch runs on the whole batch and a
    # select keeps each member's own result (JAX's rule for a batched predicate).
    results = []
    for branch in branches:
        outs, out_dims = batch_eval(branch, operands, dims[1:])
        results.append([move_batch_axis(o, d, 0, size) for o, d in zip(outs, out_dims)])
    chosen_index = minimum(maximum(moveaxis(index, dims[0], 0), 0), len(branches) - 1)
    chosen = results[-1]
    for k in reversed(range(len(branches) - 1)):
        pick = eq(chosen_index, k)
        chosen = [select(reshape(pick, (size,) + (1,) * (typeof(r).ndim - 1)), r, c)
                  for r, c in zip(results[k], chosen)]
    return chosen, [0] * len(chosen)


def batched(program: Program, dims, size: int) -> Program:
    """`program` batched along `dims` of its inputs, every output along axis 0 (nothing captured)."""
    from fgrad.transforms.vmap import batch_program
    out, captured = batch_program(program, list(dims), size)
    assert not captured, "a batched program reads only its inputs"
    return out


def _cond_simplify(s, eqn, inputs):
    """A literal index takes its branch inline; otherwise every branch is simplified, and outputs nothing reads
    and operands no branch reads are dropped."""
    index = inputs[0]
    branches = eqn.params["branches"]
    if type(index) is Literal:
        return s.inline(branches[int(np.clip(index.value, 0, len(branches) - 1))], inputs[1:])
    used = [j for j, v in enumerate(eqn.outputs) if s.uses.get(v, 0) > 0]
    read = sorted(set().union(*[set().union(*[d for j, d in enumerate(dependencies(b)) if j in used])
                                for b in branches])) if used else []
    if not used:
        return list(eqn.outputs)          # nothing reads the cond: it is dead
    programs = tuple(prune(b, read, used) for b in branches)
    outs = s.record(cond_p, (index,) + tuple(inputs[1 + i] for i in read), dict(branches=programs),
                    tuple(eqn.outputs[j] for j in used))
    return _spread(eqn.outputs, used, outs)


def _spread(all_outputs, kept, atoms) -> list:
    """The atoms of a pruned equation in the places of the original's outputs (dropped ones keep their Var:
    nothing reads them)."""
    out = list(all_outputs)
    for j, a in zip(kept, atoms):
        out[j] = a
    return out


cond_p = Primitive(
    "cond", kind="control", shape_rule=_cond_type, impl=_cond_impl, jvp=_cond_jvp, vjp=_cond_vjp,
    batch=_cond_batch, numba="cond", multiple_results=True, simplify=_cond_simplify, **_CONTROL)


# ==== while ==============================================================================================

def _split_while(args, n_cond_consts, n_body_consts):
    a, b = n_cond_consts, n_cond_consts + n_body_consts
    return list(args[:a]), list(args[a:b]), list(args[b:])


def _tape_type(t: ArrayType) -> ArrayType:
    return ArrayType((None,) + tuple(t.shape), t.dtype)


def _while_type(*in_types, cond, body, n_cond_consts, n_body_consts, record):
    cond_consts, body_consts, carries = _split_while(in_types, n_cond_consts, n_body_consts)
    if cond.in_types != tuple(cond_consts + carries):
        raise TypeError(f"while's cond takes {_types(cond.in_types)} but gets {_types(cond_consts + carries)}")
    if cond.out_types != (ArrayType((), np.bool_),):
        raise TypeError(f"while's cond must return one bool scalar, got {_types(cond.out_types)}")
    if body.in_types != tuple(body_consts + carries):
        raise TypeError(f"while's body takes {_types(body.in_types)} but gets {_types(body_consts + carries)}")
    n = len(carries)
    returned = body.out_types[:n]
    for k, (given, back) in enumerate(zip(carries, returned)):
        if given != back:
            raise TypeError(f"while's body returns carry {k} as {back} but it enters as {given}; a loop carry must "
                            "keep its type")
    if len(returned) != n:
        raise TypeError(f"while's body returns {len(returned)} carries for {n}")
    ys = body.out_types[n:]
    if ys and not record:
        raise TypeError("while's body returns values besides its carries, which only a recording while keeps")
    if not record:
        return tuple(carries)
    return tuple(carries) + (ArrayType((), COUNT_DTYPE),) + tuple(_tape_type(t) for t in ys)


def _while_impl(*args, cond, body, n_cond_consts, n_body_consts, record):
    cond_consts, body_consts, carries = _split_while(args, n_cond_consts, n_body_consts)
    n = len(carries)
    tape = []
    while bool(run(cond, *cond_consts, *carries)[0]):
        out = run(body, *body_consts, *carries)
        carries = out[:n]
        if record:
            tape.append(out[n:])
    if not record:
        return concrete(carries)
    y_types = body.out_types[n:]
    stacked = [np.array([step[j] for step in tape], dtype=t.dtype).reshape((len(tape),) + t.shape)
               for j, t in enumerate(y_types)]
    return concrete(carries) + [np.asarray(len(tape), COUNT_DTYPE)] + stacked


def _while_jvp(primals, tangents, *, cond, body, n_cond_consts, n_body_consts, record):
    cond_consts, body_consts, carries = _split_while(primals, n_cond_consts, n_body_consts)
    _, body_const_dots, carry_dots = _split_while(tangents, n_cond_consts, n_body_consts)
    params = dict(cond=cond, body=body, n_cond_consts=n_cond_consts, n_body_consts=n_body_consts, record=record)
    if all(t is None for t in body_const_dots + carry_dots):
        outs = while_p.bind(*primals, **params)        # only the predicate's constants move: no derivative
        return outs, [None] * len(outs)
    n = len(carries)
    const_mask = [t is not None and float_type(typeof(x)) for x, t in zip(body_consts, body_const_dots)]
    carry_mask = [float_type(typeof(x)) for x in carries]       # a live tangent reaches every float carry
    y_types = body.out_types[n:]
    y_mask = [float_type(t) for t in y_types]

    def body_fun(*args):
        it = iter(args)
        consts = [next(it) for _ in body_consts]
        const_t = [next(it) if m else None for m in const_mask]
        cs = [next(it) for _ in carries]
        cs_t = [next(it) if m else None for m in carry_mask]
        outs, dots = jvp_eval(body, consts + cs, const_t + cs_t)
        new_t = [instantiate(d, t) for d, t, m in zip(dots[:n], body.out_types[:n], carry_mask) if m]
        y_t = [instantiate(d, t) for d, t, m in zip(dots[n:], y_types, y_mask) if m]
        return outs[:n] + new_t + outs[n:] + y_t

    const_types = [typeof(x) for x in body_consts]
    carry_types = [typeof(x) for x in carries]
    masked = lambda ts, mask: [t for t, m in zip(ts, mask) if m]   # noqa: E731
    body_jvp, body_captured = derive_closed(body_fun, const_types + masked(const_types, const_mask) + carry_types
                                            + masked(carry_types, carry_mask))
    cond_jvp = with_inputs(cond, masked(carry_types, carry_mask))
    instantiated = [instantiate(t, typeof(x)) for x, t, m in zip(carries, carry_dots, carry_mask) if m]
    outs = while_p.bind(*cond_consts, *body_captured, *body_consts, *masked(body_const_dots, const_mask),
                        *carries, *instantiated, cond=cond_jvp, body=_consts_first(body_jvp, len(body_captured)),
                        n_cond_consts=n_cond_consts, n_body_consts=len(body_captured) + len(body_consts) +
                        sum(const_mask), record=record)
    k = sum(carry_mask)
    finals, final_t = outs[:n], iter(outs[n:n + k])
    carry_out_dots = [next(final_t) if m else None for m in carry_mask]
    if not record:
        return finals, carry_out_dots
    count = outs[n + k]
    tapes, tape_dots = outs[n + k + 1:n + k + 1 + len(y_types)], iter(outs[n + k + 1 + len(y_types):])
    return finals + [count] + list(tapes), carry_out_dots + [None] + [next(tape_dots) if m else None for m in y_mask]


def _consts_first(program: Program, n_captured: int) -> Program:
    """A derived body whose captured values (trailing inputs) are moved to the front of its constants."""
    if not n_captured:
        return program
    inputs = program.inputs
    return Program(inputs[-n_captured:] + inputs[:-n_captured], program.equations, program.outputs)


@functools.lru_cache(maxsize=256)
def _while_split(body: Program, n_body_consts: int, wrt_consts: tuple) -> ReverseSplit:
    n_carries = len(body.inputs) - n_body_consts
    wrt = tuple(wrt_consts) + tuple(n_body_consts + k for k in range(n_carries)
                                    if float_type(body.in_types[n_body_consts + k]))
    per_step = (False,) * n_body_consts + (True,) * n_carries
    split = ReverseSplit(body, wrt, per_step)
    if split.tape_residuals:
        split = recompute_split(body, wrt, per_step)
    return split


def recompute_split(body: Program, wrt: tuple, per_step: tuple) -> "ReverseSplit":
    """The split for a body whose residuals would themselves be tapes (a while inside the loop): record the
    per-iteration inputs only, and recompute the body in each reverse iteration."""
    split = ReverseSplit.__new__(ReverseSplit)
    n_in, n_out = len(body.inputs), len(body.outputs)
    fun, in_types = vjp_function(body, list(wrt))
    joint, captured = derive_closed(fun, in_types)
    assert not captured
    split.tape_residuals = False
    split.sources = [("const" if not p else "input", i) for i, p in enumerate(per_step)]
    split.forward = body
    split.recorded_types = []
    split.reverse = Program(joint.inputs, joint.equations, joint.outputs[n_out:])
    split.n_residuals = n_in
    return split


def _wrt_consts(primals_consts, needs_consts) -> tuple:
    return tuple(i for i, (x, need) in enumerate(zip(primals_consts, needs_consts)) if need and float_type(typeof(x)))


def _while_vjp_fwd(primals, needs, *, cond, body, n_cond_consts, n_body_consts, record):
    cond_consts, body_consts, carries = _split_while(primals, n_cond_consts, n_body_consts)
    _, const_needs, _ = _split_while(needs, n_cond_consts, n_body_consts)
    split = _while_split(body, n_body_consts, _wrt_consts(body_consts, const_needs))
    n = len(carries)
    n_ys = len(body.outputs) - n
    forward = split.forward
    if any(kind == "input" for kind, _ in split.sources):
        # Per-iteration inputs the reverse sweep reads are recorded as they enter each iteration.
        forward = _recording_inputs(forward, split.sources)
    outs = while_p.bind(*cond_consts, *body_consts, *carries, cond=cond, body=forward, n_cond_consts=n_cond_consts,
                        n_body_consts=n_body_consts, record=True)
    count, tapes = outs[n], outs[n + 1:]
    user_outs = list(outs[:n]) + ([count] + list(tapes[:n_ys]) if record else [])
    return user_outs, (count, list(tapes[n_ys:]))


def _recording_inputs(forward: Program, sources) -> Program:
    """`forward` also returning, per iteration, the body inputs the reverse sweep reads: the `sources` of kind
    "input" (see ReverseSplit), in order."""
    extra = [forward.inputs[i] for kind, i in sources if kind == "input"]
    return Program(forward.inputs, forward.equations, tuple(forward.outputs) + tuple(extra))


def _reverse_operands(split: ReverseSplit, consts, recorded_tapes):
    """(constants of the reverse loop, per-iteration tapes it scans) in the order of `split.reverse`'s
    residual inputs; recorded inputs come after the recorded residuals on the tape."""
    n_recorded = sum(1 for kind, _ in split.sources if kind == "record")
    records, inputs = recorded_tapes[:n_recorded], iter(recorded_tapes[n_recorded:])
    const_values, per_step, layout = [], [], []
    for kind, i in split.sources:
        if kind == "const":
            layout.append(("const", len(const_values)))
            const_values.append(consts[i])
        elif kind == "record":
            layout.append(("step", len(per_step)))
            per_step.append(records[i])
        else:
            layout.append(("step", len(per_step)))
            per_step.append(next(inputs))
    return const_values, per_step, layout


def _while_vjp(cts, outs, primals, needs, *, residuals, cond, body, n_cond_consts, n_body_consts, record):
    cond_consts, body_consts, carries = _split_while(primals, n_cond_consts, n_body_consts)
    _, const_needs, _ = _split_while(needs, n_cond_consts, n_body_consts)
    wrt_consts = _wrt_consts(body_consts, const_needs)
    split = _while_split(body, n_body_consts, wrt_consts)
    count, recorded = residuals
    n = len(carries)
    y_types = body.out_types[n:]
    carry_cts = [instantiate(ct, typeof(x)) for ct, x in zip(cts[:n], carries) if float_type(typeof(x))]
    y_cts = list(cts[n + 1:]) if record else [None] * len(y_types)
    const_cts, carry_in_cts, _ = reverse_loop(split, body_consts, recorded, count, None, carry_cts, y_cts, y_types,
                                              wrt_consts, [typeof(x) for x in carries], body.out_types[:n],
                                              reverse=True)
    result = [None] * len(primals)
    for i, ct in zip(wrt_consts, const_cts):
        result[n_cond_consts + i] = ct
    float_carries = [k for k, x in enumerate(carries) if float_type(typeof(x))]
    for k, ct in zip(float_carries, carry_in_cts):
        result[n_cond_consts + n_body_consts + k] = ct
    return result


def reverse_loop(split, consts, recorded, count, length, carry_cts, y_cts, y_types, wrt_consts, carry_types,
                 out_carry_types, reverse):
    """Run `split.reverse` once per recorded iteration, in the other direction: a scan over the recorded
    residuals and the per-iteration cotangents of the ys, carrying the carries' cotangents and the sum of the
    constants' cotangents. Returns (constants' cotangents, carries' cotangents, xs' cotangents stacked)."""
    const_values, per_step, layout = _reverse_operands(split, consts, recorded)
    given_y = [j for j, ct in enumerate(y_cts) if ct is not None and float_type(y_types[j])]
    float_carry = [k for k, t in enumerate(carry_types) if float_type(t)]
    const_types = [typeof(consts[i]) for i in wrt_consts]
    n_cv, n_steps = len(const_values), len(per_step)

    def body_fun(*args):
        it = iter(args)
        cvals = [next(it) for _ in range(n_cv)]
        ct_carry = [next(it) for _ in float_carry]
        acc = [next(it) for _ in wrt_consts]
        steps = [next(it) for _ in range(n_steps)]
        y_ct_k = [next(it) for _ in given_y]
        residual_args = [cvals[i] if kind == "const" else steps[i] for kind, i in layout]
        full_carry_cts = [zeros_of(t) for t in out_carry_types]
        for k, ct in zip(float_carry, ct_carry):
            full_carry_cts[k] = ct
        full_y_cts = [zeros_of(t) for t in y_types]
        for j, ct in zip(given_y, y_ct_k):
            full_y_cts[j] = ct
        in_cts = run(split.reverse, *residual_args, *full_carry_cts, *full_y_cts)
        c_cts, k_cts, x_cts = in_cts[:len(wrt_consts)], in_cts[len(wrt_consts):len(wrt_consts) + len(float_carry)], \
            in_cts[len(wrt_consts) + len(float_carry):]
        return list(k_cts) + [add(a, c) for a, c in zip(acc, c_cts)] + list(x_cts)

    step_types = [typeof(p) for p in per_step]
    slice_types = [ArrayType(t.shape[1:], t.dtype) for t in step_types]
    y_slice_types = [y_types[j] for j in given_y]
    in_types = ([typeof(c) for c in const_values] + [carry_types[k] for k in float_carry] + const_types +
                slice_types + y_slice_types)
    program, captured = derive_closed(body_fun, in_types)
    program = _consts_first(program, len(captured))
    init_acc = [zeros_of(t) for t in const_types]
    xs = list(per_step) + [y_cts[j] for j in given_y]
    head = [count] if length is None else []
    outs = scan_p.bind(*head, *captured, *const_values, *carry_cts, *init_acc, *xs, body=program, length=length,
                       reverse=reverse, n_consts=len(captured) + n_cv, n_carries=len(float_carry) + len(wrt_consts),
                       unroll=1)
    k = len(float_carry)
    carry_in_cts, const_cts, x_cts = outs[:k], outs[k:k + len(wrt_consts)], outs[k + len(wrt_consts):]
    return const_cts, carry_in_cts, x_cts


def _while_batch(args, dims, *, cond, body, n_cond_consts, n_body_consts, record):
    size = batch_size(args, dims)
    cond_consts, body_consts, carries = _split_while(args, n_cond_consts, n_body_consts)
    cc_dims, bc_dims, _ = _split_while(dims, n_cond_consts, n_body_consts)
    # Every carry is batched (a member's carry may differ from the others' after one iteration).
    carries = [move_batch_axis(x, d, 0, size) for x, d in zip(carries, dims[n_cond_consts + n_body_consts:])]
    carry_dims = [0] * len(carries)
    n = len(carries)
    cond_b, cond_captured, pred_dim = trace_batched(cond, list(cc_dims) + carry_dims, size)
    body_b, body_captured, body_dims = trace_batched(body, list(bc_dims) + carry_dims, size, force=True)
    if pred_dim is None:
        outs = while_p.bind(*cond_captured, *cond_consts, *body_captured, *body_consts, *carries,
                            cond=_consts_first(cond_b, len(cond_captured)), body=_consts_first(body_b, len(body_captured)),
                            n_cond_consts=len(cond_captured) + n_cond_consts,
                            n_body_consts=len(body_captured) + n_body_consts, record=record)
        out_dims = [0] * n + ([None] + [1] * (len(body.outputs) - n) if record else [])
        return outs, out_dims
    # A batched predicate: run while any member goes on; a finished member's carries stay as they are (JAX's
    # rule). A recording loop also counts each member's own iterations: its reverse sweep must not undo the
    # iterations a member sat out.
    return _while_batched_predicate(cond_consts, cc_dims, body_consts, bc_dims, carries, size, cond, body, record)


def trace_batched(program: Program, dims, size: int, force=False):
    """`program` batched along `dims`: (batched program, captured values, the first output's batch axis).
    With `force` every output is batched along axis 0."""
    in_types = [t if d is None else ArrayType(t.shape[:d] + (size,) + t.shape[d:], t.dtype)
                for t, d in zip(program.in_types, dims)]
    out_dims = []

    def fun(*args):
        outs, o_dims = batch_eval(program, args, dims)
        if force:
            return [move_batch_axis(x, d, 0, size) for x, d in zip(outs, o_dims)]
        out_dims.extend(o_dims)
        return outs

    traced, captured = trace_flat(fun, in_types)
    return traced, captured, (0 if force else out_dims[0])


def _while_batched_predicate(cond_consts, cc_dims, body_consts, bc_dims, carries, size, cond, body, record):
    n = len(carries)
    n_cc, n_bc = len(cond_consts), len(body_consts)
    count = [broadcast_to(np.zeros((), COUNT_DTYPE), (size,))] if record else []

    def predicate(*args):
        cc, cs = args[:n_cc], args[n_cc:n_cc + n]
        outs, o_dims = batch_eval(cond, list(cc) + list(cs), list(cc_dims) + [0] * n)
        return move_batch_axis(outs[0], o_dims[0], 0, size)

    def any_going(*args):
        return [reduce_max(predicate(*args[:n_cc + n]))]

    def step(*args):
        cc = args[:n_cc]
        bc = args[n_cc:n_cc + n_bc]
        cs = args[n_cc + n_bc:n_cc + n_bc + n]
        going = predicate(*cc, *cs)
        outs, o_dims = batch_eval(body, list(bc) + list(cs), list(bc_dims) + [0] * n)
        outs = [move_batch_axis(x, d, 0, size) for x, d in zip(outs, o_dims)]
        kept = [select(_per_member(going, x), x, c) for x, c in zip(outs[:n], cs)]
        if not record:
            return kept
        counted = add(args[-1], convert_element_type(going, COUNT_DTYPE))
        return kept + [counted] + outs[n:]

    carry_types = [typeof(c) for c in carries] + [typeof(c) for c in count]
    cc_types, bc_types = [typeof(c) for c in cond_consts], [typeof(c) for c in body_consts]
    cond_prog, cond_captured = trace_flat(any_going, cc_types + carry_types)
    body_prog, body_captured = trace_flat(step, cc_types + bc_types + carry_types)
    outs = while_p.bind(*cond_captured, *cond_consts, *body_captured, *cond_consts, *body_consts, *carries, *count,
                        cond=_consts_first(cond_prog, len(cond_captured)),
                        body=_consts_first(body_prog, len(body_captured)),
                        n_cond_consts=len(cond_captured) + n_cc, n_body_consts=len(body_captured) + n_cc + n_bc,
                        record=record)
    if not record:
        return outs, [0] * n
    finals, per_member = outs[:n], outs[n]
    tapes = outs[n + 2:]
    return list(finals) + [per_member] + list(tapes), [0] * n + [0] + [1] * len(tapes)


def _per_member(flags, x):
    """(B,) flags shaped to select along the batch axis 0 of x."""
    return reshape(flags, (typeof(flags).shape[0],) + (1,) * (typeof(x).ndim - 1))


def _live_carries(body_deps, cond_reads, n_consts: int, n_carries: int, live_outputs) -> set:
    """The carries a loop must keep: those read after it (`live_outputs`, positions in the body's outputs:
    carries then ys), those the predicate reads, and those the kept ones are computed from (a fixpoint)."""
    live = {k for k in cond_reads}
    frontier = list(live_outputs) + [k for k in live]
    seen = set()
    while frontier:
        j = frontier.pop()
        if j in seen:
            continue
        seen.add(j)
        if j < n_carries:
            live.add(j)
        for i in body_deps[j]:
            if n_consts <= i < n_consts + n_carries and (i - n_consts) not in seen:
                frontier.append(i - n_consts)
    return live


def _while_simplify(s, eqn, inputs):
    """Both programs simplified; carries nothing reads after the loop, nor the predicate, nor a kept carry's
    update, are dropped (with the constants only they read)."""
    p = eqn.params
    cond, body = simplify(p["cond"]), simplify(p["body"])
    n_cc, n_bc, record = p["n_cond_consts"], p["n_body_consts"], p["record"]
    n = len(inputs) - n_cc - n_bc
    used = [j for j, v in enumerate(eqn.outputs) if s.uses.get(v, 0) > 0]
    if not used and not record:
        return list(eqn.outputs)
    n_ys = len(body.outputs) - n
    live_body_outputs = [j for j in used if j < n] + ([n + k for k in range(n_ys)] if record else [])
    cond_reads = {i - n_cc for i in dependencies(cond)[0] if i >= n_cc}
    live = sorted(_live_carries(dependencies(body), cond_reads, n_bc, n, live_body_outputs))
    if len(live) == n:
        return s.record_with_params(eqn, inputs, cond=cond, body=body)
    body_deps = dependencies(body)
    kept_outputs = live + [n + k for k in range(n_ys)]
    read_consts = sorted({i for j in kept_outputs for i in body_deps[j] if i < n_bc})
    cond_consts = sorted({i for i in dependencies(cond)[0] if i < n_cc})
    new_cond = prune(cond, cond_consts + [n_cc + k for k in live], [0])
    new_body = prune(body, read_consts + [n_bc + k for k in live], kept_outputs)
    new_inputs = ([inputs[i] for i in cond_consts] + [inputs[n_cc + i] for i in read_consts] +
                  [inputs[n_cc + n_bc + k] for k in live])
    kept = live + ([n + k for k in range(1 + n_ys)] if record else [])
    outs = s.record(while_p, tuple(new_inputs), dict(cond=new_cond, body=new_body, n_cond_consts=len(cond_consts),
                                                     n_body_consts=len(read_consts), record=record),
                    tuple(eqn.outputs[j] for j in kept))
    return _spread(eqn.outputs, kept, outs)


while_p = Primitive(
    "while", kind="control", shape_rule=_while_type, impl=_while_impl, jvp=_while_jvp, vjp=_while_vjp,
    vjp_fwd=_while_vjp_fwd, batch=_while_batch, numba="while", multiple_results=True, simplify=_while_simplify,
    **_CONTROL)


# ==== scan ===============================================================================================

def _split_scan(args, length, n_consts, n_carries):
    head = 1 if length is None else 0
    count = args[0] if head else None
    a, b = head + n_consts, head + n_consts + n_carries
    return count, list(args[head:a]), list(args[a:b]), list(args[b:])


def _scan_type(*in_types, body, length, reverse, n_consts, n_carries, unroll):
    count, consts, carries, xs = _split_scan(in_types, length, n_consts, n_carries)
    if count is not None and (count.shape != () or count.dtype.kind != "i"):
        raise TypeError(f"a scan of dynamic length takes its trip count as an int scalar first, got {count}")
    steps = None if length is None else length
    for k, x in enumerate(xs):
        if not x.shape or (length is not None and x.shape[0] != length):
            raise TypeError(f"scan's xs {k} has type {x} but the scan has length {steps}: every x is stacked "
                            "along a leading axis of that length")
    x_slices = [ArrayType(x.shape[1:], x.dtype) for x in xs]
    expected = tuple(consts + carries + x_slices)
    if body.in_types != expected:
        raise TypeError(f"scan's body takes {_types(body.in_types)} but gets {_types(expected)}")
    returned = body.out_types[:n_carries]
    for k, (given, back) in enumerate(zip(carries, returned)):
        if given != back:
            raise TypeError(f"scan's body returns carry {k} as {back} but it enters as {given}; a loop carry must "
                            "keep its type")
    if int(unroll) < 1:
        raise ValueError(f"scan's unroll must be a positive int, got {unroll}")
    ys = body.out_types[n_carries:]
    return tuple(carries) + tuple(ArrayType((steps,) + t.shape, t.dtype) for t in ys)


def _scan_impl(*args, body, length, reverse, n_consts, n_carries, unroll):
    count, consts, carries, xs = _split_scan(args, length, n_consts, n_carries)
    steps = int(count) if length is None else length
    y_types = body.out_types[n_carries:]
    ys = [np.empty((steps,) + t.shape, t.dtype) for t in y_types]
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for k in order:
        out = run(body, *consts, *carries, *[x[k] for x in xs])
        carries = out[:n_carries]
        for y, value in zip(ys, out[n_carries:]):
            y[k] = value
    return concrete(carries) + ys


def _scan_jvp(primals, tangents, *, body, length, reverse, n_consts, n_carries, unroll):
    count, consts, carries, xs = _split_scan(primals, length, n_consts, n_carries)
    _, const_dots, carry_dots, x_dots = _split_scan(tangents, length, n_consts, n_carries)
    params = dict(body=body, length=length, reverse=reverse, n_consts=n_consts, n_carries=n_carries, unroll=unroll)
    if all(t is None for t in const_dots + carry_dots + x_dots):
        outs = scan_p.bind(*primals, **params)
        return outs, [None] * len(outs)
    const_mask = [t is not None and float_type(typeof(c)) for c, t in zip(consts, const_dots)]
    carry_mask = [float_type(typeof(c)) for c in carries]
    x_mask = [t is not None and float_type(typeof(x)) for x, t in zip(xs, x_dots)]
    y_types = body.out_types[n_carries:]
    y_mask = [float_type(t) for t in y_types]
    n = n_carries

    def body_fun(*args):
        it = iter(args)
        cs = [next(it) for _ in consts]
        cs_t = [next(it) if m else None for m in const_mask]
        ks = [next(it) for _ in carries]
        ks_t = [next(it) if m else None for m in carry_mask]
        x = [next(it) for _ in xs]
        x_t = [next(it) if m else None for m in x_mask]
        outs, dots = jvp_eval(body, cs + ks + x, cs_t + ks_t + x_t)
        new_t = [instantiate(d, t) for d, t, m in zip(dots[:n], body.out_types[:n], carry_mask) if m]
        y_t = [instantiate(d, t) for d, t, m in zip(dots[n:], y_types, y_mask) if m]
        return outs[:n] + new_t + outs[n:] + y_t

    masked = lambda vs, mask: [v for v, m in zip(vs, mask) if m]   # noqa: E731
    const_types = [typeof(c) for c in consts]
    carry_types = [typeof(c) for c in carries]
    slice_types = list(body.in_types[n_consts + n_carries:])
    program, captured = derive_closed(body_fun, const_types + masked(const_types, const_mask) + carry_types +
                                      masked(carry_types, carry_mask) + slice_types + masked(slice_types, x_mask))
    head = [count] if length is None else []
    instantiated = [instantiate(t, typeof(c)) for c, t, m in zip(carries, carry_dots, carry_mask) if m]
    outs = scan_p.bind(*head, *captured, *consts, *masked(const_dots, const_mask), *carries, *instantiated,
                       *xs, *masked(x_dots, x_mask), body=_consts_first(program, len(captured)), length=length,
                       reverse=reverse, n_consts=len(captured) + n_consts + sum(const_mask),
                       n_carries=n + sum(carry_mask), unroll=unroll)
    k = sum(carry_mask)
    finals, final_t = outs[:n], iter(outs[n:n + k])
    ys, y_dots = outs[n + k:n + k + len(y_types)], iter(outs[n + k + len(y_types):])
    return (finals + list(ys),
            [next(final_t) if m else None for m in carry_mask] + [next(y_dots) if m else None for m in y_mask])


@functools.lru_cache(maxsize=256)
def _scan_split(body: Program, n_consts: int, n_carries: int, wrt: tuple) -> ReverseSplit:
    n_xs = len(body.inputs) - n_consts - n_carries
    per_step = (False,) * n_consts + (True,) * (n_carries + n_xs)
    split = ReverseSplit(body, wrt, per_step)
    if split.tape_residuals:
        split = recompute_split(body, wrt, per_step)
    return split


def _scan_wrt(consts, xs, needs_consts, needs_xs, n_carries, carries) -> tuple:
    n_consts = len(consts)
    wrt = [i for i, (c, need) in enumerate(zip(consts, needs_consts)) if need and float_type(typeof(c))]
    wrt += [n_consts + k for k, c in enumerate(carries) if float_type(typeof(c))]
    wrt += [n_consts + n_carries + k for k, (x, need) in enumerate(zip(xs, needs_xs))
            if need and float_type(typeof(x))]
    return tuple(wrt)


def _scan_vjp_fwd(primals, needs, *, body, length, reverse, n_consts, n_carries, unroll):
    count, consts, carries, xs = _split_scan(primals, length, n_consts, n_carries)
    _, need_c, _, need_x = _split_scan(needs, length, n_consts, n_carries)
    split = _scan_split(body, n_consts, n_carries, _scan_wrt(consts, xs, need_c, need_x, n_carries, carries))
    forward = split.forward
    if any(kind == "input" and i < n_consts + n_carries for kind, i in split.sources):
        # A scan's xs are read from the xs themselves: only its carry inputs are recorded.
        carry_sources = [(kind, i) for kind, i in split.sources if not (kind == "input" and i >= n_consts + n_carries)]
        forward = _recording_inputs(forward, carry_sources)
    head = [count] if length is None else []
    outs = scan_p.bind(*head, *consts, *carries, *xs, body=forward, length=length, reverse=reverse,
                       n_consts=n_consts, n_carries=n_carries, unroll=unroll)
    n_ys = len(body.outputs) - n_carries
    return outs[:n_carries + n_ys], (count, list(outs[n_carries + n_ys:]))


def _scan_vjp(cts, outs, primals, needs, *, residuals, body, length, reverse, n_consts, n_carries, unroll):
    count, consts, carries, xs = _split_scan(primals, length, n_consts, n_carries)
    _, need_c, _, need_x = _split_scan(needs, length, n_consts, n_carries)
    wrt = _scan_wrt(consts, xs, need_c, need_x, n_carries, carries)
    split = _scan_split(body, n_consts, n_carries, wrt)
    _, recorded = residuals
    wrt_consts = tuple(i for i in wrt if i < n_consts)
    wrt_xs = [i - n_consts - n_carries for i in wrt if i >= n_consts + n_carries]
    y_types = body.out_types[n_carries:]
    carry_cts = [instantiate(ct, typeof(c)) for ct, c in zip(cts[:n_carries], carries) if float_type(typeof(c))]
    # The reverse scan reads recorded residuals, recorded carry inputs, and the xs themselves.
    records = list(recorded)
    n_recorded = sum(1 for kind, _ in split.sources if kind == "record")
    recorded_inputs = iter(records[n_recorded:])
    ordered = records[:n_recorded]
    x_sources = []
    for kind, i in split.sources:
        if kind == "input":
            x_sources.append(xs[i - n_consts - n_carries] if i >= n_consts + n_carries else next(recorded_inputs))
    const_cts, carry_in_cts, x_cts = reverse_loop(
        split, consts, ordered + x_sources, count, length, carry_cts, list(cts[n_carries:]), y_types, wrt_consts,
        [typeof(c) for c in carries], body.out_types[:n_carries], reverse=not reverse)
    result = [None] * len(primals)
    head = 1 if length is None else 0
    for i, ct in zip(wrt_consts, const_cts):
        result[head + i] = ct
    float_carries = [k for k, c in enumerate(carries) if float_type(typeof(c))]
    for k, ct in zip(float_carries, carry_in_cts):
        result[head + n_consts + k] = ct
    for k, ct in zip(wrt_xs, x_cts):
        result[head + n_consts + n_carries + k] = ct
    return result


def _scan_batch(args, dims, *, body, length, reverse, n_consts, n_carries, unroll):
    size = batch_size(args, dims)
    count, consts, carries, xs = _split_scan(args, length, n_consts, n_carries)
    count_dim, c_dims, _, x_dims = _split_scan(dims, length, n_consts, n_carries)
    carries = [move_batch_axis(c, d, 0, size) for c, d in zip(carries, dims[len(dims) - len(xs) - n_carries:
                                                                             len(dims) - len(xs)])]
    # Batched xs keep the scanned axis first and the batch axis second, so each slice is batched along 0.
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(xs, x_dims)]
    slice_dims = [None if d is None else 0 for d in x_dims]
    if count_dim is not None:
        return _scan_batched_length(count, count_dim, consts, c_dims, carries, xs, slice_dims, size, body,
                                    reverse, n_carries, unroll)
    body_b, captured, _ = trace_batched(body, list(c_dims) + [0] * n_carries + slice_dims, size, force=True)
    head = [count] if length is None else []
    outs = scan_p.bind(*head, *captured, *consts, *carries, *xs, body=_consts_first(body_b, len(captured)),
                       length=length, reverse=reverse, n_consts=len(captured) + n_consts, n_carries=n_carries,
                       unroll=unroll)
    return outs, [0] * n_carries + [1] * (len(outs) - n_carries)


def _scan_batched_length(count, count_dim, consts, c_dims, carries, xs, slice_dims, size, body, reverse,
                         n_carries, unroll):
    """A dynamic scan whose trip count differs per member (the reverse sweep of a batched while_loop): it runs
    the longest count, and member b takes step k only while k < its own count (steps count from the start,
    whichever way the scan goes), so a member's steps past its own trip count leave its carries alone."""
    counts = moveaxis(count, count_dim, 0)
    longest = reduce_max(counts)
    n_c = len(consts)

    def step(*args):
        cs, member_counts = args[:n_c], args[n_c]
        cs_carry, k = args[n_c + 1:n_c + 1 + n_carries], args[n_c + 1 + n_carries]
        x = args[n_c + 2 + n_carries:]
        outs, o_dims = batch_eval(body, list(cs) + list(cs_carry) + list(x),
                                  list(c_dims) + [0] * n_carries + list(slice_dims))
        outs = [move_batch_axis(o, d, 0, size) for o, d in zip(outs, o_dims)]
        going = lt(broadcast_to(k, (size,)), member_counts)
        kept = [select(_per_member(going, o), o, c) for o, c in zip(outs[:n_carries], cs_carry)]
        return kept + [sub(k, 1) if reverse else add(k, 1)] + outs[n_carries:]

    in_types = ([typeof(c) for c in consts] + [typeof(counts)] + [typeof(c) for c in carries] +
                [ArrayType((), COUNT_DTYPE)] + [ArrayType(typeof(x).shape[1:], typeof(x).dtype) for x in xs])
    program, body_captured = trace_flat(step, in_types)
    start = convert_element_type(sub(longest, 1), COUNT_DTYPE) if reverse else np.zeros((), COUNT_DTYPE)
    outs = scan_p.bind(longest, *body_captured, *consts, counts, *carries, start, *xs,
                       body=_consts_first(program, len(body_captured)), length=None, reverse=reverse,
                       n_consts=len(body_captured) + n_c + 1, n_carries=n_carries + 1, unroll=unroll)
    return list(outs[:n_carries]) + list(outs[n_carries + 1:]), [0] * n_carries + [1] * (len(outs) - n_carries - 1)


def _scan_simplify(s, eqn, inputs):
    """The body simplified; ys nothing reads are dropped, and so are carries nothing reads after the loop nor
    a kept value's update, with the constants and xs only they read."""
    p = eqn.params
    body = simplify(p["body"])
    n_c, n, length = p["n_consts"], p["n_carries"], p["length"]
    head = 1 if length is None else 0
    used = [j for j, v in enumerate(eqn.outputs) if s.uses.get(v, 0) > 0]
    if not used:
        return list(eqn.outputs)
    deps = dependencies(body)
    live = sorted(_live_carries(deps, set(), n_c, n, used))
    ys = [j for j in used if j >= n]
    kept_outputs = live + ys
    if len(kept_outputs) == len(eqn.outputs):
        return s.record_with_params(eqn, inputs, body=body)
    reads = set().union(*[deps[j] for j in kept_outputs]) | {n_c + k for k in live}
    n_xs = len(body.inputs) - n_c - n
    keep_consts = [i for i in range(n_c) if i in reads]
    keep_xs = [i for i in range(n_xs) if n_c + n + i in reads]
    new_body = prune(body, keep_consts + [n_c + k for k in live] + [n_c + n + i for i in keep_xs], kept_outputs)
    new_inputs = (list(inputs[:head]) + [inputs[head + i] for i in keep_consts] +
                  [inputs[head + n_c + k] for k in live] + [inputs[head + n_c + n + i] for i in keep_xs])
    if not keep_xs and length is not None and not new_inputs[head:]:
        pass        # a scan of static length with nothing left to read still runs its (pure) body: kept as is
    outs = s.record(scan_p, tuple(new_inputs), dict(body=new_body, length=length, reverse=p["reverse"],
                                                    n_consts=len(keep_consts), n_carries=len(live),
                                                    unroll=p["unroll"]),
                    tuple(eqn.outputs[j] for j in kept_outputs))
    return _spread(eqn.outputs, kept_outputs, outs)


scan_p = Primitive(
    "scan", kind="control", shape_rule=_scan_type, impl=_scan_impl, jvp=_scan_jvp, vjp=_scan_vjp,
    vjp_fwd=_scan_vjp_fwd, batch=_scan_batch, numba="scan", multiple_results=True, simplify=_scan_simplify,
    **_CONTROL)


# ==== checkpoint (remat) ===================================================================================
# The reverse sweep recomputes the function from its inputs instead of reading stored intermediates; a
# policy may keep some intermediates (say, the matmul results) from the forward sweep. The recomputation is
# itself a checkpoint call: opaque to simplify's common-subexpression elimination, which would otherwise merge
# it with the forward sweep and keep every intermediate alive after all.

class Policy:
    """A checkpoint policy in equation params: `saveable(prim, *in_types, **params) -> bool` says whether an
    intermediate an equation of that primitive produced may be kept from the forward sweep. Prints by name,
    so program text (and the kernel cache key) is the same in every process."""
    __slots__ = ("name", "saveable")

    def __init__(self, name: str, saveable):
        self.name, self.saveable = name, saveable

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other) -> bool:
        return type(other) is Policy and other.saveable is self.saveable

    def __hash__(self) -> int:
        return hash(id(self.saveable))


def _checkpoint_type(*in_types, primal, policy):
    if tuple(in_types) != primal.in_types:
        raise TypeError(f"checkpoint's inputs {_types(in_types)} do not match its program's {_types(primal.in_types)}")
    return primal.out_types


def _checkpoint_impl(*args, primal, policy):
    return concrete(run(primal, *args))


def _checkpoint_jvp(primals, tangents, *, primal, policy):
    outs, dots = jvp_eval(primal, primals, tangents)
    return outs, dots


@functools.lru_cache(maxsize=128)
def _checkpoint_plan(primal: Program, wrt: tuple, policy):
    """How the reverse sweep of a checkpoint gets its residuals: (forward program: inputs -> outputs and the
    saved intermediates, the split of primal's VJP, the saved Vars, the program recomputing every residual
    from the inputs and the saved intermediates). The policy marks the equations whose outputs are worth
    saving among those the recomputation would run (JAX's remat policies: e.g. matrix products)."""
    split = ReverseSplit(primal, wrt, (False,) * len(primal.inputs))
    n_out = len(primal.outputs)
    recorded = tuple(split.forward.outputs[n_out:])
    needed = Program(split.forward.inputs, split.forward.equations, recorded)
    from fgrad.transforms.simplify import live_equations
    live = live_equations(needed.equations, recorded)
    saved = []
    if policy is not None:
        for eqn in live:
            if policy.saveable(eqn.prim, *[a.type for a in eqn.inputs], **eqn.params):
                saved += [v for v in eqn.outputs if not v.type.is_tape]
    kept = set(saved)
    recompute = Program(tuple(split.forward.inputs) + tuple(saved),
                        tuple(e for e in live if not any(v in kept for v in e.outputs)), recorded)
    forward = simplify(Program(split.forward.inputs, split.forward.equations,
                               tuple(split.forward.outputs[:n_out]) + tuple(saved))) if saved else primal
    return forward, split, tuple(saved), recompute


def _checkpoint_wrt(primals, needs) -> tuple:
    return tuple(i for i, (x, need) in enumerate(zip(primals, needs)) if need and float_type(typeof(x)))


def _checkpoint_vjp_fwd(primals, needs, *, primal, policy):
    forward, _, saved, _ = _checkpoint_plan(primal, _checkpoint_wrt(primals, needs), policy)
    if not saved:
        return checkpoint_p.bind(*primals, primal=primal, policy=policy), ()
    outs = checkpoint_p.bind(*primals, primal=forward, policy=policy)
    n = len(primal.outputs)
    return outs[:n], tuple(outs[n:])


def _checkpoint_vjp(cts, outs, primals, needs, *, residuals, primal, policy):
    wrt = _checkpoint_wrt(primals, needs)
    if not wrt or all(ct is None for ct in cts):
        return [None] * len(primals)
    _, split, saved_vars, recompute = _checkpoint_plan(primal, wrt, policy)
    n_in = len(primal.inputs)
    # What the reverse sweep reads and the forward sweep did not keep is computed again from the inputs.

    def pullback(*args):
        inputs, saved_values, out_cts = args[:n_in], args[n_in:n_in + len(saved_vars)], args[n_in + len(saved_vars):]
        recorded = run(recompute, *inputs, *saved_values)
        residual_args = [inputs[i] if kind == "const" else recorded[i] for kind, i in split.sources]
        full_cts = [ct for ct in out_cts]
        return run(split.reverse, *residual_args, *full_cts)

    ct_types = list(primal.out_types)
    program, captured = derive_closed(pullback, list(primal.in_types) + [v.type for v in saved_vars] + ct_types)
    program = without_effects(program)      # the recomputation does not print again (fgrad.debug)
    full_cts = [instantiate(ct, t) for ct, t in zip(cts, primal.out_types)]
    in_cts = checkpoint_p.bind(*primals, *residuals, *full_cts, *captured, primal=program, policy=policy)
    result = [None] * len(primals)
    for i, ct in zip(wrt, in_cts):
        result[i] = ct
    return result


def _checkpoint_batch(args, dims, *, primal, policy):
    size = batch_size(args, dims)
    program = batched(primal, dims, size)
    outs = checkpoint_p.bind(*args, primal=program, policy=policy)
    return outs, [0] * len(outs)


checkpoint_p = Primitive(
    "checkpoint", kind="custom", shape_rule=_checkpoint_type, impl=_checkpoint_impl, jvp=_checkpoint_jvp,
    vjp=_checkpoint_vjp, vjp_fwd=_checkpoint_vjp_fwd, batch=_checkpoint_batch, numba="inline",
    multiple_results=True, simplify=None, **_CONTROL)
