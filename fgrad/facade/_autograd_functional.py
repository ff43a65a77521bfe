"""torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp, built on autograd.grad as PyTorch's are
(`jvp` and `hvp` by the double-backward trick), so `create_graph=True` gives results with a graph.

`strict=True` raises PyTorch's errors for an output that does not depend on an input; `vectorize=True` is
accepted (the rows are computed one backward each either way, with the same values).

>>> import fgrad as torch
>>> torch.autograd.functional.jacobian(lambda x: x ** 2, torch.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
"""
from __future__ import annotations

import numpy as np

from fgrad.facade._engine import grad
from fgrad.facade._grad_mode import enable_grad
from fgrad.facade._shapes import stack
from fgrad.facade._tensor import Tensor, make

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _fresh_inputs(inputs, create_graph):
    return tuple(x.view_as(x) if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
                 for x in inputs)


def _zeros_like(x):
    return make(np.zeros(x._data.shape, x._data.dtype))


def _grads(outputs, inputs, grad_outputs, create_graph, strict, retain_graph=None):
    """autograd.grad with unused inputs as zeros (None kept for the strict checks)."""
    outputs = [o for o in outputs]
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, gs = zip(*pairs)
    return grad(outs, inputs, gs, create_graph=create_graph, allow_unused=True,
                retain_graph=True if retain_graph is None else retain_graph)


def _check_outputs_require_grad(outputs, strict):
    if strict:
        for i, out in enumerate(outputs):
            if not out.requires_grad:
                raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs "
                                   "must be computed in a differentiable manner from the input when running in strict "
                                   "mode.")


def _fill(grads, refs, strict, message):
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(message.format(i=i))
            g = _zeros_like(ref)
        out.append(g)
    return tuple(out)


_INDEPENDENT = "The output of the user-provided function is independent of input {i}. This is not allowed in strict mode."


def _detached(outputs, create_graph):
    if create_graph:
        return outputs
    return outputs.detach() if isinstance(outputs, Tensor) else tuple(o.detach() for o in outputs)


def _vector(v, refs, what):
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if the {what} is a single Tensor with a single "
                               "element.")
        return (make(np.ones(refs[0]._data.shape, refs[0]._data.dtype)),)
    vs = _tuple(v)
    if len(vs) != len(refs):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(refs)} but got {len(vs)}.")
    for i, (x, ref) in enumerate(zip(vs, refs)):
        if tuple(x.shape) != tuple(ref.shape):
            raise RuntimeError(f"Entry {i} in v has invalid size: should be {ref.shape} but got {x.shape}.")
    return vs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the outputs (detached unless create_graph) and one cotangent per input."""
    single = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _fresh_inputs(_tuple(inputs), create_graph)
        outputs = func(*inputs)
        outs = _tuple(outputs)
        _check_outputs_require_grad(outs, strict)
        vs = _vector(v, outs, "user-provided function returns")
        grads = _fill(_grads(outs, inputs, vs, create_graph, strict), inputs, strict, _INDEPENDENT)
    return _detached(outputs, create_graph), grads[0] if single else grads


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by the double-backward trick (as PyTorch's)."""
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _fresh_inputs(_tuple(inputs), create_graph)
        vs = _vector(v, inputs, "input to the user-provided function")
        outputs = func(*inputs)
        outs = _tuple(outputs)
        _check_outputs_require_grad(outs, strict)
        dummies = tuple(_zeros_like(o).requires_grad_(True) for o in outs)
        gs = _grads(outs, inputs, dummies, True, strict)
        if strict and any(g is None for g in gs):
            i = next(k for k, g in enumerate(gs) if g is None)
            raise RuntimeError(_INDEPENDENT.format(i=i))
        pairs = [(g, x) for g, x in zip(gs, vs) if g is not None and g.requires_grad]
        jv = grad([g for g, _ in pairs], dummies, [x for _, x in pairs], create_graph=create_graph,
                  allow_unused=True) if pairs else (None,) * len(dummies)
        jv = _fill(jv, outs, strict, "The gradient with respect to the input is independent of entry {i} in the "
                   "grad_outputs when using the double backward trick to compute forward mode gradients. This is "
                   "not allowed in strict mode.")
    del single_in
    return _detached(outputs, create_graph), jv[0] if isinstance(outputs, Tensor) else jv


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of func at inputs, block (i, j) of shape outputs[i].shape + inputs[j].shape; tuples nest as
    PyTorch's (a single Tensor where func takes or returns one)."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                         'function has more outputs than inputs, "forward-mode" tends to be more performant. '
                         'Otherwise, prefer to use "reverse-mode".')
    if strict and vectorize:
        raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                           "supported together. Please either set `strict=False` or `vectorize=False`.")
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _fresh_inputs(_tuple(inputs), create_graph)
        outputs = func(*inputs)
        single_out = isinstance(outputs, Tensor)
        outs = _tuple(outputs)
        _check_outputs_require_grad(outs, strict)
        result = [_jacobian_of_output(out, inputs, create_graph, strict) for out in outs]
    result = [r[0] if single_in else r for r in result]
    return result[0] if single_out else tuple(result)


def _jacobian_of_output(out, inputs, create_graph, strict):
    """One output's blocks, a row (one backward) per output element."""
    rows = [[] for _ in inputs]
    for i in range(out.numel()):
        seed = np.zeros(out._data.size, out._data.dtype)
        seed[i] = 1
        gs = _grads([out], inputs, [make(seed.reshape(out._data.shape))], create_graph, strict)
        gs = _fill(gs, inputs, strict, "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.")
        for k, g in enumerate(gs):
            rows[k].append(g)
    blocks = []
    for k, x in enumerate(inputs):
        shape = tuple(out.shape) + tuple(x.shape)
        blocks.append(stack(rows[k]).reshape(shape) if rows[k] else _zeros_like(make(np.zeros(shape, x._data.dtype))))
    return tuple(blocks)


def _scalar_output(outputs, name):
    outs = _tuple(outputs)
    if len(outs) != 1:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a single element")
    return outs[0]


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of scalar `func` at inputs: block (i, j) of shape inputs[i].shape + inputs[j].shape."""
    single = isinstance(inputs, Tensor)

    def gradient(*xs):
        out = _scalar_output(func(*xs), "hessian")
        gs = _grads([out], xs, [None], True, strict)
        gs = _fill(gs, xs, strict, "The hessian of the user-provided function with respect to input {i} is "
                   "independent of the input. This is not allowed in strict mode. You should ensure that your "
                   "function is thrice differentiable and that the hessian depends on the inputs.")
        return gs[0] if single else gs
    return jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar func."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func (H is symmetric, so the same values as vhp)."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph, strict, name):
    single = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _fresh_inputs(_tuple(inputs), create_graph)
        vs = _vector(v, inputs, "input to the user-provided function")
        outputs = func(*inputs)
        out = _scalar_output(outputs, name)
        _check_outputs_require_grad((out,), strict)
        gs = _grads([out], inputs, [None], True, strict)
        gs = _fill(gs, inputs, strict, _INDEPENDENT)
        pairs = [(g, x) for g, x in zip(gs, vs) if g.requires_grad]
        hv = grad([g for g, _ in pairs], inputs, [x for _, x in pairs], create_graph=create_graph,
                  allow_unused=True) if pairs else (None,) * len(inputs)
        hv = _fill(hv, inputs, strict, "The Jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.")
    return _detached(outputs, create_graph), hv[0] if single else hv
