"""Batch runs: run_many() over one shared client per profile, the results file, and the
summary that decides the exit code."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen.batch import lock
from imggen.batch.budget import Budget
from imggen.batch.plan import Task
from imggen.batch.submit import Extras, submit_first, submitted
from imggen.console import UI, shown
from imggen.env import Env
from imggen.errors import ExitCode, FileExists, ImggenError, UsageError
from imggen.files.scratch import Scratch
from imggen.job import SavedImage
from imggen.run import core
from imggen.run.workers import run_threads

DEFAULT_JOBS = 4


@dataclass(slots=True)  # 10,000 of them live until the summary: no __dict__ each
class JobResult:
    task: Task
    status: str  # saved | skipped | failed | submitted (job providers, --no-wait)
    paths: list[str] = field(default_factory=list)
    retries: int = 0
    error: ImggenError | None = None
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    cost: float | None = None  # what the gateway reported (usage.cost), if it did
    currency: str | None = None
    estimate: float | None = None  # imggen's list-price estimate of the images saved
    cost_unusable: str = ""  # a reported cost that cannot be counted, as text
    note: str = ""  # why a job was skipped, when not for its plan's reason (--max-cost)
    job_ids: list[str] = field(default_factory=list)  # a job provider's jobs for it

    @property
    def reason(self) -> str:
        """Why the job was skipped ("unchanged", the budget), or its plan's reason."""
        return self.note or self.task.reason

    def record(self) -> dict[str, Any]:
        """One line of the results file."""
        t = self.task
        return {
            "job": t.row.number,
            "where": t.row.where,
            "status": self.status,
            "output": t.row.output,
            "paths": self.paths,
            "prompt": t.job.prompt,
            "model": t.plan.gateway.model,
            "profile": t.plan.gateway.profile,
            "retries": self.retries,
            "reason": self.reason if self.status == "skipped" else None,
            "error": None if self.error is None else self.error.as_json(),
            "warnings": self.warnings,
            "cost": self.cost,
            "currency": self.currency,
            "estimate": self.estimate,
            "cost_unusable": self.cost_unusable or None,
            **({"job_ids": self.job_ids} if self.job_ids else {}),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Summary:
    results: list[JobResult]
    total: int  # jobs in this run (after --shard)
    seconds: float
    over_budget: int = 0  # jobs not started because --max-cost was reached

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def cost(self) -> float | None:
        """The gateway-reported cost of this run's jobs; None when none reported one."""
        return spent(self.results)

    @property
    def currency(self) -> str | None:
        named = {r.currency for r in self.results if r.cost is not None and r.currency}
        return named.pop() if len(named) == 1 else None

    @property
    def not_started(self) -> int:
        return self.total - len(self.results)

    @property
    def exit_code(self) -> int:
        """The worst failure's code; else 8 when --max-cost left jobs unstarted; else 0."""
        worst = max((int(r.error.exit_code) for r in self.results if r.error), default=0)
        return worst or (int(ExitCode.BUDGET) if self.over_budget else 0)


def ours(head: bytes) -> bool:
    """Whether a file's first bytes are a results file imggen wrote (a re-run replaces it)."""
    return head.startswith(b'{"job": ')


def spent(results: list[JobResult]) -> float | None:
    """The sum of the reported costs, or None when no job reported one."""
    costs = [r.cost for r in results if r.cost is not None]
    return round(sum(costs), 10) if costs else None


def counted(results: list[JobResult]) -> float | None:
    """What --max-cost counts: each job's reported cost, else imggen's estimate of it; None
    when no job has either."""
    costs = [r.cost if r.cost is not None else r.estimate for r in results]
    known = [c for c in costs if c is not None]
    return round(sum(known), 10) if known else None


def _estimate(task: Task) -> float | None:
    from imggen.run import record

    return record.estimate(task.plan, task.job).total


class ResultsFile:
    """The JSONL results file: locked against a second run and emptied at the start of a run,
    then one whole line per finished job, each written with a single append so an
    interrupted run leaves whole lines. Raises lock.Busy when another run has it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = lock.open_results(path)
        except OSError as exc:
            raise UsageError(f"cannot write the results file {path}: {exc.strerror}") from None
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        """Append one line. Raises UsageError when the file cannot be written (disk full)."""
        # a name that is not UTF-8 (a surrogate to Python) becomes its JSON escape, \udcff
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                raise UsageError(
                    f"cannot write the results file {self.path}: {exc.strerror}",
                    hint="free some space or pass --results PATH; re-running resumes the rest",
                ) from None

    def close(self) -> None:
        os.close(self._fd)


def run_many(
    tasks: list[Task],
    env: Env,
    ui: UI,
    *,
    jobs: int = DEFAULT_JOBS,
    results: ResultsFile | None = None,
    fail_fast: bool = False,
    on_saved: Callable[[SavedImage], None] | None = None,
    max_cost: float | None = None,
    client_of: Callable[[Task, Any], Any] | None = None,
    share: int = 1,
) -> Summary:
    """Run the tasks `jobs` at a time on daemon threads sharing one Client per profile (one
    pool, one Pacer: requests go at the pace that profile's gateway allows, by its rate-limit
    headers or its 429s, at most `jobs` at once; with `share` machines on one key (--shard I/N),
    1/share of the rate the headers announce). Every job is attempted unless fail_fast; with
    max_cost a job starts only within the budget (budget.Budget: each left is recorded skipped;
    jobs in flight finish); job providers' jobs are all submitted (and recorded) first, then
    collected; on Ctrl-C/SIGTERM in-flight jobs are abandoned without
    partial files and the interrupt is re-raised."""
    run = _Run(tasks, env, ui, results, fail_fast, on_saved, max_cost, Extras(results, client_of))
    run.clients = _clients(run.todo, env, jobs, share)
    ui.start_count(f"batch: {len(tasks)} jobs", len(tasks))
    try:
        for t in tasks:
            if t.action == "skip":
                run.finish(JobResult(t, "skipped", paths=[str(p) for p in t.existing]))
        # job providers: every job submitted (and recorded) first, then collected -j at a time
        queue = submit_first(
            run.todo, run.clients, env, run.extras, jobs, run.scratches, run.finish
        )
        run.queue = iter(queue)
        # what ends a worker early (the results file cannot be written, say) stops them all
        run_threads(
            [run.worker] * min(max(1, jobs), len(run.todo)),
            name="imggen-batch",
            on_crash=run.stop.set,
            on_interrupt=run.interrupted,
        )
    except BaseException:
        run.interrupted()  # an interrupt while submitting; run_threads did it once already
        raise
    finally:
        ui.stop_progress()
        for client in run.clients.values():
            client.close()
    run.done.sort(key=lambda r: r.task.row.number)
    over = sum(1 for r in run.done if r.note)
    return Summary(run.done, len(tasks), time.monotonic() - run.start, over_budget=over)


class _Run:
    """One run_many: what its workers share (the queue, the budget, the results so far) and
    what each of them does."""

    def __init__(
        self,
        tasks: list[Task],
        env: Env,
        ui: UI,
        results: ResultsFile | None,
        fail_fast: bool,
        on_saved: Callable[[SavedImage], None] | None,
        max_cost: float | None,
        extras: Extras,
    ) -> None:
        self.tasks, self.env, self.ui, self.results = tasks, env, ui, results
        self.fail_fast, self.on_saved, self.max_cost, self.extras = (
            fail_fast,
            on_saved,
            max_cost,
            extras,
        )
        self.start = time.monotonic()
        self.done: list[JobResult] = []
        self.lock = threading.Lock()
        self.stop, self.abandon = threading.Event(), threading.Event()
        self.todo = [t for t in tasks if t.action != "skip"]
        self.queue: Iterator[Task] = iter(())
        self.scratches: list[Scratch] = []  # every job's temp files, for the main thread
        self.budget = Budget(max_cost)
        self.clients: dict[tuple[str, str], Any] = {}

    def finish(self, result: JobResult) -> None:
        with self.lock:
            self.done.append(result)
            if self.results is not None:
                self.results.write(result.record())
            self.ui.count()
            _report(self.ui, result, len(self.done), len(self.tasks))

    def worker(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                task = next(self.queue, None)
            if task is None:
                return
            guess = _estimate(task) if self.max_cost is not None else None
            note, reserved = self.budget.admit(self.stop, guess)
            if note == "":
                return  # stopped while waiting: not started (--fail-fast)
            if note is not None:
                self.finish(JobResult(task, "skipped", note=note))
                continue
            client = self.clients[(task.settings.profile, task.settings.base_url)]
            scratch = Scratch()
            with self.lock:
                self.scratches.append(scratch)
            result = _run_one(task, client, self.env, self.ui, self.on_saved, scratch, self.extras)
            if self.fail_fast and result.status == "failed":
                self.stop.set()  # before the budget lets a waiting worker start
            self.budget.settle(
                reserved,
                result.cost,
                saved=result.status == "saved",
                unusable=result.cost_unusable,
                estimate=result.estimate,
            )
            if self.abandon.is_set() and result.status == "failed":
                return  # interrupted mid-job: no line for it; the next run redoes it
            with self.lock:
                self.scratches.remove(scratch)  # its job is over: kept by nobody
            self.finish(result)

    def interrupted(self) -> None:
        if self.abandon.is_set():
            return
        self.abandon.set()
        self.stop.set()
        for client in self.clients.values():
            client.close()
        # The main thread removes every job's temp files itself: a worker may stay blocked in
        # a read, and a join cut short by the signal cannot be trusted (CPython 3.11).
        with self.lock:
            pending = list(self.scratches)
        for scratch in pending:
            scratch.cleanup()  # and no job can create a file after this


def _clients(todo: list[Task], env: Env, jobs: int, share: int = 1) -> dict[tuple[str, str], Any]:
    """One Client per profile and base URL: one pool, one Pacer (a 429 pauses every worker of
    that profile)."""
    clients: dict[tuple[str, str], Any] = {}
    if not todo:
        return clients  # a resume with every job done: no need even to import httpx
    from imggen.wire.client import Client
    from imggen.wire.retry import Pacer

    for t in todo:
        key = (t.settings.profile, t.settings.base_url)
        if key not in clients:
            # room for every worker's calls at once: -j 64 must not queue on a 32-slot pool
            width = max(1, jobs) * max(len(task.plan.calls) for task in todo)
            clients[key] = Client(
                **t.settings.connection(),
                transport=env.transport,
                max_connections=max(32, width),
                limits=env.limits,
                # the gateway's pace, learnt from its answers, and a window of 1 call up to
                # every call of -j jobs at once
                pacer=Pacer(width, share=share),
            )
    return clients


def _run_one(
    task: Task,
    shared: Any,
    env: Env,
    ui: UI,
    on_saved: Callable[[SavedImage], None] | None,
    scratch: Scratch,
    extras: Extras | None = None,
) -> JobResult:
    result = JobResult(task, "failed")
    began = time.monotonic()
    deadline = began + core.time_limit(task.opts, env.limits, task.plan)
    label = shown(_target(task))
    client = shared.fork(
        retries=task.opts.retries,
        deadline=deadline,
        on_retry=lambda message: ui.retry(f"{label}: {message}"),
    )
    extras = extras or Extras()
    if extras.client_of is not None:  # --provider-batch: the calls were answered by the batch
        client = extras.client_of(task, client)
    quiet = UI(env, quiet=True)  # core.run's own progress bar would fight the batch's
    if task.action == "refuse":  # a file this job did not make: no request, nothing touched
        result.error = FileExists(task.reason)
        result.seconds = time.monotonic() - began
        return result
    try:
        outcome = core.run(
            task.settings,
            task.job,
            env,
            quiet,
            task.opts,
            plan=task.plan,
            client=client,
            on_saved=on_saved,
            scratch=scratch,
            on_submitted=submitted(task, extras.results),
        )
        result.paths = [s.path for s in outcome.saved]
        result.job_ids = [j["id"] for j in outcome.jobs]
        result.warnings = outcome.warnings
        result.error = outcome.error
        result.status = "saved" if outcome.error is None else "failed"
        result.cost, result.currency = outcome.cost, outcome.currency
        result.estimate = outcome.estimate.total if outcome.estimate else None
        result.cost_unusable = outcome.cost_unusable
        if result.status == "saved" and task.opts.no_wait and not outcome.saved:
            result.status = "submitted"  # recorded; the next run of the manifest collects
        if result.status == "saved":
            _remove_superseded(task, result.paths)
    except Exception as exc:  # a bug in one job must not take the others down
        result.error = ImggenError(f"internal error: {type(exc).__name__}: {exc}")
    result.retries = client.retried
    result.seconds = time.monotonic() - began
    return result


def _remove_superseded(task: Task, saved: list[str]) -> None:
    """A regenerated job's earlier images under another extension (hero.jpg once hero.png is
    saved) are its own, checked by provenance when planned: they go, sidecars too."""
    for old in task.existing:
        if str(old) not in saved:
            old.unlink(missing_ok=True)
            old.with_name(old.name + ".json").unlink(missing_ok=True)


def _report(ui: UI, r: JobResult, k: int, total: int) -> None:
    """One line per finished job: above the bar on a terminal, plain lines otherwise."""
    if ui.quiet and r.error is None and not r.warnings:
        return  # nothing to say: no line worth making (10,000 of them on a resume)
    head = f"[{k}/{total}]"
    paths = ", ".join(shown(p) for p in r.paths) or shown(_target(r.task))
    if r.status == "skipped":
        ui.info(f"{head} skipped {paths} ({r.reason})")
    elif r.error is None:
        ui.info(f"{head} saved {paths} in {r.seconds:.1f} s")
    else:
        partial = f" (saved {paths})" if r.paths else ""
        ui.error(
            f"{head} {r.task.row.where}: {r.error.message}{partial} (exit {int(r.error.exit_code)})"
        )
    for warning in r.warnings:
        ui.warn(f"{shown(_target(r.task))}: {warning}")


def _target(task: Task) -> str:
    return str(task.plan.targets[0].path)
