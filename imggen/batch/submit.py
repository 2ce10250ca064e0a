"""A batch on job providers: every job submitted (and recorded, in the ledger and the results
file) before any is waited on, so that all of them queue at the provider together; the workers
then collect them."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imggen.batch.plan import Task
from imggen.console import UI
from imggen.env import Env
from imggen.files.scratch import Scratch
from imggen.run import core

if TYPE_CHECKING:
    from imggen.batch.run import JobResult, ResultsFile  # noqa: F401  (JobResult: at run time below)


@dataclass(frozen=True)
class Extras:
    """What a job needs from its run besides the task: where submitted jobs are recorded, and
    (--provider-batch) the client that answers its calls."""

    results: ResultsFile | None = None
    client_of: Callable[[Task, Any], Any] | None = None


def submit_first(
    todo: list[Task],
    clients: dict[tuple[str, str], Any],
    env: Env,
    extras: Extras,
    width: int,
    scratches: list[Scratch],
    finish: Callable[[JobResult], None],
) -> list[Task]:
    """Submit the job providers' tasks (not --no-wait ones: those submit in the workers),
    `width` at a time, each recorded as it is accepted; the tasks left to run. One whose
    submit failed is finished failed, not tried again in this run: a submit may have reached
    the provider."""
    from concurrent.futures import ThreadPoolExecutor

    from imggen.batch.run import JobResult  # run.py imports this module
    from imggen.dialects.jobs import is_job

    chosen = [t for t in todo if is_job(t.plan.dialect) and not t.opts.no_wait]
    if not chosen:
        return todo
    lock = threading.Lock()
    quiet = UI(env, quiet=True)

    def submit(task: Task) -> JobResult | None:
        scratch = Scratch()
        with lock:
            scratches.append(scratch)
        client = clients[(task.settings.profile, task.settings.base_url)].fork(
            retries=task.opts.retries
        )
        outcome = core.run(
            task.settings,
            task.job,
            env,
            quiet,
            dataclasses.replace(task.opts, no_wait=True),
            plan=task.plan,
            client=client,
            scratch=scratch,
            on_submitted=submitted(task, extras.results),
        )
        return None if outcome.error is None else JobResult(task, "failed", error=outcome.error)

    pool = ThreadPoolExecutor(max_workers=max(1, width), thread_name_prefix="imggen-submit")
    try:
        pending = [pool.submit(submit, t) for t in chosen]
        while not all(f.done() for f in pending):  # short waits: signals stay prompt
            time.sleep(0.05)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # the caller closes the clients
        raise
    pool.shutdown()
    failed = [r for f in pending if (r := f.result()) is not None]
    for result in failed:
        finish(result)
    gone = {id(r.task) for r in failed}
    return [t for t in todo if id(t) not in gone]


def submitted(task: Task, results: ResultsFile | None) -> Callable[[Any], None] | None:
    """For a job provider's task: a line in the results file for each job submitted, written
    before the job is waited on (the state dir's ledger has it too)."""
    if results is None:
        return None

    def tell(entry: Any) -> None:  # ResultsFile.write holds its own lock
        results.write(
            {
                "job": task.row.number,
                "where": task.row.where,
                "status": "submitted",
                "output": task.row.output,
                "job_id": entry.id,
                "provider": entry.provider,
                "poll": entry.poll,
                "request": entry.key,
            }
        )

    return tell
