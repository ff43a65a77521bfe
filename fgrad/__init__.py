"""fgrad: trace NumPy-style Python into a typed SSA IR, differentiate it, compile it with Numba."""
from fgrad import numpy  # noqa: F401  (installs the array methods on tracers)
from fgrad.api import make_ir
from fgrad.ir import Program, check
from fgrad.ir import pytree as tree_util

__all__ = ["make_ir", "Program", "check", "numpy", "tree_util"]
