"""fgrad.viz: programs and facade graphs as Graphviz DOT text (golden files), and their rendering, which is
optional (a fake `dot` stands in for Graphviz here)."""
import os
import pathlib
import stat

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import viz
from fgrad.ir import Var

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("FGRAD_UPDATE_GOLDEN") == "1"


def golden(name: str, text: str):
    path = GOLDEN_DIR / f"{name}.dot"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with FGRAD_UPDATE_GOLDEN=1"
    assert text == path.read_text(), (f"{path.name} changed; if that is intended, regenerate with "
                                      f"FGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_viz.py and review the diff")


def logistic(w, x, y):
    return fnp.mean(fnp.log1p(fnp.exp(-y * (x @ w)))) + 0.01 * fnp.sum(w ** 2)


def mlp(w1, w2, x, y):
    return fnp.mean((fnp.tanh(x @ w1) @ w2 - y) ** 2)


def logistic_program():
    return fgrad.make_ir(fgrad.value_and_grad(logistic))(np.ones(3), np.ones((8, 3)), np.ones(8))


def mlp_program():
    return fgrad.make_ir(fgrad.grad(mlp, argnums=(0, 1)))(np.ones((3, 4)), np.ones(4), np.ones((5, 3)), np.ones(5))


def test_golden_logistic_value_and_grad():
    golden("logistic_value_and_grad", viz.to_dot(logistic_program()).source)


def test_golden_mlp_grad_collapsed_by_fused_loop():
    golden("mlp_grad_collapsed", viz.to_dot(mlp_program(), collapse=True).source)


def test_golden_facade_graph():
    x = fgrad.tensor([1.0, 2.0], requires_grad=True)
    w = fgrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = ((w @ x).sin() * 2 + x).sum()
    golden("facade_graph", viz.make_dot(y, params={"x": x, "w": w}).source)


def test_forward_and_reverse_halves_have_their_colours():
    source = viz.to_dot(logistic_program()).source
    assert f'label="n:f64[] = add j m" fillcolor="{viz.PRIMAL}"' in source
    assert f'label="a_ct:f64[3] = add p u" fillcolor="{viz.REVERSE}"' in source


def test_every_equation_but_fills_is_a_node_and_every_read_an_edge():
    program = logistic_program()
    source = viz.to_dot(program, collapse=False).source
    assert source.count(" = ") == len([e for e in program.equations if e.prim.name != "broadcast_to"])
    assert "broadcast_to" not in source and "0.01:f64[3]" in source
    fills = {e.outputs[0] for e in program.equations if e.prim.name == "broadcast_to"}
    reads = sum(len({a for a in e.inputs if type(a) is Var and a not in fills})
                for e in program.equations if e.outputs[0] not in fills)
    assert source.count("->") == reads + len(program.outputs)


def test_large_programs_collapse_by_default():
    program = fgrad.make_ir(lambda x: fnp.sum(fnp.sin(fnp.cumsum(x)) * fnp.arange(50.0)
                                              + sum(fnp.cos(x * k) for k in range(1, 30))))(np.ones(50))
    assert len(program.equations) > viz.COLLAPSE_ABOVE
    source = viz.to_dot(program).source
    assert "loop over f64[50]" in source
    assert source.count("[label=") < len(program.equations) // 2


def test_control_flow_equations_count_their_sub_programs():
    program = fgrad.make_ir(lambda x: fgrad.lax.cond(x > 1.0, lambda v: v * v, fnp.sin, x))(2.0)
    assert "(2 sub-programs)" in viz.to_dot(program).source


def test_make_dot_of_a_leaf_and_of_a_tensor_without_graph():
    x = fgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert viz.make_dot(x).source.count("[label=") == 1
    assert 'label="(3,)"' in viz.make_dot(fgrad.tensor([1.0, 2.0, 3.0])).source


def test_deep_facade_graphs_do_not_recurse():
    x = fgrad.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    assert viz.make_dot(y).source.count("MulBackward0") == 3000


@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)


@pytest.fixture
def fake_dot(tmp_path, monkeypatch):
    """A `dot` executable that answers every input with one small SVG."""
    script = tmp_path / "dot"
    script.write_text("#!/bin/sh\ncat > /dev/null\necho '<svg>picture</svg>'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_without_graphviz_jupyter_gets_the_text(no_dot):
    program = fgrad.make_ir(fnp.sin)(1.0)
    assert program._repr_svg_() is None and program._repr_html_() is None      # Jupyter prints the text
    assert repr(viz.to_dot(program)).startswith("digraph program {")
    with pytest.raises(RuntimeError, match="`dot` executable is not installed"):
        viz.to_dot(program).save("/tmp/never-written.svg")


def test_with_graphviz_jupyter_gets_the_picture(fake_dot, tmp_path):
    program = fgrad.make_ir(fnp.sin)(1.0)
    assert program._repr_svg_().strip() == "<svg>picture</svg>"
    assert program._repr_html_().strip() == "<svg>picture</svg>"
    assert viz.to_dot(program).save(tmp_path / "p.svg").read_text().strip() == "<svg>picture</svg>"


def test_save_writes_dot_text_and_refuses_unknown_formats(tmp_path):
    graph = viz.to_dot(fgrad.make_ir(fnp.sin)(1.0))
    assert graph.save(tmp_path / "p.dot").read_text() == graph.source
    with pytest.raises(ValueError, match="use a .dot or .gv path"):
        graph.save(tmp_path / "p.jpeg")
