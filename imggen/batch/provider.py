"""`batch --provider-batch`: a manifest's jobs sent to the gateway's own batch API (OpenAI's
Batch API, provider_openai.py; Gemini's batchGenerateContent, provider_gemini.py): at the batch
price, about half the list price, finished within 24 hours. One submission, recorded (results
file and ledger) before anything waits on it; a re-run polls the recorded batch instead of
sending another, and once it is done each job's images are saved as a normal run saves them
(through run_many, a Replay client answering each call from the batch's answers).

--max-cost counts the batch's estimate at the batch price before anything is sent, and refuses
the whole submission when it would pass the budget (a batch is paid whole, it cannot be
stopped halfway as a run of single requests is)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from imggen import prices
from imggen.batch import run as b
from imggen.batch.plan import Task
from imggen.console import UI
from imggen.env import Env
from imggen.errors import GatewayFailed, GatewayRefused, ImggenError, UsageError
from imggen.files.ledger import Entry, Ledger, request_key
from imggen.job import HttpCall, JobState, Reply, SavedImage


class Answers(Protocol):
    def answer(self, custom_id: str, where: str) -> Any: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """One gateway's batch API, for one run."""

    name: str  # the ledger's provider name
    label: str  # as users know it: "OpenAI's Batch API"
    folder: Callable[[], Path]  # the run's temp folder, made when first asked for

    def refuse(self, task: Task, first: Task) -> str | None: ...

    def submit(self, client: Any, lines: list[tuple[str, HttpCall]], title: str) -> str: ...

    def paths(self, batch_id: str) -> tuple[str, str]: ...

    def poll(self, client: Any, entry: Entry) -> tuple[JobState, str]: ...

    def answers(self, client: Any, entry: Entry) -> Answers: ...


PROVIDERS = ("openai-batch", "gemini-batch")  # the ledger's names of provider batches


def is_batch(entry: Entry) -> bool:
    """Whether a ledger entry is a provider batch (collected by its batch command)."""
    return entry.provider in PROVIDERS


def collected_by(entry: Entry) -> str:
    """The command that collects a recorded provider batch."""
    manifest = entry.request.get("manifest") or "MANIFEST"
    return f"imggen batch {manifest} --provider-batch"


def cancel(env: Env, ui: UI, entry: Entry) -> str:
    """Cancel a recorded provider batch at the gateway and forget it; what happened, in words.
    A re-run of its manifest then sends a new batch."""
    from imggen.run import collect, core

    ledger = Ledger(env.environ)
    if not entry.resubmit:
        s = collect.settings_for(entry, env)
        with core.make_client(s, env, ui, core.RunOptions(timeout=60.0)) as client:
            client.ask(HttpCall("POST", entry.cancel))
    ledger.remove(entry.key)
    return f"cancelled batch {entry.id}; running `{collected_by(entry)}` sends a new one"


def priced(tasks: list[Task]) -> list[Task]:
    """The tasks as a provider batch sends them: estimated at the batch price."""
    return [dataclasses.replace(t, plan=dataclasses.replace(t.plan, batch=True)) for t in tasks]


def run(
    tasks: list[Task],
    env: Env,
    ui: UI,
    *,
    results: b.ResultsFile,
    no_wait: bool,
    width: int,
    on_saved: Callable[[SavedImage], None] | None,
    max_cost: float | None = None,
) -> b.Summary:
    todo = [t for t in tasks if t.action == "run"]
    if not todo:
        return b.run_many(tasks, env, ui, jobs=width, results=results, on_saved=on_saved)
    backend = _backend(todo)
    scratch = _Folder()
    backend.folder = scratch.path  # what the batch's answers are read into
    members = {_key(t, k, c): f"{t.row.number}-{k}" for t in todo for k, c in _calls(t)}
    ledger = Ledger(env.environ)
    entry = _recorded(ledger, backend.name, todo[0].settings.base_url, set(members))
    if entry is None:
        over = _over_budget(todo, max_cost, ui)
        if over:
            ui.error(over, hint="raise --max-cost, or send a part (--shard I/N) at a time")
            return _refused(tasks, todo, "over --max-cost: nothing was sent", results)
    limit = todo[0].opts.timeout or 24 * 3600.0
    key = todo[0].settings.api_key or ""
    from imggen.wire.client import Client

    client = Client(
        **todo[0].settings.connection(),
        transport=env.transport,
        limits=env.limits,
        deadline=time.monotonic() + limit,
        on_retry=ui.retry,
    )
    try:
        if entry is None:
            entry = _submit(client, backend, ledger, todo, members, results)
        else:
            ui.info(f"collecting batch {entry.id} ({backend.label}), submitted earlier")
        if no_wait:
            return _submitted(todo, tasks, entry, ui, backend.label)
        _wait(client, backend, entry, env, ui, limit, key)
        answers = backend.answers(client, entry)
        try:
            summary = b.run_many(
                tasks,
                env,
                ui,
                jobs=width,
                results=results,
                on_saved=on_saved,
                client_of=lambda task, c: Replay(c, answers, task, key),
            )
        finally:
            answers.close()
    finally:
        client.close()
        scratch.cleanup()
    # every answer delivered (images saved, refusals reported): a re-run submits what failed
    ledger.remove(entry.key)
    return summary


class _Folder:
    """A temp folder made when first asked for: a run killed while it only waits on its batch
    leaves none behind."""

    def __init__(self) -> None:
        self._made: Path | None = None
        self._lock = threading.Lock()

    def path(self) -> Path:
        with self._lock:
            if self._made is None:
                self._made = Path(tempfile.mkdtemp(prefix="imggen-batch-"))
            return self._made

    def cleanup(self) -> None:
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)


def _backend(todo: list[Task]) -> Backend:
    """The batch API of the jobs' gateway, once every job is checked to fit one batch."""
    from imggen.batch.provider_gemini import GeminiBatch
    from imggen.batch.provider_openai import OpenAIBatch

    first = todo[0]
    google = first.plan.gateway.dialect == "google"
    backend: Backend = GeminiBatch() if google else OpenAIBatch()
    for t in todo:
        where = t.row.where
        if (t.settings.profile, t.settings.base_url) != (
            first.settings.profile,
            first.settings.base_url,
        ):
            raise UsageError(
                f"{where}: --provider-batch sends one manifest to one gateway; this job uses "
                f"profile {t.settings.profile}, another {first.settings.profile}",
                hint="split the manifest by profile, or drop --provider-batch",
            )
        why = backend.refuse(t, first)
        if why:
            raise UsageError(f"{where}: {why}", hint="drop --provider-batch for this manifest")
        if any(c.files or c.form or c.stream or c.json is None for c in t.plan.calls):
            raise UsageError(
                f"{where}: a batch line is one JSON request; this job streams or uploads files",
                hint="drop --stream/--partials for --provider-batch",
            )
    return backend


def _calls(task: Task) -> list[tuple[int, HttpCall]]:
    return list(enumerate(task.plan.calls))


def _key(task: Task, k: int, call: HttpCall) -> str:
    return request_key(task.settings.base_url, task.plan.gateway.model, call, k)


def _recorded(ledger: Ledger, provider: str, base_url: str, wanted: set[str]) -> Entry | None:
    """A recorded batch on this gateway holding every request wanted (a re-run, or one after
    some jobs were saved), and not given up on."""
    for e in ledger.all():
        held = set(e.request.get("members", {}))
        if e.provider == provider and e.base_url == base_url and not e.resubmit and wanted <= held:
            return e
    return None


def _over_budget(todo: list[Task], max_cost: float | None, ui: UI) -> str:
    """Why the batch would pass --max-cost (its estimate at the batch price), else "". Images
    of no known price are not counted, as --max-cost counts none for them in a run of single
    requests either: said once, before sending."""
    if max_cost is None:
        return ""
    from imggen.batch.budget import money
    from imggen.run import record

    cost = prices.Sum.of([record.estimate(t.plan, t.job) for t in todo])
    if cost.unknown:
        models = sorted(
            {t.plan.gateway.model for t in todo if not record.estimate(t.plan, t.job).known}
        )
        ui.warn(
            f"--max-cost: imggen knows no price for {cost.unknown} of the batch's "
            f"{cost.images} images ({', '.join(models)}), so they are not counted"
        )
    if cost.total is None or cost.total <= max_cost + 1e-9:
        return ""
    cur = f" {cost.currency}" if cost.currency else ""
    return (
        f"--max-cost {money(max_cost)}: the batch would cost about {money(cost.total)}{cur} "
        f"at the batch price ({cost.images} images); nothing was sent"
    )


def _refused(tasks: list[Task], todo: list[Task], why: str, results: b.ResultsFile) -> b.Summary:
    """The whole submission refused at the budget: each job recorded skipped, exit 8."""
    done = [
        b.JobResult(t, "skipped", paths=[str(p) for p in t.existing])
        for t in tasks
        if t.action == "skip"
    ]
    done += [b.JobResult(t, "skipped", note=why) for t in todo]
    for r in done:
        results.write(r.record())
    return b.Summary(done, len(tasks), 0.0, over_budget=len(todo))


def _submit(
    client: Any,
    backend: Backend,
    ledger: Ledger,
    todo: list[Task],
    members: dict[str, str],
    results: b.ResultsFile,
) -> Entry:
    """Send the batch and record it, before anything waits on it."""
    lines = [(f"{t.row.number}-{k}", c) for t in todo for k, c in _calls(t)]
    title = f"imggen {todo[0].row.where.split(':', 1)[0]}"[:128]
    batch_id = backend.submit(client, lines, title)
    gw = todo[0].plan.gateway
    made_by = todo[0].opts.made_by
    manifest = str(made_by[0]) if made_by else ""
    poll, cancel = backend.paths(batch_id)
    entry = Entry(
        key=request_key(gw.base_url, gw.model, HttpCall("POST", poll, json=members), 0),
        id=batch_id,
        provider=backend.name,
        profile=gw.profile,
        base_url=todo[0].settings.base_url,
        model=gw.model,
        poll=poll,
        cancel=cancel,
        images=sum(c.images for t in todo for c in t.plan.calls),
        prompt=f"{len(todo)} jobs of {Path(manifest).name or 'a manifest'}",
        request={"members": members, "manifest": manifest},
    )
    ledger.put(entry)
    for t in todo:
        results.write(
            {
                "job": t.row.number,
                "where": t.row.where,
                "status": "submitted",
                "output": t.row.output,
                "batch_id": entry.id,
                "provider": backend.name,
            }
        )
    return entry


def _submitted(todo: list[Task], tasks: list[Task], entry: Entry, ui: UI, label: str) -> b.Summary:
    done = [
        b.JobResult(t, "skipped", paths=[str(p) for p in t.existing])
        for t in tasks
        if t.action == "skip"
    ]
    done += [b.JobResult(t, "submitted", job_ids=[entry.id]) for t in todo]
    ui.info(
        f"batch {entry.id}: {len(todo)} jobs submitted to {label}; run the same command again "
        "to collect"
    )
    return b.Summary(done, len(tasks), 0.0)


def _wait(
    client: Any, backend: Backend, entry: Entry, env: Env, ui: UI, limit: float, key: str
) -> None:
    """The batch, polled (backing off to a minute between polls) until it is over. What the
    gateway says of it is shown without the key."""
    from imggen.run.jobs import poll_loop
    from imggen.wire import redact

    def poll() -> JobState:
        state, said = backend.poll(client, entry)
        ui.debug(redact.text(f"batch {entry.id}: {said}", key))
        return state

    limits = dataclasses.replace(env.limits, poll_cap=max(env.limits.poll_cap, 60.0))
    out = poll_loop(
        {entry.key: poll},
        limits=limits,
        deadline=time.monotonic() + limit,
        first=0.0,
        late=lambda k: GatewayFailed(
            f"batch {entry.id} is not done yet",
            hint="run the same command again later to collect it",
        ),
        stop=client.close,
    )
    result = out[entry.key]
    if isinstance(result, GatewayRefused) and result.status in (404, 410):
        # the gateway no longer knows it (deleted, or kept past its retention): gone for good
        Ledger(env.environ).update(entry.key, state="failed", error=result.message)
        raise GatewayRefused(
            f"batch {entry.id} is gone from the gateway: {result.message}",
            hint="running it again submits a new batch",
            status=result.status,
        )
    if isinstance(result, ImggenError):
        raise result
    if result.state != "done":
        Ledger(env.environ).update(entry.key, state="failed", error=result.error)
        raise GatewayFailed(
            redact.text(f"batch {entry.id}: {result.error}", key),
            hint="running it again submits a new batch",
        )


class Replay:
    """A client for one task whose calls the batch already answered: send() gives each call's
    answer (parsed as the dialect parses a reply, its reported cost at the batch price) or
    raises the error it stands for; anything else goes to the real client."""

    def __init__(self, client: Any, answers: Answers, task: Task, key: str = "") -> None:
        self._client, self._answers, self._task, self._key = client, answers, task, key
        self._next = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send(self, call: HttpCall, reader: Any, spill: Any) -> Reply:
        with self._lock:
            k, self._next = self._next, self._next + 1
        from imggen.wire import redact

        try:
            body = self._answers.answer(f"{self._task.row.number}-{k}", self._task.row.where)
            reply: Reply = reader.parse(body)
        except ImggenError as exc:  # the gateway's words, as any reply's: without the key
            raise redact.error(exc, self._key) from None
        reply.text = redact.text(reply.text, self._key)
        reply.usage = discounted(reply.usage)
        return reply


def discounted(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """A reply's usage with the cost it reports (usage.cost, at the list price, as a gateway
    reports it for single requests) at the batch price; any other usage as it came."""
    from imggen.run.outcome import usable

    if not usage or usage.get("cost") is None:
        return usage
    value = usable(usage["cost"])
    if value is None:
        return usage  # not an amount: reported as such by the run's accounting
    return {**usage, "cost": prices.batch_cost(value)}
