"""Waiting on many submitted jobs at once (job providers: fal's queue, Replicate's predictions,
Black Forest Labs' polling URL; provider batches): which job to poll next, and when.

Each job is polled no more often than its provider allows: first a little after it was
submitted, then at gaps growing by `factor` up to `most`, never under the provider's `least`;
all of one provider's polls together keep to its `rate`, and a 429 on a poll holds every poll
of that provider for its Retry-After (or twice the job's gap) and widens the job's gap. One
Polls per provider; a caller drives it from one loop or a bounded pool:

    while polls.waiting:
        due = polls.take()
        if isinstance(due, float): sleep(due)          # nothing due yet
        else: status = poll(due); then polls.pending(due) / finished(due) / limited(due, wait)

Pure: no I/O, no sleeping; the clock is passed in, so tests run it on a fake one."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class Cadence:
    """How often one provider lets a job be polled. Seconds throughout; ``rate``: polls a
    second over all its jobs (None: no limit)."""

    first: float = 1.0
    least: float = 1.0
    most: float = 30.0
    factor: float = 1.5
    rate: float | None = None


class Polls:
    """The jobs of one provider that are waiting to be polled. Thread-safe."""

    def __init__(self, cadence: Cadence = Cadence(), *, clock: Clock = time.monotonic) -> None:
        self.cadence = cadence
        self.counts: dict[Hashable, int] = {}  # polls made, by job
        self.limited_polls = 0  # polls answered 429
        self._clock = clock
        self._due: list[tuple[float, int, Hashable]] = []  # (when, order, job)
        self._gap: dict[Hashable, float] = {}
        self._out: set[Hashable] = set()  # taken, not yet answered
        self._hold = 0.0  # no poll of this provider before this (a 429's Retry-After)
        self._next = 0.0  # nor before this (its rate)
        self._order = itertools.count()
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Jobs not finished yet: due later, or being polled now."""
        with self._lock:
            return len(self._gap)

    def add(self, job: Hashable) -> None:
        """A job just submitted: its first poll comes `first` seconds from now."""
        with self._lock:
            gap = max(self.cadence.first, self.cadence.least)
            self._gap[job] = gap
            self.counts.setdefault(job, 0)
            heapq.heappush(self._due, (self._clock() + self.cadence.first, next(self._order), job))

    def take(self) -> Hashable | float | None:
        """The job to poll now (counted; answer with pending/finished/limited), or seconds
        until one is due, or None when none is waiting to be polled."""
        with self._lock:
            if not self._due:
                return None
            now = self._clock()
            when = max(self._due[0][0], self._hold, self._next)
            if when > now + 1e-9:  # not a rounding error's worth early
                return when - now
            _, _, job = heapq.heappop(self._due)
            if self.cadence.rate:
                self._next = max(self._next, now) + 1 / self.cadence.rate
            self._out.add(job)
            self.counts[job] += 1
            return job

    def pending(self, job: Hashable) -> None:
        """The poll found the job still queued or running: poll it again after a longer gap."""
        with self._lock:
            c = self.cadence
            gap = self._gap[job]
            self._again(job, gap)
            self._gap[job] = min(c.most, max(c.least, gap * c.factor))

    def limited(self, job: Hashable, wait: float | None = None) -> None:
        """The poll was answered 429: every poll of this provider waits `wait` (its
        Retry-After) or twice this job's gap; this job's gap doubles."""
        with self._lock:
            c = self.cadence
            gap = self._gap[job]
            hold = wait if wait is not None else 2 * gap
            self._hold = max(self._hold, self._clock() + hold)
            self.limited_polls += 1
            self._gap[job] = min(c.most, max(c.least, gap * 2))
            self._again(job, max(hold, gap))

    def finished(self, job: Hashable) -> None:
        """The job is done (succeeded, failed or cancelled): no more polls."""
        with self._lock:
            self._out.discard(job)
            self._gap.pop(job, None)

    def _again(self, job: Hashable, after: float) -> None:
        self._out.discard(job)
        heapq.heappush(self._due, (self._clock() + after, next(self._order), job))
