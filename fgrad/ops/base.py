"""What every primitive block uses: typing of values, promotion, shape rules of the families, the
batching helpers' arithmetic on axes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgrad.ir import ArrayType, TracerBase, canonical_dtype, is_float, typeof
from fgrad.ir.tracing import is_weak

__all__ = ["typeof"]

PYTHON_SCALARS = (bool, int, float)


def is_tracer(x) -> bool:
    return isinstance(x, TracerBase)


def as_value(x, dtype=None):
    """A Python scalar, list or numpy value as a numpy array of `dtype` (tracers pass through)."""
    if isinstance(x, TracerBase):
        return x
    return np.asarray(x, dtype=dtype)


def static_dims(shape) -> tuple:
    """`shape` (an int or a sequence of ints) as a tuple of Python ints. Shapes are static: a traced value in
    it is an error that names the user's line (`fnp.zeros(n)` with a traced `n`)."""
    what = "a shape conversion (an array shape must be static Python ints)"
    if isinstance(shape, TracerBase):
        shape = shape.concrete(what)        # known under the eager transforms, else the error
    scalar = isinstance(shape, (int, np.integer)) or (isinstance(shape, np.ndarray) and shape.ndim == 0)
    shape = (shape,) if scalar else tuple(shape)
    return tuple(int(d.concrete(what) if isinstance(d, TracerBase) else d) for d in shape)


def promotion_operand(x):
    """What numpy's promotion sees for `x`: its dtype, or for a weak value (a Python scalar, or the tracer of a
    Python scalar argument) a Python scalar of its kind, which numpy promotes by kind only."""
    if type(x) in PYTHON_SCALARS:
        return x
    if is_weak(x):
        return WEAK_STAND_INS[typeof(x).dtype.kind]
    return typeof(x).dtype


WEAK_STAND_INS = {"b": False, "i": 0, "f": 0.0}


def result_dtype(*xs) -> np.dtype:
    """numpy's promotion, with Python scalars weak: a float32 array times 2.0 stays float32 (also when 2.0 was
    an argument of the traced function)."""
    return canonical_dtype(np.result_type(*[promotion_operand(x) for x in xs]))


def float_dtype(dtype) -> np.dtype:
    """The dtype a float-only op computes in: floats keep theirs, ints and bool become float64 (as numpy)."""
    return np.dtype(dtype) if is_float(dtype) else np.dtype("float64")


# ---- shape rules of the families -----------------------------------------------------------------

def same_type(x: ArrayType, **params) -> ArrayType:
    return x


def equal_types(*types: ArrayType, **params) -> ArrayType:
    """Elementwise primitives take equal shapes and dtypes; the op wrappers insert broadcasts and casts."""
    if any(t != types[0] for t in types):
        raise TypeError(f"elementwise primitive needs equal input types, got {', '.join(map(str, types))}; "
                        "use the ops in fgrad.ops (or fgrad.numpy), which broadcast and promote")
    return types[0]


def compare_type(x: ArrayType, y: ArrayType, **params) -> ArrayType:
    equal_types(x, y)
    return ArrayType(x.shape, np.bool_)


def float_only(rule):
    """Wrap a shape rule so that a non-float input is a clear TypeError."""
    def checked(*types, **params):
        for t in types:
            if not is_float(t.dtype):
                raise TypeError(f"this primitive needs float inputs, got {t}")
        return rule(*types, **params)
    return checked


def zero_rules(n: int) -> tuple:
    """The JVP/VJP slot of a primitive whose derivative is zero in each of its `n` inputs, declared explicitly."""
    return (None,) * n


def no_inputs_batch(prim):
    """The batching rule of a primitive without array inputs (iota, full): its output is the same for every
    batch member, so it stays unbatched (vmap calls batch rules only when an input is batched, so this
    rule exists to declare that fact in the block)."""
    def rule(args, dims, **params):
        return prim.bind(**params), None
    return rule


def batch_size(args, dims) -> int:
    """The size of the batch axis, read from the first batched argument."""
    for x, d in zip(args, dims):
        if d is not None:
            return typeof(x).shape[d]
    raise ValueError("batch rule called with no batched argument")


# ---- Numba emitters that need no code of their own in the backend -----------------------------------

@dataclass(frozen=True)
class LaneScan:
    """The emitter of a running fold along params["axis"] (from the end when params["reverse"]): for every lane
    `acc = init; for each element x: acc = step; out = acc`, in the output's dtype, sequentially (numpy's
    order). `step` is a template in `{acc}` and `{x}`, e.g. "{acc} * {x}"."""
    init: int
    step: str


@dataclass(frozen=True)
class LaneFunction:
    """The emitter of a whole-lane numpy function along params["axis"]: each lane (a 1-D array) is copied
    out, `template` (in `{lane}`, e.g. "np.sort({lane})") computes the new lane, which is stored back."""
    template: str


@dataclass(frozen=True)
class CallEmitter:
    """The emitter of a call that writes its own loops (a convolution, say), declared in its block:
    `write(w, eqn)` emits the statements that compute the equation's output array, with `w` the kernel
    writer: `w.value_of(atom)` (an input's array or scalar), `w.alloc(v)` (the line allocating output v),
    `w.array(v)`, `w.size(atom, axis)` (a size name), `w.offset(key, value)` (a static number passed at run
    time), `w.local(stem)` (a fresh local name), `w.helper(name, source)` (a module-level function, plain
    `def` source, jitted with the kernel, that the emitted lines may call) and `w.emit(depth, line)` (depth 1 is the kernel's body). Inputs
    arrive as whole arrays. The block never imports the backend: it only calls these methods."""
    write: object
