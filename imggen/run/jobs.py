"""The third kind of call: a job. Each submit is sent once and its ticket recorded in the
ledger (and handed to the caller, for batch's results file) before any waiting; a recorded job
of the same request is polled instead of submitted again. One loop waits on every job, with a
small bounded pool doing the polls and downloads: hundreds of jobs, a handful of threads. Each
result is downloaded the moment its job is done, since its URL expires.

Provider specifics stay in the dialect (dialects/jobs/): this module knows only the JobDialect
shape (build, accepted, poll, read, result, cancel, parse) and its cadence."""

from __future__ import annotations

import dataclasses
import functools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imggen.console import UI
from imggen.errors import (
    ContentFiltered,
    DeadlineExceeded,
    GatewayFailed,
    GatewayRefused,
    ImggenError,
    LinkExpired,
)
from imggen.files import kept, save
from imggen.files.ledger import Entry, Ledger, request_key
from imggen.job import HttpCall, ImageInput, Job, JobState, Payload, Reply, SavedImage
from imggen.limits import Limits
from imggen.run.polling import poll_loop as poll_loop  # batch/provider.py waits with it

if TYPE_CHECKING:
    from imggen.env import Env
    from imggen.run.core import Plan, RunOptions
    from imggen.run.outcome import Outcome
    from imggen.run.send import Result

Submitted = Callable[[Entry], None]

# What `jobs wait`'s poll loop last heard of a job that is over, by ledger key: the run that
# then collects it starts from that instead of asking again (run/collect.py sets it)
HEARD: dict[str, JobState] = {}


@dataclass
class JobContext:
    """What a run of job calls needs besides the plan: the ledger, whether to wait, whom to
    tell of each submit, and (for `jobs wait`) the recorded jobs to collect."""

    ledger: Ledger
    no_wait: bool = False
    on_submitted: Submitted | None = None
    resume: list[Entry] = field(default_factory=list)
    prompt: str = ""  # recorded with each job, for `imggen jobs list` and provenance
    format: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # core.recorded(job, opts)
    entries: list[Entry] = field(default_factory=list)  # this run's jobs, in call order
    collected: list[str] = field(default_factory=list)  # keys whose images arrived
    polls: int = 0
    watch: bool = False  # follow the provider's status stream (one job waited on) while it works
    made: dict[int, dict[str, str]] = field(default_factory=dict)  # image index -> its job
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _here: threading.local = field(default_factory=threading.local, repr=False)

    def polled(self) -> None:
        with self._lock:
            self.polls += 1

    def stamp(self, record: dict[str, Any], index: int) -> dict[str, Any]:
        """An image's record, naming the provider's job ({provider, id}) it is being
        received from in this thread (noted for its index, for the history)."""
        made: dict[str, str] | None = getattr(self._here, "job", None)
        if made is not None:
            with self._lock:
                self.made[index] = made
            record["job"] = made
        return record

    def named(self, saved: SavedImage, index: int | None) -> SavedImage:
        """A saved image with its job as PROVIDER:ID, for the history."""
        made = self.made.get(index) if index is not None else None
        return dataclasses.replace(saved, job=f"{made['provider']}:{made['id']}") if made else saved

    def finish(self, outcome: Outcome) -> None:
        """Forget the collected jobs (their images are saved, or kept and named); report
        every job in the outcome, for --json and --no-wait."""
        for key in self.collected:
            self.ledger.remove(key)
        gone = set(self.collected)
        for e in self.entries:
            state = "collected" if e.key in gone else (self.ledger.get(e.key) or e).state
            outcome.jobs.append(
                {"id": e.id, "provider": e.provider, "poll": e.poll, "state": state, "key": e.key}
            )
        outcome.polls = self.polls


def context(
    job: Job,
    env: Env,
    opts: RunOptions,
    on_submitted: Submitted | None,
    resume: Sequence[Entry],
) -> JobContext:
    """The context of one run of a job provider's plan."""
    return JobContext(
        Ledger(env.environ),
        no_wait=opts.no_wait,
        on_submitted=on_submitted,
        resume=list(resume),
        prompt=job.prompt,
        format=job.format,
        request=recorded(job, opts),
    )


def recorded(job: Job, opts: RunOptions) -> dict[str, Any]:
    """What a job ledger keeps of the request, so that `imggen jobs wait` saves the images
    with the same record (and request digest) as the run that submitted them would have."""
    from imggen.options import DIGEST

    def image(i: ImageInput | None) -> dict[str, Any] | None:
        return None if i is None else {"source": i.source, "url": i.url, "sha256": i.sha256}

    return {
        **{name: getattr(job, name) for name in DIGEST if name != "params"},
        "params": dict(job.params),
        "inputs": [image(i) for i in job.inputs],
        "refs": [image(i) for i in job.refs],
        "mask": image(job.mask),
        "made_by": [str(opts.made_by[0]), opts.made_by[1]] if opts.made_by else None,
    }


def unrecorded(prompt: str, doc: dict[str, Any]) -> tuple[Job, tuple[Path, str] | None]:
    """The Job (input images by name and digest only) and batch origin a ledger recorded."""
    from imggen.options import DIGEST

    def image(d: dict[str, Any] | None) -> ImageInput | None:
        return None if not d else ImageInput(d["source"], url=d["url"], sha256=d["sha256"])

    fields = {name: doc[name] for name in DIGEST if name in doc and name != "params"}
    job = Job(
        prompt,
        params=doc.get("params") or {},
        inputs=tuple(i for i in map(image, doc.get("inputs") or []) if i),
        refs=tuple(i for i in map(image, doc.get("refs") or []) if i),
        mask=image(doc.get("mask")),
        **fields,
    )
    made = doc.get("made_by")
    return job, (Path(made[0]), made[1]) if made else None


def send_jobs(
    client: Any, plan: Plan, landing: save.Landing, ui: UI, ctx: JobContext, deadline: float
) -> list[Result]:
    """Submit (or find recorded) every job of the plan, then, unless --no-wait, wait on them
    all and fetch their images. Results in call order, as send.send_all gives them."""
    ctx.entries = ctx.resume or submit_all(client, plan, ui, ctx)
    if ctx.no_wait:
        return []
    ui.describe(f"{plan.gateway.model}: waiting for {len(ctx.entries)} job(s)")
    # one job just submitted: follow its status stream (hundreds would hold as many
    # connections; a recorded one may be long done, and `jobs wait` has polled it already)
    ctx.watch = len(ctx.entries) == 1 and not ctx.resume
    done = wait_all(
        client, plan.dialect, ctx, ui, landing=landing, limits=client.limits, deadline=deadline
    )
    results: list[Result] = []
    for entry in ctx.entries:
        result = done[entry.key]
        if isinstance(result, ImggenError):
            results.append(result)
            continue
        results.append(result)
        if not result[2]:  # every image arrived: forget the job once they are saved
            ctx.collected.append(entry.key)
    return results


def submit_all(client: Any, plan: Plan, ui: UI, ctx: JobContext) -> list[Entry]:
    """The plan's jobs: those recorded for the same request (not given up on by the provider)
    as they are, the others submitted once each and recorded before anything waits on them."""
    gw, run = plan.gateway, uuid.uuid4().hex[:12]
    shown_targets = [[str(t.path) if t.path else "-", t.exact, t.unique] for t in plan.targets]
    entries, first = [], 0
    for index, call in enumerate(plan.calls):
        key = request_key(gw.base_url, gw.model, call, index)
        found = ctx.ledger.get(key)
        if found is not None and not found.resubmit:
            ui.info(f"collecting {found.provider} job {found.id}, submitted earlier")
            found.first, found.images = first, call.images
            entries.append(found)
            first += call.images
            continue
        dialect: Any = plan.dialect  # a JobDialect (dialects/jobs/base.py)
        ticket = dialect.accepted(client.submit(_uploaded(client, dialect, call, ui)))
        entry = Entry(
            key=key,
            id=ticket.id,
            provider=plan.dialect.name,
            profile=gw.profile,
            base_url=gw.base_url,
            model=gw.model,
            poll=ticket.poll,
            result=ticket.result,
            cancel=ticket.cancel,
            images=call.images,
            first=first,
            run=run,
            targets=shown_targets,
            prompt=ctx.prompt,
            format=ctx.format,
            request=ctx.request,
        )
        ctx.ledger.put(entry)  # before any wait: a kill from here on loses nothing
        ui.debug(f"{entry.provider} job {entry.id} submitted; poll {entry.poll}")
        if ctx.on_submitted:
            ctx.on_submitted(entry)
        entries.append(entry)
        first += call.images
    return entries


def _uploaded(client: Any, dialect: Any, call: HttpCall, ui: UI) -> HttpCall:
    """The submit call with its large inputs uploaded first (its `files`, each named by the
    placeholder its URL replaces in the body), or as it is when it has none."""
    urls: dict[str, str] = {}
    for part in call.files:
        ui.debug(f"uploading {part.filename} ({len(part.data)} bytes) to {dialect.name}")
        urls[part.field] = dialect.uploaded(client.submit(dialect.upload(part)))

    def put(value: Any) -> Any:
        if isinstance(value, str):
            return urls.get(value, value)
        if isinstance(value, list):
            return [put(v) for v in value]
        if isinstance(value, dict):
            return {k: put(v) for k, v in value.items()}
        return value

    return dataclasses.replace(call, json=put(call.json), files=()) if urls else call


Done = tuple[Reply, list[tuple[Path, Payload]], list[ImggenError]]


def wait_all(
    client: Any,
    dialect: Any,
    ctx: JobContext,
    ui: UI,
    *,
    landing: save.Landing,
    limits: Limits,
    deadline: float,
) -> dict[str, Done | ImggenError]:
    """Wait on every job of the context from one loop (run/polling.poll_loop, at the
    provider's cadence); a finished job's images are fetched at once by the same pool. Jobs
    still waiting at the deadline fail with DeadlineExceeded naming them (they stay recorded,
    to collect later)."""
    from imggen.run.polling import schedule

    by_key = {e.key: e for e in ctx.entries}
    polls: dict[str, Callable[[], Any]] = {
        key: functools.partial(_poll, client, dialect, entry, landing, ctx, ui)
        for key, entry in by_key.items()
    }
    boards = schedule(
        ((e.key, e.provider, e.base_url, dialect.cadence) for e in ctx.entries), limits
    )
    return poll_loop(
        polls,
        schedule=boards,
        limits=limits,
        deadline=deadline,
        first=0.0 if ctx.resume else None,  # a resumed job may be long done: ask at once
        late=lambda key: _late(by_key[key]),
        stop=client.close,
        tell=ui.debug,
    )


def _poll(
    client: Any, dialect: Any, entry: Entry, landing: save.Landing, ctx: JobContext, ui: UI
) -> JobState | Done:
    """One poll of one job; when it is done, its output read and its images fetched.
    Raises the error that ends this job."""
    ticket, watched = entry.ticket, HEARD.pop(entry.key, None)
    try:
        watched = watched or (_watched(client, dialect, entry, ctx, ui) if ctx.watch else None)
        state = watched or dialect.read(client.ask(dialect.poll(ticket), poll=True))
    except DeadlineExceeded:  # still waiting when --timeout ran out: say so, naming the job
        raise _late(entry) from None
    except GatewayRefused as exc:
        if exc.status not in (404, 410):
            raise
        # the provider no longer knows the job (its data removed): given up, like a failure
        state = JobState("failed", error=f"the provider no longer knows it ({exc.message})")
    ctx.polled()
    if watched is None:  # a stream told each state as it came
        _tell(ui, entry, state)
    if state.state in ("queued", "running"):
        return state
    if state.state != "done":
        ctx.ledger.update(entry.key, state=state.state, error=state.error)
        raise _failed(entry, state)
    reply = state.reply
    if reply is None or not reply.images:
        result = dialect.result(ticket)
        reply = dialect.parse(client.ask(result)) if result is not None else Reply()
    return _fetch(client, entry, reply, landing, ctx)


def _watched(client: Any, dialect: Any, entry: Entry, ctx: JobContext, ui: UI) -> JobState | None:
    """The job's state once its status stream said it is over; None where the provider has
    no stream or it ended early (from then on this job is polled)."""
    call = dialect.watch(entry.ticket)
    if call is None:
        ctx.watch = False
        return None
    from imggen.wire.watch import watch

    seen: list[JobState] = []

    def event(doc: Any) -> bool:
        seen.append(dialect.read(doc))
        _tell(ui, entry, seen[-1])
        return seen[-1].over

    if watch(client, call, event):
        return seen[-1]
    ctx.watch = False
    return None


def _fetch(client: Any, entry: Entry, reply: Reply, landing: save.Landing, ctx: JobContext) -> Done:
    """A done job's images, downloaded now (their URLs expire): an expired one is its own
    error naming the job, which stays recorded for `imggen jobs wait`."""
    files: list[tuple[Path, Payload]] = []
    failed: list[ImggenError] = []
    ctx._here.job = {"provider": entry.provider, "id": entry.id}  # each image's record names it
    try:
        _download(client, entry, reply, landing, ctx, files, failed)
    finally:
        ctx._here.job = None
    return reply, files, failed


def _download(
    client: Any,
    entry: Entry,
    reply: Reply,
    landing: save.Landing,
    ctx: JobContext,
    files: list[tuple[Path, Payload]],
    failed: list[ImggenError],
) -> None:
    from imggen.run.send import materialize

    for p in reply.images[: entry.images]:
        try:
            files.append((materialize(p, client, landing), p))
        except LinkExpired as exc:
            ctx.ledger.update(entry.key, state="expired", error=exc.message)
            failed.append(
                LinkExpired(
                    f"the result of {entry.provider} job {entry.id} expired before it was "
                    f"downloaded ({exc.message})",
                    hint=f"`imggen jobs wait {entry.id}` fetches it again while the provider "
                    "still keeps it",
                    status=exc.status,
                )
            )
        except ImggenError as exc:
            failed.append(exc)
        except OSError as exc:
            failed.append(kept.os_error(exc, landing.spool))


def _tell(ui: UI, entry: Entry, state: JobState) -> None:
    where = f" (position {state.position})" if state.position is not None else ""
    line = f"{entry.provider} job {entry.id}: {state.state}{where}"
    ui.describe(f"{entry.model}: {state.state}{where}")
    ui.debug(line)


def _failed(entry: Entry, state: JobState) -> ImggenError:
    said = f": {state.error}" if state.error else ""
    again = "running the same command again submits it anew (and is billed again)"
    if state.refused:
        return ContentFiltered(
            f"{entry.provider} job {entry.id} was refused{said}",
            hint="change the prompt or input images; " + again,
        )
    what = "was cancelled" if state.state == "cancelled" else "failed"
    return GatewayFailed(f"{entry.provider} job {entry.id} {what}{said}", hint=again)


def _late(entry: Entry) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"the time limit ran out while {entry.provider} job {entry.id} was still waiting",
        hint=f"it is recorded: run the same command again, or `imggen jobs wait {entry.id}`, "
        "to collect it without paying again (a longer --timeout waits longer)",
    )
