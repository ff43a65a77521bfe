"""Valid sample inputs for the effect primitive debug_callback (fgrad.debug.print / callback), for the
registry-driven rule tests. The sample's callback records its arguments instead of printing, so the rule tests
stay quiet; what it saw is in RECORDED."""
import numpy as np

import fgrad

RECORDED = []


def _sample(*args):
    """(args, params) of the debug_callback equation that `fgrad.debug.callback(RECORDED.append, ...)` records."""
    program = fgrad.make_ir(lambda *xs: fgrad.debug.callback(lambda *v: RECORDED.append(v), *xs) or xs[0])(*args)
    (eqn,) = [e for e in program.equations if e.prim.name == "debug_callback"]
    return tuple(np.asarray(a) for a in args), dict(eqn.params)


SAMPLES = {"debug_callback": [_sample(np.array([1.0, -2.0, 3.0])), _sample(np.float64(0.5), np.arange(6.0).reshape(2, 3))]}
NON_DIFFERENTIABLE = set()
