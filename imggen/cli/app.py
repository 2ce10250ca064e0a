"""The Typer app: subcommands, and the group class whose invoke() is the error boundary."""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.main

from imggen import __version__
from imggen.cli import COMMANDS_HELP, shells
from imggen.cli.help import Command, Group

# Subcommands load lazily (issue 8): `imggen --help` and a TAB press import and build only
# the command they need. name -> (module, attribute, the one-line help `imggen --help` shows;
# tests/test_startup.py checks it matches the command's own docstring).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": (
        "imggen.cli.generate",
        "generate",
        "Make images from a prompt (plus optional reference images).",
    ),
    "edit": (
        "imggen.cli.generate",
        "edit",
        "Edit or combine images: IMAGE... PROMPT, with an optional --mask.",
    ),
    "batch": ("imggen.cli.batch", "batch", "Run the jobs of a manifest, -j at a time."),
    "jobs": (
        "imggen.cli.jobs",
        "app",
        "The jobs submitted to job providers and not yet collected.",
    ),
    "models": ("imggen.cli.models", "models", "List the profile's image models."),
    "doctor": ("imggen.cli.doctor", "doctor", "Check a profile end to end."),
    "log": ("imggen.cli.log", "log", "List the images imggen saved, newest first."),
    "inspect": (
        "imggen.cli.inspect",
        "inspect",
        "Show what images say about themselves: AI marker, record, Content Credentials.",
    ),
    "again": (
        "imggen.cli.again",
        "again",
        "Make an image again from the record it carries.",
    ),
    "config": (
        "imggen.cli.config",
        "app",
        "Read and change the config file (profiles, keys, defaults).",
    ),
    "testing": (
        "imggen.cli.testing",
        "app",
        "The offline fake gateway, for trying imggen and testing pipelines without a key.",
    ),
}


def load_command(name: str) -> Any:
    """The click command for a subcommand, importing its module on first use."""
    if name not in _COMMANDS:
        import importlib

        module_name, attribute, _ = COMMANDS[name]
        module = importlib.import_module(module_name)
        target = getattr(module, attribute)
        if not isinstance(target, typer.Typer):
            single = typer.Typer(rich_markup_mode=None, add_completion=False)
            examples = getattr(module, "EXAMPLES", {}).get(name)
            single.command(name, cls=Command, epilog=examples)(target)
            target = single
        command = typer.main.get_command(target)
        command.name = name
        _COMMANDS[name] = command
    return _COMMANDS[name]


class ImggenGroup(Group):
    """One boundary for the console script and CliRunner alike: ImggenError -> one stderr
    line (+ hint) and its exit code; Ctrl-C -> 130; anything else -> exit 1, traceback on -v."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            from imggen.suggest import closest

            guess = closest(name, COMMANDS)
            if guess:  # what Typer says for the commands it has built (config's, say)
                ctx.fail(f"No such command {name!r}. Did you mean {guess!r}?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, spec[2]) for name, spec in COMMANDS.items()])

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's usage errors in imggen's form (error: + hint:, exit 2) instead of Click's
        usage block; everything else as Click does it."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        import sys

        # Click's exceptions, wherever this Typer keeps them (it vendors Click since 0.27)
        click = sys.modules[typer.BadParameter.__module__]
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `imggen config`: its help
                exc.show()
                raise SystemExit(exc.exit_code) from None
            from imggen.cli.usage import explain

            message, hint = explain(exc, click)
            ctx = exc.ctx.find_root() if exc.ctx is not None else None
            _report(ctx, message, hint)
            raise SystemExit(2) from None
        except click.ClickException as exc:
            exc.show()
            raise SystemExit(exc.exit_code) from None
        except typer.Abort:
            _report(None, "aborted", None)
            raise SystemExit(1) from None
        raise SystemExit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        from imggen.cli import failed
        from imggen.errors import ImggenError

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except (ImggenError, KeyboardInterrupt) as exc:
            raise typer.Exit(failed(exc, ctx.obj)) from None
        except typer.TyperException:
            raise  # usage errors: click prints them and exits 2
        except Exception as exc:
            raise typer.Exit(failed(exc, ctx.obj, verbose=ctx.meta.get("imggen.verbose"))) from None


def _report(ctx: Any, message: str, hint: str | None) -> None:
    from imggen.cli import report

    report(getattr(ctx, "obj", None), message, hint)


EXAMPLES = """
# try it with no account: an offline gateway on 127.0.0.1
imggen testing serve --quiet &
export IMGGEN_BASE_URL=http://127.0.0.1:8765/v1 IMGGEN_API_KEY=any
imggen generate "a red fox" -m google/gemini-2.5-flash-image -o fox.png

# a real gateway: a profile from a preset, the key in an environment variable
imggen config init --preset openrouter
imggen generate "sunset over the sea" -a 16:9 -s 2K -o sunset.png
"""

app = typer.Typer(
    cls=ImggenGroup,
    help=COMMANDS_HELP,
    epilog=EXAMPLES,
    no_args_is_help=True,
    rich_markup_mode=None,  # rich stays out of --help: start-up time (issue 8)
    pretty_exceptions_enable=False,  # locals hold keys
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


# Typer's zsh script only registers its function when compinit first loads it from $fpath, so
# the first TAB of every new shell completed nothing. Its template (a private table: guarded,
# and Typer is pinned below 0.29) gets the lines that complete at once too, so that
# --show-completion and --install-completion zsh give the script completions/ ships.
_ZSH_FIRST_TAB = """\
# Loaded by compinit from $fpath, this file runs on the first TAB: complete at once too, or
# the first TAB of every new shell would only register the function.
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  %(complete_func)s "$@"
fi
"""


def _zsh_completes_on_first_tab() -> None:
    from typer import _completion_shared

    scripts = getattr(_completion_shared, "_completion_scripts", None)
    if isinstance(scripts, dict) and isinstance(scripts.get("zsh"), str):
        if "loadautofunc" not in scripts["zsh"]:
            scripts["zsh"] = scripts["zsh"].rstrip("\n") + "\n" + _ZSH_FIRST_TAB


_zsh_completes_on_first_tab()
shells.patch()


def _version(value: bool) -> None:
    if value:
        print(f"imggen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Turn prompts (and images) into image files through any OpenAI-compatible gateway."""


_COMMANDS: dict[str, Any] = {}  # name -> click command, built on first use
