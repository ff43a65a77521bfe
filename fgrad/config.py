"""One frozen config object read from the environment. Stdlib only: any layer may import it.

The kernel cache directory (FGRAD_CACHE_DIR) is read by fgrad.backend.numba_jit.cache_dir() on each call."""
import os
from dataclasses import dataclass


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    disable_jit: bool       # FGRAD_DISABLE_JIT=1 runs programs through the reference executor
    fastmath: bool          # FGRAD_FASTMATH=1 turns on Numba fastmath by default (breaks NaN/inf semantics)
    jit_tier: str = "compiled"  # FGRAD_JIT_TIER: jit's default tier, "compiled" (default), "auto" or "eager"


def read_config() -> Config:
    """Read the configuration from the environment (called at import, and by tests after monkeypatching)."""
    return Config(
        disable_jit=_flag("FGRAD_DISABLE_JIT"),
        fastmath=_flag("FGRAD_FASTMATH"),
        jit_tier=os.environ.get("FGRAD_JIT_TIER", "").strip().lower() or "compiled",
    )


config = read_config()
