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


def top_level_imports(path: Path) -> set[str]:
    """The modules a file imports when it is loaded (not those imported inside functions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


ROOMS = ("cli", "options", "run", "profiles", "dialects", "wire", "files", "batch", "testing")
# who may import whom, at any depth: the lower rooms never reach up
NEVER = {
    "wire": ("imggen.run", "imggen.profiles", "imggen.batch", "imggen.cli", "imggen.dialects"),
    "files": ("imggen.run", "imggen.profiles", "imggen.batch", "imggen.cli", "imggen.dialects"),
    "dialects": ("imggen.run", "imggen.profiles", "imggen.batch", "imggen.cli", "imggen.wire"),
    "run": ("imggen.batch", "imggen.cli"),
    "profiles": ("imggen.run", "imggen.batch", "imggen.cli"),
}


def test_the_rooms_exist_and_nothing_lies_flat_that_runs_a_job() -> None:
    for room in ROOMS:
        assert (PACKAGE / room / "__init__.py").exists(), room
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    moved = {"core", "calls", "streaming", "outcome", "verify", "config", "settings", "keys"}
    assert flat & (moved | {"aliases", "modelcache", "inputs"}) == set()


@pytest.mark.parametrize("room", sorted(NEVER))
def test_imports_point_one_way(room: str) -> None:
    reached = {
        f"{path.relative_to(PACKAGE)} -> {name}"
        for path in sorted((PACKAGE / room).rglob("*.py"))
        for name in imports(path)
        if name.startswith(NEVER[room])
    }
    assert reached == set()


def test_files_never_import_wire_at_load_time() -> None:
    """wire/ checks downloaded images with files/; files/ reaches wire/ (the base64 decoder)
    only inside a function, so neither package needs the other loaded first."""
    loaded = {
        f"{path.relative_to(PACKAGE)} -> {name}"
        for path in sorted((PACKAGE / "files").rglob("*.py"))
        for name in top_level_imports(path)
        if name.startswith("imggen.wire")
    }
    assert loaded == set()


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_functions_stay_short(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (node.end_lineno or 0) - node.lineno + 1 > FUNCTION_LINES
    ]
    assert long == []


FUNCTION_LINES = 80


def test_comments_name_modules_that_exist() -> None:
    """A comment or docstring naming imggen/X.py names a file that is there."""
    named = re.compile(r"imggen/([\w/]+\.py)")
    stale = [
        f"{path.relative_to(PACKAGE)}: imggen/{m}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for m in named.findall(path.read_text())
        if not (PACKAGE / m).exists()
    ]
    assert stale == []
