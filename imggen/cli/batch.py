"""`imggen batch MANIFEST`: manifest -> checked tasks -> batch.run_many(); saved paths on
stdout, a line per job and a summary table on stderr, the worst job's exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from imggen.cli.options import Flags, checked, takes
from imggen.options import RUN_PANEL

EXAMPLES = {
    "batch": """
        imggen batch assets.toml              # 4 jobs at a time
        imggen batch assets.toml --dry-run    # what would run or be skipped, and why
        imggen batch assets.toml -j 8 --shard 2/3 --results out/results.jsonl
    """,
}

Jobs = Annotated[
    int,
    typer.Option(
        "-j", "--jobs", metavar="N", help="Jobs to run at a time.", rich_help_panel=RUN_PANEL
    ),
]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Run the I-th of N stable slices (by output path), for a CI matrix.",
        rich_help_panel=RUN_PANEL,
    ),
]
Results = Annotated[
    Path | None,
    typer.Option(
        "--results",
        metavar="FILE",
        help="Results file (JSONL) [MANIFEST.results.jsonl beside the manifest].",
        rich_help_panel=RUN_PANEL,
    ),
]
Anywhere = Annotated[
    bool,
    typer.Option(
        "--outputs-anywhere",
        help="Let outputs lie outside the manifest's folder (absolute, ../, ~).",
        rich_help_panel=RUN_PANEL,
    ),
]
FailFast = Annotated[
    bool,
    typer.Option(
        "--fail-fast", help="Start no new job after one fails.", rich_help_panel=RUN_PANEL
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        metavar="AMOUNT",
        help="Start no job that would take this run's cost past AMOUNT: what the gateway "
        "reports (its currency: USD on OpenRouter), else imggen's list-price estimate. The "
        "jobs left are recorded skipped and the run exits 8; running it again resumes them. A "
        "reported cost that is not an amount (NaN, negative) stops the run too. With "
        "--provider-batch: the batch's estimate at the batch price, before anything is sent; "
        "over the budget, nothing is sent (exit 8).",
        rich_help_panel=RUN_PANEL,
    ),
]
ProviderBatch = Annotated[
    bool,
    typer.Option(
        "--provider-batch",
        help="Send the jobs as one batch to the gateway's own batch API (OpenAI's Batch API, "
        "Gemini's batch mode: half the price, done within 24 hours); a re-run collects it.",
        rich_help_panel=RUN_PANEL,
    ),
]
Report = Annotated[
    Path | None,
    typer.Option(
        "--report",
        metavar="FILE.html",
        help="Write a gallery of the run: self-contained HTML pages of 200 jobs each (with "
        "--shard I/N, FILE-I-of-N.html). Run without --shard after the shards, it shows them "
        "all, with what each shard recorded.",
        rich_help_panel=RUN_PANEL,
    ),
]


@takes("batch")
def batch(
    ctx: typer.Context,
    manifest: Annotated[
        Path,
        typer.Argument(
            metavar="MANIFEST",
            help="TOML ([defaults] + [[jobs]]) or JSONL (one job a line) manifest.",
        ),
    ],
    jobs: Jobs = 4,
    shard: Shard = None,
    results: Results = None,
    fail_fast: FailFast = False,
    max_cost: MaxCost = None,
    report: Report = None,
    outputs_anywhere: Anywhere = False,
    provider_batch: ProviderBatch = False,
    *,
    flags: Flags,
) -> None:
    """Run the jobs of a manifest, -j at a time.

    A re-run skips every job whose images were already made from the same request. Image
    options given here apply to every job that does not set them itself.
    """
    from imggen.batch import manifest as mf
    from imggen.batch.lock import ManifestLock
    from imggen.console import UI
    from imggen.env import Env
    from imggen.errors import UsageError

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env, quiet=flags["quiet"], verbose=flags["verbose"])
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be a whole number of at least 1")
    if max_cost is not None and not 0 < max_cost < float("inf"):
        raise UsageError(f"--max-cost {max_cost}: give an amount above 0, for example 2.50")
    part = mf.parse_shard(shard) if shard else None
    m = mf.load(manifest)
    with contextlib.ExitStack() as held:
        if not flags["dry_run"]:  # planned under the lock: it sees what a run before saved
            held.enter_context(ManifestLock(m.path, shared=part is not None))
        how = _How(
            part, results, jobs, fail_fast, outputs_anywhere, max_cost, report, provider_batch
        )
        _run(env, ui, m, how, flags)


@dataclasses.dataclass(frozen=True)
class _How:
    """The batch options that shape a run, beyond the image options in `flags`."""

    part: tuple[int, int] | None
    results: Path | None
    jobs: int
    fail_fast: bool
    outputs_anywhere: bool
    max_cost: float | None
    report: Path | None
    provider_batch: bool = False


def _run(env: Any, ui: Any, m: Any, how: _How, flags: Flags) -> None:
    """Plan (under the manifest's lock), then run with the results file locked too."""
    from imggen.batch import run as b

    part, max_cost = how.part, how.max_cost
    todo = _tasks(env, ui, m, how, flags)
    if flags["dry_run"]:
        _dry_run(env, ui, todo, flags["json"])
        return
    stem = m.path.stem + (f".results-{part[0]}-of-{part[1]}" if part else ".results")
    results_path = how.results or m.path.with_name(stem + ".jsonl")
    _check_writes(m.path, results_path, how, part, force=flags["force"])
    results_file = b.ResultsFile(results_path)
    try:
        if how.provider_batch:
            from imggen.batch import provider

            summary = provider.run(
                todo,
                env,
                ui,
                results=results_file,
                no_wait=bool(flags["no_wait"]),
                width=how.jobs,
                on_saved=_printer(env, quiet=flags["json"]),
                max_cost=max_cost,
            )
        else:
            summary = b.run_many(
                todo,
                env,
                ui,
                jobs=how.jobs,
                results=results_file,
                fail_fast=how.fail_fast,
                on_saved=_printer(env, quiet=flags["json"]),
                max_cost=max_cost,
                share=part[1] if part else 1,
            )
    finally:
        results_file.close()
    _summarise(ui, summary, results_file.path)
    if how.report:
        _gallery(ui, summary, m.path, how.report, part)
    if max_cost is not None and b.counted(summary.results) is None and summary.count("saved"):
        ui.warn(
            "--max-cost: the gateway reported no cost for any job and imggen knows no list "
            "price for its models, so none was counted"
        )
    if flags["json"]:
        from imggen.console import safe_json

        env.out.write(
            safe_json(json.dumps(_document(m, results_file.path, summary), ensure_ascii=False))
            + "\n"
        )
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def _tasks(env: Any, ui: Any, m: Any, how: _How, flags: Flags) -> list[Any]:
    """The manifest's jobs planned with the batch command's flags, this shard's."""
    from imggen.batch import manifest as mf
    from imggen.batch import plan

    # --no-wait with --provider-batch is the batch's, not each job's
    given = checked(flags, skip=("no_wait",) if how.provider_batch else ())
    if how.provider_batch and "stream" not in given.values:
        from imggen.options import flag_layer

        # a batch holds whole replies: a gateway's streaming default does not apply
        given = flag_layer({**given.values, "stream": False})
    # Every machine of a CI matrix checks the whole manifest, so a bad job fails all shards
    # alike instead of only the one it lands in.
    todo = plan.build(
        m,
        env,
        flags=given,
        force=flags["force"],
        need_key=not flags["dry_run"],
        anywhere=how.outputs_anywhere,
    )
    for warning in dict.fromkeys(w for t in todo for w in t.settings.warnings):
        ui.warn(warning)  # e.g. a readable config file holding an inline key, once each
    if how.part:
        todo = [t for t in todo if mf.in_shard(t.row, *how.part)]
    if how.provider_batch:
        from imggen.batch import provider

        todo = provider.priced(todo)  # estimated, and recorded, at the batch price
    return todo


def _check_writes(manifest: Path, results: Path, how: _How, part: Any, *, force: bool) -> None:
    """Before anything is sent: the results file and the gallery are imggen's own to replace
    (not the manifest, not a link, not a file someone else made unless --force)."""
    from imggen.batch import report as gallery
    from imggen.batch.run import ours
    from imggen.files import owned

    owned.check(results, "results file", ours=ours, force=force, protect=(manifest,))
    if how.report:
        page = gallery.page_path(how.report, part)
        owned.check(page, "report", ours=gallery.ours, force=force, protect=(manifest, results))


def _printer(env: Any, *, quiet: bool) -> Any:
    """Saved paths on stdout as they land, one line each, whole lines from any worker."""
    lock = threading.Lock()

    def show(saved: Any) -> None:
        if not quiet:
            with lock:
                env.out.write(saved.path + "\n")
                env.out.flush()

    return show


def _gallery(ui: Any, summary: Any, manifest: Path, report: Path, part: Any) -> None:
    from imggen.batch import report as gallery
    from imggen.console import shown

    path = gallery.page_path(report, part)
    # unsharded, after shards: one gallery of them all, with what each shard recorded
    earlier = gallery.shard_records(manifest) if part is None else None
    pages = gallery.write(path, summary, manifest, part, earlier)
    more = f" ({len(pages)} pages)" if len(pages) > 1 else ""
    ui.info(f"gallery in {shown(str(path))}{more}")


def _document(m: Any, results_path: Path, summary: Any) -> dict[str, Any]:
    return {
        "manifest": str(m.path),
        "results_file": str(results_path),
        "jobs": [r.record() for r in summary.results],
        "saved": summary.count("saved"),
        "skipped": summary.count("skipped"),
        "failed": summary.count("failed"),
        **({"submitted": n} if (n := summary.count("submitted")) else {}),
        "not_started": summary.not_started,
        "over_budget": summary.over_budget,
        "cost": summary.cost,
        "currency": summary.currency,
        "exit_code": summary.exit_code,
    }


SUMMARY_ROWS = 100  # a table of 10,000 rows helps no one; the results file has them all


def _listed(results: list[Any]) -> list[Any]:
    """The jobs the summary table shows: all, or up to SUMMARY_ROWS, failed ones first."""
    if len(results) <= SUMMARY_ROWS:
        return results
    failed = [r for r in results if r.status == "failed"][:SUMMARY_ROWS]
    rest = [r for r in results if r.status != "failed"][: SUMMARY_ROWS - len(failed)]
    return sorted(failed + rest, key=lambda r: r.task.row.number)


def _summarise(ui: Any, summary: Any, results_path: Path) -> None:
    from imggen.batch.budget import money
    from imggen.console import shown

    costs = summary.cost is not None  # a cost column only where the gateway reports one
    rows = []
    listed = _listed(summary.results)
    for r in listed:
        note = r.reason if r.status == "skipped" else ""
        if r.error is not None:
            note = f"exit {int(r.error.exit_code)}: {r.error.message}"
        paths = ", ".join(shown(p) for p in r.paths) or shown(str(r.task.plan.targets[0].path))
        row = [str(r.task.row.number), paths, r.status, r.task.plan.gateway.model]
        row += [str(r.retries), f"{r.seconds:.1f}"]
        if costs:
            row.append("" if r.cost is None else money(r.cost, r.currency))
        rows.append([*row, note[:120]])
    columns = ["job", "output", "status", "model", "retries", "seconds"]
    if costs:
        columns.append("cost")
        rows.append(["", "total", "", "", "", "", money(summary.cost, summary.currency), ""])
    ui.summary("imggen batch", [*columns, "note"], rows)
    if len(listed) < len(summary.results):
        ui.info(
            f"the table shows {len(listed)} of {len(summary.results)} jobs (failed ones "
            f"first); the results file has every one"
        )
    counts = ", ".join(
        f"{n} {status}"
        for status in ("saved", "submitted", "skipped", "failed")
        if (n := summary.count(status))
    )
    waiting = f", {summary.not_started} not started (--fail-fast)" if summary.not_started else ""
    if summary.over_budget:
        waiting += f" ({summary.over_budget} not started: --max-cost reached; a re-run resumes)"
    spent = f"; cost {money(summary.cost, summary.currency)}" if costs else ""
    ui.info(
        f"{summary.total} jobs: {counts or 'none run'}{waiting} in {summary.seconds:.1f} s"
        f"{spent}; results in {shown(str(results_path))}"
    )


def _dry_run(env: Any, ui: Any, todo: list[Any], as_json: bool) -> None:
    """What would run and what would be skipped, with why; on stdout. Nothing is sent."""
    from imggen import prices
    from imggen.run import record

    known: dict[tuple[Any, ...], Any] = {}  # 10,000 jobs are a few kinds of request

    def guess(t: Any) -> Any:
        kind = (t.plan.gateway.model, t.job.count, t.job.quality, t.plan.requested.pixels)
        if kind not in known:
            known[kind] = record.estimate(t.plan, t.job)
        return known[kind]

    guesses = [guess(t) for t in todo]
    cost = prices.Sum.of([g for g, t in zip(guesses, todo, strict=True) if t.action == "run"])
    if as_json:
        doc = [
            {
                "job": t.row.number,
                "where": t.row.where,
                "action": t.action,
                "reason": t.reason,
                "outputs": [str(x.path) for x in t.plan.targets],
                "model": t.plan.gateway.model,
                "profile": t.plan.gateway.profile,
                "requests": [
                    c.describe(t.settings.base_url, t.settings.auth) for c in t.plan.calls
                ],
                "estimate": guesses[i].as_json(),
            }
            for i, t in enumerate(todo)
        ]
        from imggen.console import safe_json

        total = {"total": cost.total, "currency": cost.currency, "unknown": cost.unknown}
        env.out.write(
            safe_json(json.dumps({"jobs": doc, "estimate": total}, ensure_ascii=False, indent=2))
            + "\n"
        )
    else:
        show = _shower()
        lines = []
        for t in todo:
            outputs = ", ".join(show(str(x.path)) for x in t.plan.targets)
            lines.append(f"{t.action}\t{outputs}\t{t.plan.gateway.model}\t{t.reason}\n")
        env.out.write("".join(lines))  # one write, not 10,000
    counts = {a: sum(1 for t in todo if t.action == a) for a in ("run", "skip", "refuse")}
    ui.info(
        f"{len(todo)} jobs: {counts['run']} would run, {counts['skip']} would be skipped"
        + (f", {counts['refuse']} would fail (file exists)" if counts["refuse"] else "")
        + "; nothing was sent"
    )
    ui.info(f"cost of the jobs that would run: {cost.shown()}")


def _shower() -> Callable[[str], str]:
    """console.shown for the paths of many jobs: the relative form of each folder worked out
    once (10,000 outputs share a few folders), the same text as shown() gives."""
    import os

    from imggen.console import shown

    folders: dict[str, str | None] = {}

    def show(path: str) -> str:
        head, name = os.path.split(path)
        if not head or not name or name.startswith(".."):
            return shown(path)
        if head not in folders:
            try:
                folders[head] = os.path.relpath(head)
            except ValueError:  # another drive (Windows): shown gives the path as it is
                folders[head] = None
        where = folders[head]
        if where is None or where.startswith(".."):
            return path
        return name if where == "." else os.path.join(where, name)

    return show
