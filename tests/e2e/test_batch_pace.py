"""`imggen batch` at the gateway's pace, as a user runs it: the installed command against the
offline gateway under a rate limit (`python -m imggen.testing --rate-limit`), with OpenAI's
headers, with Retry-After only, and with bare 429s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from imggen.testing import FakeGateway
from imggen.testing.ratelimit import RateLimit
from tests.conftest import SENTINEL_KEY

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
CHAT = {"model": "google/gemini-2.5-flash-image", "messages": [{"role": "user", "content": "x"}]}


def gw_env(gw: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": gw.base_url,
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }


def manifest(path: Path, count: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"prompt": f"tile {i}", "output": f"tiles/{i:02d}.png"}) + "\n"
            for i in range(count)
        )
    )
    return path


def test_with_openai_headers_a_batch_keeps_under_the_limit(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.latency = 0.1
    fake.rate_limit = limit = RateLimit(300, 60)  # 5 a second
    manifest(tmp_path / "m.jsonl", 12)
    r = cli("batch", "m.jsonl", "-j", "8", env=gw_env(fake))
    assert r.returncode == 0, r.stderr.decode()
    assert len(r.stdout.decode().splitlines()) == 12
    assert limit.taken == 12 and limit.refused <= 2
    lines = [json.loads(x) for x in (tmp_path / "m.results.jsonl").read_text().splitlines()]
    assert sum(x["retries"] for x in lines) == limit.refused


@pytest.mark.parametrize("style", ["none", "retry-after"])
def test_without_headers_429s_are_absorbed_not_failed(
    fake: FakeGateway, cli: Cli, tmp_path: Path, style: str
) -> None:
    fake.latency = 0.05
    fake.rate_limit = limit = RateLimit(600, 60, style=style)  # 10 a second, says nothing
    manifest(tmp_path / "m.jsonl", 24)
    r = cli("batch", "m.jsonl", "-j", "16", env=gw_env(fake))
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert len(r.stdout.decode().splitlines()) == 24
    assert limit.taken == 24 and limit.refused >= 1  # it did meet the limit, and got past it
    assert "429" in err
    if style == "none":
        assert "at the gateway's pace" in err  # no lone backoff: the shared gate spaces them


def test_retries_0_still_means_no_retry(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.rate_limit = RateLimit(1, 60, style="none")
    manifest(tmp_path / "m.jsonl", 3)
    r = cli("batch", "m.jsonl", "-j", "3", "--retries", "0", env=gw_env(fake))
    assert r.returncode == 5, r.stderr.decode()
    assert limit_taken(fake) == 1


def limit_taken(gw: FakeGateway) -> int:
    assert gw.rate_limit is not None
    return gw.rate_limit.taken


# -- python -m imggen.testing --rate-limit ----------------------------------------------------


def serve(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "imggen.testing", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    return proc.returncode


@pytest.mark.parametrize(
    ("style", "named"),
    [
        (
            "openai",
            {
                "x-ratelimit-limit-requests",
                "x-ratelimit-limit-tokens",
                "retry-after",
                "retry-after-ms",
            },
        ),
        ("retry-after", {"retry-after"}),
        ("none", set()),
    ],
)
def test_the_served_gateway_limits_and_says_so(style: str, named: set[str]) -> None:
    proc, base = serve("--rate-limit", "1/min", "--rate-headers", style)
    try:
        auth = {"Authorization": "Bearer any-key"}
        first = httpx.post(f"{base}/chat/completions", json=CHAT, headers=auth, timeout=10)
        second = httpx.post(f"{base}/chat/completions", json=CHAT, headers=auth, timeout=10)
    finally:
        assert stop(proc) == 0
    assert (first.status_code, second.status_code) == (200, 429)
    if style == "openai":
        assert first.headers["x-ratelimit-limit-requests"] == "1"
        assert first.headers["x-ratelimit-remaining-requests"] == "0"
        assert first.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert {k for k in second.headers if k.startswith(("x-ratelimit-l", "retry"))} == named
    assert second.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_bad_rate_limit_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = subprocess.run(
        [sys.executable, "-m", "imggen.testing", "--rate-limit", "fast"],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "expected REQUESTS/PERIOD such as 600/min" in done.stderr.decode()
