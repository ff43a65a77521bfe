"""Tiered execution for `fgrad.jit`: first results from the reference executor while the kernel compiles.

A jitted function runs each traced signature on one of three tiers (`jit(f, tier=...)`, default from
FGRAD_JIT_TIER, else "compiled"):

- "compiled": the first call compiles the Numba kernel (or loads it from the disk cache) and runs it;
- "eager": every call runs the program on the numpy reference executor (fgrad.backend.numpy_exec's
  straight-line form: one numpy call per equation, no compile);
- "auto": calls run eagerly while a background thread generates the kernel and loads it from the disk
  cache or compiles it; from then on they run the kernel. `Jitted.wait()` (or `jit(f).compile(*args)`)
  blocks until it is ready. Once Numba is set up in the process (`numba_is_set_up`), a kernel found in the
  disk cache is loaded at once (milliseconds) and the eager tier is skipped. Before that, loading it would
  first cost Numba's own set-up (~1 s measured in a new process: its numpy support imports scipy.linalg),
  longer than eager calls take, so that load happens in the background too.

Results are the same on every tier up to round-off: both run the same simplified program, equation by
equation, in float64/float32 as typed. What differs is the order of floating-point operations inside a
reduction (numpy's pairwise sums against the kernel's loops) and the elementwise math library (numpy's
ufuncs against fgrad's vecmath/Numba's libm): a few ulps per operation, as between two BLAS builds.

A kernel that does not compile raises `JitCompileError` (with the program and the source) on the first
call after the background compile failed, and on every call after that: never a silent fallback to the
eager tier.

Background compiles run one at a time on one daemon thread (Numba compiles under a global lock anyway).
At interpreter exit, queued compiles are dropped and the running one is waited for, so that its disk
cache files are complete and LLVM is not torn down under it.
"""
from __future__ import annotations

import atexit
import queue
import sys
import threading

import numpy as np

from fgrad import config as _config
from fgrad.backend import nan_check
from fgrad.backend.jit import JitCompileError
from fgrad.backend.numpy_exec import compile_program
from fgrad.ir import Program, pytree

__all__ = ["TIERS", "check_tier", "numba_is_set_up", "EagerEntry", "TieredEntry", "wait_all"]

TIERS = ("auto", "compiled", "eager")


def check_tier(tier: str) -> str:
    if tier in TIERS:
        return tier
    raise ValueError(f"jit's tier must be one of {', '.join(map(repr, TIERS))} (or FGRAD_JIT_TIER set to one "
                     f"of them), got {tier!r}")


def numba_is_set_up() -> bool:
    """Whether Numba's numpy support is loaded in this process (it is on the first compile or cache load)."""
    return "numba.np.arraymath" in sys.modules


class EagerEntry:
    """One traced signature run on the reference executor (no compile): the "eager" tier."""

    def __init__(self, program: Program, build):
        self.program = program
        self.build = build                  # the kernel Entry's leaves -> outputs pytree builder
        self.dtypes = tuple(v.type.dtype for v in program.inputs)
        # Every result a new array the caller owns, as the kernel's are.
        self.run = compile_program(program, owned_outputs=len(program.outputs))

    def __call__(self, leaves):
        # While debug_nans or debug_infs is on, `_checked_call` takes this method's place (as for the
        # kernel's Entry), so the plain call pays nothing for the check.
        args = [np.asarray(x, dtype=d) for x, d in zip(leaves, self.dtypes)]
        return self.build(list(self.run(*args)))

    def _checked_call(self, leaves):
        """The call with debug_nans / debug_infs on: the outputs checked, the bad one's equation located."""
        result = EagerEntry._plain_call(self, leaves)
        nan_check.check_results(self.program, leaves, pytree.tree_leaves(result), what="the eager tier")
        return result


EagerEntry._plain_call = EagerEntry.__call__


def _install_check(cfg) -> None:
    checking = cfg.debug_nans or cfg.debug_infs
    EagerEntry.__call__ = EagerEntry._checked_call if checking else EagerEntry._plain_call


_config.on_change(_install_check)


class _Worker:
    """The background compiler: one daemon thread taking jobs from a queue (see the module docstring)."""

    def __init__(self):
        self.jobs = queue.Queue()
        self.lock = threading.Lock()
        self.thread = None
        self.stopping = False
        self.idle = threading.Condition(self.lock)
        self.running = 0

    def submit(self, job) -> None:
        with self.lock:
            self.running += 1
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="fgrad-compile", daemon=True)
                self.thread.start()
                atexit.register(self.stop)
        self.jobs.put(job)

    def _loop(self):
        while True:
            job = self.jobs.get()
            try:
                if not self.stopping:
                    job()
            finally:
                with self.lock:
                    self.running -= 1
                    self.idle.notify_all()

    def wait_idle(self, timeout=None) -> bool:
        with self.lock:
            return self.idle.wait_for(lambda: self.running == 0, timeout)

    def stop(self):
        """At exit: drop what has not started, wait for the compile that has."""
        self.stopping = True
        self.wait_idle()


_WORKER = _Worker()


def wait_all(timeout=None) -> bool:
    """Block until every background compile of the process has finished (True), or `timeout` seconds."""
    return _WORKER.wait_idle(timeout)


class TieredEntry:
    """One traced signature on the "auto" tier whose kernel is compiling in the background.

    Calls run `EagerEntry` until the kernel is ready, then the kernel; a failed compile raises on every
    call. `on_ready(self, entry)` is called from the compile thread once the kernel can run (jit uses it to
    put the kernel entry in its caches in place of this one)."""

    def __init__(self, program: Program, build, leaves, kernel_entry, on_ready):
        self.program = program
        self.eager = EagerEntry(program, build)
        self.ready = None
        self.error = None
        self.done = threading.Event()
        self._pending = (tuple(leaves), kernel_entry, on_ready)
        self._submitted = False

    def _compile(self):
        leaves, kernel_entry, on_ready = self._pending
        self._pending = None                # drop the references to the caller's arrays
        try:
            entry = kernel_entry(leaves)
        except JitCompileError as exc:
            self.error = exc
        except BaseException as exc:        # anything else is a bug; still surfaces on the next call
            self.error = JitCompileError(f"the background compile failed: {type(exc).__name__}: {exc}\n\n"
                                         f"the (simplified) program:\n{self.program}")
            self.error.__cause__ = exc
        else:
            self.ready = entry
            on_ready(self, entry)
        finally:
            self.done.set()

    @property
    def kernel(self):
        return None if self.ready is None else self.ready.kernel

    def __call__(self, leaves):
        ready = self.ready
        if ready is not None:
            return ready(leaves)
        if self.error is not None:
            self._raise()
        result = self.eager(leaves)
        if not self._submitted:
            # Started after the first eager result, not before: the compile thread's Numba set-up and type
            # inference are Python and would share the GIL with it (W1 at N = 1e6: 1.13 s first result
            # with the thread started first).
            self._submit()
        return result

    def _submit(self):
        with _WORKER.lock:
            if self._submitted:
                return
            self._submitted = True
        _WORKER.submit(self._compile)

    def _raise(self):
        raise JitCompileError(str(self.error)) from self.error.__cause__

    def wait(self, timeout=None) -> bool:
        """Block until the kernel is compiled (True) or `timeout` seconds passed (False); raises the
        compile's JitCompileError if it failed."""
        self._submit()
        finished = self.done.wait(timeout)
        if self.error is not None:
            self._raise()
        return finished
