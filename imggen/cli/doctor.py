"""`imggen doctor`: probe a profile end to end and report each check (table, TSV or JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from imggen.cli import options as o

COLUMNS = ("CHECK", "RESULT", "DETAIL")


def doctor(
    ctx: typer.Context,
    profile: o.Profile = None,
    model: o.Model = None,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Spend one small image to test response shape, streaming and size.",
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds the test generation may take."),
    ] = None,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Check a profile end to end.

    Config, reachable, key accepted, models API; then, with --generate (or a yes at a
    terminal), one small billed image: response shape, streaming, size honoured. The exit code
    is that of the first failing check."""
    from imggen import doctor as checks
    from imggen.console import UI
    from imggen.env import Env
    from imggen.errors import UsageError

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env, quiet=quiet, verbose=verbose)
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")

    def consent(question: str) -> bool:
        if generate:
            return True
        # Ask only a person: stdin and stderr both terminals; scripts and CI never spend.
        if env.stdin_isatty and env.stderr_isatty:
            return typer.confirm(question, default=False, err=True)
        return False

    report = checks.run(profile, model, env, ui, consent=consent, timeout=timeout)
    if json_out:
        env.out.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
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
