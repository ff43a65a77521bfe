"""What the reader is shown is what runs: the printed gradient program is the one `grad` runs and `jit`
compiles, and the printer's conveniences (fills written inline, name hints) leave programs unchanged."""
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.ir import Equation, Literal, Params, Program, Var, check
from fgrad.ir.types import ArrayType
from fgrad.ops import broadcast_to_p, mul_p


def logistic(w, x, y):
    return fnp.mean(fnp.log1p(fnp.exp(-y * (x @ w)))) + 0.01 * fnp.sum(w ** 2)


def mlp(w1, w2, x, y):
    return fnp.mean((fnp.tanh(x @ w1) @ w2 - y) ** 2)


def newton_sqrt(a):
    def body(x):
        return 0.5 * (x + a / x)
    return fgrad.lax.fori_loop(0, 5, lambda i, x: body(x), a) * 2.0


RNG = np.random.default_rng(0)
CASES = [
    ("logistic", fgrad.grad(logistic), (RNG.normal(size=3), RNG.normal(size=(8, 3)), np.sign(RNG.normal(size=8)))),
    ("mlp_two_args", fgrad.grad(mlp, argnums=(0, 1)),
     (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(5, 3)), RNG.normal(size=5))),
    ("value_and_grad", fgrad.value_and_grad(lambda x: fnp.sum(fnp.sin(x) * 3.0)), (RNG.normal(size=4),)),
    ("jvp", lambda x, t: fgrad.jvp(lambda a: fnp.sin(a) * 2.0, (x,), (t,)), (RNG.normal(size=4), np.ones(4))),
    ("fori_loop", fgrad.grad(newton_sqrt), (2.0,)),
]


@pytest.mark.parametrize("name, fun, args", CASES, ids=[c[0] for c in CASES])
def test_printed_program_is_the_one_jit_compiles(name, fun, args):
    # Each case is one transform of a function, so the program as traced is the transform's derived program.
    shown = fgrad.make_ir(fun)(*args)
    compiled = fgrad.jit(fun).lower(*args).program
    assert str(shown) == str(compiled)
    assert shown == compiled
    assert str(fgrad.make_ir(fun, simplify=True)(*args)) == str(shown)


@pytest.mark.parametrize("name, fun, args", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_simplifying_the_emitted_adjoint_gives_the_one_grad_runs(name, fun, args):
    raw = fgrad.make_ir(fun, simplify=False)(*args)
    shown = fgrad.make_ir(fun)(*args)
    assert len(raw.equations) > len(shown.equations)
    assert fgrad.make_ir(fun)(*args) == shown            # as_emitted() ended with make_ir
    assert str(fgrad.transforms.simplify.simplify(raw)) == str(shown)


def test_make_ir_rejects_an_unknown_simplify_choice():
    with pytest.raises(ValueError, match="simplify must be None"):
        fgrad.make_ir(fnp.sin, simplify="yes")


def f64(*shape):
    return ArrayType(shape, np.dtype("float64"))


def fill_program():
    x, fill, out = Var(f64(3)), Var(f64(3)), Var(f64(3))
    return Program((x,), (Equation(broadcast_to_p, (Literal(0.01),), Params(shape=(3,)), (fill,)),
                          Equation(mul_p, (fill, x), Params(), (out,))), (out,))


def test_a_fill_prints_inline_with_its_full_type():
    assert str(check(fill_program())) == ("program(a:f64[3]) {\n"
                                          "  b:f64[3] = mul 0.01:f64[3] a\n"
                                          "  return b\n"
                                          "}")


def test_a_returned_fill_prints_inline():
    printed = str(fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(x)))(np.ones(3)))
    assert "return 1.0:f64[3]" in printed and "broadcast_to" not in printed


def test_the_digest_sees_the_fill_equation():
    program = fill_program()
    from fgrad.ir.printer import format_program
    assert "broadcast_to[shape=(3,)] 0.01:f64[]" in format_program(program, full_literals=True)


def test_cotangents_and_tangents_are_named_after_their_variables():
    printed = str(fgrad.make_ir(fgrad.grad(mlp, argnums=(0, 1)))(*CASES[1][2]))
    assert "return a_ct, b_ct" in printed
    printed = str(fgrad.make_ir(lambda x: fgrad.jvp(lambda a: fnp.sin(a) * fnp.cos(a), (x,), (x,)))(np.ones(2)))
    assert "_dot:f64[2] =" in printed


def test_name_hints_do_not_change_the_digest():
    hinted = fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(fnp.sin(x) * 2.0)))(np.ones(3))
    digest, text = hinted.digest, str(hinted)
    for eqn in hinted.equations:
        eqn.outputs[0].hint = None
    plain = Program(hinted.inputs, hinted.equations, hinted.outputs)
    assert "a_ct" in text and "a_ct" not in str(plain)
    assert plain.digest == digest


def test_a_hint_whose_name_is_taken_falls_back_to_letters():
    x, y, z = Var(f64()), Var(f64()), Var(f64())
    y.hint = z.hint = ("ct", x)
    program = Program((x,), (Equation(mul_p, (x, x), Params(), (y,)), Equation(mul_p, (y, x), Params(), (z,))), (z,))
    assert str(program).splitlines()[1:3] == ["  a_ct:f64[] = mul a a", "  b:f64[] = mul a_ct a"]
