"""The IR: `Var`, `Literal`, `Equation`, `Program`.

A Program is typed SSA: every Var is assigned once, by an input or by one equation.
Vars compare by identity; Programs compare and hash structurally (up to renaming of Vars).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from itertools import count

import numpy as np

from fgrad.ir.printer import format_equation, format_program, sub_programs
from fgrad.ir.types import ArrayType

_var_ids = count()
_display = None     # program -> an object with _repr_svg_/_repr_html_; set by fgrad.viz (a higher layer)


def set_display(picture) -> None:
    """Register `picture(program)`, which Jupyter's rich display of a Program calls (fgrad.viz.to_dot)."""
    global _display
    _display = picture


class Var:
    """A variable of a Program. Its printed name comes from its position, not from `id`, or from its `hint`:
    None, or (suffix, Var) set by a transform, e.g. ("ct", x) for the cotangent of x, printed `x_ct`
    (fgrad.ir.printer). `sweep` is "reverse" for a Var the reverse sweep of reverse mode computed, else None
    (pictures colour the two halves of an adjoint; fgrad.viz). Both are for the reader only: a program's
    digest ignores them."""
    __slots__ = ("type", "id", "hint", "sweep")

    def __init__(self, type: ArrayType, hint=None, sweep=None):
        self.type = type
        self.id = next(_var_ids)
        self.hint = hint
        self.sweep = sweep

    def __repr__(self) -> str:
        return f"Var({self.type})"


class TracerBase:
    """Marker base of tracers (fgrad.ir.tracing.Tracer), so lower modules can recognise one."""
    __slots__ = ()


def typeof(x) -> ArrayType:
    """The ArrayType of a value: a tracer's recorded type, or a concrete array's or Python scalar's
    (float -> f64, int -> i64, bool -> bool, as numpy).

    >>> typeof(1.5)
    f64[]
    """
    if isinstance(x, TracerBase):
        return x.type
    a = np.asarray(x)
    if a.dtype.kind in "OSUV":
        raise TypeError(f"expected an array or a number, but got {_describe(x)}: fgrad computes with arrays and "
                        "numbers of dtype float32, float64, int32, int64 or bool. Pass numbers (e.g. "
                        "np.asarray(values, dtype=float)); for a configuration argument of a jitted function, mark "
                        "it static (fgrad.jit(f, static_argnums=...)) or close over it")
    return ArrayType(a.shape, a.dtype)


def _describe(x) -> str:
    if x is None:
        return "None"
    text = repr(x)
    return f"the {type(x).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class Literal:
    """A constant in a Program: a scalar written inline, or an array captured from the user's closure."""
    __slots__ = ("value", "type")

    def __init__(self, value):
        self.value = np.asarray(value)
        self.type = typeof(self.value)

    def __eq__(self, other) -> bool:
        return (type(other) is Literal and self.type == other.type
                and self.value.tobytes() == other.value.tobytes())

    def __hash__(self) -> int:
        return hash((self.type, self.value.tobytes()))

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"


class Params(dict):
    """An equation's static parameters: a read-only dict that hashes, so programs can key caches."""

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.items())))

    def _readonly(self, *args, **kwargs):
        raise TypeError("equation params are read-only")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly


@dataclass(frozen=True, eq=False, slots=True)
class Equation:
    """`outputs = prim(*inputs, **params)`."""
    prim: object            # a Primitive (declared in fgrad.ir.primitive)
    inputs: tuple           # of Var | Literal
    params: Params
    outputs: tuple          # of Var
    # Where the user's code created it (fgrad.ir.source.Source), or None. Not part of the program's
    # structure: it is neither printed by default nor hashed, so equal programs share kernels.
    source: object = None

    def __str__(self) -> str:
        return format_equation(self)


@dataclass(frozen=True, eq=False)
class Program:
    """A typed SSA program: `inputs`, then `equations` in order, returning `outputs`.

    >>> import fgrad, fgrad.numpy as fnp
    >>> print(fgrad.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0))   # doctest: +SKIP
    """
    inputs: tuple           # of Var
    equations: tuple        # of Equation
    outputs: tuple          # of Var | Literal

    @property
    def in_types(self) -> tuple:
        return tuple(v.type for v in self.inputs)

    @property
    def out_types(self) -> tuple:
        return tuple(v.type for v in self.outputs)

    def __str__(self) -> str:
        return format_program(self)

    def pretty(self, source: bool = False) -> str:
        """The program's text; with `source=True` each equation ends with a comment naming the user's line
        that created it (`# model.py:12`, `# model.py:12 (gradient)` for the adjoint of that line).

        >>> import fgrad, fgrad.numpy as fnp
        >>> print(fgrad.make_ir(fnp.sin)(1.0).pretty(source=True))    # doctest: +SKIP
        program(a:f64[]) {
          b:f64[] = sin a    # <stdin>:1
          return b
        }
        """
        return format_program(self, source=source)

    def __repr__(self) -> str:
        return str(self)

    # Jupyter: the picture fgrad.viz registered (set_display), rendered when Graphviz is installed.
    def _repr_svg_(self):
        return None if _display is None else _display(self)._repr_svg_()

    def _repr_html_(self):
        return None if _display is None else _display(self)._repr_html_()

    @cached_property
    def digest(self) -> str:
        """A structural hash that is equal across processes for equal programs (sha256 of the canonical text)."""
        return hashlib.sha256(format_program(self, full_literals=True).encode()).hexdigest()

    def __eq__(self, other) -> bool:
        return isinstance(other, Program) and self.digest == other.digest

    def __hash__(self) -> int:
        return int(self.digest[:16], 16)


Atom = Var | Literal


def has_effect(eqn) -> bool:
    """Whether `eqn` is an effect (its primitive is `effectful`, e.g. fgrad.debug.print) or holds a sub-program
    with one (a loop whose body prints): such an equation runs for what it does, so passes keep it.

    >>> import fgrad, fgrad.numpy as fnp
    >>> p = fgrad.make_ir(lambda x: fgrad.debug.print("{}", x) or fnp.sin(x))(1.0)
    >>> [has_effect(e) for e in p.equations]
    [True, False]
    """
    return binds_effect(eqn.prim, eqn.params)


def binds_effect(prim, params) -> bool:
    """`has_effect` of an equation of `prim` with `params`, before the equation exists (simplify's CSE)."""
    if prim.effectful:
        return True
    if prim.kind not in ("control", "custom"):
        return False
    return any(has_effect(e) for _, sub in sub_programs(params) for e in sub.equations)
