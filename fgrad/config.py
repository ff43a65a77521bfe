"""One frozen config object read from the environment. Stdlib only: any layer may import it."""
import os
from dataclasses import dataclass


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    cache_dir: str | None   # FGRAD_CACHE_DIR; None means the user cache dir
    disable_jit: bool       # FGRAD_DISABLE_JIT=1 runs programs through the reference executor
    fastmath: bool          # FGRAD_FASTMATH=1 turns on Numba fastmath by default (breaks NaN/inf semantics)


def read_config() -> Config:
    """Read the configuration from the environment (called at import, and by tests after monkeypatching)."""
    return Config(
        cache_dir=os.environ.get("FGRAD_CACHE_DIR") or None,
        disable_jit=_flag("FGRAD_DISABLE_JIT"),
        fastmath=_flag("FGRAD_FASTMATH"),
    )


config = read_config()
