"""`imggen jobs`: the recorded jobs listed, collected into the outputs they were planned for,
or cancelled. Collecting rebuilds each submitting run's plan from its ledger entries (the
profile, the targets, the tickets) and hands it to core.run, which polls instead of sending."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imggen.console import UI
from imggen.env import Env
from imggen.errors import ConfigError, GatewayRefused, UsageError
from imggen.files.ledger import Entry, Ledger
from imggen.files.targets import Target
from imggen.job import Job, JobState, SavedImage
from imggen.run.outcome import Outcome
from imggen.sizes import Resolved


def chosen(ledger: Ledger, ids: Sequence[str], *, waiting_only: bool) -> list[Entry]:
    """The entries named (all when none are), or UsageError naming an id the ledger lacks.
    Unnamed, jobs the provider gave up on are left out: waiting on them says only that."""
    if not ids:
        return [e for e in ledger.all() if not (waiting_only and e.resubmit)]
    found = []
    for job_id in ids:
        entry = ledger.find(job_id)
        if entry is None:
            raise UsageError(
                f"no recorded job {job_id}",
                hint="`imggen jobs list` shows the jobs submitted and not yet collected",
            )
        found.append(entry)
    return found


def runs(entries: list[Entry]) -> list[list[Entry]]:
    """The entries grouped by the run that submitted them, in order."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.run or e.key, []).append(e)
    return list(groups.values())


def settings_for(entry: Entry, env: Env) -> Any:
    """The settings of the profile that submitted a job, checked to still point at the same
    provider: its key goes to that host only."""
    from imggen.profiles import settings

    s = settings.resolve(
        profile=entry.profile,
        model=entry.model,
        environ=env.environ,
        limits=env.limits,
        model_source="the job ledger",
    )
    if s.base_url.rstrip("/") != entry.base_url.rstrip("/"):
        raise ConfigError(
            f"job {entry.id} was submitted to {entry.base_url}, but profile {entry.profile} "
            f"now points at {s.base_url}",
            hint=f"set the profile's base_url back to {entry.base_url} to collect it",
        )
    return s


def wait(
    env: Env,
    ui: UI,
    group: list[Entry],
    *,
    timeout: float | None,
    on_saved: Callable[[SavedImage], None] | None = None,
    client: Any = None,
) -> Outcome:
    """Collect one run's recorded jobs into the files they were planned for (through
    `client` when given: one connection pool for many runs)."""
    from imggen.dialects import DIALECTS
    from imggen.run import core
    from imggen.run.jobs import unrecorded

    first = group[0]
    s = settings_for(first, env)
    targets = [
        Target(None if path == "-" else Path(path), exact=bool(exact), unique=bool(unique))
        for e in group
        for path, exact, unique in e.targets[e.first : e.first + e.images]
    ]
    plan = core.Plan(
        s.gateway(first.model),
        DIALECTS[first.provider],
        [],
        False,
        targets,
        Resolved(None, None, None),
    )
    if first.request:
        job, made = unrecorded(first.prompt, first.request)
    else:
        job, made = Job(prompt=first.prompt, count=len(targets), format=first.format), None
    opts = core.RunOptions(timeout=timeout, made_by=made)
    return core.run(
        s, job, env, ui, opts, plan=plan, on_saved=on_saved, resume=group, client=client
    )


FETCHERS = 4  # runs' images fetched at once by `jobs wait`, beside its poll loop


def wait_many(
    env: Env,
    ui: UI,
    entries: list[Entry],
    *,
    timeout: float | None,
    on_saved: Callable[[SavedImage], None] | None = None,
) -> list[Outcome]:
    """Collect many recorded jobs: one loop polls them all (run/polling.poll_loop: a few
    threads, whatever their number; each provider's jobs at its cadence), and each submitting
    run's images are fetched the moment its last job is over, into the files planned for
    them, by a few threads beside the loop (FETCHERS), so polling goes on meanwhile."""
    import threading
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    from imggen.dialects import DIALECTS
    from imggen.run.jobs import HEARD, _late
    from imggen.run.polling import poll_loop, schedule

    limit = timeout or env.limits.deadline
    deadline = time.monotonic() + limit
    groups = {id(g): g for g in runs(entries)}
    group_of = {e.key: id(g) for g in groups.values() for e in g}
    left = {gid: len(g) for gid, g in groups.items()}
    clients, polls = _pollers(env, ui, entries, limit)
    by_key = {e.key: e for e in entries}
    fetches: list[Future[Outcome]] = []

    fetching = ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="imggen-collect")
    told = threading.Lock()

    def saved(image: SavedImage) -> None:  # one line at a time, from any fetching thread
        if on_saved is not None:
            with told:
                on_saved(image)

    def fetch(gid: int) -> Outcome:
        rest = max(1.0, deadline - time.monotonic())
        first = groups[gid][0]
        shared = clients[(first.profile, first.base_url)]
        return wait(env, ui, groups[gid], timeout=rest, on_saved=saved, client=shared)

    def over(key: str, result: Any) -> None:
        if isinstance(result, JobState):
            HEARD[key] = result  # its collecting run need not ask again
        gid = group_of[key]
        left[gid] -= 1
        if left[gid] == 0:  # the run's last job is over: fetch its images now, beside the loop
            fetches.append(fetching.submit(fetch, gid))

    def late(key: str) -> Any:
        return _late(by_key[key])

    def stop() -> None:
        for c in clients.values():
            c.close()

    boards = schedule(
        ((e.key, e.provider, e.base_url, _cadence(DIALECTS[e.provider])) for e in entries),
        env.limits,
    )
    try:
        poll_loop(
            polls,
            schedule=boards,
            limits=env.limits,
            deadline=deadline,
            first=0.0,  # recorded jobs may be long done: ask about each at once
            late=late,
            stop=stop,
            on_over=over,
            tell=ui.debug,
        )
        return [f.result() for f in fetches]
    finally:
        stop()
        fetching.shutdown(wait=False, cancel_futures=True)


def _pollers(
    env: Env, ui: UI, entries: list[Entry], limit: float
) -> tuple[dict[tuple[str, str], Any], dict[str, Callable[[], Any]]]:
    """One client a profile and provider (one connection pool each), and each job's poll."""
    from imggen.dialects import DIALECTS
    from imggen.run import core

    clients: dict[tuple[str, str], Any] = {}
    polls: dict[str, Callable[[], Any]] = {}
    for e in entries:
        where = (e.profile, e.base_url)
        if where not in clients:
            s = settings_for(e, env)
            clients[where] = core.make_client(s, env, ui, core.RunOptions(timeout=limit))
        polls[e.key] = functools.partial(_state, clients[where], DIALECTS[e.provider], e.ticket)
    return clients, polls


def _cadence(dialect: Any) -> Any:
    """How often a job dialect's jobs may be polled (dialects/jobs/base.py)."""
    return dialect.cadence


def _state(client: Any, dialect: Any, ticket: Any) -> Any:
    """What one poll says of a job (no download)."""
    return dialect.read(client.ask(dialect.poll(ticket), poll=True))


def cancel(env: Env, ui: UI, entry: Entry) -> str:
    """Cancel one recorded job at its provider and forget it; what happened, in words."""
    from imggen.dialects import DIALECTS
    from imggen.run import core

    ledger = Ledger(env.environ)
    if entry.resubmit:  # the provider gave up on it already: nothing to cancel there
        ledger.remove(entry.key)
        return f"forgot {entry.provider} job {entry.id} ({entry.state} at the provider)"
    s = settings_for(entry, env)
    dialect: Any = DIALECTS[entry.provider]  # a JobDialect (dialects/jobs/base.py)
    call = dialect.cancel(entry.ticket)
    if call is None:
        ledger.remove(entry.key)
        return (
            f"{entry.provider} has no way to cancel a job: {entry.id} runs on (and is billed) "
            "but is forgotten here"
        )
    with core.make_client(s, env, ui, core.RunOptions(timeout=60.0)) as client:
        try:
            client.ask(call)
        except GatewayRefused as exc:
            if exc.status in (404, 410):  # the provider no longer knows it
                ledger.remove(entry.key)
                return f"forgot {entry.provider} job {entry.id}: {exc.message}"
            raise UsageError(  # finished already, most likely: it is paid for
                f"{entry.provider} job {entry.id} could not be cancelled: {exc.message}",
                hint=f"if it has finished, `imggen jobs wait {entry.id}` collects it",
            ) from None
    ledger.remove(entry.key)
    return f"cancelled {entry.provider} job {entry.id}"


def listing(entry: Entry) -> dict[str, Any]:
    """One job as `jobs list --json` shows it."""
    import time

    outputs = [t[0] for t in entry.targets[entry.first : entry.first + entry.images]]
    return {
        "id": entry.id,
        "provider": entry.provider,
        "profile": entry.profile,
        "model": entry.model,
        "state": entry.state,
        "error": entry.error or None,
        "outputs": outputs,
        "prompt": entry.prompt,
        "poll": entry.poll,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(entry.submitted)),
        "key": entry.key,
    }
