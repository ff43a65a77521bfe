"""`check_grads`: numerical checks of fgrad's derivatives of a function, to any order.

Forward mode is compared with central finite differences, reverse mode with forward mode by the
dot-product test <vjp(u), v> = <u, jvp(v)>. Each float argument leaf is perturbed on its own, so a
failure names the argument. Higher orders repeat the checks on the JVP and VJP functions themselves.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import is_float, pytree
from fgrad.ops.base import typeof
from fgrad.transforms.grad import function_name, jvp, trace_call, vjp

__all__ = ["check_grads"]

# Finite-difference step and default tolerance per precision: float32 rounding (~1e-7 relative) divided
# by the step dominates its error, so its step and tolerance are larger.
DEFAULT_EPS = {np.dtype("float32"): 1e-3, np.dtype("float64"): 1e-6}
DEFAULT_TOL = {np.dtype("float32"): 1e-2, np.dtype("float64"): 1e-5}


def check_grads(f, args, order=2, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Check fgrad's derivatives of `f` at `args` (a tuple of arguments, pytrees of arrays allowed).

    "fwd" compares JVPs with central finite differences; "rev" compares VJPs with JVPs by the dot-product
    test. `order=2` repeats both checks on the JVP and VJP functions (second derivatives), and so on.
    Tolerances and the finite-difference step default by dtype (float32 looser than float64). Raises an
    AssertionError naming the order, mode, argument and how far apart the two sides were.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.check_grads(lambda x: fnp.sum(fnp.sin(x) ** 2), (fnp.linspace(0.0, 1.0, 5),), order=2)
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    unknown = set(modes) - {"fwd", "rev"}
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of ('fwd', 'rev'), got {modes!r}")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    dtype = lowest_float_precision(args)
    settings = dict(atol=DEFAULT_TOL[dtype] if atol is None else atol,
                    rtol=DEFAULT_TOL[dtype] if rtol is None else rtol,
                    eps=DEFAULT_EPS[dtype] if eps is None else eps)
    labels = Labels(lambda j: argument_name(args, j), lambda k: f"output leaf {k}")
    _check(f, args, order, tuple(modes), settings, function_name(f), 1, labels)


def lowest_float_precision(args) -> np.dtype:
    dtypes = [typeof(x).dtype for x in pytree.tree_leaves(args) if is_float(typeof(x).dtype)]
    if not dtypes:
        raise TypeError("check_grads needs at least one float argument to differentiate")
    return min(dtypes, key=lambda d: d.itemsize)


class Labels:
    """What a failure calls flat input leaf `j` and output leaf `k` of the function checked at some order:
    at order 2 and above that function is jvp(f) or vjp(f), whose leaves are the user's in other roles."""

    def __init__(self, input_leaf, output_leaf):
        self.input_leaf, self.output_leaf = input_leaf, output_leaf

    def of_jvp(self, num_inputs: int, num_outputs: int) -> "Labels":
        """jvp(f) takes (primals, tangents) and returns (outputs, output tangents)."""
        return Labels(lambda j: (f"the primal of {self.input_leaf(j)}" if j < num_inputs
                                 else f"the tangent of {self.input_leaf(j - num_inputs)}"),
                      lambda k: (f"the value of {self.output_leaf(k)}" if k < num_outputs
                                 else f"the tangent of {self.output_leaf(k - num_outputs)}"))

    def of_vjp(self) -> "Labels":
        """vjp(f) takes the primals and returns one cotangent per primal."""
        return Labels(self.input_leaf, lambda k: f"the cotangent of {self.input_leaf(k)}")


def _check(f, args, order, modes, settings, name, level, labels):
    rng = np.random.default_rng(level)
    if "fwd" in modes:
        check_jvp(f, args, settings, name, level, rng, labels)
        if order > 1:
            tangents = random_like(args, rng)
            num_outputs = len(pytree.tree_leaves(traced_value(f, args)))
            _check(lambda primals, tangents: jvp(f, primals, tangents), (args, tangents), order - 1, modes,
                   settings, f"jvp({name})", level + 1, labels.of_jvp(len(pytree.tree_leaves(args)), num_outputs))
    if "rev" in modes:
        check_vjp(f, args, settings, name, level, rng, labels)
        if order > 1:
            def f_vjp(*primals):
                out, vjp_fn = vjp(f, *primals)
                return vjp_fn(out)
            _check(f_vjp, args, order - 1, modes, settings, f"vjp({name})", level + 1, labels.of_vjp())


# ---- the two checks ---------------------------------------------------------------------------------

def check_jvp(f, args, settings, name, level, rng, labels):
    """For each float argument leaf: jvp(f) along a random direction vs central finite differences."""
    leaves, tree = pytree.tree_flatten(args)
    eps = settings["eps"]
    for j in float_leaf_indices(leaves):
        v = random_array(typeof(leaves[j]), rng)
        _, out_dot = jvp(f, args, pytree.tree_unflatten(tree, only_leaf(leaves, j, v)))
        plus = traced_value(f, pytree.tree_unflatten(tree, shifted(leaves, j, v, eps)))
        minus = traced_value(f, pytree.tree_unflatten(tree, shifted(leaves, j, v, -eps)))
        for k, (d, p, m) in enumerate(zip(pytree.tree_leaves(out_dot), pytree.tree_leaves(plus),
                                          pytree.tree_leaves(minus))):
            if not is_float(typeof(d).dtype):
                continue
            fd = (np.asarray(p, np.float64) - np.asarray(m, np.float64)) / (2 * eps)
            compare(np.asarray(d, np.float64), fd, settings,
                    lambda detail: (f"check_grads, order {level}: forward mode (JVP vs central finite differences, "
                                    f"eps={eps:g}) of {name} disagrees for {labels.input_leaf(j)}, "
                                    f"{labels.output_leaf(k)}: {detail}; the JVP is the first value, finite "
                                    "differences the second"))


def check_vjp(f, args, settings, name, level, rng, labels):
    """For each float argument leaf: <vjp(u), v> vs <u, jvp(v)> for random u and v (the dot-product test)."""
    leaves, tree = pytree.tree_flatten(args)
    out, vjp_fn = vjp(f, *args)
    u = random_like(out, rng)
    ct_leaves = pytree.tree_leaves(vjp_fn(u))
    u_leaves = pytree.tree_leaves(u)
    for j in float_leaf_indices(leaves):
        v = random_array(typeof(leaves[j]), rng)
        _, out_dot = jvp(f, args, pytree.tree_unflatten(tree, only_leaf(leaves, j, v)))
        forward = sum((inner(a, b) for a, b in zip(u_leaves, pytree.tree_leaves(out_dot))), 0.0)
        reverse = inner(ct_leaves[j], v)
        compare(np.asarray(reverse), np.asarray(forward), settings,
                lambda detail: (f"check_grads, order {level}: reverse mode (VJP vs JVP, dot-product test) of {name} "
                                f"disagrees for {labels.input_leaf(j)}: <vjp(u), v> = {reverse!r} but "
                                f"<u, jvp(v)> = {forward!r}; {detail}"))


def compare(actual, expected, settings, message):
    """|actual - expected| <= atol + rtol * |expected| elementwise (NaNs must match), else AssertionError."""
    atol, rtol = settings["atol"], settings["rtol"]
    both_nan = np.isnan(actual) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, np.abs(actual - expected))
    bad = ~(diff <= atol + rtol * np.abs(expected))
    if np.any(bad):
        diff = np.nan_to_num(diff, nan=np.inf)   # a NaN on one side only is the worst disagreement
        worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), bad.shape)
        where = f" at index {tuple(int(i) for i in worst)}" if actual.ndim else ""
        raise AssertionError(message(
            f"max abs difference {float(diff.max()):.3g}{where} ({float(actual[worst]):.6g} vs "
            f"{float(expected[worst]):.6g}) exceeds atol={atol:g} + rtol={rtol:g}*|expected|"))


# ---- helpers ------------------------------------------------------------------------------------------

def float_leaf_indices(leaves) -> list:
    return [j for j, x in enumerate(leaves) if is_float(typeof(x).dtype)]


def random_array(t, rng):
    return rng.standard_normal(t.shape).astype(t.dtype)


def random_like(tree, rng):
    """A random float array for each float leaf of `tree`, zeros (same dtype) for the others."""
    def draw(x):
        t = typeof(x)
        return random_array(t, rng) if is_float(t.dtype) else np.zeros(t.shape, t.dtype)
    return pytree.tree_map(draw, tree)


def only_leaf(leaves, j, v) -> list:
    """Zeros for every leaf but `j`, which gets `v`."""
    return [v if k == j else np.zeros(typeof(x).shape, typeof(x).dtype) for k, x in enumerate(leaves)]


def shifted(leaves, j, v, step) -> list:
    """The leaves with leaf `j` moved by `step * v`, kept in its dtype."""
    out = list(leaves)
    t = typeof(leaves[j])
    out[j] = (np.asarray(leaves[j]) + step * v).astype(t.dtype)
    return out


def traced_value(f, args):
    """`f(*args)` traced and evaluated, as the transforms run it: called directly on numpy arrays, `f` could not
    use what only traced values have (`x.at[i].set(v)`)."""
    traced = trace_call(f, args, has_aux=False)
    return pytree.tree_unflatten(traced.main_tree, traced.run(traced.program))


def inner(a, b) -> float:
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def argument_name(args, j: int) -> str:
    """'argument 1', or 'argument 1['w'][0]' for a leaf inside a pytree, for flat leaf index `j` of `args`."""
    start = 0
    for i, a in enumerate(args):
        paths = pytree.tree_leaves_with_path(a)
        if j < start + len(paths):
            return f"argument {i}{paths[j - start][0]}"
        start += len(paths)
    raise IndexError(j)
