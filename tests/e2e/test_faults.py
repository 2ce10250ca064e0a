"""Issue 4 end to end: broken replies, retries, timeouts and image downloads, with the
installed imggen against the loopback fake. Every failure is one `error:` line (plus a hint),
the SPEC's exit code, no traceback and no file."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from imggen.dialects import DIALECTS
from imggen.errors import GatewayFailed
from imggen.files.scratch import Scratch
from imggen.job import HttpCall
from imggen.limits import Limits
from imggen.testing import FakeGateway, Fault
from imggen.wire.client import Client
from tests.conftest import SENTINEL_KEY
from tests.e2e import (
    RUN_TIMEOUT,
    Cdn,
    as_json,
    env_only,
    host_of,
    init_profile,
    key_env,
    leftovers,
    lines,
    paths_of,
    retry_delays,
    retry_lines,
)

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
GEMINI_3 = "google/gemini-3-pro-image-preview"
NOW = {"retry-after-ms": "0"}  # retry at once: these tests are about whether, not when


def generate(
    cli: Cli, fake: FakeGateway, *args: str, preset: str = "knox", timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    model = GEMINI_3 if preset == "knox" else None
    return cli(
        "generate", "a red fox", "-o", "out/fox.png", *args,
        env=env_only(fake, preset, model), timeout=timeout,
    )  # fmt: skip


def errors(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    """stderr without the retry announcements; never a traceback."""
    text = done.stderr.decode()
    assert "Traceback" not in text and 'File "' not in text, text
    return [line for line in lines(done.stderr) if not line.startswith("retry: ")]


def assert_nothing_saved(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not out.exists() or leftovers(out) == []


# -- broken replies --------------------------------------------------------------------------

BROKEN = {
    "html-200": (
        ("--no-stream",),
        [Fault("html", status=200)],
        "the gateway answered HTTP 200 with an HTML page instead of JSON",
        1,
    ),
    "html-502-after-retries": (
        ("--no-stream",),
        [Fault("html", headers=NOW)] * 3,
        "HTTP 502 from the gateway: an HTML page: 502 Bad Gateway instead of JSON",
        3,
    ),
    "broken-json": (
        ("--no-stream",),
        [Fault("bad_json")],
        "the gateway sent malformed JSON (HTTP 200): the JSON document ended early",
        1,
    ),
    "bad-base64": (
        ("--no-stream",),
        [Fault("bad_base64")],
        "the gateway sent invalid base64 image data",
        1,
    ),
    "bad-base64-streamed": (
        (),
        [Fault("bad_base64")],
        "the gateway sent invalid base64 image data",
        1,
    ),
    "truncated-image": (
        ("--no-stream",),
        [Fault("truncated_image")],
        "the gateway sent a truncated image",
        1,
    ),
    "truncated-image-streamed": (
        (),
        [Fault("truncated_image")],
        "the gateway sent a truncated image",
        1,
    ),
    # the stream ends cleanly after the role delta: no image event, no [DONE]
    "stream-without-image": (
        (),
        [Fault("truncate_sse")],
        "the gateway's stream ended before the image arrived (no [DONE])",
        1,
    ),
}


@pytest.mark.parametrize(("args", "faults", "message", "requests"), BROKEN.values(), ids=BROKEN)
def test_broken_reply_is_exit_5_naming_the_problem_and_saves_nothing(
    args: tuple[str, ...],
    faults: list[Fault],
    message: str,
    requests: int,
    fake: FakeGateway,
    cli: Cli,
    tmp_path: Path,
) -> None:
    fake.faults.extend(faults)
    done = generate(cli, fake, *args)

    assert done.returncode == 5
    assert errors(done)[0] == f"error: {message}"
    assert len(fake.requests) == requests
    assert done.stdout == b""
    assert_nothing_saved(tmp_path)


def test_reset_mid_body_is_retried_then_reported(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.extend([Fault("reset")] * 2)
    done = generate(cli, fake, "--no-stream", "--retries", "1")

    assert done.returncode == 5
    assert errors(done)[0].startswith(f"error: the connection to {host_of(fake)} broke mid-reply: ")
    assert errors(done)[1] == "hint: check the network and base_url, then try again"
    assert len(retry_lines(done.stderr)) == 1
    assert len(fake.requests) == 2
    assert_nothing_saved(tmp_path)


def test_stream_broken_after_it_delivered_is_not_retried(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("reset"))  # half the stream: keep-alive, role and text deltas
    done = generate(cli, fake)

    assert done.returncode == 5
    first = errors(done)[0]
    assert first.startswith(f"error: the connection to {host_of(fake)} broke mid-reply: ")
    assert first.endswith("(the stream had started delivering, so it is not retried)")
    assert (len(fake.requests), retry_lines(done.stderr)) == (1, [])
    assert_nothing_saved(tmp_path)


def test_reply_without_image_is_exit_6_with_the_text(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("no_image"))
    done = generate(cli, fake, "--no-stream")

    assert done.returncode == 6
    assert errors(done)[0] == (
        "error: the gateway answered without an image. It said: "
        "I can't draw that, but here is a poem."
    )
    assert_nothing_saved(tmp_path)


# -- retries ---------------------------------------------------------------------------------


def test_429_waits_for_retry_after_and_counts_the_retry(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    done = generate(cli, fake, "--json")

    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - started >= 1.0
    assert retry_lines(done.stderr) == [
        "retry: HTTP 429 from the gateway: fake gateway error 429; retrying POST "
        "/chat/completions in 1.0 s (attempt 2 of 3)"
    ]
    assert b"billed" not in done.stderr  # a 429 is turned away unread
    doc = as_json(done.stdout)
    assert (doc["retries"], doc["paths"]) == (1, [str(tmp_path / "out" / "fox.png")])
    assert len(fake.requests) == 2


def test_a_retried_5xx_says_both_tries_may_be_billed(fake: FakeGateway, cli: Cli) -> None:
    fake.faults.append(Fault("status", status=502, headers=NOW))
    done = generate(cli, fake)

    assert done.returncode == 0, done.stderr.decode()
    assert lines(done.stderr)[-1] == (
        "1 generation was retried after reaching the gateway: it may have billed both tries"
    )


def test_nothing_is_called_billed_when_no_connection_was_made(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "IMGGEN_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": GEMINI_3,
    }
    done = cli("generate", "a red fox", "-o", "out/fox.png", env=env)

    assert done.returncode == 5
    assert len(retry_lines(done.stderr)) == 2
    assert b"bill" not in done.stderr
    assert_nothing_saved(tmp_path)


def test_retry_after_ms_is_honoured(fake: FakeGateway, cli: Cli) -> None:
    fake.faults.append(Fault("status", status=503, headers={"retry-after-ms": "300"}))
    done = generate(cli, fake)

    assert done.returncode == 0, done.stderr.decode()
    assert retry_delays(done.stderr) == [0.3]


def test_5xx_backs_off_exponentially_then_gives_up(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.extend([Fault("status", status=500)] * 3)
    done = generate(cli, fake, "--json")

    assert done.returncode == 5
    first, second = retry_delays(done.stderr)
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0  # ~0.5 s doubling, with jitter
    assert [line[line.index("(attempt") :] for line in retry_lines(done.stderr)] == [
        "(attempt 2 of 3, a retried generation may be billed twice)",
        "(attempt 3 of 3, a retried generation may be billed twice)",
    ]
    assert errors(done) == [
        "error: HTTP 500 from the gateway: fake gateway error 500",
        "hint: the gateway is failing or busy; try again later (or raise --retries)",
    ]
    doc = as_json(done.stdout)
    assert (doc["retries"], doc["paths"], doc["error"]) == (
        2,
        [],
        {
            "class": "GatewayFailed",
            "message": "HTTP 500 from the gateway: fake gateway error 500",
            "exit_code": 5,
        },
    )
    assert len(fake.requests) == 3
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize("status", [408, 409, 429, 502])
def test_transient_status_is_retried(status: int, fake: FakeGateway, cli: Cli) -> None:
    fake.faults.append(Fault("status", status=status, headers=NOW))
    done = generate(cli, fake, "--no-stream")

    assert done.returncode == 0, done.stderr.decode()
    assert len(retry_lines(done.stderr)) == 1
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("status", "code"), [(400, 4), (422, 4), (401, 3)])
def test_other_4xx_is_never_retried(
    status: int, code: int, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("status", status=status, headers=NOW))
    done = generate(cli, fake)

    assert done.returncode == code
    assert (len(fake.requests), retry_lines(done.stderr)) == (1, [])
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("content_filter"),  # seed 002: 4xx with error.code "contentFilter"
        Fault("status", status=500, body="The prompt was filtered due to content policy"),
        Fault("status", status=429, body="Generated image was filtered", headers=NOW),
    ],
    ids=["400", "500", "429"],
)
def test_content_filter_refusal_is_never_retried_whatever_its_status(
    fault: Fault, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(fault)
    done = generate(cli, fake)

    assert done.returncode == 4
    assert errors(done)[0].startswith("error: the gateway refused the request (content filter): ")
    assert errors(done)[1] == "hint: rephrase the prompt; refusals are not retried"
    assert (len(fake.requests), retry_lines(done.stderr)) == (1, [])
    assert_nothing_saved(tmp_path)


def test_retries_flag_sets_the_number_of_attempts(fake: FakeGateway, cli: Cli) -> None:
    fake.faults.extend([Fault("status", status=502, headers=NOW)] * 4)
    none = generate(cli, fake, "--retries", "0")
    assert (none.returncode, len(fake.requests), retry_lines(none.stderr)) == (5, 1, [])

    three = generate(cli, fake, "--retries", "3")
    assert three.returncode == 0, three.stderr.decode()
    assert len(fake.requests) == 1 + 4
    assert [line[line.index("(attempt") :] for line in retry_lines(three.stderr)] == [
        f"(attempt {k} of 4, a retried generation may be billed twice)" for k in (2, 3, 4)
    ]


def test_profile_retries_setting_is_used(fake: FakeGateway, cli: Cli) -> None:
    init_profile(cli, fake, "knox", "-m", GEMINI_3)
    assert cli("config", "set", "profiles.knox.retries", "1").returncode == 0
    fake.faults.extend([Fault("status", status=500, headers=NOW)] * 2)
    done = cli("generate", "a red fox", env=key_env("knox"), timeout=RUN_TIMEOUT)

    assert done.returncode == 5
    assert len(retry_lines(done.stderr)) == 1
    assert len(fake.requests) == 2


def test_retry_after_beyond_the_cap_fails_at_once(fake: FakeGateway, cli: Cli) -> None:
    fake.faults.append(Fault("status", status=429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    done = generate(cli, fake)

    assert done.returncode == 5
    assert time.monotonic() - started < 30
    assert errors(done) == [
        "error: HTTP 429 from the gateway: fake gateway error 429; the gateway asks to wait "
        "3600 s, more than imggen's 60 s cap",
        "hint: try again later",
    ]
    assert len(fake.requests) == 1


def test_connection_refused_is_retried_then_exit_5(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "IMGGEN_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": GEMINI_3,
    }
    done = cli("generate", "a red fox", "--retries", "1", env=env, timeout=RUN_TIMEOUT)

    assert done.returncode == 5
    assert errors(done)[0].startswith(f"error: could not connect to 127.0.0.1:{port}: ")
    assert len(retry_lines(done.stderr)) == 1
    assert leftovers(tmp_path) == []


# -- timeouts --------------------------------------------------------------------------------

TIMEOUT = 2.0


@pytest.mark.parametrize(
    ("args", "fault", "message"),
    [
        # headers, then 16 bytes every 50 ms: each read succeeds, only --timeout can stop it
        (
            ("--no-stream",),
            Fault("slow", seconds=0.05),
            "the time limit (--timeout) ran out before the reply",
        ),
        ((), Fault("slow", seconds=0.05), "the time limit (--timeout) ran out before the reply"),
        (
            (),
            Fault("stall", seconds=60),
            "the time limit (--timeout) ran out while waiting for the gateway",
        ),
    ],
    ids=["trickling-json", "trickling-stream", "silent"],
)
def test_timeout_bounds_the_whole_command(
    args: tuple[str, ...], fault: Fault, message: str, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(fault)
    started = time.monotonic()
    done = generate(cli, fake, *args, "--timeout", str(TIMEOUT))

    assert time.monotonic() - started < TIMEOUT + 5
    assert done.returncode == 5
    assert errors(done)[0].startswith(f"error: {message}")
    assert_nothing_saved(tmp_path)


def test_timeout_bounds_a_trickling_download(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.faults.append(Fault("slow", seconds=0.05, path="/files/"))
    started = time.monotonic()
    done = generate(cli, fake, "-a", "16:9", "--timeout", str(TIMEOUT), preset="xty")

    assert time.monotonic() - started < TIMEOUT + 5
    assert done.returncode == 5
    assert errors(done)[0].startswith("error: the time limit (--timeout) ran out")
    assert len(paths_of(fake, "/files/")) == 1
    assert_nothing_saved(tmp_path)


# -- image downloads (seed 004: XTY links, expiring after an hour) -----------------------------


@pytest.mark.parametrize("status", [403, 404, 410])
def test_expired_link_status_is_exit_5_saying_so(
    status: int, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("expired", status=status))
    done = generate(cli, fake, "-a", "16:9", preset="xty")

    assert done.returncode == 5
    assert errors(done) == [
        f"error: the image link on {host_of(fake)} has expired or is gone (HTTP {status})",
        "hint: links from some gateways last one hour; generate again",
    ]
    assert len(paths_of(fake, "/files/")) == 1  # not retried
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize(
    "fault",
    [Fault("expired", status=200), Fault("html", status=200, path="/files/")],
    ids=["xml", "html"],
)
def test_link_answering_a_page_is_an_expired_link_not_a_png(
    fault: Fault, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(fault)
    done = generate(cli, fake, "-a", "16:9", preset="xty")

    assert done.returncode == 5
    assert errors(done)[0] == (
        f"error: the image link on {host_of(fake)} answered a web page, not an image "
        "(an expired link?)"
    )
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize(
    "fault", [Fault("status", status=503, path="/files/"), Fault("reset", path="/files/")]
)
def test_transient_download_failure_is_retried(
    fault: Fault, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(fault)
    done = generate(cli, fake, "-a", "16:9", preset="xty")

    assert done.returncode == 0, done.stderr.decode()
    assert len(retry_lines(done.stderr)) == 1
    assert "retrying download" in retry_lines(done.stderr)[0]
    assert len(paths_of(fake, "/files/")) == 2
    assert leftovers(tmp_path / "out") == ["fox.png"]


def test_truncated_download_is_exit_5(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.faults.append(Fault("truncated_image", path="/files/"))
    done = generate(cli, fake, "-a", "16:9", preset="xty")

    assert done.returncode == 5
    assert errors(done)[0] == "error: the gateway sent a truncated image"
    assert_nothing_saved(tmp_path)


def test_endless_redirects_are_cut_off(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    with Cdn(fake) as cdn:
        done = xty_linking(cli, fake, f"{cdn.url}/loop/0")  # /loop/0 -> /loop/1 -> ...

    assert done.returncode == 5
    assert errors(done)[0] == "error: the image URL redirected more than 5 times"
    assert len(cdn.hits) == 6
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize(
    ("link", "where", "scheme"),
    [
        ("ftp://127.0.0.1/a.png", "127.0.0.1", "ftp"),
        ("file:///etc/passwd", "file:///etc/passwd", "file"),
    ],
)
def test_only_http_links_are_fetched(
    link: str, where: str, scheme: str, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    done = xty_linking(cli, fake, link)

    assert done.returncode == 5
    assert errors(done) == [
        f"error: refusing to fetch a non-http(s) image URL ({where})",
        f"hint: the gateway sent a {scheme}: link; images are fetched over http(s) only",
    ]
    assert paths_of(fake, "/files/") == []
    assert_nothing_saved(tmp_path)


def xty_linking(cli: Cli, fake: FakeGateway, link: str) -> subprocess.CompletedProcess[bytes]:
    """XTY answering with `link` as its image (seed 004: a markdown link in the text)."""
    fake.faults.append(Fault("no_image", body=f"这是第 1 张图片:![image]({link})"))
    return generate(cli, fake, preset="xty")


def test_keep_alives_alone_do_not_hold_a_stream_open(tmp_path: Path) -> None:
    """The gap limit between stream events, shortened (360 s in use): a gateway that only sends
    OpenRouter's keep-alive comments (seeds 001/003) is given up on. In process, as imggen has
    no flag for the limit."""

    def keep_alive() -> Iterator[bytes]:
        for _ in range(200):  # 10 s at most
            time.sleep(0.05)
            yield b": OPENROUTER PROCESSING\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=keep_alive()
        )

    call = HttpCall("POST", "/chat/completions", json={"stream": True}, stream=True)
    scratch = Scratch()
    started = time.monotonic()
    transport = httpx.MockTransport(handler)
    short_gap = Limits(event_gap=1.0)
    with Client("https://gw.example/v1", "k", transport=transport, limits=short_gap) as client:
        with pytest.raises(GatewayFailed) as info:
            client.send(call, DIALECTS["openrouter"], scratch.factory(tmp_path))
    scratch.cleanup()

    assert info.value.message == "the gateway's stream sent no event for 1 s, only keep-alives"
    assert time.monotonic() - started < 5
    assert client.retried == 0
