import ast
from importlib.metadata import packages_distributions
from pathlib import Path


def test_each_import_name_belongs_to_patrolopt_alone():
    mapping = packages_distributions()
    for name in ("geo", "models", "optimizer"):
        assert set(mapping.get(name, [])) == {"patrolopt"}, (name, mapping.get(name))


ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"geo": 0, "models": 1, "optimizer": 2}  # the ground floor first


def _import_graph() -> dict[str, set[str]]:
    """Every module of the three packages → the modules of ours it imports, at the top or
    inside a function (an import hidden in a function still makes a circle)."""
    modules = {}
    for package in FLOORS:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def test_imports_point_down_only():
    for module, imported in _import_graph().items():
        for other in imported:
            floor, other_floor = FLOORS[module.split(".")[0]], FLOORS[other.split(".")[0]]
            assert other_floor <= floor, f"{module} imports {other}, a floor above it"


def test_no_module_imports_one_that_imports_it_back():
    graph = _import_graph()
    for start in graph:
        stack, seen = list(graph[start]), set()
        while stack:
            module = stack.pop()
            assert module != start, f"{start} is part of an import circle"
            if module not in seen:
                seen.add(module)
                stack.extend(graph[module])


def test_no_module_of_the_product_is_over_600_lines():
    for package in FLOORS:
        for path in (ROOT / package).rglob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= 600, f"{path.relative_to(ROOT)}: {lines} lines"
