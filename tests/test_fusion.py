"""Fusions across calls in the generated kernels (fgrad/backend/row_stream.py and its hooks in codegen.py).

Row streaming: a matrix read both by `M @ v` and by `u @ M` is read once, row by row, when the two products
can share the loop over its rows. The golden file holds the logistic-regression gradient's kernel; the
property test runs random programs with the pattern and near-misses that must not fuse (or must not share
a loop) through jit, serial and parallel, and the reference executor, and checks the kernel's structure.

Update the golden file after a deliberate change with FGRAD_UPDATE_GOLDEN=1 (and read the diff).
"""
from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from fgrad.backend.numpy_exec import evaluate  # noqa: E402

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"


def logistic_loss(w, X, y):
    return fnp.mean(fnp.log1p(fnp.exp(-y * (X @ w)))) + 0.01 * fnp.sum(w ** 2)


def without_hashes(source: str) -> str:
    """The kernel source with the hashes of the modules it imports (they change with every edit there)."""
    return re.sub(r"# (vecmath|accumulate) [0-9a-f]+", r"# \1 <hash>", source)


def lowered(fun, args, parallel=False):
    return fgrad.jit(fun, parallel=parallel).lower(*args)


def top_level_blocks(source: str) -> list:
    """The kernel's statements at the function body's level, each with the lines nested under it."""
    blocks = []
    for line in source.splitlines():
        if line.startswith("        ") and blocks:
            blocks[-1].append(line)
        elif line.startswith("    ") and not line.startswith("     "):
            blocks.append([line])
    return ["\n".join(b) for b in blocks]


def row_passes(source: str, matrix: str) -> int:
    """How many loops of the kernel read rows of the array named `matrix` (`a1[i0, ...]`)."""
    row = re.compile(rf"\b{matrix}\[i0, ")
    return sum(1 for block in top_level_blocks(source) if block.lstrip().startswith("for ") and row.search(block))


# ---- golden ------------------------------------------------------------------------------------------

def test_logistic_regression_kernel_matches_golden():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal(5), rng.standard_normal((7, 5)), np.sign(rng.standard_normal(7)))
    low = lowered(fgrad.value_and_grad(logistic_loss), args)
    text = f"{low.program}\n\n{without_hashes(low.source)}"
    path = GOLDEN_DIR / "source_row_stream.txt"
    if os.environ.get("FGRAD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_logistic_regression_reads_the_matrix_once():
    args = (np.ones(5), np.ones((7, 5)), np.ones(7))
    for parallel in (False, True):
        source = lowered(fgrad.value_and_grad(logistic_loss), args, parallel).source
        assert "np.dot" not in source
        assert row_passes(source, "a1") == 1, source


# ---- properties --------------------------------------------------------------------------------------

UNARY = {
    "tanh": fnp.tanh,
    "softplus": lambda z: fnp.log1p(fnp.exp(-fnp.abs(z))) + fnp.maximum(z, 0.0),
    "square": lambda z: z * z,
    "sin": fnp.sin,
}

# mode -> (builder of f(w, X, y) returning a tuple, expected row passes over X, np.dot calls expected)
# "stream": value and gradient of sum(chain(y * X @ w)); one pass, no BLAS.
# "normalised": u = e / sum(e) needs the full sum over the rows first: two passes (never one).
# "transposed": the matrix is a transpose (a view): BLAS, as before.
# "one_way": only X @ w: BLAS.
# "two_matrices": X @ w and u @ Z with Z another matrix: neither matrix is read both ways: BLAS.


def chain(names):
    def f(z):
        for name in names:
            z = UNARY[name](z)
        return z
    return f


def build(mode, names):
    g = chain(names)
    if mode == "stream":
        def loss(w, X, y):
            return fnp.sum(g(y * (X @ w)))
        return lambda w, X, y: tuple(fgrad.value_and_grad(loss)(w, X, y))
    if mode == "normalised":
        def f(w, X, y):
            e = fnp.exp(-fnp.abs(g(X @ w)))
            return ((e / fnp.sum(e)) @ X,)
        return f
    if mode == "transposed":
        def loss(w, Xt, y):
            return fnp.sum(g(y * (Xt.T @ w)))
        return lambda w, Xt, y: tuple(fgrad.value_and_grad(loss)(w, Xt, y))
    if mode == "one_way":
        return lambda w, X, y: (fnp.sum(g(y * (X @ w))),)
    if mode == "reversed_vector":
        def loss(w, X, y):
            return fnp.sum(g(y * (X @ w[::-1])))
        return lambda w, X, y: tuple(fgrad.value_and_grad(loss)(w, X, y))
    if mode == "matrix_product":
        def loss(w, X, y):
            return fnp.sum(g(X @ fnp.stack([w, 2.0 * w], axis=1)) * y[:, None])
        return lambda w, X, y: tuple(fgrad.value_and_grad(loss)(w, X, y))
    if mode == "two_matrices":
        return lambda w, X, y: ((g(X @ w) * y) @ (X * 2.0),)
    raise ValueError(mode)


# "reversed_vector": v is a view (w[::-1]), stored first, then streamed: one pass.
# "matrix_product": X @ W with W 2-D is a GEMM: BLAS, forward and gradient.
EXPECTED = {"stream": (1, 0), "normalised": (2, 0), "transposed": (0, 2), "one_way": (0, 1),
            "reversed_vector": (1, 0), "matrix_product": (0, 2),
            "two_matrices": (1, 2)}
SIZES = [(7, 5), (0, 3), (1, 0), (4100, 9)]      # empty axes, a row shorter than the lanes, several blocks


def arguments(mode, n, d, dtype, rng):
    w = rng.standard_normal(d).astype(dtype)
    X = (rng.standard_normal((n, d)) / max(d, 1) ** 0.5).astype(dtype)
    y = np.sign(rng.standard_normal(n)).astype(dtype)
    return (w, np.ascontiguousarray(X.T) if mode == "transposed" else X, y)


@settings(max_examples=18, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(sorted(EXPECTED)), names=st.lists(st.sampled_from(sorted(UNARY)), max_size=2),
       dtype=st.sampled_from(["float64", "float32"]), parallel=st.booleans())
def test_row_streaming_agrees_with_the_reference(mode, names, dtype, parallel):
    fun = build(mode, names)
    jitted = fgrad.jit(fun, parallel=parallel)
    rng = np.random.default_rng(len(names))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for n, d in SIZES:
        args = arguments(mode, n, d, dtype, rng)
        low = jitted.lower(*args)
        if n == 7:
            passes, dots = EXPECTED[mode]
            assert row_passes(low.source, "a1") == passes, low.source
            assert low.source.count("np.dot(") == dots, low.source
        expected = evaluate(low.program, *args)
        got = jitted(*args)
        for e, g in zip(expected, got):
            assert np.asarray(g).dtype == e.dtype
            np.testing.assert_allclose(g, e, **tol, err_msg=f"{mode} {names} {dtype} n={n} d={d}")


# ---- peeled loops ------------------------------------------------------------------------------------

def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


INTERIOR = re.compile(r"^( *)for i0 in (?:p?range\(lo\d+, hi\d+\)|range\(blo\d+, bhi\d+\)):$", re.M)


def peeled(source: str) -> bool:
    """Does the kernel run some loop as edges and an interior (fgrad.backend.peel), a reduction's interior
    in blocks?"""
    return INTERIOR.search(source) is not None


def interior(source: str) -> str:
    """The body of the first peeled interior loop of the kernel."""
    head = INTERIOR.search(source)
    lines = []
    for line in source[head.end():].splitlines()[1:]:
        if not line.startswith(head.group(1) + "    "):
            break
        lines.append(line)
    return "\n".join(lines)


def test_rosenbrock_gradient_kernel_matches_golden():
    low = lowered(fgrad.value_and_grad(rosenbrock), (np.linspace(-1.0, 1.0, 6),))
    text = f"{low.program}\n\n{without_hashes(low.source)}"
    path = GOLDEN_DIR / "source_peeled_rosenbrock.txt"
    if os.environ.get("FGRAD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_peeled_interior_reads_without_conditions():
    source = lowered(fgrad.value_and_grad(rosenbrock), (np.ones(6),), parallel=True).source
    assert peeled(source)
    assert " if " not in interior(source), source


def windows(draw_offsets):
    """A sum of products of shifted windows x[a:n-b] of one vector (the Rosenbrock family)."""
    def loss(x):
        total = 0.0
        for (a, b), (c, d), op in draw_offsets:
            m = x.shape[0]
            left, right = x[a:m - b], x[c:m - d]
            k = min(left.shape[0], right.shape[0])
            total = total + fnp.sum(UNARY[op](left[:k]) * right[:k])
        return total
    return loss


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                st.sampled_from(sorted(UNARY))), min_size=1, max_size=2),
       dtype=st.sampled_from(["float64", "float32"]), parallel=st.booleans())
def test_peeled_loops_agree_with_the_reference(terms, dtype, parallel):
    fun = fgrad.value_and_grad(windows(terms))
    jitted = fgrad.jit(fun, parallel=parallel)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for n in (7, 8, 4100):          # short vectors (edges that meet), and several blocks
        x = np.linspace(-1.5, 1.3, n).astype(dtype)
        low = jitted.lower(x)
        expected = evaluate(low.program, x)
        got = jitted(x)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, **tol, err_msg=f"{terms} {dtype} n={n}")


def test_interior_padding_keeps_its_conditions():
    # A pad with interior padding (every other element) is a condition on i0 % 2: it is not peeled.
    from fgrad.ops.slicing import pad
    fun = lambda x: pad(fnp.sin(x), ((1, 2, 1),)) * 2.0
    x = np.linspace(-1.0, 1.0, 5)
    low = lowered(fun, (x,))
    assert not peeled(low.source)
    np.testing.assert_allclose(fgrad.jit(fun)(x), evaluate(low.program, x)[0])


def test_pads_on_both_ends_peel_to_the_common_interior():
    from fgrad.ops.slicing import pad
    fun = lambda x: pad(fnp.sin(x), ((2, 0),)) + pad(fnp.cos(x), ((0, 2),))
    for parallel in (False, True):
        jitted = fgrad.jit(fun, parallel=parallel)
        for n in (0, 1, 3, 9):
            x = np.linspace(-1.0, 1.0, n)
            low = jitted.lower(x)
            assert peeled(low.source)
            np.testing.assert_allclose(jitted(x), evaluate(low.program, x)[0], rtol=1e-12, atol=1e-14)


# ---- reductions over leading axes in memory order ------------------------------------------------------

def test_sum_over_the_batch_loops_in_memory_order():
    fun = lambda d, h: fnp.sum(d * (1.0 - h * h), axis=0)
    args = (np.ones((4, 3), np.float32), np.ones((4, 3), np.float32))
    source = lowered(fun, args).source
    assert re.search(r"for i0 in range\(n\d+\):\n\s+for i1 in range\(n\d+\):", source), source
    assert re.search(r"r\d+\[i1\] \+= v\d+", source), source
    # the parallel kernel keeps its prange over the kept axis
    assert "for i1 in prange(" in lowered(fun, args, parallel=True).source


REDUCERS = {"sum": fnp.sum, "max": fnp.max, "min": fnp.min}


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(reducer=st.sampled_from(sorted(REDUCERS)), axes=st.sampled_from([(0,), (0, 1), (1,), (2,), (0, 2)]),
       dtype=st.sampled_from(["float64", "float32", "int64", "bool"]), op=st.sampled_from(sorted(UNARY)))
def test_leading_reductions_agree_with_the_reference(reducer, axes, dtype, op):
    if dtype == "bool" and reducer != "sum":
        dtype = "float64"
    if dtype in ("int64", "bool"):
        fun = lambda x: (REDUCERS[reducer](x, axis=axes), REDUCERS[reducer](x * 2, axis=axes))
    else:
        fun = lambda x: (REDUCERS[reducer](UNARY[op](x), axis=axes), fnp.sum(x * 0.5, axis=axes))
    jitted = fgrad.jit(fun, parallel=False)
    for shape in [(3, 4, 5), (1, 2, 3), (0, 2, 3), (4, 0, 2)]:
        if reducer != "sum" and 0 in [shape[a] for a in axes]:
            continue                         # max/min of nothing is an error in numpy too
        x = (np.arange(np.prod(shape)).reshape(shape) % 7 - 3).astype(dtype)
        low = jitted.lower(x)
        expected = evaluate(low.program, x)
        for e, g in zip(expected, jitted(x)):
            assert np.asarray(g).dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=2e-6, err_msg=f"{reducer} {axes} {dtype} {shape}")


# ---- neighbouring domains: windows of one axis share a loop (fgrad.backend.peel) ------------------------

def loop_nests(jitted, args) -> int:
    """How many loop nests the kernel of `jitted` on `args` has (codegen's groups)."""
    from fgrad.backend.codegen import fused_steps
    return sum(1 for kind, _ in fused_steps(jitted.lower(*args).program) if kind == "loop")


def test_rosenbrock_value_and_gradient_are_one_pass():
    x = np.linspace(-1.0, 1.0, 9)
    serial, parallel = (fgrad.jit(fgrad.value_and_grad(rosenbrock), parallel=p) for p in (False, True))
    assert loop_nests(serial, (x,)) == 1
    x = np.random.default_rng(5).uniform(-2.0, 2.0, 20_000)
    (v1, g1), (v2, g2) = serial(x), parallel(x)
    assert v1 == v2                      # the blocks sum in the same order, serial and prange
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_allclose(v1, np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2), rtol=1e-12)


# mode -> (builder of f(x, y) from a unary op g, loop nests expected). y has x's length minus one.
# Fused: a reduction over a window and an elementwise output over the whole vector (or a shorter window).
# Near-misses: extents that are not windows of one axis (another input, a strided slice), windows too far
# apart (MAX_GAP), and an output that needs the finished sum.
def neighbours(mode, g):
    if mode == "value_and_grad":
        return lambda x, y: tuple(fgrad.value_and_grad(lambda x: fnp.sum(g(x[1:]) * x[:-1]))(x))
    if mode == "sum_and_map":
        return lambda x, y: (fnp.sum(g(x[1:]) - x[:-1]), fnp.cos(x) * 2.0)
    if mode == "stencil_and_sum":
        return lambda x, y: (x[2:] - 2.0 * g(x[1:-1]) + x[:-2], fnp.sum(x * x))
    if mode == "max_and_map":
        return lambda x, y: (fnp.max(g(x[:-1])), x * 3.0)
    if mode == "another_input":
        return lambda x, y: (fnp.sum(g(y)), fnp.cos(x))
    if mode == "strided":
        return lambda x, y: (fnp.sum(g(x[::2])), x * 3.0)
    if mode == "far_window":
        return lambda x, y: (fnp.sum(g(x[17:])), x * 3.0)
    if mode == "needs_the_sum":
        return lambda x, y: (x[1:] * fnp.sum(g(x[:-1])),)
    raise ValueError(mode)


NEIGHBOURS = {"value_and_grad": 1, "sum_and_map": 1, "stencil_and_sum": 1, "max_and_map": 1,
              "another_input": 2, "strided": 2, "far_window": 2, "needs_the_sum": 2}
# The gradient reads g(x[1:]) (or its derivative) at a shifted index: a cheap value is recomputed there, an
# expensive one (sin, tanh, exp) is stored by the value's loop and read by a second one.
CHEAP = {"square"}


def expected_nests(mode, op) -> int:
    return 2 if mode == "value_and_grad" and op not in CHEAP else NEIGHBOURS[mode]


@pytest.mark.parametrize("mode", sorted(NEIGHBOURS), ids=sorted(NEIGHBOURS))
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(sorted(UNARY)), dtype=st.sampled_from(["float64", "float32"]), parallel=st.booleans())
def test_neighbouring_domains_agree_with_the_reference(mode, op, dtype, parallel):
    jitted = fgrad.jit(neighbours(mode, UNARY[op]), parallel=parallel)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    # edges that meet, several blocks; max of nothing is an error, as in numpy
    sizes = (20, 4100) if mode == "far_window" else (2, 3, 20, 4100) if mode == "max_and_map" else \
        (1, 2, 3, 20, 4100)
    for n in sizes:
        x = np.linspace(-1.5, 1.3, n).astype(dtype)
        y = np.linspace(0.7, -0.4, n - 1).astype(dtype)
        if n == 20:
            assert loop_nests(jitted, (x, y)) == expected_nests(mode, op), jitted.lower(x, y).source
        low = jitted.lower(x, y)
        expected = evaluate(low.program, x, y)
        for e, got in zip(expected, jitted(x, y)):
            assert np.asarray(got).dtype == e.dtype
            np.testing.assert_allclose(got, e, **tol, err_msg=f"{mode} {op} {dtype} n={n}")
