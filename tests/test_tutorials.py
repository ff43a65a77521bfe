"""Every script in examples/tutorials/, run with `import fgrad as torch`, prints exactly what PyTorch printed.

Each `tNNN_*.py` runs in a fresh interpreter with FGRAD_TUTORIAL_BACKEND unset (so it imports fgrad), and
its stdout must equal the committed `tNNN_*.expected.txt`, recorded from PyTorch 2.13.0+cpu, byte for byte.
With that PyTorch installed, the recordings themselves are checked too: the scripts run with
FGRAD_TUTORIAL_BACKEND=torch must still print them.
"""
from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL_DIR = ROOT / "examples" / "tutorials"
SCRIPTS = sorted(TUTORIAL_DIR.glob("t[0-9][0-9][0-9]_*.py"))
RECORDED_WITH = "2.13.0"


def expected_output(script: Path) -> str:
    return script.with_name(script.stem + ".expected.txt").read_text(encoding="utf-8")


def run_script(script: Path, backend=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FGRAD_TUTORIAL_BACKEND"}
    if backend is not None:
        env["FGRAD_TUTORIAL_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, encoding="utf-8",
                          env=env, cwd=ROOT, timeout=600)


def assert_same_output(script: Path, result: subprocess.CompletedProcess, who: str):
    assert result.returncode == 0, f"{script.name} exited with {result.returncode} under {who}:\n{result.stderr}"
    expected = expected_output(script)
    if result.stdout != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), result.stdout.splitlines(keepends=True),
                                            f"{script.stem}.expected.txt (PyTorch)", f"{script.name} under {who}"))
        pytest.fail(f"{script.name} prints something else under {who}:\n{diff}")


def test_every_tutorial_has_a_recording():
    assert len(SCRIPTS) == 14, [s.name for s in SCRIPTS]
    recordings = sorted(TUTORIAL_DIR.glob("*.expected.txt"))
    assert [r.name[: -len(".expected.txt")] for r in recordings] == [s.stem for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_tutorial_prints_what_pytorch_printed(script):
    assert_same_output(script, run_script(script), "fgrad")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_recording_is_pytorchs_output(script):
    torch = pytest.importorskip("torch")
    if not torch.__version__.startswith(RECORDED_WITH):
        pytest.skip(f"the recordings are from PyTorch {RECORDED_WITH}; this is {torch.__version__}")
    assert_same_output(script, run_script(script, backend="torch"), f"PyTorch {torch.__version__}")
