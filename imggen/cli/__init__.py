"""The root command, its subcommands, and the one error boundary every failure passes through.

`main()` answers `--version` before Typer is imported, so it costs little more than Python.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

COMMANDS_HELP = "Turn prompts (and images) into image files through any OpenAI-compatible gateway."


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        from imggen import __version__

        print(f"imggen {__version__}")
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    from imggen.errors import Interrupted

    installing = "--install-completion" in sys.argv
    try:
        if installing:
            from imggen.cli import install

            refused = install.refusal(sys.argv)
            if refused:
                sys.stderr.write(refused)
                raise SystemExit(2)
        from imggen.cli.app import app

        app(prog_name="imggen")
    except OSError as exc:
        if not installing:
            raise
        from imggen.cli import install

        sys.stderr.write(install.failed(exc))
        raise SystemExit(2) from None
    except (KeyboardInterrupt, Interrupted) as exc:  # outside the boundary: start-up
        error = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
        sys.stderr.write(f"error: {error.message}\n")
        raise SystemExit(int(error.exit_code)) from None
    finally:
        # Everything is reported; a signal now (Python shutting down) only sets the code.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_now)


def _on_sigterm(signum: int, frame: Any) -> None:
    from imggen.errors import Interrupted

    raise Interrupted(signum)


def _exit_now(signum: int, frame: Any) -> None:
    os._exit(128 + signum)


def __getattr__(name: str) -> Any:
    # `imggen.cli.app` for tests and tools without importing Typer at `import imggen.cli`
    if name == "app":
        from imggen.cli.app import app

        return app
    raise AttributeError(name)
