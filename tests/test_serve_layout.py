"""The desk's modules as FastAPI projects lay them out: routers import the shared dependencies
(`deps`) and never each other or the app, and no module of `optimizer/serve` imports one that
imports it back, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import optimizer.serve

SERVE = Path(optimizer.serve.__file__).parent
ROUTERS = {
    f"optimizer.serve.{name}"
    for name in ("api", "pages", "leader_pages", "admin_pages", "station_pages")
}


def serve_imports() -> dict[str, set[str]]:
    """Module → the modules of `optimizer.serve` it imports anywhere in its body."""
    names = {f"optimizer.serve.{path.stem}" for path in SERVE.glob("*.py")} | {"optimizer.serve"}
    graph = {}
    for path in SERVE.glob("*.py"):
        module = "optimizer.serve" if path.stem == "__init__" else f"optimizer.serve.{path.stem}"
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[module] = (found & names) - {module, "optimizer.serve"}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_no_module_of_serve_imports_itself_back():
    graph = serve_imports()
    assert [module for module in graph if module in reachable(graph, module)] == []


def test_routers_import_deps_and_not_each_other_or_the_app():
    graph = serve_imports()
    for router in ROUTERS:
        assert "optimizer.serve.deps" in graph[router]
        assert graph[router] & (ROUTERS | {"optimizer.serve.app"}) == set(), router
    assert graph["optimizer.serve.app"] >= ROUTERS
