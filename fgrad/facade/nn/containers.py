"""Keyed and parameter containers: ModuleDict, ParameterList, ParameterDict (Sequential and ModuleList are in
fgrad.facade.nn.modules).

Each registers its items as children or parameters of the container module under their key ("0", "1", ...
for the list), so named_parameters, state_dict keys ('p.0', 'd.weight'), optimizers and repr see them as
PyTorch's containers do.
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from fgrad.facade._tensor import Tensor
from fgrad.facade.nn.module import Module, _typename
from fgrad.facade.nn.parameter import Parameter

__all__ = ["ModuleDict", "ParameterList", "ParameterDict"]


def _pairs(values, kind: str, sort_plain_dicts: bool):
    """(key, value) pairs of a mapping or of an iterable of 2-sequences, with PyTorch's update() errors.

    PyTorch's ParameterDict.update sorts a plain dict's keys (ModuleDict keeps their order)."""
    if not isinstance(values, Iterable):
        raise TypeError(f"{kind}.update should be called with an iterable of key/value pairs, but got "
                        f"{type(values).__name__}")
    if isinstance(values, (OrderedDict, ModuleDict, ParameterDict)):
        return list(values.items())
    if isinstance(values, Mapping):
        return sorted(values.items()) if sort_plain_dicts else list(values.items())
    pairs = []
    element = "ModuleDict" if kind == "ModuleDict" else "ParameterDict"
    for j, pair in enumerate(values):
        if not isinstance(pair, Iterable):
            raise TypeError(f"{element} update sequence element #{j} should be Iterable; is{type(pair).__name__}")
        if len(pair) != 2:
            raise ValueError(f"{element} update sequence element #{j} has length {len(pair)}; 2 is required")
        pairs.append((pair[0], pair[1]))
    return pairs


class ModuleDict(Module):
    """An ordered dict of child modules, registered under their keys.

    >>> import fgrad as torch
    >>> layers = torch.nn.ModuleDict({"act": torch.nn.ReLU(), "fc": torch.nn.Linear(2, 1)})
    >>> list(layers.state_dict())
    ['fc.weight', 'fc.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules) -> None:
        """Add or replace modules from a mapping or an iterable of (key, module) pairs, keeping their order."""
        for key, module in _pairs(modules, "ModuleDict", sort_plain_dicts=False):
            self[key] = module


def _as_parameter(value):
    # PyTorch's parameter containers wrap plain tensors as Parameters; other objects are kept as attributes.
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _item_text(value, dtype_text) -> str:
    if isinstance(value, Tensor):
        kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
        size = "x".join(str(d) for d in value.shape)
        return f"{kind} containing: [{dtype_text(value)} of size {size}]"
    return f"Object of type: {type(value).__name__}"


class ParameterList(Module):
    """A list of parameters registered as "0", "1", ...; plain tensors are wrapped as Parameters.

    >>> import fgrad as torch
    >>> params = torch.nn.ParameterList([torch.ones(2), torch.zeros(3)])
    >>> [name for name, _ in params.named_parameters()]
    ['0', '1']
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _index_key(self, idx) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(*idx.indices(len(self)))])
        return getattr(self, self._index_key(idx))

    def __setitem__(self, idx, param) -> None:
        setattr(self, self._index_key(idx), _as_parameter(param))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, parameters) -> "ParameterList":
        return self.extend(parameters)

    def __dir__(self):
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value) -> "ParameterList":
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> "ParameterList":
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"  ({k}): {_item_text(p, lambda t: str(t.dtype))}" for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters registered under their keys; plain tensors are wrapped as Parameters.
    As PyTorch's, update() from a plain dict inserts its keys sorted.

    >>> import fgrad as torch
    >>> params = torch.nn.ParameterDict({"w": torch.ones(2), "b": torch.zeros(1)})
    >>> list(params.keys())
    ['b', 'w']
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key_to_attr(key) -> str:
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a key as it is not a string "
                            f"(type is '{type(key).__name__}'). Open an issue on github if you need non-string "
                            "keys.")
        return key

    def __getitem__(self, key: str):
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value) -> None:
        self._keys[key] = None
        setattr(self, self._key_to_attr(key), _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def copy(self) -> "ParameterDict":
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        key, _ = self._keys.popitem()
        self._keys[key] = None
        value = self[key]
        del self[key]
        return key, value

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None) -> "ParameterDict":
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def update(self, parameters) -> None:
        """Add or replace entries from a mapping or an iterable of (key, value) pairs."""
        for key, value in _pairs(parameters, "ParametersDict", sort_plain_dicts=True):
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(f"  ({k}): {_item_text(p, _typename)}" for k, p in self.items())

    def __call__(self, input):
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other) -> "ParameterDict":
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other) -> "ParameterDict":
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other) -> "ParameterDict":
        self.update(other)
        return self
