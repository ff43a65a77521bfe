"""Collation: how the DataLoader turns a list of samples into a batch, as PyTorch's default_collate does.

    tensors          stacked along a new first dimension
    numpy arrays     as tensors, then stacked; numpy scalars -> a tensor of their dtype
    floats / ints    a float64 / int64 (bool for bools) tensor
    str, bytes       the list as is
    dicts            a dict (of the sample's mapping type) of collated values per key
    namedtuples      the namedtuple of collated fields
    tuples, lists    a list of collated columns (all samples must have the same length)

`collate(batch, collate_fn_map=...)` is the general walk, with a registry of per-type functions;
`default_collate_fn_map` is the default registry (extend it to collate more types).
"""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from fgrad.facade._tensor import Tensor, make

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

_NUMPY_STRINGS_OR_OBJECTS = re.compile(r"[SaUO]")

default_collate_err_msg_format = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                                  "lists; found {}")


def default_convert(data):
    """Numpy arrays (and numpy scalars) inside `data` become tensors; containers keep their type; the rest
    is returned unchanged (the DataLoader's collate_fn when batch_size=None)."""
    from fgrad.facade._creation import as_tensor
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if elem_type.__name__ == "ndarray" and _NUMPY_STRINGS_OR_OBJECTS.search(data.dtype.str) is not None:
            return data
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(original, values: dict):
    """`values` in the original mapping's type when that type can be copied or built from a dict."""
    try:
        if isinstance(original, collections.abc.MutableMapping):
            clone = copy.copy(original)
            clone.update(values)
            return clone
        return type(original)(values)
    except TypeError:
        return values


def _rebuild_sequence(original, values: list):
    try:
        if isinstance(original, collections.abc.MutableSequence):
            clone = copy.copy(original)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(original)(values)
    except TypeError:
        return values


def collate(batch, *, collate_fn_map=None):
    """Collate a list of samples: the registry's function for the first sample's type (exact type first,
    then isinstance in registry order), else mappings, namedtuples and sequences recursively."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                                       for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(sample) == size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(list(samples), collate_fn_map=collate_fn_map) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        return _rebuild_sequence(elem, columns)
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    """torch.stack(batch): samples that need no gradient and share a dtype are stacked by numpy directly
    (the same tensor, without the op dispatch that costs more than the copy for small samples)."""
    from fgrad.facade._shapes import stack
    dtype = batch[0]._data.dtype
    if all(not t._requires_grad and t._grad_fn is None and t._data.dtype == dtype for t in batch):
        shape = batch[0]._data.shape
        if any(t._data.shape != shape for t in batch):
            return stack(batch, 0)                 # PyTorch's error about the sizes
        return make(np.stack([t._data for t in batch]))
    return stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    from fgrad.facade._creation import as_tensor
    elem = batch[0]
    if _NUMPY_STRINGS_OR_OBJECTS.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    from fgrad.facade._creation import as_tensor
    return as_tensor(np.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    from fgrad.facade._creation import tensor
    from fgrad.facade._dtypes import float64
    return tensor(batch, dtype=float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    from fgrad.facade._creation import tensor
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """The DataLoader's default collate_fn (see the module docstring).

    >>> import fgrad as torch
    >>> default_collate([(torch.tensor([1.0, 2.0]), 0), (torch.tensor([3.0, 4.0]), 1)])
    [tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1])]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
