"""Debugging tools (issue 10, items 3-6): source locations in the IR, NaN/Inf checks that name the user's line,
fgrad.debug.print / callback, and the facade's anomaly mode.

Lines are found by marker comments (`# <-- name`), so the tests do not depend on where in this file they are.
"""
from __future__ import annotations

import pathlib
import re
import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import config as fgrad_config
from fgrad import lax
from fgrad.backend import jit as backend_jit
from fgrad.backend.codegen import without_locations
from fgrad.ir import EvalInterpreter, has_effect
from fgrad.ir.source import Source, user_source
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.simplify import simplify
from fgrad.transforms.vjp import vjp_program

HERE = pathlib.Path(__file__)
TEXT = HERE.read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment `# <-- marker`."""
    hits = [i + 1 for i, text in enumerate(TEXT) if text.rstrip().endswith(f"# <-- {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return hits[0]


@pytest.fixture
def debug_nans():
    with fgrad.config.override(debug_nans=True):
        yield


# ---- functions with known lines ------------------------------------------------------------------------

def loss(x):
    y = fnp.sin(x)                          # <-- loss-sin
    z = fnp.log(y)                          # <-- loss-log
    return fnp.sum(z * x)                   # <-- loss-sum


def sqrt_where(x):
    # NaN only in the gradient: sqrt's derivative at 0 is inf, and the where's zero cotangent times inf is NaN.
    y = fnp.where(x > 0, fnp.sqrt(x), 0.0)  # <-- sqrt-where
    return fnp.sum(y)


# ---- 3. source locations ---------------------------------------------------------------------------------

def test_every_equation_records_the_users_line():
    program = fgrad.make_ir(loss)(np.ones(3))
    lines = [(e.prim.name, e.source.lineno) for e in program.equations]
    assert lines == [("sin", line_of("loss-sin")), ("log", line_of("loss-log")), ("mul", line_of("loss-sum")),
                     ("reduce_sum", line_of("loss-sum"))]
    assert all(e.source.filename == str(HERE) and e.source.function == "loss" and e.source.role == ""
               for e in program.equations)


def test_pretty_with_source_names_lines_and_default_printing_is_unchanged():
    program = fgrad.make_ir(loss)(np.ones(3))
    text = program.pretty(source=True)
    assert f"b:f64[3] = sin a    # test_debug_tools.py:{line_of('loss-sin')}" in text
    assert "#" not in str(program) and str(program) == program.pretty()
    # the structural hash ignores locations: the same program from other lines is equal
    assert fgrad.make_ir(lambda x: fnp.sum(fnp.log(fnp.sin(x)) * x))(np.ones(3)) == program


def test_derived_equations_carry_the_primal_line_and_their_role():
    program = fgrad.make_ir(loss)(np.ones(3))
    adjoint = vjp_program(program, [0])
    n = len(program.equations)
    forward, backward = adjoint.equations[:n], adjoint.equations[n:]
    assert [e.source.role for e in forward] == [""] * n
    assert backward and all(e.source.role == "gradient" for e in backward)
    assert {e.source.lineno for e in backward} == {line_of(m) for m in ("loss-sin", "loss-log", "loss-sum")}
    # cos is sin's derivative: it comes from the sin line
    assert [e.source.lineno for e in backward if e.prim.name == "cos"] == [line_of("loss-sin")]
    tangent = jvp_program(program, [True])
    assert {e.source.role for e in tangent.equations} == {"", "tangent"}
    assert [e.source.lineno for e in tangent.equations if e.prim.name == "cos"] == [line_of("loss-sin")]


def test_grad_vmap_and_simplify_keep_locations():
    graded = fgrad.make_ir(fgrad.grad(loss))(np.ones(3))
    assert all(e.source is not None and e.source.filename == str(HERE) for e in graded.equations)
    assert "(gradient)" in graded.pretty(source=True)
    batched = fgrad.make_ir(fgrad.vmap(loss))(np.ones((2, 3)))
    assert [e.source.lineno for e in batched.equations if e.prim.name == "log"] == [line_of("loss-log")]
    simplified = simplify(fgrad.make_ir(lambda x: fnp.sin(x) * 1.0 + 0.0 * x)(np.ones(2)))   # <-- simplify-line
    assert all(e.source.lineno == line_of("simplify-line") for e in simplified.equations)


def test_user_source_skips_fgrad_frames():
    here = user_source(1)
    assert here.filename == str(HERE) and here.function == "test_user_source_skips_fgrad_frames"
    assert str(Source("/a/b/model.py", 12, "f").derived("gradient")) == "model.py:12 (gradient)"
    assert Source("/a/b/model.py", 12, "f", "gradient").describe() == "in the gradient of line 12 of /a/b/model.py (in f)"


def test_kernel_comments_name_lines_and_the_cache_file_does_not():
    lowered = fgrad.jit(fgrad.grad(loss)).lower(np.ones(3))
    assert f"@ test_debug_tools.py:{line_of('loss-sin')} (gradient)" in lowered.source
    assert "@ test_debug_tools" not in without_locations(lowered.source)
    assert without_locations(lowered.source).count("\n") == lowered.source.count("\n")
    # The kernel file is keyed by the source without locations: the same function written on other lines
    # loads the same file.
    def moved(x):
        return fnp.sum(fnp.log(fnp.sin(x)) * x)
    path = backend_jit.Entry(simplify(fgrad.make_ir(loss)(np.ones(3))), fgrad.tree_util.tree_structure(0.0),
                             False, False).kernel.path
    other = backend_jit.Entry(simplify(fgrad.make_ir(moved)(np.ones(3))), fgrad.tree_util.tree_structure(0.0),
                              False, False).kernel.path
    assert path == other
    if path is not None:
        assert "@ " not in pathlib.Path(path).read_text()


# ---- 4. NaN / Inf checks ---------------------------------------------------------------------------------

def test_config_update_attributes_override_and_environment(monkeypatch):
    assert fgrad.config.debug_nans is False
    fgrad.config.update("debug_nans", True)
    try:
        assert fgrad.config.debug_nans is True and fgrad_config.config.debug_nans is True
    finally:
        fgrad.config.update("debug_nans", False)
    with fgrad.config.override(debug_infs=True):
        assert fgrad.config.debug_infs
    assert not fgrad.config.debug_infs
    with pytest.raises(AttributeError, match="no option 'debug_nan'.*debug_nans"):
        fgrad.config.update("debug_nan", True)
    with pytest.raises(TypeError, match="True or False"):
        fgrad.config.update("debug_nans", 1)
    monkeypatch.setenv("FGRAD_DEBUG_NANS", "1")
    assert fgrad_config.read_config().debug_nans is True


def test_eager_nan_names_the_line_primitive_and_inputs(debug_nans):
    with pytest.raises(FloatingPointError) as info:
        loss(np.array([1.0, -1.0, 2.0]))
    message = str(info.value)
    assert f"NaN in the result of the primitive 'log'" in message
    assert f"at line {line_of('loss-log')} of {HERE} (in loss), in the forward computation" in message
    assert "z = fnp.log(y)" in message
    assert "input 0: f64[3] min -0.841471 max 0.909297, no NaN or inf" in message
    assert "output: f64[3] min -0.172604 max -0.095083, 1 NaN of 3" in message


def test_grad_nan_in_the_forward_sweep(debug_nans):
    with pytest.raises(FloatingPointError, match=f"'log'.*at line {line_of('loss-log')} .*forward computation"):
        fgrad.grad(loss)(np.array([1.0, -1.0, 2.0]))


def test_grad_nan_in_the_reverse_sweep_says_gradient_of_line(debug_nans):
    assert np.isfinite(sqrt_where(np.array([0.0, 1.0])))           # the forward has no NaN
    with pytest.raises(FloatingPointError) as info:
        fgrad.grad(sqrt_where)(np.array([0.0, 1.0]))
    message = str(info.value)
    assert f"in the gradient of line {line_of('sqrt-where')} of {HERE} (in sqrt_where), in the reverse sweep" in message
    assert "1 NaN of 2" in message


def test_jit_nan_is_located_by_the_reference_executor(debug_nans):
    with pytest.raises(FloatingPointError) as info:
        fgrad.jit(loss)(np.array([1.0, -1.0, 2.0]))
    message = str(info.value)
    assert f"'log'" in message and f"at line {line_of('loss-log')}" in message
    assert "equation: c:f64[3] = log b" in message and "input b: f64[3]" in message


def test_jit_of_grad_nan_names_the_gradient_of_the_line(debug_nans):
    with pytest.raises(FloatingPointError, match=f"in the gradient of line {line_of('sqrt-where')} .*reverse sweep"):
        fgrad.jit(fgrad.grad(sqrt_where))(np.array([0.0, 1.0]))


def test_disabled_jit_is_checked_too(debug_nans, monkeypatch):
    monkeypatch.setattr(fgrad_config, "config", fgrad_config.Config(disable_jit=True, debug_nans=True))
    with pytest.raises(FloatingPointError, match=f"line {line_of('loss-log')}"):
        fgrad.jit(loss)(np.array([1.0, -1.0, 2.0]))


@pytest.mark.parametrize("tier", ["eager", "auto"], ids=["eager-tier", "auto-tier-first-call"])
def test_the_eager_tiers_are_checked_too(debug_nans, tier):
    # tier="auto" answers its first call on the eager tier, while the kernel compiles in the background.
    with pytest.raises(FloatingPointError, match=f"'log'.*line {line_of('loss-log')}"):
        fgrad.jit(loss, tier=tier)(np.array([1.0, -1.0, 2.0]))
    fgrad.backend.tiers.wait_all()


def test_infs_are_checked_only_with_debug_infs():
    x = np.array([0.0, 1.0])
    with fgrad.config.override(debug_nans=True):
        assert np.isinf(fgrad.grad(lambda v: fnp.sum(fnp.sqrt(v)))(x)).any()
    with fgrad.config.override(debug_infs=True):
        with pytest.raises(FloatingPointError, match="inf in the result of the primitive 'div'.*debug_infs"):
            fgrad.grad(lambda v: fnp.sum(fnp.sqrt(v)))(x)
        with pytest.raises(FloatingPointError, match="inf in the result"):
            fgrad.jit(lambda v: 1.0 / v)(x)


def test_with_the_check_off_nans_pass_and_the_plain_code_is_back():
    x = np.array([1.0, -1.0, 2.0])
    with fgrad.config.override(debug_nans=True):
        assert EvalInterpreter.process is not fgrad.backend.nan_check._plain_process
        assert backend_jit.Entry.__call__ is backend_jit.Entry._checked_call
    assert EvalInterpreter.process is fgrad.backend.nan_check._plain_process
    assert backend_jit.Entry.__call__ is backend_jit.Entry._plain_call
    assert fgrad.backend.tiers.EagerEntry.__call__ is fgrad.backend.tiers.EagerEntry._plain_call
    assert np.isnan(loss(x)) and np.isnan(fgrad.jit(loss)(x)) and np.isnan(fgrad.grad(loss)(x)).any()


def test_the_kernel_source_is_the_same_with_the_check_on_and_off():
    jitted = fgrad.jit(fgrad.grad(sqrt_where))
    x = np.array([0.5, 1.0])
    off = jitted.lower(x).source
    with fgrad.config.override(debug_nans=True, debug_infs=True):
        on = jitted.lower(x).source
        jitted(x)                       # runs the checked call on finite values
    assert on == off
    assert jitted._traces and all(entry.lowered.source == off for entry in jitted._traces.values())


# ---- 5. debug.print and debug.callback -------------------------------------------------------------------

def printing(x):
    s = fnp.sum(fnp.sin(x))
    fgrad.debug.print("sum of sin = {s:.4f}", s=s)       # reads a value a loop computes
    fgrad.debug.print("x = {}", x)                       # reads an input: ready first, printed second
    return s * 2.0


def test_debug_print_eager_and_under_grad(capsys):
    x = np.array([0.5, 1.0])
    printing(x)
    fgrad.grad(printing)(x)
    expected = f"sum of sin = {np.sin(x).sum():.4f}\nx = {x}\n"
    assert capsys.readouterr().out == expected * 2


def test_debug_print_inside_jit_of_grad_prints_in_program_order(capfd):
    x = np.array([0.5, 1.0])
    g = fgrad.jit(fgrad.grad(printing))
    np.testing.assert_allclose(g(x), 2.0 * np.cos(x))
    g(x + 1.0)
    out = capfd.readouterr().out
    expected = "".join(f"sum of sin = {np.sin(v).sum():.4f}\nx = {v}\n" for v in (x, x + 1.0))
    assert out == expected
    source = g.lower(x).source
    assert "with objmode():" in source and "run_kernel_callback(0, " in source and "run_kernel_callback(1, " in source
    assert source == fgrad.jit(fgrad.grad(printing)).lower(x).source      # deterministic text


def test_debug_print_is_never_removed_or_merged():
    def twice(x):
        fgrad.debug.print("{}", x)
        fgrad.debug.print("{}", x)
        return x * 0.0
    program = simplify(fgrad.make_ir(twice)(1.0))
    assert [e.prim.name for e in program.equations].count("debug_callback") == 2
    assert "debug_callback[callback=print('{}')] a" in str(program)


def test_two_equal_switches_that_print_are_both_kept(capfd):
    # Their branches are a tuple of programs: CSE must see the effect inside any sub-program.
    def f(i, x):
        branches = [lambda v: (fgrad.debug.print("b0 {}", v), v * 2.0)[1],
                    lambda v: (fgrad.debug.print("b1 {}", v), v * 3.0)[1]]
        return lax.switch(i, branches, x) + lax.switch(i, branches, x)
    program = fgrad.make_ir(f, simplify=True)(1, 1.0)
    assert [e.prim.name for e in program.equations].count("cond") == 2
    fgrad.jit(f)(1, 1.0)
    assert capfd.readouterr().out == "b1 1.0\nb1 1.0\n"


def test_debug_print_in_loops_and_branches_under_jit_and_grad(capfd):
    def f(x):
        y = lax.fori_loop(0, 3, lambda i, c: (fgrad.debug.print("i={} c={}", i, c), c * 2.0)[1], x)
        return lax.cond(y > 5.0, lambda v: (fgrad.debug.print("big {}", v), v)[1], lambda v: v, y)
    expected = "i=0 c=1.0\ni=1 c=2.0\ni=2 c=4.0\nbig 8.0\n"
    for fn in (fgrad.jit(f), fgrad.grad(f), fgrad.jit(fgrad.grad(f))):
        fn(1.0)
        assert capfd.readouterr().out == expected, fn


def test_a_checkpointed_print_does_not_print_again_when_recomputed(capfd):
    def f(x):
        fgrad.debug.print("in f: {}", x)
        return fnp.sin(x) * x
    for fn in (fgrad.grad(fgrad.checkpoint(f)), fgrad.jit(fgrad.grad(fgrad.checkpoint(f)))):
        np.testing.assert_allclose(fn(1.0), np.sin(1.0) + np.cos(1.0))
        assert capfd.readouterr().out == "in f: 1.0\n", fn


def test_debug_print_under_vmap_prints_the_batched_value_once(capsys):
    fgrad.vmap(lambda x: (fgrad.debug.print("x = {}", x), x * 2.0)[1])(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert capsys.readouterr().out == "x = [[1. 2.]\n [3. 4.]]\n"
    fgrad.vmap(lambda x: (fgrad.debug.print("x = {}", x), x)[1], in_axes=1)(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert capsys.readouterr().out == "x = [[1. 3.]\n [2. 4.]]\n"          # the batch axis first


def test_debug_print_in_vjp_prints_once_in_the_forward(capsys):
    out, pullback = fgrad.vjp(printing, np.array([0.5]))
    assert capsys.readouterr().out.count("\n") == 2
    pullback(1.0)
    pullback(2.0)
    assert capsys.readouterr().out == ""


def test_debug_callback_gets_numpy_values_with_their_dtypes():
    seen = []

    def f(x, n):
        fgrad.debug.callback(lambda a, b, tag: seen.append((a, b, tag)), x, n, tag="t")
        return x + 1.0
    fgrad.jit(f)(np.ones(2, np.float32), 3)
    f(np.ones(2, np.float32), 3)
    for a, b, tag in seen:
        assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.tolist() == [1.0, 1.0]
        assert int(b) == 3 and tag == "t"
    assert len(seen) == 2
    assert has_effect(fgrad.make_ir(f, static_argnums=1)(np.ones(2), 3).equations[0])


def test_debug_errors_say_what_to_pass():
    with pytest.raises(TypeError, match="format string first"):
        fgrad.debug.print(1.0)
    with pytest.raises(TypeError, match="takes a function first"):
        fgrad.debug.callback("not a function", 1.0)


# ---- 6. the facade's anomaly mode ------------------------------------------------------------------------

def facade_loss(torch, x):
    y = torch.sqrt(x)                       # <-- facade-sqrt
    return (y * 0.0).sum()


def test_anomaly_mode_names_the_node_the_op_and_the_line():
    x = fgrad.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = fgrad.autograd.detect_anomaly()
    with pytest.warns(UserWarning, match="Error detected in SqrtBackward0. Traceback of forward call"):
        with mode:
            z = facade_loss(fgrad, x)
            with pytest.raises(RuntimeError) as info:
                z.backward()
    message = str(info.value)
    assert message.splitlines()[0] == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert f"the forward op 'sqrt', created at line {line_of('facade-sqrt')} of {HERE} (in facade_loss)" in message
    assert "y = torch.sqrt(x)" in message and "1 NaN of 2" in message
    assert not fgrad.is_anomaly_enabled()


def test_anomaly_mode_first_line_matches_pytorch():
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (torch, fgrad):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                z = facade_loss(lib, x)
                with pytest.raises(RuntimeError) as info:
                    z.backward()
        messages.append(str(info.value).splitlines()[0])
    assert messages[0] == messages[1]


def test_set_detect_anomaly_is_a_switch_and_a_context_manager():
    assert not fgrad.is_anomaly_enabled()
    with fgrad.autograd.set_detect_anomaly(True, check_nan=False):
        assert fgrad.is_anomaly_enabled() and not fgrad.is_anomaly_check_nan_enabled()
        x = fgrad.tensor([0.0, 1.0], requires_grad=True)
        facade_loss(fgrad, x).backward()            # check_nan=False: no error
        assert np.isnan(x.grad.numpy()).any()
    assert not fgrad.is_anomaly_enabled() and fgrad.is_anomaly_check_nan_enabled()
    fgrad.autograd.set_detect_anomaly(True)
    try:
        x = fgrad.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match=re.escape("Function 'SqrtBackward0' returned nan values")):
                facade_loss(fgrad, x).backward()
    finally:
        fgrad.autograd.set_detect_anomaly(False)
    x = fgrad.tensor([0.0, 1.0], requires_grad=True)
    facade_loss(fgrad, x).backward()                # off: NaN gradients, as in PyTorch
    assert np.isnan(x.grad.numpy()).any()
