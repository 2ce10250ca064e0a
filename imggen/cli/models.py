"""`imggen models`: a profile's image models as a table (terminal), TSV (pipes) or JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from imggen.cli.options import Flags, takes

COLUMNS = ("MODEL", "DIALECT", "SIZES", "ASPECTS", "STREAM", "EDIT", "NOTE")
DROPPABLE = (
    "NOTE",
    "DIALECT",
    "ASPECTS",
    "STREAM",
    "EDIT",
    "SIZES",
)  # on a narrow terminal; MODEL is never cut
LIST_TIMEOUT = 60.0  # a listing is small: do not wait the 300 s a 4K image may need
NO_MODEL = ""  # the model of a profile that names none: listing needs none
EXAMPLES = {
    "models": """
        imggen models                       # the default profile's image models
        imggen models -p openrouter --json  # as JSON, for scripts
        imggen models -p knox --catalog     # imggen's own catalog; nothing is sent
    """,
}


@takes("models")
def models(
    ctx: typer.Context,
    all_models: Annotated[
        bool, typer.Option("--all", help="Also list models without image output.")
    ] = False,
    catalog_only: Annotated[
        bool,
        typer.Option("--catalog", help="Show the built-in catalog; do not ask the gateway."),
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Read the gateway's model lists again now (generate reads them once a day).",
        ),
    ] = False,
    *,
    flags: Flags,
) -> None:
    """List the profile's image models.

    From the gateway's models API (filtered to image output) where it has one, else from the
    built-in catalog; the source is named on stderr."""
    from imggen import models as listing_mod
    from imggen.console import UI
    from imggen.env import Env
    from imggen.errors import AuthFailed
    from imggen.profiles import modelcache
    from imggen.run import core

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env, quiet=flags["quiet"], verbose=flags["verbose"])
    profile, json_out = flags["profile"], flags["json"]
    s = resolve(profile, env.environ, need_key=False)
    ask = not catalog_only and listing_mod.has_models_api(s)
    client = None
    if ask:
        s = resolve(profile, env.environ, need_key=True)
        for warning in s.warnings:
            ui.warn(warning)
        client = core.make_client(
            s, env, ui, core.RunOptions(timeout=LIST_TIMEOUT, retries=1), read_timeout=LIST_TIMEOUT
        )
    if client is not None:  # a slow list shows a status line on a terminal, not nothing
        ui.start_progress(f"{s.profile}: reading the model list from {s.base_url}")
    try:
        if client is not None and (refresh or (s.preset is not None and s.preset.learns)):
            # the image models list (and with --refresh LiteLLM's modes) decide dialects;
            # kept a day
            before = len(s.warnings)
            s = modelcache.learn(s, env, refresh=refresh, client=client)
            for warning in s.warnings[before:]:
                ui.warn(warning)
        found = listing_mod.listing(s, client, all_models=all_models)
    except AuthFailed as exc:
        raise AuthFailed(exc.message, hint=s.auth_hint(), status=exc.status) from None
    finally:
        ui.stop_progress()
        if client is not None:
            client.close()
    if json_out:
        from imggen.console import safe_json

        env.out.write(safe_json(json.dumps(found.as_json(), ensure_ascii=False, indent=2)) + "\n")
        return
    ui.info(f"{s.profile}: {found.detail}")
    if not found.models:
        what = f"{found.total} models, none" if found.total else "no models"
        also = "" if all_models else "; --all lists every model"
        ui.info(f"the gateway lists {what} with image output{also}")
        return
    title = f"{s.profile} models ({found.source})"
    rows = [_cells(m) for m in found.models]
    ui.table(title, COLUMNS, rows, out=env.out, whole=("MODEL",), droppable=DROPPABLE)


def _cells(m: Any) -> list[str]:
    notes = []
    if m.default:
        notes.append("profile default")
    if m.image_output is False:
        notes.append("no image output")
    elif m.image_output is None:
        notes.append("output modalities unknown")
    if not m.in_catalog:
        notes.append("not in the catalog")
    aspects = " ".join(m.rule.aspects) or "any"
    sizes = m.size_text()
    if m.parameters and m.size_rule == "any":  # the gateway's descriptors say
        aspects = _values(m.parameters.get("aspect_ratio")) or "none"
        tiers = _values(m.parameters.get("resolution")) or _values(m.parameters.get("size"))
        sizes = tiers.replace(" ", "/") if tiers else "none"
    yes = {True: "yes", False: "no"}
    return [m.id, m.dialect, sizes, aspects, yes[m.stream], yes[m.edit], "; ".join(notes)]


def _values(descriptor: Any) -> str:
    if isinstance(descriptor, dict) and isinstance(descriptor.get("values"), list):
        return " ".join(str(v) for v in descriptor["values"])
    return ""


def resolve(profile: str | None, environ: dict[str, str], *, need_key: bool) -> Any:
    """Settings for listing: like generate's, but a profile that names no model still lists."""
    import dataclasses

    from imggen.errors import NoModel
    from imggen.profiles import settings

    try:
        return settings.resolve(profile=profile, environ=environ, need_key=need_key)
    except NoModel:
        pass
    # A stand-in model gets past resolve(); listing never sends it.
    s = settings.resolve(profile=profile, model="-", environ=environ, need_key=need_key)
    return dataclasses.replace(s, model=NO_MODEL, sources={**s.sources, "model": "(none)"})
