"""torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, built on autograd.grad."""
from __future__ import annotations

import numpy as np

from fgrad.facade._engine import grad
from fgrad.facade._shapes import stack
from fgrad.facade._tensor import Tensor, make


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _fresh_inputs(inputs, create_graph):
    return tuple(x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True) for x in inputs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    single = isinstance(inputs, Tensor)
    inputs = _fresh_inputs(_tuple(inputs), create_graph)
    outputs = func(*inputs)
    outs = _tuple(outputs)
    vs = _tuple(v) if v is not None else (None,) * len(outs)
    grads = grad(outs, inputs, vs, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    detached = outputs if create_graph else (outputs.detach() if isinstance(outputs, Tensor)
                                             else tuple(o.detach() for o in outputs))
    return detached, grads[0] if single else grads


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of func at inputs: shape output.shape + input.shape (tuples for several of either)."""
    single_in = isinstance(inputs, Tensor)
    inputs = _fresh_inputs(_tuple(inputs), create_graph)
    outputs = func(*inputs)
    single_out = isinstance(outputs, Tensor)
    outs = _tuple(outputs)
    result = []
    for out in outs:
        rows = [[] for _ in inputs]
        for i in range(out.numel()):
            seed = np.zeros(out._data.size, out._data.dtype)
            seed[i] = 1
            gs = grad(out, inputs, make(seed.reshape(out._data.shape)), retain_graph=True,
                      create_graph=create_graph, allow_unused=True, materialize_grads=True)
            for k, g in enumerate(gs):
                rows[k].append(g)
        per_input = []
        for k, x in enumerate(inputs):
            if rows[k]:
                per_input.append(stack(rows[k]).reshape(tuple(out.shape) + tuple(x.shape)))
            else:
                per_input.append(make(np.zeros(tuple(out.shape) + tuple(x.shape), x._data.dtype)))
        result.append(per_input[0] if single_in else tuple(per_input))
    return result[0] if single_out else tuple(result)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar func at inputs."""
    single = isinstance(inputs, Tensor)

    def gradient(*xs):
        out = func(*xs)
        gs = grad(out, xs, create_graph=True, allow_unused=True, materialize_grads=True)
        return gs[0] if single else gs
    return jacobian(gradient, inputs, create_graph=create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by the double-vjp trick."""
    single = isinstance(inputs, Tensor)
    inputs = _fresh_inputs(_tuple(inputs), create_graph)
    outputs = func(*inputs)
    outs = _tuple(outputs)
    dummies = tuple(make(np.zeros(o._data.shape, o._data.dtype)).requires_grad_(True) for o in outs)
    gs = grad(outs, inputs, dummies, create_graph=True, allow_unused=True, materialize_grads=True)
    vs = _tuple(v) if v is not None else tuple(make(np.ones(x._data.shape, x._data.dtype)) for x in inputs)
    jv = grad(gs, dummies, vs, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    detached = outputs if create_graph else (outputs.detach() if isinstance(outputs, Tensor)
                                             else tuple(o.detach() for o in outputs))
    return detached, jv[0] if isinstance(outputs, Tensor) else jv


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func."""
    single = isinstance(inputs, Tensor)
    inputs = _fresh_inputs(_tuple(inputs), create_graph)
    out = func(*inputs)
    gs = grad(out, inputs, create_graph=True, allow_unused=True, materialize_grads=True)
    vs = _tuple(v)
    hv = grad(gs, inputs, vs, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    return (out if create_graph else out.detach()), (hv[0] if single else hv)


vhp = hvp
