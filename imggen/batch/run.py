"""Batch runs: run_many() over one shared client per profile, the results file, and the
summary that decides the exit code."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen.batch import lock
from imggen.batch.plan import Task
from imggen.console import UI, shown
from imggen.env import Env
from imggen.errors import ExitCode, FileExists, ImggenError, UsageError
from imggen.files.scratch import Scratch
from imggen.job import SavedImage
from imggen.run import core

DEFAULT_JOBS = 4


@dataclass
class JobResult:
    task: Task
    status: str  # saved | skipped | failed
    paths: list[str] = field(default_factory=list)
    retries: int = 0
    error: ImggenError | None = None
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    cost: float | None = None  # what the gateway reported (usage.cost), if it did
    currency: str | None = None
    note: str = ""  # why a job was skipped, when not for its plan's reason (--max-cost)

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
        """The worst failure's code; else 7 when --max-cost left jobs unstarted; else 0."""
        worst = max((int(r.error.exit_code) for r in self.results if r.error), default=0)
        return worst or (int(ExitCode.BUDGET) if self.over_budget else 0)


def spent(results: list[JobResult]) -> float | None:
    """The sum of the reported costs, or None when no job reported one."""
    costs = [r.cost for r in results if r.cost is not None]
    return round(sum(costs), 10) if costs else None


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
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
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
    share: int = 1,
) -> Summary:
    """Run the tasks `jobs` at a time on daemon threads sharing one Client per profile (one
    pool, one Pacer: requests go at the pace that profile's gateway allows, by its rate-limit
    headers or its 429s, at most `jobs` at once; with `share` machines on one key (--shard I/N),
    1/share of the rate the headers announce). Every job is attempted unless
    fail_fast; once the reported cost reaches max_cost no job starts (each left is recorded
    skipped; jobs in flight finish); on Ctrl-C/SIGTERM in-flight jobs are abandoned without
    partial files and the interrupt is re-raised."""
    from imggen.wire.client import Client
    from imggen.wire.retry import Pacer

    start = time.monotonic()
    done: list[JobResult] = []
    lock = threading.Lock()
    stop, abandon = threading.Event(), threading.Event()
    todo = [t for t in tasks if t.action != "skip"]
    scratches: list[Scratch] = []  # running jobs' temp files, for the main thread
    crashed: list[BaseException] = []  # what ended a worker early, raised in the main thread
    queue = iter(todo)
    clients: dict[tuple[str, str], Client] = {}
    for t in todo:
        key = (t.settings.profile, t.settings.base_url)
        if key not in clients:
            # room for every worker's calls at once: -j 64 must not queue on a 32-slot pool
            width = max(1, jobs) * max(len(task.plan.calls) for task in todo)
            clients[key] = Client(
                t.settings.base_url,
                t.settings.api_key,
                transport=env.transport,
                max_connections=max(32, width),
                limits=env.limits,
                # the gateway's pace, learnt from its answers, and a window of 1 call up to
                # every call of -j jobs at once
                pacer=Pacer(width, share=share),
            )

    reported: list[float] = []  # [total] of the costs reported so far: spent(done), kept as
    # it grows (spent() of 10,000 results before every job was most of a big run's time)

    def finish(result: JobResult) -> None:
        with lock:
            done.append(result)
            if result.cost is not None:
                reported[:] = [(reported[0] if reported else 0.0) + result.cost]
            if results is not None:
                results.write(result.record())
            ui.count()
            _report(ui, result, len(done), len(tasks))

    def worker() -> None:
        try:
            while not stop.is_set():
                with lock:
                    task = next(queue, None)
                    cost = round(reported[0], 10) if reported else None
                if task is None:
                    return
                if max_cost is not None and cost is not None and cost >= max_cost:
                    note = f"--max-cost {money(max_cost)} reached: {money(cost)} spent"
                    finish(JobResult(task, "skipped", note=note))
                    continue
                client = clients[(task.settings.profile, task.settings.base_url)]
                scratch = Scratch()
                with lock:
                    scratches.append(scratch)
                result = _run_one(task, client, env, ui, on_saved, scratch)
                if abandon.is_set() and result.status == "failed":
                    return  # interrupted mid-job: no line for it; the next run redoes it
                with lock:
                    scratches.remove(scratch)  # its job is over: kept by nobody
                finish(result)
                if fail_fast and result.status == "failed":
                    stop.set()
        except BaseException as exc:  # e.g. the results file cannot be written: stop all
            crashed.append(exc)
            stop.set()

    ui.start_count(f"batch: {len(tasks)} jobs", len(tasks))
    threads = [
        threading.Thread(target=worker, name=f"imggen-batch-{i}", daemon=True)
        for i in range(min(max(1, jobs), len(todo)))
    ]
    try:
        for t in tasks:
            if t.action == "skip":
                finish(JobResult(t, "skipped", paths=[str(p) for p in t.existing]))
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # short joins: signals reach the main thread promptly
        if crashed:
            raise crashed[0]
    except BaseException:
        abandon.set()
        stop.set()
        for client in clients.values():
            client.close()
        # The main thread removes every job's temp files itself: a worker may stay blocked in
        # a read, and a join cut short by the signal cannot be trusted (CPython 3.11).
        with lock:
            pending = list(scratches)
        for scratch in pending:
            scratch.cleanup()  # and no job can create a file after this
        raise
    finally:
        ui.stop_progress()
        for client in clients.values():
            client.close()
    done.sort(key=lambda r: r.task.row.number)
    over = sum(1 for r in done if r.note)
    return Summary(done, len(tasks), time.monotonic() - start, over_budget=over)


def _run_one(
    task: Task,
    shared: Any,
    env: Env,
    ui: UI,
    on_saved: Callable[[SavedImage], None] | None,
    scratch: Scratch,
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
        )
        result.paths = [s.path for s in outcome.saved]
        result.warnings = outcome.warnings
        result.error = outcome.error
        result.status = "saved" if outcome.error is None else "failed"
        result.cost, result.currency = outcome.cost, outcome.currency
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


def money(amount: float, currency: str | None = None) -> str:
    """An amount as people write it: 0.05 USD, 1.2 (no currency known), 0."""
    text = f"{amount:.6f}".rstrip("0").rstrip(".")
    return f"{text} {currency}" if currency else text
