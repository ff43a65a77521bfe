"""Dask is optional: `import fgrad` does not import it, and `fgrad.distributed` without it says how to install it.

Runs whether or not Dask is installed (one subprocess, so that hiding Dask does not touch this process).
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
import fgrad
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert not loaded, f"import fgrad imported {loaded}"
sys.modules["dask"] = None          # as if Dask were not installed: `import dask` raises ImportError
try:
    import fgrad.distributed
except ImportError as exc:
    print(exc)
else:
    raise AssertionError("fgrad.distributed imported without Dask")
"""


def test_import_fgrad_leaves_dask_alone_and_distributed_says_how_to_install():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fgrad.distributed needs Dask: pip install fgrad[distributed]" in result.stdout
