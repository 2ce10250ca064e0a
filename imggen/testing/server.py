"""The fake gateway itself: a threaded HTTP/1.1 server on 127.0.0.1 that records requests,
injects queued faults, and hands each route to its family's module (ROUTES)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from imggen.testing.derive import derived_png
from imggen.testing.handler import Handler
from imggen.testing.jobs import JobStore
from imggen.testing.models import DEFAULT_MODELS
from imggen.testing.openrouter_image_api import DEFAULT_IMAGE_MODELS
from imggen.testing.pictures import (
    IMAGE_FORMATS,
    make_png,
    placeholder,
    seeded_colour,
    with_transparency,
)
from imggen.testing.protocol import (
    BAD_BASE64,
    Abort,
    Fault,
    Look,
    Recorded,
    check_pixels,
    fault_matches,
)
from imggen.testing.ratelimit import RateLimit

HOST = "127.0.0.1"
# The image models of the gateways the fake plays (shared/seeds/, OpenAI, OpenRouter), with or
# without a provider prefix ("openai/gpt-image-1", "turing/gemini-3-pro-image")
KNOWN_FAMILIES = re.compile(
    r"(?:[\w.-]+/)?(?:gpt-image-[\w.-]+|dall-e-[23]|chatgpt-image-latest|hunyuan-image"
    r"|gemini-[\d.]+-(?:flash|pro|flash-lite)-image[\w.-]*|doubao-seedream-[\w.-]+"
    r"|flux[\w.-]*|seedream-[\w.-]+)"
)
MiB = 1 << 20
MAX_BODY = 64 * MiB  # a request body (OpenAI takes images of up to 50 MB in an edit)
RECORDS_KEPT = 500  # the newest requests recorded; older ones are forgotten
RECORD_BYTES = 32 * MiB  # bodies kept whole in the record; older ones are summarised
MAX_CONNECTIONS = 128  # open at once; one thread each
FILES_KEPT = 200  # images served under /files/ (as links), newest kept
FILE_BYTES = 512 * MiB


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: FakeGateway

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup): skip that.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.gateway._has_room():  # bounded: past max_connections, hang up at once
            self.shutdown_request(request)
            return
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
        self.cost: float | None = None  # per image, sent as usage.cost (OpenRouter's, in USD)
        self.models: list[dict[str, Any]] = [json.loads(json.dumps(m)) for m in DEFAULT_MODELS]
        self.models_endpoint = True
        # OpenRouter's GET /images/models: the models POST /images serves, with descriptors
        self.image_models: list[dict[str, Any]] = [
            json.loads(json.dumps(m)) for m in DEFAULT_IMAGE_MODELS
        ]
        # A LiteLLM-style proxy: alias -> the model behind it, and the fields it drops
        # without a word (shared/references/litellm-proxy.md)
        self.aliases: dict[str, str] = {}
        self.drops: tuple[str, ...] = ()
        # LiteLLM's GET /model_group/info (at the proxy's root): each model name or alias with
        # its deployment's real mode; None: no such endpoint (a 404), as on other gateways
        self.model_groups: list[dict[str, Any]] | None = None
        # providers with their own routes (testing/personas.py): a safety refusal switch, and
        # Azure OpenAI's deployments (name -> the model behind it)
        self.refuse_safety = False
        self.deployments: dict[str, str] = {"my-images": "gpt-image-1"}
        self.jobs = JobStore()  # fal, Replicate, Black Forest Labs: switches and counters
        self.batches: dict[str, dict[str, Any]] = {}  # Batch API: id -> input lines, files
        self.rate_limit: RateLimit | None = None  # requests past it are answered 429
        self.known_models: set[str] = set()  # served besides the listings and KNOWN_FAMILIES
        self.files: dict[str, tuple[bytes, str]] = {}  # name -> (bytes, content type)
        # the Gemini API's File API (testing/google_files.py): files/ID -> its File, bytes and
        # expiry; upload_id -> a resumable upload under way
        self.gemini_files: dict[str, dict[str, Any]] = {}
        self.gemini_uploads: dict[str, dict[str, Any]] = {}
        self.max_body = MAX_BODY  # larger request bodies get a 413, unread
        self.max_connections = MAX_CONNECTIONS
        self.records_kept = RECORDS_KEPT
        self.record_bytes = RECORD_BYTES
        self.verbose = False
        # signs each image served (bytes, mime) -> bytes: --signed, see testing/signed.py
        self.signer: Callable[[bytes, str], bytes] | None = None
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
        """The root, http://127.0.0.1:PORT: routes match by suffix, so any prefix works."""
        if self._server is None:
            raise RuntimeError("FakeGateway is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL to give imggen: the root + /v1."""
        return self.url + "/v1"

    def start(self) -> FakeGateway:
        if self._server is not None:
            raise RuntimeError("FakeGateway already started")
        self._stop.clear()
        server = _Server((HOST, self.port), Handler)
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
            # bounded: the newest FILES_KEPT files up to FILE_BYTES (the newest always)
            total = 0
            for index, old in enumerate(reversed(list(self.files))):
                total += len(self.files[old][0])
                if index and (index >= FILES_KEPT or total > FILE_BYTES):
                    del self.files[old]
        return name

    def file(self, name: str) -> tuple[bytes, str] | None:
        """(bytes, content type) of a file put_file stored, None when unknown or forgotten."""
        with self._lock:
            return self.files.get(name)

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    # ---- internals -------------------------------------------------------------------------

    def _has_room(self) -> bool:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            return len(self._threads) < self.max_connections

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
        """Record a request: the newest ``records_kept``, of which the newest bodies up to
        ``record_bytes`` whole and the others summarised (their long strings described)."""
        with self._lock:
            self.requests.append(rec)
            del self.requests[: -self.records_kept]
            whole = 0
            for old in reversed(self.requests):
                if old.summarised:
                    continue
                whole += old.raw_size
                if whole > self.record_bytes and old is not rec:
                    old.summarise()

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

    def knows(self, model: str) -> bool:
        """Whether a request's model is one this gateway serves: listed (models, image models,
        aliases, known_models) or of an image family the real gateways serve."""
        with self._lock:
            listed = {str(m.get("id")) for m in [*self.models, *self.image_models]}
        return (
            model in listed
            or model in self.aliases
            or model in self.known_models
            or KNOWN_FAMILIES.fullmatch(model) is not None
        )

    def usage(self, base: dict[str, Any], images: int) -> dict[str, Any]:
        """A reply's usage: ``base``, plus ``cost`` for its images when ``self.cost`` is set."""
        if self.cost is None:
            return base
        return {**base, "cost": round(self.cost * images, 10)}

    def sleep(self, seconds: float) -> bool:
        """Interruptible sleep; False when the server is stopping."""
        if seconds > 0:
            return not self._stop.wait(seconds)
        return not self._stop.is_set()

    def image(
        self,
        width: int,
        height: int,
        fmt: str | None = None,
        *,
        alpha: bool = False,
        look: Look | None = None,
        index: int = 0,
    ) -> tuple[bytes, str, str]:
        """(bytes, mime, extension) of one image in ``fmt`` (default ``self.image_format``):
        the prompt's first words, the size and the seed drawn on a colour (the same seed and
        prompt, the same bytes); an edit's ``source`` PNG framed and lightened; ``alpha``: a
        PNG with transparency. 400 above MAX_SIDE / MAX_PIXELS."""
        if self.size is not None:
            width, height = self.size
        elif not self.honour_size:
            width = height = 64
        check_pixels(width, height)
        fmt = fmt or self.image_format
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be png, jpeg or webp, not {fmt!r}")
        mime, ext = IMAGE_FORMATS[fmt]
        look = look or Look()
        prompt, seed, source = look.prompt, look.seed, look.source
        colour = self._next_colour() if seed is None else seeded_colour(seed, prompt, index)
        if source is not None and fmt == "png" and not self.noise:
            derived = derived_png(source, width, height, colour)
            if derived is not None:
                return (with_transparency(derived) if alpha else derived), mime, ext
            prompt = f"edit {prompt}"
        if self.noise and fmt == "png":
            data = make_png(width, height, noise=True)
        else:
            data = placeholder(fmt, width, height, colour, prompt, seed, alpha)
        if alpha and fmt == "png":
            data = with_transparency(data)
        if self.signer is not None:
            data = self.signer(data, mime)
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
        fmt: str | None = None,
        alpha: bool = False,
        look: Look | None = None,
    ) -> list[str]:
        """``count`` images as data URLs, bare base64 (raw_b64) or /files/ URLs (as_url)."""
        kind = fault.kind if fault else ""
        if kind == "no_image":
            return []
        out = []
        for index in range(max(1, count)):
            data, mime, ext = self.image(width, height, fmt, alpha=alpha, look=look, index=index)
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
