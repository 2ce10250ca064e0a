"""Two corrections to Typer's zsh completion, applied when the app is built:

- `--install-completion zsh` writes the fpath/compinit line and ~/.zfunc/_imggen as Typer
  does, but never adds `zstyle ':completion:*' menu select` to ~/.zshrc: that changes every
  command's completion, which is the user's choice (the README shows the line).
- A completion's help text keeps its apostrophes ("the profile's model"): Typer doubles them
  inside the single-quoted words zsh evals, which zsh reads as nothing at all; and it renders
  each help through rich on every TAB press, which imggen's plain help does not need.

Both patch private Typer functions, guarded: Typer is pinned below 0.29 in pyproject.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COMPINIT = "fpath+=~/.zfunc; autoload -Uz compinit; compinit"


def install_zsh(*, prog_name: str, complete_var: str, shell: str) -> Path:
    from typer._completion_shared import get_completion_script

    zshrc = Path.home() / ".zshrc"
    zshrc.parent.mkdir(parents=True, exist_ok=True)
    content = zshrc.read_text() if zshrc.is_file() else ""
    if COMPINIT not in content:
        zshrc.write_text(f"{content.rstrip()}\n{COMPINIT}\n".lstrip("\n"))
    path = Path.home() / f".zfunc/_{prog_name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        get_completion_script(prog_name=prog_name, complete_var=complete_var, shell=shell)
    )
    return path


def zsh_escape(s: str) -> str:
    # inside '...' that zsh evals: a quote closes, then \' is one quote, then ' reopens
    return (
        s.replace('"', '""')
        .replace("'", "'\\''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )


def format_completion(self: Any, item: Any) -> str:
    if item.help:
        return f'"{zsh_escape(item.value)}":"{zsh_escape(item.help)}"'
    return f'"{zsh_escape(item.value)}"'


def patch() -> None:
    from typer import _completion_classes, _completion_shared

    if callable(getattr(_completion_shared, "install_zsh", None)):
        _completion_shared.install_zsh = install_zsh
    zsh = getattr(_completion_classes, "ZshComplete", None)
    if zsh is not None and callable(getattr(zsh, "format_completion", None)):
        zsh.format_completion = format_completion
