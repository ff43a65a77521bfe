"""torch's CPU random streams: fgrad's draws equal PyTorch 2.13's bit for bit (values and generator state).

Every case seeds both libraries, makes a few draws first (so streams are mid-block and a normal value may
be cached), runs the case, and compares the result's bytes and then the generators' state bytes.
"""
from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fgrad
from fgrad.facade import _random

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def as_numpy(t) -> np.ndarray:
    if isinstance(t, fgrad.Tensor):
        return np.asarray(t.detach()._data)
    return t.detach().numpy()


def assert_bitwise(ours, theirs):
    a, b = as_numpy(ours), as_numpy(theirs)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    if not np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)):
        diff = np.flatnonzero(np.ascontiguousarray(a).reshape(-1) != np.ascontiguousarray(b).reshape(-1))
        pytest.fail(f"{diff.size} of {a.size} elements differ, first at {diff[:5]}: "
                    f"{a.reshape(-1)[diff[:5]]} vs {b.reshape(-1)[diff[:5]]}")


def assert_same_state(torch, generator=None, torch_generator=None):
    ours = (generator or fgrad.default_generator).get_state()
    theirs = (torch_generator or torch.default_generator).get_state()
    assert_bitwise(ours, theirs)


SEEDS = [0, 1, 42, 2 ** 40 + 3, -5]


def warm_up(lib):
    """Draws before the case: 7 words and a cached normal value."""
    lib.rand(4)
    lib.randn(3)


# (id, case): the case gets the library module and returns a tensor
CASES = [
    ("rand-f32-1", lambda t: t.rand(1)),
    ("rand-f32-2x3", lambda t: t.rand(2, 3)),
    ("rand-f32-623", lambda t: t.rand(623)),
    ("rand-f32-624", lambda t: t.rand(624)),
    ("rand-f32-625", lambda t: t.rand(625)),
    ("rand-f32-2000", lambda t: t.rand(2000)),
    ("rand-f64-5", lambda t: t.rand(5, dtype=t.float64)),
    ("rand-f64-313", lambda t: t.rand(313, dtype=t.float64)),
    ("rand-size-keyword", lambda t: t.rand(size=(2, 2))),
    ("randn-f32-1", lambda t: t.randn(1)),
    ("randn-f32-2", lambda t: t.randn(2)),
    ("randn-f32-15", lambda t: t.randn(15)),
    ("randn-f32-16", lambda t: t.randn(16)),
    ("randn-f32-17", lambda t: t.randn(17)),
    ("randn-f32-31", lambda t: t.randn(31)),
    ("randn-f32-32", lambda t: t.randn(32)),
    ("randn-f32-33", lambda t: t.randn(33)),
    ("randn-f32-4x5", lambda t: t.randn(4, 5)),
    ("randn-f32-100000", lambda t: t.randn(100000)),
    ("randn-f64-3", lambda t: t.randn(3, dtype=t.float64)),
    ("randn-f64-15", lambda t: t.randn(15, dtype=t.float64)),
    ("randn-f64-16", lambda t: t.randn(16, dtype=t.float64)),
    ("randn-f64-47", lambda t: t.randn(47, dtype=t.float64)),
    ("randn-f64-4096", lambda t: t.randn(4096, dtype=t.float64)),
    ("normal_-f32-5", lambda t: t.empty(5).normal_(2.0, 0.5)),
    ("normal_-f32-50", lambda t: t.empty(50).normal_(-1.0, 3.0)),
    ("normal_-f64-50", lambda t: t.empty(50, dtype=t.float64).normal_(-1.0, 3.0)),
    ("normal_-f32-transposed-4x5", lambda t: t.empty(4, 5).t().normal_(1.0, 2.0)),
    ("normal_-f32-column-slice", lambda t: t.zeros(20, 3)[:, 1].normal_()),
    ("uniform_-f32-bounds", lambda t: t.empty(300).uniform_(-0.3, 0.7)),
    ("uniform_-f64-bounds", lambda t: t.empty(300, dtype=t.float64).uniform_(-2.5, 1e-3)),
    ("uniform_-f32-transposed", lambda t: t.empty(6, 7).t().uniform_(1.0, 2.0)),
    ("randint-10", lambda t: t.randint(10, (9,))),
    ("randint-low-high", lambda t: t.randint(-5, 17, (3, 4))),
    ("randint-range-2**28-1", lambda t: t.randint(0, 2 ** 28 - 1, (7,))),
    ("randint-range-2**28", lambda t: t.randint(0, 2 ** 28, (7,))),
    ("randint-range-2**40", lambda t: t.randint(-3, 2 ** 40, (7,))),
    ("randint-int32", lambda t: t.randint(3, (4,), dtype=t.int32)),
    ("randint-float32", lambda t: t.randint(0, 100, (5,), dtype=t.float32)),
    ("randint-keywords", lambda t: t.randint(high=7, size=(6,), dtype=t.int64)),
    ("randint_like", lambda t: t.randint_like(t.empty(3, 2, dtype=t.int64), 5, 9)),
    ("randperm-0", lambda t: t.randperm(0)),
    ("randperm-1", lambda t: t.randperm(1)),
    ("randperm-2", lambda t: t.randperm(2)),
    ("randperm-10", lambda t: t.randperm(10)),
    ("randperm-1000", lambda t: t.randperm(1000)),
    ("randperm-float32", lambda t: t.randperm(7, dtype=t.float32)),
    ("random_-int64", lambda t: t.empty(5, dtype=t.int64).random_()),
    ("random_-int32", lambda t: t.empty(5, dtype=t.int32).random_()),
    ("random_-float32", lambda t: t.empty(5).random_()),
    ("random_-float64", lambda t: t.empty(5, dtype=t.float64).random_()),
    ("random_-bool", lambda t: t.empty(9, dtype=t.bool).random_()),
    ("random_-to", lambda t: t.empty(5, dtype=t.int32).random_(100)),
    ("random_-from-to", lambda t: t.empty(5, dtype=t.float64).random_(3, 10)),
    ("bernoulli-p-f32", lambda t: t.bernoulli(t.full((9,), 0.3))),
    ("bernoulli-p-f64", lambda t: t.bernoulli(t.full((9,), 0.3, dtype=t.float64))),
    ("bernoulli-p-number", lambda t: t.bernoulli(t.empty(6), 0.25)),
    ("bernoulli_-number", lambda t: t.empty(11).bernoulli_(0.6)),
    ("bernoulli_-tensor", lambda t: t.empty(2, 3).bernoulli_(t.tensor([0.1, 0.5, 0.9]))),
    ("exponential_-f32", lambda t: t.empty(11).exponential_(2.0)),
    ("exponential_-f64", lambda t: t.empty(11, dtype=t.float64).exponential_()),
    ("multinomial-replacement", lambda t: t.multinomial(t.tensor([1.0, 2.0, 3.0, 4.0]), 6, True)),
    ("multinomial-2d-replacement", lambda t: t.multinomial(t.tensor([[1.0, 0.0, 3.0], [0.2, 0.2, 0.6]]), 5, True)),
    ("multinomial-no-replacement", lambda t: t.multinomial(t.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 1.0, 1.0]]), 3)),
    ("multinomial-one-sample", lambda t: t.multinomial(t.tensor([1.0, 2.0, 3.0, 4.0]), 1, True)),
    ("rand_like-transposed", lambda t: t.rand_like(t.empty(3, 4).t())),
    ("randn_like-transposed", lambda t: t.randn_like(t.empty(5, 4).t())),
    ("normal-tensor-mean", lambda t: t.normal(t.arange(4.0), 2.0)),
    ("normal-tensor-std", lambda t: t.normal(1.0, t.full((20,), 3.0))),
    ("normal-tensors", lambda t: t.normal(t.ones(2, 3), t.tensor([0.5, 1.0, 2.0]))),
    ("normal-numbers", lambda t: t.normal(2.0, 3.0, (4,))),
]


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
def test_draws_match_torch(torch, case, seed):
    torch.manual_seed(seed)
    fgrad.manual_seed(seed)
    warm_up(torch)
    warm_up(fgrad)
    assert_bitwise(case(fgrad), case(torch))
    assert_same_state(torch)


def test_interleaved_calls_share_one_stream(torch):
    def session(t):
        g = t.Generator().manual_seed(123)
        out = [t.randn(3, generator=g), t.rand(5, dtype=t.float64, generator=g), t.randn(1, generator=g),
               t.randint(0, 50, (4,), generator=g), t.randn(20, generator=g), t.empty(3).normal_(generator=g),
               t.randperm(9, generator=g), t.randn(2, 2, dtype=t.float64, generator=g),
               t.empty(7).uniform_(-1, 1, generator=g), t.bernoulli(t.full((5,), 0.5), generator=g)]
        return out, g
    ours, g_ours = session(fgrad)
    theirs, g_theirs = session(torch)
    for a, b in zip(ours, theirs):
        assert_bitwise(a, b)
    assert_bitwise(g_ours.get_state(), g_theirs.get_state())


def test_explicit_generator_leaves_the_default_one_alone(torch):
    for t in (torch, fgrad):
        t.manual_seed(5)
    g_ours, g_theirs = fgrad.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert_bitwise(fgrad.randn(40, generator=g_ours), torch.randn(40, generator=g_theirs))
    assert_bitwise(fgrad.rand(3), torch.rand(3))
    assert_same_state(torch)
    assert_same_state(torch, g_ours, g_theirs)


def test_new_generator_has_pytorchs_default_seed(torch):
    assert fgrad.Generator().initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert_bitwise(fgrad.rand(4, generator=fgrad.Generator()), torch.rand(4, generator=torch.Generator()))
    assert_bitwise(fgrad.Generator().get_state(), torch.Generator().get_state())


def test_state_round_trip(torch):
    fgrad.manual_seed(3)
    fgrad.randn(5)                                   # leaves a cached normal value in the state
    state = fgrad.get_rng_state()
    first = [fgrad.randn(3), fgrad.rand(700), fgrad.randperm(20)]
    fgrad.set_rng_state(state)
    again = [fgrad.randn(3), fgrad.rand(700), fgrad.randperm(20)]
    for a, b in zip(first, again):
        assert_bitwise(a, b)


def test_state_bytes_cross_between_libraries(torch):
    torch.manual_seed(11)
    torch.randn(7)
    g = fgrad.Generator().set_state(fgrad.from_numpy(torch.get_rng_state().numpy()))
    assert_bitwise(fgrad.randn(9, generator=g), torch.randn(9))
    g = torch.Generator()
    fgrad.manual_seed(12)
    fgrad.rand(1000)
    g.set_state(torch.from_numpy(as_numpy(fgrad.get_rng_state()).copy()))
    assert_bitwise(fgrad.randn(33), torch.randn(33, generator=g))


def test_hand_made_positions_follow_torch(torch):
    """A state whose position is not one PyTorch reaches by drawing (2 words left at index 5): PyTorch
    reads those words, then regenerates; fgrad too. One reading past the array is refused."""
    torch.manual_seed(3)
    state = torch.get_rng_state().numpy().copy()
    header = state[:24].view(np.int32)
    header[2], header[4] = 3, 5                    # left = 3, next = 5 (little-endian low words)
    g_theirs = torch.Generator()
    g_theirs.set_state(torch.from_numpy(state.copy()))
    g_ours = fgrad.Generator().set_state(fgrad.from_numpy(state.copy()))
    assert_bitwise(fgrad.randint(0, 2 ** 20, (700,), generator=g_ours),
                   torch.randint(0, 2 ** 20, (700,), generator=g_theirs))
    header[2], header[4] = 600, 100
    with pytest.raises(RuntimeError, match="Invalid mt19937 state"):
        fgrad.Generator().set_state(fgrad.from_numpy(state.copy()))


def test_generator_copies_and_pickles_with_its_state():
    g = fgrad.Generator().manual_seed(4)
    fgrad.randn(3, generator=g)                      # mid-block, with a cached normal value
    for clone in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert clone.initial_seed() == 4
        assert_bitwise(fgrad.randn(3, generator=clone), fgrad.randn(3, generator=copy.deepcopy(g)))


def test_seeds_wrap_and_overflow_as_in_torch(torch):
    for value in (-1, -2 ** 63, 2 ** 64 - 1, 2 ** 32 + 7):
        ours, theirs = fgrad.Generator().manual_seed(value), torch.Generator().manual_seed(value)
        assert ours.initial_seed() == theirs.initial_seed()
    for bad, error in ((2 ** 64, ValueError), (-2 ** 63 - 1, ValueError), (1.5, RuntimeError), (True, RuntimeError)):
        with pytest.raises(error) as ours:
            fgrad.manual_seed(bad)
        with pytest.raises(error) as theirs:
            torch.Generator().manual_seed(bad)
        assert str(ours.value) == str(theirs.value)


def test_seed_draws_a_fresh_seed_and_uses_it():
    g = fgrad.Generator()
    s = g.seed()
    assert g.initial_seed() == s
    assert_bitwise(fgrad.rand(3, generator=g), fgrad.rand(3, generator=fgrad.Generator().manual_seed(s)))
    assert fgrad.manual_seed(7) is fgrad.default_generator and fgrad.initial_seed() == 7


def test_set_state_rejects_what_torch_rejects(torch):
    cases = [fgrad.zeros(5056), fgrad.from_numpy(np.zeros(10, np.uint8)), fgrad.from_numpy(np.zeros(5056, np.uint8))]
    torch_cases = [torch.zeros(5056), torch.zeros(10, dtype=torch.uint8), torch.zeros(5056, dtype=torch.uint8)]
    for ours, theirs in zip(cases, torch_cases):
        with pytest.raises((TypeError, RuntimeError)) as e_ours:
            fgrad.Generator().set_state(ours)
        with pytest.raises((TypeError, RuntimeError)) as e_theirs:
            torch.Generator().set_state(theirs)
        assert type(e_ours.value) is type(e_theirs.value)
        assert str(e_ours.value) == str(e_theirs.value)


ERROR_CASES = [
    ("uniform-from-out-of-bounds", lambda t: t.empty(3).uniform_(-1e39, 1)),
    ("uniform-from-after-to", lambda t: t.empty(3).uniform_(2, 1)),
    ("uniform-int", lambda t: t.empty(3, dtype=t.int64).uniform_()),
    ("rand-int", lambda t: t.rand(2, dtype=t.int64)),
    ("normal-negative-std", lambda t: t.empty(3).normal_(0, -1)),
    ("normal-int", lambda t: t.empty(3, dtype=t.int64).normal_()),
    ("normal-negative-std-tensor", lambda t: t.normal(0.0, t.tensor([-1.0]))),
    ("bernoulli-p-above-one", lambda t: t.empty(3).bernoulli_(1.5)),
    ("randint-from-after-to", lambda t: t.randint(5, 3, (2,))),
    ("randint-out-of-int32", lambda t: t.randint(-2 ** 40, 3, (2,), dtype=t.int32)),
    ("randint-bool-range", lambda t: t.randint(0, 3, (2,), dtype=t.bool)),
    ("exponential-negative-lambda", lambda t: t.empty(3).exponential_(-1)),
    ("exponential-int", lambda t: t.empty(3, dtype=t.int64).exponential_()),
    ("multinomial-too-many", lambda t: t.multinomial(t.ones(3), 4)),
    ("multinomial-no-samples", lambda t: t.multinomial(t.ones(3), 0)),
    ("multinomial-3d", lambda t: t.multinomial(t.ones(2, 2, 2), 1)),
    ("multinomial-zero-sum", lambda t: t.multinomial(t.tensor([0.0, 0.0]), 2, True)),
    ("multinomial-negative", lambda t: t.multinomial(t.tensor([1.0, -1.0]), 2, True)),
    ("multinomial-nan", lambda t: t.multinomial(t.tensor([1.0, float("nan")]), 2, True)),
    ("multinomial-int", lambda t: t.multinomial(t.tensor([1, 2]), 1)),
    ("randperm-negative", lambda t: t.randperm(-1)),
]


@pytest.mark.parametrize("case", [c for _, c in ERROR_CASES], ids=[name for name, _ in ERROR_CASES])
def test_errors_match_torch(torch, case):
    with pytest.raises(Exception) as theirs:
        case(torch)
    with pytest.raises(Exception) as ours:
        case(fgrad)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_generator_argument_must_be_a_generator():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        fgrad.rand(2, generator=5)


# ---- nn.init, nn.Linear, dropout -----------------------------------------------------------------------

INIT_CASES = [
    ("uniform_", lambda t, w: t.nn.init.uniform_(w, -2, 3)),
    ("normal_", lambda t, w: t.nn.init.normal_(w, 1, 0.1)),
    ("xavier_uniform_", lambda t, w: t.nn.init.xavier_uniform_(w, gain=2.0)),
    ("xavier_normal_", lambda t, w: t.nn.init.xavier_normal_(w)),
    ("kaiming_uniform_", lambda t, w: t.nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", lambda t, w: t.nn.init.kaiming_normal_(w, a=0.1)),
    ("trunc_normal_-wide", lambda t, w: t.nn.init.trunc_normal_(w, std=0.02)),
    ("trunc_normal_-redraws", lambda t, w: t.nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)),
    ("trunc_normal_-acceptance", lambda t, w: t.nn.init.trunc_normal_(w, mean=0.0, std=1.0, a=1.5, b=2.5)),
    ("eye_", lambda t, w: t.nn.init.eye_(w)),
    ("sparse_", lambda t, w: t.nn.init.sparse_(w, 0.3)),
    ("constant_", lambda t, w: t.nn.init.constant_(w, 0.3)),
    ("zeros_", lambda t, w: t.nn.init.zeros_(w)),
    ("ones_", lambda t, w: t.nn.init.ones_(w)),
]


@pytest.mark.parametrize("shape", [(3, 4), (20, 30)], ids=["3x4", "20x30"])
@pytest.mark.parametrize("case", [c for _, c in INIT_CASES], ids=[name for name, _ in INIT_CASES])
def test_init_matches_torch(torch, case, shape):
    for t in (torch, fgrad):
        t.manual_seed(2)
    assert_bitwise(case(fgrad, fgrad.empty(*shape)), case(torch, torch.empty(*shape)))
    assert_same_state(torch)


def test_dirac_matches_torch(torch):
    assert_bitwise(fgrad.nn.init.dirac_(fgrad.empty(4, 2, 3, 3), groups=2),
                   torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2))


def test_orthogonal_draws_torchs_normals_and_is_orthogonal(torch):
    for t in (torch, fgrad):
        t.manual_seed(0)
    ours = fgrad.nn.init.orthogonal_(fgrad.empty(4, 6), gain=2.0)
    theirs = torch.nn.init.orthogonal_(torch.empty(4, 6), gain=2.0)
    np.testing.assert_allclose(as_numpy(ours), as_numpy(theirs), atol=1e-6)   # QR: numpy's LAPACK vs MKL
    np.testing.assert_allclose(as_numpy(ours) @ as_numpy(ours).T, 4 * np.eye(4), atol=1e-5)
    assert_same_state(torch)


def test_deprecated_init_aliases_warn():
    with pytest.warns(FutureWarning, match="nn.init.normal_"):
        fgrad.nn.init.normal(fgrad.empty(3))


@pytest.mark.parametrize("sizes", [(5, 3), (100, 30), (1, 1)], ids=["5-3", "100-30", "1-1"])
def test_linear_default_init_matches_torch(torch, sizes):
    for t in (torch, fgrad):
        t.manual_seed(0)
    ours, theirs = fgrad.nn.Linear(*sizes), torch.nn.Linear(*sizes)
    assert_bitwise(ours.weight, theirs.weight)
    assert_bitwise(ours.bias, theirs.bias)
    assert_same_state(torch)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9], ids=["p0.1", "p0.5", "p0.9"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_is_torchs(torch, p, dtype):
    torch.manual_seed(3)
    x = torch.rand(7, 11, dtype=getattr(torch, dtype)) + 0.5
    fgrad.manual_seed(3)
    fgrad.rand(7, 11, dtype=getattr(fgrad, dtype))
    mask = _random.dropout_mask((7, 11), p, np.dtype(dtype))
    expected = torch.nn.functional.dropout(x, p)
    np.testing.assert_array_equal((x.numpy() * mask).astype(dtype), expected.numpy())
    assert_same_state(torch)


def test_dropout_mask_without_draws():
    fgrad.manual_seed(0)
    before = as_numpy(fgrad.get_rng_state())
    assert (_random.dropout_mask((3,), 0.0, np.float32) == 1).all()
    assert (_random.dropout_mask((3,), 1.0, np.float32) == 0).all()
    np.testing.assert_array_equal(as_numpy(fgrad.get_rng_state()), before)


# ---- the pieces --------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 400))
def test_vectorised_fisher_yates_equals_the_loop(seed, n):
    rng = np.random.default_rng(seed)
    targets = np.array([rng.integers(i, n) for i in range(n - 1)], dtype=np.int64)
    expected = list(range(n))
    for i, j in enumerate(targets):
        expected[i], expected[j] = expected[j], expected[i]
    np.testing.assert_array_equal(_random._fisher_yates(targets, n), expected)


def test_randperm_switches_to_random64_at_its_threshold(monkeypatch):
    """PyTorch's threshold (n >= 2**32 / 20, read from libtorch_cpu.so) is too large to compare against;
    the switch itself is checked with a lowered threshold against a plain Fisher-Yates loop."""
    monkeypatch.setattr(_random, "_RANDPERM_64BIT_FROM", 50)
    for n, draw in ((49, "random"), (50, "random64")):
        words = getattr(fgrad.Generator().manual_seed(1), draw)(n - 1)
        expected = list(range(n))
        for i in range(n - 1):
            j = i + int(words[i]) % (n - i)
            expected[i], expected[j] = expected[j], expected[i]
        np.testing.assert_array_equal(_random.permutation(fgrad.Generator().manual_seed(1), n), expected)


def test_fma_float32_rounds_once():
    """The numpy float32 FMA (round to odd in float64) against LLVM's fma, on values whose products and
    sums straddle many binades (cancellations, subnormal and inexact sums included)."""
    import numba
    from fgrad.facade._random_kernels import kernel
    fma = kernel("affine").module.fma                  # the kernel module's llvm.fma intrinsic

    @numba.njit
    def reference(a, b, c):
        out = np.empty_like(a)
        for i in range(a.size):
            out[i] = fma(a[i], b[i], c[i])
        return out

    rng = np.random.default_rng(0)
    n = 300000

    def spread():
        return (rng.standard_normal(n) * 2.0 ** rng.integers(-70, 40, n)).astype(np.float32)
    a, b, c = spread(), spread(), spread()
    c[:1000] = -(a[:1000].astype(np.float64) * b[:1000]).astype(np.float32)      # near-cancellations
    np.testing.assert_array_equal(_random.fma_float32(a, b, c), reference(a, b, c))


def test_capability_follows_the_environment():
    code = "from fgrad.facade import _random; print(_random.cpu_capability())"
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "default"


def test_default_kernels_match_torchs_default_build(torch):
    """With ATEN_CPU_CAPABILITY=default PyTorch runs its portable kernels (no FMA contraction, libm's float
    log/sin/cos for float32 normals); fgrad follows. Both run in one child process."""
    code = """
import numpy as np, torch, fgrad
def draws(t):
    t.manual_seed(0)
    return [t.randn(40), t.randn(5), t.empty(30).uniform_(-0.3, 0.7), t.empty(30, dtype=t.float64).uniform_(-2, 3),
            t.empty(7).normal_(1.0, 3.0), t.nn.Linear(20, 10).weight]
ok = all(np.array_equal(np.asarray(a.detach()._data), b.detach().numpy()) for a, b in zip(draws(fgrad), draws(torch)))
print(torch.backends.cpu.get_cpu_capability(), ok)
"""
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["DEFAULT", "True"], out.stdout + out.stderr


def test_random_kernels_are_cached_by_fgrads_kernel_loader():
    """The Numba loops live in FGRAD_CACHE_DIR, content-addressed (never next to fgrad's source), and a second
    process loads their machine code from there instead of compiling."""
    from fgrad.backend.numba_jit import cache_dir, compile_stats
    from fgrad.facade._random_kernels import kernel
    fgrad.manual_seed(0)
    fgrad.randn(3)                                   # the per-element path: normal_pairs, then affine
    for entry in ("normal_pairs", "affine"):
        path = kernel(entry).path
        assert path is not None and path.parent == cache_dir(), path
    assert not list((ROOT / "fgrad" / "facade").rglob("*.nbi")), "Numba cache files next to fgrad's source"
    code = ("import fgrad; from fgrad.backend.numba_jit import compile_stats; "
            "from fgrad.facade._random_kernels import kernel; fgrad.manual_seed(0); print(fgrad.randn(3).tolist()); "
            "print([compile_stats(kernel(e))['cache_misses'] for e in ('normal_pairs', 'affine')])")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    values, misses = out.stdout.strip().splitlines()
    fgrad.manual_seed(0)
    assert values == str(fgrad.randn(3).tolist()) and misses == "[0, 0]", out.stdout
