"""`imggen again FILE`: make an image again from the record it carries (or its sidecar),
through the generate path; flags override what the record says."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imggen.cli.options import Flags, takes

EXAMPLES = {
    "again": """
        # the same prompt, model, parameters and seed; a new file beside it
        imggen again fox.png
        # the same request on another model, saved where you say
        imggen again fox.png -m google/gemini-2.5-flash-image -o fox-gemini.png
        # show the request it would send; send nothing
        imggen again fox.png --dry-run
    """,
}


@takes("generate", skip=("refs",))
def again(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An image imggen saved.")],
    *,
    flags: Flags,
) -> None:
    """Make an image again from the record it carries."""
    from imggen.cli.generate import _env, _make
    from imggen.console import UI
    from imggen.run.again import from_file

    env = _env(ctx)
    request = from_file(file, cwd=Path.cwd())
    chosen = dict(flags)
    chosen["refs"] = None
    chosen["model"] = flags["model"] or request.model
    if not flags["profile"] and request.profile:
        from imggen.profiles.layers import ENV_PROFILE

        profile = _usable(request.profile, env)
        if profile is None and request.profile != ENV_PROFILE:
            UI(env, quiet=flags["quiet"]).warn(
                f"the record's profile {request.profile!r} is not configured here; "
                "using the default profile"
            )
        chosen["profile"] = profile
    _make(
        ctx,
        chosen,
        request.prompt,
        request.images,
        command=request.command,
        record=request.layer,
    )


def _usable(profile: str, env: object) -> str | None:
    """The record's profile where this machine knows it (a configured profile or a preset)."""
    from imggen.dialects.presets import PRESETS
    from imggen.profiles import config
    from imggen.profiles.layers import ENV_PROFILE

    environ = getattr(env, "environ", {})
    if profile == ENV_PROFILE:
        return None
    if profile in PRESETS:
        return profile
    try:
        data = config.load(config.config_path(environ))
    except Exception:  # a broken config file is reported by the run itself
        return None
    return profile if profile in data.get("profiles", {}) else None
