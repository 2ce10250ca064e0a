"""When to ask again and how long to wait: backoff with jitter, Retry-After, the pause a 429 puts
on every worker sharing a gateway (Pacer), and the retry loop (Retrier) that the API client and
the downloader both run their attempts in. No httpx: an attempt signals with RetryLater."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from imggen.errors import DeadlineExceeded, GatewayFailed, ImggenError
from imggen.limits import Limits

T = TypeVar("T")


class RetryLater(Exception):
    """Raised by an attempt that failed in a way worth asking again (a retried status, a broken
    connection, a stream that ended before its first event); ``wait`` is the gateway's
    Retry-After in seconds, if it gave one; ``reached`` is False when the request never got to
    the gateway (no connection: refused, DNS, connect timeout). The Retrier decides whether
    another try comes."""

    def __init__(
        self, error: ImggenError, wait: float | None = None, *, reached: bool = True
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait
        self.reached = reached


@dataclass
class Pacer:
    """Shared among workers: a 429's Retry-After pauses every request, not just one."""

    until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.until = max(self.until, time.monotonic() + seconds)

    def wait(self, cancelled: threading.Event, deadline: float | None) -> None:
        while (delay := self.until - time.monotonic()) > 0:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise GatewayFailed(
                    "the gateway asked to slow down past the time limit (--timeout)"
                )
            if cancelled.wait(min(delay, 0.2)):
                return


def backoff(attempt: int, limits: Limits) -> float:
    """Exponential backoff with full jitter: about 0.5 s, 1 s, 2 s ... up to the cap."""
    ceiling: float = min(limits.backoff_cap, limits.backoff_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from retry-after-ms, or Retry-After as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Retrier:
    """Runs one client's attempts (or one batch job's, through fork()): its own retry budget,
    deadline and count of retries made; the Pacer, cancellation and Limits shared with forks.
    Thread-safe: `-n` fan-out sends several calls through one Retrier."""

    def __init__(
        self,
        *,
        retries: int = 2,
        limits: Limits,
        pacer: Pacer | None = None,
        cancelled: threading.Event | None = None,
        deadline: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.retries = retries
        self.limits = limits
        self.pacer = pacer or Pacer()
        self.cancelled = cancelled or threading.Event()
        self.deadline = deadline
        self.on_retry = on_retry or (lambda message: None)
        self.retried = 0
        self.resent = 0  # retries of a POST the gateway may have billed already
        self._lock = threading.Lock()

    def fork(
        self,
        *,
        retries: int | None = None,
        deadline: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> Retrier:
        """Another job's Retrier: the same Pacer, cancellation and limits; its own budget,
        deadline (none unless given) and count."""
        return Retrier(
            retries=self.retries if retries is None else retries,
            limits=self.limits,
            pacer=self.pacer,
            cancelled=self.cancelled,
            deadline=deadline,
            on_retry=on_retry or self.on_retry,
        )

    def count(self, *, billable: bool) -> None:
        """A retry made outside run()'s loop (a stream resent without the stream)."""
        with self._lock:
            self.retried += 1
            self.resent += int(billable)

    def check_deadline(self) -> None:
        """Raises DeadlineExceeded once --timeout has run out."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded(
                "the time limit (--timeout) ran out before the reply was complete",
                hint="pass a longer --timeout SECONDS for a slow gateway",
            )

    def budget(self, read_timeout: float) -> float:
        """How long one read may wait: read_timeout, or what is left before the deadline."""
        if self.deadline is None:
            return read_timeout
        return max(0.05, min(read_timeout, self.deadline - time.monotonic()))

    def run(self, attempt: Callable[[list[bool]], T], *, what: str) -> T:
        """attempt(delivered) until it returns, again after each RetryLater while tries and
        time remain. An attempt sets delivered[0] once a stream has begun delivering: from then
        on its errors carry ``delivered`` and nothing is retried (the image was likely billed).

        Raises the ImggenError that ended the attempts; GatewayFailed("cancelled") on close().
        """
        tries = self.retries + 1
        for k in range(1, tries + 1):
            self.pacer.wait(self.cancelled, self.deadline)
            delivered = [False]
            try:
                return attempt(delivered)
            except ImggenError as exc:
                if delivered[0] and not exc.delivered:  # e.g. a stream cut after its first event
                    raise exc.as_delivered().with_traceback(exc.__traceback__) from exc.__cause__
                raise
            except RetryLater as exc:
                error, wait, reached = exc.error, exc.wait, exc.reached
                if delivered[0]:
                    raise GatewayFailed(
                        f"{error.message} (the stream had started delivering, so it is not "
                        "retried)",
                        hint="try again, or use --no-stream",
                        delivered=True,
                    ) from exc.__cause__
            if self.cancelled.is_set():
                raise GatewayFailed("cancelled")
            delay = self._delay(k, tries, error, wait)
            if error.status == 429:  # a 429 holds back every worker sharing this gateway (batch)
                self.pacer.pause(delay)
            # Billed twice only if the first try may have made an image: it reached the gateway,
            # which did not turn it away unread (a 429 is refused before any work).
            billable = what.startswith("POST") and reached and error.status != 429
            with self._lock:
                self.retried += 1
                self.resent += int(billable)
            billed = ", a retried generation may be billed twice" if billable else ""
            self.on_retry(
                f"{error.message}; retrying {what} in {delay:.1f} s "
                f"(attempt {k + 1} of {tries}{billed})"
            )
            if self.cancelled.wait(delay):
                raise GatewayFailed("cancelled")
        raise AssertionError("unreachable")

    def _delay(self, k: int, tries: int, error: ImggenError, wait: float | None) -> float:
        """Seconds before try k + 1; raises `error` (or why not) when there is to be none."""
        if k == tries:
            raise error
        cap = self.limits.retry_after_cap
        if wait is not None and wait > cap:
            raise GatewayFailed(
                f"{error.message}; the gateway asks to wait {wait:.0f} s, more than "
                f"imggen's {cap:.0f} s cap",
                hint="try again later",
            )
        delay = wait if wait is not None else backoff(k, self.limits)
        if isinstance(error, DeadlineExceeded):
            raise error
        if self.deadline is not None and time.monotonic() + delay > self.deadline:
            raise GatewayFailed(
                f"{error.message} (no time left under the time limit, --timeout, to retry)"
            )
        return delay
