"""torch.func on fgrad's own transforms: grad, grad_and_value, vjp, jvp, linearize, vmap, jacrev, jacfwd, hessian,
functional_call and stack_module_state (`import fgrad as torch; from torch.func import vmap, grad`).

How it works. The facade's Tensor is registered as a pytree *array wrapper* (fgrad.ir.pytree): fgrad's transforms
see the array inside, and a value they trace reaches the user's function as a Tensor around the tracer. A facade op
given such a Tensor binds its traced program's equations in the current interpreter (fgrad.facade._op.apply), so
the transform records the op; no facade graph is built. The derivatives, batches and Jacobians are therefore
fgrad's transforms of the primitives' rules: exact, composable to any depth (vmap(grad(f)) gives per-example
gradients in one batched program), and jittable (`fgrad.jit` of any of them compiles one kernel). The top-level
`fgrad.grad`, `fgrad.vmap`, `fgrad.jacrev`, ... accept functions of facade Tensors the same way.

Differences from PyTorch, by design: inside a transform, Tensors the function closes over (a module's parameters
not passed through functional_call) are constants, and results have no grad_fn (PyTorch would let autograd
differentiate through the transform too). Inside vmap, random ops follow `randomness` as PyTorch's: "error" refuses
them, "same" draws one sample for the batch, "different" one for each member (rand, randn, randint, normal, bernoulli
with a number p, the *_like forms and dropout; others raise).

>>> import fgrad as torch
>>> from fgrad.func import grad, vmap
>>> x = torch.tensor([0.0, 1.0, 2.0])
>>> vmap(grad(lambda t: t.sin() * t))(x)
tensor([0.0000, 1.3818, 0.0770])
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, eval_program, pytree, trace_flat
from fgrad.ir.tracing import Tracer
from fgrad.transforms import grad as _grad
from fgrad.transforms.vmap import flat_args_and_axes, mapped_size, vmap as _vmap
from fgrad.facade import _random
from fgrad.facade._grad_mode import state as _grad_state
from fgrad.facade._op import FacadeOp, apply, primitive_node_name
from fgrad.facade._shapes import stack
from fgrad.facade._tensor import Tensor, make
from fgrad.facade.nn.module import Module
from fgrad.facade.nn.parameter import Parameter

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "vmap", "jacrev", "jacfwd", "hessian",
           "functional_call", "stack_module_state"]


# ---- Tensors as pytree array wrappers -------------------------------------------------------------------------

def _tensor_array(t: Tensor):
    return t._data


def _wrap_array(leaf):
    """A transform's result leaf as a Tensor. The leaf position of a Jacobian holds the inner pytree of
    blocks (already Tensors), which stands for it as it is."""
    if type(leaf) is np.ndarray or isinstance(leaf, Tracer):
        return make(leaf)
    if isinstance(leaf, np.ndarray):        # an fgrad.Array from a transform: the Tensor holds a plain ndarray
        return make(leaf.view(np.ndarray))
    if isinstance(leaf, np.generic):
        return make(np.asarray(leaf))
    return leaf


for _cls in (Tensor, Parameter):
    pytree.register_array_wrapper(_cls, _tensor_array, _wrap_array)


class _InsertionOrdered(dict):
    """A dict argument on its way through a transform: PyTorch's pytrees keep a dict's insertion order (fgrad's,
    as JAX's, sort the keys), so a gradient w.r.t. `{"fc1.weight": ..., "fc1.bias": ...}` lists its keys as
    the argument does. It stays one through nested transforms (and prints as a dict)."""


pytree.register_pytree_node(_InsertionOrdered, lambda d: (list(d.values()), tuple(d)),
                            lambda keys, children: _InsertionOrdered(zip(keys, children)))


def _ordered(tree):
    """`tree` with its plain dicts (at any depth inside tuples, lists and dicts) keeping their key order."""
    kind = type(tree)
    if kind is dict:
        return _InsertionOrdered((k, _ordered(v)) for k, v in tree.items())
    if kind is tuple or kind is list:
        return kind(_ordered(x) for x in tree)
    return tree


def _keeping_dict_order(transformed, name):
    """The user-facing function of a transform: dict arguments keep their key order, and arguments that require
    grad make the whole call one node of the facade's graph (`_recorded_call`)."""
    ops = {}

    def call(*args, **kwargs):
        args = _ordered(args)
        if _grad_state.enabled and not kwargs:
            leaves, tree = pytree.tree_flatten(args, is_leaf=_is_tensor)
            if (any(_is_tensor(x) and x.requires_grad for x in leaves)
                    and all(_is_tensor(x) and type(x._data) is np.ndarray for x in leaves)):
                return _recorded_call(transformed, ops, leaves, tree)
        return transformed(*args, **kwargs)
    call.__name__ = name
    return call


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _recorded_call(transformed, ops, leaves, tree):
    """`transformed` on Tensors that require grad, as PyTorch composes torch.func with autograd: the call is
    traced into one program and applied as one facade op (its node named after the primitive that computes
    the first output), so `.backward()` later differentiates through the transform, its reverse mode being
    fgrad's vjp of that program."""
    in_types = tuple(ArrayType(x._data.shape, x._data.dtype) for x in leaves)
    key = (tree, in_types)
    entry = ops.get(key)
    if entry is None:
        out_trees = []

        def flat(*tracers):
            out = transformed(*pytree.tree_unflatten(tree, [make(t) for t in tracers]))
            out_leaves, out_tree = pytree.tree_flatten(out, is_leaf=_is_tensor)
            out_trees.append(out_tree)
            return [x._data if _is_tensor(x) else x for x in out_leaves]

        program, captured = trace_flat(flat, list(in_types))
        assert not captured, "a top-level call captures no traced values"
        op = FacadeOp(f"func:{transformed.__name__}", lambda *xs: eval_program(program, *xs),
                      _output_node_name(program))
        entry = ops[key] = (op, out_trees[0])
    op, out_tree = entry
    return pytree.tree_unflatten(out_tree, apply(op, tuple(leaves), (), multi=True))


def _output_node_name(program) -> str:
    first = program.outputs[0]
    for eqn in reversed(program.equations):
        if first in eqn.outputs:
            return primitive_node_name(eqn.prim.name)
    return "AliasBackward0"


# ---- the transforms -----------------------------------------------------------------------------------------------

def grad(func, argnums=0, has_aux=False):
    """The gradient of `func` (returning a scalar Tensor) w.r.t. the `argnums` arguments, as torch.func.grad.

    Arguments may be pytrees (dicts of parameters); with has_aux=True `func` returns (loss, aux) and the result
    is (grad, aux).

    >>> import fgrad as torch
    >>> torch.func.grad(lambda x: (x ** 3).sum())(torch.tensor([1.0, 2.0]))
    tensor([ 3., 12.])
    """
    transformed = _grad.grad(_scalar_checked(func, has_aux), argnums, has_aux)
    return _keeping_dict_order(_argnums_checked(transformed, argnums), f"grad({_grad.function_name(func)})")


def grad_and_value(func, argnums=0, has_aux=False):
    """(gradient, value) of `func`, or (gradient, (value, aux)) with has_aux=True, as torch.func.grad_and_value.

    >>> import fgrad as torch
    >>> torch.func.grad_and_value(lambda x: (x ** 2).sum())(torch.tensor([3.0]))
    (tensor([6.]), tensor(9.))
    """
    value_and_grad = _argnums_checked(_grad.value_and_grad(_scalar_checked(func, has_aux), argnums, has_aux), argnums)

    def grad_and_value_fun(*args, **kwargs):
        value, g = value_and_grad(*args, **kwargs)
        return g, value
    return _keeping_dict_order(grad_and_value_fun, f"grad_and_value({_grad.function_name(func)})")


def _scalar_checked(func, has_aux):
    """`func`, checked as torch.func.grad checks it: a scalar Tensor output (with has_aux, a pair whose first
    element is one); PyTorch's RuntimeErrors otherwise."""
    def checked(*args, **kwargs):
        out = func(*args, **kwargs)
        if has_aux and not (isinstance(out, tuple) and len(out) == 2):
            raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: (output, aux) if "
                               "has_aux is True")
        value = out[0] if has_aux else out
        if not isinstance(value, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(value)}")
        if value.dim() != 0:
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor "
                               f"with {value.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        return out
    checked.__name__ = _grad.function_name(func)
    return checked


def _argnums_checked(transformed, argnums):
    """`transformed`, with torch.func's errors for argnums out of range and for integer inputs."""
    def checked(*args, **kwargs):
        for a in (argnums,) if isinstance(argnums, int) else argnums:
            if not -len(args) <= a < len(args):
                raise RuntimeError(f"Got argnum={a}, but only {len(args)} positional inputs")
            for leaf in pytree.tree_leaves(args[a], is_leaf=_is_tensor):
                if _is_tensor(leaf) and leaf._data.dtype.kind != "f":
                    raise RuntimeError("only Tensors of floating point dtype can require gradients")
        return transformed(*args, **kwargs)
    checked.__name__ = transformed.__name__
    return checked


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn) — or with aux — as torch.func.vjp; `vjp_fn(cotangents)` returns one cotangent per
    primal, in a tuple. The forward runs once; each vjp_fn call runs the backward only.

    >>> import fgrad as torch
    >>> out, vjp_fn = torch.func.vjp(torch.sin, torch.tensor([0.0]))
    >>> vjp_fn(torch.tensor([2.0]))
    (tensor([2.]),)
    """
    return _grad.vjp(func, *_ordered(primals), has_aux=has_aux)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), the directional derivative along `tangents`), as torch.func.jvp (forward mode).

    >>> import fgrad as torch
    >>> torch.func.jvp(torch.sin, (torch.tensor([0.0]),), (torch.tensor([3.0]),))
    (tensor([0.]), tensor([3.]))
    """
    return _grad.jvp(func, _ordered(tuple(primals)), _ordered(tuple(tangents)), has_aux=has_aux)


def linearize(func, *primals):
    """(func(*primals), jvp_fn), as torch.func.linearize: the primal part runs once, jvp_fn(*tangents) per call."""
    return _grad.linearize(func, *_ordered(primals))


_RANDOMNESS = ("error", "different", "same")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """`func` mapped over a dimension of its arguments in one batched program, as torch.func.vmap.

    `in_dims`: an int, None (not mapped) or a tuple with one entry per positional argument (each an int, None or
    a pytree prefix of that argument); keyword arguments are passed unmapped, as in PyTorch. `out_dims` places
    the mapped dimension in the outputs. `randomness`: "error" (the default) refuses random ops inside, as
    PyTorch does; "same" draws one sample for the whole batch; "different" draws one for each member: the random
    op draws the whole batch's values at once, PyTorch's numbers in PyTorch's order, and each member takes its
    row by its member number, an extra mapped argument of the traced program (random ops that cannot, such as
    in-place ones, raise). `chunk_size` is accepted and ignored (one program serves every member).

    >>> import fgrad as torch
    >>> torch.func.vmap(torch.dot)(torch.ones(3, 2), torch.ones(3, 2))
    tensor([2., 2., 2.])
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    if isinstance(in_dims, list):
        in_dims = tuple(in_dims)
    name = _grad.function_name(func)

    def vmapped(*args, **kwargs):
        if randomness == "different":
            return _vmap_with_member_numbers(func, name, in_dims, out_dims, args, kwargs)

        def positional(*xs):
            return func(*xs, **kwargs)
        positional.__name__ = name
        mapped = _vmap(positional, in_axes=_ordered(in_dims), out_axes=_ordered(out_dims))
        _random.vmap_randomness.append(randomness)
        try:
            return _keeping_dict_order(mapped, f"vmap({name})")(*args)
        finally:
            _random.vmap_randomness.pop()
    vmapped.__name__ = f"vmap({name})"
    return vmapped


def _vmap_with_member_numbers(func, name, in_dims, out_dims, args, kwargs):
    """vmap(randomness="different"): the member numbers 0..B-1 ride along as one more mapped argument, and random
    ops inside read this member's number (fgrad.facade._random.sample) to take its part of one batch-wide draw."""
    leaves, _, axes = flat_args_and_axes(f"vmap({name})", args, {}, _ordered(in_dims))
    size = mapped_size(name, leaves, axes, None)

    def positional(*xs):
        *xs, member = xs
        _random.vmap_members.append((size, member._data))
        try:
            return func(*xs, **kwargs)
        finally:
            _random.vmap_members.pop()
    positional.__name__ = name
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
    mapped = _vmap(positional, in_axes=_ordered(dims + (0,)), out_axes=_ordered(out_dims))
    _random.vmap_randomness.append("different")
    try:
        # the member numbers as a Tensor, so that a call on tensors requiring grad is still recorded as one node
        return _keeping_dict_order(mapped, f"vmap({name})")(*args, make(np.arange(size, dtype=np.int64)))
    finally:
        _random.vmap_randomness.pop()


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of `func` by reverse mode (one VJP program batched over the output basis), as
    torch.func.jacrev: blocks of shape output.shape + input.shape.

    >>> import fgrad as torch
    >>> torch.func.jacrev(torch.sin)(torch.tensor([0.0, 0.0]))
    tensor([[1., 0.],
            [0., 1.]])
    """
    return _keeping_dict_order(_grad.jacrev(func, argnums, has_aux), f"jacrev({_grad.function_name(func)})")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of `func` by forward mode (one JVP program batched over the input basis), as
    torch.func.jacfwd."""
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    return _keeping_dict_order(_grad.jacfwd(func, argnums, has_aux), f"jacfwd({_grad.function_name(func)})")


def hessian(func, argnums=0):
    """The Hessian of scalar `func`, jacfwd(jacrev(func)), as torch.func.hessian.

    >>> import fgrad as torch
    >>> torch.func.hessian(lambda x: (x ** 3).sum())(torch.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return _keeping_dict_order(_grad.hessian(func, argnums), f"hessian({_grad.function_name(func)})")


# ---- modules as functions of their parameters ---------------------------------------------------------------------

def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Call `module` with its parameters and buffers replaced by the tensors in `parameter_and_buffer_dicts`
    (a dict from qualified names such as "fc1.weight" to Tensors, or a tuple of such dicts), as
    torch.func.functional_call. The module is unchanged afterwards. Under a transform the given tensors are
    traced, so `grad(lambda p: loss(functional_call(model, p, (x,))))(params)` differentiates w.r.t. them.

    `tie_weights=True` gives a replaced tensor to every name the same parameter is registered under; `strict=True`
    requires every parameter and buffer to be replaced.

    >>> import fgrad as torch
    >>> lin = torch.nn.Linear(2, 1)
    >>> torch.func.functional_call(lin, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, (torch.ones(2),))
    tensor([2.])
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call expects an nn.Module, got {type(module).__name__}")
    replacements = _merged_dicts(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    slots = _named_slots(module)
    _check_names(replacements, slots, strict)
    if tie_weights:
        by_identity = {id(slots[name][2]): value for name, value in replacements.items()
                       if name in slots and slots[name][2] is not None}
        for name, (_, _, original) in slots.items():
            if name not in replacements and original is not None and id(original) in by_identity:
                replacements[name] = by_identity[id(original)]
    saved = []
    try:
        for name, value in replacements.items():
            owner, key = _owner_of(module, name)
            table = owner._parameters if key in owner._parameters else owner._buffers
            saved.append((table, key, table.get(key)))
            table[key] = value
        return module(*args, **(kwargs or {}))
    finally:
        for table, key, original in reversed(saved):
            table[key] = original


def _merged_dicts(dicts) -> dict:
    if isinstance(dicts, dict):
        return dict(dicts)
    merged = {}
    for d in dicts:
        for name, value in d.items():
            if name in merged:
                raise ValueError(f"{name} appeared in multiple dictionaries; behavior of functional call is "
                                 "ambiguous")
            merged[name] = value
    return merged


def _named_slots(module, prefix="") -> dict:
    """Every parameter and buffer slot by qualified name: (owner module, key, current tensor), duplicates kept."""
    slots = {}
    for key, value in module._parameters.items():
        slots[prefix + key] = (module, key, value)
    for key, value in module._buffers.items():
        slots[prefix + key] = (module, key, value)
    for key, child in module._modules.items():
        if child is not None:
            slots.update(_named_slots(child, f"{prefix}{key}."))
    return slots


def _check_names(replacements, slots, strict):
    unexpected = [name for name in replacements if name not in slots]
    missing = [name for name in slots if name not in replacements]
    if unexpected or (strict and missing):
        parts = []
        if unexpected:
            parts.append("Unexpected key(s): " + ", ".join(f"'{n}'" for n in unexpected) + ".")
        if strict and missing:
            parts.append("Missing key(s): " + ", ".join(f"'{n}'" for n in missing) + ".")
        raise RuntimeError("Error(s) in reparametrizing for " + type(slots and next(iter(slots.values()))[0]
                                                                      or object).__name__ + ":\n\t" + "\n\t".join(parts))


def _owner_of(module, name):
    *path, key = name.split(".")
    owner = module
    for part in path:
        owner = owner._modules[part]
    return owner, key


def stack_module_state(models):
    """(params, buffers): each parameter and buffer of the identically structured `models` stacked along a new
    leading dimension, for vmap over an ensemble, as torch.func.stack_module_state. Stacked parameters are new
    leaves requiring grad as the originals do.

    >>> import fgrad as torch
    >>> params, buffers = torch.func.stack_module_state([torch.nn.Linear(3, 2) for _ in range(4)])
    >>> params["weight"].shape
    torch.Size([4, 2, 3])
    """
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    first = type(models[0])
    if not all(type(m) is first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = {name: stack([dict(m.named_parameters())[name].detach() for m in models])
              .requires_grad_(p.requires_grad) for name, p in models[0].named_parameters()}
    buffers = {name: stack([dict(m.named_buffers())[name] for m in models])
               for name, _ in models[0].named_buffers()}
    return params, buffers
