"""A loopback fake of the image gateways imggen talks to.

The five gateway dialects are documented (in Chinese) in /work/shared/seeds/; comments below
name the seed file a behaviour comes from:

- 000_aa690c4b979c8ccf.txt  Trinity    chat/completions + ``image_config`` (url/base64), no stream
- 001_665e11a79c774d91.txt  Knox Chat  OpenRouter style chat, SSE with ``delta.images``
- 002_b08cd22946c7f3fa.txt  Turing     images/generations, images/edits, Gemini ``imageConfig``
- 003_a31b6fb6a5662d65.txt  OpenRoute  OpenRouter style chat, SSE
- 004_dc1c18c6c71477df.txt  XTY        ``extra_body.google.image_config``, one choice per image

Usage::

    with FakeGateway(api_key="sk-test-SENTINEL") as gw:
        gw.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
        ...  # point a client at gw.url, then inspect gw.requests

Only the standard library is used, so the module also runs as a script for manual trials::

    python tests/fakegateway.py --port 8765 [--key K] [--latency S]

JPEG and WEBP replies (``gw.image_format``) are header-only files: their magic bytes and the
dimensions in their headers are correct, but they are not decodable images.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import re
import secrets
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FakeGateway",
    "Fault",
    "FilePart",
    "Recorded",
    "FAULT_KINDS",
    "make_png",
    "make_jpeg_header",
    "make_webp_header",
    "image_size_of",
]

HOST = "127.0.0.1"

FAULT_KINDS = (
    "status",
    "content_filter",
    "html",
    "bad_json",
    "reset",
    "truncate_sse",
    "slow",
    "stall",
    "no_image",
    "bad_base64",
    "expired",
    "truncated_image",
)

# Usage block of every successful chat reply.
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 1290, "total_tokens": 1300}
# 002_b08cd22946c7f3fa.txt: images/generations response example.
IMAGES_USAGE = {
    "input_tokens": 50,
    "output_tokens": 1568,
    "total_tokens": 1618,
    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
}
BAD_BASE64 = "iVBORw0KGgo!!!not-base64***"
NO_IMAGE_TEXT = "I can't draw that, but here is a poem."
EXPIRED_XML = (
    '<?xml version="1.0"?><Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message></Error>"
)
HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"
SSE_KEEPALIVE = b": OPENROUTER PROCESSING\n\n"  # 001/003: OpenRouter-style keep-alive comment
SSE_PIECE = 64 * 1024  # the image event goes out in pieces of this size
SLOW_STEP = 16  # bytes per tick for the "slow" fault

# 000_aa690c4b979c8ccf.txt: image_config keys only Trinity knows; Trinity refuses stream:true.
TRINITY_ONLY_KEYS = (
    "output_format",
    "output_image_format",
    "reference_images",
    "person_generation",
)

# 002_b08cd22946c7f3fa.txt "Gemini 2.5 Flash Image" table; 004_dc1c18c6c71477df.txt has the same
# table. One size per aspect ratio whatever the tier.
GEMINI_25_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# 002_b08cd22946c7f3fa.txt "Gemini 3 Pro Image / Gemini 3.1 Flash Image" table, 1K column;
# 2K and 4K are exactly 2x and 4x, 512 is half of 1K.
GEMINI_3_1K_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
TIER_SCALE = {"512": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}

IMAGE_FORMATS = {
    "png": ("image/png", "png"),
    "jpeg": ("image/jpeg", "jpg"),
    "webp": ("image/webp", "webp"),
}

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "id": "google/gemini-2.5-flash-image",
        "name": "Google: Gemini 2.5 Flash Image",
        "architecture": {
            "input_modalities": ["text", "image"],
            "output_modalities": ["image", "text"],
        },
        "output_modalities": ["image", "text"],
    },
    {
        "id": "google/gemini-3-pro-image-preview",
        "name": "Google: Gemini 3 Pro Image Preview",
        "architecture": {
            "input_modalities": ["text", "image"],
            "output_modalities": ["image", "text"],
        },
        "output_modalities": ["image", "text"],
    },
    {
        "id": "openai/gpt-4o",
        "name": "OpenAI: GPT-4o",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
        "output_modalities": ["text"],
    },
]


# --------------------------------------------------------------------------------------------
# Image bytes
# --------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _solid_idat(row: bytes, height: int) -> bytes:
    """zlib stream of ``row * height`` without compressing all of it.

    One block of rows is deflated (raw, ending with a full flush so it refers to nothing before
    it) and the compressed block is repeated; only the Adler-32 checksum walks the whole data.
    """
    rows_per_block = max(1, (1 << 18) // len(row))
    count, rest = divmod(height, rows_per_block)
    block = row * rows_per_block
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = comp.compress(row * rest) + comp.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    return b"\x78\x9c" + piece * count + tail + struct.pack(">I", adler)


def make_png(
    width: int, height: int, noise: bool = False, color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """A valid 8-bit RGB PNG (filter 0 on every row): solid ``color``, or random noise."""
    if width < 1 or height < 1:
        raise ValueError(f"bad PNG size {width}x{height}")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if noise:
        raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
        idat = zlib.compress(raw, 0)  # incompressible anyway: store it
    else:
        idat = _solid_idat(b"\x00" + bytes(color) * width, height)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def make_jpeg_header(width: int, height: int) -> bytes:
    """SOI + APP0 JFIF + SOF0 (with the size) + EOI: right magic and size, not decodable."""
    if not (0 < width < 65536 and 0 < height < 65536):
        raise ValueError(f"bad JPEG size {width}x{height}")
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1)
    app0 += b"\x00\x00"
    components = b"\x01\x22\x00" + b"\x02\x11\x01" + b"\x03\x11\x01"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 8 + len(components), 8, height, width, 3)
    return b"\xff\xd8" + app0 + sof0 + components + b"\xff\xd9"


def make_webp_header(width: int, height: int) -> bytes:
    """RIFF/WEBP with one VP8X chunk (canvas size): right magic and size, not decodable."""
    if not (0 < width <= 1 << 24 and 0 < height <= 1 << 24):
        raise ValueError(f"bad WEBP size {width}x{height}")
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def image_size_of(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of bytes made by this module (PNG IHDR, JPEG SOF0, WEBP VP8X)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 4 <= len(data) and data[index] == 0xFF:
            marker = data[index + 1]
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            if marker == 0xC0:
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return "jpeg", width, height
            index += 2 + length
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return "webp", width, height
    raise ValueError("not an image made by fakegateway")


# --------------------------------------------------------------------------------------------
# Records and faults
# --------------------------------------------------------------------------------------------


@dataclass
class FilePart:
    name: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    form: dict[str, list[str]] | None
    files: list[FilePart]
    raw_size: int

    @property
    def authorized(self) -> bool:
        """Whether the request carried an Authorization header at all."""
        return "authorization" in self.headers


@dataclass
class Fault:
    """One injected failure, consumed by the first matching request (FIFO among matches).

    Matching: a non-empty ``path`` matches request paths that end or start with it; an empty one
    matches every request except /files/ and /redirect/ downloads. On top of that some kinds only
    fit some requests (the fault then waits in the queue): ``expired`` only /files/ (its empty
    path means "/files/"), ``truncate_sse`` only streaming chat requests, ``no_image`` and
    ``bad_base64`` only generation requests, ``truncated_image`` generation requests and /files/.

    ``status`` 0 means the kind's default (500 for "status", 502 for "html", 403 for "expired").
    ``stall`` sends nothing for ``seconds`` and then the real reply; ``slow`` sends the headers,
    then the body 16 bytes every ``seconds``; ``truncate_sse`` ends the chunked stream cleanly
    after the role delta (no image event, no [DONE]); ``reset`` writes half the body, then RST.
    """

    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0
    body: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")


class _Abort(Exception):
    """Close the connection without (finishing) a reply."""


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    pieces: list[bytes] | None = None  # streamed (chunked) reply, one chunk per piece


def _json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(obj, ensure_ascii=False).encode()
    return _Reply(status, {"Content-Type": "application/json", **(headers or {})}, body)


def _error(
    status: int, message: str, type_: str = "invalid_request_error", code: Any = None
) -> _Reply:
    return _json_reply(
        status, {"error": {"message": message, "type": type_, "param": None, "code": code}}
    )


class _HTTPError(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _bad_request(message: str, code: Any = None) -> _HTTPError:
    return _HTTPError(_error(400, message, "invalid_request_error", code))


# --------------------------------------------------------------------------------------------
# Request parsing helpers
# --------------------------------------------------------------------------------------------

_PARAM_RE = re.compile(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for key, raw in _PARAM_RE.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return main, params


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, list[str]], list[FilePart], dict[str, list[bytes]]]:
    """Text fields, file descriptions and file contents of a multipart/form-data body."""
    _, params = _header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise _bad_request("multipart body without boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    form: dict[str, list[str]] = {}
    files: list[FilePart] = []
    contents: dict[str, list[bytes]] = {}
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2:
        raise _bad_request("malformed multipart body")
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        section = section.split(b"\r\n", 1)[1] if b"\r\n" in section else b""
        head, sep, content = section.partition(b"\r\n\r\n")
        if not sep:
            raise _bad_request("malformed multipart part")
        part_headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("utf-8", "replace").partition(":")
            part_headers[name.strip().lower()] = value.strip()
        _, disposition = _header_params(part_headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        if "filename" in disposition:
            files.append(
                FilePart(
                    name=name,
                    filename=disposition["filename"],
                    content_type=part_headers.get("content-type", "application/octet-stream"),
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
            contents.setdefault(name, []).append(content)
        else:
            form.setdefault(name, []).append(content.decode("utf-8", "replace"))
    return form, files, contents


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request(f"invalid integer {value!r}") from None


def _parse_wxh(size: Any) -> tuple[int, int] | None:
    """None for auto/missing, else (w, h); 400 when malformed."""
    if size is None or size == "" or size == "auto":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(size))
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise _bad_request(f"invalid size {size!r}: expected 'auto' or '<w>x<h>'", "invalid_size")
    return int(match[1]), int(match[2])


def _check_gpt_image_2(width: int, height: int) -> None:
    """002_b08cd22946c7f3fa.txt: gpt-image-2 size constraints, enforced with a 4xx."""
    problems = []
    if width % 16 or height % 16:
        problems.append("both sides must be multiples of 16")
    if max(width, height) > 3840:
        problems.append("the long side must be <= 3840")
    if max(width / height, height / width) > 3:
        problems.append("the aspect ratio must be <= 3:1")
    if not 655_360 <= width * height <= 8_294_400:
        problems.append("total pixels must be between 655,360 and 8,294,400")
    if problems:
        raise _bad_request(f"Invalid size {width}x{height}: " + "; ".join(problems), "invalid_size")


def chat_pixels(aspect: Any, tier: Any, *, gemini25_table: bool) -> tuple[int, int]:
    """Pixel size for a Gemini-family aspect ratio and tier (defaults 1:1, 1K)."""
    aspect = str(aspect or "1:1").strip()
    tier = str(tier or "1K").strip().upper()
    if tier not in TIER_SCALE:
        raise _bad_request(f"invalid image_size {tier!r}; expected one of 512, 1K, 2K, 4K")
    table = GEMINI_25_SIZES if gemini25_table else GEMINI_3_1K_SIZES
    if aspect in table:
        width, height = table[aspect]
    else:
        match = re.fullmatch(r"(\d+):(\d+)", aspect)
        if not match or not int(match[1]) or not int(match[2]):
            raise _bad_request(f"invalid aspect_ratio {aspect!r}")
        # Not in the seed tables: about a megapixel, sides multiples of 16.
        ratio = int(match[1]) / int(match[2])
        width = max(16, round(math.sqrt(1024 * 1024 * ratio) / 16) * 16)
        height = max(16, round(math.sqrt(1024 * 1024 / ratio) / 16) * 16)
    if gemini25_table:
        return width, height  # one size per aspect ratio regardless of tier
    scale = TIER_SCALE[tier]
    return max(1, round(width * scale)), max(1, round(height * scale))


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: FakeGateway

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup): skip that.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fakegateway-conn",
            daemon=True,
        )
        self.gateway._track_thread(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | _Abort):
            return
        super().handle_error(request, client_address)


class FakeGateway:
    """Threaded HTTP/1.1 fake of the five gateway dialects, bound to 127.0.0.1."""

    def __init__(self, api_key: str | None = None, *, port: int = 0, latency: float = 0.0) -> None:
        self.api_key = api_key
        self.port = port
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.latency = latency
        self.honour_size = True
        self.noise = False
        self.image_format = "png"
        self.models: list[dict[str, Any]] = [json.loads(json.dumps(m)) for m in DEFAULT_MODELS]
        self.models_endpoint = True
        self.files: dict[str, tuple[bytes, str]] = {}  # name -> (bytes, content type)
        self.verbose = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._seq = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGateway is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> FakeGateway:
        if self._server is not None:
            raise RuntimeError("FakeGateway already started")
        self._stop.clear()
        server = _Server((HOST, self.port), _Handler)
        server.gateway = self
        self._server = server
        self._serve_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakegateway-serve"
        )
        self._serve_thread.daemon = True
        self._serve_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server = self._server
        if server is None:
            return
        self._stop.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._serve_thread = None
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers for tests -----------------------------------------------------------------

    def requests_to(self, suffix: str) -> list[Recorded]:
        """Recorded requests whose path ends with ``suffix``."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def put_file(self, data: bytes, content_type: str = "image/png", ext: str = "png") -> str:
        """Store bytes under /files/<name>; returns the name."""
        with self._lock:
            self._seq += 1
            name = f"img-{self._seq:05d}-{secrets.token_hex(4)}.{ext}"
            self.files[name] = (data, content_type)
        return name

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    # ---- internals -------------------------------------------------------------------------

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        if self._stop.is_set():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next_colour(self) -> tuple[int, int, int]:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return ((37 * seq + 200) % 256, (91 * seq + 80) % 256, (151 * seq + 40) % 256)

    def _take_fault(self, path: str, route: str, streaming: bool) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if _fault_matches(fault, path, route, streaming):
                    return self.faults.pop(index)
        return None

    def _sleep(self, seconds: float) -> bool:
        """Interruptible sleep; False when the server is stopping."""
        if seconds > 0:
            return not self._stop.wait(seconds)
        return not self._stop.is_set()

    def _image(self, width: int, height: int) -> tuple[bytes, str, str]:
        """(bytes, mime, extension) of one image in ``self.image_format``."""
        if not self.honour_size:
            width = height = 64
        fmt = self.image_format
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be png, jpeg or webp, not {fmt!r}")
        mime, ext = IMAGE_FORMATS[fmt]
        if fmt == "jpeg":
            data = make_jpeg_header(width, height)
        elif fmt == "webp":
            data = make_webp_header(width, height)
        else:
            data = make_png(width, height, noise=self.noise, color=self._next_colour())
        return data, mime, ext

    def _images(
        self,
        count: int,
        width: int,
        height: int,
        fault: Fault | None,
        *,
        as_url: bool = False,
        raw_b64: bool = False,
        mime_label: str | None = None,
    ) -> list[str]:
        """``count`` images as data URLs, bare base64 (raw_b64) or /files/ URLs (as_url)."""
        kind = fault.kind if fault else ""
        if kind == "no_image":
            return []
        out = []
        for _ in range(max(1, count)):
            data, mime, ext = self._image(width, height)
            if kind == "truncated_image":
                data = data[: len(data) // 2]
            encoded = BAD_BASE64 if kind == "bad_base64" else base64.b64encode(data).decode()
            label = mime_label or mime
            if raw_b64:
                out.append(encoded)
            elif as_url and kind != "bad_base64":
                out.append(self.file_url(self.put_file(data, mime, ext)))
            else:
                out.append(f"data:{label};base64,{encoded}")
        return out


def _fault_matches(fault: Fault, path: str, route: str, streaming: bool) -> bool:
    is_download = route in ("files", "redirect")
    want = fault.path or ("/files/" if fault.kind == "expired" else "")
    if want:
        if not (path.endswith(want) or path.startswith(want)):
            return False
    elif is_download:
        return False
    if fault.kind == "expired":
        return route == "files"
    if fault.kind == "truncate_sse":
        return route == "chat" and streaming
    if fault.kind in ("no_image", "bad_base64"):
        return route in ("chat", "generations", "edits")
    if fault.kind == "truncated_image":
        return route in ("chat", "generations", "edits", "files")
    return True


def _route_of(method: str, path: str) -> str:
    if path.startswith("/files/"):
        return "files"
    if path.startswith("/redirect/"):
        return "redirect"
    for suffix, route in (
        ("/chat/completions", "chat"),
        ("/images/generations", "generations"),
        ("/images/edits", "edits"),
        ("/models", "models"),
    ):
        if path.endswith(suffix):
            return route
    return "unknown"


_ROUTE_METHODS = {
    "chat": "POST",
    "generations": "POST",
    "edits": "POST",
    "models": "GET",
    "files": "GET",
    "redirect": "GET",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGateway/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after this
    server: _Server

    # ---- connection lifecycle ----------------------------------------------------------------

    @property
    def gw(self) -> FakeGateway:
        return self.server.gateway

    def setup(self) -> None:
        super().setup()
        self.gw._register(self.connection)

    def finish(self) -> None:
        self.gw._unregister(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and not self.gw._stop.is_set():
            self.handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        if self.gw.verbose:
            sys.stderr.write(f"fakegateway: {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # ---- request ---------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        gw = self.gw
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        path = split.path or "/"
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        content_type = headers.get("content-type", "")
        body_json: Any = None
        form: dict[str, list[str]] | None = None
        files: list[FilePart] = []
        parse_error: _HTTPError | None = None
        if content_type.lower().startswith("multipart/form-data"):
            try:
                form, files, _ = parse_multipart(raw, content_type)
            except _HTTPError as exc:
                parse_error = exc
        elif raw:
            try:
                body_json = json.loads(raw)
            except ValueError:
                if "json" in content_type.lower():
                    parse_error = _bad_request("request body is not valid JSON")
        rec = Recorded(
            method=self.command,
            path=path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            json=body_json,
            form=form,
            files=files,
            raw_size=len(raw),
        )
        gw._record(rec)
        route = _route_of(self.command, path)
        streaming = (
            route == "chat" and isinstance(body_json, dict) and body_json.get("stream") is True
        )
        fault: Fault | None = None
        try:
            if route not in ("files", "redirect") and not self._authorized(headers):
                raise _HTTPError(
                    _error(401, "Invalid API key", "invalid_request_error", "invalid_api_key")
                )
            if parse_error is not None:
                raise parse_error
            fault = gw._take_fault(path, route, streaming)
            early = _fault_reply(fault)
            if early is not None:
                reply = early
            elif route == "unknown":
                raise _HTTPError(
                    _error(404, f"Not found: {path}", "invalid_request_error", "not_found")
                )
            elif _ROUTE_METHODS[route] != self.command:
                raise _HTTPError(
                    _error(
                        405,
                        f"Method {self.command} not allowed on {path}",
                        code="method_not_allowed",
                    )
                )
            else:
                reply = getattr(self, f"_route_{route}")(rec, path, fault)
        except _HTTPError as exc:
            reply = exc.reply
        except _Abort:
            self._abort()
            return
        try:
            self._send(reply, fault)
        except _Abort:
            self._abort()
        except OSError:
            self.close_connection = True

    def _authorized(self, headers: dict[str, str]) -> bool:
        key = self.gw.api_key
        if key is None:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == key

    # ---- routes ------------------------------------------------------------------------------

    def _route_models(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        gw = self.gw
        if not gw.models_endpoint:
            # 000_aa690c4b979c8ccf.txt: Trinity has no public GET /v1/models.
            raise _HTTPError(
                _error(404, f"Not found: {path}", "invalid_request_error", "not_found")
            )
        models = list(gw.models)
        wanted = rec.query.get("output_modalities", "")
        if wanted and wanted != "all":
            # 001/003: models carry output_modalities; OpenRouter filters on the query parameter.
            needed = {m.strip() for m in wanted.split(",") if m.strip()}
            models = [m for m in models if needed <= set(_output_modalities(m))]
        return _json_reply(200, {"data": models})

    def _route_files(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        name = path[len("/files/") :]
        with self.gw._lock:
            entry = self.gw.files.get(name)
        if entry is None:
            raise _HTTPError(_error(404, f"No such file: {name}", code="not_found"))
        data, content_type = entry
        if fault and fault.kind == "truncated_image":
            data = data[: len(data) // 2]
        return _Reply(200, {"Content-Type": content_type}, data)

    def _route_redirect(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        name = path[len("/redirect/") :]
        return _Reply(302, {"Location": self.gw.file_url(name), "Content-Type": "text/plain"}, b"")

    def _route_generations(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        body = rec.json
        if not isinstance(body, dict):
            raise _bad_request("expected a JSON object body")
        return self._images_reply(body, fault, "generations")

    def _route_edits(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        # 002_b08cd22946c7f3fa.txt: multipart, image or repeated image[], optional mask.
        if rec.form is None:
            raise _bad_request("images/edits expects multipart/form-data")
        fields = {name: values[-1] for name, values in rec.form.items()}
        if str(fields.get("model", "")).startswith("doubao-seedream"):
            # 002_b08cd22946c7f3fa.txt: Seedream does not support /images/edits.
            raise _bad_request(
                "doubao-seedream models do not support /images/edits", "unsupported_model"
            )
        if not any(part.name in ("image", "image[]") for part in rec.files):
            raise _bad_request("image is required (field 'image' or repeated 'image[]')")
        return self._images_reply(fields, fault, "edits")

    def _images_reply(self, body: dict[str, Any], fault: Fault | None, route: str) -> _Reply:
        gw = self.gw
        model = str(body.get("model") or "")
        count = _as_int(body.get("n"), 1)
        if count < 1:
            raise _bad_request("n must be >= 1")
        wxh = _parse_wxh(body.get("size"))
        if model.startswith("turing/gpt-image-2"):
            if wxh is not None:
                _check_gpt_image_2(*wxh)
            if (
                body.get("background") == "transparent"
                and body.get("output_format", "png") != "png"
            ):
                raise _bad_request("background=transparent requires output_format=png")
        width, height = wxh or (1024, 1024)
        # 002_b08cd22946c7f3fa.txt: Seedream turns n into sequential_image_generation, and still
        # returns n images: nothing special to do here.
        if not gw._sleep(gw.latency):
            raise _Abort
        as_url = body.get("response_format") == "url" and route == "generations"
        images = gw._images(count, width, height, fault, as_url=as_url, raw_b64=not as_url)
        key = "url" if as_url else "b64_json"
        return _json_reply(
            200,
            {
                "created": int(time.time()),
                "data": [{key: item} for item in images],
                "usage": IMAGES_USAGE,
            },
        )

    def _route_chat(self, rec: Recorded, path: str, fault: Fault | None) -> _Reply:
        gw = self.gw
        body = rec.json
        if not isinstance(body, dict):
            raise _bad_request("expected a JSON object body")
        model = str(body.get("model") or "")
        stream = body.get("stream") is True
        count = _as_int(body.get("n"), 1)
        if count < 1:
            raise _bad_request("n must be >= 1")
        image_config = body.get("image_config")
        image_config = image_config if isinstance(image_config, dict) else None
        extra = body.get("extra_body")
        google = extra.get("google") if isinstance(extra, dict) else None
        xty_config = google.get("image_config") if isinstance(google, dict) else None
        camel = body.get("imageConfig")
        mime_label: str | None = None

        if stream and image_config and any(k in image_config for k in TRINITY_ONLY_KEYS):
            # 000_aa690c4b979c8ccf.txt: image requests must not stream.
            raise _HTTPError(
                _error(
                    400,
                    "stream=true is not supported for image generation",
                    "invalid_request",
                    "invalid_request",
                )
            )
        if isinstance(xty_config, dict):
            # 004_dc1c18c6c71477df.txt: options in extra_body.google.image_config, n choices,
            # images as markdown links to URLs that expire after an hour; single size table.
            shape = "xty"
            size = chat_pixels(
                xty_config.get("aspect_ratio"), xty_config.get("image_size"), gemini25_table=True
            )
        elif isinstance(camel, dict):
            # 002_b08cd22946c7f3fa.txt: Turing Gemini, camelCase imageConfig.
            shape = "gemini25" if "2.5" in model else "gemini3"
            size = chat_pixels(
                camel.get("aspectRatio"), camel.get("imageSize"), gemini25_table="2.5" in model
            )
            options = camel.get("imageOutputOptions")
            if isinstance(options, dict) and isinstance(options.get("mimeType"), str):
                mime_label = options["mimeType"]
        else:
            # 000 (Trinity url / base64), 001 Knox, 003 OpenRoute: image_config snake_case.
            config = image_config or {}
            shape = "trinity_url" if config.get("output_format") == "url" else "openrouter"
            size = chat_pixels(
                config.get("aspect_ratio"), config.get("image_size"), gemini25_table="2.5" in model
            )

        if not gw._sleep(gw.latency):
            raise _Abort
        as_url = shape in ("xty", "trinity_url")
        images = gw._images(count, *size, fault, as_url=as_url, mime_label=mime_label)
        no_image_text = (
            (fault.body or NO_IMAGE_TEXT) if fault and fault.kind == "no_image" else None
        )
        base = {
            "id": f"gen-{secrets.token_hex(8)}",
            "model": model,
            "created": int(time.time()),
        }
        if stream:
            truncated = fault is not None and fault.kind == "truncate_sse"
            return _sse_reply(base, shape, images, no_image_text, truncated)
        return _json_reply(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": _chat_choices(shape, images, no_image_text),
                "usage": CHAT_USAGE,
            },
        )

    # ---- response ------------------------------------------------------------------------------

    def _abort(self) -> None:
        """Drop the connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            fd = self.connection.detach()
            socket.socket(fileno=fd).close()
        except OSError:
            pass

    def _send(self, reply: _Reply, fault: Fault | None) -> None:
        gw = self.gw
        kind = fault.kind if fault else ""
        if kind == "stall":
            # Nothing at all for `seconds` (bounded, cut short by stop), then the real reply.
            if not gw._sleep(fault.seconds if fault else 0):
                raise _Abort
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.pieces is None:
            payload = reply.body
            self.send_header("Content-Length", str(len(payload)))
        else:
            pieces = [b"%x\r\n%b\r\n" % (len(p), p) for p in reply.pieces if p] + [b"0\r\n\r\n"]
            payload = b"".join(pieces)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
        self.end_headers()
        if kind == "reset":
            self.wfile.write(payload[: len(payload) // 2])
            raise _Abort
        if kind == "slow":
            step = max(0.001, fault.seconds if fault else 0.1)
            for start in range(0, len(payload), SLOW_STEP):
                self.wfile.write(payload[start : start + SLOW_STEP])
                if not gw._sleep(step):
                    raise _Abort
            return
        if reply.pieces is None:
            self.wfile.write(payload)
            return
        for piece in pieces:
            if gw._stop.is_set():
                raise _Abort
            self.wfile.write(piece)
            self.wfile.flush()


def _output_modalities(model: dict[str, Any]) -> list[str]:
    mods = model.get("output_modalities")
    if not isinstance(mods, list):
        arch = model.get("architecture") or {}
        mods = arch.get("output_modalities") if isinstance(arch, dict) else None
    return [str(m) for m in mods or []]


def _fault_reply(fault: Fault | None) -> _Reply | None:
    """The reply of a fault that replaces the real answer, or None."""
    if fault is None:
        return None
    if fault.kind == "status":
        status = fault.status or 500
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        if status == 429:
            type_ = "rate_limit_error"
        reply = _error(status, fault.body or f"fake gateway error {status}", type_, str(status))
        reply.headers.update(fault.headers)
        return reply
    if fault.kind == "content_filter":
        # 002_b08cd22946c7f3fa.txt: prompt hit moderation -> 4xx with error.code "contentFilter".
        reply = _json_reply(
            400,
            {
                "error": {
                    "code": "contentFilter",
                    "message": "The prompt was filtered due to content policy",
                }
            },
        )
        reply.headers.update(fault.headers)
        return reply
    if fault.kind == "html":
        body = (fault.body or HTML_502).encode()
        return _Reply(fault.status or 502, {"Content-Type": "text/html", **fault.headers}, body)
    if fault.kind == "bad_json":
        return _Reply(200, {"Content-Type": "application/json", **fault.headers}, b'{"choices": [')
    if fault.kind == "expired":
        body = (fault.body or EXPIRED_XML).encode()
        return _Reply(
            fault.status or 403, {"Content-Type": "application/xml", **fault.headers}, body
        )
    return None


def _chat_choices(shape: str, images: list[str], no_image_text: str | None) -> list[dict[str, Any]]:
    def choice(index: int, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"index": index, "message": message, **extra, "finish_reason": "stop"}

    if no_image_text is not None:
        return [choice(0, {"role": "assistant", "content": no_image_text})]
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    if shape == "xty":
        # 004_dc1c18c6c71477df.txt: one choice per image, the image inside the text.
        return [
            choice(i, {"role": "assistant", "content": f"这是第 {i + 1} 张图片:![image]({url})"})
            for i, url in enumerate(images)
        ]
    if shape == "gemini25":
        # 002_b08cd22946c7f3fa.txt: gemini-2.5-flash-image puts the image in content parts.
        content: list[dict[str, Any]] = [{"type": "text", "text": "Here's your image!"}]
        content += [
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}} for url in images
        ]
        return [choice(0, {"role": "assistant", "content": content})]
    if shape == "gemini3":
        # 002_b08cd22946c7f3fa.txt: Gemini 3.x puts images at choice level, content empty.
        return [choice(0, {"role": "assistant", "content": []}, images=parts)]
    # 000 (Trinity), 001 (Knox), 003 (OpenRoute): message.images.
    text = "已为你生成图片。" if shape == "trinity_url" else "I've generated an image for you."
    return [choice(0, {"role": "assistant", "content": text, "images": parts})]


def _sse_reply(
    base: dict[str, Any],
    shape: str,
    images: list[str],
    no_image_text: str | None,
    truncated: bool,
) -> _Reply:
    """SSE stream per 001/003 (delta.images) and 002 (Gemini content parts / delta.images)."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

    def delta(payload: dict[str, Any], index: int = 0) -> bytes:
        return event([{"index": index, "delta": payload, "finish_reason": None}])

    pieces = [SSE_KEEPALIVE, delta({"role": "assistant", "content": ""})]
    if not truncated:
        pieces.append(delta({"content": "Here is"}))
        image_events: list[bytes] = []
        parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
        if no_image_text is not None:
            image_events.append(delta({"content": no_image_text}))
        elif shape == "gemini25":
            image_events.append(delta({"content": parts}))
        elif shape == "gemini3":
            image_events.append(delta({"content": [], "images": parts}))
        elif shape == "xty":
            image_events += [
                delta({"content": f"这是第 {i + 1} 张图片:![image]({url})"}, i)
                for i, url in enumerate(images)
            ]
        else:
            image_events.append(delta({"images": parts}))
        for data in image_events:
            # Several writes, so the client sees the event split mid-line.
            pieces += [data[i : i + SSE_PIECE] for i in range(0, len(data), SSE_PIECE)]
        pieces.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=CHAT_USAGE))
        pieces.append(b"data: [DONE]\n\n")
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    return _Reply(200, headers, pieces=pieces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the fake image gateway on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=None, help="required API key (default: accept any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per generation")
    args = parser.parse_args(argv)
    gateway = FakeGateway(api_key=args.key, port=args.port, latency=args.latency)
    gateway.verbose = True

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT even when started in the background) stop the server cleanly.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    with gateway:
        print(gateway.url, flush=True)
        try:
            while True:  # short naps: the signal may land on a server thread
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
