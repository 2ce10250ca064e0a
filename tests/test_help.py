"""--help that teaches: real placeholders, two or three examples per command that parse as
written, summaries never cut mid-sentence, and every line within 80 columns."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from imggen.cli.app import COMMANDS, app, load_command
from imggen.cli.help import examples

WIDTH = 80


def commands() -> Iterator[tuple[str, Any]]:
    """(path, click command) for the root, every command and every config subcommand."""
    root = typer.main.get_command(app)
    yield "imggen", root
    for name in COMMANDS:
        command = load_command(name)
        yield f"imggen {name}", command
        for sub, child in getattr(command, "commands", {}).items():
            yield f"imggen {name} {sub}", child


ALL = dict(commands())


def help_text(path: str) -> str:
    from typer.testing import CliRunner

    args = path.split()[1:] + ["--help"]
    done = CliRunner().invoke(
        app, args, terminal_width=WIDTH, env={"COLUMNS": str(WIDTH)}, prog_name="imggen"
    )
    assert done.exit_code == 0, done.output
    return done.output


def parse(args: list[str]) -> None:
    """Parse an argv the way `imggen` would, through every group, without running anything."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("imggen", list(args), resilient_parsing=False)
    while hasattr(command, "resolve_command") and ctx._protected_args + ctx.args:
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)


def example_commands(text: str | None) -> list[list[str]]:
    """The imggen argvs of an examples text: comments, pipes and redirections dropped."""
    found = []
    for line in examples(text):
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("#", "python -m")) or "imggen " not in line:
            continue
        part = next(p for p in line.split("|") if "imggen " in p)
        words = shlex.split(part.split(" > ", 1)[0])
        words = words[next(i for i, w in enumerate(words) if w == "imggen") :]
        found.append(words[1:])
    return found


@pytest.mark.parametrize("path", list(ALL))
def test_every_command_has_two_or_three_examples_that_parse(path: str) -> None:
    argvs = example_commands(ALL[path].epilog)
    assert 2 <= len(argvs) <= 4, path
    for argv in argvs:
        parse(argv)  # raises click's usage error for a flag or value that does not exist


@pytest.mark.parametrize("path", list(ALL))
def test_help_fits_80_columns_with_real_placeholders(path: str) -> None:
    text = help_text(path)
    assert [line for line in text.splitlines() if len(line) > WIDTH] == []
    # Typer's defaults: <str>, <int>, and braces round required arguments ({key}, {MANIFEST})
    assert re.findall(r"<\w+>", text) == []
    assert "{" not in text.splitlines()[0]
    assert "Examples:" in text


@pytest.mark.parametrize("path", [p for p, c in ALL.items() if hasattr(c, "commands")])
def test_group_summaries_are_whole_sentences(path: str) -> None:
    text = help_text(path)
    listed = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n  (?=\S)", "\n" + listed)[1:]
    assert entries
    for entry in entries:
        name, summary = entry.split(None, 1)
        summary = " ".join(summary.split())
        assert summary.endswith(".") and not summary.endswith("..."), entry
        if path != "imggen":  # the root lists from COMMANDS (test_startup checks it)
            child = ALL[f"{path} {name}"]
            assert summary == " ".join(child.help.split("\n\n")[0].split())


def test_usage_lines_name_arguments_plainly() -> None:
    assert help_text("imggen edit").splitlines()[0] == (
        "Usage: imggen edit [OPTIONS] IMAGE... PROMPT"
    )
    assert help_text("imggen config set").splitlines()[0] == (
        "Usage: imggen config set [OPTIONS] KEY VALUE"
    )
    assert help_text("imggen batch").splitlines()[0] == "Usage: imggen batch [OPTIONS] MANIFEST"


def test_examples_keep_their_layout() -> None:
    text = help_text("imggen generate")
    body = text.split("Examples:\n", 1)[1].splitlines()
    assert body[:2] == [
        "  # one image, 16:9 at the 2K tier, named by you",
        '  imggen generate "sunset over the sea" -a 16:9 -s 2K -o sunset.png',
    ]
