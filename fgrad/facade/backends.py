"""torch.backends and torch.accelerator for scripts that probe for devices and set backend flags.

fgrad runs on the CPU only. Real tutorials start by choosing a device and pinning determinism:

    >>> import fgrad as torch
    >>> device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    >>> device, torch.backends.mps.is_available()
    ('cpu', False)
    >>> torch.backends.cudnn.deterministic = True     # accepted and kept; fgrad's CPU ops are deterministic

The flags are plain module attributes, as PyTorch's are, so setting and reading them works; none of them
changes what fgrad computes (there is no cuDNN, TF32 or MPS here). `import torch.backends.cudnn` works too
(each namespace is a module registered under fgrad.facade.backends.*).
"""
from __future__ import annotations

import sys
import types

__all__ = ["cudnn", "mps", "cuda", "accelerator"]
__path__ = []       # a package to the import system, so `import torch.backends.cudnn` looks its submodules up


def _submodule(name: str, doc: str, **attributes) -> types.ModuleType:
    """A module `fgrad.facade.<name>` holding `attributes`, importable by its dotted name."""
    module = types.ModuleType(f"{__name__.rpartition('.')[0]}.{name}", doc)
    module.__dict__.update(attributes)
    sys.modules[module.__name__] = module
    return module


def _false() -> bool:
    return False


cudnn = _submodule("backends.cudnn", "torch.backends.cudnn: no cuDNN on fgrad's CPU backend; the flags are kept.",
                   is_available=_false, enabled=True, deterministic=False, benchmark=False, allow_tf32=True,
                   version=lambda: None)
mps = _submodule("backends.mps", "torch.backends.mps: Apple's Metal backend is never available in fgrad.",
                 is_available=_false, is_built=_false)
cuda = _submodule("backends.cuda", "torch.backends.cuda: fgrad has no CUDA; the matmul flags are kept.",
                  is_built=_false,
                  matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                                               allow_bf16_reduced_precision_reduction=True))


def _current_accelerator(check_available: bool = False):
    """PyTorch's answer on a machine without an accelerator: None."""
    return None


def _device_count() -> int:
    return 0


accelerator = _submodule("accelerator", "torch.accelerator: fgrad has none (is_available() is False).",
                         is_available=_false, current_accelerator=_current_accelerator,
                         device_count=_device_count)
