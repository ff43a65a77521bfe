"""Results the caller owns: concrete values handed to the user never share memory with anything else.

Evaluating a program on numpy values can give back an argument itself (`grad(lambda w, x: sum(w * x))`
returns `x`), a view of one (reshape, transpose), a program constant (a Literal's value, which may be an
array the user's function closed over), one array twice, or a read-only broadcast view. Mutating such a
result (`g *= lr`) would silently change the caller's data, a cached constant or another result. The
transforms and fgrad.numpy's eager functions pass their results through `owned_results`, which copies
exactly those, and nothing that is already a fresh, writable array (so the common case costs no copy).
"""
from __future__ import annotations

import numpy as np

from fgrad.ir.core import Literal, Program


def memory_root(a):
    """The object owning `a`'s memory: the end of its `.base` chain (`a` itself when it owns its data)."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def owned_results(values, protected=()) -> list:
    """`values` with every numpy array made one the caller owns: writable, sharing memory with no array in
    `protected` (the arguments and constants) nor with an earlier value. Only arrays failing that are
    copied; tracers, numpy scalars and other values pass through.

    >>> x = np.ones(2)
    >>> a, b = owned_results([x, x.reshape(1, 2)], protected=[x])
    >>> a is x, np.shares_memory(a, b)
    (False, False)
    """
    taken = {id(memory_root(p)) for p in protected if isinstance(p, np.ndarray)}
    out = []
    for v in values:
        if isinstance(v, np.ndarray):
            root = memory_root(v)
            if not v.flags.writeable or id(root) in taken:
                v = v.copy()
                root = v
            taken.add(id(root))
        out.append(v)
    return out


def program_constants(program: Program) -> list:
    """The values of every Literal in `program` and in the programs its equations hold in their params
    (custom rules' primal programs, control flow's branches and bodies)."""
    found, stack = [], [program]
    while stack:
        p = stack.pop()
        atoms = [a for eqn in p.equations for a in eqn.inputs] + list(p.outputs)
        found.extend(a.value for a in atoms if type(a) is Literal)
        for eqn in p.equations:
            for value in eqn.params.values():
                stack.extend(v for v in (value if isinstance(value, (tuple, list)) else (value,))
                             if isinstance(v, Program))
    return found
