"""Annotated option types shared by generate, edit and batch, and the flag -> Job merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from imggen.errors import UsageError

IMAGE = "Image options"
RUN = "Run options"


def _verbose(ctx: typer.Context, value: bool) -> bool:
    if value:
        ctx.meta["imggen.verbose"] = True
    return value


def _complete_profile(incomplete: str) -> list[str]:
    from imggen.cli.completion import profiles

    return [p for p in profiles() if p.startswith(incomplete)]


def _complete_model(ctx: typer.Context, incomplete: str) -> list[str]:
    from imggen.cli.completion import models

    return [m for m in models(ctx.params.get("profile")) if m.startswith(incomplete)]


Profile = Annotated[
    str | None,
    typer.Option(
        "-p", "--profile", help="Profile from the config file.", autocompletion=_complete_profile
    ),
]
Model = Annotated[
    str | None,
    typer.Option("-m", "--model", help="Model id.", autocompletion=_complete_model),
]
Aspect = Annotated[
    str | None, typer.Option("-a", "--aspect", help="Aspect ratio W:H.", rich_help_panel=IMAGE)
]
Size = Annotated[
    str | None,
    typer.Option("-s", "--size", help="Tier 512/1K/2K/4K or pixels WxH.", rich_help_panel=IMAGE),
]
Count = Annotated[
    int | None, typer.Option("-n", "--count", help="Number of images.", rich_help_panel=IMAGE)
]
Output = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="File, folder, template ({i} {n} {slug} {model} {date} {time}) or - for stdout.",
        rich_help_panel=IMAGE,
    ),
]
Format = Annotated[
    str | None, typer.Option("--format", help="png, jpeg or webp.", rich_help_panel=IMAGE)
]
Quality = Annotated[
    str | None,
    typer.Option("--quality", help="low/medium/high/auto, or 0-100.", rich_help_panel=IMAGE),
]
Background = Annotated[
    str | None,
    typer.Option("--background", help="transparent, opaque or auto.", rich_help_panel=IMAGE),
]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed.", rich_help_panel=IMAGE)]
Ref = Annotated[
    list[str] | None,
    typer.Option(
        "-r", "--ref", help="Reference image file or URL (repeatable).", rich_help_panel=IMAGE
    ),
]
Stream = Annotated[
    bool | None,
    typer.Option(
        "--stream/--no-stream",
        help="Stream the reply (default: where the gateway allows it).",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
Param = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="Extra body field KEY=VALUE (dotted keys nest; JSON values parsed).",
        rich_help_panel=IMAGE,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout.", rich_help_panel=RUN)
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print the request (key redacted); send nothing.", rich_help_panel=RUN
    ),
]
Force = Annotated[
    bool, typer.Option("--force", help="Overwrite existing files.", rich_help_panel=RUN)
]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds the whole command may take.", rich_help_panel=RUN),
]
Retries = Annotated[
    int | None,
    typer.Option(
        "--retries", help="Retries on 408/409/429/5xx and network errors [2].", rich_help_panel=RUN
    ),
]
Quiet = Annotated[
    bool, typer.Option("-q", "--quiet", help="No progress or notes.", rich_help_panel=RUN)
]
Verbose = Annotated[
    bool,
    typer.Option(
        "-v",
        "--verbose",
        help="More detail; tracebacks for bugs.",
        callback=_verbose,
        rich_help_panel=RUN,
    ),
]


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """--param KEY=VALUE: dotted keys nest; values are JSON when they parse."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"--param {item!r}: {part} is already a value")
            node = child
        node[parts[-1]] = value
    return out


def pick(flag: Any, defaults: dict[str, Any], key: str, default: Any = None) -> Any:
    """flag > profile default > built-in default."""
    if flag is not None:
        return flag
    return defaults.get(key, default)


def check_choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    low = value.lower()
    if low == "jpg" and "jpeg" in choices:
        low = "jpeg"
    if low not in choices:
        raise UsageError(f"{option} {value!r}: choose one of {', '.join(choices)}")
    return low


def cwd() -> Path:
    return Path.cwd()
