"""The HTTP/1.1 request handler of the fake gateway: read and record a request, take a fault,
route it, and send the reply (whole, chunked, slowly, stalled or cut off)."""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from imggen.testing.protocol import (
    SLOW_STEP,
    Abort,
    Fault,
    HTTPError,
    Recorded,
    Reply,
    TooLarge,
    bad_request,
    error_reply,
    fault_reply,
    parse_multipart,
)
from imggen.testing.routes import Persona, route_of

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway, _Server


READ_PIECE = 1 << 20  # a body is read this much at a time
DRAIN_CAP = 1 << 20  # a refused request's body is read (not kept) up to this size
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGateway/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after this
    server: _Server
    raw = b""  # the body being handled

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

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.gw.verbose:  # one short line a request: method, path (no query), status
            path = urlsplit(self.path).path
            sys.stderr.write(f"fake gateway: {self.command} {path} -> {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        if self.gw.verbose:
            sys.stderr.write(f"fake gateway: {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # ---- request ---------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The body, read in bounded pieces; TooLarge past gw.max_body (nothing more is read)."""
        cap = self.gw.max_body
        out = bytearray()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > cap:
                    raise TooLarge
                self._read_into(out, size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > cap:
            raise TooLarge
        self._read_into(out, length)
        return bytes(out)

    def _read_into(self, out: bytearray, size: int) -> None:
        while size > 0:
            piece = self.rfile.read(min(size, READ_PIECE))
            if not piece:
                raise ValueError("body ended early")
            out += piece
            size -= len(piece)

    def _parse(self, raw: bytes, headers: dict[str, str], route: str = "") -> Recorded:
        split = urlsplit(self.path)
        rec = Recorded(
            method=self.command,
            path=split.path or "/",
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            json=None,
            form=None,
            files=[],
            raw_size=len(raw),
        )
        content_type = headers.get("content-type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if route == "google_upload" and "upload_id" in rec.query:
            rec.uploads = {"body": [raw]}  # a resumable upload's bytes: any content type
        elif kind == "multipart/form-data":
            rec.form, rec.files, rec.uploads = parse_multipart(raw, content_type)
        elif kind == "application/json" or (kind.endswith("+json") and "/" in kind):
            if not raw:  # a GET saying application/json, or an empty POST: no body
                return rec
            try:
                rec.json = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
                raise bad_request(
                    "We could not parse the JSON body of your request.", "invalid_json"
                ) from None
        elif raw:
            # A browser sends text/plain (or a form) to any site without asking first: never
            # read those as JSON, so a web page cannot make this gateway work for it. (An empty
            # body, as fal's PUT .../cancel has, carries nothing to read.)
            shown = kind or "none"
            raise HTTPError(
                error_reply(
                    415,
                    f"Unsupported Content-Type '{shown}': send application/json "
                    "(multipart/form-data for image edits)",
                    "invalid_request_error",
                    "unsupported_media_type",
                )
            )
        return rec

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def _refusal(self, headers: dict[str, str]) -> Reply | None:
        """The refusal of another host's name (DNS rebinding) or a CORS preflight."""
        host = headers.get("host", "").rsplit(":", 1)[0].strip("[]").lower()
        if host not in LOOPBACK_NAMES:
            return error_reply(421, "This gateway answers only 127.0.0.1 and localhost")
        if self.command == "OPTIONS":  # a preflight: never granted, no Access-Control-* ever
            return error_reply(405, "Method OPTIONS not allowed", code="method_not_allowed")
        return None

    def _refuse_early(self, headers: dict[str, str], persona: Persona | None) -> None:
        """Refuse, before the body is read: another host's name (DNS rebinding), a CORS
        preflight, a missing or wrong key, an oversized body. Raises HTTPError; the
        connection is then closed unless the (small) body could be drained."""
        gw = self.gw
        refused = self._refusal(headers)
        if refused is None and persona is not None:
            sent = persona.key_of(headers)
            if sent is None or (gw.api_key is not None and sent != gw.api_key):
                refused = persona.unauthorized(sent)
        if refused is not None:
            length = self.headers.get("Content-Length") or "0"
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            if chunked or not length.isdigit() or int(length) > DRAIN_CAP:
                self.close_connection = True
            else:  # read, so the client sees the answer rather than a reset
                self._read_into(bytearray(), int(length))
            raise HTTPError(refused)
        try:
            self.raw = self._read_body()
        except TooLarge:
            self.close_connection = True
            raise HTTPError(
                error_reply(
                    413,
                    f"Request body too large: at most {gw.max_body} bytes",
                    "invalid_request_error",
                    "request_too_large",
                )
            ) from None

    def _dispatch(self) -> None:
        gw = self.gw
        headers = self._headers()
        path = urlsplit(self.path).path or "/"
        persona, route, method, handler = route_of(path)
        try:
            self._refuse_early(headers, persona)
        except HTTPError as exc:
            self._reply(exc.reply, None)
            return
        except (OSError, ValueError):
            self.close_connection = True
            return
        raw, self.raw = self.raw, b""
        fault: Fault | None = None
        said: dict[str, str] = {}
        try:
            try:
                rec = self._parse(raw, headers, route)
            finally:
                del raw
            gw._record(rec)
            if gw.rate_limit is not None and persona is not None:
                said = gw.rate_limit.take()  # a 429 past the limit; what it says of the limit
            fault, reply = self._answer(rec, path, route, method, handler)
        except HTTPError as exc:
            reply = exc.reply
        except Abort:
            self._abort()
            return
        if said:
            reply = dataclasses.replace(reply, headers={**reply.headers, **said})
        self._reply(reply, fault)

    def _answer(
        self, rec: Recorded, path: str, route: str, method: str, handler: Any
    ) -> tuple[Fault | None, Reply]:
        """The fault the request draws, if any, and the reply: the route's, or a fault's, a
        404 for a path no route has, a 405 for a method it does not take."""
        gw = self.gw
        streaming = (isinstance(rec.json, dict) and rec.json.get("stream") is True) or (
            rec.form is not None and rec.form.get("stream", [""])[-1] == "true"
        )
        fault = gw._take_fault(path, route, streaming)
        early = fault_reply(fault)
        if early is not None:
            return fault, early
        if handler is None:
            message = f"Invalid URL ({self.command} {path})"
            raise HTTPError(error_reply(404, message, "invalid_request_error"))
        if method not in ("*", self.command):  # "*": the route checks the method itself
            raise HTTPError(
                error_reply(
                    405, f"Method {self.command} not allowed on {path}", code="method_not_allowed"
                )
            )
        try:
            return fault, handler(gw, rec, path, fault)
        finally:
            rec.uploads = {}

    def _reply(self, reply: Reply, fault: Fault | None) -> None:
        try:
            self._send(reply, fault)
        except Abort:
            self._abort()
        except OSError:
            self.close_connection = True

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
        elif not isinstance(reply.pieces, list):  # made as it goes (a job's status stream)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in reply.pieces:
                if gw._stop.is_set():
                    raise Abort
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
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
