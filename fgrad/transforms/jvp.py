"""Forward mode: `jvp_program(program, tangent_mask)` is a Program computing outputs and their tangents.

One interpreter loop over the equations: bind each primitive (recording the primal), then add up the
per-input JVP rules of the inputs whose tangent is nonzero. `None` is a symbolic zero tangent.
"""
from __future__ import annotations

from fgrad.ir import Literal, Program, is_float, restored_source, set_current_source, trace_flat
from fgrad.ir.tracing import name_hint
from fgrad.ops import add, broadcast_to, convert_element_type, typeof
import numpy as np


def zeros_of(t):
    """A zero value of ArrayType `t` (a broadcast scalar, cheap in the IR)."""
    return broadcast_to(np.zeros((), t.dtype), t.shape)


def instantiate(tangent, t):
    return zeros_of(t) if tangent is None else tangent


def add_tangents(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return add(a, b)


def jvp_equation(eqn, primals, tangents):
    """Bind `eqn` on `primals`; return (outputs, output tangents) with None for zero tangents.

    A primitive with several results computes its outputs and their tangents in one rule,
    `jvp(primals, tangents, **params) -> (outs, out_dots)`, so a loop runs once for both."""
    differentiated = any(t is not None for t in tangents) and any(is_float(v.type.dtype) for v in eqn.outputs)
    if eqn.prim.multiple_results and differentiated:
        if eqn.source is not None:
            set_current_source(eqn.source.derived("tangent"))
        outs, out_dots = eqn.prim.jvp(primals, tangents, **eqn.params)
        return list(outs), list(out_dots)
    out = eqn.prim.bind(*primals, **eqn.params)
    outs = out if eqn.prim.multiple_results else [out]
    if not differentiated:
        return outs, [None] * len(outs)
    if eqn.source is not None:
        set_current_source(eqn.source.derived("tangent"))     # the rules' equations: this line's tangent
    out_dot = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        rule = eqn.prim.jvp_rule(i)
        if rule is not None:
            out_dot = add_tangents(out_dot, rule(t, out, *primals, **eqn.params))
    if out_dot is not None and typeof(out_dot).dtype != eqn.outputs[0].type.dtype:
        out_dot = convert_element_type(out_dot, eqn.outputs[0].type.dtype)
    return outs, [out_dot]


def jvp_eval(program: Program, primals, tangents):
    """Run `program` on primals and tangents (None = zero) in the current interpreter."""
    env = dict(zip(program.inputs, primals))
    tan_env = {v: t for v, t in zip(program.inputs, tangents) if t is not None}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    def read_tangent(a):
        return None if type(a) is Literal else tan_env.get(a)

    with restored_source():
        for eqn in program.equations:
            set_current_source(eqn.source)
            outs, out_dots = jvp_equation(eqn, [read(a) for a in eqn.inputs],
                                          [read_tangent(a) for a in eqn.inputs])
            env.update(zip(eqn.outputs, outs))
            tan_env.update((v, t) for v, t in zip(eqn.outputs, out_dots) if t is not None)
    return [read(v) for v in program.outputs], [read_tangent(v) for v in program.outputs]


def jvp_function(program: Program, tangent_mask):
    """The function a JVP program is traced from, and its input types: inputs (primals..., tangents of the
    masked inputs...), outputs (outputs..., output tangents...), zero output tangents instantiated."""
    n = len(program.inputs)

    def fun(*args):
        primals, tangent_args = args[:n], iter(args[n:])
        tangents = [next(tangent_args) if m else None for m in tangent_mask]
        for x, x_dot in zip(primals, tangents):
            name_hint(x_dot, "dot", x)           # the tangent input of `a` is printed `a_dot`
        outs, out_dots = jvp_eval(program, primals, tangents)
        out_dots = [instantiate(t, v.type) for t, v in zip(out_dots, program.outputs)]
        for out, out_dot in zip(outs, out_dots):
            name_hint(out_dot, "dot", out)       # printed `c_dot` when traced
        return outs + out_dots

    return fun, list(program.in_types) + [v.type for v, m in zip(program.inputs, tangent_mask) if m]


def jvp_program(program: Program, tangent_mask) -> Program:
    """The JVP of `program` (see `jvp_function`), for a program that captures nothing."""
    derived, captured = trace_flat(*jvp_function(program, tangent_mask))
    assert not captured
    return derived
