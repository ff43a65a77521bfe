"""Every error a user meets while tracing with fgrad.numpy, and what its message says."""
import os
import re

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.ir import EscapedTracerError, TracerConversionError

THIS_FILE = os.path.basename(__file__)


def line_of(marker: str) -> int:
    """The line number of the one line of this file that ends with the comment `# <marker>`."""
    with open(__file__) as f:
        hits = [n for n, line in enumerate(f, start=1) if line.rstrip().endswith(f"# <{marker}>")]
    assert len(hits) == 1, f"marker {marker} must appear once"
    return hits[0]


def assert_names_user_line(message: str, marker: str):
    assert f"{THIS_FILE}:{line_of(marker)}" in message, message
    assert "fnp.where" in message, message


# ---- control flow on traced values -----------------------------------------------------------------

def branch_on_value(x):
    if x > 0:  # <if>
        return x
    return -x


def convert_to_bool(x):
    return bool(x.sum())  # <bool>


def convert_to_float(x):
    return float(x[0])  # <float>


def convert_to_int(x):
    return int(x[0])  # <int>


def loop_on_value(x):
    while x.sum() < 10.0:  # <while>
        x = x * 2.0
    return x


def ask_for_item(x):
    return x.sum().item()  # <item>


@pytest.mark.parametrize("fn, marker, what", [
    (branch_on_value, "if", "bool()"), (convert_to_bool, "bool", "bool()"), (convert_to_float, "float", "float()"),
    (convert_to_int, "int", "int()"), (loop_on_value, "while", "bool()"), (ask_for_item, "item", "item()"),
], ids=["if", "bool", "float", "int", "while", "item"])
def test_control_flow_on_a_tracer_names_the_users_line_and_fnp_where(fn, marker, what):
    with pytest.raises(TracerConversionError) as info:
        fgrad.make_ir(fn)(np.ones(3))
    message = str(info.value)
    assert_names_user_line(message, marker)
    assert what in message and "Tracer(" in message
    assert isinstance(info.value, TypeError)


def test_the_message_quotes_the_offending_source_line():
    with pytest.raises(TracerConversionError, match=re.escape("`if x > 0:  # <if>`")):
        fgrad.make_ir(branch_on_value)(np.ones(3))


# ---- escaped tracers -------------------------------------------------------------------------------

def leak(store):
    def f(x):
        y = fnp.sin(x)
        store.append(y)
        return y
    return f


def test_escaped_tracer_used_after_its_trace_raises():
    store = []
    fgrad.make_ir(leak(store))(np.ones(3))
    with pytest.raises(EscapedTracerError, match=r"Tracer\(f64\[3\]\) escaped"):
        store[0] + 1.0
    with pytest.raises(EscapedTracerError, match="escaped"):
        fnp.sum(store[0])


def test_escaped_tracer_used_in_another_trace_raises():
    store = []
    fgrad.make_ir(leak(store))(np.ones(3))
    with pytest.raises(EscapedTracerError, match="Return values from the traced function"):
        fgrad.make_ir(lambda x: x * store[0])(np.ones(3))


# ---- immutability ----------------------------------------------------------------------------------

def test_item_assignment_on_a_tracer_points_to_at():
    def assign(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match=re.escape("x.at[index].set(value)")):
        fgrad.make_ir(assign)(np.ones(3))


def test_ufunc_out_argument_on_a_tracer_says_arrays_are_immutable():
    with pytest.raises(TypeError, match="immutable"):
        fgrad.make_ir(lambda x: np.sin(x, out=np.empty(3)))(np.ones(3))


# ---- numpy functions fgrad does not implement ------------------------------------------------------

def test_unsupported_numpy_function_on_a_tracer_names_it_and_the_way_out():
    with pytest.raises(TypeError, match=r"numpy\.median was applied to a traced value Tracer\(f64\[3\]\)") as info:
        fgrad.make_ir(lambda x: np.median(x))(np.ones(3))
    assert "fgrad.numpy has no median" in str(info.value)


def test_unsupported_numpy_ufunc_on_a_tracer_names_it():
    with pytest.raises(TypeError, match=r"numpy\.copysign .*fgrad.numpy has no copysign"):
        fgrad.make_ir(lambda x: np.copysign(x, 1.0))(np.ones(3))


def test_numpy_asarray_of_a_tracer_raises_instead_of_making_a_constant():
    with pytest.raises(TypeError, match="fgrad.numpy"):
        fgrad.make_ir(lambda x: np.asarray(x))(np.ones(3))


def test_allclose_on_a_tracer_explains_that_it_needs_values():
    with pytest.raises(TypeError, match=r"fnp.allclose needs concrete values.*fnp.all\(fnp.abs"):
        fgrad.make_ir(lambda x: fnp.allclose(x, 1.0))(np.ones(3))


# ---- shape mismatches name both shapes -------------------------------------------------------------

@pytest.mark.parametrize("fn, args, pattern", [
    (lambda x, y: x + y, (np.ones(3), np.ones(4)), r"\(3,\) and \(4,\)"),
    (lambda x, y: fnp.where(x > 0, x, y), (np.ones((2, 3)), np.ones(2)), r"\(2, 3\).*\(2,\)"),
    (lambda x, y: x @ y, (np.ones((2, 3)), np.ones((4, 5))), r"\(2, 3\) and \(4, 5\)"),
    (lambda x, y: fnp.dot(x, y), (np.ones(3), np.ones(4)), r"\(3,\) and \(4,\)"),
    (lambda x, y: fnp.stack([x, y]), (np.ones(3), np.ones(4)), r"\(3,\), \(4,\)"),
    (lambda x, y: fnp.concatenate([x, y], axis=1), (np.ones((2, 3)), np.ones((3, 3))), r"f64\[2,3\].*f64\[3,3\]"),
    (lambda x, y: fnp.tensordot(x, y, 1), (np.ones((2, 3)), np.ones((4, 5))), r"\(2, 3\).*\(4, 5\)"),
    (lambda x, y: x.reshape(4, 2), (np.ones((2, 3)), 0.0), r"\(2, 3\).*\(4, 2\)"),
    (lambda x, y: x.at[:2].set(y), (np.ones(3), np.ones(3)), r"\(3,\).*\(2,\)"),
    (lambda x, y: fnp.take_along_axis(x, y, axis=0), (np.ones((2, 3)), np.zeros(2, np.int64)), r"\(2,\) and \(2, 3\)"),
], ids=["add", "where", "matmul", "dot", "stack", "concatenate", "tensordot", "reshape", "at-set", "take_along_axis"])
def test_shape_mismatch_names_both_shapes(fn, args, pattern):
    with pytest.raises(ValueError, match=pattern):
        fgrad.make_ir(fn)(*args)


def test_out_of_bounds_index_names_index_axis_and_size():
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        fgrad.make_ir(lambda x: x[3])(np.ones(3))
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 4"):
        fgrad.make_ir(lambda x: x[[0, 1], [5, 0]])(np.ones((2, 4)))
    with pytest.raises(IndexError, match="too many indices for array: array is 1-dimensional, but 2 were indexed"):
        fgrad.make_ir(lambda x: x[0, 0])(np.ones(3))


# ---- indexing that cannot be traced ----------------------------------------------------------------

def test_traced_bool_mask_says_the_shape_would_depend_on_values():
    with pytest.raises(IndexError, match="shape would depend") as info:
        fgrad.make_ir(lambda x: x[x > 0])(np.ones(3))
    assert "fnp.where(mask, x, 0)" in str(info.value)


def test_traced_slice_bound_says_slices_are_static():
    with pytest.raises(IndexError, match="slice bounds must be static"):
        fgrad.make_ir(lambda x, i: x[i:])(np.ones(3), np.array(1))


def test_mask_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(IndexError, match=r"\(2,\).*\(3,\)"):
        fgrad.make_ir(lambda x: x[np.array([True, False])])(np.ones(3))


def test_float_index_is_rejected():
    with pytest.raises(IndexError, match="integer"):
        fgrad.make_ir(lambda x: x[np.array([0.5])])(np.ones(3))


def test_nonzero_of_a_tracer_says_the_shape_would_depend_on_values():
    with pytest.raises(TypeError, match="shape would depend on the values"):
        fgrad.make_ir(lambda x: fnp.where(x > 0))(np.ones(3))


def test_traced_arange_bound_says_it_must_be_static():
    with pytest.raises(TypeError, match="must be static"):
        fgrad.make_ir(lambda n: fnp.arange(n))(np.array(3))


def test_bitwise_operators_on_integers_explain_they_are_for_bools():
    with pytest.raises(TypeError, match="bool arrays only"):
        fgrad.make_ir(lambda x: x & 1)(np.array([1, 2]))


def test_svd_norms_are_refused_with_the_alternatives():
    with pytest.raises(NotImplementedError, match="SVD"):
        fgrad.make_ir(lambda x: fnp.linalg.norm(x, ord=2))(np.ones((2, 2)))


# ---- how tracers print -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (np.ones(3), "Tracer(f64[3])"), (np.ones((2, 3), np.float32), "Tracer(f32[2,3])"),
    (np.array(1), "Tracer(i64[])"), (np.array([True]), "Tracer(bool[1])"), (2.0, "Tracer(f64[])"),
], ids=["f64", "f32", "i64", "bool", "python-float"])
def test_tracer_repr_says_what_it_is(value, text):
    seen = []
    fgrad.make_ir(lambda x: seen.append(repr(x)) or x)(value)
    assert seen == [text]
