"""The fake gateway itself: a threaded HTTP/1.1 server on 127.0.0.1 that records every request,
injects queued faults, and hands each route to its family's module (ROUTES)."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imggen.testing import chat, images_api, models
from imggen.testing.models import DEFAULT_MODELS
from imggen.testing.pictures import IMAGE_FORMATS, make_jpeg_header, make_png, make_webp_header
from imggen.testing.protocol import (
    BAD_BASE64,
    SLOW_STEP,
    Abort,
    Fault,
    FilePart,
    HTTPError,
    Recorded,
    Reply,
    bad_request,
    error_reply,
    fault_matches,
    fault_reply,
    parse_multipart,
)

HOST = "127.0.0.1"


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
        if isinstance(exc, OSError | Abort):
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
        self.honour_size = True  # False: every image is 64x64, whatever was asked
        self.size: tuple[int, int] | None = None  # every image this size, whatever was asked
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
                if fault_matches(fault, path, route, streaming):
                    return self.faults.pop(index)
        return None

    def sleep(self, seconds: float) -> bool:
        """Interruptible sleep; False when the server is stopping."""
        if seconds > 0:
            return not self._stop.wait(seconds)
        return not self._stop.is_set()

    def image(self, width: int, height: int) -> tuple[bytes, str, str]:
        """(bytes, mime, extension) of one image in ``self.image_format``."""
        if self.size is not None:
            width, height = self.size
        elif not self.honour_size:
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

    def images(
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
            data, mime, ext = self.image(width, height)
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


def _files(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    name = path[len("/files/") :]
    with gw._lock:
        entry = gw.files.get(name)
    if entry is None:
        raise HTTPError(error_reply(404, f"No such file: {name}", code="not_found"))
    data, content_type = entry
    if fault and fault.kind == "truncated_image":
        data = data[: len(data) // 2]
    return Reply(200, {"Content-Type": content_type}, data)


def _redirect(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    name = path[len("/redirect/") :]
    return Reply(302, {"Location": gw.file_url(name), "Content-Type": "text/plain"}, b"")


Route = Callable[["FakeGateway", Recorded, str, "Fault | None"], Reply]

# path suffix -> (route name, method, handler); /files/ and /redirect/ are matched by prefix.
# A new gateway family is one module and one line here.
ROUTES: dict[str, tuple[str, str, Route]] = {
    "/chat/completions": ("chat", "POST", chat.route),
    "/images/generations": ("generations", "POST", images_api.generations),
    "/images/edits": ("edits", "POST", images_api.edits),
    "/models": ("models", "GET", models.route),
}
_DOWNLOADS: dict[str, tuple[str, str, Route]] = {
    "/files/": ("files", "GET", _files),
    "/redirect/": ("redirect", "GET", _redirect),
}


def route_of(path: str) -> tuple[str, str, Route | None]:
    """(route name, method, handler) for a path; ("unknown", "", None) when none matches."""
    for prefix, found in _DOWNLOADS.items():
        if path.startswith(prefix):
            return found
    for suffix, found in ROUTES.items():
        if path.endswith(suffix):
            return found
    return "unknown", "", None


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
        parse_error: HTTPError | None = None
        if content_type.lower().startswith("multipart/form-data"):
            try:
                form, files, _ = parse_multipart(raw, content_type)
            except HTTPError as exc:
                parse_error = exc
        elif raw:
            try:
                body_json = json.loads(raw)
            except ValueError:
                if "json" in content_type.lower():
                    parse_error = bad_request("request body is not valid JSON")
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
        route, method, handler = route_of(path)
        streaming = (
            route == "chat" and isinstance(body_json, dict) and body_json.get("stream") is True
        )
        fault: Fault | None = None
        try:
            if route not in ("files", "redirect") and not self._authorized(headers):
                raise HTTPError(
                    error_reply(401, "Invalid API key", "invalid_request_error", "invalid_api_key")
                )
            if parse_error is not None:
                raise parse_error
            fault = gw._take_fault(path, route, streaming)
            early = fault_reply(fault)
            if early is not None:
                reply = early
            elif handler is None:
                raise HTTPError(
                    error_reply(404, f"Not found: {path}", "invalid_request_error", "not_found")
                )
            elif method != self.command:
                raise HTTPError(
                    error_reply(
                        405,
                        f"Method {self.command} not allowed on {path}",
                        code="method_not_allowed",
                    )
                )
            else:
                reply = handler(gw, rec, path, fault)
        except HTTPError as exc:
            reply = exc.reply
        except Abort:
            self._abort()
            return
        try:
            self._send(reply, fault)
        except Abort:
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

    def _abort(self) -> None:
        """Drop the connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            fd = self.connection.detach()
            socket.socket(fileno=fd).close()
        except OSError:
            pass

    def _send(self, reply: Reply, fault: Fault | None) -> None:
        gw = self.gw
        kind = fault.kind if fault else ""
        if kind == "stall":
            # Nothing at all for `seconds` (bounded, cut short by stop), then the real reply.
            if not gw.sleep(fault.seconds if fault else 0):
                raise Abort
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
            raise Abort
        if kind == "slow":
            step = max(0.001, fault.seconds if fault else 0.1)
            for start in range(0, len(payload), SLOW_STEP):
                self.wfile.write(payload[start : start + SLOW_STEP])
                if not gw.sleep(step):
                    raise Abort
            return
        if reply.pieces is None:
            self.wfile.write(payload)
            return
        for piece in pieces:
            if gw._stop.is_set():
                raise Abort
            self.wfile.write(piece)
            self.wfile.flush()
