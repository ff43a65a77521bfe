"""Every script in examples/ runs, in a fresh interpreter, and prints what its docstring promises.

Each script's docstring says how to run it and what it prints; EXPECTED lists, per script, lines (or parts of
lines) of that output, so a script that stops printing what it promises fails here. The scripts that compile
large kernels are marked slow (they still run by default: `-m "not slow"` leaves them out). The Dask example
runs on a real LocalCluster in tests/test_distributed.py; examples/tutorials/ has tests/test_tutorials.py.
A script added to examples/ without an entry here is still run, and its docstring checked.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

# script stem -> (what its output must contain, in order; what it must not contain)
EXPECTED = {
    "quickstart": (["1. The traced program of loss(w, x, y)", "program(a:f64[3] b:f64[8,3] c:f64[8]) {",
                    "3. The gradient's program", "i:f64[3] = mul 0.01:f64[3] h", "a_ct:f64[3] = add i n",
                    "4. The Numba kernel", "def kernel(a0, a1, a2):", "5. jit(value_and_grad(loss))",
                    "first call", "second call", "10000 rows", "6. The facade", "t.grad = tensor(["],
                   ["broadcast_to[shape=(3,)] 0.01"]),
    "adjoints": (["The function's program", "as the reverse sweep emits it, nothing simplified (27 equations)",
                  "The same after simplification (20 equations)", "return a_ct, b_ct",
                  "Does jit(grad(mlp_loss)) compile exactly the printed program? True",
                  "check_grads: forward and reverse mode agree with finite differences to second order."], []),
    "per_example_gradients": (["per-example gradient of w1 has shape (5, 3, 4)",
                               "equal to a loop of single-example gradients: True",
                               "their mean is the batch gradient:            True",
                               "the batched gradient program has"], ["False"]),
    "newton_while_loop": (["roots:", "gradient through the loop:", "implicit-function-theorem gradient:",
                           "the same, compiled as loops:", "the gradient program, with the loop's tape",
                           "reverse=True"], []),
    "rnn_scan": (["   10 steps: loss", " 1000 steps: loss", "epoch 4: loss",
                  "the kernel's loops over the sequence (one forward, one reverse)", "for k"], []),
    "projectile": (["iteration 0: speed 10.00000 m/s", "lands at  30.00000 m",
                    "the derivative through the loop agrees with finite differences",
                    "and with respect to the angle"], []),
    "loss_curve": (["step    0  loss", "step  299  loss", "the loss curve", "the autograd graph of the loss",
                    "as Graphviz DOT text"], []),
}
SLOW = {"rnn_scan", "projectile", "per_example_gradients"}
RUN_ELSEWHERE = {"distributed_logreg": "tests/test_distributed.py::test_example_runs_on_the_cluster"}


def params():
    out = []
    for script in SCRIPTS:
        marks = [pytest.mark.slow] if script.stem in SLOW else []
        if script.stem in RUN_ELSEWHERE:
            marks.append(pytest.mark.skip(reason=f"runs on a Dask cluster in {RUN_ELSEWHERE[script.stem]}"))
        out.append(pytest.param(script, marks=marks, id=script.stem))
    return out


def run_example(script: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, encoding="utf-8",
                          env=env, cwd=ROOT, timeout=900)


def extra_args(script: Path, tmp_path: Path) -> list:
    return ["--out", str(tmp_path / "curve.png")] if script.stem == "loss_curve" else []


@pytest.mark.parametrize("script", params())
def test_example_runs_and_prints_what_it_promises(script, tmp_path):
    result = run_example(script, *extra_args(script, tmp_path))
    assert result.returncode == 0, f"{script.name} exited with {result.returncode}:\n{result.stderr[-4000:]}"
    out = result.stdout
    expected, forbidden = EXPECTED.get(script.stem, ([], []))
    position = 0
    for text in expected:
        found = out.find(text, position)
        assert found >= 0, f"{script.name} no longer prints {text!r} (after position {position}):\n{out}"
        position = found + len(text)
    for text in forbidden:
        assert text not in out, f"{script.name} prints {text!r}:\n{out}"
    assert out.strip(), f"{script.name} printed nothing"


@pytest.mark.parametrize("script", [pytest.param(s, id=s.stem) for s in SCRIPTS])
def test_example_docstring_says_how_to_run_it_and_what_it_prints(script):
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    assert doc, f"{script.name} has no module docstring; say what the example shows and what it prints"
    assert f"python examples/{script.name}" in doc, f"{script.name}'s docstring does not say how to run it"


def test_every_example_uses_the_public_api_only():
    # Internals (fgrad.backend, fgrad.ir, fgrad.transforms, ...) are not imported by examples.
    public = {"fgrad", "fgrad.numpy", "fgrad.lax", "fgrad.viz", "fgrad.nn", "fgrad.optim", "fgrad.distributed",
              "fgrad.utils.data", "fgrad.nn.functional"}
    for script in SCRIPTS:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fgrad"):
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                           if f"{node.module}.{a.name}" in public or node.module != "fgrad"]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names if a.name.startswith("fgrad")]
            else:
                continue
            for module in modules:
                assert module in public or module.rsplit(".", 1)[0] in public - {"fgrad"}, (
                    f"{script.name} imports {module}, an internal module; use the public API")


def test_loss_curve_writes_a_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.png"
    result = run_example(EXAMPLES / "loss_curve.py", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"was written to {out}" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "curve.dot").read_text().startswith("digraph grad_fn {")


def test_loss_curve_text_plot_without_matplotlib():
    import runpy
    example = runpy.run_path(str(EXAMPLES / "loss_curve.py"), run_name="loss_curve")
    text = example["text_plot"]([1.0] * 16 + [0.01] * 48, rows=4, columns=4)
    assert text.splitlines() == [" 1.00e+00 |*   ",
                                 " 2.15e-01 |    ",
                                 " 4.64e-02 |    ",
                                 " 1.00e-02 | ***",
                                 "          +----",
                                 "           step 0 step 63"]
