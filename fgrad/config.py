"""One frozen config object read from the environment, and switches that can change at run time. Stdlib only:
any layer may import it.

    fgrad.config.update("debug_nans", True)      # as jax.config.update; or FGRAD_DEBUG_NANS=1
    fgrad.config.debug_nans                      # -> True
    with fgrad.config.override(debug_infs=True):  # for a block only
        ...

The kernel cache directory (FGRAD_CACHE_DIR) is read by fgrad.backend.numba_jit.cache_dir() on each call.

keep_freed_memory (on by default) lets glibc's malloc keep freed blocks of up to 32 MB for reuse instead of
handing them back to the kernel (fgrad.backend.memory): the numpy executor allocates a new array per
equation, and on a training step of a small CNN re-faulting those pages cost 40% of the step.

A switch whose cost must be zero while it is off (debug_nans: no branch per equation) is not read on the hot
path at all: the layers that implement it register a listener (`on_change`) and swap in their checking code
when it turns on, and the plain code back when it turns off.
"""
import contextlib
import dataclasses
import os
import threading
from dataclasses import dataclass


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    disable_jit: bool = False   # FGRAD_DISABLE_JIT=1 runs programs through the reference executor
    fastmath: bool = False      # FGRAD_FASTMATH=1 turns on Numba fastmath by default (breaks NaN/inf semantics)
    debug_nans: bool = False    # FGRAD_DEBUG_NANS=1: a NaN in a result raises FloatingPointError naming its line
    debug_infs: bool = False    # FGRAD_DEBUG_INFS=1: the same for +-inf
    jit_tier: str = "compiled"  # FGRAD_JIT_TIER: jit's default tier, "compiled" (default), "auto" or "eager"
    keep_freed_memory: bool = True  # FGRAD_KEEP_FREED_MEMORY=0: leave glibc malloc's policy alone (see below)


def read_config() -> Config:
    """Read the configuration from the environment (called at import, and by tests after monkeypatching)."""
    return Config(
        disable_jit=_flag("FGRAD_DISABLE_JIT"),
        fastmath=_flag("FGRAD_FASTMATH"),
        debug_nans=_flag("FGRAD_DEBUG_NANS"),
        debug_infs=_flag("FGRAD_DEBUG_INFS"),
        jit_tier=os.environ.get("FGRAD_JIT_TIER", "").strip().lower() or "compiled",
        keep_freed_memory=os.environ.get("FGRAD_KEEP_FREED_MEMORY", "1").strip().lower() not in
        ("0", "false", "no", "off"),
    )


config = read_config()

_listeners = []
_lock = threading.Lock()
OPTIONS = tuple(f.name for f in dataclasses.fields(Config))


def on_change(listener) -> None:
    """Call `listener(config)` now and after every `update` (how a layer installs a switch's code)."""
    _listeners.append(listener)
    listener(config)


def update(name: str, value) -> None:
    """Set option `name` (one of OPTIONS) for the whole process, as jax.config.update.

    >>> import fgrad
    >>> fgrad.config.update("debug_nans", True); fgrad.config.debug_nans
    True
    >>> fgrad.config.update("debug_nans", False)
    """
    global config
    if name not in OPTIONS:
        raise AttributeError(f"fgrad.config has no option {name!r}; the options are {', '.join(OPTIONS)}")
    if not isinstance(value, bool):
        raise TypeError(f"fgrad.config.update({name!r}, ...) takes True or False, got {value!r}")
    with _lock:
        config = dataclasses.replace(config, **{name: value})
        for listener in _listeners:
            listener(config)


@contextlib.contextmanager
def override(**options):
    """Set options for the duration of a `with` block (process-wide, like `update`), then restore them.

    >>> import fgrad
    >>> with fgrad.config.override(debug_nans=True):
    ...     fgrad.config.debug_nans
    True
    """
    saved = {name: getattr(config, name) for name in options}
    for name, value in options.items():
        update(name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            update(name, value)


def __getattr__(name):
    # fgrad.config.debug_nans reads the current value (the `config` object is replaced on each update).
    if name in OPTIONS:
        return getattr(config, name)
    raise AttributeError(f"module 'fgrad.config' has no attribute {name!r}")
