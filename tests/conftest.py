"""Shared fixtures: a clean environment for every test, config files, a MockTransport gateway,
CliRunner with an Env, and the loopback fake gateway for end-to-end runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from typer.testing import CliRunner

from imggen.env import Env
from imggen.limits import Limits
from imggen.testing import FakeGateway, make_png

SENTINEL_KEY = "sk-test-SENTINEL-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test sees the developer's config, keys or IMGGEN_* settings."""
    for name in list(os.environ):
        if name.startswith("IMGGEN_") or name.endswith("_API_KEY") or name == "NO_COLOR":
            monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("IMGGEN_CONFIG", str(config))
    # the gateways' model listings are cached per test, never in the user's cache dir
    monkeypatch.setenv("IMGGEN_CACHE_DIR", str(tmp_path / "cache"))
    # and the history of saved images is the test's own
    # (beside the test's folder, not in it: tests list what a run leaves there)
    monkeypatch.setenv("IMGGEN_DATA_DIR", str(tmp_path.parent / f"{tmp_path.name}-data"))
    # the job ledger too: never the user's state dir
    monkeypatch.setenv("IMGGEN_STATE_DIR", str(tmp_path.parent / f"{tmp_path.name}-state"))
    monkeypatch.chdir(tmp_path)
    return config


@pytest.fixture
def config_file(clean_environ: Path) -> Path:
    return clean_environ


@pytest.fixture
def write_config(config_file: Path) -> Callable[..., Path]:
    """write_config({"default_profile": ..., "profiles": {...}}) -> the path, mode 0600."""

    def write(data: dict[str, Any]) -> Path:
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(tomli_w.dumps(data))
        config_file.chmod(0o600)
        return config_file

    return write


@dataclass
class MockGateway:
    """A MockTransport with queued replies and recorded requests."""

    replies: list[Any] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    # OpenRouter's image models list, which generate reads once a day: answered from here
    # (not the queue) and recorded apart, so the queue and `requests` are the run's own calls
    image_models: dict[str, Any] = field(default_factory=lambda: {"data": []})
    listings: list[httpx.Request] = field(default_factory=list)

    def queue(self, *replies: Any) -> None:
        """Each reply: an httpx.Response, a dict (200 JSON), or a callable(request)."""
        self.replies.extend(replies)

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.method == "GET" and request.url.path.endswith("/images/models"):
            self.listings.append(request)
            return httpx.Response(200, json=self.image_models)
        self.requests.append(request)
        if not self.replies:
            return httpx.Response(500, json={"error": {"message": "no reply queued"}})
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(request)
        if isinstance(reply, dict):
            return httpx.Response(200, json=reply)
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
def gateway() -> MockGateway:
    return MockGateway()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes
    exception: BaseException | None


# Retries without sleeping, for tests that exhaust them (backoff itself: test_retry.py)
NO_BACKOFF = Limits(backoff_base=0.0)


@pytest.fixture
def run(gateway: MockGateway) -> Callable[..., Result]:
    """run("generate", "a fox", ..., input=None, limits=NO_BACKOFF) through CliRunner with the
    mock transport; `limits` replaces the Env's timeouts, caps and retry pacing."""
    from imggen.cli.app import app

    def invoke(
        *args: str,
        input: str | bytes | None = None,
        tty: bool = False,
        limits: Limits | None = None,
    ) -> Result:
        runner = CliRunner()
        env = Env(
            environ=dict(os.environ),
            transport=gateway.transport,
            stdin_isatty=tty if input is None else False,
            stderr_isatty=False,
            limits=limits or Limits(),
        )
        r = runner.invoke(app, list(args), obj=env, input=input, catch_exceptions=True)
        return Result(r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception)

    return invoke


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    return make_png(width, height)


def b64_png(width: int = 8, height: int = 8) -> str:
    import base64

    return base64.b64encode(make_png(width, height)).decode()


# -- end to end: the installed imggen against the loopback fake ----------------------------


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("imggen"):
        raise pytest.UsageError(
            "imggen's pytest plugin (imggen.testing.plugin) is not registered: this install "
            "predates its entry point; run `python -m pip install -e '.[dev]'` again"
        )


@pytest.fixture
def fake(imggen_gateway: FakeGateway) -> FakeGateway:
    """The plugin's gateway (the one users get), requiring the sentinel key."""
    imggen_gateway.api_key = SENTINEL_KEY
    return imggen_gateway


def imggen_exe() -> list[str]:
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "imggen"]


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """cli("generate", "x", env={...}, input=b"...", timeout=30) runs the installed imggen."""

    def call(
        *args: str,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[bytes]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        full.update(env or {})
        return subprocess.run(
            [*imggen_exe(), *args],
            env=full,
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout,
            cwd=tmp_path,
            check=False,
        )

    return call
