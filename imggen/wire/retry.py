"""When to try again and how long to wait: backoff with jitter, Retry-After, and the pause
that a 429 puts on every worker sharing a gateway. Pure: no I/O."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from imggen.errors import GatewayFailed

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0


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
                raise GatewayFailed("the gateway asked to slow down past --timeout")
            if cancelled.wait(min(delay, 0.2)):
                return


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: about 0.5 s, 1 s, 2 s ... capped."""
    ceiling: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after(headers: Any) -> float | None:
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
