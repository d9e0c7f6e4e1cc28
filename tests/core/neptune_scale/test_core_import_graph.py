"""The client package's modules import each other without a cycle.

Every import counts: module level, inside functions and under ``TYPE_CHECKING`` alike, because a
cycle hidden behind a deferred import is still two modules that cannot be read (or split) one
without the other. Read with ``ast`` from the source, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import neptune_scale

PACKAGE = "neptune_scale"
ROOT = Path(neptune_scale.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports (``from a import b`` counts ``a.b`` when that is
    a module, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imported_modules(f, modules) for f in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_client_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert graph.get(f"{PACKAGE}._run")  # the graph was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_is_found() -> None:
    """The check itself: a cycle through a package's __init__ and a deferred import."""
    graph = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p"}, "q": set()}
    assert find_cycle(graph) == ["p", "p.a", "p.b", "p"]
    assert find_cycle({"p": {"q"}, "q": set()}) is None


def test_the_client_never_imports_the_server() -> None:
    """The client reaches the embedded store through the ``neptune_scale.transports`` entry
    point only (``neptune_scale.transport.LocalStore``), deferred imports included."""
    crossings = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            crossings += [
                f"{module_name(path)}: {n}" for n in names if n.split(".")[0] == "despina"
            ]
    assert crossings == []
