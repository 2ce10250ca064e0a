"""issue 14 items 8, 9, 13 and 20 end to end: the installed imggen against a hostile loopback
gateway of this file's own, under an address-space cap (RLIMIT_AS) and a timeout, its peak RSS
read from /proc. Gzip bombs, oceans of whitespace, deep nesting and corrupt PNGs end in a clear
exit 5 (or a saved image), in flat memory, leaving nothing behind."""

from __future__ import annotations

import base64
import json
import os
import resource
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import chain
from pathlib import Path

import pytest

from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY, imggen_exe
from tests.e2e import leftovers, subprocess_env

MEMORY_CAP = 1 << 30  # address space; Python, httpx and a thread or two fit well within
RSS_CAP_MIB = 64  # what the README promises whatever the reply
TIMEOUT = 90.0
MiB = 1 << 20

Answer = Callable[[BaseHTTPRequestHandler], None]


class Hostile:
    """A loopback server answering every POST with `answer` (set per test)."""

    def __init__(self, answer: Answer) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a body may run to the connection's close

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    outer.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.answer = answer
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def env(self, *, chat: bool = False) -> dict[str, str]:
        port = self.server.server_address[1]
        if chat:
            path, model = "/v1", "google/gemini-3-pro-image-preview"
        else:
            path, model = "/api/v1", "turing/gpt-image-2"
        return {
            "IMGGEN_BASE_URL": f"http://127.0.0.1:{port}{path}",
            "IMGGEN_MODEL": model,
            "IMGGEN_API_KEY": SENTINEL_KEY,
        }


def send(
    h: BaseHTTPRequestHandler,
    pieces: Iterable[bytes],
    *,
    ctype: str = "application/json",
    gzip: bool = False,
    status: int = 200,
) -> None:
    """A reply body written as it is made (never whole in memory), gzipped if asked."""
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    if gzip:
        h.send_header("Content-Encoding", "gzip")
    h.end_headers()
    packer = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip else None
    for piece in pieces:
        h.wfile.write(packer.compress(piece) if packer else piece)
    if packer:
        h.wfile.write(packer.flush())


def repeat(block: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes of `block` repeated, 1 MiB at a time."""
    chunk = block * (MiB // len(block))
    while total > 0:
        yield chunk[:total]
        total -= len(chunk)


def peak_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_bounded(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, float]:
    """The installed imggen under RLIMIT_AS and a timeout: (exit code, stderr, peak RSS MiB),
    the peak polled from /proc (a child's ru_maxrss starts from this process's size)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    proc = subprocess.Popen(
        [*imggen_exe(), *args],
        env=subprocess_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=cap,
    )
    peak = 0.0
    deadline = time.monotonic() + TIMEOUT
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: setattr(proc, "err", proc.stderr.read()))
    reader.start()
    try:
        while proc.poll() is None:
            peak = max(peak, peak_mib(proc.pid))
            if time.monotonic() > deadline:
                raise AssertionError(f"imggen {args} ran over {TIMEOUT:.0f} s")
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(10)
        proc.stderr.close()
    return proc.returncode, getattr(proc, "err", b"").decode(), peak


def png_b64() -> bytes:
    return base64.b64encode(make_png(64, 64, noise=True))


def images_reply(b64: bytes) -> bytes:
    return b'{"created": 0, "data": [{"b64_json": "' + b64 + b'"}]}'


def test_a_gzip_bomb_of_base64_stops_at_the_image_cap(tmp_path: Path) -> None:
    # a PNG whose one IDAT chunk claims 2 GiB, then zeros as base64: 300 MB once inflated
    start = make_png(8, 8)[:33] + struct.pack(">I", (1 << 31) - 1) + b"IDAT"
    head = base64.b64encode(start + bytes((-len(start)) % 3))

    def answer(h: BaseHTTPRequestHandler) -> None:
        body = repeat(b"A", 300 * MiB)
        send(h, chain([b'{"data": [{"b64_json": "', head], body, [b'"}]}']), gzip=True)

    with Hostile(answer) as gw:
        code, err, peak = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert code == 5, err
    assert "over the 200 MiB cap" in err
    assert leftovers(tmp_path) == []
    assert peak < RSS_CAP_MIB, peak


def test_whitespace_around_a_reply_is_read_in_flat_memory(tmp_path: Path) -> None:
    b64 = png_b64()

    def answer(h: BaseHTTPRequestHandler) -> None:
        pad = repeat(b" \n\t ", 256 * MiB)
        tail = repeat(b"\r\n", 64 * MiB)
        send(h, chain(pad, [images_reply(b64)], tail), gzip=True)

    with Hostile(answer) as gw:
        code, err, peak = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert code == 0, err
    assert (tmp_path / "a.png").exists()
    assert peak < RSS_CAP_MIB, peak


def test_a_data_url_after_long_text_is_found_in_flat_memory(tmp_path: Path) -> None:
    b64 = png_b64()
    text = b"Here is your picture. " * 4000  # ~88 KB of words, then the image

    def answer(h: BaseHTTPRequestHandler) -> None:
        content = text + b"![img](data:image/png;base64," + b64 + b")"
        body = b'{"choices": [{"message": {"role": "assistant", "content": "' + content + b'"}}]}'
        send(h, iter([body]))

    with Hostile(answer) as gw:
        args = ["generate", "x", "-o", "a.png", "--no-stream"]
        code, err, peak = run_bounded(args, gw.env(chat=True), tmp_path)
    assert code == 0, err
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert peak < RSS_CAP_MIB, peak


def test_megabytes_of_numbers_are_refused_not_held(tmp_path: Path) -> None:
    def answer(h: BaseHTTPRequestHandler) -> None:
        junk = repeat(b"0,", 200 * MiB)
        send(h, chain([b'{"data": [], "junk": ['], junk, [b"0]}"]), gzip=True)

    with Hostile(answer) as gw:
        code, err, peak = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert code == 5, err
    assert "JSON values besides its images" in err
    assert peak < RSS_CAP_MIB, peak


@pytest.mark.parametrize("where", ["reply", "event"])
@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deep_json_is_exit_5(tmp_path: Path, where: str, depth: int) -> None:
    deep = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"

    def answer(h: BaseHTTPRequestHandler) -> None:
        if where == "reply":
            send(h, iter([deep]))
        else:
            send(h, iter([b"data: ", deep, b"\n\n"]), ctype="text/event-stream")

    with Hostile(answer) as gw:
        args = ["generate", "x", "-o", "a.png"] + (["--stream"] if where == "event" else [])
        code, err, _ = run_bounded(args, gw.env(chat=where == "event"), tmp_path)
    assert code == 5, err
    # 100,000 opened arrays pass the count of values first; 5,000 meet the depth limit
    said = "100,000 JSON values" if depth > 100_000 - 2 else "nested deeper than 256 levels"
    assert said in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_an_error_body_nested_deep_is_still_its_status(tmp_path: Path) -> None:
    deep = b'{"error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    def answer(h: BaseHTTPRequestHandler) -> None:
        send(h, iter([deep]), status=400)

    with Hostile(answer) as gw:
        code, err, _ = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert code not in (0, 1), err
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_png_with_a_random_middle_is_refused_and_not_saved(tmp_path: Path) -> None:
    png = bytearray(make_png(256, 256, noise=True))
    middle = len(png) // 2
    png[middle : middle + 4096] = os.urandom(4096)  # start and end (IHDR .. IEND) intact

    def answer(h: BaseHTTPRequestHandler) -> None:
        send(h, iter([images_reply(base64.b64encode(bytes(png)))]))

    with Hostile(answer) as gw:
        code, err, _ = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert code == 5, err
    assert "malformed PNG" in err and "CRC" in err
    assert leftovers(tmp_path) == []


def test_a_reply_over_the_body_cap_stops_there() -> None:
    """The decompressed-body cap, at a small cap (the default is 1 GiB)."""
    from imggen.errors import GatewayFailed
    from imggen.limits import Limits
    from imggen.wire.replies import read_json

    chunks = (b" " * MiB for _ in range(100))
    with pytest.raises(GatewayFailed, match="over 4 MiB"):
        read_json(
            chunks,
            200,
            lambda: (_ for _ in ()).throw(AssertionError),
            limits=Limits(reply_cap=4 * MiB),
        )


def test_json_helpers_bound_depth() -> None:
    from imggen.wire.jsonstream import loads

    assert loads(b"[" * 200 + b"]" * 200) is not None
    with pytest.raises(ValueError, match="nested deeper"):
        loads(b"[" * 300 + b"]" * 300)
    with pytest.raises(ValueError, match="nested deeper"):
        loads(b"[" * 100_000 + b"]" * 100_000)
    assert json.loads(b"[1]") == loads(b"[1]")


def test_a_big_image_in_one_sse_event_is_received_in_flat_memory(tmp_path: Path) -> None:
    data_url = b"data:image/png;base64," + base64.b64encode(make_png(2048, 2048, noise=True))
    event = b'{"choices": [{"delta": {"images": [{"image_url": {"url": "' + data_url + b'"}}]}}]}'

    def answer(h: BaseHTTPRequestHandler) -> None:
        body = b"data: " + event + b"\n\ndata: [DONE]\n\n"
        send(
            h, (body[i : i + 65536] for i in range(0, len(body), 65536)), ctype="text/event-stream"
        )

    with Hostile(answer) as gw:
        args = ["generate", "x", "-o", "a.png", "--stream"]
        code, err, peak = run_bounded(args, gw.env(chat=True), tmp_path)
    assert code == 0, err
    assert (tmp_path / "a.png").stat().st_size > 12_000_000
    assert peak < RSS_CAP_MIB, peak  # the event is 16.8 MB of base64


def test_text_deltas_past_the_cap_end_the_stream(tmp_path: Path) -> None:
    words = b"data: " + json.dumps({"choices": [{"delta": {"content": "w" * 60000}}]}).encode()

    def answer(h: BaseHTTPRequestHandler) -> None:
        send(h, (words + b"\n\n" for _ in range(200)), ctype="text/event-stream")  # 12 MB

    with Hostile(answer) as gw:
        args = ["generate", "x", "-o", "a.png", "--stream"]
        code, err, peak = run_bounded(args, gw.env(chat=True), tmp_path)
    assert code == 5, err
    assert "sent over 8 MiB of text" in err
    assert peak < RSS_CAP_MIB, peak
