"""The packages form layers, and every import points down (or stays inside its own package):
commands -> orchestration -> service -> features, sql -> models -> core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: dict[str, int] = {
    "corkboard": 5,
    "orchestration": 4,  # above service: the utility_tuning asset replays the serving path
    "service": 3,
    "features": 2,
    "sql": 2,
    "models": 1,
    "core": 0,
}


def imported_packages(path: Path) -> set[str]:
    """The first-party top-level packages that ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def upward_imports() -> list[str]:
    """Every import of a package on the same layer or above, as 'file -> package'."""
    found = []
    for package, layer in LAYERS.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in sorted(imported_packages(path) - {package}):
                if LAYERS[target] >= layer:
                    found.append(f"{path.relative_to(ROOT)} -> {target}")
    return found


def test_every_import_points_down() -> None:
    assert upward_imports() == []


def test_the_walk_finds_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "upward.py"
    module.write_text("def f():\n    from service.app import create_app\n    import core.settings\n")
    assert imported_packages(module) == {"service", "core"}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_each_layer_is_a_package(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
