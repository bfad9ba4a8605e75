"""No import runs in a circle: the project's own imports, function-local ones included, read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vae", "ui", "ui.components", "ui.map")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg.replace(".", "/")).glob("*.py"):
            out[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its file (module level or inside a function)."""
    mods = _modules()
    graph = {}
    for mod, path in mods.items():
        named: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                named |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                named |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}  # `from ui import latent`
        graph[mod] = {m for m in named if m in mods and m != mod}
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_circle_finder_sees_a_function_local_import():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert circles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "vae.jobs" in graph["vae.__main__"] or "vae.spec" in graph["vae.__main__"]  # cmd_train's local import


def test_no_import_circle():
    found = circles(import_graph())
    assert not found, f"import circles: {[sorted(c) for c in found]}"


def test_the_map_package_imports_one_way():
    """ui/map/__init__.py lists its modules in order; none imports one listed after it."""
    order = ["frame", "state", "plotly_map", "canvas_map", "panel", "tabs"]
    graph = import_graph()
    for i, name in enumerate(order):
        later = {f"ui.map.{m}" for m in order[i + 1:]}
        assert not graph[f"ui.map.{name}"] & later, f"ui.map.{name} imports {sorted(graph[f'ui.map.{name}'] & later)}"
    assert not any(m.startswith("ui.map") for m in graph["ui.url_state"])  # generic: pages register their params
