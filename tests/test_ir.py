"""The IR: types, printing, structural hashing and `check`."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.ir import (ArrayType, Equation, Literal, Params, Program, ProgramError, Var, broadcast_shapes, check,
                      float32, float64, int32, promote_dtypes)
from fgrad.ops import cos_p, mul_p, sin_p


def test_array_type_prints_short_dtype_and_shape():
    assert str(ArrayType((3, 4), "float64")) == "f64[3,4]"
    assert str(ArrayType((), "int32")) == "i32[]"
    assert str(ArrayType((2,), "bool")) == "bool[2]"


def test_array_type_rejects_unsupported_dtype():
    with pytest.raises(TypeError, match="does not support dtype float16"):
        ArrayType((3,), "float16")


def test_array_types_are_hashable_and_equal_by_value():
    assert ArrayType((3,), float32) == ArrayType([3], "float32")
    assert len({ArrayType((3,), float32), ArrayType((3,), "float32")}) == 1


@pytest.mark.parametrize("shapes, expected", [
    (((3, 1), (4,)), (3, 4)),
    (((), (2, 3)), (2, 3)),
    (((5, 1, 3), (1, 4, 1)), (5, 4, 3)),
], ids=["col-row", "scalar", "3d"])
def test_broadcast_shapes_follows_numpy(shapes, expected):
    assert broadcast_shapes(*shapes) == expected == np.broadcast_shapes(*shapes)


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        broadcast_shapes((3,), (4,))


def test_promotion_follows_numpy():
    assert promote_dtypes(int32, float32) == np.result_type(np.int32, np.float32)
    assert promote_dtypes(float32, float64) == float64


def sum_of_sin(x):
    return fnp.sum(fnp.sin(x) * 2.0)


GOLDEN_SUM_OF_SIN = textwrap.dedent("""\
    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[3] = mul b 2.0:f64[3]
      d:f64[] = reduce_sum[axes=(0,)] c
      return d
    }""")


def test_printed_program_is_stable_text():
    assert str(fgrad.make_ir(sum_of_sin)(np.ones(3))) == GOLDEN_SUM_OF_SIN


def test_weak_python_scalar_keeps_float32():
    program = fgrad.make_ir(lambda x: x * 2.0)(np.ones(2, np.float32))
    assert str(program.outputs[0].type) == "f32[2]"


def test_equal_programs_hash_equal_and_differ_when_they_differ():
    p1 = fgrad.make_ir(sum_of_sin)(np.ones(3))
    p2 = fgrad.make_ir(sum_of_sin)(np.zeros(3))
    p3 = fgrad.make_ir(lambda x: fnp.sum(fnp.cos(x) * 2.0))(np.ones(3))
    assert p1 == p2 and hash(p1) == hash(p2)
    assert p1 != p3


def test_structural_hash_is_equal_across_processes():
    code = ("import numpy as np, fgrad, fgrad.numpy as fnp;"
            "print(fgrad.make_ir(lambda x: fnp.sum(fnp.sin(x) * 2.0))(np.ones(3)).digest)")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
               for _ in range(2)}
    assert digests == {fgrad.make_ir(sum_of_sin)(np.ones(3)).digest + "\n"}


def test_closure_array_becomes_a_constant():
    w = np.arange(3.0)
    program = fgrad.make_ir(lambda x: x * w)(np.ones(3))
    assert any(type(a) is Literal and a.value is w for e in program.equations for a in e.inputs)


def test_static_argnums_run_python_control_flow_at_trace_time():
    def f(x, n):
        for _ in range(n):
            x = fnp.sin(x)
        return x
    program = fgrad.make_ir(f, static_argnums=1)(1.0, 3)
    assert [e.prim.name for e in program.equations] == ["sin"] * 3


def test_pytree_inputs_and_outputs():
    program = fgrad.make_ir(lambda d: {"s": d["a"] + d["b"][0], "n": None})({"a": 1.0, "b": (2.0,)})
    assert len(program.inputs) == 2 and len(program.outputs) == 1


# ---- check -----------------------------------------------------------------------------------

def _var(shape=(3,), dtype=float64):
    return Var(ArrayType(shape, dtype))


def test_check_accepts_traced_programs():
    check(fgrad.make_ir(sum_of_sin)(np.ones(3)))


def test_check_rejects_double_assignment():
    x, y = _var(), _var()
    program = Program((x,), (Equation(sin_p, (x,), Params(), (y,)), Equation(cos_p, (x,), Params(), (y,))), (y,))
    with pytest.raises(ProgramError, match=r"variable b is assigned twice, again in: equation 1 `b:f64\[3\] = cos a`"):
        check(program)


def test_check_rejects_unbound_variable():
    x, y, z = _var(), _var(), _var()
    program = Program((x,), (Equation(mul_p, (x, z), Params(), (y,)),), (y,))
    with pytest.raises(ProgramError, match="equation 0 .* uses a variable that is not bound"):
        check(program)


def test_check_rejects_types_that_disagree_with_the_shape_rule():
    x, y = _var(), _var((4,))
    program = Program((x,), (Equation(sin_p, (x,), Params(), (y,)),), (y,))
    with pytest.raises(ProgramError, match=r"equation 0 .* records output types \(f64\[4\]\) but the shape rule "
                                           r"of 'sin' gives \(f64\[3\]\)"):
        check(program)


def test_check_rejects_unbound_output():
    x = _var()
    with pytest.raises(ProgramError, match="returns a variable that is never bound"):
        check(Program((x,), (), (_var(),)))
