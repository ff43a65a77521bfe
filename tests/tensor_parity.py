"""Helpers for the facade's PyTorch parity tests: run one program with torch and with fgrad.facade, compare.

A program is `fn(lib) -> observation`, written once against the PyTorch API. Observations are Tensors
(compared by dtype, shape, values, grad_fn name and requires_grad), strings (reprs, compared exactly),
numbers, None, and tuples/lists/dicts of them. An exception is observed as its type name and message.
"""
from __future__ import annotations

import importlib
import math

import numpy as np

fg = importlib.import_module("fgrad.facade")


class Raised:
    def __init__(self, error):
        self.type = type(error).__name__
        self.message = str(error)

    def __repr__(self):
        return f"Raised({self.type}: {self.message})"


def run(program, lib):
    try:
        return observe(program(lib), lib)
    except Exception as e:          # the observation is the error itself
        return Raised(e)


def observe(x, lib):
    if isinstance(x, lib.Tensor):
        grad_fn = x.grad_fn
        return {"tensor": x.detach().numpy().copy(), "dtype": repr(x.dtype), "shape": tuple(x.shape),
                "grad_fn": None if grad_fn is None else type(grad_fn).__name__,
                "requires_grad": x.requires_grad}
    if isinstance(x, dict):
        return {k: observe(v, lib) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [observe(v, lib) for v in x]
    if type(x).__name__ == "Size":
        return tuple(x)
    if isinstance(x, np.ndarray):
        return {"tensor": x}
    return x


def assert_same(expected, actual, rtol=1e-5, atol=1e-6, messages=True, path="result"):
    """`actual` (fgrad's observation) matches `expected` (PyTorch's)."""
    if isinstance(expected, Raised):
        assert isinstance(actual, Raised), f"{path}: PyTorch raised {expected}, fgrad returned {actual}"
        assert actual.type == expected.type, f"{path}: PyTorch raised {expected}, fgrad raised {actual}"
        if messages:
            assert actual.message == expected.message, f"{path}: messages differ:\n{expected}\n{actual}"
        return
    assert not isinstance(actual, Raised), f"{path}: fgrad raised {actual}; PyTorch gave {expected}"
    if isinstance(expected, dict) and "tensor" in expected:
        assert isinstance(actual, dict) and "tensor" in actual, f"{path}: expected a tensor, got {actual}"
        for key in ("dtype", "shape", "grad_fn", "requires_grad"):
            if key in expected:
                assert actual.get(key) == expected[key], f"{path}: {key} {actual.get(key)} != PyTorch's {expected[key]}"
        e, a = np.asarray(expected["tensor"]), np.asarray(actual["tensor"])
        assert e.shape == a.shape, f"{path}: shape {a.shape} != {e.shape}"
        if e.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)
        else:
            np.testing.assert_array_equal(a, e, err_msg=path)
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{path}: keys differ"
        for k in expected:
            assert_same(expected[k], actual[k], rtol, atol, messages, f"{path}[{k!r}]")
        return
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual} != {expected}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, rtol, atol, messages, f"{path}[{i}]")
        return
    if isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(actual) and math.isnan(expected)), \
            f"{path}: {actual} != {expected}"
        return
    assert actual == expected, f"{path}: {actual!r} != PyTorch's {expected!r}"


def check(program, torch, rtol=1e-5, atol=1e-6, messages=True):
    """Run `program` with both libraries and assert fgrad observes what PyTorch does."""
    assert_same(run(program, torch), run(program, fg), rtol, atol, messages)


def node_names(t):
    """The grad_fn's name and its next_functions' names, one level down."""
    fn = t.grad_fn
    if fn is None:
        return None
    return [type(fn).__name__, [(None if n is None else type(n).__name__, i) for n, i in fn.next_functions]]


def with_grads(build, *inputs, seed=0):
    """A program: make the inputs ((values, dtype name, requires_grad) each), build the output, backprop a
    fixed random cotangent through it; observe output, graph names and the inputs' gradients."""
    def program(lib):
        tensors = [lib.tensor(np.asarray(values), dtype=getattr(lib, dtype), requires_grad=rg)
                   for values, dtype, rg in inputs]
        out = build(lib, *tensors)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        result = {"out": list(outs), "graph": [node_names(o) for o in outs]}
        diff = [o for o in outs if o.requires_grad]
        if diff:
            rng = np.random.default_rng(seed)
            cts = [lib.tensor(rng.standard_normal(tuple(o.shape)).astype(o.detach().numpy().dtype)) for o in diff]
            lib.autograd.backward(diff, cts)
            result["grads"] = [t.grad for t in tensors]
        return result
    return program
