"""The public functions that compose tracing, transforms and backends."""
from __future__ import annotations

from fgrad.ir import Program, trace_pytree
from fgrad.ops.control import stop_gradient
from fgrad.transforms.check import check_grads
from fgrad.transforms.custom import custom_jvp, custom_vjp
from fgrad.transforms.grad import (grad, hessian, jacfwd, jacobian, jacrev, jvp, linearize, value_and_grad,
                                   vjp)
from fgrad.transforms.vmap import vmap
from fgrad.ops import matmul_p
from fgrad.transforms.control_flow import Policy, checkpoint_p
from fgrad.ir import pytree
from fgrad.backend.jit import Jitted, jit

__all__ = ["make_ir", "vmap", "checkpoint", "remat", "checkpoint_policies", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "jacobian",
           "hessian", "stop_gradient", "custom_vjp", "custom_jvp", "check_grads", "jit", "show_source"]


def make_ir(fun, static_argnums=()):
    """A function that traces `fun` on example arguments and returns its Program (prints like a jaxpr).

    >>> import fgrad, fgrad.numpy as fnp
    >>> print(fgrad.make_ir(lambda x: fnp.sum(fnp.sin(x)))(fnp.ones(3)))
    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[] = reduce_sum[axes=(0,)] b
      return c
    }
    """
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def traced(*args, **kwargs) -> Program:
        program, captured, _, _ = trace_pytree(fun, args, kwargs, static_argnums)
        if captured:
            raise ValueError("make_ir was called inside another transform on a function that closes over "
                             "its traced values; call make_ir at the top level")
        return program
    return traced


def show_source(fun, *args, **kwargs):
    """Print the simplified program and the Numba kernel source `jit(fun)` runs for these arguments.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.show_source(lambda x: fnp.sum(fnp.sin(x)), fnp.ones(3))   # doctest: +SKIP
    """
    jitted = fun if isinstance(fun, Jitted) else jit(fun)
    lowered = jitted.lower(*args, **kwargs)
    print(lowered.program)
    print()
    print(lowered.source)


class checkpoint_policies:
    """Which intermediates `checkpoint(fun, policy=...)` may keep from the forward sweep (as
    jax.checkpoint_policies); the rest are recomputed in the reverse sweep. A policy is also any function
    `saveable(prim, *in_types, **params) -> bool`."""
    nothing_saveable = Policy("nothing_saveable", lambda prim, *types, **params: False)
    everything_saveable = Policy("everything_saveable", lambda prim, *types, **params: True)
    dots_saveable = Policy("dots_saveable", lambda prim, *types, **params: prim is matmul_p)
    dots_with_no_batch_dims_saveable = Policy(
        "dots_with_no_batch_dims_saveable",
        lambda prim, *types, **params: prim is matmul_p and all(t.ndim <= 2 for t in types))


def checkpoint(fun, *, policy=None, static_argnums=()):
    """`fun` whose reverse-mode derivative recomputes its intermediates instead of storing them (jax.checkpoint,
    "remat"): memory for compute. Inside a scan body it bounds a long loop's memory by the carries alone.
    `policy` (checkpoint_policies, or a function saveable(prim, *in_types, **params) -> bool) names the
    intermediates worth keeping, e.g. `dots_saveable` keeps matrix products and recomputes the cheap rest.

    >>> import fgrad, fgrad.numpy as fnp
    >>> f = fgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> fgrad.grad(f)(0.0)
    array(1.)
    """
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    name = getattr(fun, "__name__", None) or type(fun).__name__
    if policy is not None and not isinstance(policy, Policy):
        if not callable(policy):
            raise TypeError(f"checkpoint's policy must be one of fgrad.checkpoint_policies or a function "
                            f"saveable(prim, *in_types, **params) -> bool, got {type(policy).__name__}")
        policy = Policy(getattr(policy, "__qualname__", None) or type(policy).__name__, policy)

    def checkpointed(*args, **kwargs):
        program, captured, out_tree, leaves = trace_pytree(fun, args, kwargs, static_argnums)
        outs = checkpoint_p.bind(*leaves, *captured, primal=program, policy=policy)
        return pytree.tree_unflatten(out_tree, outs)

    checkpointed.__name__ = f"checkpoint({name})"
    return checkpointed


remat = checkpoint
