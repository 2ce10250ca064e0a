"""The root command, its subcommands, and the one error boundary every failure passes through.

`main()` answers `--version` before Typer is imported, so it costs little more than Python, and
runs a plain `imggen generate` without Typer (cli/fast.py).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

COMMANDS_HELP = "Turn prompts (and images) into image files through any OpenAI-compatible gateway."


def run() -> None:
    """Console-script entry point: main(), then leave without Python's teardown of the
    interpreter when nothing is left to do. Tearing down ~300 modules and their objects took
    longer than the history row and the rename together (50-90 ms a run on a slow machine:
    benchmarks/receive.py); `imggen generate` in a loop of a CI job pays it every time.
    Everything a normal exit does for us still happens first: the exit functions (atexit)
    run and stdout and stderr are flushed. It is skipped, and Python exits as usual, while a
    non-daemon thread still runs, when a flush fails (so that Python reports it), and under a
    profiler or tracer (`python -m cProfile`, which writes its figures after `run` returns)."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = None
    if code is not None and not isinstance(code, int):
        raise SystemExit(code)  # a message: Python prints it, exits 1
    _leave(code or 0)
    raise SystemExit(code)


def _leave(code: int) -> None:
    """os._exit(code) once the exit functions have run and stdio is flushed, if nothing else
    is still running; otherwise return, for the usual exit."""
    import atexit
    import threading

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's, since 3.0
    main_thread = threading.main_thread()
    if (
        run_exit_functions is None
        or sys.getprofile()
        or sys.gettrace()
        or any(
            t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()
        )
    ):
        return
    run_exit_functions()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def main() -> None:
    """Run imggen with sys.argv (what `run`, the console script and `python -m imggen`, calls)."""
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
            install.honour_named_shell(sys.argv)
        if "_IMGGEN_COMPLETE" in os.environ:
            from imggen.cli import tab  # TAB on a generate option's value skips Typer too

            code = tab.complete(os.environ)
            if code is not None:
                raise SystemExit(code)
        elif sys.argv[1:2] == ["generate"]:
            from imggen.cli import fast  # a plain generate skips Typer: issue 26

            code = fast.generate(sys.argv[2:])
            if code is not None:
                raise SystemExit(code)
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


def failed(exc: BaseException, obj: Any = None, *, verbose: Any = False) -> int:
    """The one error boundary, for the Typer group and cli/fast.py alike: an ImggenError is one
    stderr line (+ hint) and its exit code; Ctrl-C is 130; anything else is a bug: exit 1, the
    traceback on -v. `obj` is the click context's obj (an Env in tests). Returns the code."""
    from imggen.errors import ImggenError, Interrupted

    if isinstance(exc, ImggenError):
        report(obj, exc.message, exc.hint)
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        report(obj, Interrupted(2).message, None)
        return 130
    if isinstance(exc, BrokenPipeError):
        # the reader of stdout left (`imggen generate ... --dry-run | head -1`): no message,
        # as cat or git say none; 141 is what the shell reports for a writer SIGPIPE ended.
        # Python's own flush of stdout at exit would fail again: point it at /dev/null.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # not a real file (a test's captured stdout)
            pass
        return 141
    if verbose:
        import traceback

        traceback.print_exception(exc)
    report(
        obj,
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug in imggen; run again with -v for the traceback and report it",
    )
    return 1


def report(obj: Any, message: str, hint: str | None) -> None:
    """An error line (and hint) on stderr, through the Env `obj` where it is one."""
    from imggen.console import UI
    from imggen.env import Env

    env = obj if isinstance(obj, Env) else Env()
    UI(env).error(message, hint)


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
