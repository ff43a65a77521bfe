"""Stable, readable text for programs; the same text is the golden-test format.

    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[] = reduce_sum[axes=(0,)] b
      return c
    }

Two conveniences for the reader, neither of which changes the program (its digest is printed without them):

- A *fill*, an equation that copies one scalar literal into every element of its output (in simplified
  programs, `d:f64[3] = broadcast_to[shape=(3,)] 0.01:f64[]`), is not printed as a line: its uses show the
  value with the output's full type, `mul 0.01:f64[3] c`. The type says the operand is an array of equal
  shape, so broadcasting stays explicit; the kernel reads the value as a scalar.
- A Var may carry a name hint, `(suffix, other Var)`, set by the transforms: the cotangent of input `a` prints
  as `a_ct`, the tangent of output `c` as `c_dot`, when that name is free (else the usual letters), in the
  top-level program (not in loop bodies and branches).
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
    """Names Vars in order of first appearance, so the text does not depend on Var ids.

    `full_literals` is the canonical text a Program's digest hashes: every literal in full, no fills inlined
    and no name hints, so that programs equal up to these conveniences share a digest."""

    def __init__(self, full_literals: bool = False, source: bool = False):
        self.names = {}
        self.full_literals = full_literals
        self.source = source        # end each equation's line with a comment naming its source location
        self.letters = 0           # how many positional names were given out
        self.fills = {}            # Var -> the inline text of the fill that defines it
        self.depth = 0             # 1 while printing the top-level program, more inside sub-programs

    def define(self, v, hinted: bool = False) -> str:
        # A Var defined twice (a malformed program) keeps its first name, so `check` can show the clash.
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = (hinted and self.hinted_name(v)) or self.next_letters()
        return f"{name}:{v.type}"

    def next_letters(self) -> str:
        name = var_name(self.letters)
        self.letters += 1
        return name

    def hinted_name(self, v):
        """`<name of the hint's Var>_<suffix>` if the Var has a hint, that Var is named and the name is free.
        Hinted names hold an underscore, so they never clash with positional ones."""
        hint = getattr(v, "hint", None)
        if hint is None or self.full_literals or self.depth > 1:
            # Not inside loop bodies and branches: the transforms rebuild those from parts (residuals,
            # reversed carries), where a hint can name the wrong variable.
            return None
        suffix, of = hint
        base = self.names.get(of)
        name = f"{base}_{suffix}" if base is not None else None
        return name if name is not None and name not in self.names.values() else None

    def __call__(self, atom) -> str:
        if is_literal(atom):
            return format_literal(atom, self.full_literals)
        fill = self.fills.get(atom)
        if fill is not None:
            return fill
        try:
            return self.names[atom]
        except KeyError:
            return f"<unbound {atom!r}>"

    def inline_fill(self, eqn) -> bool:
        """Record `eqn` as a fill shown at its uses (see the module docstring); False if it is not one."""
        if self.full_literals or not is_fill(eqn):
            return False
        out = eqn.outputs[0]
        self.fills[out] = f"{eqn.inputs[0].value.item()!r}:{out.type}"
        return True


def is_fill(eqn) -> bool:
    """Whether `eqn` copies one scalar literal into every element of its one output (e.g. a broadcast of 0.01).
    Told by the primitive's `copies_input` trait, not its name."""
    return (getattr(eqn.prim, "copies_input", False) is True and len(eqn.inputs) == 1 and len(eqn.outputs) == 1
            and is_literal(eqn.inputs[0]) and eqn.inputs[0].value.ndim == 0 and eqn.outputs[0].type.size > 0
            and not sub_programs(eqn.params))


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
    outs = " ".join(namer.define(v, hinted=True) for v in eqn.outputs)
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
    namer.depth += 1
    header = " ".join(namer.define(v, hinted=True) for v in program.inputs)
    lines = [f"{indent}{label}({header}) {{"]
    lines += [format_equation(eqn, namer, indent + "  ") for eqn in program.equations if not namer.inline_fill(eqn)]
    outputs = ", ".join(namer(v) for v in program.outputs)
    lines.append(f"{indent}  return {outputs}".rstrip())     # no trailing space when there is nothing to return
    lines.append(f"{indent}}}")
    namer.depth -= 1
    return "\n".join(lines)
