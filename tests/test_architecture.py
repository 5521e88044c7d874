"""Layering rule: ``app.core`` is the bottom layer and imports nothing from the layers built on it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CORE = ROOT / "app" / "core"
UPPER_LAYERS = ("app.db", "app.repositories", "app.services", "app.api", "app.gateway", "app.models")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names, relative imports resolved."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def upward_imports(path: Path) -> set[str]:
    module = "app.core." + path.stem
    return {
        name
        for name in imported_modules(path.read_text(encoding="utf-8"), module)
        if any(name == layer or name.startswith(layer + ".") for layer in UPPER_LAYERS)
    }


def test_core_imports_nothing_from_upper_layers() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 5
    offenders = {path.name: sorted(found) for path in modules if (found := upward_imports(path))}
    assert not offenders, f"app/core reaches up: {offenders}"


def test_the_check_sees_absolute_relative_and_nested_imports(tmp_path: Path) -> None:
    # Proves the rule can fail: each of these forms reaches an upper layer.
    for line in (
        "from app.repositories.medusa import MedusaReader",
        "import app.db.medusa",
        "from ..api import auth",
        "def f():\n    from app.services import background\n",
        "from app import services",
    ):
        offender = tmp_path / "offender.py"
        offender.write_text(line + "\n")
        assert upward_imports(offender), line
    harmless = tmp_path / "harmless.py"
    harmless.write_text("from app.core.config import Settings\nfrom . import errors\n")
    assert not upward_imports(harmless)
