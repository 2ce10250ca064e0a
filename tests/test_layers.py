"""Imports point one way (STYLE.md): imggen/wire/ knows nothing of the dialects, and httpx is
imported under imggen/wire/ only. Read from the source with ast, so lazy imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imggen"
WIRE = PACKAGE / "wire"


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def under(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


@pytest.mark.parametrize("path", sorted(WIRE.glob("*.py")), ids=lambda p: p.name)
def test_wire_never_imports_the_dialects(path: Path) -> None:
    assert under(imports(path), "imggen.dialects") == set()


def test_httpx_is_imported_under_wire_only() -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if under(imports(path), "httpx")
    }
    assert users
    assert {u for u in users if not u.startswith("wire/")} == set()
