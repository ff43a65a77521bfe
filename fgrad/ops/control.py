"""Derivative control: `stop_gradient`, the identity whose derivative is declared zero.

The custom-rule primitives (custom_vjp / custom_jvp calls) live in fgrad/transforms/custom.py: their
rules run the jvp and vjp transforms on the held primal program, and ops may not import transforms.
"""
from __future__ import annotations

from fgrad.ir import Primitive, pytree
from fgrad.ops.base import as_value, same_type, zero_rules

__all__ = ["stop_gradient", "stop_gradient_p"]

# The value passes through; every transform sees a constant (zero JVP, zero VJP, declared on purpose).
stop_gradient_p = Primitive(
    "stop_gradient", kind="elementwise", shape_rule=same_type, impl=lambda x: x,
    jvp=zero_rules(1), vjp=zero_rules(1),
    batch=lambda args, dims: (stop_gradient_p.bind(args[0]), dims[0]), numba="({0})",
    commutative=False, linear_in=(0,), expensive=False, vector_math=None, simplify=None,
    copies_input=True, distributes_over_add=False, keeps_order=False, aliases_input=True)


def stop_gradient(x):
    """`x` unchanged, treated as a constant by grad, vjp and jvp (applies to every leaf of a pytree).

    >>> import fgrad
    >>> fgrad.grad(lambda x: x * fgrad.stop_gradient(x))(3.0)   # d/dx of x * const
    array(3.)
    """
    return pytree.tree_map(lambda leaf: stop_gradient_p.bind(as_value(leaf)), x)
