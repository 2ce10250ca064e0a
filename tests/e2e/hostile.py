"""A hostile gateway of the suite's own on 127.0.0.1: each path answers whatever the test
scripts (lies about lengths, trickles, a hundred links), and the installed imggen runs against
it as a child capped in memory (RLIMIT_AS) and in time."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import SENTINEL_KEY, imggen_exe
from tests.e2e import subprocess_env

MEMORY_CAP = 1024 * 1024 * 1024  # the child's whole address space
HOSTILE_TIMEOUT = 60.0

Answer = Callable[[BaseHTTPRequestHandler], None]


class Hostile:
    """routes: path prefix -> answer(handler); hits: every path asked, in order."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.hits: list[str] = []
        self.stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Hostile:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                gw.hits.append(self.path)
                size = int(self.headers.get("content-length") or 0)
                if size:
                    self.rfile.read(size)
                for prefix, answer in gw.routes.items():
                    if self.path.startswith(prefix):
                        answer(self)
                        return
                body = b'{"error": {"message": "no such route"}}'
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def env(self, **extra: str) -> dict[str, str]:
        """A Trinity-dialect setup (chat completions, image links) pointed here."""
        return {
            "IMGGEN_PROFILE": "trinity",
            "IMGGEN_BASE_URL": f"{self.url}/v1",
            "IMGGEN_API_KEY": SENTINEL_KEY,
            **extra,
        }

    def count(self, prefix: str) -> int:
        return sum(1 for p in self.hits if p.startswith(prefix))


def send(handler: BaseHTTPRequestHandler, body: bytes, ctype: str = "application/json") -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def links_reply(urls: list[str], text: str = "") -> bytes:
    """A Trinity chat completion carrying image links."""
    images = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    message = {"role": "assistant", "content": text, "images": images}
    return json.dumps({"choices": [{"message": message}]}).encode()


def serving(data: bytes, ctype: str = "image/png") -> Answer:
    return lambda h: send(h, data, ctype)


def run_bounded(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    *,
    timeout: float = HOSTILE_TIMEOUT,
    memory: int = MEMORY_CAP,
    file_size: int | None = None,
    prefix: tuple[str, ...] = (),
    stdout: Any = subprocess.PIPE,
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """The installed imggen under an address-space cap and a timeout; (result, seconds).
    file_size: no file may grow past it (a write beyond fails with EFBIG); prefix: a command
    imggen runs under (an `unshare` that mounts a small disk)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    began = time.monotonic()
    done = subprocess.run(
        [*prefix, *imggen_exe(), *args],
        env=subprocess_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=timeout,
        preexec_fn=cap,
        check=False,
    )
    return done, time.monotonic() - began
