"""imggen testing serve: the offline fake gateway from any install (pipx included), with the
options of `python -m imggen.testing`, which parses them."""

from __future__ import annotations

import typer

from imggen.cli.help import Command, Group

app = typer.Typer(
    cls=Group,
    help="The offline fake gateway, for trying imggen and testing pipelines without a key.",
    epilog="""
        imggen testing serve --port 0 --key test-key   # prints its base URL first
        imggen testing serve --fault status:429        # the first request gets a 429
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


@app.callback()
def testing() -> None:
    """The offline fake gateway, for trying imggen and testing pipelines without a key."""


@app.command(
    "serve",
    cls=Command,
    epilog="""
        imggen testing serve --quiet &                 # then: kill %1
        imggen testing serve --port 0 --key test-key   # prints its base URL first
    """,
    add_help_option=False,  # --help is the server's own: it lists every option
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
def serve(ctx: typer.Context) -> None:
    """Serve the offline fake gateway on 127.0.0.1 until Ctrl-C or SIGTERM (--help: options)."""
    from imggen.testing.__main__ import main

    raise typer.Exit(main(list(ctx.args), prog="imggen testing serve"))
