"""When to ask again and how long to wait: backoff with jitter, Retry-After, the pause a 429 puts
on every worker sharing a gateway (Pacer), and the retry loop (Retrier) that the API client and
the downloader both run their attempts in. No httpx: an attempt signals with RetryLater."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from imggen.errors import DeadlineExceeded, GatewayFailed, ImggenError
from imggen.limits import Limits
from imggen.wire.pace import Clock, Gate, Reading, Ticket, retry_after

__all__ = ["Pacer", "Retrier", "RetryLater", "backoff", "retry_after"]

T = TypeVar("T")

# 429s a batch job may meet while the gate finds the gateway's pace (see Retrier.run)
RATE_LIMITED_TRIES = 8


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


class Pacer:
    """Shared among the workers of one gateway: the Gate they pass before each request (its
    rate, pauses and, in a batch, concurrency window), blocking until it lets one go."""

    def __init__(
        self, most: int | None = None, *, share: int = 1, clock: Clock = time.monotonic
    ) -> None:
        self.gate = Gate(most, share=share, clock=clock)

    @property
    def until(self) -> float:
        """Nothing is sent before this time (monotonic): a Retry-After or 429's pause."""
        return self.gate.until

    @property
    def adaptive(self) -> bool:
        """Whether the gate learns the rate and sizes the window (a batch), so a 429 costs no
        backoff of its own."""
        return self.gate.most is not None

    def pause(self, seconds: float) -> None:
        self.gate.pause(seconds)

    def wait(self, cancelled: threading.Event, deadline: float | None) -> Ticket | None:
        """A Ticket once the gate lets a request go; None when cancelled. Raises
        GatewayFailed when the gate's wait would outlast the deadline."""
        while not isinstance(admitted := self.gate.admit(), Ticket):
            if deadline is not None and time.monotonic() + admitted > deadline:
                raise GatewayFailed(
                    "the gateway asked to slow down past the time limit (--timeout)"
                )
            if cancelled.wait(min(admitted, 0.2)):
                return None
        return admitted

    def done(self, ticket: Ticket | None, status: int, said: Reading) -> None:
        if ticket is not None:
            self.gate.done(ticket, status, said)


def backoff(attempt: int, limits: Limits) -> float:
    """Exponential backoff with full jitter: about 0.5 s, 1 s, 2 s ... up to the cap."""
    ceiling: float = min(limits.backoff_cap, limits.backoff_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


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
        self._heard = threading.local()

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

    def heard(self, status: int, said: Reading) -> None:
        """What the gateway answered the attempt under way in this thread: its status and what
        it said of its rate limit, for the Pacer's gate."""
        self._heard.value = (status, said)

    def run(self, attempt: Callable[[list[bool]], T], *, what: str, paced: bool = True) -> T:
        """attempt(delivered) until it returns, again after each RetryLater while tries and
        time remain. An attempt sets delivered[0] once a stream has begun delivering: from then
        on its errors carry ``delivered`` and nothing is retried (the image was likely billed).
        ``paced``: each attempt passes the Pacer's gate first (API calls, not image downloads
        from another host).

        Under a batch's adaptive Pacer a 429 (refused before any work, so never billed) is
        retried up to RATE_LIMITED_TRIES times whatever --retries says (unless it says 0), and
        waits in the gate rather than backing off alone.

        Raises the ImggenError that ended the attempts; GatewayFailed("cancelled") on close().
        """
        tries, limited = self.retries + 1, 0
        k = 0
        while True:
            delivered = [False]
            try:
                return self._attempt(attempt, delivered, paced)
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
            gated = paced and self.pacer.adaptive and self.retries > 0
            if gated and error.status == 429 and limited < max(self.retries, RATE_LIMITED_TRIES):
                limited += 1
                n, most = limited, max(self.retries, RATE_LIMITED_TRIES) + 1
                self._delay(n, most, error, wait)  # raises past the Retry-After cap or deadline
                if wait:
                    self.pacer.pause(wait)  # e.g. Google's retryDelay, in the body
                delay = 0.0  # the gate spreads the retries
            else:
                k += 1
                n, most = k, tries
                delay = self._delay(k, tries, error, wait)
                if error.status == 429:  # a 429 holds back every worker sharing this gateway
                    self.pacer.pause(delay)
            # Billed twice only if the first try may have made an image: it reached the gateway,
            # which did not turn it away unread (a 429 is refused before any work).
            billable = what.startswith("POST") and reached and error.status != 429
            with self._lock:
                self.retried += 1
                self.resent += int(billable)
            billed = ", a retried generation may be billed twice" if billable else ""
            when = f"in {delay:.1f} s" if delay or not gated else "at the gateway's pace"
            self.on_retry(
                f"{error.message}; retrying {what} {when} (attempt {n + 1} of {most}{billed})"
            )
            if delay and self.cancelled.wait(delay):
                raise GatewayFailed("cancelled")

    def _attempt(self, attempt: Callable[[list[bool]], T], delivered: list[bool], paced: bool) -> T:
        """One attempt, through the gate when paced; the gate hears how it went."""
        if not paced:
            return attempt(delivered)
        ticket = self.pacer.wait(self.cancelled, self.deadline)
        if ticket is None:
            raise GatewayFailed("cancelled")
        self._heard.value = None
        try:
            return attempt(delivered)
        finally:
            status, said = self._heard.value or (0, Reading())
            self._heard.value = None
            self.pacer.done(ticket, status, said)

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
