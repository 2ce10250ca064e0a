"""The flags a command was given, as one mapping (option name -> the value typed, None when
absent), and the check that turns them into the highest precedence layer. No Typer here:
cli/fast.py runs a plain `generate` without it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imggen import options

Flags = Mapping[str, Any]


def checked(flags: Flags, *, skip: tuple[str, ...] = ()) -> options.Layer:
    """The flags given, checked by the table (a bad value is exit 2 naming the flag), as the
    highest precedence layer. Flags that only shape the output (--json, -q, ...) are left out."""
    given = {
        name: value
        for name, value in flags.items()
        if value is not None
        and name not in skip
        and options.OPTIONS[name].lands != options.CLI
        and not (value is False and not options.OPTIONS[name].tristate)
    }
    layer = options.flag_layer({})
    values, problems = options.check(given, layer.label)
    if problems:
        raise problems[0].error()
    return options.flag_layer(values)
