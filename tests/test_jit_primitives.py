"""Registry-driven test of the Numba emitters: every primitive, jitted, against its numpy `impl`.

Each case binds one primitive on arrays whose sizes and values hypothesis draws (broadcasting included:
binary cases broadcast a vector against a matrix). The rank, dtype and size-1 pattern of a case are fixed,
so its generated source is the same for every example and Numba compiles one kernel per primitive per
dtype; the jitted functions live in a module-level dict and are reused across examples.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import fgrad  # noqa: E402
from fgrad import ops  # noqa: E402
from fgrad.ir import REGISTRY  # noqa: E402

FLOATS = (np.dtype("float32"), np.dtype("float64"))
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
# Primitives that hold a sub-program: codegen inlines them (tested in test_jit.py with custom_vjp).
INLINED = {"custom_vjp_call", "custom_jvp_call", "checkpoint"}
# Control-flow primitives are checked on their registry samples (test_control_flow_emitter_matches_impl).
CONTROL = {"cond", "while", "scan"}


def p(name):
    return REGISTRY[name]


def _ignore(*values):
    """A debug callback that does nothing with what it is given."""


class Case:
    """`fn(*arrays)` binding the primitive (or, for a group, a tuple: one result per primitive of `prim`, a
    tuple of names), and `make(draw, rng, dtype) -> arrays`."""

    def __init__(self, id, prim, fn, make, dtypes=FLOATS, specials=True):
        self.id, self.prim, self.fn, self.make, self.dtypes, self.specials = id, prim, fn, make, dtypes, specials

    @property
    def prims(self) -> tuple:
        return self.prim if isinstance(self.prim, tuple) else (self.prim,)


def sizes(draw, n, lo=2, hi=5):
    return [draw(st.integers(lo, hi)) for _ in range(n)]


def values(rng, shape, dtype, lo=-3.0, hi=3.0, specials=False):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        return rng.integers(-5, 6, shape).astype(dtype)
    x = rng.uniform(lo, hi, shape)
    if specials and x.size:
        mask = rng.random(shape) < 0.2
        x[mask] = rng.choice(SPECIALS, size=int(mask.sum()))
    return x.astype(dtype)


def unary(name, **kw):
    prim = p(name)
    return Case(name, name, lambda x: prim.bind(x),
                lambda draw, rng, dt, sp: (values(rng, sizes(draw, 2), dt, specials=sp),), **kw)


def unary_group(id, names):
    """Several unary primitives in one kernel (one compile per dtype): a tuple of their results."""
    prims = [p(n) for n in names]
    return Case(id, tuple(names), lambda x: tuple(prim.bind(x) for prim in prims),
                lambda draw, rng, dt, sp: (values(rng, sizes(draw, 2), dt, specials=sp),))


def binary(name, dtypes=FLOATS, id=None):
    prim = p(name)

    def make(draw, rng, dt, sp):
        m, n = sizes(draw, 2)
        return values(rng, (m, n), dt, specials=sp), values(rng, (n,), dt, specials=sp)
    return Case(id or name, name, lambda x, y: prim.bind(x, ops.broadcast_to(y, x.shape)), make, dtypes)


def shaped(id, name, fn, shapes, dtypes=FLOATS, specials=True, **value_kw):
    """A case on arrays of the given shapes; `shapes(draw)` returns a list of shapes."""
    def make(draw, rng, dt, sp):
        return tuple(values(rng, s, dt, specials=sp, **value_kw) for s in shapes(draw))
    return Case(id, name, fn, make, dtypes, specials)


def red(name, axes, id):
    prim = p(name)
    return shaped(id, name, lambda x: prim.bind(x, axes=axes), lambda d: [sizes(d, 3)])


def _ties(draw, rng, dt, sp):
    m, n, q = sizes(draw, 3)
    x = rng.integers(-2, 3, (m, n, q)).astype(dt)    # repeated values: the first maximum must win
    if sp:
        x[rng.random(x.shape) < 0.1] = np.nan
    return (x,)


def _indices(rng, shape, bound, dtype=np.int64):
    return rng.integers(0, bound, shape).astype(dtype)


def _gather2(draw, rng, dt, sp):
    m, n, a, b = sizes(draw, 4)
    return values(rng, (m, n), dt, specials=sp), _indices(rng, (a, b), n)


def _gather1(draw, rng, dt, sp):
    m, n, a = sizes(draw, 3)
    return values(rng, (m, n), dt, specials=sp), _indices(rng, (a,), m, np.int32)


def _scatter(draw, rng, dt, sp):
    m, n, k = sizes(draw, 3)
    return (values(rng, (m, n), dt, specials=sp), _indices(rng, (k,), n),      # duplicates are likely
            values(rng, (m, k), dt, specials=sp))


def _well_conditioned(rng, shape, dt):
    n = shape[-1]
    return (rng.uniform(-1, 1, shape) + n * np.eye(n)).astype(dt)


def _solve2(draw, rng, dt, sp):
    n, k = sizes(draw, 2)
    return _well_conditioned(rng, (n, n), dt), values(rng, (n, k), dt)


def _solve3(draw, rng, dt, sp):
    b, n, k = sizes(draw, 3)
    return _well_conditioned(rng, (b, n, n), dt), values(rng, (b, n, k), dt)


def _conv2d(draw, rng, dt, sp):
    n, c, o, h, w = sizes(draw, 5, 1, 3)
    return values(rng, (n, 2 * c, h + 3, w + 2), dt), values(rng, (2 * o, c, 2, 3), dt)


def _conv1d(draw, rng, dt, sp):
    n, c, o, h = sizes(draw, 4, 1, 4)
    return values(rng, (n, c, h + 2), dt), values(rng, (o, c, 3), dt)


def _concat_make(draw, rng, dt, sp):
    m, a, b, c = sizes(draw, 4)
    return tuple(values(rng, (m, w), dt, specials=sp) for w in (a, b, c))


CASES = [
    *[unary(n) for n in ("neg", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "logistic",
                         "abs", "sign", "stop_gradient")],
    shaped("integer_pow_3", "integer_pow", lambda x: p("integer_pow").bind(x, y=3), lambda d: [sizes(d, 2)]),
    shaped("integer_pow_-2", "integer_pow", lambda x: p("integer_pow").bind(x, y=-2), lambda d: [sizes(d, 2)]),
    unary_group("unary_math", ("square", "reciprocal", "rsqrt", "exp2", "log2", "log10", "arcsin", "arccos",
                               "arctan", "sinh", "erf", "erfc", "cosh", "arcsinh", "arccosh",
                               "arctanh")),
    *[binary(n) for n in ("add", "sub", "mul", "div", "rem", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
                          "ge", "arctan2", "hypot")],
    binary("add", dtypes=(np.dtype("int32"), np.dtype("int64")), id="add_int"),
    binary("maximum", dtypes=(np.dtype("int32"),), id="maximum_int"),
    binary("lt", dtypes=(np.dtype("int64"),), id="lt_int"),
    Case("select", "select",
         lambda c, t, f: p("select").bind(c, t, ops.broadcast_to(f, t.shape)),
         lambda d, rng, dt, sp: (lambda m, n: (rng.random((m, n)) < 0.5, values(rng, (m, n), dt, specials=sp),
                                               values(rng, (n,), dt, specials=sp)))(*sizes(d, 2))),
    shaped("convert_to_other_float", "convert_element_type",
           lambda x: p("convert_element_type").bind(x, dtype=np.dtype("float32" if x.dtype == np.float64
                                                                       else "float64")),
           lambda d: [sizes(d, 2)]),
    shaped("convert_to_int64", "convert_element_type",
           lambda x: p("convert_element_type").bind(x, dtype=np.dtype("int64")), lambda d: [sizes(d, 2)],
           specials=False, lo=-100.0, hi=100.0),
    shaped("convert_to_bool", "convert_element_type",
           lambda x: p("convert_element_type").bind(x, dtype=np.dtype("bool")), lambda d: [sizes(d, 2)]),
    shaped("broadcast_to", "broadcast_to",
           lambda x: p("broadcast_to").bind(x, shape=(3, x.shape[0], x.shape[0] + 1)),
           lambda d: [(sizes(d, 1)[0], 1)]),
    shaped("reshape", "reshape", lambda x: p("reshape").bind(x, shape=(x.shape[1], x.shape[0])),
           lambda d: [sizes(d, 2)]),
    shaped("reshape_unit_axes", "reshape", lambda x: p("reshape").bind(x, shape=(x.shape[0], 1, x.shape[1])),
           lambda d: [sizes(d, 2)]),
    shaped("transpose", "transpose", lambda x: p("transpose").bind(x, perm=(2, 0, 1)), lambda d: [sizes(d, 3)]),
    shaped("squeeze", "squeeze", lambda x: p("squeeze").bind(x, axes=(1,)),
           lambda d: [(lambda m, n: (m, 1, n))(*sizes(d, 2))]),
    shaped("expand_dims", "expand_dims", lambda x: p("expand_dims").bind(x, axes=(0, 2)), lambda d: [sizes(d, 2)]),
    *[red(n, (0, 2), f"{n}_partial") for n in ("reduce_sum", "reduce_max", "reduce_min")],
    *[red(n, (0, 1, 2), f"{n}_full") for n in ("reduce_sum", "reduce_max", "reduce_min")],
    Case("argmax", "argmax", lambda x: p("argmax").bind(x, axis=1, index_dtype=np.dtype("int64")), _ties),
    shaped("cumsum", "cumsum", lambda x: p("cumsum").bind(x, axis=1, reverse=False), lambda d: [sizes(d, 2)]),
    shaped("cumsum_reverse", "cumsum", lambda x: p("cumsum").bind(x, axis=0, reverse=True),
           lambda d: [sizes(d, 2)]),
    shaped("cumprod", "cumprod", lambda x: p("cumprod").bind(x, axis=1, reverse=False), lambda d: [sizes(d, 2)],
           lo=-1.5, hi=1.5),
    shaped("cumprod_reverse_int", "cumprod", lambda x: p("cumprod").bind(x, axis=0, reverse=True),
           lambda d: [sizes(d, 2)], dtypes=(np.dtype("int64"),)),
    shaped("sort", "sort", lambda x: p("sort").bind(x, axis=1), lambda d: [sizes(d, 3)]),
    Case("argsort", "argsort", lambda x: p("argsort").bind(x, axis=2), _ties),
    shaped("matmul_2d", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda m, k, n: [(m, k), (k, n)])(*sizes(d, 3)), specials=False),
    shaped("matmul_batched", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda b, m, k, n: [(b, m, k), (b, k, n)])(*sizes(d, 4)), specials=False),
    shaped("matmul_vector_matrix", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda k, n: [(k,), (k, n)])(*sizes(d, 2)), specials=False),
    shaped("matmul_matrix_vector", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda m, k: [(m, k), (k,)])(*sizes(d, 2)), specials=False),
    shaped("matmul_vector_vector", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda k: [(k,), (k,)])(*sizes(d, 1)), specials=False),
    shaped("matmul_int", "matmul", lambda a, b: p("matmul").bind(a, b),
           lambda d: (lambda m, k, n: [(m, k), (k, n)])(*sizes(d, 3)), dtypes=(np.dtype("int64"),)),
    Case("solve", "solve", lambda a, b: p("solve").bind(a, b), _solve2, specials=False),
    Case("solve_batched", "solve", lambda a, b: p("solve").bind(a, b), _solve3, specials=False),
    shaped("slice", "slice",
           lambda x: p("slice").bind(x, starts=(1, 0), stops=(x.shape[0], x.shape[1] - 1), steps=(2, 1)),
           lambda d: [sizes(d, 2)]),
    shaped("pad", "pad", lambda x: p("pad").bind(x, widths=((1, 2, 1), (0, 3, 0)), value=1.5),
           lambda d: [sizes(d, 2)]),
    Case("concatenate", "concatenate", lambda a, b, c: p("concatenate").bind(a, b, c, axis=1), _concat_make),
    Case("gather", "gather", lambda x, i: p("gather").bind(x, i, axis=1), _gather2),
    Case("gather_axis0_int32", "gather", lambda x, i: p("gather").bind(x, i, axis=0), _gather1),
    Case("scatter", "scatter", lambda x, i, u: p("scatter").bind(x, i, u, axis=1), _scatter),
    Case("scatter_add", "scatter_add", lambda x, i, u: p("scatter_add").bind(x, i, u, axis=1), _scatter),
    Case("conv_2d_strided_grouped", "conv_general_dilated",
         lambda x, w: p("conv_general_dilated").bind(x, w, window_strides=(2, 1), padding=((1, 0), (-1, 2)),
                                                     lhs_dilation=(1, 2), rhs_dilation=(2, 1), feature_group_count=2),
         _conv2d, specials=False),
    Case("conv_1d", "conv_general_dilated",
         lambda x, w: p("conv_general_dilated").bind(x, w, window_strides=(1,), padding=((1, 1),),
                                                     lhs_dilation=(1,), rhs_dilation=(1,), feature_group_count=1),
         _conv1d, specials=False),
    shaped("iota", "iota", lambda x: p("iota").bind(shape=x.shape, dtype=x.dtype, axis=1), lambda d: [sizes(d, 2)]),
    shaped("full", "full", lambda x: p("full").bind(shape=x.shape, value=2.5, dtype=x.dtype),
           lambda d: [sizes(d, 2)]),
    # an effect: the kernel calls back into Python (object mode) and computes on
    shaped("debug_callback", "debug_callback", lambda x: (fgrad.debug.callback(_ignore, x, x * 2.0), x - 1.0)[1],
           lambda d: [sizes(d, 2)]),
]

PARAMS = [pytest.param(c, dt, id=f"{c.id}-{dt.name}") for c in CASES for dt in c.dtypes]
_JITTED = {}


def jitted(case, dtype):
    """One jitted function per case and dtype: every example reuses its compiled kernel."""
    key = (case.id, dtype)
    if key not in _JITTED:
        _JITTED[key] = fgrad.jit(case.fn)
    return _JITTED[key]


def tolerance(dtype, prim: str):
    if prim == "conv_general_dilated":
        # The emitter sums each window in loop order, the impl by BLAS in blocks.
        return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12, atol=1e-12)
    if np.dtype(dtype) == np.float32:
        return dict(rtol=3e-6, atol=1e-6)
    if np.dtype(dtype) == np.float64:
        # numpy's SIMD transcendentals and libm may differ in the last bit; BLAS sums in another order.
        return dict(rtol=1e-13, atol=1e-13)
    return dict(rtol=0, atol=0)


def test_every_primitive_has_a_case():
    covered = {name for c in CASES for name in c.prims}
    # Tests make throwaway primitives named test_*; they are not part of fgrad.
    missing = sorted(name for name in set(REGISTRY) - covered - INLINED - CONTROL if not name.startswith("test_"))
    assert not missing, f"primitives without a Numba emitter test case in {__name__}: {missing}"


@pytest.mark.parametrize("case, dtype", PARAMS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(data=st.data())
def test_emitter_matches_impl(case, dtype, data):
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    specials = case.specials and data.draw(st.booleans(), label="specials")
    rng = np.random.default_rng(seed)
    args = case.make(data.draw, rng, dtype, specials)
    with np.errstate(all="ignore"):
        expected = case.fn(*args)
    got = jitted(case, dtype)(*args)
    if not isinstance(case.prim, tuple):
        expected, got = (expected,), (got,)
    for name, e, g in zip(case.prims, expected, got):
        e = np.asarray(e)
        assert isinstance(g, np.ndarray), name
        assert g.dtype == e.dtype and g.shape == e.shape, name
        np.testing.assert_allclose(g, e, equal_nan=True, err_msg=name, **tolerance(e.dtype, name))


def _control_cases():
    import samples_control
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(CONTROL)
            for k in range(len(samples_control.SAMPLES[name]))]


@pytest.mark.parametrize("name, k", _control_cases())
def test_control_flow_emitter_matches_impl(name, k):
    import samples_control
    args, params = samples_control.SAMPLES[name][k]
    prim = p(name)
    expected = prim.impl(*args, **params)
    got = fgrad.jit(lambda *xs: prim.bind(*xs, **params))(*args)
    for e, g in zip(expected, got):
        e = np.asarray(e)
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, equal_nan=True, **tolerance(e.dtype, name))
