"""`imggen doctor`: probe a profile end to end and report each check (table, TSV or JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from imggen.cli.options import Flags, checked, takes

COLUMNS = ("CHECK", "RESULT", "DETAIL")
EXAMPLES = {
    "doctor": """
        imggen doctor                         # asks before billing a test image
        imggen doctor -p turing --generate    # also one small, billed test image
        imggen doctor -p knox -m google/gemini-2.5-flash-image --json
    """,
}


@takes("doctor")
def doctor(
    ctx: typer.Context,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Spend one small image to test response shape, streaming and size.",
        ),
    ] = False,
    *,
    flags: Flags,
) -> None:
    """Check a profile end to end.

    Config, reachable, key accepted, models API; then, with --generate (or a yes at a
    terminal), one small billed image: response shape, streaming, size honoured. The exit code
    is that of the first failing check."""
    from imggen import doctor as checks
    from imggen.console import UI
    from imggen.env import Env

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env, quiet=flags["quiet"], verbose=flags["verbose"])
    timeout = checked(flags).values.get("timeout")
    json_out = flags["json"]

    def consent(question: str) -> bool:
        if generate:
            return True
        # Ask only a person: stdin and stderr both terminals; scripts and CI never spend.
        if env.stdin_isatty and env.stderr_isatty:
            return typer.confirm(question, default=False, err=True)
        return False

    report = checks.run(flags["profile"], flags["model"], env, ui, consent=consent, timeout=timeout)
    if json_out:
        from imggen.console import safe_json

        env.out.write(safe_json(json.dumps(report.as_json(), ensure_ascii=False, indent=2)) + "\n")
    else:
        rows = [[c.name.replace("_", " "), c.status, c.detail] for c in report.rows()]
        title = f"imggen doctor: {report.profile or '?'} / {report.model or '?'}"
        ui.table(title, COLUMNS, rows, out=env.out)
        for warning in report.facts.get("warnings", []):
            ui.warn(warning)
    for check in report.rows():
        if check.status == checks.FAIL:
            ui.error(f"{check.name.replace('_', ' ')}: {check.detail}", check.hint)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
