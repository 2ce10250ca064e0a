"""imggen.wire.retry: Retry-After parsing, backoff from Limits, and the Retrier's loop (what
is retried, what is marked delivered, what a fork shares)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from imggen.errors import GatewayFailed, GatewayRefused
from imggen.limits import Limits
from imggen.wire.retry import Retrier, RetryLater, backoff, retry_after

NO_BACKOFF = Limits(backoff_base=0.0)


# -- Retry-After and backoff -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(httpx.Headers(headers)) == seconds


def test_retry_after_as_a_future_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = retry_after(httpx.Headers({"retry-after": when}))

    assert wait is not None and 27 <= wait <= 31


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (5, 4.0, 8.0), (9, 4.0, 8.0)],
)
def test_backoff_stays_within_jittered_bounds(attempt: int, low: float, high: float) -> None:
    waits = [backoff(attempt, Limits()) for _ in range(200)]

    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 1  # jitter, so workers do not retry in step


def test_backoff_follows_the_limits() -> None:
    assert backoff(3, Limits(backoff_base=0.0)) == 0.0
    assert all(0.5 <= backoff(9, Limits(backoff_cap=1.0)) <= 1.0 for _ in range(50))


# -- the loop ------------------------------------------------------------------------------------


def attempts(*outcomes: object, deliver: bool = False) -> tuple[list[int], object]:
    """An attempt raising or returning the outcomes in turn; `calls` counts them."""
    calls: list[int] = []
    queue = list(outcomes)

    def attempt(delivered: list[bool]) -> object:
        calls.append(1)
        delivered[0] = deliver
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return calls, attempt


def test_retry_later_is_retried_and_announced() -> None:
    messages: list[str] = []
    retrier = Retrier(retries=2, limits=NO_BACKOFF, on_retry=messages.append)
    calls, attempt = attempts(RetryLater(GatewayFailed("HTTP 503 from the gateway")), "ok")

    assert retrier.run(attempt, what="GET /models") == "ok"  # type: ignore[arg-type]
    assert (len(calls), retrier.retried) == (2, 1)
    assert messages == ["HTTP 503 from the gateway; retrying GET /models in 0.0 s (attempt 2 of 3)"]


def test_other_errors_are_not_retried() -> None:
    retrier = Retrier(retries=2, limits=NO_BACKOFF)
    calls, attempt = attempts(GatewayRefused("no"), "ok")

    with pytest.raises(GatewayRefused):
        retrier.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert (len(calls), retrier.retried) == (1, 0)


def test_an_error_after_delivery_is_marked_delivered_not_retried() -> None:
    retrier = Retrier(retries=2, limits=NO_BACKOFF)
    original = GatewayFailed("the gateway sent invalid base64 image data: junk", hint="h")
    calls, attempt = attempts(original, "ok", deliver=True)

    with pytest.raises(GatewayFailed) as info:
        retrier.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert (info.value.message, info.value.hint, info.value.delivered) == (
        original.message,
        "h",
        True,
    )
    assert original.delivered is False  # a marked copy: the caught error is left as it was
    assert len(calls) == 1


def test_a_broken_connection_after_delivery_is_not_retried() -> None:
    retrier = Retrier(retries=2, limits=NO_BACKOFF)
    broken = RetryLater(GatewayFailed("the connection to gw broke mid-reply: reset"))
    calls, attempt = attempts(broken, "ok", deliver=True)

    with pytest.raises(GatewayFailed) as info:
        retrier.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert info.value.message == (
        "the connection to gw broke mid-reply: reset (the stream had started delivering, so it "
        "is not retried)"
    )
    assert (info.value.delivered, len(calls)) == (True, 1)


def test_retry_after_cap_comes_from_the_limits() -> None:
    retrier = Retrier(retries=2, limits=Limits(retry_after_cap=1.0))
    calls, attempt = attempts(RetryLater(GatewayFailed("HTTP 429 from the gateway"), 2.0), "ok")

    with pytest.raises(GatewayFailed) as info:
        retrier.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert info.value.message == (
        "HTTP 429 from the gateway; the gateway asks to wait 2 s, more than imggen's 1 s cap"
    )
    assert len(calls) == 1


def test_a_fork_shares_pacer_cancellation_and_limits_but_counts_alone() -> None:
    parent = Retrier(retries=2, limits=NO_BACKOFF, deadline=time.monotonic() + 60)
    child = parent.fork(retries=0)
    calls, attempt = attempts(RetryLater(GatewayFailed("HTTP 502 from the gateway")), "ok")

    with pytest.raises(GatewayFailed):
        child.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert (child.pacer, child.cancelled, child.limits) == (
        parent.pacer,
        parent.cancelled,
        parent.limits,
    )
    assert (child.retries, child.deadline, child.retried, parent.retried) == (0, None, 0, 0)


def test_cancelled_stops_the_wait_between_tries() -> None:
    retrier = Retrier(retries=2, limits=Limits(backoff_base=30.0, backoff_cap=30.0))
    retrier.cancelled.set()
    calls, attempt = attempts(RetryLater(GatewayFailed("HTTP 502 from the gateway")), "ok")
    started = time.monotonic()

    with pytest.raises(GatewayFailed, match="^cancelled$"):
        retrier.run(attempt, what="POST /x")  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
