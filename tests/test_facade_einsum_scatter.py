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
