"""Reverse mode: `vjp_program(program, wrt)` is the adjoint Program, forward and reverse sweep in one;
`vjp_split` cuts it into the forward, which also returns the residuals, and the backward, which reads them.

The forward sweep re-binds every equation; the reverse sweep walks the active equations backwards and
applies each input's VJP rule to the output cotangent. Cotangents of re-used values accumulate;
`None` is a zero cotangent. The walk is a loop, so program length is limited by memory, not recursion.

`split_program` is fgrad's one residual split (partial evaluation): fgrad.vjp and linearize run the first
part once and the second per cotangent / tangent; the PyTorch facade records the forward of each op and runs
the backward in `.backward()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from fgrad.ir import Literal, Program, has_effect, is_float, restored_source, set_current_source, trace_flat
from fgrad.ir.tracing import name_hint, reverse_sweep
from fgrad.ops import add, convert_element_type, typeof
from fgrad.transforms.jvp import instantiate
from fgrad.transforms.simplify import simplify_derived


def active_equations(program: Program, wrt) -> tuple[set, list]:
    """The Vars that depend on the `wrt` inputs through float values, and the equations producing them."""
    active = {program.inputs[i] for i in wrt if is_float(program.inputs[i].type.dtype)}
    eqns = []
    for eqn in program.equations:
        if passes_derivative(eqn, active):
            float_outs = [v for v in eqn.outputs if is_float(v.type.dtype)]
            if float_outs:
                active.update(float_outs)
                eqns.append(eqn)
    return active, eqns


def passes_derivative(eqn, active: set) -> bool:
    """Whether an active input of `eqn` reaches its outputs through a VJP rule not declared zero (stop_gradient's
    output, like a comparison's, is a constant to reverse mode)."""
    rules = eqn.prim.vjp
    reads = [i for i, a in enumerate(eqn.inputs) if type(a) is not Literal and a in active]
    if not isinstance(rules, tuple):
        return bool(reads)
    return any(rules[i] is not None for i in reads)


def accumulate(ct_env, var, ct):
    if ct is None:
        return
    if typeof(ct).dtype != var.type.dtype:
        ct = convert_element_type(ct, var.type.dtype)
    old = ct_env.get(var)
    ct_env[var] = ct if old is None else add(old, ct)


def backward_pass(program: Program, env: dict, active: set, eqns: list, out_cts, residuals=None) -> dict:
    """Walk `eqns` in reverse from the output cotangents; return the cotangent of every active Var.
    `residuals` maps an equation to what its primitive's `vjp_fwd` recorded in the forward sweep."""
    with reverse_sweep():          # the Vars it traces are marked as the reverse half (for pictures)
        return _backward_walk(program, env, active, eqns, out_cts, residuals or {})


def _backward_walk(program, env, active, eqns, out_cts, residuals) -> dict:
    ct_env = {}
    for v, ct in zip(program.outputs, out_cts):
        if type(v) is not Literal and v in active:
            accumulate(ct_env, v, ct)

    def read(a):
        return a.value if type(a) is Literal else env[a]

    with restored_source():
        for eqn in reversed(eqns):
            # The rules' equations are the gradient of this equation's line (fgrad.ir.source).
            set_current_source(eqn.source.derived("gradient") if eqn.source is not None else None)
            backward_equation(eqn, ct_env, active, read, residuals)
    return ct_env


def backward_equation(eqn, ct_env: dict, active: set, read, residuals: dict):
    """Apply `eqn`'s VJP rules to its outputs' cotangents (popped from ct_env), accumulating its inputs'."""
    cts = [ct_env.pop(v, None) for v in eqn.outputs]
    if all(ct is None for ct in cts):
        return
    primals = [read(a) for a in eqn.inputs]
    if eqn.prim.multiple_results:
        needs = [type(a) is not Literal and a in active for a in eqn.inputs]
        outs = [read(v) for v in eqn.outputs]
        recorded = {"residuals": residuals[eqn]} if eqn in residuals else {}
        in_cts = eqn.prim.vjp(cts, outs, primals, needs, **recorded, **eqn.params)
        for a, ct in zip(eqn.inputs, in_cts):
            if type(a) is not Literal and a in active:
                accumulate(ct_env, a, ct)
        return
    out = read(eqn.outputs[0])
    for i, a in enumerate(eqn.inputs):
        if type(a) is Literal or a not in active:
            continue
        rule = eqn.prim.vjp_rule(i)
        if rule is not None:
            accumulate(ct_env, a, rule(cts[0], out, *primals, **eqn.params))


def forward_pass(program: Program, args, active=frozenset(), active_eqns=()) -> tuple[dict, dict]:
    """Bind every equation (the forward sweep); return the environment of values and the residuals the
    `vjp_fwd` of an active equation's primitive recorded for its reverse sweep."""
    env = dict(zip(program.inputs, args))
    recording = {id(eqn) for eqn in active_eqns if eqn.prim.vjp_fwd is not None}
    residuals = {}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    with restored_source():
        for eqn in program.equations:
            set_current_source(eqn.source)
            primals = [read(a) for a in eqn.inputs]
            if id(eqn) in recording:
                needs = [type(a) is not Literal and a in active for a in eqn.inputs]
                outs, residuals[eqn] = eqn.prim.vjp_fwd(primals, needs, **eqn.params)
                env.update(zip(eqn.outputs, outs))
                continue
            out = eqn.prim.bind(*primals, **eqn.params)
            env.update(zip(eqn.outputs, out if eqn.prim.multiple_results else [out]))
    return env, residuals


def vjp_eval(program: Program, args, wrt, out_cts):
    """Outputs of `program` on `args` and the cotangents of inputs `wrt` (zeros instantiated)."""
    active, eqns = active_equations(program, wrt)
    env, residuals = forward_pass(program, args, active, eqns)
    ct_env = backward_pass(program, env, active, eqns, out_cts, residuals)
    outs = [v.value if type(v) is Literal else env[v] for v in program.outputs]
    in_cts = [instantiate(ct_env.get(program.inputs[i]), program.inputs[i].type) for i in wrt]
    for i, ct in zip(wrt, in_cts):
        name_hint(ct, "ct", args[i])        # printed `a_ct` when traced
    return outs, in_cts


def vjp_function(program: Program, wrt, ct_outputs=None):
    """The function an adjoint program is traced from, and its input types: inputs (inputs..., cotangents
    of the outputs at positions `ct_outputs` (all by default)...), outputs (outputs..., cotangents of inputs
    `wrt`...). The other outputs (auxiliary ones, or ones that carry no gradient) get no cotangent."""
    n = len(program.inputs)
    ct_outputs = range(len(program.outputs)) if ct_outputs is None else tuple(ct_outputs)

    def fun(*args):
        out_cts = [None] * len(program.outputs)
        for j, ct in zip(ct_outputs, args[n:]):
            out_cts[j] = ct
        outs, in_cts = vjp_eval(program, args[:n], wrt, out_cts)
        return outs + in_cts

    return fun, list(program.in_types) + [program.outputs[j].type for j in ct_outputs]


def vjp_program(program: Program, wrt) -> Program:
    """The adjoint of `program` w.r.t. inputs `wrt` (see `vjp_function`), for a program that captures nothing."""
    derived, captured = trace_flat(*vjp_function(program, wrt))
    assert not captured
    return derived


# ---- the residual split ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """A program cut in two by `split_program`: `first` takes the known inputs and returns the first
    outputs followed by the residuals; `second` takes (residuals..., unknown inputs...) and returns the
    other outputs. `residuals` are the Vars of the original program both parts name."""
    first: Program
    second: Program
    residuals: tuple


def split_program(program: Program, unknown_inputs, n_first: int, save: str = "all") -> Split:
    """Cut `program` into a part that runs now and a part that runs later, perhaps many times.

    The first part computes outputs[:n_first] (which must not depend on the inputs flagged in
    `unknown_inputs`) from the other inputs; the second computes the remaining outputs. What the second
    part reads from the first are the residuals. Which equations run in which part is a policy:

    save="all": every equation that reads no unknown value runs in the first part, once (partial
      evaluation as in JAX: derivative factors like cos(x) of sin's VJP become residuals);
    save="forward": the first part runs only what its outputs need and the second part the rest, so the
      residuals are values the first part computes anyway (inputs, intermediates and outputs of the
      forward: the tensors PyTorch's autograd saves).

    Equations that neither part needs are dropped.

    >>> import fgrad, fgrad.numpy as fnp
    >>> p = fgrad.make_ir(lambda x, t: [fnp.sin(x), fnp.cos(x) * t])(1.0, 1.0)
    >>> [e.prim.name for e in split_program(p, [False, True], 1).first.equations]
    ['sin', 'cos']
    >>> [e.prim.name for e in split_program(p, [False, True], 1, save="forward").second.equations]
    ['cos', 'mul']
    """
    if save not in ("all", "forward"):
        raise ValueError(f"save must be 'all' or 'forward', got {save!r}")
    unknown = {v for v, u in zip(program.inputs, unknown_inputs) if u}
    for eqn in program.equations:               # everything that depends on an unknown input
        if any(type(a) is not Literal and a in unknown for a in eqn.inputs):
            unknown.update(eqn.outputs)
    first_outputs, second_outputs = program.outputs[:n_first], program.outputs[n_first:]
    if any(type(v) is not Literal and v in unknown for v in first_outputs):
        raise ValueError("split_program: one of the first outputs depends on an unknown input")
    # An effect (debug.print) runs in the part whose values it reads: with the first part if it reads no
    # unknown value (a print in the forward computation prints once, when the forward runs).
    late_effects = {eqn for eqn in program.equations if eqn.prim.effectful and reads_any(eqn, unknown)}
    late_effects |= {eqn for eqn in program.equations if eqn.outputs and eqn.outputs[0] in unknown and has_effect(eqn)}
    not_late_effects = [eqn for eqn in program.equations if eqn not in late_effects]
    if save == "all":
        late = [eqn for eqn in program.equations
                if (eqn.outputs and eqn.outputs[0] in unknown) or eqn in late_effects]
    else:
        early = needed_equations(not_late_effects, first_outputs)
        late = [eqn for eqn in program.equations if eqn not in early]
    needed_late = needed_equations(late, second_outputs)
    second_eqns = [eqn for eqn in late if eqn in needed_late]       # program order: the residuals' order is stable
    computed_late = {v for eqn in second_eqns for v in eqn.outputs} | {
        v for v, u in zip(program.inputs, unknown_inputs) if u}
    residuals = {}                              # dict: ordered by first use, no repeats
    for a in [a for eqn in second_eqns for a in eqn.inputs] + list(second_outputs):
        if type(a) is not Literal and a not in computed_late:
            residuals[a] = None
    residuals = tuple(residuals)
    first_eqns = needed_equations(not_late_effects, tuple(first_outputs) + residuals)
    known_inputs = tuple(v for v, u in zip(program.inputs, unknown_inputs) if not u)
    unknown_inputs = tuple(v for v, u in zip(program.inputs, unknown_inputs) if u)
    first = Program(known_inputs, tuple(eqn for eqn in program.equations if eqn in first_eqns),
                    tuple(first_outputs) + residuals)
    second = Program(residuals + unknown_inputs, tuple(second_eqns),
                     tuple(second_outputs))
    return Split(first, second, residuals)


def reads_any(eqn, values: set) -> bool:
    return any(type(a) is not Literal and a in values for a in eqn.inputs)


def needed_equations(equations, outputs) -> set:
    """The equations among `equations` that `outputs` depend on (a reverse sweep), and the effects among them
    (debug.print) with what they read."""
    needed = {v for v in outputs if type(v) is not Literal}
    found = set()
    for eqn in reversed(equations):
        if any(v in needed for v in eqn.outputs) or has_effect(eqn):
            found.add(eqn)
            needed.update(a for a in eqn.inputs if type(a) is not Literal)
    return found


@dataclass(frozen=True)
class VjpSplit:
    """`program`'s reverse mode in two programs (see `vjp_split`).

    forward: (inputs..., extra...) -> (outputs..., residuals...)
    backward: (residuals..., cotangents of the `ct_outputs`...) -> cotangents of the `wrt` inputs
    saved_inputs / saved_outputs: (residual position, input / output index) for the residuals that are the
      program's inputs / outputs themselves (what a caller that lets values change in place must guard).
    extra: values of enclosing traces that custom rules close over; the forward takes them after the inputs.
    """
    forward: Program
    backward: Program
    saved_inputs: tuple
    saved_outputs: tuple
    extra: list


def vjp_split(program: Program, wrt, ct_outputs=None, *, save: str = "all", simplified: bool = True) -> VjpSplit:
    """The adjoint of `program` w.r.t. inputs `wrt`, split at its residuals: the forward runs once and the
    backward maps cotangents of the outputs `ct_outputs` (all by default) to cotangents of the `wrt`
    inputs. `save` is `split_program`'s policy; `simplified` runs `simplify` on the adjoint first.

    >>> import fgrad, fgrad.numpy as fnp
    >>> s = vjp_split(fgrad.make_ir(fnp.sin)(0.5), [0], save="forward")
    >>> [e.prim.name for e in s.forward.equations], [e.prim.name for e in s.backward.equations]
    (['sin'], ['cos', 'mul'])
    """
    fun, in_types = vjp_function(program, wrt, ct_outputs)
    joint, extra = trace_flat(fun, in_types)
    if simplified:
        joint = simplify_derived(joint)
    n_in, n_out = len(program.inputs), len(program.outputs)
    unknown = [False] * n_in + [True] * (len(in_types) - n_in) + [False] * len(extra)
    split = split_program(joint, unknown, n_out, save)
    inputs = {v: i for i, v in enumerate(joint.inputs[:n_in])}
    outputs = {v: j for j, v in enumerate(joint.outputs[:n_out]) if type(v) is not Literal}
    saved_inputs = tuple((r, inputs[v]) for r, v in enumerate(split.residuals) if v in inputs)
    saved_outputs = tuple((r, outputs[v]) for r, v in enumerate(split.residuals) if v in outputs)
    # the backward's inputs: residuals, then the cotangents (the unknown inputs); extras are forward inputs
    return VjpSplit(split.first, split.second, saved_inputs, saved_outputs, list(extra))
