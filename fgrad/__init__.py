"""fgrad: trace NumPy-style Python into a typed SSA IR, differentiate it, compile it with Numba.

`import fgrad as torch` also works: the PyTorch-compatible facade (fgrad.facade) is re-exported here,
with `fgrad.nn`, `fgrad.optim`, `fgrad.autograd` and `fgrad.utils` registered as modules. After
`sys.modules["torch"] = fgrad`, `from torch.utils.data import DataLoader` imports work too.
"""
import sys as _sys

from fgrad import numpy  # noqa: F401  (installs the array methods on tracers)
from fgrad.numpy import Array
from fgrad.api import (check_grads, checkpoint, checkpoint_policies, custom_jvp, custom_vjp, grad, hessian, jacfwd, jacobian, jacrev,
                       jvp, jit, linearize, make_ir, remat, show_source, stop_gradient, value_and_grad, vjp, vmap)
from fgrad import lax  # noqa: F401  (cond, switch, fori_loop, while_loop, scan, map)
from fgrad import config  # noqa: F401  (fgrad.config.update("debug_nans", True), as jax.config)
from fgrad.ops import debug  # noqa: F401  (fgrad.debug.print, fgrad.debug.callback)
from fgrad import viz  # noqa: F401  (to_dot, make_dot; Programs render as pictures in Jupyter)
from fgrad.ir import Program, check
from fgrad.ir import pytree as tree_util
from fgrad import facade as _facade
from fgrad.facade import *  # noqa: F401,F403  (tensor, Tensor, no_grad, sin, ..., nn, optim, autograd)

# `import fgrad.nn.functional as F` must give the facade's modules, not load them a second time.
for _name in ("nn", "nn.functional", "nn.init", "nn.utils", "nn.utils.rnn", "optim", "optim.lr_scheduler", "autograd", "utils", "utils.data",
              "func", "autograd.forward_ad", "autograd.functional", "backends", "backends.cudnn", "backends.mps",
              "backends.cuda", "accelerator", "serialization", "linalg"):
    _sys.modules[f"fgrad.{_name}"] = _sys.modules[f"fgrad.facade.{_name}"]
_sys.modules["fgrad.debug"] = debug          # `import fgrad.debug` / `from fgrad import debug`
for _name in ("testing", "special", "distributions", "distributions.constraints"):    # the namespace's breadth
    _sys.modules[f"fgrad.{_name}"] = _sys.modules[f"fgrad.facade.{_name}"]
_facade._module_alias.install(_sys.modules[__name__])

_TRANSFORMS = ["Array", "make_ir", "Program", "check", "numpy", "tree_util",
               "vmap", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian",
               "stop_gradient", "custom_vjp", "custom_jvp", "check_grads", "jit", "show_source", "lax", "checkpoint",
               "checkpoint_policies", "remat", "config", "debug", "viz"]
__all__ = _TRANSFORMS + list(_facade.__all__)
