"""Reverse mode: `vjp_program(program, wrt)` is the adjoint Program, forward and reverse sweep in one.

The forward sweep re-binds every equation; the reverse sweep walks the active equations backwards and
applies each input's VJP rule to the output cotangent. Cotangents of re-used values accumulate;
`None` is a zero cotangent. The walk is a loop, so program length is limited by memory, not recursion.
"""
from __future__ import annotations

from fgrad.ir import Literal, Program, is_float, trace_flat
from fgrad.ops import add, convert_element_type, typeof
from fgrad.transforms.jvp import instantiate


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
    residuals = residuals or {}
    ct_env = {}
    for v, ct in zip(program.outputs, out_cts):
        if type(v) is not Literal and v in active:
            accumulate(ct_env, v, ct)

    def read(a):
        return a.value if type(a) is Literal else env[a]

    for eqn in reversed(eqns):
        cts = [ct_env.pop(v, None) for v in eqn.outputs]
        if all(ct is None for ct in cts):
            continue
        primals = [read(a) for a in eqn.inputs]
        if eqn.prim.multiple_results:
            needs = [type(a) is not Literal and a in active for a in eqn.inputs]
            outs = [env[v] for v in eqn.outputs]
            recorded = {"residuals": residuals[eqn]} if eqn in residuals else {}
            in_cts = eqn.prim.vjp(cts, outs, primals, needs, **recorded, **eqn.params)
            for a, ct in zip(eqn.inputs, in_cts):
                if type(a) is not Literal and a in active:
                    accumulate(ct_env, a, ct)
            continue
        out = env[eqn.outputs[0]]
        for i, a in enumerate(eqn.inputs):
            if type(a) is Literal or a not in active:
                continue
            rule = eqn.prim.vjp_rule(i)
            if rule is not None:
                accumulate(ct_env, a, rule(cts[0], out, *primals, **eqn.params))
    return ct_env


def forward_pass(program: Program, args, active=frozenset(), active_eqns=()) -> tuple[dict, dict]:
    """Bind every equation (the forward sweep); return the environment of values and the residuals the
    `vjp_fwd` of an active equation's primitive recorded for its reverse sweep."""
    env = dict(zip(program.inputs, args))
    recording = {id(eqn) for eqn in active_eqns if eqn.prim.vjp_fwd is not None}
    residuals = {}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    for eqn in program.equations:
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
    return outs, in_cts


def vjp_function(program: Program, wrt, num_main=None):
    """The function an adjoint program is traced from, and its input types: inputs (inputs..., cotangents
    of the first `num_main` outputs (all by default)...), outputs (outputs..., cotangents of inputs `wrt`...).
    Outputs after the first `num_main` (auxiliary ones) get no cotangent."""
    n = len(program.inputs)
    num_main = len(program.outputs) if num_main is None else num_main
    no_cts = [None] * (len(program.outputs) - num_main)

    def fun(*args):
        outs, in_cts = vjp_eval(program, args[:n], wrt, list(args[n:]) + no_cts)
        return outs + in_cts

    return fun, list(program.in_types) + list(program.out_types[:num_main])


def vjp_program(program: Program, wrt) -> Program:
    """The adjoint of `program` w.r.t. inputs `wrt` (see `vjp_function`), for a program that captures nothing."""
    derived, captured = trace_flat(*vjp_function(program, wrt))
    assert not captured
    return derived
