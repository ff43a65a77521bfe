"""torch.utils.data for the facade: datasets, samplers, collation and the DataLoader.

They draw their randomness (RandomSampler's shuffles, random_split's permutation, the DataLoader's
per-iterator base seed) from fgrad's generators exactly as PyTorch does from its own, so after the same
torch.manual_seed, or with a Generator seeded alike, the batches come out in PyTorch's order.

    >>> import fgrad as torch
    >>> from fgrad.utils.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(torch.arange(6.0)), batch_size=4,
    ...                     shuffle=True, generator=torch.Generator().manual_seed(0))
    >>> [batch for batch, in loader]
    [tensor([5., 1., 0., 3.]), tensor([2., 4.])]
"""
from fgrad.facade.utils.data.collate import default_collate, default_convert
from fgrad.facade.utils.data.dataloader import DataLoader, get_worker_info
from fgrad.facade.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset,
                                             Subset, TensorDataset, random_split)
from fgrad.facade.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                             SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "default_collate", "default_convert", "get_worker_info",
           "random_split"]
