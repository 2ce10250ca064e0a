"""TAB on the value of a `generate` option (`imggen generate -m <TAB>`) without Typer: the
values come from cli/completion.py as the Typer command would offer them, printed as Typer's
bash, zsh and fish completion prints them, in about half the time (the import of Typer and the
build of the command were most of it: benchmarks/startup.py).

Taken here is one case only: the word being completed is the value of a generate option that
has a completion source, after a plain command line (cli/fast.py reads it). Anything else (an
option name, a subcommand, `--opt=` values, other commands, PowerShell, help text that rich
would render) returns None, and Typer answers as before. tests/test_tab.py checks that both
print the same for a corpus of command lines, in each shell's format.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping

from imggen import options

# what each shell's completion script sets _IMGGEN_COMPLETE to
SHELLS = ("complete_bash", "complete_zsh", "complete_fish")


def complete(environ: Mapping[str, str]) -> int | None:
    """Print the completions for the command line in `environ` and return the exit code, or
    None to leave it to Typer."""
    shell = environ.get("_IMGGEN_COMPLETE", "")
    if shell not in SHELLS:
        return None
    words = _words(shell, environ)
    if words is None:
        return None
    args, incomplete = words
    found = _values(args, incomplete)
    if found is None or (shell == "complete_fish" and not _plain(found, environ)):
        return None
    if shell == "complete_fish":
        action = environ.get("_TYPER_COMPLETE_FISH_ACTION", "")
        if action == "is-args":
            return 0 if found else 1
        if action != "get-args":
            return None
    sys.stdout.write(_format(shell, found) + "\n")
    return 0


def _words(shell: str, environ: Mapping[str, str]) -> tuple[list[str], str] | None:
    """(the words before the one being completed, that word), as Typer's shell classes read
    them from the environment."""
    try:
        if shell == "complete_bash":
            words = _split(environ["COMP_WORDS"])
            cword = int(environ["COMP_CWORD"])
            return words[1:cword], words[cword] if cword < len(words) else ""
        line = environ.get("_TYPER_COMPLETE_ARGS", "")
    except (KeyError, ValueError):
        return None
    args = _split(line)[1:]
    if args and not line.endswith(" "):
        return args[:-1], args[-1]
    return args, ""


def _split(line: str) -> list[str]:
    """Words as Click's split_arg_string makes them: shell quoting, an open quote taken as
    far as it goes."""
    lex = shlex.shlex(line, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out: list[str] = []
    try:
        out.extend(lex)
    except ValueError:
        out.append(lex.token)
    return out


def _values(args: list[str], incomplete: str) -> list[str | tuple[str, str]] | None:
    """The values on offer for the option that ends `args`, or None when that is not the
    case taken here."""
    if args[:1] != ["generate"] or len(args) < 2 or incomplete.startswith("-"):
        return None
    known = {flag: o for o in options.for_command(options.GENERATE) for flag in o.flags}
    opt = known.get(args[-1])
    if opt is None or opt.complete is None or opt.kind is bool:
        return None
    from imggen.cli import completion, fast

    parsed = fast.parse(args[1:-1])
    if parsed is None:
        return None
    found = getattr(completion, opt.complete)(parsed[1])
    return [c for c in found if (c[0] if isinstance(c, tuple) else c).startswith(incomplete)]


def _plain(found: list[str | tuple[str, str]], environ: Mapping[str, str]) -> bool:
    """Whether Typer prints each help text as it is for fish: it renders them through rich,
    which reads markup and :emoji: codes and wraps at the console's width (COLUMNS, else 80).
    (For zsh imggen's own format_completion prints them as they are: cli/shells.py.)"""
    try:
        width = int(environ.get("COLUMNS") or 80)
    except ValueError:
        return False
    helps = [c[1] for c in found if isinstance(c, tuple)]
    return not any(_MARKUP.search(h) or len(h) >= width for h in helps)


_MARKUP = re.compile(r"[\[:]")


def _format(shell: str, found: list[str | tuple[str, str]]) -> str:
    """The lines Typer's BashComplete and FishComplete print for these values, and for zsh
    those of the format_completion imggen gives Typer (cli/shells.py)."""
    from imggen.cli.shells import zsh_escape as _zsh

    items = [(c, "") if isinstance(c, str) else c for c in found]
    if shell == "complete_bash":
        return "\n".join(value for value, _ in items)
    if shell == "complete_fish":
        return "\n".join(
            f"{value}\t{_SPACE.sub(' ', help)}" if help else value for value, help in items
        )
    if not items:
        return "_files"
    lines = [
        f'"{_zsh(value)}":"{_zsh(help)}"' if help else f'"{_zsh(value)}"' for value, help in items
    ]
    return "_arguments '*: :((" + "\n".join(lines) + "))'"


_SPACE = re.compile(r"\s")
