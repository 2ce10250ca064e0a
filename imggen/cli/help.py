"""How --help reads: usage lines with plain placeholders, an Examples section printed as
written, and a command's whole first sentence in its group's list (click cuts it at "e.g." or at
the terminal's width). Imported by every command, so it stays light: Typer's core only."""

from __future__ import annotations

import textwrap
from typing import Any

from typer.core import TyperCommand, TyperGroup


def summary(help_text: str | None) -> str:
    """The first paragraph of a help text on one line: what a group lists for a command."""
    return " ".join((help_text or "").strip().split("\n\n")[0].split())


def plain(pieces: list[str]) -> list[str]:
    """Usage pieces without the braces Typer puts round required arguments ({MANIFEST})."""
    return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


def examples(epilog: str | None) -> list[str]:
    """The lines of an examples text, dedented, without blank lines at either end."""
    return textwrap.dedent(epilog or "").strip("\n").rstrip().splitlines()


def write_examples(epilog: str | None, formatter: Any) -> None:
    """An "Examples:" section, each line as written (click would rewrap them into prose)."""
    lines = examples(epilog)
    if not lines:
        return
    with formatter.section("Examples"):
        for line in lines:
            formatter.write(f"{'':{formatter.current_indent}}{line}".rstrip() + "\n")


class Command(TyperCommand):
    """A command whose epilog is its examples."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return plain(super().collect_usage_pieces(ctx))

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary(self.short_help or self.help)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        write_examples(self.epilog, formatter)


class Group(TyperGroup):
    """A command group (config) whose epilog is its examples."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary(self.short_help or self.help)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        write_examples(self.epilog, formatter)
