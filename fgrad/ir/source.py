"""Source locations: the user's file and line that created each equation.

Tracing records, on every equation, a `Source`: the innermost stack frame outside the fgrad package (the
user's line), found by walking `sys._getframe` (no `inspect.stack`, which reads source files). Passes that
derive equations from others (JVP, reverse mode, batching, simplify) set the *current source* to the
equation they are working on, so what they derive carries the primal equation's location, marked with
the role it plays: "tangent" (forward mode) or "gradient" (the adjoint sweep). An error can then say
"in the gradient of line 12".

Cost, measured on a shared 2-core machine (CPU time, so load matters less): about 1.4 us per traced equation,
most of it Python materialising the frame objects of the fgrad calls between the user's line and `bind`;
about 13% of tracing a 1200-equation function, a few percent of an eager `grad` call.

The current source is a thread-local slot (`current_source` / `set_current_source`); a pass saves it
before its loop and restores it after, so nested passes compose.
"""
from __future__ import annotations

import linecache
import os
import sys
import threading
from contextlib import contextmanager

_FGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

ROLES = {
    "": "the computation itself",
    "tangent": "its forward-mode derivative (a JVP rule)",
    "gradient": "its reverse-mode derivative (the adjoint sweep, a VJP rule)",
}


class Source:
    """Where an equation came from: the user's `filename`, `lineno` and `function`, and its `role`
    ("" for the computation itself, "tangent" or "gradient" for equations a derivative rule made from it).

    >>> s = Source("/home/me/model.py", 12, "loss")
    >>> str(s), str(s.derived("gradient"))
    ('model.py:12', 'model.py:12 (gradient)')
    >>> s.describe("gradient")
    'in the gradient of line 12 of /home/me/model.py (in loss)'
    """
    __slots__ = ("filename", "lineno", "function", "role", "_derived")

    def __init__(self, filename: str, lineno: int, function: str, role: str = ""):
        self.filename = filename
        self.lineno = lineno
        self.function = function
        self.role = role
        self._derived = None        # role -> Source, so a pass does not allocate one per equation

    def derived(self, role: str) -> "Source":
        """This location in another role (the equations a derivative rule makes from this one)."""
        if role == self.role:
            return self
        cache = self._derived
        if cache is None:
            cache = self._derived = {}
        hit = cache.get(role)
        if hit is None:
            hit = cache[role] = Source(self.filename, self.lineno, self.function, role)
        return hit

    @property
    def short(self) -> str:
        """`file.py:12`: the basename, so printed programs and kernels do not depend on where a checkout is."""
        return f"{os.path.basename(self.filename)}:{self.lineno}"

    def __str__(self) -> str:
        return self.short + (f" ({self.role})" if self.role else "")

    def __repr__(self) -> str:
        return f"Source({self.filename!r}, {self.lineno}, {self.function!r}, {self.role!r})"

    def __eq__(self, other) -> bool:
        return (type(other) is Source and self.filename == other.filename and self.lineno == other.lineno
                and self.role == other.role)

    def __hash__(self) -> int:
        return hash((self.filename, self.lineno, self.role))

    def line_text(self) -> str:
        """The source line itself, stripped ('' when the file cannot be read)."""
        return linecache.getline(self.filename, self.lineno).strip()

    def describe(self, role: str | None = None) -> str:
        """'at line 12 of f.py (in loss)', or 'in the gradient of line 12 ...' for a derived equation."""
        role = self.role if role is None else role
        where = f"line {self.lineno} of {self.filename} (in {self.function})"
        if role == "gradient":
            return f"in the gradient of {where}"
        if role == "tangent":
            return f"in the forward-mode derivative of {where}"
        return f"at {where}"


_internal_code = {}      # code object -> whether it belongs to fgrad (or the import machinery)
_sources = {}            # (code object, bytecode offset) -> Source: one object per call site, made once


def is_fgrad_code(code) -> bool:
    """Whether a code object belongs to fgrad (or to the import machinery): frames a location skips."""
    name = code.co_filename
    hit = _internal_code[code] = (os.path.abspath(name).startswith(_FGRAD_DIR) or name.startswith("<frozen")
                                  or name.startswith("<fgrad"))
    return hit


def user_source(depth: int = 1) -> Source | None:
    """The Source of the innermost frame outside fgrad (the user's line), or None if there is none.

    Cost: one dict lookup per fgrad frame on the stack (whether a code object is fgrad's is cached), and one
    for the call site (its Source is made once).
    """
    frame = sys._getframe(depth)
    internal = _internal_code
    while frame is not None:
        code = frame.f_code
        inside = internal.get(code)
        if inside is None:
            inside = is_fgrad_code(code)
        if not inside:
            key = (code, frame.f_lasti)
            hit = _sources.get(key)
            if hit is None:
                if len(_sources) > 100_000:         # a long session tracing ever new code: start over
                    _sources.clear()
                hit = _sources[key] = Source(code.co_filename, frame.f_lineno, code.co_name)
            return hit
        frame = frame.f_back
    return None


class _Current(threading.local):
    source = None


_current = _Current()


def current_source() -> Source | None:
    """The source a pass is deriving equations from (None outside a pass: tracing asks the stack)."""
    return _current.source


def set_current_source(source: Source | None) -> Source | None:
    """Set the current source; returns the previous one (restore it when the pass ends)."""
    previous = _current.source
    _current.source = source
    return previous


@contextmanager
def restored_source():
    """A pass that sets the current source to each equation's it processes runs inside this block: the
    caller's current source is cleared for it and restored when it ends (even on an error)."""
    outer = set_current_source(None)
    try:
        yield
    finally:
        set_current_source(outer)


def equation_source() -> Source | None:
    """The source a new equation records: the current pass's, else the user's line on the stack."""
    source = _current.source
    if source is not None:
        return source
    return user_source(4)                       # past user_source, this function, TraceInterpreter.process and bind
