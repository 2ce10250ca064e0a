"""Waiting on many submitted jobs at once (job providers: fal's queue, Replicate's predictions,
Black Forest Labs' polling URL; provider batches): which job to poll next, and when.

Each job is polled no more often than its provider allows: first a little after it was
submitted, then at gaps growing by `factor` up to `most`, never under the provider's `least`;
all of one provider's polls together keep to its `rate` (a Provider, shared by every loop of
the process), and a 429 on a poll holds every poll of that provider for its Retry-After (or
twice the job's gap), halves its pace and widens the job's gap. One Polls per provider and
loop; a caller drives it from one loop or a bounded pool (run/polling.py):

    while polls.waiting:
        due = polls.take()
        if isinstance(due, float): sleep(due)          # nothing due yet
        else: status = poll(due); then polls.pending(due) / finished(due) / limited(due, wait)

Pure: no I/O, no sleeping; the clock (and the jitter's random source) are passed in, so tests
run it on a fake one. PollLimited is how a poll says it was answered 429 (wire/client.py raises
it from Client.ask(poll=True) instead of retrying alone: the hold is the whole provider's)."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable, Hashable

from imggen.job import Cadence

__all__ = ["Cadence", "Clock", "PollLimited", "Polls", "Provider"]

Clock = Callable[[], float]
_ANY = Cadence()


class PollLimited(Exception):
    """A poll answered 429: ``wait`` is its Retry-After in seconds (None when it gave none)."""

    def __init__(self, wait: float | None = None) -> None:
        super().__init__(f"poll rate-limited (Retry-After {wait})")
        self.wait = wait


class Provider:
    """What all the polls of one provider share, across every Polls waiting on it in this
    process (batch workers each wait on their own jobs): its rate and a 429's hold. The pace
    kept to starts at the rate the provider allows, halves at each 429 (the key may be shared,
    or the provider busier than it says) and climbs back by a twentieth of it each poll
    answered."""

    def __init__(self, rate: float | None = None, *, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.pace = rate
        self.limited_polls = 0  # polls answered 429
        self._clock = clock
        self._hold = 0.0  # no poll of this provider before this (a 429's Retry-After)
        self._next = 0.0  # nor before this (its rate)
        self._lock = threading.Lock()

    def claim(self) -> float:
        """0.0 when a poll may go now (and it is counted against the rate), else the seconds
        until one may."""
        with self._lock:
            now = self._clock()
            when = max(self._hold, self._next)
            if when > now + 1e-9:  # not a rounding error's worth early
                return when - now
            if self.pace:
                self._next = max(self._next, now) + 1 / self.pace
            return 0.0

    def hold(self, seconds: float) -> None:
        """A poll was answered 429: no poll of this provider for `seconds`."""
        with self._lock:
            self._hold = max(self._hold, self._clock() + seconds)
            self.limited_polls += 1
            if self.pace:
                self.pace = max(self.pace / 2, 0.1)

    def answered(self) -> None:
        """A poll was answered (not 429): the pace climbs back toward the rate."""
        if self.rate and self.pace:
            with self._lock:
                self.pace = min(self.rate, self.pace + self.rate / 20)


class Polls:
    """The jobs of one provider that one loop waits on. Thread-safe."""

    def __init__(
        self,
        cadence: Cadence = _ANY,
        *,
        clock: Clock = time.monotonic,
        rng: Callable[[], float] = random.random,
        provider: Provider | None = None,
    ) -> None:
        self.cadence = cadence
        self.provider = provider or Provider(cadence.rate, clock=clock)
        self._rng = rng
        self.counts: dict[Hashable, int] = {}  # polls made, by job
        self._clock = clock
        self._due: list[tuple[float, int, Hashable]] = []  # (when, order, job)
        self._gap: dict[Hashable, float] = {}
        self._out: set[Hashable] = set()  # taken, not yet answered
        self._order = itertools.count()
        self._lock = threading.Lock()

    @property
    def limited_polls(self) -> int:
        """Polls of this provider answered 429 (by any loop sharing its Provider)."""
        return self.provider.limited_polls

    @property
    def waiting(self) -> int:
        """Jobs not finished yet: due later, or being polled now."""
        with self._lock:
            return len(self._gap)

    def add(self, job: Hashable, first: float | None = None) -> None:
        """A job just submitted: its first poll comes `first` seconds from now (the cadence's
        own first gap unless given: 0 for a recorded job that may be long done)."""
        with self._lock:
            after = self.cadence.first if first is None else first
            self._gap[job] = max(self.cadence.first, self.cadence.least)
            self.counts.setdefault(job, 0)
            heapq.heappush(self._due, (self._clock() + after, next(self._order), job))

    def take(self) -> Hashable | float | None:
        """The job to poll now (counted; answer with pending/finished/limited), or seconds
        until one is due, or None when none is waiting to be polled."""
        with self._lock:
            if not self._due:
                return None
            early = self._due[0][0] - self._clock()
            if early > 1e-9:  # not a rounding error's worth early
                return early
            wait = self.provider.claim()
            if wait:
                return wait
            _, _, job = heapq.heappop(self._due)
            self._out.add(job)
            self.counts[job] += 1
            return job

    def pending(self, job: Hashable) -> None:
        """The poll found the job still queued or running: poll it again after a longer gap."""
        self.provider.answered()
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
            self.provider.hold(hold)
            self._gap[job] = min(c.most, max(c.least, gap * 2))
            self._again(job, max(hold, gap))

    def finished(self, job: Hashable) -> None:
        """The job is done (succeeded, failed or cancelled): no more polls."""
        self.provider.answered()
        with self._lock:
            self._out.discard(job)
            self._gap.pop(job, None)

    def _again(self, job: Hashable, after: float) -> None:
        if self.cadence.jitter:
            after *= 1 + self.cadence.jitter * self._rng()  # longer only: never under `least`
        self._out.discard(job)
        heapq.heappush(self._due, (self._clock() + after, next(self._order), job))
