"""Generated kernel source: golden files, determinism, independence of sizes and constant values.

The golden files tests/golden/source_*.txt hold the simplified program and the kernel source. To update
them after a deliberate change, run

    FGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py

and read the diff: a kernel should be what a person would write by hand.
"""
from __future__ import annotations

import ast
import os
import pathlib
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fgrad
import fgrad.numpy as fnp
from fgrad.backend.codegen import generate, inline_calls

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"


def w1_loss(x):
    return fnp.sum(fnp.sin(x) ** 2 * fnp.exp(-0.5 * x) + fnp.tanh(x) * x)


def broadcast_and_reduce(x, b):
    """A row-normalised softmax-like map: a partial reduction, then its broadcast back."""
    z = fnp.exp(x + b)
    return z / fnp.sum(z, axis=1, keepdims=True)


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


GOLDEN = [
    ("w1_grad", fgrad.value_and_grad(w1_loss), (np.ones(8),)),
    ("broadcast_reduce", broadcast_and_reduce, (np.ones((3, 4)), np.ones(4))),
]


def lowered_text(fun, args, parallel=False) -> str:
    lowered = fgrad.jit(fun, parallel=parallel).lower(*args)
    # The kernel names the hashes of fgrad.backend.vecmath's and accumulate's sources, which change with
    # every edit there.
    source = re.sub(r"# (vecmath|accumulate) [0-9a-f]+", r"# \1 <hash>", lowered.source)
    return f"{lowered.program}\n\n{source}"


@pytest.mark.parametrize("name, fun, args", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_source_matches_golden(name, fun, args):
    text = lowered_text(fun, args)
    path = GOLDEN_DIR / f"source_{name}.txt"
    if os.environ.get("FGRAD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_w1_gradient_is_one_loop_without_temporaries():
    source = fgrad.jit(fgrad.value_and_grad(w1_loss)).lower(np.ones(8)).source
    assert source.count("for i0 in") == 1         # one pass over x (blocked for the sum)
    assert source.count("np.empty((n0,)") == 1     # the gradient is the only array of x's size
    assert "vsin(v0)" in source and "np.sin" not in source


def test_source_does_not_depend_on_sizes():
    jitted = fgrad.jit(fgrad.value_and_grad(rosenbrock))
    small, large = jitted.lower(np.ones(5)), jitted.lower(np.ones(1000))
    assert small.program != large.program
    assert small.source == large.source


def test_generation_is_deterministic():
    a = fgrad.jit(fgrad.value_and_grad(rosenbrock)).lower(np.ones(10))
    b = fgrad.jit(fgrad.value_and_grad(rosenbrock)).lower(np.ones(10))
    assert a.source == b.source
    assert generate(a.program).source == a.source


def test_array_constants_are_arguments():
    w = np.linspace(0.0, 1.0, 6)
    lowered = generate(fgrad.make_ir(lambda x: fnp.sum(x * w))(np.ones(6)))
    assert "def kernel(a0, k0)" in lowered.source
    assert len(lowered.constants) == 1 and lowered.constants[0] is not None
    np.testing.assert_array_equal(lowered.constants[0], w)


def test_scalar_literals_are_exact():
    lowered = generate(fgrad.make_ir(lambda x: x * 0.1 + np.float32(1 / 3))(np.ones(2, np.float32)))
    assert "np.float32(0.10000000149011612)" in lowered.source
    assert f"np.float32({float(np.float32(1 / 3))!r})" in lowered.source


def test_broadcast_is_index_arithmetic():
    source = fgrad.jit(broadcast_and_reduce).lower(np.ones((3, 4)), np.ones(4)).source
    assert "a1[i1]" in source                     # b read at the column index: no broadcast copy
    assert "broadcast_to" in source and "np.broadcast_to" not in source


def test_parallel_source_uses_prange_for_disjoint_writes_only():
    source = fgrad.jit(fgrad.value_and_grad(w1_loss), parallel=True).lower(np.ones(8)).source
    # The full sum: per-block partials in prange, combined serially after the loop.
    parallel_part, combine = source.split("for b0 in prange(nb0):")[1].split("for b0 in range(nb0):")
    assert "p10[b0] = r10" in parallel_part and "r10 += p10[b0]" in combine
    assert "assert" not in source


def test_calls_are_inlined():
    @fgrad.custom_vjp
    def f(x):
        return fnp.sin(x)
    f.defvjp(lambda x: (fnp.sin(x), x), lambda x, g: (g,))
    program = fgrad.make_ir(lambda x: f(x) * 2.0)(np.ones(3))
    assert any(e.prim.name == "custom_vjp_call" for e in program.equations)
    names = [e.prim.name for e in inline_calls(program).equations]
    assert names[0] == "sin" and "custom_vjp_call" not in names


# ---- every kernel is well formed: names defined before use, results owned -----------------------------

class _ReadsBeforeWrites(ast.NodeVisitor):
    """Walks a kernel in execution order (a value before its targets, a loop's range before its body) and
    collects the names read before any assignment to them."""

    def __init__(self, defined):
        self.defined = set(defined)
        self.undefined = []

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.defined.add(node.id)
        elif node.id not in self.defined:
            self.undefined.append((node.lineno, node.id))

    def visit_Assign(self, node):
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node):
        self.visit(node.value)
        self.visit(ast.Name(node.target.id, ast.Load(), lineno=node.lineno)
                   if isinstance(node.target, ast.Name) else node.target)

    def visit_For(self, node):
        self.visit(node.iter)
        self.visit(node.target)
        for statement in node.body:
            self.visit(statement)


def check_kernel_source(source: str):
    """The kernel parses, reads no name before assigning it, and returns no argument and no array twice."""
    module = ast.parse(source)
    kernel = next(n for n in module.body if isinstance(n, ast.FunctionDef))
    imported = {alias.asname or alias.name for n in module.body if isinstance(n, (ast.Import, ast.ImportFrom))
                for alias in n.names}
    walker = _ReadsBeforeWrites(imported | {a.arg for a in kernel.args.args} | {"range", "min", "abs", "max"})
    for statement in kernel.body:
        walker.visit(statement)
    lines = source.splitlines()
    assert not walker.undefined, "read before assignment: " + "; ".join(
        f"{name} in line {line}: {lines[line - 1].strip()}" for line, name in walker.undefined)
    returned = kernel.body[-1].value.elts
    plain = [r.id for r in returned if isinstance(r, ast.Name) and r.id.startswith("a")]
    assert len(plain) == len(set(plain)), f"an array is returned twice: {ast.unparse(kernel.body[-1])}"
    arguments = {a.arg for a in kernel.args.args}
    assert not arguments & set(plain), f"an argument is returned: {ast.unparse(kernel.body[-1])}"


def test_repeated_results_get_arrays_of_their_own():
    # A result the loop computes is stored to a second array in the same pass; an argument returned, or a
    # call's result returned twice, is copied.
    source = fgrad.jit(lambda x: (x, x * 2, x * 2, x)).lower(np.ones(3)).source
    assert "        a2[i0] = v2\n        a2_1[i0] = v2\n" in source
    assert source.rstrip().endswith("return (a0.copy(), a2, a2_1, a0.copy())")
    source = fgrad.jit(lambda x: (fnp.sum(x, axis=0), fnp.sum(x, axis=0))).lower(np.ones((2, 3))).source
    assert "a1[:] = r1\n    a1_1[:] = r1\n" in source       # the accumulator row, copied to each
    source = fgrad.jit(lambda x: (x @ x, x @ x)).lower(np.ones((3, 3))).source
    assert source.rstrip().endswith("return (a1, a1.copy())")


# The programs of issue 17: a broadcast constant used by a group before the copy an output asks for.
ISSUE_17_PROGRAMS = [
    ("linear_term", fgrad.value_and_grad(lambda w: fnp.sum(w * 2.0)), (np.ones(3),)),
    ("affine_term", fgrad.value_and_grad(lambda w: fnp.sum((w - 1) * 3)), (np.ones(3),)),
    ("last_element", fgrad.value_and_grad(lambda x: fnp.sum(x[-1:] * 0.37)), (np.ones(1),)),
    ("full_like_output", lambda a: (a * fnp.full_like(a, 2), fnp.full_like(a, 2)), (np.ones(3),)),
    ("zero_sized_axis", fgrad.value_and_grad(lambda x: fnp.sum(x[-1:] * 0.37)), (np.ones((0, 3)),)),
]


@pytest.mark.parametrize("name, fun, args", ISSUE_17_PROGRAMS, ids=[p[0] for p in ISSUE_17_PROGRAMS])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_copies_of_views_come_before_their_readers(name, fun, args, parallel):
    check_kernel_source(fgrad.jit(fun, parallel=parallel).lower(*args).source)


@st.composite
def programs_with_constants(draw):
    """Elementwise work, reductions and slices mixed with literal broadcasts, full_like constants and
    constant arrays, returning inputs, constants and repeated results, on shapes with 0-sized axes."""
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 3]), min_size=1, max_size=3)))
    constant = np.linspace(-1.0, 1.0, shape[-1])
    terms = [lambda x: x * 2.0, lambda x: (x - 1) * 3, lambda x: x[-1:] * 0.37, lambda x: x * constant,
             lambda x: fnp.sin(x) * fnp.full_like(x, 2), lambda x: fnp.sum(x, axis=0) * 0.5,
             lambda x: fnp.broadcast_to(1.5, x.shape) + x[::-1], lambda x: fnp.maximum(x, 0.0)]
    chosen = draw(st.lists(st.sampled_from(range(len(terms))), min_size=1, max_size=3))
    extras = draw(st.lists(st.sampled_from(["input", "literal", "full_like", "repeat", "gradient"]), max_size=3))
    differentiate = draw(st.booleans())

    def loss(x):
        return sum(fnp.sum(terms[k](x)) for k in chosen)

    def fun(x):
        outs = list(fgrad.value_and_grad(loss)(x)) if differentiate else [loss(x)]
        for extra in extras:
            outs.append({"input": x, "literal": 2.0, "full_like": fnp.full_like(x, 2.0), "repeat": outs[-1],
                         "gradient": fgrad.grad(loss)(x)}[extra])
        return tuple(outs)
    return fun, np.ones(shape)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs_with_constants(), parallel=st.booleans())
def test_kernels_are_well_formed(case, parallel):
    fun, x = case
    check_kernel_source(fgrad.jit(fun, parallel=parallel).lower(x).source)


def test_high_ranks_loop_over_a_flat_position():
    # Python allows 20 nested blocks: a rank-21 nest becomes one loop, its indices digits of the position.
    x = np.ones((1,) * 18 + (2, 3, 2))
    source = fgrad.jit(lambda x: fnp.sum(fnp.sin(x) * 2.0, axis=-1)).lower(x).source
    assert "for fi0 in range(n0 * n1 * " in source and "i19 = fi0 % n19" in source
    check_kernel_source(source)
    parallel = fgrad.jit(lambda x: fnp.sum(fnp.sin(x) * 2.0, axis=-1), parallel=True).lower(x).source
    assert "for fi0 in prange(n0 * n1 * " in parallel
    check_kernel_source(parallel)
    shallow = fgrad.jit(lambda x: fnp.sin(x) * 2.0).lower(np.ones((2, 3))).source
    assert "for i0 in range(n0):" in shallow and "fi0" not in shallow
