"""`sys.modules["torch"] = fgrad`, then `from torch.utils.data import DataLoader`: submodule imports
through a name bound to fgrad.

Python imports `torch.utils.data` by looking up "torch.utils" and "torch.utils.data" in sys.modules and
otherwise searching the parent's `__path__` for files, which would load fgrad's modules a second time
under the new names (two DataLoader classes) or find nothing (fgrad.nn lives in fgrad/facade/nn). This
finder answers for any dotted name whose first part is bound to fgrad in sys.modules: the module is
fgrad's own (`torch.nn.functional` is fgrad.nn.functional, the same object), and its spec is left as it is.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["install"]


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an already loaded module."""

    def __init__(self, module):
        self.module = module
        self.original_spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.original_spec     # the import system set the alias's spec; keep fgrad's


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self, package):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        if not rest or head == self.package.__name__ or sys.modules.get(head) is not self.package:
            return None
        real_name = f"{self.package.__name__}.{rest}"
        try:
            module = importlib.import_module(real_name)
        except ModuleNotFoundError:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))


def install(package) -> None:
    """Let submodules of `package` (fgrad) be imported through any name it is bound to in sys.modules."""
    if not any(isinstance(f, _AliasFinder) and f.package is package for f in sys.meta_path):
        # first, so that the path finder never loads a second copy of an fgrad file under the alias
        sys.meta_path.insert(0, _AliasFinder(package))
