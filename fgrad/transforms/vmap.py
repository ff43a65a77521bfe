"""Batching: `vmap(fun)` maps `fun` over an axis of its arguments by rewriting its program, not by looping.

`fun` is traced once on the per-example types (the batch axis removed); `batch_eval` then runs that program
with each value paired with its batch axis (or None: the same for every member) and calls each primitive's
batching rule where an input is batched. The rules bind fgrad ops, so at the top level the batched program
runs eagerly, and inside a trace (jit, grad, another vmap) it is recorded: a batched program is an ordinary
program, printable, differentiable and jittable.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import (ArrayType, Literal, MissingRuleError, Program, pytree, restored_source, set_current_source,
                      trace_flat, typeof)
from fgrad.ir.tracing import is_weak
from fgrad.numpy._array import as_arrays
from fgrad.ops.core import broadcast_to, moveaxis

__all__ = ["vmap", "batch_eval", "batch_program"]


def batch_eval(program: Program, args, dims) -> tuple[list, list]:
    """Run `program` on `args` whose batch axes are `dims` (an int or None each); return (outputs, out dims).

    One interpreter loop: an equation none of whose inputs is batched is bound as it is; otherwise its
    primitive's batching rule gives the batched output and where its batch axis is.
    """
    env = dict(zip(program.inputs, args))
    dim_env = dict(zip(program.inputs, dims))

    def read(a):
        return a.value if type(a) is Literal else env[a]

    def read_dim(a):
        return None if type(a) is Literal else dim_env[a]

    with restored_source():
        for eqn in program.equations:
            set_current_source(eqn.source)      # a batching rule's equations keep this equation's line
            outs, out_dims = batch_equation(eqn, [read(a) for a in eqn.inputs], [read_dim(a) for a in eqn.inputs])
            env.update(zip(eqn.outputs, outs))
            dim_env.update(zip(eqn.outputs, out_dims))
    return [read(v) for v in program.outputs], [read_dim(v) for v in program.outputs]


def batch_equation(eqn, values, in_dims) -> tuple[list, list]:
    """`eqn` on `values` with batch axes `in_dims`: (outputs, their batch axes)."""
    if all(d is None for d in in_dims):
        out = eqn.prim.bind(*values, **eqn.params)
        outs = out if eqn.prim.multiple_results else [out]
        return outs, [None] * len(outs)
    rule = eqn.prim.batch
    if not callable(rule):
        raise MissingRuleError(f"primitive '{eqn.prim.name}' has no batching rule; add `batch=` to the "
                               f"block that declares {eqn.prim.name}_p in fgrad/ops")
    out, out_dim = rule(values, in_dims, **eqn.params)
    return (out, out_dim) if eqn.prim.multiple_results else ([out], [out_dim])


def batch_program(program: Program, dims, size: int) -> tuple[Program, list]:
    """`program` batched along `dims` of its inputs, every output batched along axis 0: the batched Program
    (inputs of the batched types) and its captured values (for rules that hold sub-programs)."""
    in_types = [t if d is None else _with_axis(t, d, size) for t, d in zip(program.in_types, dims)]

    def fun(*args):
        outs, out_dims = batch_eval(program, args, dims)
        return [move_batch_axis(x, d, 0, size) for x, d in zip(outs, out_dims)]

    return trace_flat(fun, in_types)


def _with_axis(t: ArrayType, axis: int, size: int) -> ArrayType:
    shape = list(t.shape)
    shape.insert(axis, size)
    return ArrayType(shape, t.dtype)


def move_batch_axis(x, dim, to: int, size: int):
    """`x` with its batch axis at `to`; an unbatched `x` (dim None) broadcast along a new axis there."""
    if dim is None:
        shape = typeof(x).shape
        x = broadcast_to(x, (size,) + shape)
        dim = 0
    return moveaxis(x, dim, to)


# ---- vmap ---------------------------------------------------------------------------------------------

def vmap(fun, in_axes=0, out_axes=0, axis_size=None, *, in_dims=None, out_dims=None, randomness="error",
         chunk_size=None):
    """`fun` mapped over an axis of its arguments, as JAX's vmap: one batched program, no Python loop.

    `in_axes` is an int, None (not mapped) or a tuple with one entry per positional argument, each an int,
    None or a pytree prefix of that argument; negative axes count from the end. Keyword arguments are
    mapped along axis 0. `out_axes` places the batch axis in the outputs (a pytree prefix of them, None for
    an output that must be the same for every member). `axis_size` is needed only when nothing is mapped.

    PyTorch's keywords are accepted too, since `torch.vmap` is this function under `import fgrad as torch`:
    `in_dims`/`out_dims` stand for in_axes/out_axes, and then keyword arguments are passed unmapped, as
    torch.vmap passes them; `randomness` and `chunk_size` are checked and otherwise ignored (fgrad.func.vmap).

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.vmap(lambda x, w: fnp.dot(x, w), in_axes=(0, None))(fnp.ones((3, 2)), fnp.array([1.0, 2.0]))
    array([3., 3., 3.])
    """
    if in_dims is not None or out_dims is not None:
        return _torch_style_vmap(fun, 0 if in_dims is None else in_dims, 0 if out_dims is None else out_dims)
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    name = getattr(fun, "__name__", None) or type(fun).__name__
    check_axes_spec(in_axes, "in_axes", name)
    check_axes_spec(out_axes, "out_axes", name)

    def vmapped(*args, **kwargs):
        leaves, in_tree, axes = flat_args_and_axes(name, args, kwargs, in_axes)
        size = mapped_size(name, leaves, axes, axis_size)
        per_example = [typeof(x) if a is None else _without_axis(typeof(x), a) for x, a in zip(leaves, axes)]
        out_tree_box = []

        def flat_fun(*tracers):
            call_args, call_kwargs = pytree.tree_unflatten(in_tree, tracers)
            out_leaves, out_tree = pytree.tree_flatten(fun(*call_args, **call_kwargs))
            out_tree_box.append(out_tree)
            return out_leaves

        weak = [is_weak(x) and a is None for x, a in zip(leaves, axes)]
        program, captured = trace_flat(flat_fun, per_example, weak)
        outs, out_dims = batch_eval(program, [*leaves, *captured], [*axes, *[None] * len(captured)])
        out_tree = out_tree_box[0]
        out_axes_flat = leaf_axes(name, "out_axes", out_axes, out_tree, "the output")
        return pytree.tree_unflatten(out_tree, as_arrays([
            place_output(name, x, d, a, size, k) for k, (x, d, a) in enumerate(zip(outs, out_dims, out_axes_flat))]))

    vmapped.__name__ = f"vmap({name})"
    vmapped.__doc__ = getattr(fun, "__doc__", None)
    return vmapped


def _torch_style_vmap(fun, in_dims, out_dims):
    """vmap with PyTorch's keyword semantics: keyword arguments reach `fun` unmapped."""
    name = getattr(fun, "__name__", None) or type(fun).__name__
    in_dims = tuple(in_dims) if isinstance(in_dims, list) else in_dims

    def vmapped(*args, **kwargs):
        def positional(*xs):
            return fun(*xs, **kwargs)
        positional.__name__ = name
        return vmap(positional, in_axes=in_dims, out_axes=out_dims)(*args)
    vmapped.__name__ = f"vmap({name})"
    return vmapped


def check_axes_spec(spec, what: str, name: str):
    """in_axes / out_axes hold ints and None only (in containers); anything else is a TypeError up front."""
    for leaf in pytree.tree_leaves(spec, is_leaf=lambda x: x is None):
        if leaf is not None and not isinstance(leaf, (int, np.integer)) or isinstance(leaf, bool):
            raise TypeError(f"vmap({name}): {what} must be an int, None, or a container (tuple, list, dict) of "
                            f"them matching the arguments, got {type(leaf).__name__} {leaf!r} in {what}={spec!r}")


def flat_args_and_axes(name, args, kwargs, in_axes):
    """The leaves of (args, kwargs), their tree, and each leaf's batch axis (normalised, or None)."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple) and len(in_axes) != len(args):
        raise ValueError(f"vmap({name}): in_axes has {len(in_axes)} entries but {name} was called with {len(args)} "
                         f"positional arguments; give one entry (an int, None or a pytree prefix) per argument")
    leaves, in_tree = pytree.tree_flatten((tuple(args), kwargs))
    arg_axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    axes = []
    for i, (arg, spec) in enumerate(zip(args, arg_axes)):
        axes += leaf_axes(name, "in_axes", spec, pytree.tree_structure(arg), f"argument {i}")
    axes += [0] * (len(leaves) - len(axes))      # keyword arguments: axis 0
    normalised = []
    for k, (x, a) in enumerate(zip(leaves, axes)):
        if a is None:
            normalised.append(None)
            continue
        ndim = typeof(x).ndim
        if not -ndim <= a < ndim:
            raise ValueError(f"vmap({name}): in_axes puts the mapped axis of leaf {k} of the arguments at {a}, but "
                             f"that leaf has shape {typeof(x).shape} (rank {ndim}); choose an axis in "
                             f"{-ndim}..{ndim - 1} or None" if ndim else
                             f"vmap({name}): leaf {k} of the arguments is a scalar ({typeof(x)}) and cannot be "
                             f"mapped over axis {a}; give it in_axes None")
        normalised.append(int(a) % ndim)
    return leaves, in_tree, normalised


def leaf_axes(name, what, spec, tree: pytree.TreeDef, where: str) -> list:
    """One axis per leaf of `tree` from `spec`, an int/None or a pytree prefix of the tree."""
    spec_leaves, spec_tree = pytree.tree_flatten(spec, is_leaf=lambda x: x is None)
    dummy = pytree.tree_unflatten(tree, [0] * tree.num_leaves)
    try:
        subtrees = pytree.tree_flatten_up_to(spec_tree, dummy)
    except ValueError as e:
        raise ValueError(f"vmap({name}): {what} {spec!r} for {where} is not a prefix of its structure {tree!r}: "
                         f"{e}") from None
    axes = []
    for a, sub in zip(spec_leaves, subtrees):
        axes += [a] * len(pytree.tree_leaves(sub))
    return axes


def _without_axis(t: ArrayType, axis: int) -> ArrayType:
    return ArrayType(t.shape[:axis] + t.shape[axis + 1:], t.dtype)


def mapped_size(name, leaves, axes, axis_size) -> int:
    """The batch size every mapped leaf agrees on (and axis_size, when given); errors name the disagreement."""
    sizes = [(k, typeof(x).shape[a], typeof(x).shape, a) for k, (x, a) in enumerate(zip(leaves, axes))
             if a is not None]
    if not sizes:
        if axis_size is None:
            raise ValueError(f"vmap({name}) must map at least one argument (every in_axes entry is None and no "
                             "keyword argument was given); pass axis_size=... to broadcast instead")
        return int(axis_size)
    distinct = {s for _, s, _, _ in sizes}
    if axis_size is not None:
        distinct.add(int(axis_size))
    if len(distinct) > 1:
        listed = "; ".join(f"leaf {k} of shape {shape} has size {s} along axis {a}" for k, s, shape, a in sizes)
        extra = f"; axis_size={axis_size}" if axis_size is not None else ""
        raise ValueError(f"vmap({name}) got inconsistent sizes for the mapped axis: {listed}{extra}")
    return sizes[0][1]


def place_output(name, x, dim, out_axis, size: int, k: int):
    """Output leaf `x` (batch axis `dim`) with its batch axis at `out_axis` (broadcast if unbatched)."""
    if out_axis is None:
        if dim is not None:
            raise ValueError(f"vmap({name}): output leaf {k} depends on the mapped inputs, but out_axes is None for "
                             "it; give it an axis to put the mapped dimension at")
        return x
    ndim = typeof(x).ndim + (dim is None)
    if not -ndim <= out_axis < ndim:
        raise ValueError(f"vmap({name}): out_axes {out_axis} is out of range for output leaf {k} of rank {ndim}")
    return move_batch_axis(x, dim, int(out_axis) % ndim, size)
