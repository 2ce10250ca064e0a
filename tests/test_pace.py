"""Pacing at the gateway's rate (imggen.wire.pace): what replies say of a rate limit, and the
Gate workers pass, run on a fake clock against the offline gateway's own RateLimit."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import httpx
import pytest

from imggen.testing.protocol import HTTPError
from imggen.testing.ratelimit import RateLimit, go_duration, parse
from imggen.wire.pace import Gate, Reading, Ticket, duration, reading, retry_delay

# -- reading what the gateway says ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("1h2m3.5s", 3723.5),
        ("59.1s", 59.1),
        ("250us", 0.00025),
        ("30", 30.0),
        ("0.5", 0.5),
        ("", None),
        ("soon", None),
        ("1s junk", None),
        ("-3", None),
        ("nan", None),
    ],
)
def test_reset_durations(text: str, seconds: float | None) -> None:
    got = duration(text)
    assert got == seconds if seconds is None else got == pytest.approx(seconds)


def test_a_reset_given_as_a_unix_time_in_ms_or_s_counts_from_now() -> None:
    assert duration("1700000030000", wall=1_700_000_000.0) == pytest.approx(30.0)
    assert duration("1700000012", wall=1_700_000_000.0) == pytest.approx(12.0)
    assert duration("1700000012") is None  # no wall clock: cannot tell
    assert duration("1699999990", wall=1_700_000_000.0) == 0.0  # already past


def test_openai_headers_give_the_interval_the_bucket_refills_at() -> None:
    said = reading(
        httpx.Headers(
            {
                "X-RateLimit-Limit-Requests": "600",
                "X-RateLimit-Remaining-Requests": "599",
                "X-RateLimit-Reset-Requests": "100ms",
                "X-RateLimit-Remaining-Tokens": "0",
                "X-RateLimit-Reset-Tokens": "6m0s",
            }
        )
    )
    assert (said.limit, said.remaining, said.reset) == (600, 599, 0.1)
    assert said.interval == pytest.approx(0.1)  # one request back every 100 ms: 600 a minute
    assert (said.tokens_remaining, said.tokens_reset) == (0, 360.0)


@pytest.mark.parametrize(
    ("headers", "limit", "remaining", "reset"),
    [
        # OpenRouter: a reset as a Unix time in ms
        (
            {
                "x-ratelimit-limit": "20",
                "x-ratelimit-remaining": "10",
                "x-ratelimit-reset": "1700000005000",
            },
            20,
            10,
            5.0,
        ),
        # LiteLLM passing its provider's on
        (
            {
                "llm_provider-x-ratelimit-limit-requests": "60",
                "llm_provider-x-ratelimit-remaining-requests": "58",
                "llm_provider-x-ratelimit-reset-requests": "2s",
            },
            60,
            58,
            2.0,
        ),
        # the IETF draft's, reset in seconds
        (
            {"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "7"},
            100,
            0,
            7.0,
        ),
        # Azure: remaining without a limit
        ({"x-ratelimit-remaining-requests": "3"}, None, 3, None),
        ({}, None, None, None),
    ],
)
def test_other_gateways_rate_limit_headers(
    headers: dict[str, str], limit: float | None, remaining: float | None, reset: float | None
) -> None:
    said = reading(headers, wall=1_700_000_000.0)
    assert (said.limit, said.remaining, said.reset) == (limit, remaining, reset)


def test_retry_after_and_google_retry_delay_are_the_wait() -> None:
    assert reading({"retry-after-ms": "250"}).wait == 0.25
    google = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"},
            ],
        }
    }
    assert retry_delay(google) == 31.0
    assert reading({}, google).wait == 31.0
    assert reading({"retry-after": "2"}, google).wait == 2.0  # the header first
    assert retry_delay({"error": {"details": "none"}}) is None
    assert retry_delay(["not", "a", "dict"]) is None


def test_a_google_429_waits_its_retry_delay() -> None:
    from imggen.wire.status import error_for_status

    body = (
        b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota",'
        b' "details": [{"retryDelay": "3s"}]}}'
    )
    verdict = error_for_status(429, body, {}, lambda text: text)
    assert (verdict.retry, verdict.wait) == (True, 3.0)


# -- the gate on its own ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticket(gate: Gate) -> Ticket:
    got = gate.admit()
    assert isinstance(got, Ticket), got
    return got


def test_a_batch_sends_one_request_first_then_opens_the_window() -> None:
    clock = Clock()
    gate = Gate(4, clock=clock)
    first = ticket(gate)
    assert gate.admit() == pytest.approx(0.01)  # window of 1 until it is answered
    gate.done(first, 200)
    assert gate.window == 4
    held = [ticket(gate) for _ in range(4)]
    assert not isinstance(gate.admit(), Ticket)
    gate.done(held[0], 200)
    assert isinstance(gate.admit(), Ticket)


def test_headers_set_the_pace_and_the_remaining_may_go_at_once() -> None:
    clock = Clock()
    gate = Gate(16, clock=clock)
    first = ticket(gate)
    said = Reading(limit=600, remaining=3, reset=59.7)  # 10 a second, 3 left now
    gate.done(first, 200, said)
    assert gate.interval == pytest.approx(0.1)
    sent = [ticket(gate) for _ in range(3)]  # the one due now, then 2 of credit
    assert len(sent) == 3
    assert gate.admit() == pytest.approx(0.1)  # then one every 100 ms
    clock.now += 0.1
    ticket(gate)


def test_a_large_remaining_goes_at_once_and_only_the_last_are_spaced() -> None:
    clock = Clock()
    gate = Gate(8, clock=clock)
    first = ticket(gate)
    # a day's limit of 14,400 (one back every 6 s), 14,000 of it left
    gate.done(first, 200, Reading(limit=14400, remaining=14000, reset=2400.0))
    assert gate.interval == pytest.approx(6.0)
    assert len([ticket(gate) for _ in range(8)]) == 8  # no 6 s between them
    on_the_way = 8
    gate.done(Ticket(clock.now), 200, Reading(limit=14400, remaining=3, reset=86382.0))
    on_the_way -= 1
    assert gate.inflight == on_the_way
    assert gate.admit() == pytest.approx(6.0, rel=0.01)  # 3 left, 7 on their way: spaced


def test_a_shard_keeps_to_its_share_of_what_the_headers_announce() -> None:
    clock = Clock()
    gate = Gate(16, share=4, clock=clock)  # --shard I/4: four machines, one key
    gate.done(ticket(gate), 200, Reading(limit=600, remaining=8, reset=59.2))
    assert gate.interval == pytest.approx(0.4)  # 2.5 a second of the key's 10
    assert len([ticket(gate), ticket(gate)]) == 2  # 8 // 4 left now: the one due, one credit
    assert gate.admit() == pytest.approx(0.4)


def test_aimd_halves_on_429_or_503_once_per_event_and_grows_by_one() -> None:
    clock = Clock()
    gate = Gate(16, clock=clock)
    gate.done(ticket(gate), 200)  # wide open, nothing learnt
    on_the_way = [ticket(gate) for _ in range(16)]
    clock.now += 0.5
    gate.done(on_the_way[0], 503)
    assert gate.window == 8
    gate.done(on_the_way[1], 503)  # sent before the cut: the same event
    assert gate.window == 8
    for t in on_the_way[2:9]:
        gate.done(t, 200)
    assert gate.window == 15  # one more a success
    later = ticket(gate)
    clock.now += 0.1
    gate.done(later, 429)
    assert gate.window == 8 and gate.limited == 1
    assert gate.learnt == "429s" and gate.interval > 0
    for t in on_the_way[9:]:
        gate.done(t, 200)
    assert gate.window == 15
    for _ in range(3):
        clock.now += 1
        gate.done(ticket(gate), 200)
    assert gate.window == 16  # never past -j


def test_the_window_never_closes_below_one() -> None:
    clock = Clock()
    gate = Gate(2, clock=clock)
    for _ in range(5):
        t = ticket(gate)
        clock.now += 1
        gate.done(t, 503)
        clock.now += 60
    assert gate.window == 1


def test_exhausted_tokens_hold_every_request_until_their_reset() -> None:
    clock = Clock()
    gate = Gate(clock=clock)
    gate.done(ticket(gate), 200, Reading(tokens_remaining=0, tokens_reset=2.0))
    assert gate.admit() == pytest.approx(2.0)
    clock.now += 2.0
    ticket(gate)


def test_an_empty_bucket_without_a_limit_holds_until_its_reset() -> None:
    clock = Clock()
    gate = Gate(clock=clock)
    gate.done(ticket(gate), 200, Reading(remaining=0, reset=1.5))
    assert gate.admit() == pytest.approx(1.5)


def test_a_pause_holds_everyone() -> None:
    clock = Clock()
    gate = Gate(clock=clock)
    gate.pause(0.7)
    assert gate.admit() == pytest.approx(0.7)
    assert gate.until == pytest.approx(1000.7)


def test_without_a_window_a_command_sends_all_its_calls_at_once() -> None:
    gate = Gate(clock=Clock())
    assert all(isinstance(gate.admit(), Ticket) for _ in range(10))


# -- the gate against a rate-limited gateway, simulated ---------------------------------------


@dataclass(order=True)
class Event:
    at: float
    seq: int
    what: str = field(compare=False)
    job: int = field(compare=False)
    ticket: Ticket | None = field(compare=False, default=None)
    headers: dict[str, str] = field(compare=False, default_factory=dict)


def simulate(
    style: str, jobs: int = 60, workers: int = 16, latency: float = 0.3, limit: str = "600/min"
) -> tuple[float, int, float | None, int]:
    """-j workers through one Gate against RateLimit(limit, style), on a fake clock: (time the
    last job ends, 429s, time of the first 429, jobs the gateway had taken by then)."""
    clock = Clock()
    start = clock.now
    gate = Gate(workers, clock=clock)
    gateway = RateLimit(*parse(limit), style=style, clock=clock)
    queue: list[Event] = []
    seq = 0

    def at(when: float, what: str, job: int, **kw: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, Event(when, seq, what, job, **kw))  # type: ignore[arg-type]

    for w in range(workers):
        at(start, "ask", w)
    next_job, done, first, taken_then = workers, 0, None, 0
    while queue and done < jobs:
        ev = heapq.heappop(queue)
        clock.now = ev.at
        if ev.what == "ask":
            got = gate.admit()
            if not isinstance(got, Ticket):
                at(clock.now + got, "ask", ev.job)
                continue
            try:
                headers = gateway.take()
            except HTTPError as exc:
                if first is None:
                    first, taken_then = clock.now - start, gateway.taken
                said = reading(exc.reply.headers)
                gate.done(got, 429, said)
                if said.wait:
                    gate.pause(said.wait)
                at(clock.now, "ask", ev.job)
                continue
            at(clock.now + latency, "answer", ev.job, ticket=got, headers=headers)
        else:
            assert ev.ticket is not None
            gate.done(ev.ticket, 200, reading(ev.headers))
            done += 1
            if next_job < jobs:
                at(clock.now, "ask", next_job)
                next_job += 1
    return clock.now - start, gateway.refused, first, taken_then


FLOOR = 60 / 10 + 0.3  # 60 requests at 10 a second, plus one request's latency


def test_with_openai_headers_a_run_ends_within_1_1x_of_the_floor_with_at_most_2_429s() -> None:
    took, refused, _, _ = simulate("openai")
    assert took <= 1.1 * FLOOR
    assert refused <= 2


@pytest.mark.parametrize("style", ["none", "retry-after"])
def test_without_headers_a_run_ends_within_1_3x_of_the_floor_after_the_first_429(
    style: str,
) -> None:
    took, refused, first, taken = simulate(style)
    assert first is not None and refused >= 1
    after_floor = (60 - taken) / 10 + 0.3
    assert took - first <= 1.3 * after_floor


def test_a_slow_limit_and_slow_gateway_stay_near_the_floor() -> None:
    took, refused, _, _ = simulate("openai", jobs=30, workers=8, latency=2.0, limit="60/min")
    assert took <= 1.1 * (30 / 1 + 2.0)
    assert refused <= 2


# -- the offline gateway's limit --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("600/min", (600, 60.0)),
        ("10/s", (10, 1.0)),
        ("5000/hour", (5000, 3600.0)),
        ("30/90s", (30, 90.0)),
    ],
)
def test_rate_limit_forms(text: str, limit: tuple[int, float]) -> None:
    assert parse(text) == limit


@pytest.mark.parametrize("text", ["600", "0/min", "x/min", "10/fortnight", "10/0s", ""])
def test_bad_rate_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="600/min"):
        parse(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "20ms"), (1.0, "1s"), (59.1, "59.1s"), (360.0, "6m0s"), (3723.5, "1h2m3.5s")],
)
def test_reset_values_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
    assert duration(text) == pytest.approx(seconds)


def test_the_offline_limit_lets_a_second_s_worth_through_then_refuses() -> None:
    clock = Clock()
    limit = RateLimit(600, 60, clock=clock)
    said = [limit.take() for _ in range(10)]
    assert said[0]["x-ratelimit-limit-requests"] == "600"
    assert said[0]["x-ratelimit-remaining-requests"] == "9"
    assert said[-1]["x-ratelimit-remaining-requests"] == "0"
    assert reading(said[-1]).interval == pytest.approx(0.1)
    with pytest.raises(HTTPError) as info:
        limit.take()
    reply = info.value.reply
    assert reply.status == 429
    assert (reply.headers["retry-after-ms"], reply.headers["retry-after"]) == ("100", "1")
    assert b"rate_limit_exceeded" in reply.body
    clock.now += 0.1
    limit.take()
    assert (limit.taken, limit.refused) == (11, 1)


@pytest.mark.parametrize(("style", "names"), [("retry-after", {"retry-after"}), ("none", set())])
def test_the_quiet_styles_send_no_limit_headers(style: str, names: set[str]) -> None:
    limit = RateLimit(1, 60, style=style, clock=Clock())
    assert limit.take() == {}
    with pytest.raises(HTTPError) as info:
        limit.take()
    assert {k for k in info.value.reply.headers if k.startswith(("retry", "x-rate"))} == names


def test_unknown_styles_are_refused() -> None:
    with pytest.raises(ValueError, match="openai"):
        RateLimit(1, 1, style="loud")
