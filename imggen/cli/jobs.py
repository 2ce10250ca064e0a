"""`imggen jobs list|wait|cancel`: the jobs submitted to job providers (fal, Replicate, Black
Forest Labs) and not yet collected, as the ledger in the state dir records them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from imggen.cli.help import Command, Group

app = typer.Typer(
    cls=Group,
    help="The jobs submitted to job providers and not yet collected.",
    epilog="""
        imggen generate "a red fox" -p fal --no-wait   # prints the job id
        imggen jobs list                 # what is waiting, and where it goes
        imggen jobs wait                 # collect them all into their files
        imggen jobs cancel 0f1e2d3c      # stop one at the provider
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="As JSON.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors on stderr.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Each poll on stderr.")]


def _env(ctx: typer.Context) -> Any:
    from imggen.env import Env

    return ctx.obj if isinstance(ctx.obj, Env) else Env()


@app.command(
    "list",
    cls=Command,
    epilog="""
        imggen jobs list          # id, provider, state, model, outputs
        imggen jobs list --json   # with poll URLs and prompts, for scripts
    """,
)
def list_cmd(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the recorded jobs: id, provider, state, where their images go."""
    from imggen.console import shown
    from imggen.files.ledger import Ledger
    from imggen.run.collect import listing

    env = _env(ctx)
    docs = [listing(e) for e in Ledger(env.environ).all()]
    if json_out:
        env.out.write(json.dumps(docs, ensure_ascii=False) + "\n")
        return
    for d in docs:
        outputs = ", ".join(shown(o) for o in d["outputs"])
        env.out.write(f"{d['id']}\t{d['provider']}\t{d['state']}\t{d['model']}\t{outputs}\n")


@app.command(
    "wait",
    cls=Command,
    epilog="""
        imggen jobs wait               # every recorded job
        imggen jobs wait 0f1e2d3c -v   # one, each poll shown
    """,
)
def wait_cmd(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...", help="Job ids.")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait in all.", min=1)
    ] = None,
    json_out: JsonOpt = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Collect recorded jobs into the files they were planned for (all, or those named)."""
    from imggen.console import UI
    from imggen.errors import ExitCode
    from imggen.files.ledger import Ledger
    from imggen.run import collect

    env = _env(ctx)
    ui = UI(env, quiet=quiet, verbose=verbose)
    entries = _not_batches(ui, collect.chosen(Ledger(env.environ), ids or [], waiting_only=True))
    if not entries:
        ui.info("no recorded jobs to wait on")
    worst, docs = 0, []

    def show(saved: Any) -> None:
        if not json_out and saved.path != "-":
            env.out.write(saved.path + "\n")
            env.out.flush()

    for outcome in collect.wait_many(env, ui, entries, timeout=timeout, on_saved=show):
        docs.append(outcome.as_json())
        for saved in outcome.saved if not json_out else []:
            ui.saved(saved.path, saved.pixels, saved.bytes)
        if outcome.error is not None:
            ui.error(outcome.error.message, outcome.error.hint)
            worst = max(worst, int(outcome.error.exit_code))
    if json_out:
        env.out.write(json.dumps(docs, ensure_ascii=False) + "\n")
    if worst:
        raise typer.Exit(ExitCode(worst))


@app.command(
    "cancel",
    cls=Command,
    epilog="""
        imggen jobs list              # find the id
        imggen jobs cancel 0f1e2d3c   # cancel it at the provider
    """,
)
def cancel_cmd(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
) -> None:
    """Cancel a recorded job at its provider, and forget it."""
    from imggen.console import UI
    from imggen.files.ledger import Ledger
    from imggen.run import collect

    env = _env(ctx)
    entry = collect.chosen(Ledger(env.environ), [job_id], waiting_only=False)[0]
    from imggen.batch import provider

    if provider.is_batch(entry):  # batch --provider-batch: cancelled the batch API's way
        UI(env).info(provider.cancel(env, UI(env), entry))
        return
    UI(env).info(collect.cancel(env, UI(env), entry))


def _not_batches(ui: Any, entries: list[Any]) -> list[Any]:
    """The entries `jobs wait` collects: a provider batch (batch --provider-batch) is
    collected by its own batch command, which this names."""
    from imggen.batch import provider

    for e in entries:
        if provider.is_batch(e):
            ui.info(f"batch {e.id} is collected by running `{provider.collected_by(e)}` again")
    return [e for e in entries if not provider.is_batch(e)]
