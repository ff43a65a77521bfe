"""torch.utils for the facade: `data` (datasets, samplers, DataLoader)."""
from fgrad.facade.utils import data

__all__ = ["data"]
