"""`fgrad.debug.print` and `fgrad.debug.callback`: Python called with runtime values, in eager, traced,
transformed and jitted code, in program order.

Both bind one primitive, `debug_callback`, declared here in one block with all its rules:

- it is an *effect*: it has no outputs, and `effectful=True` tells the passes to keep it (simplify never
  removes or merges it, the residual split keeps it in the part whose values it reads, the code generator
  keeps effects in program order);
- JVP and VJP pass it through: it runs in the forward computation and sees primal values (a derivative
  program prints what the function prints, once per call);
- batching (vmap) calls it once with the batched values, the batch axis first (not once per member);
- in a Numba kernel it runs in object mode (`with numba.objmode(): ...`): Numba's own `print` cannot format
  (no `str.format`, no format specs), so the kernel hands the values back to Python, which formats them
  with `str.format` exactly as eager code does. The kernel's text names the callback by its position
  (`run_kernel_callback(0, v3)`), never by identity, so the source and its disk cache key stay deterministic;
  fgrad.backend.jit binds the positions to the program's callbacks around each call.

>>> import fgrad, fgrad.numpy as fnp
>>> f = fgrad.jit(lambda x: fgrad.debug.print("x = {}", x) or x * 2.0)
"""
from __future__ import annotations

import builtins
import threading
import warnings
from itertools import count

import numpy as np

from fgrad.ir import Primitive, pytree
from fgrad.ops.base import CallEmitter, is_tracer
from fgrad.ops.core import moveaxis

__all__ = ["print", "callback", "debug_callback_p", "Callback", "run_kernel_callback", "kernel_callbacks"]


class Callback:
    """A debug_callback's static param: the Python function to call with the runtime values, the pytree
    structure of its arguments, and their non-array leaves (strings, None, ...), which stay static.

    Two Callbacks are equal when they do the same thing: prints with the same format and argument structure,
    or callbacks of the same function object. Its repr is what programs print (`print('x={}')`, `log#2`)."""
    __slots__ = ("fn", "tree", "statics", "key", "label")

    def __init__(self, fn, tree, statics, key, label):
        self.fn = fn
        self.tree = tree
        self.statics = statics          # position among the leaves -> static value
        self.key = key
        self.label = label

    def __call__(self, *arrays) -> None:
        arrays = iter(arrays)
        n = self.tree.num_leaves
        leaves = [self.statics[i] if i in self.statics else next(arrays) for i in range(n)]
        args, kwargs = pytree.tree_unflatten(self.tree, leaves)
        self.fn(*args, **kwargs)

    def __eq__(self, other) -> bool:
        return type(other) is Callback and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return self.label


def _is_array_leaf(x) -> bool:
    return is_tracer(x) or isinstance(x, (np.ndarray, np.generic, bool, int, float))


def _split(args, kwargs):
    """(the array leaves to bind, the tree, the static leaves by position)."""
    leaves, tree = pytree.tree_flatten((tuple(args), dict(kwargs)))
    arrays = [x for x in leaves if _is_array_leaf(x)]
    statics = {i: x for i, x in enumerate(leaves) if not _is_array_leaf(x)}
    return arrays, tree, statics


_serials = {}           # id(fn) -> (fn, serial): a user callback's name in printed programs (`log#2`)
_serial_numbers = count()


def _serial(fn) -> int:
    hit = _serials.get(id(fn))
    if hit is None or hit[0] is not fn:
        hit = _serials[id(fn)] = (fn, next(_serial_numbers))
    return hit[1]


def print(fmt: str, *args, **kwargs) -> None:
    """Print `fmt.format(*args, **kwargs)` with the runtime values, also inside jit and transforms (as
    jax.debug.print). Arrays arrive as numpy arrays (0-d ones print as their number). Under grad the forward
    computation prints, once; under vmap it prints once, with the batched values (batch axis first).

    >>> import fgrad, fgrad.numpy as fnp
    >>> def f(x):
    ...     fgrad.debug.print("x = {x}, sin(x) = {s:.3f}", x=x, s=fnp.sin(x))
    ...     return fnp.sin(x) * 2.0
    >>> _ = fgrad.grad(f)(1.0)
    x = 1.0, sin(x) = 0.841
    """
    if not isinstance(fmt, str):
        raise TypeError(f"fgrad.debug.print takes a format string first (as str.format: 'x = {{}}', 'x = {{x}}'), "
                        f"got {type(fmt).__name__}")
    arrays, tree, statics = _split(args, kwargs)
    static_text = ", ".join(f"{i}={v!r}" for i, v in sorted(statics.items()))
    key = ("print", fmt, repr(tree), static_text)
    label = f"print({fmt!r}" + (f", {static_text}" if static_text else "") + ")"
    cb = Callback(lambda *a, **k: builtins.print(fmt.format(*a, **k), flush=True), tree, statics, key, label)
    debug_callback_p.bind(*arrays, callback=cb)


def callback(fn, *args, **kwargs) -> None:
    """Call `fn(*args, **kwargs)` with the runtime values (numpy arrays), also inside jit and transforms (as
    jax.debug.callback); its result is ignored. Under vmap it is called once with the batched values.

    >>> import fgrad, fgrad.numpy as fnp
    >>> seen = []
    >>> fgrad.jit(lambda x: fgrad.debug.callback(seen.append, x) or x + 1.0)(fnp.ones(2))
    array([2., 2.])
    >>> seen
    [array([1., 1.])]
    """
    if not callable(fn):
        raise TypeError(f"fgrad.debug.callback takes a function first, got {type(fn).__name__} {fn!r}")
    arrays, tree, statics = _split(args, kwargs)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    serial = _serial(fn)
    cb = Callback(fn, tree, statics, ("callback", serial, repr(tree), repr(sorted(statics.items()))),
                  f"{name}#{serial}")
    debug_callback_p.bind(*arrays, callback=cb)


# ---- the kernel side: callbacks by position ----------------------------------------------------------

class _Active(threading.local):
    callbacks = ()


_active = _Active()


def run_kernel_callback(k: int, *args) -> None:
    """Called from a kernel's object-mode block: run callback `k` of the kernel running in this thread."""
    cb, types = _active.callbacks[k]
    cb(*[np.asarray(a, dtype=t.dtype) for a, t in zip(args, types)])


def kernel_callbacks(kernel, callbacks):
    """`kernel` wrapped so that, while it runs, position k of its source calls `callbacks[k]` (a pair
    (Callback, input types))."""
    callbacks = tuple(callbacks)

    def run(*args):
        saved = _active.callbacks
        _active.callbacks = callbacks
        try:
            # Kernels compile (on their first call) with nogil=True, and Numba warns that an object-mode block
            # takes the GIL, which is what a print or a Python callback must do.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Code running in object mode won't allow parallel")
                return kernel(*args)
        finally:
            _active.callbacks = saved
    # What compiling ahead of a call looks for (fgrad.backend.numba_jit.compile_now).
    run.path = getattr(kernel, "path", None)
    run.dispatcher = getattr(kernel, "dispatcher", None)
    return run


def _write_kernel_call(w, eqn):
    k = w.register_callback((eqn.params["callback"], tuple(a.type for a in eqn.inputs)))
    w.header("from numba import objmode")
    w.header("from fgrad.ops.debug import run_kernel_callback")
    w.emit(1, "with objmode():")
    w.emit(2, f"run_kernel_callback({', '.join([str(k)] + [w.value_of(a) for a in eqn.inputs])})")


def _impl(*arrays, callback):
    callback(*arrays)
    return []


def _batch(args, dims, *, callback):
    moved = [a if d is None else moveaxis(a, d, 0) for a, d in zip(args, dims)]
    return debug_callback_p.bind(*moved, callback=callback), []


debug_callback_p = Primitive(
    "debug_callback", kind="call", multiple_results=True, effectful=True,
    shape_rule=lambda *types, callback: (),
    impl=_impl,
    # Derivatives pass through: the forward computation runs it on the primal values; it adds no equation to
    # the tangent or adjoint part (it has no outputs, so no tangent or cotangent ever reaches it).
    jvp=lambda primals, tangents, **params: (debug_callback_p.bind(*primals, **params), []),
    vjp=lambda cts, outs, primals, needs, **params: [None] * len(primals),
    batch=_batch,
    numba=CallEmitter(_write_kernel_call),
    commutative=False, linear_in=(), expensive=False, vector_math=None, simplify=None, copies_input=False,
    distributes_over_add=False, keeps_order=False, aliases_input=False)
