"""Exit codes, one row each: scenario -> exit code + first stderr line (httpie's table style).

No row but `internal error -v` shows a traceback.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import NO_BACKOFF, SENTINEL_KEY, MockGateway, Result, b64_png, png_bytes

Run = Callable[..., Result]

TRACEBACK = "Traceback (most recent call last)"
CONFIG = {
    "default_profile": "t",
    "profiles": {
        "t": {
            "preset": "turing",
            "base_url": "https://gw.test/api/v1",
            "model": "turing/gpt-image-2",
            "api_key_env": "TURING_API_KEY",
        },
        "k": {
            "preset": "knox",
            "base_url": "https://knox.test/v1",
            "model": "google/gemini-2.5-flash-image",
            "api_key_env": "TURING_API_KEY",
        },
    },
}
KEY_ENV = {"TURING_API_KEY": SENTINEL_KEY}


def images(b64: str | None = None) -> dict[str, Any]:
    return {"data": [{"b64_json": b64 if b64 is not None else b64_png()}]}


def error(status: int, message: str, code: Any = None, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if code is not None:
        body["code"] = code
    return httpx.Response(status, json={"error": body}, headers=headers)


def interrupt(request: httpx.Request) -> httpx.Response:
    raise KeyboardInterrupt


def no_image_text(request: httpx.Request) -> httpx.Response:
    text = "I can't draw that, but here is a poem."
    return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})


LEAKY_CMD = "print('sk-printed-by-a-failing-cmd'); raise SystemExit(2)"
TRUNCATED = base64.b64encode(png_bytes()[:-20]).decode()
HTML = httpx.Response(
    200,
    content=b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>",
    headers={"content-type": "text/html"},
)


@dataclass
class Row:
    args: list[str]
    code: int
    first: str  # the first stderr line starts with this ("" = stderr is empty)
    replies: list[Any] = field(default_factory=list)
    config: dict[str, Any] | str | None = field(default_factory=lambda: CONFIG)
    env: dict[str, str] = field(default_factory=lambda: dict(KEY_ENV))
    files: dict[str, bytes] = field(default_factory=dict)
    requests: int | None = None  # how many requests must have been sent


ROWS: dict[str, Row] = {
    "success": Row(["-o", "ok.png"], 0, "", [images()], requests=1),
    # 2: usage and input errors, all before any request
    "bad flag value": Row(["--format", "gif"], 2,
                          "error: --format 'gif': choose one of png, jpeg, webp", requests=0),
    "bad flag type": Row(["-n", "lots"], 2, "error: invalid value for '-n' / '--count'",
                         requests=0),
    "unknown flag": Row(["--colour", "red"], 2, "error: no such option: --colour", requests=0),
    "count below one": Row(["-n", "0"], 2, "error: --count 0: must be a whole number of at least 1",
                           requests=0),
    "bad aspect": Row(["-a", "wide"], 2, "error: --aspect 'wide': not an aspect ratio; give W:H",
                      requests=0),
    "size refused": Row(["-s", "4000x2000"], 2,
                        "error: turing/gpt-image-2 cannot make 4000x2000: the long side must be "
                        "at most 3840 px", requests=0),
    "file exists": Row(["-o", "taken.png"], 2,
                       "error: {tmp}/taken.png exists; imggen never overwrites without --force",
                       files={"taken.png": b"x"}, requests=0),
    "unreadable input image": Row(["edit", "missing.png", "make it blue"], 2,
                                  "error: input image missing.png does not exist", requests=0),
    "non-image input": Row(["edit", "notes.txt", "make it blue"], 2,
                           "error: input image notes.txt is not a PNG, JPEG or WEBP image",
                           files={"notes.txt": b"hello"}, requests=0),
    "unreadable reference": Row(["-p", "k", "-r", "nope.png"], 2,
                                "error: reference image nope.png does not exist", requests=0),
    "bad --param": Row(["--param", "novalue"], 2,
                       "error: --param: 'novalue' is not KEY=VALUE", requests=0),
    "bad --retries": Row(["--retries", "-1"], 2,
                         "error: --retries -1: must be a whole number of at least 0",
                         requests=0),
    # 3: configuration and authentication
    "no profile": Row([], 3, "error: no profile is configured", config=None, requests=0),
    "missing key": Row([], 3,
                       "error: profile 't' reads its key from $TURING_API_KEY, which is not set",
                       env={}, requests=0),
    "malformed TOML": Row([], 3, "error: config file {tmp}/config/config.toml is not valid TOML",
                          config="[profiles.t\n", requests=0),
    "api_key_cmd fails": Row([], 3, "error: profile 'c': api_key_cmd ", config={"profiles": {
        "c": {"preset": "turing", "api_key_cmd": [sys.executable, "-c", LEAKY_CMD]}}},
        requests=0),
    "unknown profile": Row(["-p", "nope"], 3, "error: profile 'nope' not found in ", requests=0),
    "401": Row([], 3, "error: the gateway rejected the API key (HTTP 401): invalid key",
               [error(401, "invalid key")], requests=1),
    "403": Row([], 3, "error: the gateway rejected the API key (HTTP 403): no access",
               [error(403, "no access")], requests=1),
    # 4: the gateway refused
    "400 invalid request": Row([], 4,
                               "error: the gateway refused the request (HTTP 400): bad size",
                               [error(400, "bad size")], requests=1),
    "content filter": Row([], 4, "error: the gateway refused the request (content filter): "
                          "Generated image was filtered", [error(400, "Generated image was "
                          "filtered", "contentFilter")], requests=1),
    "content filter as 500, never retried": Row([], 4,
        "error: the gateway refused the request (content filter): ",
        [error(500, "Generated image was filtered", "contentFilter")] * 3, requests=1),
    "404 unknown model": Row([], 4, "error: the gateway refused the request (HTTP 404): "
                             "model not found", [error(404, "model not found")], requests=1),
    # 5: the gateway or network failed after retries
    "503 after retries": Row(["--retries", "2"], 5, "retry: HTTP 503 from the gateway: busy",
                             [error(503, "busy")] * 3, requests=3),
    "429 with Retry-After: 0": Row([], 5, "retry: HTTP 429 from the gateway: slow down",
                                   [error(429, "slow down", **{"Retry-After": "0"})] * 3,
                                   requests=3),
    "network error": Row(["--retries", "1"], 5, "retry: could not connect to gw.test",
                         [httpx.ConnectError("refused")] * 2, requests=2),
    "HTML 200 page": Row([], 5, "error: the gateway answered HTTP 200 with an HTML page "
                         "instead of JSON", [HTML], requests=1),
    "invalid base64": Row([], 5, "error: the gateway sent invalid base64 image data",
                          [images("iVBORw0KGgo!!!not-base64***")], requests=1),
    "truncated image": Row([], 5, "error: the gateway sent a truncated image",
                           [images(TRUNCATED)], requests=1),
    # 6: an answer without an image
    "no image": Row(["-p", "k"], 6, "error: the gateway answered without an image. It said: "
                    "I can't draw that, but here is a poem.", [no_image_text], requests=1),
    # 130: Ctrl-C
    "KeyboardInterrupt": Row([], 130, "error: interrupted by SIGINT", [interrupt], requests=1),
}  # fmt: skip


def _setup(row: Row, write_config: Callable[..., Path], clean_environ: Path, monkeypatch) -> None:
    if isinstance(row.config, dict):
        write_config(row.config)
    elif isinstance(row.config, str):
        clean_environ.parent.mkdir(parents=True, exist_ok=True)
        clean_environ.write_text(row.config)
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    for name, data in row.files.items():
        Path(name).write_bytes(data)


@pytest.mark.parametrize("name", list(ROWS))
def test_exit_code(
    name: str,
    run: Run,
    gateway: MockGateway,
    write_config: Callable[..., Path],
    clean_environ: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    row = ROWS[name]
    _setup(row, write_config, clean_environ, monkeypatch)
    gateway.queue(*row.replies)
    args = row.args if row.args[:1] == ["edit"] else ["generate", "a red fox", *row.args]
    r = run(*args, limits=NO_BACKOFF)
    assert r.exit_code == row.code, r.stderr
    first = r.stderr.splitlines()[0] if r.stderr else ""
    assert first.startswith(row.first.format(tmp=tmp_path)), r.stderr
    if not row.first:
        assert r.stderr == ""
    assert TRACEBACK not in r.stderr
    assert "sk-printed-by-a-failing-cmd" not in r.stdout + r.stderr
    assert SENTINEL_KEY not in r.stdout + r.stderr
    if row.requests is not None:
        assert len(gateway.requests) == row.requests
    if row.code:
        assert r.stdout == ""
        # nothing partial left behind: no scratch files, no half images
        assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".imggen-")]
        assert not list(tmp_path.glob("*.png")) or row.files


@pytest.fixture
def broken_core(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path], gateway: MockGateway
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    write_config(CONFIG)
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    monkeypatch.setattr("imggen.run.verify.pixels", boom)
    gateway.queue(images())


def test_internal_error_is_one_line_without_traceback(broken_core: None, run: Run) -> None:
    r = run("generate", "a red fox", "-o", "x.png")
    assert r.exit_code == 1
    assert r.stderr == (
        "error: internal error: RuntimeError: boom\n"
        "hint: this is a bug in imggen; run again with -v for the traceback and report it\n"
    )


def test_internal_error_with_verbose_prints_the_traceback(broken_core: None, run: Run) -> None:
    r = run("generate", "a red fox", "-o", "x.png", "-v")
    assert r.exit_code == 1
    assert TRACEBACK in r.stderr
    assert 'raise RuntimeError("boom")' in r.stderr
    assert r.stderr.splitlines()[-2:] == [
        "error: internal error: RuntimeError: boom",
        "hint: this is a bug in imggen; run again with -v for the traceback and report it",
    ]
    assert SENTINEL_KEY not in r.stderr
