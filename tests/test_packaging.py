from importlib.metadata import packages_distributions


def test_each_import_name_belongs_to_patrolopt_alone():
    mapping = packages_distributions()
    for name in ("geo", "models", "optimizer"):
        assert set(mapping.get(name, [])) == {"patrolopt"}, (name, mapping.get(name))


def test_imports_point_down_only():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    upward = {"geo": ("models", "optimizer"), "models": ("optimizer",)}
    for package, forbidden in upward.items():
        for path in (root / package).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            for name in forbidden:
                assert not re.search(rf"^\s*(from|import) {name}\b", text, re.M), (path, name)
