"""`imggen generate` without Typer: the command a script or a CI job runs most, parsed straight
from the option table, so that the time before the request goes out is imggen's own work and
not the import of Typer and Click and the build of a 30-option command (issue 26).

Only a plain command line is taken here: long options as `--name VALUE` or `--name=VALUE`,
short ones as `-x VALUE`, flags, at most one prompt, values that read as the option's type.
Anything else (help, completion, bundled or attached short options, `--`, an unknown option, a
value starting with `-` other than `-` itself, a number that does not parse, a second prompt)
returns None, and the Typer command parses it: the same flags, the same errors, whichever way.
tests/test_fast.py checks that both parse a corpus of command lines alike.
"""

from __future__ import annotations

from typing import Any

from imggen import options

HELP = ("-h", "--help")


def parse(argv: list[str]) -> tuple[str | None, dict[str, Any]] | None:
    """(prompt, flags) as the Typer command would hand them to cli/make.py, or None when the
    command line is not a plain one."""
    table = options.for_command(options.GENERATE)
    known: dict[str, tuple[options.Option, bool]] = {}
    for opt in table:
        known.update(dict.fromkeys(opt.flags, (opt, True)))
        if opt.negative:
            known[opt.negative] = (opt, False)
    flags: dict[str, Any] = {
        o.name: False if o.kind is bool and not o.tristate else None for o in table
    }
    prompts: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "-" or not arg.startswith("-"):
            prompts.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in HELP or name not in known:
            return None
        opt, on = known[name]
        if opt.kind is bool:
            if eq:
                return None
            flags[opt.name] = on
            continue
        if not eq:
            value = next(args, "--")  # a missing value reads as the `--` Typer must handle
            if value.startswith("-") and value != "-":
                return None
        typed = _typed(opt.kind, value)
        if typed is None:
            return None
        flags[opt.name] = [*(flags[opt.name] or []), typed] if opt.kind is list else typed
    if len(prompts) > 1:
        return None
    return (prompts[0] if prompts else None), flags


def _typed(kind: type, value: str) -> Any:
    """The value as Click converts it to the option's type (int(), float()), None if it
    does not convert (Click's error message is Typer's to give)."""
    if kind in (str, list):
        return value
    try:
        return kind(value)
    except ValueError:
        return None


def generate(argv: list[str]) -> int | None:
    """Run `imggen generate ARGV` here and return its exit code, or None to leave the command
    line to Typer. Failures pass through the same boundary as Typer's (cli.failed)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    prompt, flags = parsed
    from imggen.cli import failed, make
    from imggen.env import Env

    try:
        make.make(Env(), flags, prompt, [], command=options.GENERATE)
    except (Exception, KeyboardInterrupt) as exc:
        return failed(exc, verbose=flags["verbose"])
    return 0
