"""One log line per `fgrad.jit` compile: the program's size and where the time went (like jax_log_compiles).

Every compile is logged at INFO on the logger "fgrad.compile"; FGRAD_LOG_COMPILES=1 also prints those lines
on stderr. A line reads

    fgrad.compile: jit(f) f64[100], f64[100]: 179 equations, kernel 412 lines, compiled (cache miss) in 4.21 s:
    trace 0.031, simplify 0.012, generate 0.020, load 0.004, numba typing 1.20, numba lowering 0.61,
    llvm 2.30, numba other 0.03 s

- trace, simplify: fgrad's tracing of the Python function and its simplification passes;
- generate: fgrad.backend.codegen writing the kernel source; load: writing/importing the kernel file, njit;
- numba typing: Numba's type inference (with the typing of the vecmath helpers it pulls in);
- numba lowering: Numba's lowering to LLVM IR (its `native_lowering` pass, minus time under the LLVM lock);
- llvm: time Numba spends holding its LLVM lock (LLVM's optimisation passes and machine-code generation);
- numba other: the rest of Numba's pipeline (bytecode analysis, rewrites, cache lookup and save).

Numba's stage times come from its compiler event API (numba.core.event): a listener sums, per thread, the
exclusive time of each `numba:run_pass` and `numba:llvm_lock` event. The listener is installed only while
a compile is measured, and only when the logger is enabled for INFO, so an unlogged compile pays nothing.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

__all__ = ["logger", "enabled", "numba_stage_times", "log_compile", "Stopwatch"]

logger = logging.getLogger("fgrad.compile")
_HANDLER = None


def _install_stderr_handler() -> None:
    """FGRAD_LOG_COMPILES=1: INFO on the "fgrad.compile" logger goes to stderr (once per process)."""
    global _HANDLER
    if _HANDLER is None and os.environ.get("FGRAD_LOG_COMPILES", "").strip().lower() in ("1", "true", "yes", "on"):
        _HANDLER = logging.StreamHandler(sys.stderr)
        _HANDLER.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(_HANDLER)
        logger.setLevel(logging.INFO)


_install_stderr_handler()


def enabled() -> bool:
    """Whether compiles are being logged (FGRAD_LOG_COMPILES=1, or a handler set to INFO by the user)."""
    return logger.isEnabledFor(logging.INFO)


class Stopwatch:
    """Named durations, in seconds: `with sw("trace"): ...` adds the block's time to sw.times["trace"]."""

    def __init__(self):
        self.times = {}

    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0


# ---- Numba's stages, from its event API ----------------------------------------------------------------

_STATE = threading.local()     # .frames: the stack of open events; .totals: the dict being filled, or None
_LISTENER = None
_LISTENER_USERS = 0
_LISTENER_LOCK = threading.Lock()


def _category(event) -> str:
    if event.kind == "numba:llvm_lock":
        return "llvm"
    name = str((event.data or {}).get("name", "")) if isinstance(event.data, dict) else ""
    if "type_inference" in name:
        return "numba typing"
    if "native_lowering" in name:
        return "numba lowering"
    return "numba other"


def _make_listener():
    from numba.core import event

    class StageTimes(event.Listener):
        """Exclusive time per stage, on the threads that asked for it (see numba_stage_times)."""

        def on_start(self, ev):
            if getattr(_STATE, "totals", None) is not None:
                _STATE.frames.append([_category(ev), time.perf_counter(), 0.0])

        def on_end(self, ev):
            totals = getattr(_STATE, "totals", None)
            if totals is None or not _STATE.frames:
                return
            cat, start, inner = _STATE.frames.pop()
            took = time.perf_counter() - start
            totals[cat] = totals.get(cat, 0.0) + took - inner
            if _STATE.frames:
                _STATE.frames[-1][2] += took

    return StageTimes()


@contextlib.contextmanager
def numba_stage_times(into: dict):
    """Add the time Numba spends in each stage, on this thread inside the block, to `into`.

    >>> times = {}
    >>> with numba_stage_times(times):                  # doctest: +SKIP
    ...     kernel.dispatcher.compile(signature)
    >>> sorted(times)                                   # doctest: +SKIP
    ['llvm', 'numba lowering', 'numba other', 'numba typing']
    """
    global _LISTENER, _LISTENER_USERS
    from numba.core import event

    kinds = ("numba:run_pass", "numba:llvm_lock")
    with _LISTENER_LOCK:
        if _LISTENER is None:
            _LISTENER = _make_listener()
        if _LISTENER_USERS == 0:
            for kind in kinds:
                event.register(kind, _LISTENER)
        _LISTENER_USERS += 1
    _STATE.totals, _STATE.frames = into, []
    try:
        yield into
    finally:
        _STATE.totals, _STATE.frames = None, []
        with _LISTENER_LOCK:
            _LISTENER_USERS -= 1
            if _LISTENER_USERS == 0:
                for kind in kinds:
                    event.unregister(kind, _LISTENER)


# ---- the line ------------------------------------------------------------------------------------------

_ORDER = ("trace", "simplify", "generate", "load", "numba typing", "numba lowering", "llvm", "numba other")


def describe(what: str, program, source: str, times: dict, outcome: str, total: float) -> str:
    """The log line (see the module docstring)."""
    types = ", ".join(str(v.type) for v in program.inputs)
    parts = [f"{name} {times[name]:.3g}" for name in _ORDER if name in times]
    lines = source.count("\n") + 1
    return (f"{what} {types}: {len(program.equations)} equations, kernel {lines} lines, {outcome} in "
            f"{total:.3g} s: " + ", ".join(parts) + " s")


def log_compile(what: str, program, source: str, times: dict, outcome: str, total: float) -> None:
    """Log one compile at INFO on "fgrad.compile" (see the module docstring)."""
    if enabled():
        logger.info(describe(what, program, source, times, outcome, total))
