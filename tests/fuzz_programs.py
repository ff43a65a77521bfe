"""A seeded generator of random array programs, and the differential check the fuzzing test runs on them.

`Recipe.draw(seed)` makes a random program: one to three inputs (float32 or float64, some axes of size 1
or of size 0), then a few steps drawn from elementwise ops (the special-value-prone ones included:
log, sqrt, division, powers, remainder, logaddexp, ...), broadcasts with Python and numpy scalars and
with constant arrays, reductions, cumsum, slices, pads, concatenates, gathers, scatters, transposes,
reshapes and matmuls, and outputs that may be an input, a constant, a broadcast constant or a repeated
result. Sizes are symbols (`d0`, `d1`, ...), so one recipe runs at several sizes with one compiled
kernel, and at a size 0 of one symbol.

A recipe is written once against a namespace `m` of array functions (fgrad.numpy or jax.numpy), like
tests/test_transforms_jax.py. `check_recipe` builds the function `combined(*inputs, *tangents)` that
returns the forward values, `value_and_grad` of a weighted sum of them (with respect to every input) and
their JVP, then compares, leaf by leaf:

- the reference executor (fgrad.backend.numpy_exec.evaluate of the traced program),
- `fgrad.jit(combined, parallel=False)` and `fgrad.jit(combined, parallel=True)`,
- JAX (x64; jitted, and eager where the two differ) where installed, for programs without special input
  values and without empty arrays;

and checks that every jitted result is an array of its own (never an argument, never another result).
One kernel per program and mode covers values, gradients and JVPs, which keeps compilation (the cost of
a fuzzed program) down.

Run a recipe by hand with `python tests/fuzz_programs.py SEED`: it prints the recipe, the program and
the comparison. `python tests/fuzz_programs.py --run FIRST COUNT` checks a range and prints a JSON line per
recipe; `run_in_chunks` runs a long range in child processes (Numba keeps the memory of every kernel it
compiled, about 40 MB a recipe).
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import ops as fops
from fgrad.backend.numpy_exec import evaluate

# Tolerances against the reference, relative to a leaf's largest finite magnitude (at least 1), by the
# least precise float dtype of the program (a float64 result can hold float32 sums): float32 chains
# through vectorised exp/sin/... and float64 accumulators differ from numpy's by a few ulps per step.
RTOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}
# JAX evaluates float32 transcendental functions with its own approximations.
JAX_RTOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-8}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e-30]


# ---- sizes: symbols and what slicing, padding, gathering and joining make of them -------------------

def size_of(expr, dims) -> int:
    """The size an axis expression takes when the symbols have sizes `dims`."""
    if type(expr) is int:
        return expr
    kind = expr[0]
    if kind == "d":
        return dims[expr[1]]
    if kind == "slice":
        return len(range(size_of(expr[1], dims))[slice(*expr[2])])
    if kind == "pad":
        n = size_of(expr[1], dims)
        lo, hi, interior = expr[2]
        return lo + hi + n + max(n - 1, 0) * interior
    if kind == "take":
        return expr[2] if size_of(expr[1], dims) > 0 else 0
    if kind == "sum":
        return sum(size_of(e, dims) for e in expr[1:])
    if kind == "prod":
        return math.prod(size_of(e, dims) for e in expr[1:])
    raise ValueError(expr)


def symbols_in(expr) -> set:
    if type(expr) is int:
        return set()
    if expr[0] == "d":
        return {expr[1]}
    return set().union(*(symbols_in(e) for e in expr[1:] if isinstance(e, tuple) and e and type(e[0]) is str))


def broadcast(a: tuple, b: tuple):
    """The broadcast of two symbolic shapes, or None: equal expressions match, 1 stretches."""
    out = []
    for k in range(1, max(len(a), len(b)) + 1):
        x = a[-k] if k <= len(a) else 1
        y = b[-k] if k <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(reversed(out))


# ---- the namespaces a recipe is written against -----------------------------------------------------

def _fgrad_namespace():
    def lax_pad(x, widths):
        return fops.pad(x, widths)

    def scatter_add(x, index, update):
        return x.at[index].add(update)

    return SimpleNamespace(np=fnp, pad=lax_pad, scatter_add=scatter_add, name="fgrad")


def _jax_namespace(jax):
    import jax.numpy as jnp

    def lax_pad(x, widths):
        return jax.lax.pad(x, jnp.zeros((), x.dtype), widths)

    def scatter_add(x, index, update):
        return jnp.asarray(x).at[index].add(update)

    return SimpleNamespace(np=jnp, pad=lax_pad, scatter_add=scatter_add, name="jax")


# ---- the ops a step draws from ----------------------------------------------------------------------
# Each op is (name, arity, function(m, x[, y], c) -> value); `c` is the step's Constants (seeded arrays).

UNARY = [
    ("sin", lambda m, x, c: m.np.sin(x)),
    ("cos", lambda m, x, c: m.np.cos(x)),
    ("tan", lambda m, x, c: m.np.tan(x)),
    ("tanh", lambda m, x, c: m.np.tanh(x)),
    ("exp", lambda m, x, c: m.np.exp(x)),
    ("log", lambda m, x, c: m.np.log(x)),
    ("log1p", lambda m, x, c: m.np.log1p(x)),
    ("expm1", lambda m, x, c: m.np.expm1(x)),
    ("sqrt", lambda m, x, c: m.np.sqrt(x)),
    ("abs", lambda m, x, c: m.np.abs(x)),
    ("negative", lambda m, x, c: -x),
    ("square", lambda m, x, c: m.np.square(x)),
    ("cube", lambda m, x, c: x ** 3),
    ("inverse_square", lambda m, x, c: x ** -2),
    ("pow_half", lambda m, x, c: x ** 0.5),
    ("pow_1.5", lambda m, x, c: x ** 1.5),
    ("reciprocal", lambda m, x, c: 1.0 / x),
    ("sign", lambda m, x, c: m.np.sign(x)),
    ("floor", lambda m, x, c: m.np.floor(x)),
    ("relu", lambda m, x, c: m.np.maximum(x, 0.0)),
    ("clip", lambda m, x, c: m.np.clip(x, -1.0, 1.5)),
    ("logistic", lambda m, x, c: 1.0 / (1.0 + m.np.exp(-x))),
    ("positive_part", lambda m, x, c: x * (x > 0)),
    ("affine", lambda m, x, c: (x - 1) * 3),
    ("twice", lambda m, x, c: x * 2.0),
    ("scaled_f32", lambda m, x, c: x * np.float32(0.37)),
    ("shifted_f64", lambda m, x, c: x + np.float64(0.25)),
]

BINARY = [
    ("add", lambda m, x, y, c: x + y),
    ("subtract", lambda m, x, y, c: x - y),
    ("multiply", lambda m, x, y, c: x * y),
    ("divide", lambda m, x, y, c: x / y),
    ("maximum", lambda m, x, y, c: m.np.maximum(x, y)),
    ("minimum", lambda m, x, y, c: m.np.minimum(x, y)),
    ("logaddexp", lambda m, x, y, c: m.np.logaddexp(x, y)),
    ("where", lambda m, x, y, c: m.np.where(x > y, x, y * 0.5)),
    ("remainder", lambda m, x, y, c: m.np.remainder(x, y)),
    ("floor_divide", lambda m, x, y, c: m.np.floor_divide(x, y)),
    ("power", lambda m, x, y, c: m.np.abs(x) ** y),
]


# How often a step is of each kind (a kind that does not apply to the drawn operand becomes unary).
STEP_KINDS = {"unary": 2.0, "binary": 2.0, "literal": 1.0, "constant": 1.0, "reduce": 1.5, "structural": 3.0,
              "matmul": 0.8}


@dataclass
class Node:
    shape: tuple            # axis expressions
    dtype: np.dtype


@dataclass
class Step:
    label: str
    args: tuple             # node indices (inputs first, then one node per step)
    fun: object             # fun(m, *values, constants) -> value
    node: Node


@dataclass
class Recipe:
    seed: int
    dims: tuple                         # sizes of the symbols in the main variant
    inputs: list                        # Nodes
    steps: list = field(default_factory=list)
    outputs: list = field(default_factory=list)   # ("node", i) | ("literal", x) | ("full_like", i, v)
    special: bool = False               # inputs hold NaN, inf, 0 and huge values (no JAX comparison)

    # -- drawing ------------------------------------------------------------------------------------
    @classmethod
    def draw(cls, seed: int) -> "Recipe":
        rng = np.random.default_rng(seed)
        dtype = np.dtype(np.float32 if rng.random() < 0.4 else np.float64)
        ndims = int(rng.integers(1, 4))
        recipe = cls(seed, tuple(int(d) for d in rng.integers(2, 6, ndims)), [], special=rng.random() < 0.25)
        for _ in range(int(rng.integers(1, 4))):
            rank = int(rng.choice([0, 1, 2, 2, 3]))
            shape = tuple(1 if rng.random() < 0.2 else ("d", int(rng.integers(ndims))) for _ in range(rank))
            recipe.inputs.append(Node(shape, dtype if rng.random() < 0.9 else np.dtype(np.float64)))
        for _ in range(int(rng.integers(1, 9))):
            recipe.add_step(rng)
        recipe.draw_outputs(rng)
        return recipe

    @property
    def precision(self) -> np.dtype:
        """The least precise float dtype of the program."""
        return min((n.dtype for n in self.nodes), key=lambda d: d.itemsize)

    @property
    def nodes(self) -> list:
        return self.inputs + [s.node for s in self.steps]

    def add_step(self, rng):
        nodes = self.nodes
        i = int(rng.integers(len(nodes))) if rng.random() < 0.4 else len(nodes) - 1 - int(rng.integers(
            min(3, len(nodes))))
        x = nodes[i]
        kinds, weights = zip(*STEP_KINDS.items())
        kind = rng.choice(kinds, p=np.array(weights) / sum(weights))
        maker = getattr(self, "step_" + str(kind))
        step = maker(rng, i, x)
        if step is None:
            step = self.step_unary(rng, i, x)
        self.steps.append(step)

    def step_unary(self, rng, i, x):
        name, fun = UNARY[int(rng.integers(len(UNARY)))]
        dtype = x.dtype if name not in ("shifted_f64",) else np.result_type(x.dtype, np.float64)
        return Step(name, (i,), fun, Node(x.shape, np.dtype(dtype)))

    def step_binary(self, rng, i, x):
        nodes = self.nodes
        partners = [j for j, n in enumerate(nodes) if broadcast(x.shape, n.shape) is not None]
        j = partners[int(rng.integers(len(partners)))]
        name, fun = BINARY[int(rng.integers(len(BINARY)))]
        shape = broadcast(x.shape, nodes[j].shape)
        args = (i, j) if rng.random() < 0.5 else (j, i)
        return Step(name, args, fun, Node(shape, np.result_type(x.dtype, nodes[j].dtype)))

    def step_literal(self, rng, i, x):
        name, fun = BINARY[int(rng.integers(len(BINARY)))]
        value = float(rng.choice([2.0, -1.0, 0.5, 3.0, 0.37, 1.0]))
        if rng.random() < 0.5:
            return Step(f"{name}(x, {value})", (i,), lambda m, a, c: fun(m, a, value, c), x)
        return Step(f"{name}({value}, x)", (i,), lambda m, a, c: fun(m, value, a, c), x)

    def step_constant(self, rng, i, x):
        """A binary op with a constant array broadcast against x (some of x's axes, others 1)."""
        name, fun = BINARY[int(rng.integers(len(BINARY)))]
        shape = tuple(d if rng.random() < 0.6 else 1 for d in x.shape)[int(rng.integers(len(x.shape) + 1)):]
        return Step(f"{name}(x, constant{shape})", (i,),
                    lambda m, a, c: fun(m, a, c.array(shape, x.dtype), c), x)

    def step_reduce(self, rng, i, x):
        name = str(rng.choice(["sum", "mean", "max", "min", "prod", "cumsum", "var"]))
        if x.shape == ():
            return Step(f"{name}()", (i,), lambda m, a, c: getattr(m.np, name)(a), x) if name != "cumsum" else None
        axis = int(rng.integers(len(x.shape)))
        if name == "cumsum":
            return Step(f"cumsum(axis={axis})", (i,), lambda m, a, c: m.np.cumsum(a, axis=axis), x)
        keepdims = bool(rng.random() < 0.3)
        if rng.random() < 0.3:
            shape = tuple(1 for _ in x.shape) if keepdims else ()
            return Step(f"{name}(keepdims={keepdims})", (i,),
                        lambda m, a, c: getattr(m.np, name)(a, keepdims=keepdims), Node(shape, x.dtype))
        shape = tuple(1 if k == axis else d for k, d in enumerate(x.shape)) if keepdims else \
            tuple(d for k, d in enumerate(x.shape) if k != axis)
        return Step(f"{name}(axis={axis}, keepdims={keepdims})", (i,),
                    lambda m, a, c: getattr(m.np, name)(a, axis=axis, keepdims=keepdims), Node(shape, x.dtype))

    def step_structural(self, rng, i, x):
        if x.shape == ():
            shape = (("d", 0),)
            return Step("broadcast_to(d0)", (i,), lambda m, a, c: m.np.broadcast_to(a, c.shape(shape)),
                        Node(shape, x.dtype))
        axis = int(rng.integers(len(x.shape)))
        d = x.shape[axis]
        rank = len(x.shape)

        def replace(expr):
            return tuple(expr if k == axis else e for k, e in enumerate(x.shape))

        kind = str(rng.choice(["slice", "slice", "pad", "concatenate", "take", "scatter_add", "transpose",
                               "expand_broadcast", "reshape", "flip"]))
        if kind == "slice" and d != 1:
            bounds = [(1, None, None), (None, -1, None), (None, None, 2), (-1, None, None), (1, None, 2),
                      (None, None, -1)][int(rng.integers(6))]
            index = tuple(slice(*bounds) if k == axis else slice(None) for k in range(rank))
            return Step(f"x[{index}]", (i,), lambda m, a, c: a[index], Node(replace(("slice", d, bounds)), x.dtype))
        if kind == "pad":
            widths = (int(rng.integers(0, 3)), int(rng.integers(0, 3)), int(rng.integers(0, 2)))
            per_axis = tuple(widths if k == axis else (0, 0, 0) for k in range(rank))
            return Step(f"pad({per_axis})", (i,), lambda m, a, c: m.pad(a, per_axis),
                        Node(replace(("pad", d, widths)), x.dtype))
        if kind == "concatenate":
            return Step(f"concatenate([x, sin(x)[::-1]], axis={axis})", (i,),
                        lambda m, a, c: m.np.concatenate([a, m.np.flip(m.np.sin(a), axis)], axis=axis),
                        Node(replace(("sum", d, d)), x.dtype))
        if kind == "take":
            k = int(rng.integers(1, 5))
            return Step(f"take({k} indices, axis={axis})", (i,),
                        lambda m, a, c: m.np.take(a, c.indices(k, a.shape[axis]), axis=axis),
                        Node(replace(("take", d, k)), x.dtype))
        if kind == "scatter_add" and d != 1:
            k = int(rng.integers(1, 5))
            index = lambda c, n: (slice(None),) * axis + (c.indices(k, n),)   # noqa: E731
            return Step(f"x.at[{k} indices on axis {axis}].add(2.0)", (i,),
                        lambda m, a, c: m.scatter_add(a, index(c, a.shape[axis]), 2.0), x)
        if kind == "transpose" and rank >= 2:
            perm = tuple(int(p) for p in rng.permutation(rank))
            return Step(f"transpose({perm})", (i,), lambda m, a, c: m.np.transpose(a, perm),
                        Node(tuple(x.shape[p] for p in perm), x.dtype))
        if kind == "expand_broadcast":
            shape = (("d", 0),) + x.shape
            return Step("broadcast_to(d0 + x.shape)", (i,),
                        lambda m, a, c: m.np.broadcast_to(a[None], c.shape(shape)), Node(shape, x.dtype))
        if kind == "reshape":
            return Step("reshape(-1)", (i,), lambda m, a, c: m.np.reshape(a, (-1,)),
                        Node((("prod",) + x.shape,), x.dtype))
        if kind == "flip":
            return Step(f"flip(axis={axis})", (i,), lambda m, a, c: m.np.flip(a, axis), x)
        return None

    def step_matmul(self, rng, i, x):
        if len(x.shape) == 0:
            return None
        inner = x.shape[-1]
        out_dim = ("d", int(rng.integers(len(self.dims)))) if rng.random() < 0.7 else 1
        if len(x.shape) >= 2 and rng.random() < 0.4:
            # x @ swapaxes(x): a product of the program's own values, both operands traced.
            perm = tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2)
            return Step("x @ swapaxes(x)", (i,), lambda m, a, c: a @ m.np.transpose(a, perm),
                        Node(x.shape[:-1] + (x.shape[-2],), x.dtype))
        if rng.random() < 0.3:
            return Step("x @ vector", (i,), lambda m, a, c: a @ c.array((inner,), x.dtype),
                        Node(x.shape[:-1], x.dtype))
        return Step(f"x @ matrix(., {out_dim})", (i,), lambda m, a, c: a @ c.array((inner, out_dim), x.dtype),
                    Node(x.shape[:-1] + (out_dim,), x.dtype))

    def draw_outputs(self, rng):
        n = len(self.nodes)
        self.outputs.append(("node", n - 1))
        for _ in range(int(rng.integers(0, 3))):
            kind = rng.choice(["node", "input", "literal", "full_like", "repeat"])
            if kind == "node":
                self.outputs.append(("node", int(rng.integers(n))))
            elif kind == "input":
                self.outputs.append(("node", int(rng.integers(len(self.inputs)))))
            elif kind == "literal":
                self.outputs.append(("literal", 2.0))
            elif kind == "full_like":
                self.outputs.append(("full_like", int(rng.integers(n)), 2.0))
            else:
                self.outputs.append(self.outputs[int(rng.integers(len(self.outputs)))])

    # -- running ------------------------------------------------------------------------------------
    def variants(self) -> list:
        """Symbol sizes to run at: the drawn ones, others of the same kernel, and one symbol at 0."""
        sizes = [self.dims, tuple(d + 1 if d < 4 else d - 1 for d in self.dims)]
        used = set().union(*(symbols_in(e) for node in self.nodes for e in node.shape))
        if used:
            zero = sorted(used)[self.seed % len(used)]
            sizes.append(tuple(0 if k == zero else d for k, d in enumerate(self.dims)))
        return sizes

    def function(self, m, dims):
        """The recipe's outputs as a function of its inputs, with namespace `m` at symbol sizes `dims`."""
        def f(*inputs):
            values = list(inputs)
            for k, step in enumerate(self.steps):
                c = Constants(self.seed, k, dims)
                values.append(step.fun(m, *[values[a] for a in step.args], c))
            outs = []
            for out in self.outputs:
                if out[0] == "node":
                    outs.append(values[out[1]])
                elif out[0] == "literal":
                    outs.append(out[1])
                else:
                    outs.append(m.np.full_like(values[out[1]], out[2]))
            return tuple(outs)
        return f

    def arguments(self, dims):
        rng = np.random.default_rng([self.seed, *dims])
        args = []
        for node in self.inputs:
            shape = tuple(size_of(e, dims) for e in node.shape)
            x = np.asarray(rng.standard_normal(shape) * 1.5, node.dtype)
            if self.special:
                flat = x.reshape(-1)
                mask = rng.random(flat.size) < 0.3
                flat[mask] = rng.choice(SPECIAL, int(mask.sum()))
            args.append(x)
        tangents = [np.asarray(rng.standard_normal(a.shape), a.dtype) for a in args]
        return args, tangents

    def describe(self) -> str:
        names = [f"x{k}" for k in range(len(self.inputs))] + [f"s{k}" for k in range(len(self.steps))]
        lines = [f"recipe {self.seed}: dims {self.dims}, special values: {self.special}"]
        for k, node in enumerate(self.inputs):
            lines.append(f"  x{k}: {node.dtype.name}{list(node.shape)}")
        for k, step in enumerate(self.steps):
            lines.append(f"  s{k} = {step.label} of {', '.join(names[a] for a in step.args)}"
                         f"  -> {step.node.dtype.name}{list(step.node.shape)}")
        lines.append("  outputs: " + ", ".join(names[o[1]] if o[0] == "node" else str(o) for o in self.outputs))
        return "\n".join(lines)


class Constants:
    """The constant arrays of one step, seeded by (recipe, step, sizes): the same in every namespace."""

    def __init__(self, seed, step, dims):
        self.rng = np.random.default_rng([seed, step, *dims])
        self.dims = dims

    def shape(self, shape) -> tuple:
        return tuple(size_of(e, self.dims) for e in shape)

    def array(self, shape, dtype):
        return np.asarray(self.rng.standard_normal(self.shape(shape)), dtype)

    def indices(self, k, n):
        """k indices into an axis of size n (repeats and a negative one included); none if n == 0."""
        if n == 0:
            return np.zeros(0, np.int64)
        picked = self.rng.integers(0, n, k)
        picked[0] = -1 if k > 1 else picked[0]
        return picked.astype(np.int64)


# ---- the differential check -------------------------------------------------------------------------

@dataclass
class Finding:
    seed: int
    dims: tuple
    what: str

    def __str__(self):
        return f"seed {self.seed} at sizes {self.dims}: {self.what}"


def combined_function(recipe: Recipe, m, dims, grad, jvp, value_and_grad):
    """(forward outputs, value_and_grad of a weighted sum of the float outputs, JVP of the float outputs)."""
    f = recipe.function(m, dims)
    argnums = tuple(range(len(recipe.inputs)))
    nargs = len(recipe.inputs)

    def floats(*inputs):
        return tuple(o for o in f(*inputs) if not isinstance(o, float) and o.dtype.kind == "f")

    def loss(*inputs):
        total = 0.0
        for k, out in enumerate(floats(*inputs)):
            weight = Constants(recipe.seed, 1000 + k, dims).array(tuple(out.shape), out.dtype)
            total = total + m.np.sum(out * weight)
        return total

    def combined(*arrays):
        inputs, tangents = arrays[:nargs], arrays[nargs:]
        return f(*inputs), value_and_grad(loss, argnums=argnums)(*inputs), jvp(floats, inputs, tangents)

    return combined


def fgrad_combined(recipe, dims):
    return combined_function(recipe, _FGRAD, dims, fgrad.grad, fgrad.jvp, fgrad.value_and_grad)


_FGRAD = _fgrad_namespace()


def compare(got, want, rtol) -> str | None:
    """None if `got` matches `want` (NaN and inf exactly where want has them), else what differs."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if want.dtype.kind not in "fc":
        return None if np.array_equal(got, want) else f"{got!r} != {want!r}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    special = ~np.isfinite(w) | ~np.isfinite(g)
    if not np.array_equal(np.isnan(g), np.isnan(w)) or not np.array_equal(g[np.isinf(w)], w[np.isinf(w)]) \
            or not np.array_equal(np.isinf(g), np.isinf(w)):
        return f"special values differ:\n{got!r}\n{want!r}"
    finite = ~special
    scale = max(1.0, float(np.max(np.abs(w[finite]), initial=0.0)))
    error = float(np.max(np.abs(g[finite] - w[finite]), initial=0.0))
    if error > rtol * scale:
        return f"error {error:.3g} > {rtol:g} * {scale:.3g}:\n{got!r}\n{want!r}"
    return None


class Checker:
    """Runs recipes and collects findings. Jitted functions are kept per recipe so its size variants
    share one compiled kernel per mode."""

    def __init__(self, jax=None):
        self.jax = jax
        self.jax_namespace = _jax_namespace(jax) if jax is not None else None
        self.findings = []
        self.programs = 0

    def check(self, recipe: Recipe):
        self.programs += 1
        before = len(self.findings)
        for dims in recipe.variants():
            try:
                self.check_variant(recipe, dims)
            except Exception:   # a crash of the checker itself is a finding too, with its traceback
                self.report(recipe, dims, "the check raised:\n" + traceback.format_exc(limit=-6))
        return self.findings[before:]

    def report(self, recipe, dims, what):
        self.findings.append(Finding(recipe.seed, dims, what))

    def check_variant(self, recipe, dims):
        args, tangents = recipe.arguments(dims)
        leaves = args + tangents
        combined = fgrad_combined(recipe, dims)
        with np.errstate(all="ignore"):
            try:
                program = fgrad.make_ir(combined)(*leaves)
            except (ValueError, TypeError) as exc:
                # A shape-dependent error (a max over an empty axis): jit must raise the same.
                self.expect_same_error(recipe, dims, combined, leaves, exc)
                return
            want = evaluate(program, *leaves)
        for parallel in (False, True):
            # One jitted function per size (its closure's constants have that size); the kernel source does
            # not depend on sizes, so the variants of a recipe share its compiled kernels.
            run = fgrad.jit(combined, parallel=parallel)
            with np.errstate(all="ignore"):
                got = fgrad.tree_util.tree_leaves(run(*leaves))
            mode = "parallel jit" if parallel else "jit"
            self.compare_leaves(recipe, dims, mode, got, want, RTOL[recipe.precision])
            self.check_ownership(recipe, dims, mode, got, leaves)
        # JAX's derivatives of reductions over an empty axis follow their own conventions (the tangent of
        # var over an empty axis is 0 there, nan here, as for mean in both), so JAX judges programs whose
        # arrays are all non-empty: no input and no intermediate (a broadcast to a 0-sized dim) is empty.
        if self.jax is not None and not recipe.special and all(a.size for a in args) and 0 not in dims:
            self.check_jax(recipe, dims, leaves, want)

    def expect_same_error(self, recipe, dims, combined, leaves, exc):
        for parallel in (False, True):
            try:
                fgrad.jit(combined, parallel=parallel)(*leaves)
            except type(exc) as raised:
                if str(raised) != str(exc):
                    self.report(recipe, dims, f"jit raised {raised!r}, eager {exc!r}")
            else:
                self.report(recipe, dims, f"jit returned where eager raised {exc!r}")

    def compare_leaves(self, recipe, dims, mode, got, want, rtol, check_dtype=True):
        if len(got) != len(want):
            self.report(recipe, dims, f"{mode}: {len(got)} results, reference {len(want)}")
            return
        for k, (g, w) in enumerate(zip(got, want)):
            w = np.asarray(w)
            if check_dtype and np.asarray(g).dtype != w.dtype:
                self.report(recipe, dims, f"{mode}: result {k} has dtype {np.asarray(g).dtype}, reference {w.dtype}")
                continue
            problem = compare(g, w, rtol)
            if problem:
                self.report(recipe, dims, f"{mode}: result {k} {problem}")

    def check_ownership(self, recipe, dims, mode, got, leaves):
        for k, g in enumerate(got):
            if not isinstance(g, np.ndarray):
                self.report(recipe, dims, f"{mode}: result {k} is a {type(g).__name__}, not an array")
                continue
            if not g.flags.writeable:
                self.report(recipe, dims, f"{mode}: result {k} is read-only")
            if g.size and any(np.shares_memory(g, a) for a in leaves):
                self.report(recipe, dims, f"{mode}: result {k} shares memory with an argument")
            if g.size and any(np.shares_memory(g, h) for h in got[k + 1:] if isinstance(h, np.ndarray)):
                self.report(recipe, dims, f"{mode}: result {k} shares memory with a later result")

    def check_jax(self, recipe, dims, leaves, want):
        jax = self.jax
        combined = combined_function(recipe, self.jax_namespace, dims, jax.grad, jax.jvp, jax.value_and_grad)
        rtol = JAX_RTOL[recipe.precision]
        # Jitted first: one XLA compile per program instead of one per primitive and shape (5x less time).
        # XLA's rewrites can drop a NaN (a NaN cotangent times a 0/1 mask becomes a select), so a
        # difference is judged against eager JAX, which is JAX's semantics.
        before = len(self.findings)
        with np.errstate(all="ignore"):
            got = [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(combined)(*leaves))]
        self.compare_leaves(recipe, dims, "JAX", got, want, rtol, check_dtype=False)
        if len(self.findings) > before:
            del self.findings[before:]
            with np.errstate(all="ignore"):
                got = [np.asarray(x) for x in jax.tree_util.tree_leaves(combined(*leaves))]
            self.compare_leaves(recipe, dims, "JAX", got, want, rtol, check_dtype=False)


def jax_or_none():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def run_seeds(first: int, count: int):
    """Check recipes first..first+count-1 in this process; print one JSON line per recipe."""
    checker = Checker(jax_or_none())
    for seed in range(first, first + count):
        start = time.perf_counter()
        findings = checker.check(Recipe.draw(seed))
        print(json.dumps({"seed": seed, "seconds": round(time.perf_counter() - start, 1),
                          "findings": [str(f) for f in findings]}), flush=True)


def run_in_chunks(first: int, count: int, chunk: int = 25, on_result=None) -> dict:
    """Check recipes first..first+count-1, `chunk` per child process: compiled kernels stay in their
    process (Numba does not give their memory back; about 40 MB a recipe), so a long run stays within
    a bounded size. Returns {seed: [finding, ...]} for the recipes with findings."""
    root = pathlib.Path(fgrad.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    failing = {}
    for start in range(first, first + count, chunk):
        n = min(chunk, first + count - start)
        done = subprocess.run([sys.executable, __file__, "--run", str(start), str(n)], env=env,
                              capture_output=True, text=True)
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        seen = {r["seed"] for r in results}
        for seed in range(start, start + n):
            if seed not in seen:      # the child died on this recipe (a crash is a finding too)
                results.append({"seed": seed, "seconds": 0.0, "findings": [
                    f"seed {seed}: the checking process exited with {done.returncode}:\n{done.stderr[-3000:]}"]})
                break
        for result in results:
            if result["findings"]:
                failing[result["seed"]] = result["findings"]
            if on_result is not None:
                on_result(result)
    return failing


def main(argv):
    if argv[:1] == ["--run"]:
        run_seeds(int(argv[1]), int(argv[2]))
        return
    checker = Checker(jax_or_none())
    for seed in (int(a) for a in argv):
        recipe = Recipe.draw(seed)
        print(recipe.describe())
        args, tangents = recipe.arguments(recipe.dims)
        print(fgrad.make_ir(fgrad_combined(recipe, recipe.dims))(*args, *tangents))
        for finding in checker.check(recipe):
            print(finding)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
