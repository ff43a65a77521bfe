"""NaN and Inf checks (`fgrad.config.update("debug_nans", True)`, FGRAD_DEBUG_NANS=1; `debug_infs` likewise).

When a check is on, a result that holds a NaN (or an inf) raises FloatingPointError naming the first equation
that produced it: its primitive, a summary of its inputs (type, min/max, how many NaNs and infs), and the
user's line that created it, marked when the equation belongs to a derivative ("in the gradient of line 12
of model.py"; fgrad.ir.source). Where it looks:

- eager ops and transformed functions run outside jit bind each equation in the evaluation interpreter;
  while a check is on, that interpreter's `process` is the checking one (`install`), and a pass that runs a
  derived program sets the current source to each equation's, so the message names its line;
- jitted kernels: their outputs are checked after the kernel; if one is bad, the program is run again through
  the reference executor (`locate`) equation by equation to find the first that produced it.

While every check is off none of this code is on the path: `install` puts the plain `process` back, and
fgrad.backend.jit puts the plain kernel call back (config listeners), so there is no per-equation branch.
"""
from __future__ import annotations

import numpy as np

from fgrad import config as _config
from fgrad.ir import EvalInterpreter, Literal, Program, current_source, typeof, user_source
from fgrad.ir.printer import Namer, format_equation

__all__ = ["install", "bad_kind", "check_results", "locate", "nan_error"]

_plain_process = EvalInterpreter.process


def bad_kind(value, infs: bool) -> str | None:
    """'NaN' if the float array `value` holds one, 'inf' if it holds an inf and `infs`, else None."""
    a = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if a.dtype.kind != "f" or a.size == 0:
        return None
    if np.isnan(a).any():
        return "NaN"
    if infs and np.isinf(a).any():
        return "inf"
    return None


def summarize(value) -> str:
    """`f64[3] min -1 max 2, 1 NaN of 3`: what an error shows of an input or output."""
    a = np.asarray(value)
    head = str(typeof(a))
    if a.size == 0:
        return f"{head} (empty)"
    if a.dtype.kind == "b":
        return f"{head} {int(a.sum())} True of {a.size}"
    if a.dtype.kind != "f":
        return f"{head} min {a.min()} max {a.max()}"
    nans, infs = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    finite = a[np.isfinite(a)]
    span = f"min {finite.min():.6g} max {finite.max():.6g}" if finite.size else "no finite element"
    counts = [f"{nans} NaN" for _ in range(nans > 0)] + [f"{infs} inf" for _ in range(infs > 0)]
    return f"{head} {span}, " + (f"{' and '.join(counts)} of {a.size}" if counts else "no NaN or inf")


def nan_error(prim_name: str, kind: str, source, equation: str | None, inputs, output) -> FloatingPointError:
    """The FloatingPointError for a `kind` ('NaN' or 'inf') in the output of `prim_name`."""
    switch = "debug_nans" if kind == "NaN" else "debug_infs"
    if source is not None:
        where = source.describe()
        sweep = {"gradient": ", in the reverse sweep", "tangent": ", in a forward-mode derivative"}.get(
            source.role, ", in the forward computation")
        line = source.line_text()
        where = f"{where}{sweep}" + (f":\n    {line}" if line else "")
    else:
        where = "(no source location recorded)"
    lines = [f"{kind} in the result of the primitive '{prim_name}' (fgrad.config {switch} is on), {where}"]
    if equation:
        lines.append(f"  equation: {equation}")
    for name, value in inputs:
        lines.append(f"  input {name}: {summarize(value)}")
    lines.append(f"  output: {summarize(output)}")
    lines.append("Turn the check off with fgrad.config.update(%r, False)." % switch)
    return FloatingPointError("\n".join(lines))


# ---- eager evaluation ---------------------------------------------------------------------------------

def _checked_process(self, prim, args, params):
    out = _plain_process(self, prim, args, params)
    infs = _config.config.debug_infs
    for value in (out if prim.multiple_results else (out,)):
        kind = bad_kind(value, infs)
        if kind is not None:
            source = current_source() or user_source(2)
            raise nan_error(prim.name, kind, source, None, [(str(i), a) for i, a in enumerate(args)], value)
    return out


def install(cfg) -> None:
    """Put the checking evaluation in place while a check is on, the plain one while both are off."""
    EvalInterpreter.process = _checked_process if (cfg.debug_nans or cfg.debug_infs) else _plain_process


# ---- compiled code: find the equation -----------------------------------------------------------------

def check_results(program: Program, args, results, what: str = "the jitted kernel") -> None:
    """After `program` ran (compiled) on `args` and gave `results` (its flat outputs): if one holds a NaN
    (or an inf with debug_infs), find the equation that produced it with `locate`, and raise."""
    infs = _config.config.debug_infs
    for k, value in enumerate(results):
        kind = bad_kind(value, infs)
        if kind is not None:
            locate(program, args, infs)
            raise FloatingPointError(
                f"{kind} in output {k} of {what} ({summarize(value)}), but running its program through the "
                f"reference executor produced none (the kernel rounds differently, or runs with fastmath):\n"
                f"{program.pretty(source=True)}")


def locate(program: Program, args, infs: bool) -> None:
    """Run `program` through the reference executor (each primitive's numpy impl), checking every result;
    raise the FloatingPointError of the first equation whose result holds a NaN (an inf with `infs`)."""
    namer = Namer()
    for v in program.inputs:
        namer.define(v)
    env = {v: np.asarray(a, dtype=v.type.dtype) for v, a in zip(program.inputs, args)}

    def read(atom):
        return atom.value if type(atom) is Literal else env[atom]

    with np.errstate(all="ignore"):
        for eqn in program.equations:
            values = [read(a) for a in eqn.inputs]
            out = eqn.prim.impl(*values, **eqn.params)
            outs = out if eqn.prim.multiple_results else [out]
            text = format_equation(eqn, namer).splitlines()[0]      # defines its outputs' names
            env.update(zip(eqn.outputs, outs))
            for value in outs:
                kind = bad_kind(value, infs)
                if kind is not None:
                    inputs = [(namer(a), v) for a, v in zip(eqn.inputs, values)]
                    raise nan_error(eqn.prim.name, kind, eqn.source, text, inputs, value)


_config.on_change(install)
