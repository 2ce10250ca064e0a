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

from imggen.testing.personas import OWN_AUTH
from imggen.testing.protocol import (
    SLOW_STEP,
    Abort,
    Fault,
    FilePart,
    HTTPError,
    Recorded,
    Reply,
    bad_request,
    error_reply,
    fault_reply,
    parse_multipart,
)
from imggen.testing.routes import route_of

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway, _Server


class Handler(BaseHTTPRequestHandler):
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

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.gw.verbose:  # one short line a request: method, path (no query), status
            path = urlsplit(self.path).path
            sys.stderr.write(f"fake gateway: {self.command} {path} -> {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        if self.gw.verbose:
            sys.stderr.write(f"fake gateway: {format % args}\n")

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
        contents: dict[str, list[bytes]] = {}
        parse_error: HTTPError | None = None
        if content_type.lower().startswith("multipart/form-data"):
            try:
                form, files, contents = parse_multipart(raw, content_type)
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
        if route == "batch_upload":  # the Batch API reads the uploaded JSONL
            rec.uploads = contents
        streaming = (isinstance(body_json, dict) and body_json.get("stream") is True) or (
            form is not None and form.get("stream", [""])[-1] == "true"
        )
        fault: Fault | None = None
        said: dict[str, str] = {}
        try:
            if route not in ("files", "redirect", *OWN_AUTH) and not self._authorized(headers):
                raise HTTPError(
                    error_reply(401, "Invalid API key", "invalid_request_error", "invalid_api_key")
                )
            if parse_error is not None:
                raise parse_error
            if gw.rate_limit is not None and route not in ("files", "redirect"):
                said = gw.rate_limit.take()  # a 429 past the limit; what it says of the limit
            fault = gw._take_fault(path, route, streaming)
            early = fault_reply(fault)
            if early is not None:
                reply = early
            elif handler is None:
                raise HTTPError(
                    error_reply(404, f"Not found: {path}", "invalid_request_error", "not_found")
                )
            elif method not in ("*", self.command):
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
        if said:
            reply = dataclasses.replace(reply, headers={**reply.headers, **said})
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
        if headers.get("x-key", "").strip() == key:  # Black Forest Labs
            return True
        return scheme.lower() in ("bearer", "key") and token.strip() == key  # fal: Key

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
