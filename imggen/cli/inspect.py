"""`imggen inspect FILE...`: what saved images say about themselves (files/inspection.py reads
them); lines for people, or one JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

EXAMPLES = {
    "inspect": """
        # made by AI? by which model, from which prompt? is its credential intact?
        imggen inspect fox.png
        # for scripts: one JSON document for all the files
        imggen inspect *.png --json
    """,
}


def inspect(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Image files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show what images say about themselves: AI marker, record, Content Credentials."""
    from imggen.env import Env
    from imggen.errors import ImggenError
    from imggen.files.inspection import inspect as read

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    docs: list[dict[str, Any]] = []
    failed: ImggenError | None = None
    for path in files:
        try:
            found = read(path)
        except ImggenError as exc:
            failed = failed or exc
            docs.append({"path": str(path), "error": exc.as_json()})
            if not as_json:
                env.err.write(f"error: {exc.message}\n")
            continue
        docs.append(found.as_json())
        if not as_json:
            env.out.write("\n".join(describe(found)) + "\n")
    if as_json:
        env.out.write(json.dumps({"files": docs}, ensure_ascii=False, indent=2) + "\n")
    if failed is not None:
        raise typer.Exit(int(failed.exit_code))


def describe(found: Any) -> list[str]:
    """The lines `imggen inspect` prints for one file."""
    kind = found.mime.split("/")[1].upper()
    size = f" {found.pixels[0]}x{found.pixels[1]}" if found.pixels else ""
    lines = [f"{found.path}: {kind}{size}"]
    if not found.known:
        lines.append("  nothing imggen can read: no AI marker, no imggen record, no credentials")
        return lines
    marker = found.marker
    if marker:
        source = marker.get("digital_source_type", "?").rsplit("/", 1)[-1]
        said = "yes" if found.ai_generated else "no"
        model = f", model {marker['ai_system']}" if marker.get("ai_system") else ""
        where = f", per its {marker['from']}" if marker.get("from") else ""
        lines.append(clean_text(f"  AI-generated: {said} ({source}{model}{where})"))
    else:
        lines.append("  AI marker: none")
    record = found.record
    if record:
        where = "in the file" if found.record_in == "file" else f"in {found.record_in}"
        lines.append(f"  imggen record: {where}")
        for key in ("prompt", "model", "profile", "created"):
            if record.get(key):
                lines.append(clean_text(f"    {key}: {_short(str(record[key]))}"))
        job = record.get("job")
        if isinstance(job, dict) and job.get("id"):  # a job provider's: {provider, id}
            made = f"{job.get('provider') or '?'} {job['id']}"
            lines.append(clean_text(f"    job: {_short(made)}"))
        params = record.get("params") or {}
        if params:
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
            lines.append(clean_text(f"    parameters: {_short(shown)}"))
    else:
        lines.append("  imggen record: none")
    lines.append(_credentials(found))
    return lines


def _credentials(found: Any) -> str:
    if not found.credentials:
        return "  Content Credentials: none"
    verdict = found.c2pa
    if verdict is None:
        return "  Content Credentials: present (install the extra imggen[c2pa] to validate them)"
    if verdict["state"] == "unreadable":
        return clean_text(f"  Content Credentials: present, unreadable: {verdict['why']}")
    trust = "a trusted signer" if verdict["trusted"] else "signer not on the trust list"
    signer = f" by {verdict['signer']}" if verdict.get("signer") else ""
    if verdict["state"] == "tampered":
        why = ", ".join(c for c in verdict["codes"] if c != "signingCredential.untrusted")
        return clean_text(f"  Content Credentials: TAMPERED ({why}); signed{signer}")
    return clean_text(f"  Content Credentials: valid, signed{signer} ({trust})")


def clean_text(text: str) -> str:
    """A line as a terminal may show it: no control characters (a file's text is untrusted)."""
    from imggen.files.provenance import clean

    return clean(text.replace("\n", " "))[0]


def _short(text: str, most: int = 300) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= most else text[: most - 1] + "…"
