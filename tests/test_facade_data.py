"""fgrad.utils.data against torch.utils.data: the same batches, in the same order, from the same random draws
(and the default generator left in the same state), the same collation, the same errors."""
from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fgrad
from fgrad.utils import data as fdata

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _library(torch, which):
    return fgrad if which == "fgrad" else torch


def assert_same(ours, theirs, path="batch"):
    """Equal structure (containers and their types) with bit-equal tensors (dtype, shape, values)."""
    if isinstance(ours, fgrad.Tensor):
        assert type(theirs).__name__ == "Tensor", f"{path}: tensor vs {type(theirs)}"
        a, b = np.asarray(ours.detach()._data), theirs.detach().numpy()
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=path)
        assert str(ours) == str(theirs), path
    elif isinstance(ours, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), path
        for key in ours:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(ours, (list, tuple)):
        assert type(ours).__name__ == type(theirs).__name__ and len(ours) == len(theirs), \
            f"{path}: {type(ours).__name__}[{len(ours)}] vs {type(theirs).__name__}[{len(theirs)}]"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs and type(ours) is type(theirs), f"{path}: {ours!r} vs {theirs!r}"


def assert_same_default_state(torch):
    np.testing.assert_array_equal(np.asarray(fgrad.get_rng_state()._data), torch.get_rng_state().numpy())


def tensor_dataset(t):
    return t.utils.data.TensorDataset(t.arange(22.0).reshape(11, 2), t.arange(11))


LOADERS = [
    ("sequential-4", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=4)),
    ("sequential-drop-last", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=4, drop_last=True)),
    ("batch-size-1", lambda t: t.utils.data.DataLoader(tensor_dataset(t))),
    ("no-batching", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=None)),
    ("shuffle-global", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=3, shuffle=True)),
    ("shuffle-generator", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=3, shuffle=True,
                                                              generator=t.Generator().manual_seed(7))),
    ("shuffle-drop-last", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=5, shuffle=True,
                                                              drop_last=True)),
    ("random-sampler-replacement", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_size=8,
        sampler=t.utils.data.RandomSampler(range(11), replacement=True, num_samples=40))),
    ("random-sampler-more-samples", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_size=6, sampler=t.utils.data.RandomSampler(range(11), num_samples=25))),
    ("subset-random-sampler", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_size=2, sampler=t.utils.data.SubsetRandomSampler([1, 4, 6, 9]))),
    ("weighted-sampler", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_size=4,
        sampler=t.utils.data.WeightedRandomSampler([0.1, 0.5, 2.0, 1.0, 0.0, 3.0, 1, 1, 1, 1, 1], 12))),
    ("weighted-sampler-no-replacement", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_size=4,
        sampler=t.utils.data.WeightedRandomSampler([0.1, 0.5, 2.0, 1.0, 0.3, 3.0, 1, 1, 1, 1, 1], 6, False))),
    ("batch-sampler", lambda t: t.utils.data.DataLoader(
        tensor_dataset(t), batch_sampler=t.utils.data.BatchSampler(
            t.utils.data.RandomSampler(range(11), generator=t.Generator().manual_seed(3)), 4, False))),
    ("list-of-batches", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_sampler=[[0, 3], [5, 1, 2]])),
    ("custom-collate", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=4,
                                                           collate_fn=lambda batch: len(batch))),
    ("subset", lambda t: t.utils.data.DataLoader(t.utils.data.Subset(tensor_dataset(t), [10, 2, 5, 7]), batch_size=3)),
    ("concat", lambda t: t.utils.data.DataLoader(tensor_dataset(t) + tensor_dataset(t), batch_size=7, shuffle=True)),
    ("stack", lambda t: t.utils.data.DataLoader(t.utils.data.StackDataset(tensor_dataset(t), range(11)),
                                                  batch_size=5)),
    ("stack-named", lambda t: t.utils.data.DataLoader(t.utils.data.StackDataset(a=tensor_dataset(t), b=range(11)),
                                                        batch_size=5)),
    ("num-workers-2", lambda t: t.utils.data.DataLoader(tensor_dataset(t), batch_size=4, shuffle=True, num_workers=2)
     if t is fgrad else t.utils.data.DataLoader(tensor_dataset(t), batch_size=4, shuffle=True)),
]


@pytest.mark.parametrize("make", [m for _, m in LOADERS], ids=[name for name, _ in LOADERS])
def test_loader_batches_match_torch(torch, make):
    """Two epochs, then a draw: the batches and the default generator's state agree with PyTorch's."""
    results = {}
    for which in ("fgrad", "torch"):
        t = _library(torch, which)
        t.manual_seed(0)
        loader = make(t)
        epochs = [list(loader), list(loader)]
        results[which] = (epochs, len(loader), t.rand(2))
    assert_same(results["fgrad"], results["torch"])
    assert_same_default_state(torch)


def test_breaking_out_of_an_epoch_leaves_torchs_state(torch):
    for t in (fgrad, torch):
        t.manual_seed(1)
        loader = t.utils.data.DataLoader(tensor_dataset(t), batch_size=2, shuffle=True)
        for i, _ in enumerate(loader):
            if i == 1:
                break
        iter(loader)                                      # a new iterator draws a base seed
    assert_same_default_state(torch)


class Squares:
    """A map-style dataset that is not a Dataset subclass (only __getitem__ and __len__)."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full((2,), i, dtype=np.float32), "y": i * i, "name": f"s{i}", "w": float(i) / 2,
                "flag": i % 2 == 0, "pair": (i, [np.int32(i), np.float64(i)])}


Point = collections.namedtuple("Point", "x y")


def test_default_collate_matches_torch(torch):
    samples = [Squares()[i] for i in range(3)]
    assert_same(fdata.default_collate(samples), torch.utils.data.default_collate(samples))
    points = [Point(np.float32(1.5), 2), Point(np.float32(2.5), 3)]
    assert_same(fdata.default_collate(points), torch.utils.data.default_collate(points))
    nested = [[1, [2.0, 3]], [4, [5.0, 6]]]
    assert_same(fdata.default_collate(nested), torch.utils.data.default_collate(nested))
    tensors = [(fgrad.tensor([1.0, 2.0]), fgrad.tensor(3)), (fgrad.tensor([4.0, 5.0]), fgrad.tensor(6))]
    theirs = [(torch.tensor([1.0, 2.0]), torch.tensor(3)), (torch.tensor([4.0, 5.0]), torch.tensor(6))]
    assert_same(fdata.default_collate(tensors), torch.utils.data.default_collate(theirs))


def test_default_convert_matches_torch(torch):
    sample = {"a": np.arange(3), "b": (np.float64(2.0), [np.int32(1)]), "c": "text", "d": 3.5}
    assert_same(fdata.default_convert(sample), torch.utils.data.default_convert(sample))
    assert_same(fdata.default_convert(Point(np.array(1), 2)), torch.utils.data.default_convert(Point(np.array(1), 2)))


def test_loader_over_a_plain_dataset_matches_torch(torch):
    assert_same(list(fdata.DataLoader(Squares(), batch_size=2)), list(torch.utils.data.DataLoader(Squares(),
                                                                                                   batch_size=2)))


def test_collating_tensors_keeps_torchs_graph_and_promotion(torch):
    a = fgrad.zeros(2, requires_grad=True)
    assert type(fdata.default_collate([a, a]).grad_fn).__name__ == "StackBackward0"
    mixed = fdata.default_collate([fgrad.zeros(2), fgrad.zeros(2, dtype=fgrad.float64), fgrad.ones(2)])
    assert_same(mixed, torch.utils.data.default_collate([torch.zeros(2), torch.zeros(2, dtype=torch.float64),
                                                         torch.ones(2)]))


COLLATE_ERRORS = [
    ("unequal-lengths", [[1, 2], [3]]),
    ("unequal-tensor-sizes", "tensors of sizes 2 and 3"),
    ("unsupported-type", [object(), object()]),
    ("string-arrays", [np.array(["a"]), np.array(["b"])]),
]


@pytest.mark.parametrize("batch", [b for _, b in COLLATE_ERRORS], ids=[name for name, _ in COLLATE_ERRORS])
def test_collate_errors_match_torch(torch, batch):
    theirs_batch = ours_batch = batch
    if batch == "tensors of sizes 2 and 3":
        theirs_batch, ours_batch = [torch.zeros(2), torch.zeros(3)], [fgrad.zeros(2), fgrad.zeros(3)]
    with pytest.raises(Exception) as theirs:
        torch.utils.data.default_collate(theirs_batch)
    with pytest.raises(Exception) as ours:
        fdata.default_collate(ours_batch)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value).replace("fgrad.facade._tensor", "torch") == str(theirs.value)




def _iterable_dataset(t, n=7):
    class Numbers(t.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return n
    return Numbers()


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (None, False), (7, False)],
                         ids=["3", "3-drop-last", "none", "7"])
def test_iterable_dataset_matches_torch(torch, batch_size, drop_last):
    results = []
    for t in (fgrad, torch):
        t.manual_seed(0)
        loader = t.utils.data.DataLoader(_iterable_dataset(t), batch_size=batch_size, drop_last=drop_last)
        results.append((list(loader), len(loader), t.rand(1)))
    assert_same(*results)
    assert_same_default_state(torch)


def test_chain_dataset_matches_torch(torch):
    ours = list(fdata.DataLoader(_iterable_dataset(fgrad, 3) + _iterable_dataset(fgrad, 4), batch_size=3))
    theirs = list(torch.utils.data.DataLoader(_iterable_dataset(torch, 3) + _iterable_dataset(torch, 4),
                                              batch_size=3))
    assert_same(ours, theirs)


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33]],
                         ids=["3-7", "0.3-0.7", "halves-quarters", "thirds"])
@pytest.mark.parametrize("generator", ["default", "explicit"])
def test_random_split_matches_torch(torch, lengths, generator):
    splits = []
    for t in (fgrad, torch):
        t.manual_seed(4)
        kwargs = {} if generator == "default" else {"generator": t.Generator().manual_seed(42)}
        parts = t.utils.data.random_split(range(10), lengths, **kwargs)
        splits.append([list(p.indices) for p in parts])
    assert splits[0] == splits[1]
    assert_same_default_state(torch)


def test_random_split_subsets_index_the_dataset(torch):
    for t in (fgrad, torch):
        t.manual_seed(0)
    ours = [list(s) for s in fdata.random_split(list("abcdef"), [2, 4])]
    theirs = [list(s) for s in torch.utils.data.random_split(list("abcdef"), [2, 4])]
    assert ours == theirs


def test_random_split_warns_and_errors_as_torch(torch):
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        fdata.random_split(range(2), [1.0, 0.0])
    for lengths in ([3, 3], [0.5, 1.5, -1.0]):
        with pytest.raises(ValueError) as theirs:
            torch.utils.data.random_split(range(5), lengths)
        with pytest.raises(ValueError) as ours:
            fdata.random_split(range(5), lengths)
        assert str(ours.value) == str(theirs.value)


LOADER_ERRORS = [
    ("sampler-and-shuffle", lambda t: t.utils.data.DataLoader(range(3), sampler=[0, 1], shuffle=True)),
    ("batch-sampler-and-batch-size", lambda t: t.utils.data.DataLoader(range(3), batch_sampler=[[0]], batch_size=2)),
    ("no-batching-and-drop-last", lambda t: t.utils.data.DataLoader(range(3), batch_size=None, drop_last=True)),
    ("negative-workers", lambda t: t.utils.data.DataLoader(range(3), num_workers=-1)),
    ("negative-timeout", lambda t: t.utils.data.DataLoader(range(3), timeout=-1)),
    ("prefetch-without-workers", lambda t: t.utils.data.DataLoader(range(3), prefetch_factor=2)),
    ("persistent-without-workers", lambda t: t.utils.data.DataLoader(range(3), persistent_workers=True)),
    ("iterable-shuffle", lambda t: t.utils.data.DataLoader(_iterable_dataset(t), shuffle=True)),
    ("batch-size-zero", lambda t: t.utils.data.DataLoader(range(3), batch_size=0)),
    ("drop-last-not-bool", lambda t: t.utils.data.BatchSampler(range(3), 2, drop_last=1)),
    ("num-samples-zero", lambda t: t.utils.data.RandomSampler(range(3), num_samples=0)),
    ("weights-2d", lambda t: t.utils.data.WeightedRandomSampler([[1.0, 2.0]], 2)),
    ("tensor-size-mismatch", lambda t: t.utils.data.TensorDataset(t.zeros(2), t.zeros(3))),
    ("set-after-init", lambda t: setattr(t.utils.data.DataLoader(range(3)), "batch_size", 2)),
]


@pytest.mark.parametrize("case", [c for _, c in LOADER_ERRORS], ids=[name for name, _ in LOADER_ERRORS])
def test_loader_errors_match_torch(torch, case):
    with pytest.raises(Exception) as theirs:
        case(torch)
    with pytest.raises(Exception) as ours:
        case(fgrad)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_workers_run_in_process_and_iterable_datasets_refuse_them():
    loader = fdata.DataLoader(range(5), batch_size=2, num_workers=3)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]
    assert fdata.get_worker_info() is None
    with pytest.raises(ValueError, match="loads in the main process"):
        fdata.DataLoader(_iterable_dataset(fgrad), num_workers=2)
    with pytest.warns(UserWarning, match="does not call worker_init_fn"):
        fdata.DataLoader(range(5), num_workers=2, worker_init_fn=print)


def test_pin_memory_warns_as_torch_without_an_accelerator():
    with pytest.warns(UserWarning, match="no accelerator is found"):
        list(fdata.DataLoader(range(2), pin_memory=True))


def test_modules_are_registered_and_aliases_import():
    import fgrad.utils.data as by_path
    assert by_path is fgrad.utils.data is sys.modules["fgrad.facade.utils.data"]
    code = """
import sys, fgrad
sys.modules["torch"] = fgrad
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.optim.lr_scheduler import StepLR
import torch.nn.functional as F
import torch.utils.data
assert DataLoader is fgrad.utils.data.DataLoader and StepLR is fgrad.optim.lr_scheduler.StepLR
assert F is fgrad.nn.functional and torch.utils.data is fgrad.utils.data
assert fgrad.nn.functional.__spec__.name == "fgrad.facade.nn.functional"
print([b.tolist() for b, in DataLoader(TensorDataset(torch.arange(3)), batch_size=2)])
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[[0, 1], [2]]"
