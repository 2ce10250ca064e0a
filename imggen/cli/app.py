"""The Typer app: subcommands, and the group class whose invoke() is the error boundary."""

from __future__ import annotations

import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from imggen import __version__
from imggen.cli import COMMANDS_HELP


class ImggenGroup(TyperGroup):
    """One boundary for the console script and CliRunner alike: ImggenError -> one stderr
    line (+ hint) and its exit code; Ctrl-C -> 130; anything else -> exit 1, traceback on -v."""

    def invoke(self, ctx: Any) -> Any:
        from imggen.errors import ImggenError, Interrupted

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except ImggenError as exc:
            _report(ctx, exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            _report(ctx, Interrupted(2).message, None)
            raise typer.Exit(130) from None
        except typer.TyperException:
            raise  # usage errors: click prints them and exits 2
        except Exception as exc:
            if ctx.meta.get("imggen.verbose"):
                traceback.print_exc()
            _report(
                ctx,
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a bug in imggen; run again with -v for the traceback and report it",
            )
            raise typer.Exit(1) from None


def _report(ctx: Any, message: str, hint: str | None) -> None:
    from imggen.console import UI
    from imggen.env import Env

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    UI(env).error(message, hint)


app = typer.Typer(
    cls=ImggenGroup,
    help=COMMANDS_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,  # rich stays out of --help: start-up time (issue 8)
    pretty_exceptions_enable=False,  # locals hold keys
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


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


def _register() -> None:
    from imggen.cli import batch as batch_cli
    from imggen.cli import config, generate
    from imggen.cli import doctor as doctor_cli
    from imggen.cli import models as models_cli

    app.command("generate")(generate.generate)
    app.command("edit")(generate.edit)
    app.add_typer(config.app, name="config")
    app.command("batch")(batch_cli.batch)
    app.command("models")(models_cli.models)
    app.command("doctor")(doctor_cli.doctor)


_register()
