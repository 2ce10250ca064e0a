"""Helpers for the end-to-end tests: the installed imggen as a subprocess against the loopback
FakeGateway (imggen.testing). Fixtures `fake` and `cli` come from tests/conftest.py."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from imggen.testing import FakeGateway, placeholder
from tests.conftest import SENTINEL_KEY, imggen_exe

# Generous: the suite shares 2 cores with other work.
RUN_TIMEOUT = 60.0
PROMPT_EXIT = 5.0  # SIGINT / SIGTERM must end imggen within this

# The variable `config init --preset P` names for the key.
KEY_ENV = {
    "trinity": "TRINITY_API_KEY",
    "knox": "KNOX_API_KEY",
    "turing": "TURING_API_KEY",
    "openroute": "OPENROUTE_API_KEY",
    "xty": "XTY_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "openai": "OPENAI_API_KEY",
    "litellm": "LITELLM_API_KEY",
}
# Where each seed's API lives under the gateway's root (seeds 001-004; the fake matches suffixes).
BASE_PATH = {
    "trinity": "/v1",
    "knox": "/v1",
    "turing": "/api/v1",
    "openroute": "/api/v1",
    "xty": "/v1",
    "openrouter": "/api/v1",
    "openai": "/v1",
    "litellm": "/v1",
}


def base_url(fake: FakeGateway, preset: str) -> str:
    return f"{fake.url}{BASE_PATH[preset]}"


def key_env(preset: str, key: str = SENTINEL_KEY) -> dict[str, str]:
    return {KEY_ENV[preset]: key}


def env_only(fake: FakeGateway, preset: str, model: str | None = None) -> dict[str, str]:
    """A setup without a config file (the CI way): the preset named as the profile."""
    env = {
        "IMGGEN_PROFILE": preset,
        "IMGGEN_BASE_URL": base_url(fake, preset),
        "IMGGEN_API_KEY": SENTINEL_KEY,
    }
    if model:
        env["IMGGEN_MODEL"] = model
    return env


def host_of(fake: FakeGateway) -> str:
    """host:port, as imggen's messages name it."""
    return fake.url.rsplit("//", 1)[1]


def init_profile(
    cli: Callable[..., subprocess.CompletedProcess[bytes]],
    fake: FakeGateway,
    preset: str,
    *extra: str,
    name: str | None = None,
) -> None:
    """`imggen config init NAME --preset P --base-url URL` through the installed imggen."""
    done = cli(
        "config",
        "init",
        name or preset,
        "--preset",
        preset,
        "--base-url",
        base_url(fake, preset),
        *extra,
    )
    assert done.returncode == 0, done.stderr.decode()


def lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


def retry_lines(stderr: bytes) -> list[str]:
    return [line for line in lines(stderr) if line.startswith("retry: ")]


def retry_delays(stderr: bytes) -> list[float]:
    """The waits announced by the retry lines, in order."""
    return [float(m) for m in re.findall(r"retrying .*? in ([\d.]+) s", stderr.decode())]


def as_json(stdout: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(stdout)
    return doc


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until predicate() holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f} s")
        time.sleep(0.02)


def paths_of(fake: FakeGateway, prefix: str) -> list[str]:
    with fake._lock:
        return [r.path for r in fake.requests if r.path.startswith(prefix)]


def leftovers(folder: Path) -> list[str]:
    """Every file below folder, hidden temp files included, as sorted relative names."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def temp_files(folder: Path) -> list[str]:
    return [name for name in leftovers(folder) if ".imggen-" in name or name.endswith(".part")]


# -- images ---------------------------------------------------------------------------------


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    while pos + 8 <= len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        yield kind, data[pos + 8 : pos + 8 + size]
        pos += 12 + size


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    ihdr = dict(png_chunks(data))[b"IHDR"]
    width, height = struct.unpack(">II", ihdr[:8])
    return width, height


def without_text(data: bytes) -> bytes:
    """The PNG with its text chunks (imggen's provenance) taken out."""
    out = data[:8]
    for kind, body in png_chunks(data):
        if kind not in (b"iTXt", b"tEXt", b"zTXt"):
            out += (
                struct.pack(">I", len(body))
                + kind
                + body
                + struct.pack(">I", zlib.crc32(kind + body))
            )
    return out


def is_fake_image(path: Path, prompt: str, seed: object = None) -> bool:
    """Whether a saved PNG is, byte for byte bar provenance, a placeholder the fake made for
    this prompt and seed."""
    data = without_text(path.read_bytes())
    width, height = png_size(path)
    idat = b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")
    first = zlib.decompressobj().decompress(idat, 4)
    colour = (first[1], first[2], first[3])
    return data == placeholder("png", width, height, colour, prompt, seed)


def complete_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data.endswith(b"IEND\xaeB`\x82")


# -- processes ------------------------------------------------------------------------------


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    """What the `cli` fixture passes: the test's environment (clean_environ) plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """The installed imggen in the background, for tests that signal it."""
    return subprocess.Popen(
        [*imggen_exe(), *args],
        env=subprocess_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@dataclass
class Ended:
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float  # from the signal to the exit


def interrupt(proc: subprocess.Popen[bytes], signum: int) -> Ended:
    """Send signum and collect the process; kill it (and fail) if it lingers."""
    assert proc.poll() is None, "imggen ended before it could be interrupted"
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=PROMPT_EXIT + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"imggen ignored {signal.Signals(signum).name}: {err!r}") from None
    return Ended(proc.returncode, out, err, time.monotonic() - sent)


# -- a CDN on another port: redirects and cookies for image links -----------------------------


@dataclass
class CdnHit:
    path: str
    headers: dict[str, str]


@dataclass
class Cdn:
    """Image links on another origin: /img/NAME answers 302 (with a cookie) to the fake's
    /files/NAME; /loop/N redirects to /loop/N+1 forever."""

    fake: FakeGateway
    hits: list[CdnHit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Cdn:
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                cdn.hits.append(CdnHit(self.path, headers))
                if self.path.startswith("/loop/"):
                    where = f"/loop/{int(self.path.rsplit('/', 1)[1]) + 1}"
                else:
                    where = f"{cdn.fake.url}/files/{self.path.rsplit('/', 1)[1]}"
                self.send_response(302)
                self.send_header("Location", where)
                self.send_header("Set-Cookie", "cdn_session=s3cr3t; Path=/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
