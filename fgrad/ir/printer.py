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

    def __init__(self, full_literals: bool = False, source: bool = False):
        self.names = {}
        self.full_literals = full_literals
        self.source = source        # end each equation's line with a comment naming its source location

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


def sub_programs(params) -> list:
    """The (label, Program) pairs an equation's params hold: a Program param `body` is labelled "body", a tuple
    of them `branches` "branches[0]", ...; in sorted param order, so the text is stable."""
    out = []
    for key in sorted(params):
        value = params[key]
        if is_program(value):
            out.append((key, value))
        elif isinstance(value, tuple) and value and all(is_program(v) for v in value):
            out += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    return out


def format_params(params) -> str:
    """The static params in brackets; sub-programs are printed nested below the equation instead."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if is_program(value) or (isinstance(value, tuple) and value and all(is_program(v) for v in value)):
            continue
        if isinstance(value, np.dtype):
            value = value.name
        parts.append(f"{key}={value}")
    return "[" + " ".join(parts) + "]" if parts else ""


def format_equation(eqn, namer: Namer | None = None, indent: str = "") -> str:
    """`outs = prim[params] ins`, then each sub-program indented below it (as a jaxpr's cond and while)."""
    namer = namer or Namer()
    ins = " ".join(namer(a) for a in eqn.inputs)
    outs = " ".join(namer.define(v) for v in eqn.outputs)
    head = f"{outs} = " if outs else ""        # an effect (debug.print) has no outputs
    lines = [f"{indent}{head}{eqn.prim.name}{format_params(eqn.params)} {ins}".rstrip()]
    if namer.source and getattr(eqn, "source", None) is not None:
        lines[0] += f"    # {eqn.source}"
    for label, program in sub_programs(eqn.params):
        lines.append(_format_body(program, namer, indent + "    ", label))
    return "\n".join(lines)


def format_program(program, full_literals: bool = False, source: bool = False) -> str:
    """The program's text: one line per equation, with types; sub-programs nested and indented. Variables
    are named in order of first appearance across the whole text, nested programs included. With `source`,
    each equation's line ends with `# file.py:12`, the user's line that created it."""
    return _format_body(program, Namer(full_literals, source), "", "program")


def _format_body(program, namer: Namer, indent: str, label: str) -> str:
    header = " ".join(namer.define(v) for v in program.inputs)
    lines = [f"{indent}{label}({header}) {{"]
    lines += [format_equation(eqn, namer, indent + "  ") for eqn in program.equations]
    outputs = ", ".join(namer(v) for v in program.outputs)
    lines.append(f"{indent}  return {outputs}".rstrip())     # no trailing space when there is nothing to return
    lines.append(f"{indent}}}")
    return "\n".join(lines)
