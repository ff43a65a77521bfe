"""The seed tutorials (examples/tutorials) run on the facade and print exactly what PyTorch printed."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples" / "tutorials").glob("t*.py"))

# `import fgrad as torch` in each script: until fgrad's top level re-exports the facade, make it do so here.
RUNNER = """
import importlib, runpy, sys
import fgrad
if not hasattr(fgrad, "no_grad"):
    facade = importlib.import_module("fgrad.tensor")
    for name in facade.__all__:
        setattr(fgrad, name, getattr(facade, name))
runpy.run_path(sys.argv[1], run_name="__main__")
"""


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_prints_what_pytorch_printed(script):
    expected = script.with_suffix(".expected.txt").read_text()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(script)], capture_output=True, text=True,
                            timeout=300, cwd=script.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
