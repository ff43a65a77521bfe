"""Misuse gives PyTorch's errors, or errors that say what was expected and the fix (issue 17, items 4, 12)."""
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

NUMPY_OF_GRAD = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."


# ---- numpy conversion of tensors that require grad (item 4) ------------------------------------------

CONVERSIONS = {
    "np.asarray": lambda t: np.asarray(t),
    "np.array": lambda t: np.array(t),
    "np.asarray_dtype": lambda t: np.asarray(t, dtype=np.float64),
    "numpy()": lambda t: t.numpy(),
    "np.sin": lambda t: np.sin(t),
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
def test_numpy_of_a_tensor_that_requires_grad_raises_as_pytorch(name, leaf):
    t = fgrad.ones(2, requires_grad=True)
    t = t if leaf else t * 2
    with pytest.raises(RuntimeError, match=NUMPY_OF_GRAD.replace("(", r"\(").replace(")", r"\)")):
        CONVERSIONS[name](t)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")       # torch's own __array__ / __array_wrap__
@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_numpy_of_a_tensor_that_requires_grad_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    for lib in (torch, fgrad):
        t = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            CONVERSIONS[name](t)
        assert str(info.value) == NUMPY_OF_GRAD, lib.__name__
        with lib.no_grad():                       # grad mode off: the values may leave the graph
            np.testing.assert_array_equal(CONVERSIONS[name](t), CONVERSIONS[name](lib.ones(2)))


def test_detached_tensors_convert_and_np_array_copies():
    t = fgrad.ones(3, requires_grad=True)
    shared = np.asarray(t.detach())
    copied = np.array(t.detach())
    assert np.shares_memory(shared, t.detach().numpy()) and not np.shares_memory(copied, t.detach().numpy())
    assert np.asarray(fgrad.ones(2), dtype=np.float64).dtype == np.float64


# ---- values that are not arrays (item 12) ------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [("abc", "the str 'abc'"), (None, "None"), (object(), "the object")],
                         ids=["str", "None", "object"])
def test_fnp_on_a_non_numeric_value_says_what_was_expected(value, shown):
    with pytest.raises(TypeError, match="expected an array or a number, but got " + shown) as info:
        fnp.sin(value)
    assert "np.asarray(values, dtype=float)" in str(info.value)


def test_a_string_as_a_non_static_jit_argument_points_to_static_argnums():
    f = fgrad.jit(lambda x, mode: x * 2.0)
    with pytest.raises(TypeError, match="got the str 'double'.*static_argnums"):
        f(np.ones(2), "double")
    np.testing.assert_array_equal(fgrad.jit(lambda x, mode: x * 2.0, static_argnums=1)(np.ones(2), "double"),
                                  [2.0, 2.0])


@pytest.mark.parametrize("data, kind, where", [
    (None, RuntimeError, "got None. "), ("abc", TypeError, "got 'abc'. "),
    ([1.0, None], RuntimeError, "got None at index [1]"), ([[1.0], ["a"]], TypeError, "got 'a' at index [1, 0]"),
], ids=["None", "str", "None-inside", "str-inside"])
def test_tensor_of_data_that_is_not_numbers_names_it(data, kind, where):
    with pytest.raises(kind) as info:
        fgrad.tensor(data)
    assert str(info.value).startswith("Could not infer dtype of ")        # PyTorch's words first
    assert where in str(info.value) and "tensor() takes numbers" in str(info.value)


# ---- facade ops on values traced by fgrad.grad / fgrad.jit (item 12) ------------------------------------

FACADE_UNDER_TRANSFORMS = {
    "sin": lambda x: fgrad.sin(x),
    "add_scalar": lambda x: fgrad.add(x, 1.0),
    "tensor_times_traced": lambda x: fgrad.tensor(2.0) * x,
    "sum": lambda x: fgrad.sum(x),
    "relu": lambda x: fgrad.nn.functional.relu(x),
    "linear_module": lambda x: fgrad.nn.Linear(2, 1)(x).sum(),
    "backward": lambda x: x.backward(),
}


@pytest.mark.parametrize("transform", ["grad", "jit"])
@pytest.mark.parametrize("name", sorted(FACADE_UNDER_TRANSFORMS))
def test_facade_ops_under_transforms_point_to_fgrad_numpy(name, transform):
    # fgrad.grad(lambda x: fgrad.sin(x))(1.) used to raise AttributeError: 'Tracer' object has no attribute '_data'.
    fn = FACADE_UNDER_TRANSFORMS[name]
    run = fgrad.grad(lambda x: fnp.sum(fn(x))) if transform == "grad" else fgrad.jit(fn)
    with pytest.raises(TypeError, match="PyTorch-facade op") as info:
        run(np.ones(2))
    assert "fgrad.numpy" in str(info.value) and ".backward()" in str(info.value)


def test_numpy_methods_missing_on_traced_values_keep_their_message():
    with pytest.raises(AttributeError, match="numpy.ndarray.searchsorted"):
        fgrad.grad(lambda x: fnp.sum(x.searchsorted(0.5)))(np.ones(2))
