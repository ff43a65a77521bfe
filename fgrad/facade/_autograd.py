"""The autograd graph of the facade: nodes (grad_fns), AccumulateGrad, and the backward engine.

A node is one facade op's backward. It holds the op's GradPlan (whose adjoint program is made of the
primitives' VJP rules), the residuals the forward saved, and one edge per input: (next node, output
number), or None for inputs that need no gradient. Its class is named as PyTorch names the op's node
(`MulBackward0`), so `type(y.grad_fn).__name__` and reprs match.

The engine walks the graph without recursion: a dependency count per node, then a ready queue ordered
as PyTorch's (most recently created node first), cotangents of re-used tensors summed in a buffer per node.
Without create_graph a node's backward runs its compiled adjoint on numpy arrays. With create_graph it
re-runs the op's primitives and their VJP rules on Tensors under the facade interpreter, so every step of
the backward is recorded and can be differentiated again.
"""
from __future__ import annotations

import heapq
import weakref
from itertools import count

import numpy as np

from fgrad.ir import TracerBase
from fgrad.ir.primitive import pop_interpreter, push_interpreter
from fgrad.ir.types import ArrayType
from fgrad.facade import _grad_mode
from fgrad.facade._dtypes import legacy_type_name
from fgrad.facade._kernels import FacadeOp
from fgrad.transforms.vjp import active_equations, backward_pass, forward_pass

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
        hidden = self._plan.kernel.op.nondiff if self._plan is not None else ()
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
        return self._plan.kernel.n_out

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

    def _backward_arrays(self, cts):
        """Input cotangents (numpy) for the plan's `wrt` inputs, from output cotangents (numpy or None);
        with a flag per result telling whether it is a new array."""
        plan = self._plan
        if len(cts) == 1 and cts[0] is not None:
            return self._backward(*self._saved, cts[0]), plan.fresh
        out_cts = []
        for j, t in zip(plan.diff_outputs, plan.ct_types):
            ct = cts[j]
            out_cts.append(np.zeros(t.shape, t.dtype) if ct is None else ct)
        return self._backward(*self._saved, *out_cts), plan.fresh

    def _backward_tensors(self, cts):
        """Input cotangents as Tensors recorded in the graph (create_graph): the op's primitives and their
        VJP rules re-run on Tensors under the facade interpreter."""
        plan = self._plan
        program = plan.kernel.program
        interp = FacadeInterpreter()
        push_interpreter(interp)
        try:
            with _grad_mode.enable_grad():
                args = [as_value(a) for a in self._args]
                active, eqns = active_equations(program, plan.wrt)
                env, residuals = forward_pass(program, args, active, eqns)
                out_cts = [None] * len(program.outputs)
                for j, t in zip(plan.diff_outputs, plan.ct_types):
                    ct = cts[j]
                    out_cts[j] = as_value(ct) if ct is not None else np.zeros(t.shape, t.dtype)
                ct_env = backward_pass(program, env, active, eqns, out_cts, residuals)
                results = [ct_env.get(program.inputs[i]) for i in plan.wrt]
        finally:
            pop_interpreter(interp)
        return [None if r is None else as_tensor_value(r) for r in results]


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


# ---- the facade interpreter ---------------------------------------------------------------------

class FacadeValue(TracerBase):
    """A Tensor as fgrad.ops sees it while the facade interpreter runs: array type info for the op
    wrappers (numpy dtype, shape), the Tensor for the interpreter."""
    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor

    @property
    def type(self):
        data = self.tensor._data
        return ArrayType(data.shape, data.dtype)

    shape = property(lambda self: self.tensor._data.shape)
    dtype = property(lambda self: self.tensor._data.dtype)
    ndim = property(lambda self: self.tensor._data.ndim)
    size = property(lambda self: self.tensor._data.size)

    def __array__(self, dtype=None, copy=None):
        # The op wrappers read the type of a value through numpy; they never compute with it.
        return self.tensor._data

    def __repr__(self) -> str:
        return f"FacadeValue({self.tensor!r})"


def as_value(x):
    """What the facade interpreter hands to fgrad ops: Tensors wrapped, numpy constants as they are."""
    if isinstance(x, np.ndarray):
        return x
    return FacadeValue(x)


def as_tensor_value(x):
    """A FacadeValue's Tensor; a numpy constant (a rule's zero, say) as a Tensor without grad."""
    if type(x) is FacadeValue:
        return x.tensor
    return _tensor.make(np.asarray(x))


_primitive_ops = {}


def primitive_op(prim) -> FacadeOp:
    """The facade op that binds one primitive (its node named as PyTorch names the matching op)."""
    op = _primitive_ops.get(prim)
    if op is None:
        op = _primitive_ops[prim] = FacadeOp(
            prim.name, lambda *xs: prim.bind(*xs[:-1], **xs[-1]), primitive_node_name(prim.name),
            view=prim.aliases_input is True)
    return op


class FacadeInterpreter:
    """Binds each primitive as a one-primitive facade op on Tensors (recording a node when grad mode is on).
    Pushed while a create_graph backward runs the VJP rules, which are fgrad ops."""
    alive = True

    def process(self, prim, args, params):
        tensors = [a.tensor if type(a) is FacadeValue else np.asarray(a) for a in args]
        if prim.multiple_results:
            return [FacadeValue(t) for t in _tensor.apply(primitive_op(prim), tensors, (params,), multi=True)]
        return FacadeValue(_tensor.apply(primitive_op(prim), tensors, (params,)))


_PRIMITIVE_NODE_NAMES = {
    "integer_pow": "PowBackward0", "pow": "PowBackward1", "log1p": "Log1PBackward0",
    "logistic": "SigmoidBackward0", "select": "WhereBackward0", "convert_element_type": "ToCopyBackward0",
    "broadcast_to": "ExpandBackward0", "reshape": "ViewBackward0", "transpose": "PermuteBackward0",
    "squeeze": "SqueezeBackward1", "expand_dims": "UnsqueezeBackward0", "reduce_sum": "SumBackward1",
    "reduce_max": "AmaxBackward0", "reduce_min": "AminBackward0", "matmul": "MmBackward0",
    "slice": "SliceBackward0", "pad": "ConstantPadNdBackward0", "concatenate": "CatBackward0",
    "gather": "IndexSelectBackward0", "scatter": "IndexCopyBackward0", "scatter_add": "IndexAddBackward0",
    "cumsum": "CumsumBackward0", "solve": "LinalgSolveExBackward0", "stop_gradient": "DetachBackward0",
}


def primitive_node_name(name: str) -> str:
    """PyTorch's node name for the op closest to primitive `name` (sin -> SinBackward0)."""
    if name in _PRIMITIVE_NODE_NAMES:
        return _PRIMITIVE_NODE_NAMES[name]
    return "".join(part.capitalize() for part in name.split("_")) + "Backward0"


# ---- the engine -----------------------------------------------------------------------------------

def run_backward(roots, retain_graph: bool, create_graph: bool, targets=None, accumulate=True):
    """Propagate cotangents from `roots` [(node, output number, cotangent)] through the graph.

    targets: None to accumulate into every leaf reached; else a dict {(node, output number): slot} of
    the gradients to capture (autograd.grad, backward(inputs=...)), returned as a dict by slot.
    accumulate: with targets, whether captured leaf gradients are also accumulated into `.grad`
    (backward(inputs=...)) or only returned (autograd.grad).
    """
    deps = _dependencies([node for node, _, _ in roots])
    needed = None if targets is None else _needed(roots, deps, targets)
    buffers = {}
    fresh = set()           # ids of cotangent arrays nobody else holds (AccumulateGrad may keep them)
    for node, nr, ct in roots:
        _add_to_buffer(buffers, fresh, node, nr, ct, create_graph)
    ready = []
    tie = count()
    for node in {node: None for node, _, _ in roots}:
        if deps.get(node, 0) == 0:
            heapq.heappush(ready, (-node._seq, next(tie), node))
    captured = {} if targets is not None else None
    heappop, heappush = heapq.heappop, heapq.heappush
    while ready:
        node = heappop(ready)[2]
        cts = buffers.pop(node, None)
        if cts is not None and node._tensor_hooks:
            cts = _run_tensor_hooks(node, cts, create_graph)
        if targets is not None and cts is not None:
            for nr, ct in enumerate(cts):
                slot = targets.get((node, nr))
                if slot is not None and ct is not None:
                    captured[slot] = ct
        if type(node) is AccumulateGrad:
            if cts is not None and (targets is None or (accumulate and (node, 0) in targets)):
                ct = cts[0]
                _accumulate(node.variable, ct, id(ct) in fresh, create_graph)
            continue
        if needed is not None and node not in needed:
            continue
        in_cts = None
        if cts is not None:
            if node._prehooks:
                cts = _run_node_prehooks(node, cts)
            node._check_saved()
            if create_graph:
                in_cts = node._backward_tensors(cts)
            else:
                in_cts, is_fresh = node._backward_arrays(cts)
                for ct, new in zip(in_cts, is_fresh):
                    if new:
                        fresh.add(id(ct))
            if node._hooks:
                in_cts = _run_node_hooks(node, in_cts, cts)
            if not retain_graph:
                node._release()
        # every edge counts down its target's dependencies, also when it carries no cotangent
        next_edges = node._next
        wrt = node._plan.wrt if node._plan is not None else ()
        for k, i in enumerate(wrt):
            edge = next_edges[i]
            if edge is None:
                continue
            nxt = edge[0]
            if in_cts is not None:
                ct = in_cts[k]
                if ct is not None:
                    buf = buffers.get(nxt)
                    if buf is None and nxt._n_outputs == 1:
                        buffers[nxt] = [ct]
                    else:
                        _add_to_buffer(buffers, fresh, nxt, edge[1], ct, create_graph)
            left = deps[nxt] - 1
            deps[nxt] = left
            if left == 0:
                heappush(ready, (-nxt._seq, next(tie), nxt))
    return captured


def _dependencies(root_nodes) -> dict:
    """How many edges from reachable nodes point at each node (iterative DFS)."""
    deps = {}
    seen = set(root_nodes)
    stack = list(seen)
    while stack:
        node = stack.pop()
        for edge in node._next:
            if edge is None:
                continue
            nxt = edge[0]
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps


def _needed(roots, deps, targets) -> set:
    """The nodes from which a target is reachable: only those run in autograd.grad."""
    target_nodes = {node for node, _ in targets}
    # topological order (Kahn), then propagate "leads to a target" backwards from the leaves
    remaining = dict(deps)
    order = []
    stack = list({node for node, _, _ in roots if remaining.get(node, 0) == 0})
    while stack:
        node = stack.pop()
        order.append(node)
        for edge in node._next:
            if edge is None:
                continue
            nxt = edge[0]
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                stack.append(nxt)
    needed = set()
    for node in reversed(order):
        if node in target_nodes or any(e is not None and e[0] in needed for e in node._next):
            needed.add(node)
    return needed


def _add_to_buffer(buffers, fresh, node, nr, ct, create_graph):
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node._n_outputs
    old = buf[nr]
    if old is None:
        buf[nr] = ct
    elif create_graph:
        buf[nr] = _tensor.add_tensors(old, ct)
    else:
        total = np.add(old, ct)
        fresh.add(id(total))
        buf[nr] = total


def _accumulate(variable, ct, is_fresh, create_graph):
    """AccumulateGrad: run the leaf's hooks, then add into .grad (in place, as PyTorch outside create_graph)."""
    if ct is None:
        return
    if variable._hooks:
        for hook in list(variable._hooks.values()):
            result = hook(ct if create_graph else _tensor.make(ct))
            if result is not None:
                ct = result if create_graph else result._data
                is_fresh = False
    grad = variable._grad
    if create_graph:
        variable._grad = ct if grad is None else _tensor.add_tensors(grad, ct)
        return
    if grad is None:
        # .grad gets its own array, laid out as the parameter (PyTorch's layout contract), so that updates
        # like p -= lr * p.grad walk both in the same order
        order = "C" if variable._data.flags.c_contiguous else "K"
        if is_fresh and ct.flags.writeable and (order == "K" or ct.flags.c_contiguous):
            data = ct
        else:
            data = np.array(ct, copy=True, order=order)
        variable._grad = _tensor.make(data)
    elif grad._grad_fn is not None or grad._requires_grad:
        variable._grad = _tensor.make(grad._data + ct)
    else:
        np.add(grad._data, ct, out=grad._data)
        grad._vc[0] += 1


def _run_tensor_hooks(node, cts, create_graph):
    """Hooks registered on a non-leaf tensor (and retain_grad) see the gradient of that output."""
    cts = list(cts)
    for nr, hooks in node._tensor_hooks.items():
        ct = cts[nr]
        if ct is None:
            continue
        for hook in list(hooks.values()):
            result = hook(ct if create_graph else _tensor.make(ct))
            if result is not None:
                ct = result if create_graph else result._data
        cts[nr] = ct
    return cts


def _run_node_prehooks(node, cts):
    grads = tuple(None if c is None else _tensor.make(c) for c in cts)
    for hook in list(node._prehooks.values()):
        result = hook(grads)
        if result is not None:
            grads = tuple(result)
    return [None if g is None else g._data for g in grads]


def _run_node_hooks(node, in_cts, cts):
    grad_inputs = tuple(None if c is None else _tensor.make(c) for c in in_cts)
    grad_outputs = tuple(None if c is None else _tensor.make(c) for c in cts)
    for hook in list(node._hooks.values()):
        result = hook(grad_inputs, grad_outputs)
        if result is not None:
            grad_inputs = tuple(result)
    return [None if g is None else g._data for g in grad_inputs]


# ---- saved-tensor versions -------------------------------------------------------------------------

def saved_versions(node, plan, args, outputs):
    """(version cell, version now, what was saved) for each saved input and output of `node`."""
    checks = []
    for _, i in plan.saved_inputs:
        t = args[i]
        if type(t) is not np.ndarray:
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


from fgrad.facade import _tensor  # noqa: E402  (Tensor creation for hooks and gradients; _tensor imports this)
