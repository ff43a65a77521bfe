"""Errors users meet while tracing, with the user's own file and line in the message."""
from __future__ import annotations

import linecache
import os
import sys

_FGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame_location() -> str:
    """`file:line: source` of the innermost frame outside the fgrad package (the user's code)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = os.path.abspath(filename).startswith(_FGRAD_DIR + os.sep)
        if not inside and not filename.startswith("<frozen"):
            line = linecache.getline(filename, frame.f_lineno).strip()
            return f"{filename}:{frame.f_lineno}" + (f": `{line}`" if line else "")
        frame = frame.f_back
    return "<unknown location>"


# What to use instead of Python control flow on a traced value, by the conversion Python asked for.
_ALTERNATIVES = {
    "bool": ("For an `if`, fgrad.lax.cond(pred, true_fun, false_fun, *operands), e.g.\n"
             "    y = fgrad.lax.cond(x > 0, lambda v: v * 2.0, lambda v: -v, x)\n"
             "for a `while`, fgrad.lax.while_loop(cond_fun, body_fun, init_val), e.g.\n"
             "    y = fgrad.lax.while_loop(lambda v: v < 100.0, lambda v: v * 2.0, x)\n"
             "and to choose elementwise, fnp.where(cond, x, y)."),
    "int": ("For a loop a traced number of times, fgrad.lax.fori_loop(lower, upper, body_fun, init_val), e.g.\n"
            "    y = fgrad.lax.fori_loop(0, n, lambda i, v: v * 2.0, x)\n"
            "(differentiable in reverse mode); to index by a traced value, fnp.take(a, i, axis=0); to choose "
            "between values, fnp.where(cond, x, y)."),
    "float": ("Keep computing with the array itself (fgrad.numpy functions) instead of converting it to a number; "
              "to choose between values, fnp.where(cond, x, y)."),
}


class TracerConversionError(TypeError):
    """A traced value was used where Python needs a concrete one (`if`, `bool`, `float`, `int`)."""

    def __init__(self, tracer, what: str):
        where = user_frame_location()
        kind = "bool" if what.startswith("bool") else "int" if ("int" in what or "__index__" in what) else "float"
        super().__init__(
            f"{what} was called on {tracer!r}, a traced value, at {where}.\n"
            "While fgrad traces a function (jit, make_ir) its arrays have no values yet, so Python control flow "
            "cannot depend on them.\n"
            f"{_ALTERNATIVES[kind]}\n"
            "Or pass the argument as static with static_argnums=... (jit re-traces for each value).")


class EscapedTracerError(RuntimeError):
    """A tracer outlived the trace that made it (stored in a global, returned through a side channel)."""

    def __init__(self, tracer):
        super().__init__(
            f"{tracer!r} escaped from the function fgrad traced it in, and was used after that trace "
            f"ended (at {user_frame_location()}). Return values from the traced function instead of "
            "storing them in globals or closures.")
