"""Price estimates (imggen/prices.py), the question before many images, and -n split into
requests sent -j at a time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen import prices
from tests.conftest import SENTINEL_KEY, MockGateway, Result, b64_png
from tests.test_cli_generate import CONFIG

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def setup(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    return write_config(CONFIG)


def test_openai_list_prices_by_quality_and_size() -> None:
    square = prices.estimate("gpt-image-1", 2, quality="high", pixels=(1024, 1024))
    assert (square.per_image, square.total, square.currency) == (0.167, 0.334, "USD")
    wide = prices.estimate("openai/gpt-image-1-mini", 1, quality="low", pixels=(1536, 1024))
    assert wide.per_image == 0.006
    assert prices.estimate("dall-e-3", 1, pixels=(1792, 1024)).per_image == 0.08  # standard
    assert prices.estimate("dall-e-2", 1, pixels=(512, 512)).per_image == 0.018
    # no quality named: gpt-image's auto may choose high, so the upper bound
    assert prices.estimate("gpt-image-1.5", 1).per_image == 0.2
    assert "estimate" in square.shown() and square.as_json()["estimate"] is True


def test_unknown_prices_say_unknown_never_zero() -> None:
    e = prices.estimate("google/gemini-2.5-flash-image", 3)
    assert (e.per_image, e.total) == (None, None)
    assert e.shown() == "unknown (no list price known for google/gemini-2.5-flash-image)"
    total = prices.Sum.of([e, prices.estimate("gpt-image-1", 1, quality="low")])
    assert (
        total.shown() == "about 0.016 USD for 4 images, plus 3 images of unknown price (estimate)"
    )
    assert prices.Sum.of([e]).shown() == "unknown (3 images, no list price known)"


def as_asked(request: httpx.Request) -> httpx.Response:
    """As many images as the request's n."""
    n = json.loads(request.content)["n"]
    return httpx.Response(200, json={"data": [{"b64_json": b64_png()}] * n})


def test_many_images_need_yes_off_a_terminal(run: Run, gateway: MockGateway) -> None:
    r = run("generate", "a fox", "-n", "11")
    assert r.exit_code == 2
    assert "11 images of turing/gpt-image-2" in r.stderr and "--yes" in r.stderr
    assert gateway.requests == []


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("\n", 2), ("n\n", 2)])
def test_many_images_ask_once_on_a_terminal(
    answer: str, code: int, run: Run, gateway: MockGateway
) -> None:
    from typer.testing import CliRunner

    from imggen.cli.app import app
    from imggen.env import Env

    gateway.queue(as_asked, as_asked)
    env = Env(transport=gateway.transport, stdin_isatty=True, stderr_isatty=True)
    r = CliRunner().invoke(app, ["generate", "a fox", "-n", "11"], obj=env, input=answer)
    assert r.exit_code == code, r.stderr
    assert r.stderr.count("Go on? [y/N]") == 1
    assert len(gateway.requests) == (2 if code == 0 else 0)


def test_n_above_the_maximum_is_split_and_sent_j_at_a_time(run: Run, gateway: MockGateway) -> None:
    flying, most = [0], [0]
    lock = threading.Lock()

    def reply(request: httpx.Request) -> httpx.Response:
        n = json.loads(request.content)["n"]
        with lock:
            flying[0] += 1
            most[0] = max(most[0], flying[0])
        time.sleep(0.15)
        with lock:
            flying[0] -= 1
        data: dict[str, Any] = {"data": [{"b64_json": b64_png()}] * n}
        return httpx.Response(200, json=data)

    gateway.queue(*[reply] * 5)
    r = run("generate", "a fox", "-n", "5", "--param", "n=1", "-j", "2", "--dry-run")
    assert r.exit_code == 0, r.stderr
    r = run("generate", "a fox", "-n", "41", "-j", "2", "--yes", "-o", "out/")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(q.content)["n"] for q in gateway.requests] == [10, 10, 10, 10, 1]
    assert most[0] == 2
    assert len(r.stdout.splitlines()) == 41


def test_dry_run_counts_images_not_requests(run: Run) -> None:
    r = run("generate", "a fox", "-n", "25", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == "# 25 images in 3 requests, at most 3 at once"
    r = run("generate", "a fox", "-n", "20", "--dry-run")
    assert r.stdout.splitlines()[0] == "# 20 images sent 2 times, 10 images each, at most 2 at once"
    doc = json.loads(run("generate", "a fox", "-n", "20", "--dry-run", "--json").stdout)
    assert doc["images"] == 20 and len(doc["requests"]) == 2
    assert doc["estimate"]["total"] is None and doc["estimate"]["estimate"] is True
