"""The job pieces below the CLI: a submit is never sent twice once it may have reached the
provider (it bills), polls are retried; job URLs must be on the provider's own site; the
ledger's files are private, whole and never written through a link; the poll loop's threads
stay bounded and its polls back off."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.errors import DeadlineExceeded, GatewayFailed
from imggen.files.ledger import Entry, Ledger, request_key
from imggen.job import HttpCall, JobState
from imggen.limits import Limits
from imggen.run.jobs import poll_loop
from imggen.wire.client import Client
from tests.conftest import SENTINEL_KEY

BASE = "https://api.bfl.ai/v1"
FAST = Limits(backoff_base=0.001, backoff_cap=0.002, poll_first=0.01, poll_cap=0.02)


def client(answers: list[Any], seen: list[httpx.Request]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Client(BASE, SENTINEL_KEY, transport=httpx.MockTransport(handle), limits=FAST)


def test_a_submit_that_reached_the_provider_is_never_sent_again() -> None:
    seen: list[httpx.Request] = []
    c = client([httpx.Response(502, json={"detail": "bad gateway"})] * 3, seen)
    with pytest.raises(GatewayFailed, match="never sent twice"):
        c.submit(HttpCall("POST", "/flux-pro-1.1", json={"prompt": "x"}, job=True))
    assert len(seen) == 1


def test_a_submit_turned_away_unread_is_sent_again() -> None:
    seen: list[httpx.Request] = []
    answers = [
        httpx.ConnectError("refused"),
        httpx.Response(429, json={"detail": "slow down"}),
        httpx.Response(200, json={"id": "t1", "polling_url": BASE + "/get_result?id=t1"}),
    ]
    c = client(answers, seen)
    assert c.submit(HttpCall("POST", "/flux-pro-1.1", json={"prompt": "x"}))["id"] == "t1"
    assert len(seen) == 3


def test_polls_are_retried_and_go_only_to_the_providers_site() -> None:
    seen: list[httpx.Request] = []
    answers = [httpx.Response(503), httpx.Response(200, json={"status": "Pending"})]
    c = client(answers, seen)
    assert c.ask(HttpCall("GET", "https://api.us1.bfl.ai/v1/get_result?id=t1")) == {
        "status": "Pending"
    }
    assert all(r.headers["authorization"] == f"Bearer {SENTINEL_KEY}" for r in seen)
    with pytest.raises(GatewayFailed, match="another host"):
        c.ask(HttpCall("GET", "https://evil.example/get_result?id=t1"))
    with pytest.raises(GatewayFailed, match="another host"):
        c.ask(HttpCall("GET", "http://api.us1.bfl.ai/v1/get_result?id=t1"))  # not https
    assert len(seen) == 2


def _entry(key: str = "a" * 64) -> Entry:
    return Entry(key, "job1", "bfl", "bfl", BASE, "flux-pro-1.1", BASE + "/get_result?id=job1")


def test_ledger_entries_are_private_whole_and_read_back(tmp_path: Path) -> None:
    ledger = Ledger({"IMGGEN_STATE_DIR": str(tmp_path)})
    ledger.put(_entry())
    path = tmp_path / "jobs" / ("a" * 64 + ".json")
    assert path.stat().st_mode & 0o777 == 0o600
    got = ledger.get("a" * 64)
    assert got is not None and (got.id, got.poll, got.state) == (
        "job1",
        BASE + "/get_result?id=job1",
        "submitted",
    )
    ledger.update("a" * 64, state="failed")
    assert ledger.find("job1").resubmit  # type: ignore[union-attr]
    assert [n for n in os.listdir(tmp_path / "jobs") if n.endswith(".tmp")] == []
    ledger.remove("a" * 64)
    assert ledger.all() == []


def test_ledger_never_writes_through_a_link(tmp_path: Path) -> None:
    ledger = Ledger({"IMGGEN_STATE_DIR": str(tmp_path)})
    (tmp_path / "jobs").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "jobs" / ("b" * 64 + ".json")).symlink_to(victim)
    with pytest.raises(Exception, match="cannot record the job"):
        ledger.put(_entry("b" * 64))
    assert victim.read_text() == "keep me"
    assert ledger.get("b" * 64) is None  # a link is not read either


def test_request_key_tells_identical_calls_apart_by_index() -> None:
    call = HttpCall("POST", "/flux-pro-1.1", json={"prompt": "x"})
    keys = {request_key(BASE, "m", call, i) for i in range(3)}
    assert len(keys) == 3
    assert request_key(BASE, "m", call, 0) == request_key(BASE + "/", "m", call, 0)


def test_poll_loop_bounded_threads_backoff_and_deadline() -> None:
    import time

    asked: dict[str, int] = {}
    lock = threading.Lock()
    threads: set[str] = set()

    def poll(key: str) -> Any:
        with lock:
            asked[key] = asked.get(key, 0) + 1
            threads.add(threading.current_thread().name)
            n = asked[key]
        return JobState("done") if n >= 3 else JobState("queued", position=n)

    limits = Limits(poll_first=0.01, poll_cap=0.05, poll_workers=4)
    polls = {f"j{i}": (lambda k=f"j{i}": poll(k)) for i in range(100)}
    out = poll_loop(
        polls,
        limits=limits,
        deadline=time.monotonic() + 30,
        first=0.0,
        late=lambda k: DeadlineExceeded(k),
        stop=lambda: None,
    )
    assert all(isinstance(v, JobState) and v.state == "done" for v in out.values())
    assert sum(asked.values()) == 300  # three polls a job: none wasted, none skipped
    assert len(threads) <= 4  # limits.poll_workers, for 100 jobs
    late = poll_loop(
        {"x": lambda: JobState("queued")},
        limits=limits,
        deadline=time.monotonic() + 0.2,
        first=0.0,
        late=lambda k: DeadlineExceeded(k),
        stop=lambda: None,
    )
    assert isinstance(late["x"], DeadlineExceeded)


def test_a_job_provider_is_one_module_found_by_name() -> None:
    """Adding a provider is one module in dialects/jobs/ (its DIALECT and PRESET) and its tests:
    every module there is a dialect and a preset, nothing else lists them."""
    from imggen.dialects import DIALECTS
    from imggen.dialects import jobs as providers
    from imggen.dialects.presets import PRESETS

    folder = Path(providers.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "base")}
    assert modules == {m.__name__.rsplit(".", 1)[1] for m in providers.PROVIDERS}
    for m in providers.PROVIDERS:
        assert DIALECTS[m.DIALECT.name] is m.DIALECT
        assert PRESETS[m.PRESET.name].dialect == m.DIALECT.name
        assert providers.is_job(m.DIALECT)


@pytest.mark.parametrize("provider", ["fal", "replicate", "bfl"])
def test_every_option_is_carried_or_refused_never_dropped(provider: str) -> None:
    """The dialect x option walk for job providers: an option in `takes` changes what is sent;
    any other is refused (exit 2), never silently dropped."""
    from imggen.dialects import DIALECTS
    from imggen.errors import UsageError
    from imggen.job import ImageInput, Job
    from tests.dialects import build, gateway

    dialect: Any = DIALECTS[provider]
    model = {"fal": "fal-ai/flux/dev", "replicate": "owner/m", "bfl": "flux-kontext-pro"}[provider]
    gw = gateway(provider, model)
    img = ImageInput("a.png", data=b"\x89PNG", mime="image/png")
    values: dict[str, Any] = {
        "aspect": "16:9",
        "size": "512",
        "count": 2,
        "format": "jpeg",
        "seed": 3,
        "refs": (img,),
        "inputs": (img,),
        "quality": "high",
        "background": "transparent",
        "mask": img,
        "partials": 2,
    }
    plain = [c.json for c in build(dialect, Job("x"), gw)]
    for name, value in values.items():
        job = Job("x", **{name: value})
        if name in dialect.takes | {"count"}:
            assert [c.json for c in build(dialect, job, gw)] != plain, name
        else:
            with pytest.raises(UsageError):
                build(dialect, job, gw)
    with pytest.raises(UsageError, match="auto"):  # no provider sizes itself
        build(dialect, Job("x", size="auto"), gw)


def test_a_poll_answered_429_is_not_retried_alone_but_handed_to_the_scheduler() -> None:
    from imggen.wire.polls import PollLimited

    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
    ]
    c = client(answers, seen)
    with pytest.raises(PollLimited) as caught:
        c.ask(HttpCall("GET", BASE + "/get_result?id=t1"), poll=True)
    assert caught.value.wait == 7.0
    assert len(seen) == 2  # the 503 was retried, the 429 was not


def test_a_429_on_one_poll_holds_every_job_of_that_provider() -> None:
    """Real time, small gaps: after job a's poll is answered 429 with Retry-After 0.4 s, no job
    of the provider is polled again for 0.4 s; all finish."""
    import time

    from imggen.run.polling import poll_loop, schedule
    from imggen.wire.polls import Cadence, PollLimited

    times: list[float] = []
    limited_at: list[float] = []
    lock = threading.Lock()

    def poll(key: str) -> Any:
        with lock:
            times.append(time.monotonic())
            if key == "a" and not limited_at:
                limited_at.append(time.monotonic())
                raise PollLimited(0.4)
            n = sum(1 for _ in times)
        return JobState("done") if n > 12 else JobState("running")

    cadence = Cadence(first=0.01, least=0.01, most=0.05, rate=None)
    keys = ["a", "b", "c"]
    boards = schedule(((k, "test-429", "https://held.example", cadence) for k in keys), FAST)
    out = poll_loop(
        {k: (lambda k=k: poll(k)) for k in keys},
        schedule=boards,
        limits=FAST,
        deadline=time.monotonic() + 20,
        first=None,
        late=lambda k: DeadlineExceeded(k),
        stop=lambda: None,
    )
    assert all(isinstance(v, JobState) and v.over for v in out.values())
    # polls already in flight with a's (the same instant) cannot be held; none after
    held = [t for t in times if limited_at[0] + 0.05 < t < limited_at[0] + 0.39]
    assert held == []
    assert boards["a"].limited_polls == 1


def test_replicate_inlines_inputs_under_1mb_and_uploads_larger_ones_first() -> None:
    """replicate.com/docs/topics/predictions/input-files: data URIs only under 1 MB; a larger
    input is uploaded (POST /files, multipart `content`) and its File URL put in the body."""
    from imggen.dialects import DIALECTS
    from imggen.job import ImageInput, Job
    from imggen.run.jobs import _uploaded
    from tests.dialects import build, gateway

    dialect: Any = DIALECTS["replicate"]
    gw = gateway("replicate", "black-forest-labs/flux-kontext-pro")
    small = ImageInput("s.png", data=b"\x89PNG" + b"s" * 1000, mime="image/png", sha256="a" * 64)
    large = ImageInput("l.png", data=b"\x89PNG" + b"l" * 1_000_000, mime="image/png")
    (inline,) = build(dialect, Job("x", inputs=(small,)), gw)
    assert inline.json["input"]["input_image"].startswith("data:image/png;base64,")
    assert inline.files == ()
    (call,) = build(dialect, Job("x", inputs=(large, small)), gw)
    first, second = call.json["input"]["input_images"]
    assert first.startswith("imggen-upload:") and second.startswith("data:")
    assert [p.field for p in call.files] == [first]

    seen: list[httpx.Request] = []
    url = "https://api.replicate.com/v1/files/f1"
    c = Client(
        "https://api.replicate.com/v1",
        SENTINEL_KEY,
        transport=httpx.MockTransport(
            lambda r: seen.append(r) or httpx.Response(201, json={"id": "f1", "urls": {"get": url}})
        ),
        limits=FAST,
    )

    class Quiet:
        def debug(self, message: str) -> None:
            pass

    sent = _uploaded(c, dialect, call, Quiet())  # type: ignore[arg-type]
    assert sent.files == () and sent.json["input"]["input_images"] == [url, second]
    assert seen[0].url.path == "/v1/files" and b'name="content"' in seen[0].read()


def _stream_client(answer: httpx.Response, seen: list[httpx.Request]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return Client(
        "https://queue.fal.run", SENTINEL_KEY, transport=httpx.MockTransport(handle), limits=FAST
    )


def test_a_status_stream_is_followed_until_the_job_is_over() -> None:
    from imggen.dialects import DIALECTS
    from imggen.job import Ticket
    from imggen.wire.watch import watch

    fal: Any = DIALECTS["fal"]
    poll = "https://queue.fal.run/fal-ai/flux/requests/r1/status"
    call = fal.watch(Ticket("r1", poll))
    assert call.path == poll + "/stream"
    body = (
        b'data: {"status": "IN_QUEUE", "queue_position": 2}\n\n: keep-alive\n\n'
        b'data: {"status": "IN_PROGRESS"}\n\ndata: {"status": "COMPLETED"}\n\n'
    )
    seen: list[httpx.Request] = []
    c = _stream_client(
        httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body), seen
    )
    states: list[JobState] = []
    assert watch(c, call, lambda doc: states.append(fal.read(doc)) or states[-1].over)
    assert [s.state for s in states] == ["queued", "running", "done"]
    assert states[0].position == 2
    assert seen[0].headers["authorization"] == f"Bearer {SENTINEL_KEY}"  # the client's way
    assert seen[0].headers["accept"] == "text/event-stream"


def test_a_stream_that_ends_early_or_is_refused_means_poll_and_a_429_holds() -> None:
    from imggen.wire.polls import PollLimited
    from imggen.wire.watch import watch

    call = HttpCall("GET", "https://queue.fal.run/fal-ai/flux/requests/r1/status/stream")
    early = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=b'data: {"status": "IN'
    )
    for answer in (early, httpx.Response(404, json={"detail": "Not Found"})):
        assert watch(_stream_client(answer, []), call, lambda doc: True) is False
    limited = httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "slow down"})
    with pytest.raises(PollLimited) as caught:
        watch(_stream_client(limited, []), call, lambda doc: True)
    assert caught.value.wait == 3.0
