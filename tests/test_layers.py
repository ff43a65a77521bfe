"""The layer direction of design.md §2: each layer imports only from the layers before it; and no import circles.

`distributed` (fgrad/distributed.py, scale-out on Dask) composes the public API of fgrad/api.py. It comes
last: no layer may import it, so no fgrad module pulls in Dask (fgrad/__init__.py does not import it either;
tests/test_distributed_optional.py checks that `import fgrad` leaves Dask alone)."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "fgrad"
ORDER = ["ir", "ops", "numpy", "transforms", "lax", "backend", "api", "facade", "viz", "distributed"]
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


# ---- import circles ----------------------------------------------------------------------------------

def module_name(path: pathlib.Path) -> str:
    """fgrad/ops/core.py -> 'fgrad.ops.core'; fgrad/ops/__init__.py -> 'fgrad.ops'."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imported_modules(name: str, path: pathlib.Path) -> set:
    """The fgrad modules `name` imports anywhere in its file (module level and inside functions).

    `import fgrad.a.b` and `from fgrad.a.b import name` depend on fgrad.a.b; `from fgrad.a import b`, with b a
    module, depends on fgrad.a.b alone: a parent package is always initialised before its submodules, so it is
    never the edge that closes a circle.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:          # relative: from . import x, from ..ops import y
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(base)
    return {m for m in found if m in MODULES}


def strongly_connected(graph: dict) -> list:
    """Tarjan's strongly connected components, iteratively (an explicit stack of (node, edge iterator))."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_cycle(graph: dict, start: str, members: set) -> list:
    """A shortest import path from `start` back to itself through `members` (breadth first)."""
    came_from, frontier = {}, [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is on no cycle")


def test_no_import_circles():
    graph = {name: imported_modules(name, path) - {name} for name, path in MODULES.items()}
    self_imports = sorted(name for name, path in MODULES.items() if name in imported_modules(name, path))
    circles = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        start = component[0]
        circles.append(" -> ".join(shortest_cycle(graph, start, set(component)))
                       + f"   (strongly connected: {', '.join(component)})")
    assert not self_imports and not circles, (
        "fgrad's modules import each other in a circle (design.md §2: no import circles):\n"
        + "\n".join([f"{m} imports itself" for m in self_imports] + circles))
