"""fgrad.tree_util: the pytree machinery the transforms use."""
from collections import namedtuple

import pytest

from fgrad import tree_util as tu

Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("tree", [
    1.0, (1.0, 2.0), [1.0, (2.0, 3.0)], {"b": 1.0, "a": [2.0, None]}, Point(1.0, (2.0,)), None, {},
], ids=["leaf", "tuple", "nested", "dict", "namedtuple", "none", "empty-dict"])
def test_flatten_unflatten_round_trip(tree):
    leaves, treedef = tu.tree_flatten(tree)
    assert tu.tree_unflatten(treedef, leaves) == tree
    assert treedef.num_leaves == len(leaves)


def test_dict_leaves_are_in_sorted_key_order():
    assert tu.tree_leaves({"b": 1, "a": 2}) == [2, 1]


def test_none_has_no_leaves():
    assert tu.tree_leaves((None, 1)) == [1]


def test_tree_map_over_several_trees():
    assert tu.tree_map(lambda a, b: a + b, {"x": 1, "y": [2]}, {"x": 10, "y": [20]}) == {"x": 11, "y": [22]}


def test_tree_map_rejects_different_structures():
    with pytest.raises(ValueError, match="structures differ"):
        tu.tree_map(lambda a, b: a, (1, 2), [1, 2])


def test_treedefs_hash_for_cache_keys():
    assert hash(tu.tree_structure({"a": 1, "b": (2, 3)})) == hash(tu.tree_structure({"a": 5, "b": (6, 7)}))


def test_registered_user_container():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b
    tu.register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    doubled = tu.tree_map(lambda v: v * 2, Pair(1, (2, 3)))
    assert (doubled.a, doubled.b) == (2, (4, 6))
