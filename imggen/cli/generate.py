"""`imggen generate` and `imggen edit` as Typer commands: flags -> cli/make.py, which prepares,
runs and prints paths or JSON on stdout.

The options themselves come from the table in imggen/options/table.py (see cli/options.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imggen.cli.options import Flags, takes

# The Examples section of each command's --help (cli/help.py prints them as written).
EXAMPLES = {
    "generate": """
        # one image, 16:9 at the 2K tier, named by you
        imggen generate "sunset over the sea" -a 16:9 -s 2K -o sunset.png
        # three of them (fox-1.png ...), and one JSON document for scripts
        imggen generate "a red fox, watercolour" -n 3 -o fox.png --json
        # prompt from stdin, image bytes to stdout
        echo "a lighthouse at dawn" | imggen generate - -o - > lighthouse.png
        # the exact request, key redacted; nothing is sent
        imggen generate "a lighthouse" -m turing/gpt-image-2 -s 4K -p turing --dry-run
    """,
    "edit": """
        # one image, one change
        imggen edit photo.png "replace the sky with a storm" -o stormy.png
        # several images combined into one
        imggen edit lotion.png soap.png "a gift basket holding both" -o basket.png
        # repaint only where the mask is transparent
        imggen edit room.png "add an orange cat" --mask mask.png -o room-cat.png
    """,
}


@takes("generate")
def generate(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            metavar="PROMPT", help="The prompt; - or none with piped stdin reads stdin."
        ),
    ] = None,
    *,
    flags: Flags,
) -> None:
    """Make images from a prompt (plus optional reference images)."""
    _make(ctx, flags, prompt, [], command="generate")


@takes("edit")
def edit(
    ctx: typer.Context,
    args: Annotated[
        list[str],
        typer.Argument(
            help="Input image files or URLs (- for stdin), then the prompt.",
            metavar="IMAGE... PROMPT",
        ),
    ],
    *,
    flags: Flags,
) -> None:
    """Edit or combine images: IMAGE... PROMPT, with an optional --mask."""
    from imggen.run import inputs

    images, prompt = inputs.split_edit_args(args, inputs.Stdin(_env(ctx)))
    _make(ctx, flags, prompt, images, command="edit")


def _env(ctx: typer.Context) -> Any:
    from imggen.env import Env

    return ctx.obj if isinstance(ctx.obj, Env) else Env()


def _make(
    ctx: typer.Context,
    flags: Flags,
    prompt: str | None,
    images: list[str],
    *,
    command: str,
    record: Any = None,
) -> None:
    """cli/make.py's run of the command, in the Env of the click context (tests pass one)."""
    from imggen.cli import make

    make.make(_env(ctx), flags, prompt, images, command=command, record=record)
