"""Click's own usage errors (an unknown option, a missing value, extra arguments) in imggen's
`error:` / `hint:` form, exit 2, with the hint a newcomer needs: quote a prompt of several
words, the closest option name, where --help is."""

from __future__ import annotations

import shlex
from typing import Any


def explain(exc: Any, click: Any) -> tuple[str, str | None]:
    """(message, hint) for a click.UsageError; `click` is the module of Click's exceptions."""
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "imggen"
    helps = f"`{path} --help` lists what it takes"
    message = exc.format_message()
    if isinstance(exc, click.NoSuchOption):
        possible = sorted(exc.possibilities or [])
        hint = f"did you mean {' or '.join(possible[:3])}? " if possible else ""
        return f"no such option: {exc.option_name}", hint + helps
    if isinstance(exc, click.BadOptionUsage) and "requires an argument" in message:
        return f"{exc.option_name} needs a value", helps
    if isinstance(exc, click.MissingParameter):
        return _lower(message), helps
    if message.startswith("No such command"):
        said, _, guess = message.partition(". Did you mean ")
        hint = f"did you mean {guess.rstrip('?')}? " if guess else ""
        return _lower(said), hint + f"`{path} --help` lists its commands"
    command = ctx.command.name if ctx is not None else ""
    if message.startswith("Got unexpected extra argument") and command in ("generate", "edit"):
        return _unquoted(ctx, command, message)
    return _lower(message), helps


def _unquoted(ctx: Any, command: str, message: str) -> tuple[str, str]:
    extra = list(ctx.args) or _extra(message)
    if command == "generate":
        words = [str(ctx.params.get("prompt") or ""), *extra]
        prompt = " ".join(w for w in words if w)
        return (
            f"generate takes one prompt, and got {len(words)} words",
            f"quote it: imggen generate {shlex.quote(prompt)}",
        )
    return _lower(message), 'the prompt comes last, in quotes: imggen edit photo.png "make it blue"'


def _extra(message: str) -> list[str]:
    inside = message[message.rfind("(") + 1 : message.rfind(")")]
    try:
        return shlex.split(inside)
    except ValueError:
        return inside.split()


def _lower(message: str) -> str:
    """Click's sentence as imggen's messages are written: lower case first, no full stop."""
    message = message.rstrip(".")
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
