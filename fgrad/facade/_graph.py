"""The autograd graph of the facade: nodes (grad_fns), AccumulateGrad, edges, hooks, saved-tensor versions.

A node is one facade op's backward. It holds the op's GradPlan (fgrad.facade._op: the backward program
of the op's traced function, from fgrad.transforms.vjp), the residuals the forward saved, the op's inputs
(for a backward that is itself recorded, create_graph) and one edge per input: (next node, output number),
or None for inputs that need no gradient. Its class is named as PyTorch names the op's node
(`MulBackward0`), so `type(y.grad_fn).__name__` and reprs match. The engine that walks the nodes is
fgrad.facade._engine.
"""
from __future__ import annotations

import weakref
from itertools import count

import numpy as np

from fgrad.facade._dtypes import legacy_type_name

BACKWARD_TWICE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")

_sequence = count()


class Node:
    """A grad_fn. Subclasses carry PyTorch's node names; `name()` returns it."""
    __slots__ = ("_plan", "_args", "_saved", "_versions", "_next", "_seq", "_tensor_hooks", "_hooks",
                 "_prehooks", "_backward", "__weakref__")

    def __init__(self, plan, args, saved, next_edges):
        self._plan = plan
        self._backward = plan.backward if plan is not None else None
        self._args = args
        self._saved = saved
        self._versions = None
        self._next = next_edges
        self._seq = next(_sequence)
        self._tensor_hooks = None
        self._hooks = None
        self._prehooks = None

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    @property
    def next_functions(self) -> tuple:
        """One (node, output number) per differentiable input; (None, 0) for one that needs no gradient."""
        hidden = self._plan.nondiff if self._plan is not None else ()
        return tuple(edge if edge is not None else (None, 0)
                     for i, edge in enumerate(self._next) if i not in hidden)

    @property
    def metadata(self) -> dict:
        return {}

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) runs after this node's backward; a returned tuple replaces grad_inputs."""
        if self._hooks is None:
            self._hooks = {}
        return _add_hook(self._hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) runs before this node's backward; a returned tuple replaces grad_outputs."""
        if self._prehooks is None:
            self._prehooks = {}
        return _add_hook(self._prehooks, fn)

    # ---- the engine's interface ----------------------------------------------------------------

    @property
    def _n_outputs(self) -> int:
        return self._plan.n_out

    def _check_saved(self):
        if self._saved is None:
            raise RuntimeError(BACKWARD_TWICE)
        self._check_versions()

    def _check_versions(self):
        if self._versions is not None:
            for cell, expected, saved in self._versions:
                if cell[0] != expected:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified by an inplace "
                        f"operation: {describe_saved(saved)} is at version {cell[0]}; expected version {expected} "
                        "instead. Hint: enable anomaly detection to find the operation that failed to compute "
                        "its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")

    def _release(self):
        """Free the saved tensors (a node that saved none can run again, as in PyTorch)."""
        if self._plan.n_saved:
            self._saved = None
            self._args = None

    def _backward_arrays(self, cts, owned):
        """Input cotangents (numpy) for the plan's `wrt` inputs, from output cotangents (numpy or None);
        with a flag per result telling whether the engine owns it: a new array, or a view of a cotangent the
        engine owns (`owned`: id -> array), as the gradient of `W.t()` is a transposed view of its own."""
        backward = self._backward
        if len(cts) == 1 and cts[0] is not None:
            args = (*self._saved, cts[0])
        else:
            args = (*self._saved, *self._plan.output_cotangents(cts))
        results = backward(*args)
        if not backward.views:
            return results, backward.fresh
        fresh = list(backward.fresh)
        for j, i in backward.views:
            if owned.get(id(args[i])) is args[i]:
                fresh[j] = True
        return results, fresh

    def _backward_tensors(self, cts):
        """Input cotangents as Tensors recorded in the graph (create_graph): the plan's backward program run
        as facade ops on Tensors."""
        return self._plan.backward_on_tensors(self._args, cts)


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: adds the incoming gradient into `variable.grad`."""
    __slots__ = ("variable",)

    def __init__(self, variable):
        super().__init__(None, None, (), ())
        self.variable = variable
        self._seq = float("inf")            # PyTorch runs AccumulateGrad as soon as it is ready

    @property
    def _n_outputs(self) -> int:
        return 1


def accumulator(tensor) -> AccumulateGrad:
    """The AccumulateGrad node of a leaf: one per leaf while something refers to it (as PyTorch's)."""
    ref = tensor._accumulator
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(tensor)
        tensor._accumulator = weakref.ref(node)
    return node


def edge_of(tensor):
    """The edge a node keeps to a tensor input that requires grad."""
    fn = tensor._grad_fn
    if fn is not None:
        return (fn, tensor._output_nr)
    return (accumulator(tensor), 0)


_node_classes = {}


def node_class(name: str):
    """The Node subclass named `name` (one per name, so `type(grad_fn).__name__` is PyTorch's)."""
    cls = _node_classes.get(name)
    if cls is None:
        cls = _node_classes[name] = type(name, (Node,), {"__slots__": ()})
    return cls


# ---- hooks ---------------------------------------------------------------------------------------

class RemovableHandle:
    """Returned by register_hook; `remove()` unregisters the hook."""
    _ids = count()

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks: dict, fn) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


# ---- saved-tensor versions -------------------------------------------------------------------------

def saved_versions(node, plan, args, outputs):
    """(version cell, version now, what was saved) for each saved input and output of `node`, and each input a
    residual may be a view of."""
    checks = []
    checked = set()
    for _, i in plan.saved_inputs + plan.aliased_residuals:
        t = args[i]
        if type(t) is not np.ndarray and i not in checked:
            checked.add(i)
            checks.append((t._vc, t._vc[0], t))
    for _, j in plan.saved_outputs:
        t = outputs[j]
        checks.append((t._vc, t._vc[0], (node, j, t._data.shape, t._data.dtype)))
    return checks or None


def describe_saved(saved) -> str:
    """PyTorch's words for a saved tensor: a saved input is named by the node that produced its current
    value (none for a leaf); a saved output by the node that saved it."""
    if isinstance(saved, tuple):
        node, nr, shape, dtype = saved
        return f"{_tensor_text(shape, dtype)}, which is output {nr} of {_forward_name(node)},"
    text = _tensor_text(saved._data.shape, saved._data.dtype)
    if saved._grad_fn is None:
        return text
    return f"{text}, which is output {saved._output_nr} of {_forward_name(saved._grad_fn)},"


def _tensor_text(shape, dtype) -> str:
    return f"[{legacy_type_name(dtype)} [{', '.join(map(str, shape))}]]"


def _forward_name(node) -> str:
    name = node.name()
    for suffix in ("Backward0", "Backward1", "Backward2", "Backward"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class CustomNode(Node):
    """Base of the nodes of autograd.Function subclasses (defined in fgrad.facade.autograd)."""
    __slots__ = ()
