"""Golden adjoint programs: the printed, simplified gradient programs of a few canonical losses.

Each golden file under tests/golden/ holds the program that computes a loss and its gradients (the
output cotangent seeded with a literal 1), after `simplify`. Regenerate them after an intended change:

    FGRAD_UPDATE_GOLDEN=1 python tests/test_golden_adjoints.py      (or through pytest)

and read the diff: a golden program should be what a person would write by hand.
"""
import os
import pathlib

import numpy as np
import pytest

import fgrad.numpy as fnp
from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import ArrayType, check, trace_flat
from fgrad.transforms.simplify import simplify
from fgrad.transforms.vjp import vjp_eval

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("FGRAD_UPDATE_GOLDEN") == "1"


def sum_of_sin(x):
    return fnp.sum(fnp.sin(x))


def logistic_regression(w, X, y):
    return fnp.mean(fnp.log1p(fnp.exp(-y * (X @ w)))) + 0.01 * fnp.sum(w ** 2)


def mlp(W1, b1, W2, b2, X, Y):
    hidden = fnp.tanh(X @ W1 + b1)
    return fnp.mean((hidden @ W2 + b2 - Y) ** 2)


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def f64(*shape):
    return ArrayType(shape, np.dtype("float64"))


# (name, function, input types, inputs differentiated)
CASES = [
    ("sum_of_sin", sum_of_sin, [f64(3)], (0,)),
    ("logistic_regression", logistic_regression, [f64(3), f64(5, 3), f64(5)], (0,)),
    ("mlp", mlp, [f64(3, 4), f64(4), f64(4, 2), f64(2), f64(5, 3), f64(5, 2)], (0, 1, 2, 3)),
    ("rosenbrock", rosenbrock, [f64(4)], (0,)),
]


def seeded_adjoint(fun, in_types, wrt):
    """The program returning `fun`'s value and its gradients w.r.t. `wrt`, the cotangent seeded with 1."""
    program, _ = trace_flat(lambda *args: [fun(*args)], in_types)
    one = np.ones((), program.outputs[0].type.dtype)

    def value_and_grads(*args):
        outs, grads = vjp_eval(program, list(args), wrt, [one])
        return outs + grads
    adjoint, _ = trace_flat(value_and_grads, in_types)
    return adjoint


@pytest.mark.parametrize("name, fun, in_types, wrt", CASES, ids=[c[0] for c in CASES])
def test_simplified_adjoint_matches_golden(name, fun, in_types, wrt):
    adjoint = seeded_adjoint(fun, in_types, wrt)
    simplified = check(simplify(adjoint))
    path = GOLDEN_DIR / f"{name}.txt"
    printed = str(simplified) + "\n"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(printed)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert printed == path.read_text(), (
        f"the simplified adjoint of {name} changed; if that is intended, regenerate with "
        f"FGRAD_UPDATE_GOLDEN=1 python -m pytest {pathlib.Path(__file__).name} and review the diff")


@pytest.mark.parametrize("name, fun, in_types, wrt", CASES, ids=[c[0] for c in CASES])
def test_simplified_adjoint_computes_the_same_values(name, fun, in_types, wrt):
    adjoint = seeded_adjoint(fun, in_types, wrt)
    simplified = simplify(adjoint)
    rng = np.random.default_rng(0)
    args = [rng.uniform(-1.5, 1.5, t.shape) for t in in_types]
    for expected, got in zip(evaluate(adjoint, *args), evaluate(simplified, *args)):
        np.testing.assert_array_equal(got, expected)
    assert simplify(simplified) == simplified


@pytest.mark.parametrize("name, fun, in_types, wrt", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(name, fun, in_types, wrt):
    simplified = simplify(seeded_adjoint(fun, in_types, wrt))
    rng = np.random.default_rng(1)
    args = [rng.uniform(-1.5, 1.5, t.shape) for t in in_types]
    value, *grads = evaluate(simplified, *args)
    for i, grad in zip(wrt, grads):
        direction = rng.standard_normal(in_types[i].shape)
        h = 1e-6
        plus = [a + h * direction if j == i else a for j, a in enumerate(args)]
        minus = [a - h * direction if j == i else a for j, a in enumerate(args)]
        numeric = (evaluate(simplified, *plus)[0] - evaluate(simplified, *minus)[0]) / (2 * h)
        np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-6, atol=1e-8)


def test_golden_sum_of_sin_is_cos():
    assert (GOLDEN_DIR / "sum_of_sin.txt").read_text() == (
        "program(a:f64[3]) {\n"
        "  b:f64[3] = sin a\n"
        "  c:f64[] = reduce_sum[axes=(0,)] b\n"
        "  a_ct:f64[3] = cos a\n"
        "  return c, a_ct\n"
        "}\n")


if __name__ == "__main__":      # FGRAD_UPDATE_GOLDEN=1 python tests/test_golden_adjoints.py
    raise SystemExit(pytest.main([__file__, "-q"]))
