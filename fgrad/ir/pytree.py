"""Pytrees: nested tuples, lists, dicts, namedtuples and None, plus registered user containers.

    >>> leaves, tree = tree_flatten({"w": 1.0, "b": (2.0, None)})
    >>> leaves
    [2.0, 1.0]
    >>> tree_unflatten(tree, [20.0, 10.0])
    {'b': (20.0, None), 'w': 10.0}
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass

_NODE_TYPES = {}   # type -> (flatten(x) -> (children, aux), unflatten(aux, children) -> x)


def register_pytree_node(cls, flatten, unflatten):
    """Make `cls` a container: `flatten(x) -> (children, aux)`, `unflatten(aux, children) -> x`.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    """
    _NODE_TYPES[cls] = (flatten, unflatten)


_ARRAY_WRAPPERS = set()   # container types that hold one array (the PyTorch facade's Tensor)


def register_array_wrapper(cls, to_array, from_array):
    """Make `cls`, a type that wraps one array, a container of that one leaf: transforms see the array (a tracer
    inside a trace), and `from_array(leaf)` wraps results back. A tree of one wrapped leaf counts as a single
    array (`is_single_array`), so grad accepts a function returning one.

    >>> class Box:
    ...     def __init__(self, a): self.a = a
    >>> register_array_wrapper(Box, lambda b: b.a, Box)
    """
    register_pytree_node(cls, lambda x: ((to_array(x),), None), lambda aux, ch: from_array(ch[0]))
    _ARRAY_WRAPPERS.add(cls)


def is_single_array(treedef) -> bool:
    """Whether `treedef` is one leaf, bare or inside array wrappers."""
    while treedef.node_type in _ARRAY_WRAPPERS:
        treedef = treedef.children[0]
    return treedef.node_type is None


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node_of(x):
    """(flatten, unflatten) for a container, None for a leaf."""
    t = type(x)
    if t in _NODE_TYPES:
        return _NODE_TYPES[t]
    if _is_namedtuple(x):
        return (lambda n: (tuple(n), None), lambda aux, ch, t=t: t(*ch))
    return None


register_pytree_node(tuple, lambda t: (t, None), lambda aux, ch: tuple(ch))
register_pytree_node(list, lambda l: (l, None), lambda aux, ch: list(ch))
register_pytree_node(dict, lambda d: ([d[k] for k in sorted(d)], sorted(d)),
                     lambda keys, ch: dict(zip(keys, ch)))
register_pytree_node(type(None), lambda n: ((), None), lambda aux, ch: None)
# As in JAX: an OrderedDict keeps its insertion order (it is part of its meaning); a defaultdict sorts its keys
# like a dict and keeps its default_factory.
register_pytree_node(OrderedDict, lambda d: (list(d.values()), tuple(d)),
                     lambda keys, ch: OrderedDict(zip(keys, ch)))
register_pytree_node(defaultdict, lambda d: ([d[k] for k in sorted(d)], (d.default_factory, tuple(sorted(d)))),
                     lambda aux, ch: defaultdict(aux[0], zip(aux[1], ch)))


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: hashable, so it can key caches."""
    node_type: type | None      # None for a leaf
    aux: object
    children: tuple

    @property
    def num_leaves(self) -> int:
        if self.node_type is None:
            return 1
        return sum(c.num_leaves for c in self.children)

    def __hash__(self):
        aux = tuple(self.aux) if isinstance(self.aux, list) else self.aux
        return hash((self.node_type, aux, self.children))

    def __repr__(self) -> str:
        if self.node_type is None:
            return "*"
        return f"{self.node_type.__name__}({', '.join(map(repr, self.children))})"


LEAF = TreeDef(None, None, ())


def tree_flatten(tree, is_leaf=None):
    """Split a pytree into its list of leaves and its TreeDef."""
    leaves = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _flatten(x, leaves, is_leaf):
    node = None if (is_leaf is not None and is_leaf(x)) else _node_of(x)
    if node is None:
        leaves.append(x)
        return LEAF
    children, aux = node[0](x)
    return TreeDef(type(x), aux, tuple(_flatten(c, leaves, is_leaf) for c in children))


def tree_unflatten(treedef: TreeDef, leaves):
    """Rebuild the pytree of `treedef` from a flat sequence of leaves."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(treedef, it):
    if treedef.node_type is None:
        return next(it)
    children = [_unflatten(c, it) for c in treedef.children]
    if treedef.node_type in _NODE_TYPES:
        return _NODE_TYPES[treedef.node_type][1](treedef.aux, children)
    return treedef.node_type(*children)   # a namedtuple


def tree_flatten_up_to(prefix: TreeDef, tree) -> list:
    """The subtrees of `tree` at the leaves of `prefix`, a TreeDef that `tree` extends (as in JAX, where
    vmap's in_axes is a prefix of the arguments). A ValueError names where the structures differ.

    >>> tree_flatten_up_to(tree_structure((0, 0)), ((1.0, 2.0), {"a": 3.0}))
    [(1.0, 2.0), {'a': 3.0}]
    """
    out = []
    pending = [(prefix, tree, "")]
    while pending:
        node, x, where = pending.pop()
        if node.node_type is None:
            out.append(x)
            continue
        kind = _node_of(x)
        if kind is None or type(x) is not node.node_type:
            raise ValueError(f"the prefix has a {node.node_type.__name__} at {where or 'the top'}, but the tree has "
                             f"{type(x).__name__} {_short(x)} there")
        children, aux = kind[0](x)
        if len(children) != len(node.children) or _aux_key(aux) != _aux_key(node.aux):
            raise ValueError(f"the prefix has {node!r} at {where or 'the top'}, but the tree has "
                             f"{tree_structure(x)!r} there")
        keys = _child_keys(x, len(children))
        pending.extend(reversed([(c, child, f"{where}{k}") for c, child, k in zip(node.children, children, keys)]))
    return out


def _aux_key(aux):
    return tuple(aux) if isinstance(aux, list) else aux


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def tree_leaves(tree, is_leaf=None) -> list:
    """The leaves of a pytree, in flattening order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_leaves_with_path(tree) -> list:
    """(path, leaf) pairs in flattening order; the path is the indexing that reaches the leaf, as text.

    >>> tree_leaves_with_path({"w": (1.0, 2.0), "b": None})
    [("['w'][0]", 1.0), ("['w'][1]", 2.0)]
    """
    out = []
    stack = [("", tree)]
    while stack:
        path, x = stack.pop()
        node = _node_of(x)
        if node is None:
            out.append((path, x))
            continue
        children, _ = node[0](x)
        keys = _child_keys(x, len(children))
        stack.extend((path + key, child) for key, child in reversed(list(zip(keys, children))))
    return out


def _child_keys(x, n: int) -> list:
    """How each child of container `x` is reached: `['key']` for dicts, `.field` for namedtuples, else `[i]`."""
    if isinstance(x, OrderedDict):
        return [f"[{k!r}]" for k in x]
    if isinstance(x, dict):
        return [f"[{k!r}]" for k in sorted(x)]
    if _is_namedtuple(x):
        return [f".{name}" for name in type(x)._fields]
    return [f"[{i}]" for i in range(n)]


def tree_structure(tree):
    return tree_flatten(tree)[1]


def tree_map(fn, tree, *rest, is_leaf=None):
    """Apply `fn` to every leaf (and the matching leaves of `rest`, which share `tree`'s structure).

    >>> tree_map(lambda x: x * 2, {"a": 1, "b": [2, 3]})
    {'a': 2, 'b': [4, 6]}
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for r in rest:
        r_leaves, r_def = tree_flatten(r, is_leaf)
        if r_def != treedef:
            raise ValueError(f"tree_map: pytree structures differ: {treedef} vs {r_def}")
        others.append(r_leaves)
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])


__all__ = ["register_pytree_node", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_leaves_with_path",
           "tree_structure", "tree_map", "TreeDef"]
