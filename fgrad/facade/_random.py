"""Random numbers: a global numpy Generator seeded by `manual_seed` (values differ from PyTorch's)."""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 67280421310721     # PyTorch's default seed, so `initial_seed()` reads the same


class Generator:
    """torch.Generator over numpy's PCG64."""

    def __init__(self, device="cpu"):
        self._seed = DEFAULT_SEED
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 2 ** 64
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        return self

    def seed(self) -> int:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self

    @property
    def device(self):
        from fgrad.facade._tensor import device
        return device("cpu")


default_generator = Generator()


def generator_of(generator) -> np.random.Generator:
    return (generator or default_generator)._rng


def manual_seed(seed) -> Generator:
    """Seed the global generator (rand, randn, randint, randperm, nn initialisation)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)
