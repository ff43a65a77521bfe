"""fgrad: trace NumPy-style Python into a typed SSA IR, differentiate it, compile it with Numba."""
from fgrad import numpy  # noqa: F401  (installs the array methods on tracers)
from fgrad.api import (check_grads, custom_jvp, custom_vjp, grad, hessian, jacfwd, jacobian, jacrev, jvp,
                       jit, linearize, make_ir, show_source, stop_gradient, value_and_grad, vjp)
from fgrad.ir import Program, check
from fgrad.ir import pytree as tree_util

__all__ = ["make_ir", "Program", "check", "numpy", "tree_util",
           "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian",
           "stop_gradient", "custom_vjp", "custom_jvp", "check_grads", "jit", "show_source"]
