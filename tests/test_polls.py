"""Waiting on many jobs (imggen.wire.polls): each job polled no more often than its provider
allows, backing off, all of a provider's polls within its rate, 429s on polls honoured; on a
fake clock."""

from __future__ import annotations

import pytest

from imggen.wire.polls import Cadence, Polls


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_nothing_waiting_is_none_and_a_new_job_waits_its_first_gap() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=2.0), clock=clock)
    assert polls.take() is None and polls.waiting == 0
    polls.add("a")
    assert polls.take() == pytest.approx(2.0)
    clock.now += 2.0
    assert polls.take() == "a"
    assert polls.counts == {"a": 1}
    assert polls.take() is None  # being polled: not due again until answered


def test_gaps_grow_by_the_factor_between_least_and_most() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.5, least=1.0, most=4.0, factor=2.0), clock=clock)
    polls.add("a")
    gaps = []
    for _ in range(6):
        wait = polls.take()
        assert isinstance(wait, float)
        gaps.append(round(wait, 6))
        clock.now += wait
        assert polls.take() == "a"
        polls.pending("a")
    assert gaps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_finished_job_is_never_polled_again() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.0), clock=clock)
    polls.add("a")
    assert polls.take() == "a"
    polls.finished("a")
    assert polls.waiting == 0 and polls.take() is None


def test_the_providers_rate_spaces_polls_of_different_jobs() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.0, rate=4.0), clock=clock)
    for job in "abc":
        polls.add(job)
    assert polls.take() == "a"
    assert polls.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert polls.take() == "b"


def test_a_429_holds_every_poll_for_its_retry_after_and_widens_the_gap() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.0, least=1.0, most=60.0), clock=clock)
    polls.add("a")
    polls.add("b")
    assert polls.take() == "a"
    polls.limited("a", wait=5.0)
    assert polls.take() == pytest.approx(5.0)  # b too
    clock.now += 5.0
    assert polls.take() == "b"
    assert polls.take() == "a"
    assert polls.limited_polls == 1


def test_a_429_without_retry_after_waits_twice_the_gap() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.0, least=3.0), clock=clock)
    polls.add("a")
    assert polls.take() == "a"
    polls.limited("a")
    assert polls.take() == pytest.approx(6.0)


def test_a_thousand_jobs_are_polled_a_handful_of_times_each() -> None:
    from benchmarks.polls import simulate

    stats = simulate(1000, seed=7)
    assert stats["finished"] == 1000
    assert stats["per_job_mean"] <= 12  # jobs of 5 to 120 s, gaps of 1 s growing to 15 s
    assert stats["limited"] == 0  # the provider's rate was kept to
    assert stats["late_mean"] <= 8.0  # seconds between a job ending and its collecting poll


def test_a_provider_is_shared_by_every_loop_waiting_on_it() -> None:
    """Batch workers each wait on their own jobs: the provider's rate and a 429's hold are
    theirs together."""
    from imggen.wire.polls import Provider

    clock = Clock()
    shared = Provider(rate=2.0, clock=clock)
    one = Polls(Cadence(first=0.0), clock=clock, provider=shared)
    two = Polls(Cadence(first=0.0), clock=clock, provider=shared)
    one.add("a")
    two.add("b")
    assert one.take() == "a"
    assert two.take() == pytest.approx(0.5)  # the rate is the provider's, not the loop's
    clock.now += 0.5
    assert two.take() == "b"
    two.limited("b", wait=4.0)
    one.pending("a")
    clock.now += 1.0
    assert one.take() == pytest.approx(3.0)  # b's 429 holds a too
    assert one.limited_polls == two.limited_polls == 1


def test_jitter_only_lengthens_a_gap() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=0.0, least=2.0, most=2.0, jitter=0.5), clock=clock, rng=lambda: 1)
    polls.add("a")
    assert polls.take() == "a"
    polls.pending("a")
    assert polls.take() == pytest.approx(3.0)  # 2 s, half again at the most


def test_a_recorded_job_is_asked_about_at_once() -> None:
    clock = Clock()
    polls = Polls(Cadence(first=5.0), clock=clock)
    polls.add("a", first=0.0)
    assert polls.take() == "a"


def test_limits_shorten_a_cadence_but_never_lengthen_it() -> None:
    c = Cadence(first=1.0, least=0.5, most=10.0)
    assert c.bounded(0.01, 0.02) == Cadence(first=0.01, least=0.01, most=0.02)
    assert c.bounded(1.0, 15.0) == c  # the defaults leave every provider's own
    assert c.bounded(None, None) == c


def test_every_job_provider_declares_a_cadence_within_its_documented_pace() -> None:
    from imggen.dialects.jobs import DIALECTS

    for name, dialect in DIALECTS.items():
        c = dialect.cadence
        assert c.rate is not None and 0 < c.rate, name
        assert 0 < c.least <= c.first <= c.most and c.factor > 1, name
    assert DIALECTS["replicate"].cadence.rate <= 3000 / 60  # its documented 3,000 a minute
    assert DIALECTS["bfl"].cadence.most <= 5.0  # results expire in 10 minutes: never idle long


def test_a_429_halves_the_providers_pace_and_answers_bring_it_back() -> None:
    from imggen.wire.polls import Provider

    clock = Clock()
    shared = Provider(rate=40.0, clock=clock)
    polls = Polls(Cadence(first=0.0, least=0.0), clock=clock, provider=shared)
    polls.add("a")
    polls.add("b")
    assert polls.take() == "a"
    clock.now += 0.025
    assert polls.take() == "b"
    polls.limited("a", wait=1.0)
    polls.limited("b", wait=1.0)  # polls in flight together meet the limit together
    assert shared.pace == 10.0
    clock.now += 1.0
    assert polls.take() == "a"
    polls.pending("a")
    assert shared.pace == 12.0  # + a twentieth of the rate an answer
    for _ in range(50):
        clock.now += 1.0
        job = polls.take()
        assert job in ("a", "b")
        polls.pending(job)
    assert shared.pace == 40.0  # never above what the provider allows
