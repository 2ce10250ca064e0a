"""`imggen log`: the local history of saved images, newest first; --open N, --clear."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

COLUMNS = ("#", "TIME", "MODEL", "COST", "PATH", "PROMPT")
OPENER_ENV = "IMGGEN_OPENER"
OPEN_WAIT = 10.0  # seconds  # a command that opens a file instead of the platform's viewer
EXAMPLES = {
    "log": """
        imggen log                          # the last 20 images, newest first
        imggen log --since 2d --model gpt-image-1 --grep fox
        imggen log --json -n 100            # for scripts
        imggen log --open 1                 # the newest image, in the viewer
    """,
}


def log(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", "--count", metavar="N", help="Entries to list.")] = 20,
    since: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="Only since a span (30m, 12h, 2d, 1w) or a date."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("-m", "--model", metavar="MODEL", help="Only this model.")
    ] = None,
    grep: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Only entries whose prompt or path has it.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    open_n: Annotated[
        int | None,
        typer.Option("--open", metavar="N", help="Open entry N (1: the newest) in the viewer."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Delete the history.")] = False,
) -> None:
    """List the images imggen saved, newest first.

    Files since moved or deleted are marked "missing", files whose bytes changed "changed".
    The history lives in the user data dir (IMGGEN_DATA_DIR overrides it); --no-log,
    IMGGEN_NO_LOG=1 or `log = false` in a profile keep runs out of it."""
    from imggen import history
    from imggen.console import UI, shown
    from imggen.env import Env
    from imggen.errors import UsageError

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env)
    if clear:
        gone = history.clear(env.environ)
        ui.info(f"history cleared ({gone} entr{'y' if gone == 1 else 'ies'})")
        return
    if count < 1:
        raise UsageError(f"-n {count}: must be a whole number of at least 1")
    after = history.parse_since(since) if since else None
    limit = max(count, open_n or 0)
    entries = history.query(env.environ, since=after, model=model, grep=grep, limit=limit)
    if open_n is not None:
        _open(env, ui, entries, open_n)
        return
    entries = entries[:count]
    states = [history.state(e) for e in entries]
    if as_json:
        doc = [{**e.as_json(), "state": s or "ok"} for e, s in zip(entries, states, strict=True)]
        env.out.write(json.dumps({"entries": doc}, ensure_ascii=False) + "\n")
        return
    if not entries:
        where = shown(str(history.db_path(env.environ)))
        ui.info(
            f"no images in the history{' that match' if since or model or grep else ''} ({where})"
        )
        return
    rows = [_row(i, e, s) for i, (e, s) in enumerate(zip(entries, states, strict=True), 1)]
    ui.table("", COLUMNS, rows, out=env.out, whole=("#", "PATH"), droppable=("PROMPT", "COST"))


def _row(n: int, e: Any, state: str) -> list[str]:
    from datetime import datetime

    from imggen.console import shown
    from imggen.prices import money

    when = datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M")
    if e.cost is not None:
        cost = f"{money(e.cost)} {e.currency or ''}".rstrip()
    elif e.estimate is not None:
        cost = f"~{money(e.estimate)} {e.currency or 'USD'} (est.)"
    else:
        cost = "unknown"
    path = shown(e.path) + (f" [{state}]" if state and state != "stdout" else "")
    if e.outcome != "saved":
        path += f" ({e.outcome})"
    prompt = e.prompt if e.prompt is not None else f"({e.provenance}: not kept)"
    return [str(n), when, e.model or "", cost, path, " ".join(prompt.split())[:200]]


def _open(env: Any, ui: Any, entries: list[Any], n: int) -> None:
    """Open entry n with IMGGEN_OPENER, else the platform's viewer (open, xdg-open,
    startfile), detached, without waiting for it."""
    import os
    import shlex
    import subprocess
    import sys

    from imggen import history
    from imggen.console import shown
    from imggen.errors import UsageError

    if not 1 <= n <= len(entries):
        raise UsageError(
            f"--open {n}: the history lists {len(entries)} matching entries",
            hint="`imggen log` numbers them, 1 the newest",
        )
    entry = entries[n - 1]
    if history.state(entry) in ("missing", "stdout"):
        raise UsageError(
            f"{shown(entry.path)} is no longer there (moved or deleted)",
            hint=f"`imggen log --grep {os.path.basename(entry.path)}` shows what was recorded",
        )
    custom = env.environ.get(OPENER_ENV)
    if custom:
        argv = [*shlex.split(custom), entry.path]
    elif sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        os.startfile(entry.path)  # type: ignore[attr-defined]
        return
    else:
        argv = ["open" if sys.platform == "darwin" else "xdg-open", entry.path]
    try:
        # open and xdg-open hand the file to the viewer and return: wait that long, no longer
        viewer = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot start {argv[0]}: {exc.strerror}",
            hint=f"open {shown(entry.path)} yourself, or set {OPENER_ENV} to a viewer command",
        ) from None
    try:
        code = viewer.wait(OPEN_WAIT)
    except subprocess.TimeoutExpired:
        code = 0  # a viewer that stays in the foreground is showing the file: left running
    if code:
        raise UsageError(
            f"{argv[0]} could not open {shown(entry.path)} (exit {code})",
            hint=f"open it yourself, or set {OPENER_ENV} to a viewer command",
        )
    ui.info(f"opened {shown(entry.path)}")
