"""The API key goes to the profile's base URL and nowhere else (SPEC "Reliability and security
promises"): never in stdout, stderr, -v, --json, --dry-run or a saved file, never to an image
host or across a redirect. Checked with the sentinel key over success, refusal, exhausted
retries, a gateway echoing the key back, a timeout and an interruption."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.testing import FakeGateway, Fault, make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e import (
    RUN_TIMEOUT,
    Cdn,
    as_json,
    base_url,
    init_profile,
    interrupt,
    key_env,
    lines,
    paths_of,
    start,
    wait_for,
)

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
Generate = Callable[..., subprocess.CompletedProcess[bytes]]
KEY = SENTINEL_KEY.encode()
ECHO = f"Incorrect API key provided: {SENTINEL_KEY}"  # some gateways quote the key back


def assert_key_stayed_home(fake: FakeGateway, tmp_path: Path, *outputs: bytes) -> None:
    """Not in any output or file, and sent with every API call but with nothing else."""
    for out in outputs:
        assert KEY not in out
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_bytes(), path
    for rec in fake.requests:
        if rec.path.startswith("/v1/"):
            assert rec.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
        else:
            assert not rec.authorized, rec.path
            assert KEY not in repr(rec).encode()


@pytest.fixture
def knox(fake: FakeGateway, cli: Cli) -> Generate:
    """imggen generate on a knox profile made by `config init`, key in $KNOX_API_KEY."""
    init_profile(cli, fake, "knox", "-m", "google/gemini-3-pro-image-preview")

    def generate(*args: str) -> subprocess.CompletedProcess[bytes]:
        return cli(
            "generate", "a red fox", "-o", "out/fox.png", *args,
            env=key_env("knox"), timeout=RUN_TIMEOUT,
        )  # fmt: skip

    return generate


SCENARIOS = {
    "success": ([], (), 0),
    "success-no-stream": ([], ("--no-stream",), 0),
    "refusal": ([Fault("content_filter")], (), 4),
    "retries-exhausted": (
        [Fault("status", status=503, headers={"retry-after-ms": "0"})] * 2,
        ("--retries", "1"),
        5,
    ),
    "key-echoed-in-400": ([Fault("status", status=400, body=ECHO)], (), 4),
    "key-echoed-in-401": ([Fault("status", status=401, body=ECHO)], (), 3),
    "key-echoed-in-500": (
        [Fault("status", status=500, body=ECHO, headers={"retry-after-ms": "0"})] * 3,
        (),
        5,
    ),
    "key-echoed-in-html": ([Fault("html", status=200, body=f"<html>{ECHO}</html>")], (), 5),
    "timeout": ([Fault("slow", seconds=0.05)], ("--timeout", "1"), 5),
}


@pytest.mark.parametrize(("faults", "args", "code"), SCENARIOS.values(), ids=SCENARIOS)
def test_key_never_leaves_the_gateway_call(
    faults: list[Fault],
    args: tuple[str, ...],
    code: int,
    knox: Generate,
    fake: FakeGateway,
    tmp_path: Path,
) -> None:
    fake.faults.extend(faults)
    done = knox("-v", "--json", *args)

    assert done.returncode == code, done.stderr.decode()
    assert fake.requests  # the key was used
    assert_key_stayed_home(fake, tmp_path, done.stdout, done.stderr)
    assert (as_json(done.stdout)["error"] or {}).get("exit_code", 0) == code


def test_echoed_key_is_redacted_in_the_message(knox: Generate, fake: FakeGateway) -> None:
    fake.faults.append(Fault("status", status=400, body=ECHO))
    done = knox()

    assert lines(done.stderr)[0] == (
        "error: the gateway refused the request (HTTP 400): Incorrect API key provided: *** (400)"
    )


def test_dry_run_shows_the_request_without_the_key(
    knox: Generate, fake: FakeGateway, tmp_path: Path
) -> None:
    plain = knox("--dry-run", "-v")
    as_doc = knox("--dry-run", "--json")

    assert (plain.returncode, as_doc.returncode) == (0, 0)
    assert "Authorization: Bearer <redacted>" in lines(plain.stdout)
    headers = as_json(as_doc.stdout)["requests"][0]["headers"]
    assert headers["Authorization"] == "Bearer <redacted>"
    assert fake.requests == []
    assert_key_stayed_home(fake, tmp_path, plain.stdout, plain.stderr, as_doc.stdout)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_key_not_shown_when_interrupted(
    signum: signal.Signals, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "knox", "-m", "google/gemini-3-pro-image-preview")
    fake.faults.append(Fault("stall", seconds=60))
    proc = start(["generate", "a red fox", "-v", "--json"], key_env("knox"), tmp_path)
    try:
        wait_for(lambda: len(fake.requests) == 1)
        ended = interrupt(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)

    assert ended.returncode in (130, 143)
    assert_key_stayed_home(fake, tmp_path, ended.stdout, ended.stderr)


def test_image_links_are_fetched_without_key_or_cookies_across_redirects(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    """Seed 004 answers with links; here they point at a CDN on another port that redirects
    to the fake's /files/ and sets a cookie. Neither hop sees the key, and the cookie is not
    sent back: not on the redirect, not to the next link."""
    init_profile(cli, fake, "xty")
    names = [fake.put_file(make_png(64, 48)) for _ in range(2)]
    with Cdn(fake) as cdn:
        links = "".join(f"![image]({cdn.url}/img/{name})\n" for name in names)
        fake.faults.append(Fault("no_image", body=links))  # the reply is just the two links
        done = cli("generate", "two foxes", "-n", "2", "-v", env=key_env("xty"))

    assert done.returncode == 0, done.stderr.decode()
    assert [hit.path for hit in cdn.hits] == [f"/img/{name}" for name in names]
    for hit in cdn.hits:
        assert "authorization" not in hit.headers and "cookie" not in hit.headers
    downloads = [r for r in fake.requests if r.path.startswith("/files/")]
    assert [r.path for r in downloads] == [f"/files/{name}" for name in names]
    for rec in downloads:
        assert not rec.authorized and "cookie" not in rec.headers
    assert_key_stayed_home(fake, tmp_path, done.stdout, done.stderr)


def test_gateway_redirect_is_not_followed_with_the_key(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    with Cdn(fake) as cdn:
        fake.faults.append(Fault("status", status=307, headers={"Location": f"{cdn.url}/api"}))
        env = {
            "IMGGEN_BASE_URL": base_url(fake, "knox"),
            "IMGGEN_API_KEY": SENTINEL_KEY,
            "IMGGEN_MODEL": "google/gemini-3-pro-image-preview",
        }
        done = cli("generate", "a red fox", env=env, timeout=RUN_TIMEOUT)

    assert done.returncode == 5
    port = cdn.url.rsplit(":", 1)[1]
    assert lines(done.stderr)[0] == (
        f"error: the gateway answered HTTP 307, a redirect to 127.0.0.1:{port}; imggen does "
        "not follow redirects with your key"
    )
    assert cdn.hits == []
    assert paths_of(fake, "/v1/") == ["/v1/chat/completions"]
    assert_key_stayed_home(fake, tmp_path, done.stdout, done.stderr)
