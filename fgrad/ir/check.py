"""`check(program)`: single assignment, every Var bound before use, recorded types agree with shape rules,
and the same for every sub-program a control-flow equation holds."""
from __future__ import annotations

from fgrad.ir.core import Literal, Program
from fgrad.ir.printer import Namer, format_equation, sub_programs


class ProgramError(ValueError):
    """A malformed program; the message names the offending equation."""


def check(program: Program) -> Program:
    """Raise ProgramError if `program` is not well formed; return it otherwise.

    >>> check(fgrad.make_ir(fnp.sin)(1.0))      # doctest: +SKIP
    """
    namer = Namer()
    bound = set()

    def define(v, where):
        if v in bound:
            raise ProgramError(f"variable {namer(v)} is assigned twice, again in: {where}")
        bound.add(v)
        namer.define(v)

    for v in program.inputs:
        define(v, "the program's inputs")
    for i, eqn in enumerate(program.equations):
        text = f"equation {i} `{_describe(eqn, namer)}`"
        for a in eqn.inputs:
            if type(a) is not Literal and a not in bound:
                raise ProgramError(f"{text} uses a variable that is not bound before it: {a!r}")
        expected = eqn.prim.shape_rule(*[a.type for a in eqn.inputs], **eqn.params)
        expected = tuple(expected) if eqn.prim.multiple_results else (expected,)
        recorded = tuple(v.type for v in eqn.outputs)
        if expected != recorded:
            raise ProgramError(f"{text} records output types {_types(recorded)} but the shape rule of "
                               f"'{eqn.prim.name}' gives {_types(expected)}")
        for label, sub in sub_programs(eqn.params):
            # Recursion goes as deep as programs nest (a loop in a loop), never as long as a program is.
            try:
                check(sub)
            except ProgramError as e:
                raise ProgramError(f"in {label} of {text}: {e}") from None
        for v in eqn.outputs:
            define(v, text)
    for v in program.outputs:
        if type(v) is not Literal and v not in bound:
            raise ProgramError(f"the program returns a variable that is never bound: {v!r}")
    return program


def _describe(eqn, namer) -> str:
    scratch = Namer()
    scratch.names, scratch.letters = dict(namer.names), namer.letters
    return format_equation(eqn, scratch).splitlines()[0]      # sub-programs are named, not printed


def _types(ts) -> str:
    return "(" + ", ".join(map(str, ts)) + ")"
