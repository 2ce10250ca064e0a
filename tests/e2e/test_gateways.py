"""Every seed gateway end to end: `imggen config init` + `imggen generate` (the installed
command) against the loopback fake, checking the files, the request each dialect sent, and
--json. Seeds: 000 Trinity, 001 Knox, 002 Turing, 003 OpenRoute, 004 XTY."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY, imggen_exe
from tests.e2e import (
    RUN_TIMEOUT,
    as_json,
    init_profile,
    is_fake_image,
    key_env,
    leftovers,
    lines,
    paths_of,
    png_size,
    subprocess_env,
)

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
PROMPT = "a lighthouse at dusk"
USER = [{"role": "user", "content": PROMPT}]
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 1290, "total_tokens": 1300}
IMAGES_USAGE = {
    "input_tokens": 50,
    "output_tokens": 1568,
    "total_tokens": 1618,
    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
}


@dataclass(frozen=True)
class Case:
    preset: str
    args: tuple[str, ...]
    path: str  # the request's path at the fake
    body: dict[str, Any]  # exactly what the dialect must send
    pixels: tuple[int, int]
    shapes: list[str]
    count: int = 1
    downloads: int = 0  # image links fetched from /files/
    usage: list[dict[str, Any]] = field(default_factory=lambda: [CHAT_USAGE])


CASES = {
    # seed 000: no stream key at all (Trinity refuses stream:true), base64 data URL back
    "trinity-base64": Case(
        "trinity",
        ("-a", "16:9", "-s", "1K"),
        "/v1/chat/completions",
        {
            "model": "hunyuan-image",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "16:9", "image_size": "1K"},
        },
        (1376, 768),
        ["message.images"],
    ),
    # seed 000: image_config.output_format "url" gives an https link, fetched without the key
    "trinity-url": Case(
        "trinity",
        ("-a", "16:9", "-s", "1K", "--param", "image_config.output_format=url"),
        "/v1/chat/completions",
        {
            "model": "hunyuan-image",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "16:9", "image_size": "1K", "output_format": "url"},
        },
        (1376, 768),
        ["message.images"],
        downloads=1,
    ),
    # seed 001: streams by default, images in delta.images
    "knox-stream": Case(
        "knox",
        ("-m", "google/gemini-2.5-flash-image", "-a", "3:2"),
        "/v1/chat/completions",
        {
            "model": "google/gemini-2.5-flash-image",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "3:2"},
            "stream": True,
        },
        (1248, 832),
        ["delta.images"],
    ),
    "knox-no-stream": Case(
        "knox",
        ("-m", "google/gemini-2.5-flash-image", "-a", "3:2", "--no-stream"),
        "/v1/chat/completions",
        {
            "model": "google/gemini-2.5-flash-image",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "3:2"},
        },
        (1248, 832),
        ["message.images"],
    ),
    # seed 002: images API, gpt-image-2 pixels, always b64_json, never streamed
    "turing-gpt-image-2": Case(
        "turing",
        ("-m", "turing/gpt-image-2", "-s", "1536x1024"),
        "/api/v1/images/generations",
        {"model": "turing/gpt-image-2", "prompt": PROMPT, "size": "1536x1024", "n": 1},
        (1536, 1024),
        ["data[].b64_json"],
        usage=[IMAGES_USAGE],
    ),
    # seed 002: Seedream's n is one request for several images
    "turing-seedream-n3": Case(
        "turing",
        ("-m", "doubao-seedream-4-5-251128", "-a", "16:9", "-n", "3"),
        "/api/v1/images/generations",
        {"model": "doubao-seedream-4-5-251128", "prompt": PROMPT, "size": "1376x768", "n": 3},
        (1376, 768),
        ["data[].b64_json"],
        count=3,
        usage=[IMAGES_USAGE],
    ),
    # seed 002: Gemini 3 camelCase imageConfig; images at choice level (delta when streamed)
    "turing-gemini-3-stream": Case(
        "turing",
        ("-m", "turing/gemini-3-pro-image", "-a", "16:9", "-s", "2K"),
        "/api/v1/chat/completions",
        {
            "model": "turing/gemini-3-pro-image",
            "messages": USER,
            "modalities": ["text", "image"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "stream": True,
        },
        (2752, 1536),
        ["delta.images"],
    ),
    "turing-gemini-3-no-stream": Case(
        "turing",
        ("-m", "turing/gemini-3-pro-image", "-a", "16:9", "-s", "2K", "--no-stream"),
        "/api/v1/chat/completions",
        {
            "model": "turing/gemini-3-pro-image",
            "messages": USER,
            "modalities": ["text", "image"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "stream": False,
        },
        (2752, 1536),
        ["choices[].images"],
    ),
    # seed 002: Gemini 2.5 puts the image in content parts; one size per aspect ratio
    "turing-gemini-2.5-stream": Case(
        "turing",
        ("-m", "turing/gemini-2.5-flash-image", "-a", "3:2"),
        "/api/v1/chat/completions",
        {
            "model": "turing/gemini-2.5-flash-image",
            "messages": USER,
            "modalities": ["text", "image"],
            "imageConfig": {"aspectRatio": "3:2"},
            "stream": True,
        },
        (1248, 832),
        ["delta.content[] image_url"],
    ),
    "turing-gemini-2.5-no-stream": Case(
        "turing",
        ("-m", "turing/gemini-2.5-flash-image", "-a", "3:2", "--no-stream"),
        "/api/v1/chat/completions",
        {
            "model": "turing/gemini-2.5-flash-image",
            "messages": USER,
            "modalities": ["text", "image"],
            "imageConfig": {"aspectRatio": "3:2"},
            "stream": False,
        },
        (1248, 832),
        ["message.content[] image_url"],
    ),
    # seed 003: OpenRouter style under /api/v1, streamed
    "openroute": Case(
        "openroute",
        ("-a", "4:3"),
        "/api/v1/chat/completions",
        {
            "model": "google/gemini-2.5-flash-image-preview",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "4:3"},
            "stream": True,
        },
        (1184, 864),
        ["delta.images"],
    ),
    # OpenRouter itself: streamed the same way
    "openrouter": Case(
        "openrouter",
        ("-m", "google/gemini-3-pro-image-preview", "-a", "1:1", "-s", "1K"),
        "/api/v1/chat/completions",
        {
            "model": "google/gemini-3-pro-image-preview",
            "messages": USER,
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "1:1", "image_size": "1K"},
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        (1024, 1024),
        ["delta.images"],
    ),
    # seed 004: n=2 is one request; options in extra_body.google.image_config; links in text
    "xty-n2": Case(
        "xty",
        ("-a", "16:9", "-s", "1K", "-n", "2"),
        "/v1/chat/completions",
        {
            "model": "gemini-3.1-flash-image-preview",
            "messages": USER,
            "modalities": ["image", "text"],
            "extra_body": {
                "google": {"image_config": {"aspect_ratio": "16:9", "image_size": "1K"}}
            },
            "n": 2,
        },
        (1344, 768),
        ["message.content (markdown image in text)"],
        count=2,
        downloads=2,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_generate_through_each_gateway(
    case: Case, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, case.preset)
    done = cli(
        "generate", PROMPT, *case.args, "-o", "out/pic.png", "--json",
        env=key_env(case.preset), timeout=RUN_TIMEOUT,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    names = ["pic.png"] if case.count == 1 else [f"pic-{i}.png" for i in range(1, case.count + 1)]
    paths = [tmp_path / "out" / name for name in names]
    assert leftovers(tmp_path / "out") == names  # and no temp file
    for path in paths:
        assert is_fake_image(path, PROMPT)  # decoded byte for byte, provenance aside
    # the model listing a preset reads once a day (OpenRouter's image models) is not a call
    calls = [r for r in fake.requests if not r.path.startswith("/files/") and r.method == "POST"]
    assert [(r.method, r.path) for r in calls] == [("POST", case.path)]
    assert calls[0].json == case.body
    assert len(paths_of(fake, "/files/")) == case.downloads

    doc = as_json(done.stdout)
    width, height = case.pixels
    assert doc["paths"] == [str(p) for p in paths]
    assert [(i["mime"], i["width"], i["height"]) for i in doc["images"]] == [
        ("image/png", width, height)
    ] * case.count
    assert [i["bytes"] for i in doc["images"]] == [p.stat().st_size for p in paths]
    assert (doc["profile"], doc["retries"], doc["error"], doc["warnings"]) == (
        case.preset,
        0,
        None,
        [],
    )
    assert doc["model"] == case.body["model"]
    assert doc["response_shapes"] == case.shapes
    assert doc["usage"] == case.usage


def test_stream_and_no_stream_save_the_same_image(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    """Image deltas, split across many SSE writes, reassemble into the bytes a JSON reply
    carries: both files are exactly the PNG the fake encoded (plus the provenance chunk)."""
    init_profile(cli, fake, "knox")
    env = key_env("knox")
    args = ("generate", PROMPT, "-m", "google/gemini-3-pro-image-preview", "-s", "2K")
    streamed = cli(*args, "-o", "s.png", env=env, timeout=RUN_TIMEOUT)
    plain = cli(*args, "-o", "p.png", "--no-stream", env=env, timeout=RUN_TIMEOUT)

    assert (streamed.returncode, plain.returncode) == (0, 0), streamed.stderr + plain.stderr
    assert [r.json.get("stream") for r in fake.requests] == [True, None]
    assert is_fake_image(tmp_path / "s.png", PROMPT) and is_fake_image(tmp_path / "p.png", PROMPT)
    assert lines(streamed.stdout) == [str(tmp_path / "s.png")]
    assert lines(plain.stdout) == [str(tmp_path / "p.png")]


@pytest.mark.parametrize("preset", ["trinity", "xty"])
def test_stream_refused_before_any_request_where_the_gateway_cannot(
    preset: str, fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, preset)
    done = cli("generate", PROMPT, "--stream", env=key_env(preset), timeout=RUN_TIMEOUT)

    assert done.returncode == 2
    assert lines(done.stderr)[-1] == "hint: drop --stream"
    assert fake.requests == []
    assert leftovers(tmp_path) == ["config/config.toml"]


def test_terminal_progress_counts_the_bytes_received(fake: FakeGateway, tmp_path: Path) -> None:
    """On an 80-column terminal (stderr a pty) a streamed reply shows one line counting the
    bytes; its last frame, drawn as it closes, has the whole ~17 MB of a 2048x2048 noise
    image's SSE body; no frame is wider than the terminal; what was saved is told after."""
    fake.noise = True
    env = {
        "IMGGEN_BASE_URL": f"{fake.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-3-pro-image-preview",
    }
    screen = run_on_terminal(["generate", PROMPT, "-s", "2K", "-o", "big.png"], env, tmp_path)

    frames = re.findall(r"receiving  ([\d.]+) MB  ", screen)
    assert frames and float(frames[-1]) >= 16.7, screen[-500:]
    assert "waiting for the gateway" in screen
    assert "/?" not in screen
    drawn = [line for line in re.split(r"[\r\n]", screen) if not line.startswith("saved ")]
    assert max(len(line) for line in drawn) <= 80, [line for line in drawn if len(line) > 80]
    assert re.search(r"\nsaved big\.png 2048×2048 [\d.]+ MB\r?\n", screen), screen[-300:]
    assert png_size(tmp_path / "big.png") == (2048, 2048)


def run_on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """The installed imggen with stderr on a pseudo-terminal; what it drew, escapes removed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*imggen_exe(), *args],
        env=subprocess_env({**env, "COLUMNS": "80"}),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            drawn += data
        assert proc.wait(RUN_TIMEOUT) == 0, drawn[-500:]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode("utf-8", "replace"))
