"""Stable, readable text for programs; the same text is the golden-test format.

    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[] = reduce_sum[axes=(0,)] b
      return c
    }
"""
from __future__ import annotations

import numpy as np

# The printer sees the IR's classes only through their fields (fgrad.ir.core imports this module to print
# itself): a Literal has a `value`, a Var does not; a Program has `equations`.
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

    def define(self, v) -> str:
        # A Var defined twice (a malformed program) keeps its first name, so `check` can show the clash.
        name = self.names.get(v) or self.names.setdefault(v, var_name(len(self.names)))
        return f"{name}:{v.type}"

    def __call__(self, atom) -> str:
        if is_literal(atom):
            return format_literal(atom, self.full_literals)
        try:
            return self.names[atom]
        except KeyError:
            return f"<unbound {atom!r}>"


def is_literal(atom) -> bool:
    return hasattr(atom, "value")


def is_program(value) -> bool:
    return hasattr(value, "equations")


def format_literal(lit, full: bool = False) -> str:
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
        elif is_program(value):
            value = "{" + " ".join(format_program(value).split()) + "}"
        parts.append(f"{key}={value}")
    return "[" + " ".join(parts) + "]"


def format_equation(eqn, namer: Namer | None = None) -> str:
    namer = namer or Namer()
    ins = " ".join(namer(a) for a in eqn.inputs)
    outs = " ".join(namer.define(v) for v in eqn.outputs)
    return f"{outs} = {eqn.prim.name}{format_params(eqn.params)} {ins}".rstrip()


def format_program(program, full_literals: bool = False) -> str:
    """The program's text: one line per equation, with types."""
    namer = Namer(full_literals)
    header = " ".join(namer.define(v) for v in program.inputs)
    lines = [f"program({header}) {{"]
    lines += ["  " + format_equation(eqn, namer) for eqn in program.equations]
    outputs = ", ".join(namer(v) for v in program.outputs)
    lines.append(f"  return {outputs}".rstrip())     # no trailing space when there is nothing to return
    lines.append("}")
    return "\n".join(lines)
