"""Regressions found by using fgrad as a NumPy/JAX user would: each test pins one problem that was fixed."""
import os
from collections import OrderedDict, defaultdict, namedtuple
from functools import partial

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import tree_util
from fgrad.backend.numpy_exec import evaluate
from fgrad.ir import REGISTRY, Primitive, TracerConversionError, check
from fgrad.ops.base import same_type
from fgrad.transforms.simplify import simplify

THIS_FILE = os.path.basename(__file__)
X = np.array([[0.3, -1.2, 0.7, 2.0], [1.1, 0.4, -0.5, 0.9], [-0.8, 1.5, 0.2, -0.1]])


# ---- simplify: a broadcast of a squeezed value keeps its rank ----------------------------------------

def test_setting_a_column_to_a_traced_scalar_differentiates():
    # simplify used to rewrite broadcast_to(squeeze(x[0:1, 0:1]), (3,)) into broadcast_to(f64[1,1] -> (3,)).
    def f(a):
        return fnp.sum(fnp.sin(a.at[:, 1].set(a[0, 0])))
    expected = np.cos(X)
    expected[:, 1] = 0.0
    expected[0, 0] = 4.0 * np.cos(X[0, 0])      # in place, and copied into the three rows of column 1
    np.testing.assert_allclose(fgrad.grad(f)(X), expected, rtol=1e-14)
    check(simplify(fgrad.make_ir(fgrad.grad(f))(X)))


# ---- check_grads evaluates the function the way the transforms do ----------------------------------

def test_check_grads_of_a_function_using_at_updates():
    # check_grads called `f` on numpy arrays for finite differences, where `x.at` does not exist.
    fgrad.check_grads(lambda x: fnp.sum(fnp.sin(x.at[0].set(x[1] ** 2))), (np.array([0.3, 0.5, 0.7]),), order=2)


# ---- pytrees ------------------------------------------------------------------------------------------

def test_ordered_dict_is_a_pytree_in_insertion_order():
    params = OrderedDict(b=2.0, a=3.0)
    assert tree_util.tree_leaves(params) == [2.0, 3.0]
    g = fgrad.grad(lambda d: d["a"] * d["b"] ** 2)(params)
    assert type(g) is OrderedDict and list(g) == ["b", "a"]
    assert (float(g["b"]), float(g["a"])) == (12.0, 4.0)


def test_defaultdict_is_a_pytree_keeping_its_factory():
    params = defaultdict(list, z=1.0, a=2.0)
    g = fgrad.grad(lambda d: d["a"] * d["z"])(params)
    assert type(g) is defaultdict and g.default_factory is list
    assert (float(g["a"]), float(g["z"])) == (1.0, 2.0)


def test_leaves_with_path_name_how_each_leaf_is_reached():
    point = namedtuple("Point", "w b")
    tree = {"z": point([1, 2], (3, None)), "a": OrderedDict(y=4, x=5)}
    assert tree_util.tree_leaves_with_path(tree) == [
        ("['a']['y']", 4), ("['a']['x']", 5), ("['z'].w[0]", 1), ("['z'].w[1]", 2), ("['z'].b[0]", 3)]
    assert [leaf for _, leaf in tree_util.tree_leaves_with_path(tree)] == tree_util.tree_leaves(tree)


# ---- arguments fgrad cannot trace ---------------------------------------------------------------------

@pytest.mark.parametrize("call, expected", [
    (lambda: fgrad.make_ir(lambda x, mode: x)(1.0, "sin"),
     r"argument 1 of <lambda> is str 'sin', which fgrad cannot trace .* static_argnums"),
    (lambda: fgrad.make_ir(lambda x, mode=None: x)(1.0, mode=object()),
     r"keyword argument 'mode' of <lambda> is object .* functools.partial"),
    (lambda: fgrad.vjp(lambda p: p["x"], {"x": 1.0, "name": "w"}),
     r"argument 0 of <lambda> \(a leaf of it\) is str 'w'"),
    (lambda: fgrad.grad(lambda x, mode: x, argnums=1)(1.0, "sin"),
     r"grad can only differentiate with respect to float arrays, but argument 1 of <lambda> is str .* leave "
     r"argument 1 out of argnums"),
], ids=["positional", "keyword", "pytree-leaf", "grad-argnums"])
def test_an_argument_that_cannot_be_traced_is_named(call, expected):
    with pytest.raises(TypeError, match=expected):
        call()


def zeros_of_traced_length(x):
    return fnp.zeros(x.sum())  # <zeros>


def reshape_to_traced_shape(x):
    return x.reshape((2, x[0]))  # <reshape>


def broadcast_to_traced_shape(x):
    return fnp.broadcast_to(x, x[0])  # <broadcast_to>


def line_of(marker: str) -> int:
    with open(__file__) as f:
        return next(n for n, line in enumerate(f, start=1) if line.rstrip().endswith(f"# <{marker}>"))


@pytest.mark.parametrize("fn, marker", [
    (zeros_of_traced_length, "zeros"), (reshape_to_traced_shape, "reshape"),
    (broadcast_to_traced_shape, "broadcast_to"),
], ids=["zeros", "reshape", "broadcast_to"])
def test_a_traced_shape_names_the_users_line(fn, marker):
    # These used to fail with "iteration over a 0-d traced array".
    with pytest.raises(TracerConversionError, match="array shape must be static") as info:
        fgrad.make_ir(fn)(np.ones(4, np.int64))
    assert f"{THIS_FILE}:{line_of(marker)}" in str(info.value)


def format_with_spec(x):
    return f"{x[0]:.3f}"  # <format>


def test_formatting_a_traced_value_with_a_spec_names_the_users_line():
    with pytest.raises(TracerConversionError, match=r"format\(\) with the spec '.3f'") as info:
        fgrad.make_ir(format_with_spec)(np.ones(2))
    assert f"{THIS_FILE}:{line_of('format')}" in str(info.value)
    assert f"{fgrad.make_ir(lambda x: print(f'{x}') or x)(np.ones(2))}"   # a plain f-string shows the repr


# ---- fgrad.numpy: scalar types, methods and the functions that were missing ---------------------------

def test_scalar_types_cast_traced_values_and_stay_numpy_dtypes():
    program = fgrad.make_ir(lambda x: fnp.float32(x) * 2.0)(np.ones(2))
    assert program.out_types[0].dtype == np.float32
    assert fgrad.grad(lambda x: fnp.sum(fnp.float32(x)))(np.ones(2)).dtype == np.float64
    assert type(fnp.float32(1.5)) is np.float32 and fnp.int64(3.7) == 3
    assert np.dtype(fnp.float32) == np.float32 and np.zeros(2, fnp.int32).dtype == np.int32
    assert fnp.float32 == np.float32 and np.float32 == fnp.float32 and np.dtype("float64") == fnp.float64
    assert fnp.float32 != fnp.float64 and {np.float32: 1}[fnp.float32] == 1
    assert isinstance(np.float32(1.0), fnp.float32) and not isinstance(1.0, fnp.float32)


def test_a_missing_array_method_is_named():
    with pytest.raises(AttributeError, match=r"has no attribute 'sort': fgrad does not implement "
                                             r"numpy.ndarray.sort on traced arrays"):
        fgrad.make_ir(lambda x: x.sort())(np.ones(3))
    with pytest.raises(AttributeError, match="'Tracer' object has no attribute 'no_such_thing'"):
        fgrad.make_ir(lambda x: x.no_such_thing)(np.ones(3))


NEW_FUNCTIONS = [
    ("copy", lambda m: lambda a: m.copy(a) * 2.0),
    ("copy-method", lambda m: lambda a: a.copy() * 2.0),
    ("divmod", lambda m: lambda a: m.divmod(a, 0.7)),
    ("divmod-builtin", lambda m: lambda a: divmod(2.35, a)),   # no quotient near an integer (see floor_divide)
    ("flip", lambda m: lambda a: m.flip(a)),
    ("flip-axis", lambda m: lambda a: m.flip(a, axis=-1)),
    ("diagonal", lambda m: lambda a: m.diagonal(a, 1)),
    ("diagonal-method", lambda m: lambda a: a.diagonal(-1)),
    ("trace", lambda m: lambda a: m.trace(a, offset=1)),
    ("trace-method", lambda m: lambda a: a[:, :3].trace()),
    ("diag-of-matrix", lambda m: lambda a: m.diag(a, -1)),
    ("diag-of-vector", lambda m: lambda a: m.diag(a[0], 1)),
    ("diff", lambda m: lambda a: m.diff(a)),
    ("diff-twice-axis0", lambda m: lambda a: m.diff(a, 2, axis=0)),
    ("diff-bool", lambda m: lambda a: m.diff(a > 0)),
]


@pytest.mark.parametrize("name, make", NEW_FUNCTIONS, ids=[n for n, _ in NEW_FUNCTIONS])
def test_added_functions_match_numpy_traced_and_eager(name, make):
    expected = make(np)(X)
    traced = evaluate(fgrad.make_ir(make(fnp))(X), X)
    traced = traced[0] if len(traced) == 1 else tuple(traced)
    for got in (traced, make(fnp)(X)):
        for g, e in zip(tree_util.tree_leaves(got), tree_util.tree_leaves(expected)):
            assert np.asarray(g).dtype == np.asarray(e).dtype
            np.testing.assert_allclose(g, e, rtol=1e-15, atol=1e-15)   # remainder: within an ulp of numpy


@pytest.mark.parametrize("name, make", [c for c in NEW_FUNCTIONS if c[0] not in ("divmod", "diff-bool")],
                         ids=[n for n, _ in NEW_FUNCTIONS if n not in ("divmod", "diff-bool")])
def test_added_functions_have_correct_derivatives(name, make):
    fgrad.check_grads(lambda a: tree_util.tree_leaves(make(fnp)(a))[-1], (X,), order=2)


# ---- transforms ---------------------------------------------------------------------------------------

def test_stop_gradient_makes_what_follows_constant_to_reverse_mode():
    # Reverse mode used to ask every equation after a stop_gradient for its VJP rule.
    twice_p = Primitive("qa_twice_without_rules", kind="elementwise", shape_rule=same_type, impl=lambda x: x * 2.0)
    try:
        f = lambda x: twice_p.bind(fgrad.stop_gradient(x)) * x
        assert float(fgrad.grad(f)(3.0)) == 6.0
        with pytest.raises(NotImplementedError, match="qa_twice_without_rules"):
            fgrad.grad(lambda x: twice_p.bind(x) * x)(3.0)
    finally:
        del REGISTRY["qa_twice_without_rules"]


def test_custom_vjp_sees_default_arguments_whether_or_not_they_are_spelled_out():
    @fgrad.custom_vjp
    def scaled(x, scale=2.0):
        return x * scale
    scaled.defvjp(lambda x, scale=2.0: (scaled(x, scale), scale), lambda scale, g: (g * scale, None))
    assert float(fgrad.grad(scaled)(1.0)) == 2.0
    assert float(fgrad.grad(lambda x: scaled(x, scale=3.0))(1.0)) == 3.0
    assert float(fgrad.grad(partial(scaled, scale=4.0))(1.0)) == 4.0


def test_check_grads_names_the_roles_of_leaves_at_second_order():
    @fgrad.custom_jvp
    def cube(x):
        return x ** 3
    cube.defjvp(lambda p, t: (cube(p[0]), 3.0 * fgrad.stop_gradient(p[0]) ** 2 * t[0]))   # no second derivative
    with pytest.raises(AssertionError, match=r"order 2: forward mode .* of jvp\(cube\) disagrees for the primal of "
                                             r"argument 0, the tangent of output leaf 0:"):
        fgrad.check_grads(cube, (np.array([0.5, 1.5]),), order=2)


def test_a_custom_jvp_rule_that_is_not_linear_is_refused_by_reverse_mode():
    # Its VJP at zero tangents used to give a silent zero gradient.
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)
    f.defjvp(lambda p, t: (f(p[0]), t[0] ** 2))
    assert float(fgrad.jvp(f, (0.5,), (3.0,))[1]) == 9.0      # forward mode runs the rule as written
    with pytest.raises(TypeError, match=r"JVP rule <lambda> of custom_jvp function f is not linear in its tangents"):
        fgrad.grad(f)(0.5)


def test_a_linear_custom_jvp_rule_branching_on_the_primal_is_accepted():
    @fgrad.custom_jvp
    def relu(x):
        return fnp.maximum(x, 0.0)
    relu.defjvp(lambda p, t: (relu(p[0]), fnp.where(p[0] > 0, t[0], 0.0)))
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(relu(x)))(np.array([-1.0, 2.0])), [0.0, 1.0])


# ---- escaped tracers and numpy dispatch ----------------------------------------------------------------

@pytest.mark.parametrize("use", [float, bool, int, np.asarray, lambda t: f"{t:.2f}", lambda t: t.item()],
                         ids=["float", "bool", "int", "np.asarray", "format", "item"])
def test_asking_an_escaped_tracer_for_its_value_says_it_escaped(use):
    leaked = []
    fgrad.grad(lambda x: leaked.append(fnp.sin(x)) or x)(1.0)
    with pytest.raises(fgrad.ir.EscapedTracerError, match="escaped from the function fgrad traced it in"):
        use(leaked[0])


@pytest.mark.parametrize("fn, expected", [
    (lambda a: np.sum(a, where=a > 0), r"numpy.sum with where=\.\.\. was applied to a traced value .* fnp.sum"),
    (lambda a: np.max(a, initial=0.0), r"numpy.max with initial=\.\.\. was applied to a traced value"),
    (lambda a: np.sum(a, out=np.zeros(())), r"numpy.sum\(\.\.\., out=\.\.\.\) cannot store a traced value"),
], ids=["where", "initial", "out"])
def test_numpy_arguments_fgrad_does_not_take_are_named(fn, expected):
    with pytest.raises(TypeError, match=expected):
        fgrad.make_ir(fn)(np.ones(3))
    assert fgrad.make_ir(lambda a: np.clip(a, 0.0, 1.0, out=None))(np.ones(3))   # out=None is numpy's default


# ---- Python scalar arguments stay weak when traced ------------------------------------------------------

def test_a_python_scalar_argument_promotes_weakly_when_traced():
    # It used to become a float64 input that turned float32 arrays into float64 under make_ir, jvp, vjp, jacobians
    # (but not under grad, which does not trace the arguments it does not differentiate).
    w = np.ones(2, np.float32)
    scale = lambda w, s: w * s
    assert scale(w, 2.0).dtype == np.float32
    assert fgrad.make_ir(scale)(w, 2.0).out_types[0].dtype == np.float32
    assert fgrad.make_ir(scale)(w, 3).out_types[0].dtype == np.float32
    assert fgrad.jvp(scale, (w, 2.0), (w, 1.0))[1].dtype == np.float32
    value, (g_w, g_s) = fgrad.value_and_grad(lambda w, s: fnp.sum(scale(w, s)), argnums=(0, 1))(w, 2.0)
    assert (value.dtype, g_w.dtype, g_s.dtype) == (np.float32, np.float32, np.float64)   # as JAX
    assert fgrad.make_ir(lambda s: fnp.asarray([s, w[0]]))(2.0).out_types[0].dtype == np.float32
    # Arrays and numpy scalars stay strong, as in numpy.
    assert fgrad.make_ir(scale)(w, np.float64(2.0)).out_types[0].dtype == np.float64


def test_custom_rule_params_print_without_memory_addresses():
    @partial(fgrad.custom_vjp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)
    apply.defvjp(lambda fn, x: (fn(x), x), lambda fn, x, g: fgrad.vjp(fn, x)[1](g))
    text = str(fgrad.make_ir(lambda x: apply(lambda y: y ** 3, x))(np.ones(2)))
    assert "nondiff=((0, test_custom_rule_params_print_without_memory_addresses.<locals>." in text
    assert " at 0x" not in text
    np.testing.assert_allclose(fgrad.grad(lambda x: fnp.sum(apply(fnp.sin, x)))(np.ones(2)), np.cos(np.ones(2)))


def test_a_program_without_outputs_prints_without_trailing_space():
    assert str(fgrad.make_ir(lambda x: None)(1.0)) == "program(a:f64[]) {\n  return\n}"


def test_jit_keys_weak_and_strong_scalar_arguments_apart():
    w = np.ones(2, np.float32)
    step = fgrad.jit(lambda w, lr: w - lr * w)
    assert step(w, 0.1).dtype == np.float32
    assert step(w, np.float64(0.1)).dtype == np.float64       # as numpy: a numpy scalar is strong


def test_indexing_a_numpy_array_by_a_traced_index_points_to_take():
    W = np.arange(6.0).reshape(3, 2)
    with pytest.raises(TypeError, match=r"fnp.take\(W, i, axis=0\)"):
        fgrad.make_ir(lambda x: W[fnp.argmax(x)])(np.ones(3))
    with pytest.raises(TypeError, match=r"fnp.take\(a, i, axis=0\)"):
        fgrad.make_ir(lambda x: [1.0, 2.0, 3.0][fnp.argmax(x)])(np.ones(3))
    program = fgrad.make_ir(lambda x: fnp.take(W, fnp.argmax(x), axis=0))(np.ones(3))
    assert program.out_types[0].shape == (2,)


def test_jit_integer_floor_division_floors_like_numpy():
    a, b = np.array([7, -7, 9], np.int64), np.array([2, 2, -4], np.int64)
    np.testing.assert_array_equal(fgrad.jit(lambda a, b: a // b)(a, b), a // b)
