"""The reference executor: every equation through its primitive's numpy implementation."""
from __future__ import annotations

import numpy as np

from fgrad.ir import Literal, Program


def evaluate(program: Program, *args) -> list:
    """Run `program` on concrete numpy values; returns the list of outputs.

    >>> evaluate(fgrad.make_ir(fnp.sin)(0.5), 0.5)        # doctest: +SKIP
    [array(0.47942554)]
    """
    if len(args) != len(program.inputs):
        raise TypeError(f"the program takes {len(program.inputs)} inputs, got {len(args)}")
    env = {v: np.asarray(a, dtype=v.type.dtype) for v, a in zip(program.inputs, args)}

    def read(atom):
        return atom.value if type(atom) is Literal else env[atom]

    for eqn in program.equations:
        out = eqn.prim.impl(*[read(a) for a in eqn.inputs], **eqn.params)
        env.update(zip(eqn.outputs, out if eqn.prim.multiple_results else [out]))
    return [np.asarray(read(v)) for v in program.outputs]
