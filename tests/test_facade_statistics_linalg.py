"""median, mode, std_mean, var_mean, bincount, roll, tile and torch.linalg (norms, solve, inv) against PyTorch 2.13:
values, .grad, grad_fn names and exception types."""
import math
import sys

import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

# ties inside rows and columns, so the median's and mode's tie rules and gradient splits are exercised
_X = np.array([[3.0, -1.0, 1.0, 2.0], [5.0, 5.0, -2.0, 2.0], [0.5, -1.0, 7.0, 7.0]], np.float32)
_A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]], np.float32)


def _run(lib, fn, data):
    """fn's outputs, the gradient of a weighted sum of its float outputs, and their grad_fn names."""
    x = lib.tensor(data, requires_grad=True)
    out = fn(lib, x * 1)
    outs = list(out) if isinstance(out, tuple) else [out]
    floats = [o for o in outs if o.is_floating_point()]
    total = 0
    for o in floats:
        weights = np.arange(o.numel(), dtype=np.float32).reshape(tuple(o.shape)) / 7 + 1
        total = total + (o * lib.tensor(weights)).sum()
    total.backward()
    names = [o.grad_fn.name() if lib is torch else type(o.grad_fn).__name__ for o in floats]
    return [o.detach().numpy() for o in outs], x.grad.numpy(), names


CASES = {
    "median": (lambda L, x: x.median(), _X),
    "median-dim": (lambda L, x: x.median(1), _X),
    "median-dim0-keepdim": (lambda L, x: L.median(x, 0, keepdim=True), _X),
    "mode": (lambda L, x: x.mode(1), _X),
    "mode-dim0": (lambda L, x: L.mode(x, 0), _X),
    "std_mean": (lambda L, x: L.std_mean(x), _X),
    "std_mean-dim-keepdim": (lambda L, x: L.std_mean(x, 1, keepdim=True), _X),
    "var_mean-correction": (lambda L, x: L.var_mean(x, dim=(0, 1), correction=0), _X),
    "roll-flat": (lambda L, x: L.roll(x, 1), _X),
    "roll-dims": (lambda L, x: x.roll((1, -5), (0, 1)), _X),
    "tile": (lambda L, x: x.tile(2), _X),
    "tile-more-dims": (lambda L, x: L.tile(x, (2, 1, 2)), _X),
    "norm": (lambda L, x: L.linalg.norm(x), _X),
    "norm-dim": (lambda L, x: L.linalg.norm(x, dim=1), _X),
    "norm-ord1": (lambda L, x: L.linalg.norm(x, 1), _X),
    "norm-inf": (lambda L, x: L.linalg.norm(x, math.inf), _X),
    "norm-fro-keepdim": (lambda L, x: L.linalg.norm(x, "fro", keepdim=True, dim=(0, 1)), _X),
    "vector_norm": (lambda L, x: L.linalg.vector_norm(x), _X),
    "vector_norm-3": (lambda L, x: L.linalg.vector_norm(x, 3, dim=0), _X),
    "vector_norm--inf": (lambda L, x: L.linalg.vector_norm(x, -math.inf, dim=(0, 1), keepdim=True), _X),
    "matrix_norm": (lambda L, x: L.linalg.matrix_norm(x), _X),
    "matrix_norm--1": (lambda L, x: L.linalg.matrix_norm(x, -1), _X),
    "matrix_norm-1-keepdim": (lambda L, x: L.linalg.matrix_norm(x, 1, keepdim=True), _X),
    "matrix_norm-inf-swapped-dims": (lambda L, x: L.linalg.matrix_norm(x, math.inf, dim=(1, 0)), _X),
    "matrix_norm--inf-batched": (lambda L, x: L.linalg.matrix_norm(x.reshape(2, 2, 3), -math.inf), _X),
    "inv": (lambda L, x: L.linalg.inv(x), _A),
    "solve-vector": (lambda L, x: L.linalg.solve(x, L.ones(3)), _A),
    "solve-matrix": (lambda L, x: L.linalg.solve(x, x[:, :2] * 1), _A),
    "solve-batched-vectors": (lambda L, x: L.linalg.solve(x.expand(2, 3, 3), L.ones(2, 3)), _A),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    fn, data = CASES[name]
    t_outs, t_grad, t_names = _run(torch, fn, data)
    f_outs, f_grad, f_names = _run(fgrad, fn, data)
    for t, f in zip(t_outs, f_outs):
        assert t.dtype == f.dtype
        np.testing.assert_allclose(f, t, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f_grad, t_grad, rtol=1e-4, atol=1e-5)
    assert f_names == t_names


@pytest.mark.parametrize("name, fn", [
    ("median-nan", lambda L: L.tensor([1.0, math.nan, 2.0]).median()),
    ("median-empty", lambda L: L.tensor([]).median()),
    ("median-dim-nan", lambda L: L.tensor([[1.0, math.nan, 2.0, math.nan]]).median(1)),
    ("mode-nan", lambda L: L.tensor([1.0, math.nan, 2.0, math.nan]).mode()),
    ("mode-ints", lambda L: L.tensor([[3, 1, 3, 1, 2]]).mode(1)),
    ("mode-ints-dim0", lambda L: L.tensor([[3, 1, 3, 1, 2]]).mode(0)),
    ("bincount", lambda L: L.bincount(L.tensor([0, 2, 2]))),
    ("bincount-minlength", lambda L: L.bincount(L.tensor([0, 2, 2]), minlength=5)),
    ("bincount-float-weights", lambda L: L.bincount(L.tensor([0, 2, 2]), L.tensor([0.5, 1.0, 1.0]))),
    ("bincount-int-weights", lambda L: L.tensor([1, 1, 3]).bincount(L.tensor([1, 2, 3]))),
    ("bincount-empty", lambda L: L.bincount(L.tensor([], dtype=L.int64), minlength=2)),
    ("roll-ints", lambda L: L.roll(L.arange(6).reshape(2, 3), (1, -1), (0, 1))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_values_match_torch(name, fn):
    t_out, f_out = fn(torch), fn(fgrad)
    t_out, f_out = (list(o) if isinstance(o, tuple) else [o] for o in (t_out, f_out))
    for t, f in zip(t_out, f_out):
        assert str(t.dtype) == str(f.dtype)
        np.testing.assert_array_equal(f.numpy(), t.numpy())


def test_return_types_are_named():
    result = fgrad.tensor([[1.0, 2.0, 2.0]]).mode(1)
    assert repr(result).startswith("torch.return_types.mode(")
    assert result.values.item() == 2.0 and result.indices.item() == 2
    assert repr(fgrad.tensor([[1.0, 2.0]]).median(1)).startswith("torch.return_types.median(")


@pytest.mark.parametrize("name, fn", [
    ("median-dim-empty", lambda L: L.tensor([]).median(0)),
    ("mode-empty", lambda L: L.tensor([]).mode(0)),
    ("bincount-negative", lambda L: L.bincount(L.tensor([-1, 2]))),
    ("bincount-2d", lambda L: L.bincount(L.tensor([[1, 2]]))),
    ("bincount-float", lambda L: L.bincount(L.tensor([1.0]))),
    ("roll-misaligned", lambda L: L.roll(L.ones(2, 2), (1, 1), 0)),
    ("std_mean-int", lambda L: L.std_mean(L.tensor([1, 2]))),
    ("norm-3d-ord", lambda L: L.linalg.norm(L.ones(2, 2, 2), 1)),
    ("matrix_norm-1d", lambda L: L.linalg.matrix_norm(L.ones(2), 1)),
    ("vector_norm-int", lambda L: L.linalg.vector_norm(L.tensor([1, 2]))),
    ("inv-not-square", lambda L: L.linalg.inv(L.zeros(2, 3))),
    ("inv-singular", lambda L: L.linalg.inv(L.zeros(2, 2))),
    ("solve-dtypes", lambda L: L.linalg.solve(L.eye(2), L.ones(2, dtype=L.float64))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_match_torch_types(name, fn):
    with pytest.raises(Exception) as t_err:
        fn(torch)
    with pytest.raises(Exception) as f_err:
        fn(fgrad)
    assert isinstance(f_err.value, RuntimeError) == isinstance(t_err.value, RuntimeError)
    assert isinstance(f_err.value, IndexError) == isinstance(t_err.value, IndexError)


def test_singular_matrix_raises_linalg_error():
    with pytest.raises(fgrad.linalg.LinAlgError, match="singular"):
        fgrad.linalg.inv(fgrad.zeros(2, 2))


@pytest.mark.parametrize("fn", [lambda A: fgrad.linalg.det(A), lambda A: fgrad.linalg.svd(A),
                                lambda A: fgrad.linalg.matrix_norm(A, "nuc")], ids=["det", "svd", "nuc"])
def test_missing_decompositions_say_so(fn):
    with pytest.raises(NotImplementedError, match="SVD|decomposition"):
        fn(fgrad.eye(2))


def test_linalg_imports_as_torch_linalg(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fgrad)
    monkeypatch.delitem(sys.modules, "torch.linalg")      # PyTorch's own, imported by the parity tests
    from torch.linalg import vector_norm  # noqa: PLC0415  (the alias only exists once torch is bound to fgrad)
    assert vector_norm is fgrad.linalg.vector_norm


def test_median_global_gradient_is_split_among_ties():
    x = fgrad.tensor([2.0, 1.0, 2.0, 3.0, 2.0], requires_grad=True)
    x.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0.0, 1 / 3, 0.0, 1 / 3])


@pytest.mark.parametrize("values", [[math.inf], [1.0, math.inf, math.inf], [math.nan], [1.0, math.nan, 2.0],
                                    [-math.inf, -math.inf, 1.0]], ids=["inf", "inf-ties", "nan", "nan-inside",
                                                                       "-inf-ties"])
def test_median_gradient_at_special_values_matches_torch(values):
    grads = []
    for lib in (torch, fgrad):
        x = lib.tensor(values, requires_grad=True)
        x.median().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
