"""einsum (fgrad.numpy and the facade) and the facade's scatter / index-update ops, against numpy and PyTorch 2.13.

fgrad's einsum is composed of existing ops, so its derivatives, batching and compilation come from their rules; the
tests check values against numpy, derivatives with check_grads (finite differences and the dot-product test), jit and
vmap against numpy, and the facade against PyTorch: values, .grad, grad_fn names and exception types.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fgrad
import fgrad.numpy as fnp


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# (subscripts, operand shapes): matrix products, batches, diagonals, traces, broadcasting `...`, implicit output
EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("bij,bjk->bki", [(2, 2, 3), (2, 3, 4)]),
    ("ij,j->i", [(2, 3), (3,)]),
    ("i,i->", [(3,), (3,)]),
    ("i,i", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,j->ji", [(2,), (3,)]),
    ("i,i->i", [(3,), (3,)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ab,cd,bc->ad", [(2, 3), (4, 2), (3, 4)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 2)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("bii->bi", [(2, 3, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("...ij,...jk", [(2, 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i...,i...->...", [(3, 2), (3, 2)]),
    ("...i,...i->...", [(1, 3), (2, 3)]),
    ("Ab,bA->A", [(2, 3), (3, 2)]),
    (",i->i", [(), (3,)]),
    ("ij,jk", [(2, 0), (0, 3)]),
]
EINSUM_IDS = [f"{eq}:{'x'.join(map(str, shapes[0]))}" for eq, shapes in EINSUM_CASES]


def _operands(shapes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("eq, shapes", EINSUM_CASES, ids=EINSUM_IDS)
def test_einsum_values_match_numpy(eq, shapes):
    xs = _operands(shapes)
    got = fnp.einsum(eq, *xs)
    want = np.einsum(eq, *xs)
    assert np.shape(got) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eq, shapes", [c for c in EINSUM_CASES if 0 not in sum(c[1], ())],
                         ids=[i for c, i in zip(EINSUM_CASES, EINSUM_IDS) if 0 not in sum(c[1], ())])
def test_einsum_derivatives_check_against_finite_differences(eq, shapes):
    xs = _operands(shapes, seed=1)
    fgrad.check_grads(lambda *a: fnp.einsum(eq, *a), tuple(xs), order=1)


def test_einsum_matrix_product_is_one_matmul():
    program = fgrad.make_ir(lambda a, b: fnp.einsum("bij,bkj->bik", a, b))(np.ones((5, 2, 3)), np.ones((5, 4, 3)))
    prims = [e.prim.name for e in program.equations]
    assert prims == ["transpose", "matmul"]


def test_einsum_grad_of_matrix_product():
    a, b = _operands([(2, 3), (3, 4)])
    grad_a = fgrad.grad(lambda a: fnp.sum(fnp.einsum("ij,jk->ik", a, b) ** 2))(a)
    np.testing.assert_allclose(grad_a, 2 * (a @ b) @ b.T, rtol=1e-12)


@pytest.mark.parametrize("eq, shapes", [("ij,jk->ik", [(2, 3), (3, 4)]), ("ii,jk->kj", [(3, 3), (2, 4)]),
                                        ("...ij,...jk", [(2, 2, 3), (3, 4)])], ids=["matmul", "trace", "ellipsis"])
def test_einsum_jit_matches_numpy(eq, shapes):
    xs = _operands(shapes, seed=2)
    np.testing.assert_allclose(fgrad.jit(lambda *a: fnp.einsum(eq, *a))(*xs), np.einsum(eq, *xs), rtol=1e-12)


def test_einsum_vmap_matches_stacked_numpy():
    a, b = _operands([(4, 2, 3), (3, 3)], seed=3)
    got = fgrad.vmap(lambda a, b: fnp.einsum("ij,jk,kk->ik", a, b, b), in_axes=(0, None))(a, b)
    np.testing.assert_allclose(got, np.stack([np.einsum("ij,jk,kk->ik", x, b, b) for x in a]), rtol=1e-12)


@pytest.mark.parametrize("eq, shapes", [c for c in EINSUM_CASES if len(c[1]) > 2] + [
    ("ij,jk,k->i", [(3, 4), (4, 5), (5,)]), ("a,ab,bc,c->", [(2,), (2, 3), (3, 4), (4,)])],
    ids=lambda v: v if isinstance(v, str) else "")
def test_einsum_greedy_order_matches_numpy(eq, shapes):
    xs = _operands(shapes, seed=8)
    np.testing.assert_allclose(fnp.einsum(eq, *xs, optimize=True), np.einsum(eq, *xs), rtol=1e-12, atol=1e-12)


def test_einsum_greedy_order_contracts_the_vector_first():
    # left to right, 'ij,jk,k->i' builds the (i, k) matrix; greedily it is two matrix-vector products
    program = fgrad.make_ir(lambda a, b, c: fnp.einsum("ij,jk,k->i", a, b, c, optimize=True))(
        np.ones((3, 4)), np.ones((4, 5)), np.ones(5))
    shapes = [e.outputs[0].type.shape for e in program.equations if e.prim.name == "matmul"]
    assert all(1 in shape or len(shape) < 2 for shape in shapes), shapes


def test_einsum_sublist_form():
    a, b = _operands([(2, 3), (3, 4)])
    np.testing.assert_allclose(fnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b, rtol=1e-12)
    np.testing.assert_allclose(fnp.einsum(a, [0, Ellipsis]), np.einsum(a, [0, Ellipsis]), rtol=1e-12)


@pytest.mark.parametrize("eq, shapes, message", [
    ("ij,jk", [(2, 3)], "1 operand"),
    ("ijk", [(2, 3)], "name 3 dimension"),
    ("ij->k", [(2, 3)], "output subscript 'k' which never appeared"),
    ("ij->ii", [(2, 3)], "multiple times"),
    ("ii", [(2, 3)], "don't match"),
    ("ij,jk", [(2, 3), (4, 4)], "broadcast"),
    ("i1", [(2, 3)], "must be letters"),
], ids=["operand-count", "rank", "unknown-output", "repeated-output", "diagonal-sizes", "sizes", "bad-char"])
def test_einsum_errors_name_the_problem(eq, shapes, message):
    with pytest.raises(ValueError, match=message):
        fnp.einsum(eq, *_operands(shapes))


_LABELS = "abcd"


@st.composite
def _einsum_problems(draw):
    sizes = {l: draw(st.integers(1, 3)) for l in _LABELS}
    n_ops = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(_LABELS), min_size=0, max_size=3)) for _ in range(n_ops)]
    used = sorted({l for t in terms for l in t})
    out = draw(st.permutations(used).map(lambda p: p[:draw(st.integers(0, len(p)))])) if used else []
    eq = ",".join("".join(t) for t in terms) + "->" + "".join(out)
    return eq, [tuple(sizes[l] for l in t) for t in terms]


@settings(max_examples=60, deadline=None)
@given(_einsum_problems())
def test_einsum_random_subscripts_match_numpy(problem):
    eq, shapes = problem
    xs = _operands(shapes, seed=4)
    np.testing.assert_allclose(fnp.einsum(eq, *xs), np.einsum(eq, *xs), rtol=1e-10, atol=1e-12)


# ---- facade einsum against PyTorch ---------------------------------------------------------------------------

def _torch_and_fgrad_leaves(torch, shapes, seed=0, dtype=np.float32):
    xs = _operands(shapes, seed, dtype)
    return [torch.tensor(x, requires_grad=True) for x in xs], [fgrad.tensor(x, requires_grad=True) for x in xs]


@pytest.mark.parametrize("eq, shapes", EINSUM_CASES, ids=EINSUM_IDS)
def test_facade_einsum_matches_torch(torch, eq, shapes):
    t_in, f_in = _torch_and_fgrad_leaves(torch, shapes)
    t_out, f_out = torch.einsum(eq, *t_in), fgrad.einsum(eq, *f_in)
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert type(f_out.grad_fn).__name__ == t_out.grad_fn.name()
    weights = np.random.default_rng(9).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (t_out * torch.tensor(weights)).sum().backward()
    (f_out * fgrad.tensor(weights)).sum().backward()
    for t, f in zip(t_in, f_in):
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(_einsum_problems())
def test_facade_einsum_random_subscripts_match_torch(torch, problem):
    eq, shapes = problem
    t_in, f_in = _torch_and_fgrad_leaves(torch, shapes, seed=7, dtype=np.float64)
    t_out, f_out = torch.einsum(eq, *t_in), fgrad.einsum(eq, *f_in)
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    if t_out.grad_fn is not None:
        assert type(f_out.grad_fn).__name__ == t_out.grad_fn.name(), eq
        t_out.sum().backward()
        f_out.sum().backward()
        for t, f in zip(t_in, f_in):
            np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_facade_einsum_list_and_sublist_forms(torch):
    t_in, f_in = _torch_and_fgrad_leaves(torch, [(2, 3), (3, 4)])
    expected = torch.einsum("ij,jk", t_in).detach().numpy()
    np.testing.assert_allclose(fgrad.einsum("ij,jk", f_in).detach().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(fgrad.einsum(f_in[0], [0, 1], f_in[1], [1, 2], [0, 2]).detach().numpy(), expected,
                               rtol=1e-6)


@pytest.mark.parametrize("eq, shapes, dtypes", [
    ("ij,jk", [(2, 3)], None), ("ij,jk", [(2, 3), (4, 4)], None), ("ijk", [(2, 3)], None),
    ("ij->k", [(2, 3)], None), ("ij->ii", [(2, 3)], None), ("ii", [(2, 3)], None),
    ("ij,jk", [(2, 3), (3, 4)], (np.float32, np.float64)),
], ids=["operand-count", "sizes", "rank", "unknown-output", "repeated-output", "diagonal-sizes", "dtypes"])
def test_facade_einsum_errors_are_torch_types(torch, eq, shapes, dtypes):
    dtypes = dtypes or [np.float32] * len(shapes)
    xs = [x.astype(d) for x, d in zip(_operands(shapes), dtypes)]
    with pytest.raises(RuntimeError):
        torch.einsum(eq, *[torch.tensor(x) for x in xs])
    with pytest.raises(RuntimeError):
        fgrad.einsum(eq, *[fgrad.tensor(x) for x in xs])


def test_facade_einsum_under_func_transforms():
    w = fgrad.tensor(_operands([(3,)], dtype=np.float32)[0])
    batched = fgrad.func.vmap(lambda x: fgrad.einsum("ij,j->i", x, w))(fgrad.ones(5, 2, 3))
    assert tuple(batched.shape) == (5, 2)
    g = fgrad.func.grad(lambda x: fgrad.einsum("ii", x))(fgrad.ones(3, 3, dtype=fgrad.float64))
    np.testing.assert_array_equal(g.numpy(), np.eye(3))


# ---- scatters and index updates against PyTorch ----------------------------------------------------------------

_X = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
_SRC = np.random.default_rng(6).standard_normal((3, 2)).astype(np.float32)
_ROWS = np.array([[0, 1], [2, 3], [1, 0]])                  # dim 1: distinct targets per row
_COLS = np.array([[0, 1], [2, 0]])                          # dim 0: row 0 is written twice in column 0
_COLS_TIES = np.array([[0, 1], [0, 1], [2, 1]])

# name -> f(lib, x, src), x of shape (3, 4) and src of shape (3, 2), both computed from leaves
SCATTER_CASES = {
    "scatter": lambda L, x, s: x.scatter(1, L.tensor(_ROWS), s),
    "scatter-function": lambda L, x, s: L.scatter(x, 0, L.tensor(_COLS), s[:2]),
    "scatter-value": lambda L, x, s: x.scatter(1, L.tensor(_ROWS), 2.5),
    "scatter-int32-index": lambda L, x, s: x.scatter(1, L.tensor(_ROWS.astype(np.int32)), s),
    "scatter_add": lambda L, x, s: x.scatter_add(1, L.tensor(_ROWS), s),
    "scatter_add-repeats": lambda L, x, s: L.scatter_add(x, 0, L.tensor(_COLS), s[:2]),
    "scatter_reduce-sum": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "sum"),
    "scatter_reduce-sum-noself": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "sum",
                                                                 include_self=False),
    "scatter_reduce-mean": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "mean"),
    "scatter_reduce-mean-noself": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "mean",
                                                                  include_self=False),
    "scatter_reduce-prod": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "prod"),
    "scatter_reduce-prod-noself": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "prod",
                                                                  include_self=False),
    "scatter_reduce-amax": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "amax"),
    "scatter_reduce-amin-noself": lambda L, x, s: x.scatter_reduce(0, L.tensor(_COLS), s[:2], "amin",
                                                                  include_self=False),
    "scatter_reduce-amax-ties": lambda L, x, s: (x * 0).scatter_reduce(0, L.tensor(_COLS_TIES), s * 0, "amax"),
    "index_add": lambda L, x, s: x.index_add(1, L.tensor([0, 2]), s, alpha=2),
    "index_add-repeats": lambda L, x, s: L.index_add(x, 1, L.tensor([3, 3]), s),
    "index_copy": lambda L, x, s: x.index_copy(1, L.tensor([3, 1]), s),
    "index_fill": lambda L, x, s: x.index_fill(1, L.tensor([-1, 0]), 1.5),
    "index_fill-tensor": lambda L, x, s: x.index_fill(0, L.tensor([1]), s[0, 0] * 2),
    "take_along_dim": lambda L, x, s: L.take_along_dim(x, L.tensor([[0, 3], [1, 1], [2, 0]]), 1),
    "take_along_dim-broadcast": lambda L, x, s: L.take_along_dim(x[:1], L.tensor([[0], [1], [2]]), 1),
    "take_along_dim-flat": lambda L, x, s: x.take_along_dim(L.tensor([0, 5, 11])),
    "take_along_dim-negative": lambda L, x, s: x.take_along_dim(L.tensor([[-1], [0], [-4]]), dim=1),
    "scatter_": lambda L, x, s: x.scatter_(1, L.tensor(_ROWS), s),
    "scatter_add_": lambda L, x, s: x.scatter_add_(1, L.tensor(_ROWS), s),
    "scatter_reduce_": lambda L, x, s: x.scatter_reduce_(1, L.tensor(_ROWS), s, "amin"),
    "index_add_": lambda L, x, s: x.index_add_(0, L.tensor([1]), s[:1, :1].expand(1, 4) * 1),
    "index_copy_": lambda L, x, s: x.index_copy_(1, L.tensor([3, 1]), s),
    "index_fill_": lambda L, x, s: x.index_fill_(1, L.tensor([2]), -1.0),
}


def _run_scatter_case(lib, fn):
    x, s = lib.tensor(_X, requires_grad=True), lib.tensor(_SRC, requires_grad=True)
    out = fn(lib, x * 1, s * 1)
    weights = lib.tensor(np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)) / 7 + 1)
    (out * weights).sum().backward()
    name = out.grad_fn.name() if lib.__name__ == "torch" else type(out.grad_fn).__name__
    grads = [np.zeros_like(v) if t.grad is None else t.grad.numpy() for t, v in ((x, _X), (s, _SRC))]
    return out.detach().numpy(), grads[0], grads[1], name


@pytest.mark.parametrize("name", list(SCATTER_CASES))
def test_scatter_family_matches_torch(torch, name):
    t_out, t_gx, t_gs, t_node = _run_scatter_case(torch, SCATTER_CASES[name])
    f_out, f_gx, f_gs, f_node = _run_scatter_case(fgrad, SCATTER_CASES[name])
    np.testing.assert_allclose(f_out, t_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f_gx, t_gx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f_gs, t_gs, rtol=1e-6, atol=1e-6)
    assert f_node == t_node


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False], ids=["self", "noself"])
def test_scatter_reduce_integers_match_torch(torch, reduce, include_self):
    x, src = np.array([[5, -7, 3], [2, 2, 9]]), np.array([[4, -3, 1], [6, 1, -8]])
    index = np.array([[0, 0, 1], [0, 1, 1]])
    expected = torch.tensor(x).scatter_reduce(1, torch.tensor(index), torch.tensor(src), reduce,
                                              include_self=include_self)
    got = fgrad.tensor(x).scatter_reduce(1, fgrad.tensor(index), fgrad.tensor(src), reduce, include_self=include_self)
    assert got.dtype == fgrad.int64
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_scatter_repeated_target_last_write_wins_and_gets_the_gradient():
    # PyTorch leaves the winner undefined and sends the gradient to every duplicate; fgrad's scatter is
    # last-write-wins and differentiates what it computed.
    src = fgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = fgrad.zeros(2).scatter(0, fgrad.tensor([0, 0, 1]), src)
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(src.grad.numpy(), [0.0, 1.0, 1.0])


def test_scatter_reduce_multiply_and_add(torch):
    for lib in (torch, fgrad):
        x = lib.ones(2, 3)
        x.scatter_(1, lib.tensor([[0, 0], [2, 1]]), 3.0, reduce="multiply")
        y = lib.zeros(2, 3, dtype=lib.int64).scatter_(1, lib.tensor([[0, 0]]), lib.tensor([[1, 5]]), reduce="add")
        if lib is torch:
            expected = (x.numpy(), y.numpy())
    np.testing.assert_array_equal(x.numpy(), expected[0])
    np.testing.assert_array_equal(y.numpy(), expected[1])


@pytest.mark.parametrize("name, fn", [
    ("negative-index", lambda L, x: x.scatter(1, L.tensor([[-1]]), 1.0)),
    ("index-too-large", lambda L, x: x.scatter(1, L.tensor([[4]]), 1.0)),
    ("float-index", lambda L, x: x.scatter(1, L.tensor([[1.0]]), 1.0)),
    ("src-dtype", lambda L, x: x.scatter(1, L.tensor([[1]]), L.ones(1, 1, dtype=L.float64))),
    ("index-rank", lambda L, x: x.scatter(1, L.tensor([1]), 1.0)),
    ("index-too-big", lambda L, x: x.scatter(1, L.ones(4, 1, dtype=L.int64), 1.0)),
    ("index-bigger-than-src", lambda L, x: x.scatter(1, L.tensor([[0, 1], [2, 3]]), L.ones(1, 1))),
    ("bad-reduce", lambda L, x: x.scatter_(1, L.tensor([[0]]), 2.0, reduce="mean")),
    ("scatter_reduce-bad-reduce", lambda L, x: x.scatter_reduce(1, L.tensor([[0]]), L.ones(1, 1), "maximum")),
    ("index_add-out-of-range", lambda L, x: x.index_add(0, L.tensor([3]), L.ones(1, 4))),
    ("index_add-source-shape", lambda L, x: x.index_add(0, L.tensor([1]), L.ones(1, 3))),
    ("index_add-dtype", lambda L, x: x.index_add(0, L.tensor([1]), L.ones(1, 4, dtype=L.float64))),
    ("index_copy-negative", lambda L, x: x.index_copy(0, L.tensor([-1]), L.ones(1, 4))),
    ("index_fill-2d-index", lambda L, x: x.index_fill(0, L.tensor([[0, 1]]), 1.0)),
    ("index_add-2d-index", lambda L, x: x.index_add(0, L.tensor([[0, 1]]), x[:2])),
    ("index_copy-2d-index", lambda L, x: x.index_copy(0, L.tensor([[0, 1]]), x[:2])),
    ("take_along_dim-flat-negative", lambda L, x: L.take_along_dim(x, L.tensor([-1]))),
    ("take_along_dim-broadcast", lambda L, x: L.take_along_dim(x, L.tensor([[0, 1]]), 0)),
    ("leaf-inplace", lambda L, x: L.zeros(3, requires_grad=True).scatter_(0, L.tensor([0]), 1.0)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_scatter_family_errors_match_torch_types(torch, name, fn):
    with pytest.raises(Exception) as t_err:
        fn(torch, torch.zeros(3, 4))
    with pytest.raises(Exception) as f_err:
        fn(fgrad, fgrad.zeros(3, 4))
    assert type(f_err.value) is type(t_err.value), (f_err.value, t_err.value)


def test_scatter_add_under_func_transforms():
    index = fgrad.tensor([0, 2, 0])

    def f(src):
        return fgrad.zeros(3, dtype=fgrad.float64).scatter_add(0, index, src).pow(2).sum()
    src = fgrad.tensor([1.0, 2.0, 3.0], dtype=fgrad.float64)
    np.testing.assert_allclose(fgrad.func.grad(f)(src).numpy(), [8.0, 4.0, 8.0])
    batched = fgrad.func.vmap(lambda s: fgrad.zeros(3).index_add(0, index, s))(fgrad.ones(5, 3))
    np.testing.assert_array_equal(batched.numpy(), np.tile([2.0, 0.0, 1.0], (5, 1)))


@pytest.mark.parametrize("reduce, include_self", [("amax", True), ("amin", False)], ids=["amax", "amin-noself"])
def test_scatter_reduce_extrema_at_infinities_match_torch(torch, reduce, include_self):
    results = []
    for lib in (torch, fgrad):
        x = lib.tensor([np.inf, 1.0, -np.inf, 2.0], requires_grad=True)
        src = lib.tensor([np.inf, 3.0, -np.inf, 0.5], requires_grad=True)
        out = (x * 1).scatter_reduce(0, lib.tensor([0, 1, 2, 3]), src * 1, reduce, include_self=include_self)
        out.sum().backward()
        results.append([out.detach().numpy(), x.grad.numpy(), src.grad.numpy()])
    for f, t in zip(results[1], results[0]):
        np.testing.assert_array_equal(f, t)


def test_scatter_reduce_under_func_grad():
    # the repeated targets are grouped from the concrete index even while fgrad.func traces the function
    grad = fgrad.func.grad(lambda t: fgrad.zeros(3).scatter_reduce(0, fgrad.tensor([0, 0, 2]), t, "amax").sum())
    np.testing.assert_array_equal(grad(fgrad.tensor([1.0, 1.0, 3.0])).numpy(), [0.5, 0.5, 1.0])


def test_scatter_reduce_src_larger_than_index_gets_zero_gradient_outside():
    # PyTorch's backward raises here (the gathered gradient has index's shape); fgrad pads it with zeros
    src = fgrad.tensor([5.0, 0.0, 7.0], requires_grad=True)
    fgrad.tensor([1.0, 1.0]).scatter_reduce(0, fgrad.tensor([0, 1]), src, "amax").sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [1.0, 0.0, 0.0])
