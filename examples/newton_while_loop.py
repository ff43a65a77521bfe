"""Newton's method in a while_loop, and its gradient by reverse mode through the loop.

    python examples/newton_while_loop.py

The loop runs until the residual is small, so how many iterations it takes depends on the input. fgrad
records each iteration's reverse-sweep residuals on a tape and runs the reverse loop that many times: reverse
mode through a data-dependent while_loop, eager and compiled (JAX refuses this). The derivative agrees with the
implicit function theorem.
"""
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import lax


def cube_root_of_p_system(p):
    """The root x of x**3 + p*x - 1 = 0, per element of p, by Newton's method until every element converged."""
    def residual(x):
        return x ** 3 + p * x - 1.0

    def step(x):
        return x - residual(x) / (3.0 * x ** 2 + p)

    def not_done(x):
        return fnp.max(fnp.abs(residual(x))) > 1e-13

    return lax.while_loop(not_done, step, fnp.ones_like(p))


p = np.array([0.5, 1.0, 2.0, 4.0])
root = cube_root_of_p_system(p)
print("roots:", np.round(root, 6))


def objective(p):
    return fnp.sum(cube_root_of_p_system(p) ** 2)


g = fgrad.grad(objective)(p)
# The implicit function theorem: d root / d p = -root / (3 root^2 + p).
analytic = 2 * root * (-root / (3 * root ** 2 + p))
print("gradient through the loop:         ", np.round(g, 8))
print("implicit-function-theorem gradient:", np.round(analytic, 8))

compiled = fgrad.jit(fgrad.grad(objective))
print("the same, compiled as loops:       ", np.round(compiled(p), 8))

# The program: a while that records a tape (f64[?,4]: one row per iteration) and a reverse scan over it.
print()
print("the gradient program, with the loop's tape and the reverse scan:")
print(compiled.lower(p).program)
