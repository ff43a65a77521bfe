"""torch.autograd for the facade: backward, grad, Function, gradcheck.

`import fgrad as torch; torch.autograd.grad(y, x)` works as PyTorch's.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import warnings

import numpy as np

from fgrad.facade import _autograd_functional as functional
from fgrad.facade import forward_ad
from fgrad.facade import _anomaly, _grad_mode
from fgrad.facade._engine import _as_tuple, backward, grad
from fgrad.facade._graph import BACKWARD_TWICE, CustomNode, Node, edge_of
from fgrad.facade._grad_mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401
from fgrad.facade._tensor import Tensor, make

__all__ = ["backward", "grad", "Function", "FunctionCtx", "gradcheck", "gradgradcheck", "GradcheckError",
           "set_detect_anomaly", "detect_anomaly", "Variable", "no_grad", "enable_grad", "set_grad_enabled",
           "functional", "forward_ad"]

Variable = Tensor

# `import torch.autograd.forward_ad as fwAD`, `from torch.autograd.functional import jacobian`: submodules by name
# (an empty __path__ makes this module a package to the import system, which then finds them in sys.modules)
__path__ = []
sys.modules[f"{__name__}.forward_ad"] = forward_ad
sys.modules[f"{__name__}.functional"] = functional


# ---- custom functions ----------------------------------------------------------------------------------------

class _CustomPlan:
    """What the engine reads from a custom node's plan: the inputs that get gradients, the output count."""
    __slots__ = ("wrt", "n_out")
    nondiff = ()

    def __init__(self, wrt, n_out):
        self.wrt = wrt
        self.n_out = n_out


class FunctionCtx:
    """The `ctx` of a custom Function: save_for_backward / saved_tensors, needs_input_grad, and any
    attributes forward stores for backward. In PyTorch (and here) it is the output's grad_fn."""

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    @property
    def saved_tensors(self):
        saved = getattr(self, "_saved_tensors", None)
        if saved is None:
            if getattr(self, "_released", False):
                raise RuntimeError(BACKWARD_TWICE)
            return tuple(getattr(self, "_to_save", ()))
        return saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def set_materialize_grads(self, value: bool):
        self._materialize = bool(value)


class BackwardCFunction(CustomNode, FunctionCtx):
    """The node of a custom Function's outputs (named `<ClassName>Backward`); also its `ctx`."""
    __slots__ = ("__dict__",)

    def _backward_arrays(self, cts, owned):
        grads = self._call_backward([None if c is None else make(c) for c in cts])
        return [None if g is None else g._data for g in grads], ()

    def _backward_tensors(self, cts):
        with enable_grad():
            return self._call_backward(list(cts))

    def _call_backward(self, cts):
        if getattr(self, "_materialize", True):
            cts = [make(np.zeros(shape, dtype)) if c is None else c for c, (shape, dtype) in zip(cts, self._out_meta)]
        with set_grad_enabled(_grad_mode.state.enabled):
            grads = type(self)._forward_cls.backward(self, *cts)
        if not isinstance(grads, tuple):
            grads = (grads,)
        n_args = len(self._arg_is_tensor)
        if len(grads) < n_args:
            if len(grads) != n_args:
                raise RuntimeError(f"function {type(self).__name__} returned an incorrect number of gradients "
                                   f"(expected {n_args}, got {len(grads)})")
        grads = grads[:n_args]
        tensor_grads = [g for g, is_tensor in zip(grads, self._arg_is_tensor) if is_tensor]
        out = []
        for k in self._plan.wrt:
            g = tensor_grads[k]
            if g is not None and not isinstance(g, Tensor):
                g = make(np.asarray(g))
            out.append(g)
        return out

    def _check_saved(self):
        if getattr(self, "_released", False):
            raise RuntimeError(BACKWARD_TWICE)
        self._check_versions()

    def _release(self):
        if not getattr(self, "_to_save", ()):
            return
        self._released = True
        self._saved_tensors = None
        self._to_save = ()

    @property
    def _n_outputs(self) -> int:
        return self._plan.n_out


class _FunctionMeta(type):
    def __init__(cls, name, bases, namespace):
        super().__init__(name, bases, namespace)
        backward_cls = type(f"{name}Backward", (BackwardCFunction,), {"_forward_cls": cls})
        cls._backward_cls = backward_cls


class Function(metaclass=_FunctionMeta):
    """A differentiable operation with a hand-written backward, as torch.autograd.Function.

    Subclasses define `forward(ctx, *args)` (or `forward(*args)` plus `setup_context(ctx, inputs, output)`)
    and `backward(ctx, *grad_outputs)`, and are called with `apply`. The outputs' grad_fn is
    `<ClassName>Backward`.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = object.__new__(cls._backward_cls)
        Node.__init__(ctx, None, None, None, ())
        is_tensor = tuple(isinstance(a, Tensor) for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx.needs_input_grad = needs
        ctx._arg_is_tensor = is_tensor
        uses_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            if uses_setup:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        record = _grad_mode.state.enabled and any(needs)
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        results = []
        non_diff = {id(t) for t in getattr(ctx, "_non_differentiable", ())}
        for out in outs:
            if isinstance(out, Tensor) and any(out is a for a in tensor_args):
                view = make(out._data)
                view._vc = out._vc
                out = view
            results.append(out)
        if record:
            wrt = tuple(k for k, a in enumerate(tensor_args) if a.requires_grad)
            ctx._plan = _CustomPlan(wrt, len(results))
            ctx._next = tuple(edge_of(a) if a.requires_grad else None for a in tensor_args)
            ctx._out_meta = [(o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), np.float32)
                             for o in results]
            to_save = getattr(ctx, "_to_save", ())
            ctx._saved_tensors = tuple(to_save)
            checks = [(t._vc, t._vc[0], t) for t in to_save if isinstance(t, Tensor)]
            ctx._versions = checks or None
            if _anomaly.state.enabled:
                _anomaly.record(ctx, cls.__name__)
            for nr, out in enumerate(results):
                if isinstance(out, Tensor) and out._data.dtype.kind == "f" and id(outs[nr]) not in non_diff:
                    out._grad_fn = ctx
                    out._output_nr = nr
        return results[0] if single else tuple(results)


# ---- checking gradients -------------------------------------------------------------------------------------

class GradcheckError(RuntimeError):
    pass


def _numerical_jacobian(fn, inputs, k, eps):
    """d outputs / d inputs[k] by central differences, one column per element of inputs[k].

    Each evaluation gets fresh leaves (the inputs detached, requiring grad as before) and runs with grad mode
    as the caller has it, as PyTorch's gradcheck: a function that differentiates inside (gradgradcheck's first
    derivative) needs its inputs to require grad."""
    base = [x.detach() if isinstance(x, Tensor) else x for x in inputs]
    x = inputs[k]
    values = np.array(x._data, dtype=x._data.dtype, copy=True)
    flat = values.reshape(-1)

    def evaluate():
        args = [make(values.copy()).requires_grad_(x.requires_grad) if i == k else
                (b.requires_grad_(inputs[i].requires_grad) if isinstance(b, Tensor) else b)
                for i, b in enumerate(base)]
        return [o._data.astype(np.float64).reshape(-1) for o in _as_tuple(fn(*args))]

    columns = []
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        plus = evaluate()
        flat[j] = original - eps
        minus = evaluate()
        flat[j] = original
        columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    n_out = len(columns[0]) if columns else 0
    return [np.stack([c[o] for c in columns], axis=1) if columns else None for o in range(n_out)]


def _analytical_jacobian(fn, inputs, k):
    outputs = _as_tuple(fn(*inputs))
    jacobians = []
    for out in outputs:
        rows = []
        for i in range(out._data.size):
            seed = np.zeros(out._data.size, out._data.dtype)
            seed[i] = 1
            if not out.requires_grad:
                rows.append(np.zeros(inputs[k]._data.size))
                continue
            (g,) = grad(out, inputs[k], make(seed.reshape(out._data.shape)), retain_graph=True, allow_unused=True)
            rows.append(np.zeros(inputs[k]._data.size) if g is None else g._data.astype(np.float64).reshape(-1))
        jacobians.append(np.stack(rows) if rows else np.zeros((0, inputs[k]._data.size)))
    return jacobians


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **kwargs):
    """Compare the backward of `func` with central finite differences at `inputs` (use float64 inputs).

    Returns True, or raises GradcheckError (returns False with raise_exception=False) naming the output and
    input whose Jacobians differ.

    >>> import fgrad as torch
    >>> x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    for k, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        numerical = _numerical_jacobian(func, inputs, k, eps)
        analytical = _analytical_jacobian(func, inputs, k)
        for o, (num, ana) in enumerate(zip(numerical, analytical)):
            if num is None:
                continue
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                if raise_exception:
                    raise GradcheckError(f"Jacobian mismatch for output {o} with respect to input {k},\n"
                                         f"numerical:{make(num)}\nanalytical:{make(ana)}\n")
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  **kwargs):
    """gradcheck of the first derivative, as PyTorch's: the function checked is
    `autograd.grad(func(*inputs), inputs, grad_outputs, create_graph=True)` of both the inputs and the
    grad_outputs (random in [-1, 1) from the global generator, requiring grad, when not given).

    >>> import fgrad as torch
    >>> x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradgradcheck(lambda t: t.sin() * t, (x,))
    True
    """
    from fgrad.facade._creation import empty

    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        outputs = [o for o in _as_tuple(func(*inputs)) if o.requires_grad]
        grad_outputs = tuple(empty(tuple(o.shape), dtype=o.dtype).uniform_(-1, 1).requires_grad_(True)
                             for o in outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_inputs = len(inputs)
    diff_inputs = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivative(*args):
        outs = [o for o in _as_tuple(func(*args[:n_inputs])) if o.requires_grad]
        grads = grad(outs, [args[i] for i in diff_inputs], args[n_inputs:], create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


# ---- anomaly detection (fgrad.facade._anomaly) -----------------------------------------------------------------

class set_detect_anomaly:
    """Turn anomaly detection on or off (as torch.autograd.set_detect_anomaly); as a context manager it restores
    the previous setting on exit. While on, a backward that returns NaN raises RuntimeError naming the node, the
    forward op and the user's line that created it (`check_nan=False` turns that check off).

    >>> import fgrad as torch
    >>> with torch.autograd.set_detect_anomaly(True):
    ...     torch.is_anomaly_enabled()
    True
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev = (_anomaly.state.enabled, _anomaly.state.check_nan)
        _anomaly.set_mode(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args) -> None:
        _anomaly.set_mode(*self.prev)


class detect_anomaly:
    """Anomaly detection inside a `with` block or a decorated function (as torch.autograd.detect_anomaly), with
    PyTorch's warning that it slows things down.

    >>> import fgrad as torch, warnings
    >>> x = torch.tensor([0.0, 1.0], requires_grad=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     with torch.autograd.detect_anomaly():
    ...         (torch.sqrt(x) * 0.0).sum().backward()       # doctest: +ELLIPSIS
    Traceback (most recent call last):
    RuntimeError: Function 'SqrtBackward0' returned nan values in its 0th output...
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self.prev = None
        warnings.warn(_anomaly.ENABLED_WARNING, UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        self.prev = (_anomaly.state.enabled, _anomaly.state.check_nan)
        _anomaly.set_mode(True, self.check_nan)

    def __exit__(self, *args) -> None:
        _anomaly.set_mode(*self.prev)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapped


def is_anomaly_enabled() -> bool:
    return _anomaly.state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly.state.check_nan
