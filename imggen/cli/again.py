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
        # the newest image in `imggen log` (2: the one before it)
        imggen again 1
    """,
}


@takes("generate", skip=("refs",))
def again(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE|N", help="An image imggen saved, or N: entry N of `imggen log`."
        ),
    ],
    *,
    flags: Flags,
) -> None:
    """Make an image again from the record it carries."""
    from imggen.cli.generate import _env, _make
    from imggen.console import UI
    from imggen.run.again import from_file

    env = _env(ctx)
    request = from_file(_image(file, env), cwd=Path.cwd())
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


def _image(target: str, env: object) -> Path:
    """The file to make again: FILE as given, or (a number no file is named) the image of
    that entry of the history, 1 the newest."""
    if not target.isdigit() or Path(target).exists():
        return Path(target)
    from imggen import history
    from imggen.console import shown
    from imggen.errors import UsageError

    n = int(target)
    entries = history.query(getattr(env, "environ", {}), limit=max(n, 1))
    if not 1 <= n <= len(entries):
        raise UsageError(
            f"{target}: the history lists {len(entries)} image{'' if len(entries) == 1 else 's'}, "
            f"and no file is named {target}",
            hint="`imggen log` numbers them, 1 the newest",
        )
    entry = entries[n - 1]
    if history.state(entry) in ("missing", "stdout"):
        raise UsageError(
            f"entry {n} of the history, {shown(entry.path)}, is no longer there (moved or "
            "deleted); its record went with it",
            hint="`imggen log --json` shows what was recorded",
        )
    return Path(entry.path)


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
