"""`--install-completion` (Typer's): the script it writes is refused when a symbolic link
already stands where it goes (imggen did not make it), and a file it cannot write (a read-only
.bashrc) is one clean error line, not a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

FLAG = "--install-completion"

# where Typer's installer writes each shell's script (typer._completion_shared.install_*)
_SCRIPTS = {
    "bash": ".bash_completions/imggen.sh",
    "zsh": ".zfunc/_imggen",
    "fish": ".config/fish/completions/imggen.fish",
}


def _shell(argv: list[str]) -> str:
    at = argv.index(FLAG)
    given = argv[at + 1] if at + 1 < len(argv) and not argv[at + 1].startswith("-") else ""
    return given or os.path.basename(os.environ.get("SHELL", ""))


def honour_named_shell(argv: list[str]) -> None:
    """Typer's flag takes no value and asks shellingham which shell is the parent process:
    `imggen --install-completion fish` run from bash installed bash's script, and one run
    with no shell above it (a Dockerfile's RUN, an ssh command, a detached job) said "Shell
    None is not supported". The shell named after the flag wins; $SHELL when none is found."""
    from typer import _completion_shared

    detect = getattr(_completion_shared, "_get_shell_name", None)
    if not callable(detect):
        return
    at = argv.index(FLAG)
    given = argv[at + 1] if at + 1 < len(argv) and not argv[at + 1].startswith("-") else ""

    def name() -> str | None:
        found = given or detect()
        return found or os.path.basename(os.environ.get("SHELL", "")) or None

    _completion_shared._get_shell_name = name


def refusal(argv: list[str]) -> str | None:
    """Why not to install (a link stands where the script goes), or None."""
    rel = _SCRIPTS.get(_shell(argv))
    if rel is None:
        return None
    script = Path.home() / rel
    if script.is_symlink():
        return (
            f"error: {script} is a symbolic link; imggen does not write through a link it did "
            "not make\nhint: remove the link, or write the script yourself: "
            f"imggen --show-completion {_shell(argv)} > FILE\n"
        )
    return None


def failed(exc: OSError) -> str:
    """The error line (and hint) for a file the installer could not write."""
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"error: cannot install the completion script:{where}: {exc.strerror or exc}\n"
        "hint: make that file writable, or add the script yourself: "
        f"imggen --show-completion {_shell(sys.argv)} > FILE, then source FILE from your "
        "shell's start-up file\n"
    )
