"""Pacing at the gateway's rate: what a reply says of its rate limit (Reading, from the
x-ratelimit-* headers of OpenAI, Azure, OpenRouter and LiteLLM, the IETF RateLimit-* ones,
Retry-After and Google's RetryInfo), and the Gate every worker of one gateway passes before
each request: a release interval learnt from those readings (or from the 429s themselves when
a gateway says nothing), a pause while the gateway asked for one, and a concurrency window that
grows by one per success and halves on a 429 or 503 (AIMD), between 1 and -j.

Pure: no httpx, no sleeping; the clocks are passed in, so tests run it on a fake one."""

from __future__ import annotations

import email.utils
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]

# Go's time.Duration as OpenAI writes it ("6m0s", "1s", "20ms", "1h2m3.5s"), and bare seconds.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_EPOCH = 1e9  # a reset value this large is a point in time (seconds or ms since 1970)


def duration(text: str | None, *, wall: float | None = None) -> float | None:
    """Seconds from a reset value: "6m0s", "20ms", "1.5s", "30" (seconds), or a Unix time in
    seconds or milliseconds (OpenRouter's X-RateLimit-Reset) when ``wall`` (time.time()) is
    given. None when it is none of these."""
    text = (text or "").strip().lower()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pos, total = 0, 0.0
        for part in _PART.finditer(text):
            if part.start() != pos:
                return None
            total += float(part.group(1)) * _UNIT[part.group(2)]
            pos = part.end()
        return total if pos == len(text) and pos else None
    if not math.isfinite(value) or value < 0:
        return None
    if value >= _EPOCH:
        if wall is None:
            return None
        return max(0.0, (value / 1000 if value >= _EPOCH * 1000 else value) - wall)
    return value


def retry_after(headers: Mapping[str, str], *, wall: float | None = None) -> float | None:
    """Seconds to wait from retry-after-ms, or Retry-After as seconds or an HTTP date."""
    ms = _finite(headers.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000)
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if wall is None else wall))


def _finite(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _number(text: str | None) -> float | None:
    value = _finite(text)
    return value if value is not None and value >= 0 else None


@dataclass(frozen=True)
class Reading:
    """What one reply said of the limit. ``limit``/``remaining``/``reset``: the requests
    bucket (reset: seconds until it is full again); ``tokens_remaining``/``tokens_reset`` the
    tokens one; ``wait``: Retry-After, retry-after-ms or Google's retryDelay, in seconds."""

    limit: float | None = None
    remaining: float | None = None
    reset: float | None = None
    tokens_remaining: float | None = None
    tokens_reset: float | None = None
    wait: float | None = None

    @property
    def interval(self) -> float | None:
        """Seconds between requests at the rate the requests bucket refills: a bucket of
        `limit` that is full again `reset` seconds after holding `remaining`."""
        if self.limit is None or self.remaining is None or not self.reset:
            return None
        used = self.limit - self.remaining
        return self.reset / used if used >= 1 else None


_FAMILIES = (  # (limit, remaining, reset) header names, most specific first
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    (
        "llm_provider-x-ratelimit-limit-requests",  # LiteLLM passes the provider's on
        "llm_provider-x-ratelimit-remaining-requests",
        "llm_provider-x-ratelimit-reset-requests",
    ),
    ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),  # OpenRouter
    ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"),  # IETF draft
)


def reading(headers: Mapping[str, str], body: Any = None, *, wall: float | None = None) -> Reading:
    """The Reading of a reply's headers (case-insensitive names, or lower-case keys) and, for
    an error, its parsed JSON body (Google's RetryInfo). ``wall``: time.time(), for resets given
    as a point in time."""
    limit = remaining = reset = None
    for lim, rem, res in _FAMILIES:
        remaining = _number(headers.get(rem))
        if remaining is not None:
            limit = _number(headers.get(lim))
            reset = duration(headers.get(res), wall=wall)
            break
    wait = retry_after(headers, wall=wall)
    return Reading(
        limit=limit,
        remaining=remaining,
        reset=reset,
        tokens_remaining=_number(headers.get("x-ratelimit-remaining-tokens")),
        tokens_reset=duration(headers.get("x-ratelimit-reset-tokens"), wall=wall),
        wait=wait if wait is not None else retry_delay(body),
    )


def retry_delay(body: Any) -> float | None:
    """Google's RESOURCE_EXHAUSTED answer: error.details[] holds a RetryInfo whose retryDelay
    ("30s", "1.5s") says when to ask again. None for any other body."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping) or not isinstance(err.get("details"), list):
        return None
    for detail in err["details"]:
        if isinstance(detail, Mapping) and isinstance(detail.get("retryDelay"), str):
            return duration(detail["retryDelay"])
    return None


@dataclass(frozen=True)
class Ticket:
    """One admitted request: when it went, for telling a new congestion event from an old
    one (requests already on their way when the window was cut do not cut it again)."""

    sent: float


# Learnt from 429s alone (no headers): the pace the gateway took requests at over the last
# _SAMPLE seconds (at least one second: a gateway lets a second's worth through at once), a
# _MARGIN slower; then a probe 0.2% faster a success, until the next 429 measures it again.
_SAMPLE = 2.0
_MARGIN = 1.05
_PROBE_UP = 0.998
_BACK_OFF = 1.25  # a 429 despite the headers' rate: 20% slower


class Gate:
    """The shared view of one gateway's limit. ``most``: the widest concurrency window (-j);
    None for no window (one command's calls), with the rate and pauses still kept. ``share``:
    how many machines share the key (--shard I/N); each keeps to 1/share of what the headers
    announce (a pace learnt from 429s is this machine's own already).

    admit() asks to send: a Ticket, or the seconds to wait before asking again; done() says
    how it went (the HTTP status, 0 for a network failure, and the reply's Reading).
    Thread-safe; never sleeps."""

    def __init__(
        self, most: int | None = None, *, share: int = 1, clock: Clock = time.monotonic
    ) -> None:
        self.most = most
        self.share = max(1, share)  # --shard I/N: this machine's 1/N of a shared key's limit
        self.window = 1 if most else math.inf  # a first request alone, then wide open
        self.interval = 0.0  # seconds between releases; 0: no rate known
        self.learnt = ""  # "headers" or "429s": where the interval came from
        self.until = 0.0  # nothing goes before this (Retry-After, an exhausted bucket)
        self.inflight = 0
        self.limited = 0  # 429s seen
        self._clock = clock
        self._next = 0.0
        self._credit = 0  # requests the gateway said may go now, before spacing them
        self._cut = -math.inf
        self._probing = most is not None
        self._sent: deque[float] = deque(maxlen=1024)
        self._refused: deque[float] = deque(maxlen=1024)
        self._lock = threading.Lock()

    def admit(self) -> Ticket | float:
        """A Ticket to send now, or how long to wait first (a short nap while the window is
        full: done() of another request frees it)."""
        with self._lock:
            now = self._clock()
            if now < self.until:
                return self.until - now
            if self.inflight >= self.window:
                return 0.01
            if self.interval and now < self._next:
                if not self._credit:
                    return self._next - now
                self._credit -= 1
            else:
                self._next = max(self._next, now) + self.interval
            self.inflight += 1
            self._sent.append(now)
            return Ticket(now)

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (a Retry-After)."""
        with self._lock:
            self.until = max(self.until, self._clock() + seconds)

    def done(self, ticket: Ticket, status: int, said: Reading = Reading()) -> None:
        """Free the ticket's place and learn from its answer."""
        with self._lock:
            now = self._clock()
            self.inflight = max(0, self.inflight - 1)
            self._learn(now, said)
            if status in (429, 503):
                self._congested(now, ticket, status, said)
            elif 200 <= status < 300:
                if self.most:
                    wide = self._probing or self.learnt == "headers"
                    self.window = self.most if wide else min(self.most, self.window + 1)
                self._probing = False
                if self.learnt == "429s":
                    self.interval *= _PROBE_UP

    def _learn(self, now: float, said: Reading) -> None:
        interval = said.interval
        if interval is not None:
            self.interval, self.learnt = interval * self.share, "headers"
            # what is left may go at once (a key allowed 14,400 a day with 14,000 left need
            # not wait 6 s between requests), less what is on its way and not yet counted
            self._credit = max(0, int(said.remaining or 0) // self.share - self.inflight - 1)
        elif said.remaining == 0 and said.reset:  # empty, with no rate to spread by
            self.until = max(self.until, now + said.reset)
        if said.tokens_remaining == 0 and said.tokens_reset:
            self.until = max(self.until, now + said.tokens_reset)

    def _congested(self, now: float, ticket: Ticket, status: int, said: Reading) -> None:
        self._credit = 0
        if status == 429:
            self.limited += 1
            self._refused.append(ticket.sent)
        new = ticket.sent >= self._cut  # not on its way before the last cut
        if new:
            self._cut = now
            if self.most:
                self.window = max(1, math.ceil(self.window / 2))
        if status != 429 or said.interval is not None:
            return
        if self.learnt == "headers":
            if new:
                self.interval *= _BACK_OFF  # headers promised more than the gateway gives
        else:
            measured = self._measured(now)
            if measured is not None:
                self.interval = measured if new else max(self.interval, measured)
            elif new:
                self.interval = max(self.interval * _BACK_OFF, said.wait or 0.0, 0.1)
            self.learnt = "429s"
        self._next = max(self._next, now + self.interval)

    def _measured(self, now: float) -> float | None:
        """The interval at which the gateway took requests lately (those sent in the last
        _SAMPLE seconds and not refused: a refusal comes at once), a _MARGIN slower; None
        with fewer than two."""
        since = now - _SAMPLE
        sent = [t for t in self._sent if t >= since]
        taken = len(sent) - sum(1 for t in self._refused if t >= since)
        if taken < 2:
            return None
        return max(now - sent[0], 1.0) / taken * _MARGIN
