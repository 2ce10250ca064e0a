"""The shape of the package, read from the source with ast: imports point one way (STYLE.md:
imggen/wire/ knows nothing of the dialects, httpx is imported under imggen/wire/ only), modules
stay one noun each, CLI commands stay thin, and nothing a user reads cites our internal
documents (a user has no seeds: messages say what the gateway does)."""

from __future__ import annotations

import ast
import re
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


MODULE_LINES = 450
CLI_FUNCTION_LINES = 80
# "seed 002", "seeds/000_...", "the seeds", "its seed", "shared/references": our documents
INTERNAL = re.compile(
    r"\bseeds? ?0\d\d|seeds/|\bthe seeds?\b|\bits seed\b|shared/|\bissue \d", re.I
)


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MODULE_LINES


def test_cli_functions_stay_thin() -> None:
    long = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and (node.end_lineno or 0) - node.lineno + 1 > CLI_FUNCTION_LINES
    ]
    assert long == []


def user_visible_strings(path: Path) -> list[tuple[int, str]]:
    """String constants a user may read: all but docstrings, except that a command's
    docstring under cli/ is its --help text."""
    tree = ast.parse(path.read_text())
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds) and node.body:
            first = node.body[0]
            is_help = isinstance(node, ast.FunctionDef) and "cli" in path.parts
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if not is_help:
                    docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_nothing_a_user_reads_cites_internal_documents() -> None:
    cited = [
        f"{path.relative_to(PACKAGE)}:{line}: {text[:80]!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "testing" not in path.parts  # the fake's own comments and data cite its sources
        for line, text in user_visible_strings(path)
        if INTERNAL.search(text)
    ]
    readme = PACKAGE.parent / "README.md"
    cited += [
        f"README.md:{n}: {line[:80]!r}"
        for n, line in enumerate(readme.read_text().splitlines(), 1)
        if INTERNAL.search(line)
    ]
    assert cited == []
