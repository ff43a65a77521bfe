"""Stable, readable text for programs; the same text is the golden-test format.

    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[] = reduce_sum[axes=(0,)] b
      return c
    }
"""
from __future__ import annotations

import numpy as np

from fgrad.ir.core import Literal, Program, Var

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def var_name(n: int) -> str:
    """0 -> a, 25 -> z, 26 -> ba, ... (as jaxprs name their variables)."""
    digits = []
    while True:
        n, r = divmod(n, 26)
        digits.append(_ALPHABET[r])
        if n == 0:
            break
    return "".join(reversed(digits))


class Namer:
    """Names Vars in order of first appearance, so the text does not depend on Var ids."""

    def __init__(self, full_literals: bool = False):
        self.names = {}
        self.full_literals = full_literals

    def define(self, v: Var) -> str:
        # A Var defined twice (a malformed program) keeps its first name, so `check` can show the clash.
        name = self.names.get(v) or self.names.setdefault(v, var_name(len(self.names)))
        return f"{name}:{v.type}"

    def __call__(self, atom) -> str:
        if type(atom) is Literal:
            return format_literal(atom, self.full_literals)
        try:
            return self.names[atom]
        except KeyError:
            return f"<unbound {atom!r}>"


def format_literal(lit: Literal, full: bool = False) -> str:
    v = lit.value
    if v.ndim == 0:
        return f"{v.item()!r}:{lit.type}"
    if full:
        return f"const({v.tobytes().hex()}):{lit.type}"
    if v.size <= 4:
        return f"{np.array2string(v.ravel(), separator=',')}:{lit.type}"
    return f"const:{lit.type}"


def format_params(params) -> str:
    if not params:
        return ""
    parts = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, np.dtype):
            value = value.name
        elif isinstance(value, Program):
            value = "{" + " ".join(format_program(value).split()) + "}"
        parts.append(f"{key}={value}")
    return "[" + " ".join(parts) + "]"


def format_equation(eqn, namer: Namer | None = None) -> str:
    namer = namer or Namer()
    ins = " ".join(namer(a) for a in eqn.inputs)
    outs = " ".join(namer.define(v) for v in eqn.outputs)
    return f"{outs} = {eqn.prim.name}{format_params(eqn.params)} {ins}".rstrip()


def format_program(program: Program, full_literals: bool = False) -> str:
    """The program's text: one line per equation, with types."""
    namer = Namer(full_literals)
    header = " ".join(namer.define(v) for v in program.inputs)
    lines = [f"program({header}) {{"]
    lines += ["  " + format_equation(eqn, namer) for eqn in program.equations]
    outputs = ", ".join(namer(v) for v in program.outputs)
    lines.append(f"  return {outputs}".rstrip())     # no trailing space when there is nothing to return
    lines.append("}")
    return "\n".join(lines)
