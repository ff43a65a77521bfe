"""fgrad arrays with JAX's functional updates `x.at[index].<method>(values)`: eager (fgrad.Array, a numpy
subclass), traced, jitted, and differentiated; checked against numpy's np.<ufunc>.at and against JAX."""
import pickle

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

METHODS = ["set", "add", "multiply", "mul", "divide", "power", "min", "max"]

INDICES = [
    pytest.param(2, id="int"),
    pytest.param(-1, id="negative-int"),
    pytest.param(slice(1, 4), id="slice"),
    pytest.param(slice(None, None, 2), id="step"),
    pytest.param(slice(None, None, -2), id="negative-step"),
    pytest.param(np.array([0, 3, 0, 5, 3, 0]), id="repeated"),
    pytest.param(np.array([-1, 1, -1]), id="negative-repeated"),
    pytest.param([4, 1], id="list"),
    pytest.param(np.array([True, False, True, False, False, True]), id="mask"),
]


def reference(x, method, index, values):
    """numpy's version of the update (np.<ufunc>.at for the accumulating ones), as JAX defines it."""
    out = np.array(x, dtype=float)
    if method == "set":
        out[index] = values
    elif method == "add":
        np.add.at(out, index, values)
    elif method in ("multiply", "mul"):
        np.multiply.at(out, index, values)
    elif method == "divide":
        factor = np.ones_like(out)
        np.multiply.at(factor, index, values)
        out = out / factor
    elif method == "power":
        exponent = np.ones_like(out)
        np.multiply.at(exponent, index, values)
        out = out ** exponent
    elif method == "min":
        np.minimum.at(out, index, values)
    elif method == "max":
        np.maximum.at(out, index, values)
    return out


def has_repeats(index) -> bool:
    positions = np.arange(6)[index].ravel()
    return len(set(positions.tolist())) < positions.size


def example(index):
    """x of 6 elements and values shaped like x[index] (distinct, positive: no ties, real powers)."""
    x = np.array([1.5, 0.5, 2.0, 3.0, 0.75, 1.25])
    n = np.arange(6)[index].size
    return x, 0.5 + 0.4 * np.arange(n).reshape(np.arange(6)[index].shape)


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("method", METHODS)
def test_eager_update_matches_numpy(method, index):
    x, values = example(index)
    a = fnp.asarray(x)
    out = getattr(a.at[index], method)(values)
    assert isinstance(out, fgrad.Array)
    np.testing.assert_allclose(out, reference(x, method, index, values), rtol=1e-15)
    np.testing.assert_array_equal(a, x)          # out of place: x is unchanged


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("method", METHODS)
def test_jitted_update_matches_eager(method, index):
    x, values = example(index)
    eager = getattr(fnp.asarray(x).at[index], method)(values)
    jitted = fgrad.jit(lambda x, v: getattr(x.at[index], method)(v))(x, values)
    np.testing.assert_allclose(jitted, eager, rtol=1e-15)


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("method", METHODS)
def test_update_and_its_gradient_match_jax(method, index):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    x, values = example(index)
    weights = np.arange(1.0, 7.0)
    jax_index = np.asarray(index) if isinstance(index, list) else index      # JAX takes no lists as indices

    unique = not has_repeats(index)

    def loss(np_, index):
        def f(x, v):
            return np_.sum(getattr(x.at[index], method)(v, unique_indices=unique) * weights)
        return f
    np.testing.assert_allclose(getattr(fnp.asarray(x).at[index], method)(values),
                               getattr(jnp.asarray(x).at[jax_index], method)(values), rtol=1e-15)
    if not unique and method in ("multiply", "mul", "divide", "power"):
        # JAX refuses these gradients ("scatter_mul gradients are only implemented if unique_indices=True");
        # fgrad's are checked against finite differences instead.
        fgrad.check_grads(loss(fnp, index), (x, values), order=2)
        return
    ours = fgrad.grad(loss(fnp, index), argnums=(0, 1))(x, values)
    theirs = jax.grad(loss(jnp, jax_index), argnums=(0, 1))(jnp.asarray(x), jnp.asarray(values))
    if method == "set" and has_repeats(index):
        # Which of several values aimed at one element wins is unspecified in JAX; compare x's gradient only.
        theirs, ours = theirs[:1], ours[:1]
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=1e-13, atol=1e-15)


def test_get_every_index_kind():
    x = fnp.arange(12.0).reshape(3, 4)
    for index in [1, -1, (1, 2), (slice(None), 1), (Ellipsis, -1), ([0, 2], [1, 3]), (slice(None, None, -1), 0)]:
        np.testing.assert_array_equal(x.at[index].get(), np.arange(12.0).reshape(3, 4)[index])


def test_two_dimensional_updates():
    x = fnp.zeros((3, 4))
    np.testing.assert_array_equal(x.at[1, ::2].set(7.0), [[0, 0, 0, 0], [7, 0, 7, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(x.at[[0, 0], [1, 1]].add(1.0)[0], [0, 2, 0, 0])
    np.testing.assert_array_equal(x.at[..., -1].max(fnp.array([1.0, -1.0, 2.0]))[:, -1], [1.0, 0.0, 2.0])


def test_integer_arrays_follow_jax():
    x = fnp.arange(5)
    out = x.at[[1, 1, 3]].divide(2)
    assert out.dtype == np.float64                                  # JAX: x / factor, a true division
    np.testing.assert_array_equal(out, [0, 0.25, 2, 1.5, 4])
    np.testing.assert_array_equal(x.at[[1, 1, 3]].min(2), [0, 1, 2, 2, 4])
    np.testing.assert_array_equal(x.at[[1, 1, 3]].max(2), [0, 2, 2, 3, 4])
    np.testing.assert_array_equal(x.at[[1, 1, 3]].add(2), [0, 5, 2, 5, 4])
    assert x.at[0].set(2.7).dtype == x.dtype                          # values take x's dtype


def test_traced_indices_with_repeats():
    """Positions known only at run time: the accumulating methods fold every value aimed at an element."""
    x, idx, values = np.arange(1.0, 6.0), np.array([1, 1, 3]), np.array([2.0, 4.0, 3.0])
    for method in ["add", "multiply", "divide", "min", "max"]:
        jitted = fgrad.jit(lambda x, i, v: getattr(x.at[i], method)(v))(x, idx, values)
        np.testing.assert_allclose(jitted, reference(x, method, idx, values), rtol=1e-15, err_msg=method)


def test_keywords_are_accepted():
    x = fnp.arange(5.0)
    kw = dict(indices_are_sorted=True, unique_indices=True)
    np.testing.assert_array_equal(x.at[[1, 2]].set(9.0, mode="promise_in_bounds", **kw), [0, 9, 9, 3, 4])
    np.testing.assert_array_equal(x.at[[1, 2]].add(1.0, mode="drop", **kw), [0, 2, 3, 3, 4])
    assert x.at[2].get(mode="fill", fill_value=-1.0, **kw) == 2.0


def test_clip_mode_clamps_like_jax():
    x = fnp.arange(5.0)
    assert x.at[7].get(mode="clip") == 4.0
    np.testing.assert_array_equal(x.at[[7, -9]].set(1.0, mode="clip"), [1, 1, 2, 3, 1])
    np.testing.assert_array_equal(fgrad.jit(lambda x, i: x.at[i].add(1.0, mode="clip"))(x, np.array([9, -1])),
                                  [0, 1, 2, 3, 6])


def test_out_of_bounds_and_bad_mode_errors():
    x = fnp.arange(5.0)
    with pytest.raises(IndexError, match="out of bounds"):
        x.at[5].set(1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        x.at[1].set(1.0, mode="wrap")


OUT_OF_BOUNDS = {"int_past_end": 7, "int_before_start": -8, "negative_inside": -1, "list": [0, 7, 2, -9, 4],
                 "array_2d": np.array([[1, 9], [-1, 5]])}


@pytest.mark.parametrize("mode", ["drop", "fill"])
@pytest.mark.parametrize("method", ["set", "add", "multiply", "min", "max", "get"])
@pytest.mark.parametrize("name", list(OUT_OF_BOUNDS), ids=list(OUT_OF_BOUNDS))
def test_drop_and_fill_modes_match_jax(name, method, mode):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    index = OUT_OF_BOUNDS[name]
    x = np.arange(5.0)
    args = () if method == "get" else (np.full(np.shape(index), 10.0),)
    ours = getattr(fnp.asarray(x).at[index], method)(*args, mode=mode)
    theirs = getattr(jnp.asarray(x).at[jnp.asarray(index)], method)(*args, mode=mode)
    np.testing.assert_array_equal(ours, theirs)


def test_drop_and_fill_with_traced_indices_and_gradients():
    x, i = np.arange(5.0), np.array([1, 7, -1])

    def dropped(v, i):
        return fnp.sum(fnp.asarray(v).at[i].set(0.0, mode="drop") ** 2)

    def filled(v, i):
        return fnp.sum(fnp.asarray(v).at[i].get(mode="fill", fill_value=0.0) * fnp.arange(3.0))
    assert fgrad.jit(dropped)(x, i) == 2.0 ** 2 + 3.0 ** 2 == dropped(x, i)
    np.testing.assert_array_equal(fgrad.grad(dropped)(x, i), [0, 0, 4, 6, 0])
    assert fgrad.jit(filled)(x, i) == 1 * 0 + 0 * 1 + 4 * 2
    np.testing.assert_array_equal(fgrad.jit(fgrad.grad(filled))(x, i), [0, 0, 0, 0, 2])


def test_fill_values_default_as_jax():
    assert np.isnan(fnp.arange(3.0).at[5].get(mode="fill"))
    assert fnp.arange(3).at[5].get(mode="fill") == np.iinfo(np.int64).min
    np.testing.assert_array_equal(fnp.arange(3.0).at[[0, 5]].get(mode="fill", fill_value=-1.0), [0.0, -1.0])
    np.testing.assert_array_equal(fnp.zeros((2, 2)).at[:, [0, 4]].get(mode="fill"), [[0.0, np.nan], [0.0, np.nan]])


def test_gradient_through_a_chain_of_updates():
    def f(x):
        y = x.at[0].set(x[1] * 3.0)
        y = y.at[1:].multiply(y[0])
        return fnp.sum(y.at[[2, 2]].add(x[2]) ** 2)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(fgrad.grad(f)(x), fgrad.jit(fgrad.grad(f))(x), rtol=1e-14)
    fgrad.check_grads(f, (x,), order=2)


# ---- fgrad.Array: a numpy array with .at ------------------------------------------------------------

def test_results_are_arrays_everywhere():
    x = np.linspace(0.0, 1.0, 3)
    results = {
        "fnp": fnp.sin(x),
        "fnp.asarray": fnp.asarray(x),
        "grad": fgrad.grad(lambda x: fnp.sum(x ** 2))(x),
        "vjp": fgrad.vjp(fnp.sin, x)[1](x)[0],
        "jvp": fgrad.jvp(fnp.sin, (x,), (x,))[1],
        "jacfwd": fgrad.jacfwd(fnp.sin)(x),
        "vmap": fgrad.vmap(fnp.sin)(x),
        "jit": fgrad.jit(fnp.sin)(x),
        "lax.cond": fgrad.lax.cond(True, fnp.sin, fnp.cos, x),
        "lax.while_loop": fgrad.lax.while_loop(lambda v: v[0] < 2.0, lambda v: v + 1.0, x),
        "lax.scan": fgrad.lax.scan(lambda c, v: (c + v, c * v), x, fnp.ones((2, 3)))[1],
        "at": fnp.asarray(x).at[0].set(1.0),
    }
    for where, value in results.items():
        assert type(value) is fgrad.Array, where
    assert fgrad.Array is fnp.Array


def test_arrays_are_numpy_arrays():
    a = fnp.arange(4.0)
    assert isinstance(a, np.ndarray) and repr(a) == "array([0., 1., 2., 3.])" and str(a) == "[0. 1. 2. 3.]"
    assert type(a + 1.0) is fgrad.Array and type(np.sin(a)) is fgrad.Array and type(a[1:]) is fgrad.Array
    assert type(a.sum()) is np.float64 and type(np.sum(a)) is np.float64 and type(a[0]) is np.float64
    assert {a.sum(): 1}                       # scalars, not 0-d arrays: they hash
    b = pickle.loads(pickle.dumps(a))
    assert type(b) is fgrad.Array and b.at[0].set(5.0)[0] == 5.0
    a[0] = 7.0                                # mutable, as numpy arrays are
    assert a[0] == 7.0


def test_as_array_is_a_view_not_a_copy():
    x = np.ones(1000)
    y = fnp.sin(x)
    assert y.base is not None and not np.shares_memory(y, x)     # the view of fnp's fresh result
    assert fnp.asarray(x) is not x and not np.shares_memory(fnp.asarray(x), x)   # fnp results are owned


def test_arrays_mix_with_tracers_and_jit_fast_path():
    a = fnp.ones(3)
    f = fgrad.jit(lambda x: x * 2.0)
    np.testing.assert_array_equal(f(a), [2, 2, 2])
    assert f._fast                             # an Array takes jit's fast path like an ndarray
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(a * x + x * a))(np.ones(3)), [2, 2, 2])
