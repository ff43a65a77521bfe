"""The backward engine of the facade: `run_backward` walks the graph of nodes (fgrad.facade._graph), and the
public entry points built on it: `backward` (Tensor.backward, torch.autograd.backward) and `grad`
(torch.autograd.grad).

The engine walks the graph without recursion: a dependency count per node, then a ready queue ordered as
PyTorch's (most recently created node first), cotangents of re-used tensors summed in a buffer per node.
Without create_graph a node's backward runs its compiled backward program on numpy arrays. With
create_graph the same program runs as facade ops on Tensors (GradPlan.backward_on_tensors), so every step
of the backward is recorded and can be differentiated again.
"""
from __future__ import annotations

import heapq
from itertools import count

import numpy as np

from fgrad.facade import _anomaly, _grad_mode
from fgrad.facade._elementwise import add
from fgrad.facade._grad_mode import set_grad_enabled
from fgrad.facade._graph import AccumulateGrad, edge_of
from fgrad.facade._tensor import Size, Tensor, make

_grad_state = _grad_mode.state


def tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into each leaf's `.grad` (Tensor.backward; see `backward`)."""
    if (gradient is None and inputs is None and not create_graph and self._grad_fn is not None
            and self._data.size == 1):
        # the common `loss.backward()`, without the general argument handling
        prev = _grad_state.enabled
        _grad_state.enabled = False
        try:
            run_backward([(self._grad_fn, self._output_nr, np.ones(self._data.shape, self._data.dtype))],
                         bool(retain_graph), False)
        finally:
            _grad_state.enabled = prev
        return
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _root_gradients(outputs, grad_outputs, create_graph):
    """The initial cotangent of each output: ones for a scalar output without one, else the given one
    (checked against the output's shape)."""
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.requires_grad:
                if out._data.size != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                g = np.ones(out._data.shape, out._data.dtype)
                grads.append(make(g) if create_graph else g)
            else:
                grads.append(None)
            continue
        if not isinstance(g, Tensor):
            g = make(np.asarray(g, out._data.dtype))
        if g._data.shape != out._data.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {Size(g._data.shape)} and "
                               f"output[{i}] has a shape of {Size(out._data.shape)}.")
        if g._data.dtype.kind != out._data.dtype.kind and out._data.dtype.kind == "f" and g._data.dtype.kind != "f":
            raise RuntimeError(f"For complex Tensors, both grad_output and output are required to have the same "
                               f"dtype. Mismatch in dtype: grad_output[{i}] has a dtype of {g.dtype} and output[{i}] "
                               f"has a dtype of {out.dtype}.")
        if g._data.dtype != out._data.dtype:
            g = g.to(out.dtype)
        grads.append(g if create_graph else g._data)
    return grads


def _roots(outputs, grads):
    roots = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        node, nr = edge_of(out)
        roots.append((node, nr, g))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate the gradients of `tensors` (with `grad_tensors` as their cotangents) into the `.grad` of the
    leaves they depend on (only into `inputs` when given)."""
    tensors = _as_tuple(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    grad_tensors = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"grad_tensors must be a sequence of length {len(tensors)}, got {len(grad_tensors)}")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _root_gradients(tensors, grad_tensors, create_graph)
    roots = _roots(tensors, grads)
    inputs = _as_tuple(inputs)
    if not inputs:
        with set_grad_enabled(create_graph):
            run_backward(roots, retain_graph, create_graph)
        return
    targets = {}
    for slot, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        targets[edge_of(t)] = slot
    with set_grad_enabled(create_graph):
        captured = run_backward(roots, retain_graph, create_graph, targets, accumulate=True)
    for slot, t in enumerate(inputs):
        if t._grad_fn is None or slot not in captured:
            continue
        ct = captured[slot]
        value = ct if create_graph else make(np.array(ct, copy=True))
        t._grad = value if t._grad is None else make(t._grad._data + value._data)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs` (a tuple), without touching `.grad`.

    >>> import fgrad as torch
    >>> x = torch.tensor(3.0, requires_grad=True)
    >>> torch.autograd.grad(x ** 2, x)
    (tensor(6.),)
    """
    if is_grads_batched:
        raise NotImplementedError("fgrad's autograd.grad does not support is_grads_batched")
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    grad_outputs = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(grad_outputs)} for "
                           f"{len(outputs)} outputs")
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _root_gradients(outputs, grad_outputs, create_graph)
    roots = _roots(outputs, grads)
    targets = {}
    slots = []
    for t in inputs:
        key = edge_of(t)
        slots.append(targets.setdefault(key, len(targets)))
    with set_grad_enabled(create_graph):
        captured = run_backward(roots, retain_graph, create_graph, targets, accumulate=False)
    results = []
    for i, (t, slot) in enumerate(zip(inputs, slots)):
        ct = captured.get(slot)
        if ct is None:
            if not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            results.append(make(np.zeros(t._data.shape, t._data.dtype)) if materialize_grads else None)
        elif create_graph:
            results.append(ct)
        else:
            results.append(make(np.array(ct, copy=True)))
    return tuple(results)


# ---- the walk -----------------------------------------------------------------------------------

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
    # The cotangent arrays nobody else holds, by id: AccumulateGrad may keep them as .grad, a sum may add into
    # them, a view of one is owned too. Holding the array keeps its id from being reused while listed; an
    # array leaves when it is consumed or handed to a hook.
    owned = {}
    for node, nr, ct in roots:
        _add_to_buffer(buffers, owned, node, nr, ct, create_graph)
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
            _disown(owned, cts)             # a hook may keep the gradient it is shown
            cts = _run_tensor_hooks(node, cts, create_graph)
        if targets is not None and cts is not None:
            for nr, ct in enumerate(cts):
                slot = targets.get((node, nr))
                if slot is not None and ct is not None:
                    captured[slot] = ct
        if type(node) is AccumulateGrad:
            if cts is not None and (targets is None or (accumulate and (node, 0) in targets)):
                ct = cts[0]
                _accumulate(node.variable, ct, owned.pop(id(ct), None) is ct, create_graph)
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
                in_cts, is_fresh = node._backward_arrays(cts, owned)
                _disown(owned, cts)
                if not node._hooks:         # a hook may keep the gradients it is shown
                    for ct, new in zip(in_cts, is_fresh):
                        if new:
                            owned[id(ct)] = ct
                    if len(in_cts) > 1:
                        _unmark_shared(in_cts, owned)
            if _anomaly.state.enabled and _anomaly.state.check_nan:
                _anomaly.check(node, in_cts)
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
                        _add_to_buffer(buffers, owned, nxt, edge[1], ct, create_graph)
            left = deps[nxt] - 1
            deps[nxt] = left
            if left == 0:
                heappush(ready, (-nxt._seq, next(tie), nxt))
    return captured


def _unmark_shared(in_cts, owned):
    """An array handed to two inputs (add passes its cotangent on to both) belongs to neither: whoever keeps
    it (AccumulateGrad) must copy it."""
    seen = set()
    for ct in in_cts:
        if ct is not None:
            if id(ct) in seen:
                owned.pop(id(ct), None)
            seen.add(id(ct))


def _disown(owned, cts):
    for ct in cts:
        if ct is not None:
            owned.pop(id(ct), None)


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


def _add_to_buffer(buffers, owned, node, nr, ct, create_graph):
    """Add cotangent `ct` into output `nr`'s slot of `node`'s buffer: in place when the engine owns the
    array there and the sum keeps its dtype and shape, else into a new array the engine owns."""
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node._n_outputs
    old = buf[nr]
    if old is None:
        buf[nr] = ct
    elif create_graph:
        buf[nr] = add(old, ct)
    elif (owned.get(id(old)) is old and old.flags.writeable and old.shape == ct.shape
          and old.dtype == ct.dtype and not np.may_share_memory(old, ct)):
        np.add(old, ct, out=old)
        owned.pop(id(ct), None)
    else:
        total = np.add(old, ct)
        owned.pop(id(old), None)
        owned.pop(id(ct), None)
        owned[id(total)] = total
        buf[nr] = total


def _accumulate(variable, ct, is_fresh, create_graph):
    """AccumulateGrad: run the leaf's hooks, then add into .grad (in place, as PyTorch outside create_graph)."""
    if ct is None:
        return
    if variable._hooks:
        is_fresh = False                    # a hook may keep the gradient it is shown
        for hook in list(variable._hooks.values()):
            result = hook(ct if create_graph else make(ct))
            if result is not None:
                ct = result if create_graph else result._data
    grad = variable._grad
    if create_graph:
        variable._grad = ct if grad is None else add(grad, ct)
        return
    if grad is None:
        # .grad gets its own array, laid out as the parameter (PyTorch's layout contract), so that updates
        # like p -= lr * p.grad walk both in the same order
        order = "C" if variable._data.flags.c_contiguous else "K"
        if is_fresh and ct.flags.writeable and (order == "K" or ct.flags.c_contiguous):
            data = ct
        else:
            data = np.array(ct, copy=True, order=order)
        variable._grad = make(data)
    elif grad._grad_fn is not None or grad._requires_grad:
        variable._grad = make(grad._data + ct)
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
            result = hook(ct if create_graph else make(ct))
            if result is not None:
                ct = result if create_graph else result._data
        cts[nr] = ct
    return cts


def _run_node_prehooks(node, cts):
    grads = tuple(None if c is None else make(c) for c in cts)
    for hook in list(node._prehooks.values()):
        result = hook(grads)
        if result is not None:
            grads = tuple(result)
    return [None if g is None else g._data for g in grads]


def _run_node_hooks(node, in_cts, cts):
    grad_inputs = tuple(None if c is None else make(c) for c in in_cts)
    grad_outputs = tuple(None if c is None else make(c) for c in cts)
    for hook in list(node._hooks.values()):
        result = hook(grad_inputs, grad_outputs)
        if result is not None:
            grad_inputs = tuple(result)
    return [None if g is None else g._data for g in grad_inputs]
