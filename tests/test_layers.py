"""The layer direction of design.md §2: each layer imports only from the layers before it.

`distributed` (fgrad/distributed.py, scale-out on Dask) composes the public API of fgrad/api.py. It comes
last: no layer may import it, so no fgrad module pulls in Dask (fgrad/__init__.py does not import it either;
tests/test_distributed_optional.py checks that `import fgrad` leaves Dask alone)."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "fgrad"
ORDER = ["ir", "ops", "numpy", "transforms", "backend", "api", "facade", "distributed"]
ANYWHERE = {"config"}


def layer_of(module: str) -> str | None:
    """'fgrad.ops.shape' -> 'ops'; None for fgrad itself and the modules any layer may import."""
    parts = module.split(".")
    if parts[0] != "fgrad" or len(parts) < 2 or parts[1] in ANYWHERE:
        return None
    return parts[1]


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                if node.module == "fgrad":
                    yield node.lineno, f"fgrad.{alias.name}"


SOURCES = [p for p in sorted(ROOT.rglob("*.py")) if p.parent != ROOT or p.stem not in ("__init__",)]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_imports_follow_layer_direction(path):
    rel = path.relative_to(ROOT)
    own = rel.parts[0].removesuffix(".py")
    if own not in ORDER:
        return
    for lineno, module in imports_of(path):
        target = layer_of(module)
        if target is None or target not in ORDER:
            continue
        assert ORDER.index(target) <= ORDER.index(own), (
            f"fgrad/{rel}:{lineno} imports {module} ({target}), a later layer than {own}; "
            f"the order is {' -> '.join(ORDER)}")


def test_every_module_belongs_to_a_layer():
    stray = [p.name for p in ROOT.glob("*.py") if p.stem not in ORDER + ["__init__"] + list(ANYWHERE)]
    assert not stray, f"modules outside the layers of design.md: {stray}"
