"""Anomaly detection (`torch.autograd.detect_anomaly()`, `torch.autograd.set_detect_anomaly(True)`), as PyTorch's.

While it is on, every recorded node remembers the user's stack where its forward op ran (the frames outside
fgrad, found as fgrad.ir.source finds an equation's line), and the engine checks what each node's backward
returns: a NaN raises PyTorch's RuntimeError ("Function 'SqrtBackward0' returned nan values in its 0th
output.") followed by the forward op, the user's line that created the node and a summary of the gradient
(fgrad.backend.nan_check's), after PyTorch's warning with the traceback of the forward call.

Off, it costs the engine one flag test per node and the op recorder one per recorded op.
"""
from __future__ import annotations

import linecache
import sys
import threading
import traceback
import warnings
import weakref

import numpy as np

from fgrad.backend.nan_check import bad_kind, summarize
from fgrad.ir.source import Source, is_fgrad_code

ENABLED_WARNING = ("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                   "enabled for debugging.")


class _State:
    enabled = False
    check_nan = True


state = _State()
_lock = threading.Lock()
_created = weakref.WeakKeyDictionary()      # node -> (forward op name, user stack summary), while enabled


def set_mode(enabled: bool, check_nan: bool = True) -> None:
    state.enabled = bool(enabled)
    state.check_nan = bool(check_nan)


def user_stack(depth: int = 2) -> traceback.StackSummary:
    """The stack outside fgrad, outermost first (what PyTorch shows as the traceback of the forward call)."""
    frames = []
    frame = sys._getframe(depth)
    while frame is not None:
        if not is_fgrad_code(frame.f_code):
            frames.append((frame, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return traceback.StackSummary.extract(frames, lookup_lines=True)


def record(node, op_name: str) -> None:
    """Remember where `node`'s forward op ran (called by the op recorder while anomaly mode is on)."""
    with _lock:
        _created[node] = (op_name, user_stack(3))


def output_number(node, k: int) -> int:
    """PyTorch's number of gradient `k` of `node`: its position among the node's differentiable inputs."""
    plan = node._plan
    if plan is None:
        return k
    i = plan.wrt[k]
    hidden = plan.nondiff
    return sum(1 for j in range(i) if j not in hidden)


def check(node, in_cts) -> None:
    """Raise PyTorch's RuntimeError if a gradient `node`'s backward returned holds a NaN."""
    for k, ct in enumerate(in_cts):
        if ct is None:
            continue
        data = ct if isinstance(ct, np.ndarray) else getattr(ct, "_data", ct)
        if bad_kind(data, infs=False) is not None:
            raise _nan_error(node, output_number(node, k), data)


def _nan_error(node, number: int, data) -> RuntimeError:
    name = node.name()
    message = f"Function '{name}' returned nan values in its {number}th output."
    with _lock:
        created = _created.get(node)
    if created is None:
        return RuntimeError(message + "\n(fgrad: the node was recorded before anomaly detection was enabled, so "
                                      "where its forward op ran is not known)")
    op_name, stack = created
    warnings.warn(f"Error detected in {name}. Traceback of forward call that caused the error:\n"
                  + "".join(stack.format()), UserWarning, stacklevel=4)
    if stack:
        last = stack[-1]
        where = Source(last.filename, last.lineno, last.name).describe()
        line = last.line or linecache.getline(last.filename, last.lineno).strip()
        where += f":\n    {line}" if line else ""
    else:
        where = "(no frame outside fgrad)"
    return RuntimeError(f"{message}\nIt is the backward of the forward op '{op_name}', created {where}\n"
                        f"  the gradient it returned: {summarize(data)}")
