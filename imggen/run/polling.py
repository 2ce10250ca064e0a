"""The one loop that waits on many jobs: each job's polls come when its provider's cadence says
(wire/polls.py: gaps growing from the provider's first to its longest, all of a provider's
polls within its rate, a 429 holding them all for its Retry-After), a small bounded pool makes
them, so hundreds of jobs cost a handful of threads.

What a provider allows is shared by every loop of the process (batch workers each wait on their
own jobs, one Provider per provider and host holds their common rate and 429 hold)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

from imggen.errors import ImggenError
from imggen.job import JobState
from imggen.limits import Limits
from imggen.wire.polls import Cadence, PollLimited, Polls, Provider

_providers: dict[tuple[str, str], Provider] = {}
_lock = threading.Lock()


def provider(name: str, base_url: str, cadence: Cadence) -> Provider:
    """The process's one Provider (rate, 429 hold) for a provider at a host."""
    where = (name, (urlsplit(base_url).hostname or "").lower())
    with _lock:
        found = _providers.get(where)
        if found is None:
            found = _providers[where] = Provider(cadence.rate)
        return found


def schedule(jobs: Iterable[tuple[str, str, str, Cadence]], limits: Limits) -> dict[str, Polls]:
    """Each job's Polls, from (key, provider name, base URL, the provider's cadence): one
    Polls per provider in this loop, its cadence bounded by limits.poll_first / poll_cap."""
    boards: dict[tuple[str, str], Polls] = {}
    out: dict[str, Polls] = {}
    for key, name, base_url, cadence in jobs:
        where = (name, base_url)
        if where not in boards:
            shared = provider(name, base_url, cadence)
            bounded = cadence.bounded(limits.poll_first, limits.poll_cap)
            boards[where] = Polls(bounded, provider=shared)
        out[key] = boards[where]
    return out


def poll_loop(
    polls: dict[str, Callable[[], Any]],
    *,
    schedule: dict[str, Polls] | None = None,
    limits: Limits,
    deadline: float,
    first: float | None,
    late: Callable[[str], ImggenError],
    stop: Callable[[], None],
    on_over: Callable[[str, Any], None] | None = None,
    tell: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Call each job's poll until it returns something other than a JobState still waiting
    (or raises an ImggenError), from this one thread: at most limits.poll_workers polls in
    flight, each job's next poll when its Polls (`schedule[key]`) says (without one: gaps of
    limits.poll_first growing x1.5 to limits.poll_cap); a poll raising PollLimited holds its
    provider (`tell` says so: -v). `first`: seconds before each job's first poll (None: its
    provider's own first gap). Past the deadline, `late(key)` for each job left. On an
    interrupt `stop()` ends in-flight polls and the interrupt goes on."""
    if schedule is None:
        own = Polls(Cadence(limits.poll_first, limits.poll_first, limits.poll_cap, jitter=0.25))
        schedule = dict.fromkeys(polls, own)
    out: dict[str, Any] = {}
    boards = list({id(b): b for b in schedule.values()}.values())
    for key in polls:
        schedule[key].add(key, first)
    width = max(1, min(limits.poll_workers, len(polls)))
    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="imggen-poll")
    flying: dict[Future[Any], str] = {}

    def over(key: str, result: Any) -> None:
        schedule[key].finished(key)
        out[key] = result
        if on_over is not None:
            on_over(key, result)

    try:
        while len(out) < len(polls):
            if time.monotonic() > deadline:
                for key in polls:
                    if key not in out:
                        over(key, late(key))
                break
            soonest = _launch(boards, polls, pool, flying, width)
            pause = max(0.01, min(soonest, 0.2))  # short: signals reach the main thread
            if flying:
                done, _ = wait(list(flying), timeout=pause, return_when=FIRST_COMPLETED)
            else:
                done = set()
                time.sleep(pause)
            for future in done:
                key = flying.pop(future)
                try:
                    got = future.result()
                except PollLimited as exc:  # every poll of its provider waits
                    schedule[key].limited(key, exc.wait)
                    held = f"{exc.wait:g} s (its Retry-After)" if exc.wait else "a while"
                    tell(f"a poll was answered 429: the provider's polls wait {held}")
                    continue
                except ImggenError as exc:
                    over(key, exc)
                    continue
                if isinstance(got, JobState) and not got.over:  # ask again later, less often
                    schedule[key].pending(key)
                else:
                    over(key, got)
    except BaseException:
        stop()  # in-flight polls fail at once; their jobs stay recorded
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def _launch(
    boards: list[Polls],
    polls: dict[str, Callable[[], Any]],
    pool: ThreadPoolExecutor,
    flying: dict[Future[Any], str],
    width: int,
) -> float:
    """Start every poll that is due, while the pool has room; seconds until the next is."""
    soonest = 0.2
    going = True
    while going and len(flying) < width:
        going = False
        for board in boards:
            if len(flying) >= width:
                break
            due = board.take()
            if isinstance(due, float):
                soonest = min(soonest, due)
            elif due is not None:
                flying[pool.submit(polls[str(due)])] = str(due)
                going = True
    return soonest if len(flying) < width else 0.2
