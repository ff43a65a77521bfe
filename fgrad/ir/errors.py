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


class TracerConversionError(TypeError):
    """A traced value was used where Python needs a concrete one (`if`, `bool`, `float`, `int`)."""

    def __init__(self, tracer, what: str):
        where = user_frame_location()
        super().__init__(
            f"{what} was called on {tracer!r}, a traced value, at {where}.\n"
            "While fgrad traces a function its arrays have no values yet, so Python control flow "
            "cannot depend on them.\n"
            "Use fnp.where(cond, x, y) to select between values elementwise, or structured control "
            "flow (fgrad.lax.cond / while_loop), or pass the argument as static with static_argnums=...")


class EscapedTracerError(RuntimeError):
    """A tracer outlived the trace that made it (stored in a global, returned through a side channel)."""

    def __init__(self, tracer):
        super().__init__(
            f"{tracer!r} escaped from the function fgrad traced it in, and was used after that trace "
            f"ended (at {user_frame_location()}). Return values from the traced function instead of "
            "storing them in globals or closures.")
