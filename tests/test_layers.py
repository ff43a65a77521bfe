"""The layer direction of design.md §2: each layer imports only from the layers before it."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "fgrad"
ORDER = ["ir", "ops", "numpy", "transforms", "backend", "api", "facade"]
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


# ---- no import circles --------------------------------------------------------------------------------------

MODULES = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts[:-1] if p.stem == "__init__"
                    else p.relative_to(ROOT.parent).with_suffix("").parts): p for p in sorted(ROOT.rglob("*.py"))}


def imported_modules(module: str, path: pathlib.Path) -> set:
    """The fgrad modules `module` imports, at module level or inside functions: `import a.b`, `from a import b`
    (the submodule a.b when there is one, else a), relative imports resolved. Importing a submodule runs its
    package's __init__ first, but that is Python's doing, not an edge of this module."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif base in MODULES:
                    found.add(base)
    found.discard(module)
    return found


def import_cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def cycle_path(graph: dict, component: list) -> list:
    """One import cycle through the first module of `component`, as a list of modules (breadth first)."""
    start, members = component[0], set(component)
    previous, queue = {start: None}, [start]
    for module in queue:
        for target in sorted(graph[module]):
            if target == start:
                path = [module]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if target in members and target not in previous:
                previous[target] = module
                queue.append(target)
    return component


def test_no_import_circles():
    graph = {module: imported_modules(module, path) for module, path in MODULES.items()}
    cycles = import_cycles(graph)
    assert not cycles, "import circles inside fgrad/ (function-local imports count too):\n" + "\n".join(
        " -> ".join(cycle_path(graph, component)) + f"   ({len(component)} modules in the circle)"
        for component in cycles)


def test_the_circle_test_sees_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert sorted(import_cycles(graph)) == [["a", "b", "c"], ["e", "e2"]]
    assert cycle_path(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
