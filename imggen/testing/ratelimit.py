"""A rate limit for the fake gateway (--rate-limit 600/min): requests past it are answered 429,
and, as OpenAI does, every answer says where the limit stands.

The limit is a bucket of N requests refilled at N per period, of which at most one second's
worth may be spent at once: OpenAI enforces a per-minute limit over shorter periods, so 600 a
minute is 10 a second, not 600 in the first second. Its headers (``headers="openai"``) are
OpenAI's: x-ratelimit-limit-requests (N), x-ratelimit-remaining-requests (what may go now),
x-ratelimit-reset-requests (until the N-bucket is full again, as "59.1s" or "6m0s") and the
-tokens ones; a 429 carries retry-after-ms and retry-after too. ``"retry-after"`` sends only
Retry-After on a 429; ``"none"`` a bare 429, as gateways that announce nothing do."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable

from imggen.testing.protocol import HTTPError, error_reply

STYLES = ("openai", "retry-after", "none")
_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PERIODS.update({"h": 3600.0, "hour": 3600.0})
TOKENS = 1_000_000  # the tokens limit announced; image requests never reach it here


def parse(text: str) -> tuple[int, float]:
    """(requests, seconds) from "600/min", "10/s", "5000/hour" or "30/90s". Raises
    ValueError naming the form."""
    count, _, per = text.strip().partition("/")
    match = re.fullmatch(r"(\d*\.?\d*)\s*([a-z]+)", per.strip().lower())
    try:
        n = int(count)
        if match and match.group(2) in _PERIODS:
            seconds = float(match.group(1) or 1) * _PERIODS[match.group(2)]
            if n >= 1 and seconds > 0:
                return n, seconds
    except ValueError:
        pass
    raise ValueError(f"expected REQUESTS/PERIOD such as 600/min or 10/s, not {text!r}")


def go_duration(seconds: float) -> str:
    """A duration as OpenAI's reset headers write it (Go's): "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


class RateLimit:
    """``limit`` requests per ``period`` seconds; ``style`` one of STYLES. Counts what it let
    through (``taken``) and turned away (``refused``). Thread-safe."""

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        style: str = "openai",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        self.limit, self.period, self.style = limit, period, style
        self.rate = limit / period  # requests a second
        self.burst = max(1.0, self.rate)  # one second's worth at once
        self.taken = self.refused = 0
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> dict[str, str]:
        """Let one request through and return the headers its answer carries. Raises
        HTTPError with the 429 answer when the limit is reached."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
                self.taken += 1
            else:
                self.refused += 1
            tokens = self._tokens
        headers = self._headers(tokens)
        if allowed:
            return headers
        wait = (1 - tokens) / self.rate
        if self.style == "openai":
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        if self.style != "none":
            headers["retry-after"] = str(math.ceil(wait))
        reply = error_reply(
            429,
            f"Rate limit reached for requests: limit {self.limit} per {go_duration(self.period)}",
            "requests",
            "rate_limit_exceeded",
        )
        reply.headers.update(headers)
        raise HTTPError(reply)

    def _headers(self, tokens: float) -> dict[str, str]:
        if self.style != "openai":
            return {}
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(math.floor(tokens)),
            "x-ratelimit-reset-requests": go_duration((self.limit - tokens) / self.rate),
            "x-ratelimit-limit-tokens": str(TOKENS),
            "x-ratelimit-remaining-tokens": str(TOKENS),
            "x-ratelimit-reset-tokens": "0s",
        }
