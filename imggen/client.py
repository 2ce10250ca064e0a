"""The only httpx user: sends HttpCalls with retries and Retry-After, reads JSON and SSE bodies
in bounded memory, downloads image URLs without the key, and maps failures to ImggenErrors."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from imggen import imagefile, replies
from imggen.dialects import Dialect, HttpCall
from imggen.errors import (
    AuthFailed,
    ContentFiltered,
    DeadlineExceeded,
    GatewayFailed,
    GatewayRefused,
    ImggenError,
    LinkExpired,
)
from imggen.job import Reply
from imggen.wire.multipart import multipart
from imggen.wire.retry import RETRY_AFTER_CAP, Pacer, backoff, retry_after
from imggen.wire.status import (
    RETRY_STATUSES,
    error_text,
    event_error,
    is_content_filter,
    looks_like_html,
)

SpillFactory = Callable[[], tuple[Path, BinaryIO]]

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0  # seed 002: 4K + high takes 180-240 s; "建议设置 timeout >= 300s"
# Longest a stream may go without a data event. Keep-alive comments (seeds 001/003) do not
# count: a gateway can send them forever while its upstream hangs. Above READ_TIMEOUT, since
# the first image event of a 4K image may come minutes in.
EVENT_GAP = 360.0
DOWNLOAD_CAP = 200 * 1024 * 1024
MAX_REDIRECTS = 5
ERROR_BODY_CAP = 64 * 1024
USER_AGENT = "imggen"


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, error: ImggenError, wait: float | None = None, status: int = 0) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait
        self.status = status


class Client:
    """Sends calls to one gateway. Thread-safe: batch and `-n` fan-out share one pool."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retries: int = 2,
        read_timeout: float = READ_TIMEOUT,
        deadline: float | None = None,
        transport: Any = None,
        on_retry: Callable[[str], None] | None = None,
        on_bytes: Callable[[int, int | None], None] | None = None,
        on_sent: Callable[[int, int | None], None] | None = None,
        on_debug: Callable[[str], None] | None = None,
        pacer: Pacer | None = None,
        max_connections: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.retries = retries
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.on_retry = on_retry or (lambda message: None)
        self.on_bytes = on_bytes or (lambda n, total: None)  # reply bytes received
        self.on_sent = on_sent or (lambda n, total: None)  # request bytes sent (uploads)
        self.on_debug = on_debug or (lambda message: None)
        self.event_gap = EVENT_GAP
        self.pacer = pacer or Pacer()
        self.cancelled = threading.Event()
        self.retried = 0
        self._lock = threading.Lock()
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=min(16, max_connections)
        )
        self._http = httpx.Client(
            transport=transport,
            limits=limits,
            follow_redirects=False,  # a redirect must never carry the key to another host
            headers={"User-Agent": USER_AGENT},
        )
        self._transport = transport
        # built on first download (TLS setup costs); a list so fork()'s views share it
        self._dl_client: list[httpx.Client] = []
        self._dl_lock = threading.Lock()

    def close(self) -> None:
        """Stop: in-flight reads in other threads fail at once."""
        self.cancelled.set()
        self._http.close()
        with self._dl_lock:
            for dl in self._dl_client:
                dl.close()

    def fork(
        self,
        *,
        retries: int | None = None,
        deadline: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> Client:
        """A view for one batch job: the same connection pool, Pacer and cancellation, but its
        own retry count (Outcome.retries), retry budget and deadline. Close the parent, not it."""
        view = copy.copy(self)
        view.retried = 0
        view._lock = threading.Lock()
        view.retries = self.retries if retries is None else retries
        view.deadline = deadline
        view.on_retry = on_retry or self.on_retry
        return view

    def _downloads(self) -> httpx.Client:
        """The client for image URLs: no key, no cookies kept, redirects handled by hand."""
        with self._dl_lock:
            if not self._dl_client:
                if self.cancelled.is_set():
                    raise GatewayFailed("cancelled")
                self._dl_client.append(
                    httpx.Client(
                        transport=self._transport,
                        follow_redirects=False,
                        headers={"User-Agent": USER_AGENT},
                        # a CDN's cookies must not follow the next link, nor reach the gateway
                        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
                    )
                )
            return self._dl_client[0]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API calls ----------------------------------------------------------------------

    def url(self, call: HttpCall) -> str:
        return self.base_url + call.path

    def send(self, call: HttpCall, dialect: Dialect, spill: SpillFactory) -> Reply:
        """One call with retries. Raises AuthFailed, GatewayRefused, GatewayFailed."""
        reply: Reply = self._with_retries(
            lambda delivered: self._attempt(call, dialect, spill, delivered),
            what=f"{call.method} {call.path}",
        )
        return reply

    def get_json(self, path: str) -> Any:
        """A small authenticated GET (the models API), with retries."""

        def attempt(delivered: list[bool]) -> Any:
            with self._request("GET", self.base_url + path, headers=self._auth()) as resp:
                self._check_status(resp)
                return _parse_small(_read_capped(resp, 32 * 1024 * 1024), resp)

        return self._with_retries(attempt, what=f"GET {path}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def _read_json(self, resp: httpx.Response, spill: SpillFactory) -> Any:
        return replies.read_json(self._chunks(resp), resp.status_code, spill)

    def _read_sse(
        self, resp: httpx.Response, dialect: Dialect, spill: SpillFactory, delivered: list[bool]
    ) -> Reply:
        try:
            return replies.read_sse(
                self._chunks(resp),
                dialect,
                spill,
                delivered,
                event_gap=self.event_gap,
                redact=self._redact,
            )
        except replies.StreamNotStarted as exc:
            raise _Retry(exc) from exc

    def _attempt(
        self, call: HttpCall, dialect: Dialect, spill: SpillFactory, delivered: list[bool]
    ) -> Reply:
        headers = {**self._auth(), "Accept": "text/event-stream, application/json"}
        kwargs: dict[str, Any] = {}
        if call.files or call.form:
            body, ctype, length = multipart(call, self.on_sent)
            headers["Content-Type"] = ctype
            headers["Content-Length"] = str(length)
            kwargs["content"] = body
        elif call.json is not None:
            kwargs["content"] = json.dumps(call.json, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        size = headers.get("Content-Length") or len(kwargs.get("content") or b"")
        self.on_debug(f"-> {call.method} {self.url(call)} ({size} bytes, key sent)")
        started = time.monotonic()
        with self._request(call.method, self.url(call), headers=headers, **kwargs) as resp:
            self._log_response(resp, started)
            self._check_status(resp)
            ctype = resp.headers.get("content-type", "")
            if "text/event-stream" in ctype:
                return self._read_sse(resp, dialect, spill, delivered)
            body = self._read_json(resp, spill)
            if isinstance(body, dict) and body.get("error"):  # an error object with HTTP 2xx
                where = f"in an HTTP {resp.status_code} reply"
                raise event_error(body, self._redact, where=where)
            return dialect.parse(body)

    # -- reading bodies -----------------------------------------------------------------

    def _chunks(self, resp: httpx.Response) -> Iterator[bytes]:
        total = _content_length(resp)
        for chunk in resp.iter_bytes():
            if self.cancelled.is_set():
                raise GatewayFailed("cancelled")
            self._check_deadline()
            self.on_bytes(len(chunk), total)
            yield chunk

    # -- status and retries -------------------------------------------------------------

    def _check_status(self, resp: httpx.Response) -> None:
        status = resp.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            where = resp.headers.get("location", "?")
            moved = GatewayFailed(
                f"the gateway answered HTTP {status}, a redirect to {_host(where)}; imggen "
                "does not follow redirects with your key",
                hint="set base_url to the address it redirects to",
            )
            moved.status = status
            raise moved
        raw = _read_capped(resp, ERROR_BODY_CAP, strict=False)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        said = self._redact(error_text(body, status))
        # the gateway's own words, unless it gave none
        detail = "" if said == error_text(None, status) else f": {said}"
        error: ImggenError
        if is_content_filter(body):
            error = ContentFiltered(
                f"the gateway refused the request (content filter){detail}",
                hint="rephrase the prompt; refusals are not retried",
            )
        elif status in (401, 403):
            error = AuthFailed(
                f"the gateway rejected the API key (HTTP {status}){detail}",
                hint="check the key: `imggen config show` says where it comes from",
            )
        elif status in RETRY_STATUSES or status >= 500:
            busy = "the gateway is failing or busy; try again later (or raise --retries)"
            error = GatewayFailed(f"HTTP {status} from the gateway{detail}", hint=busy)
            error.status = status
            raise _Retry(error, retry_after(resp.headers), status)
        else:
            error = GatewayRefused(
                f"the gateway refused the request (HTTP {status}){detail}",
                hint="check -m (`imggen models` lists them) and base_url"
                if status == 404
                else "check the options and --param fields against its message; it is not retried",
            )
        error.status = status
        raise error

    def _with_retries(self, attempt: Callable[[list[bool]], Any], *, what: str) -> Any:
        tries = self.retries + 1
        for k in range(1, tries + 1):
            self.pacer.wait(self.cancelled, self.deadline)
            delivered = [False]
            try:
                return attempt(delivered)
            except ImggenError as exc:
                exc.delivered = delivered[0]  # e.g. a stream cut after its first event
                raise
            except _Retry as exc:
                error, wait, slow_down = exc.error, exc.wait, exc.status == 429
            except httpx.TransportError as exc:
                if self.cancelled.is_set():
                    raise GatewayFailed("cancelled") from exc
                error = self._transport_error(exc)
                if isinstance(exc, httpx.UnsupportedProtocol):
                    raise error from exc  # a bad URL stays bad
                if delivered[0]:
                    broken = GatewayFailed(
                        f"{error.message} (the stream had started delivering, so it is not "
                        "retried)",
                        hint="try again, or use --no-stream",
                    )
                    broken.delivered = True
                    raise broken from exc
                wait, slow_down = None, False
            except (httpx.DecodingError, httpx.InvalidURL) as exc:
                raise GatewayFailed(f"{what} failed: {_reason(exc)}") from exc
            # Anything else (GatewayFailed from reading a 2xx body: malformed JSON, bad
            # base64, a stream that broke after its first event) was already paid for.
            if self.cancelled.is_set():
                raise GatewayFailed("cancelled")
            if k == tries:
                raise error
            if wait is not None and wait > RETRY_AFTER_CAP:
                raise GatewayFailed(
                    f"{error.message}; the gateway asks to wait {wait:.0f} s, more than "
                    f"imggen's {RETRY_AFTER_CAP:.0f} s cap",
                    hint="try again later",
                )
            delay = wait if wait is not None else backoff(k)
            if isinstance(error, DeadlineExceeded):
                raise error
            if self.deadline is not None and time.monotonic() + delay > self.deadline:
                raise GatewayFailed(f"{error.message} (no time left under --timeout to retry)")
            if slow_down:  # a 429 holds back every worker sharing this gateway (batch)
                self.pacer.pause(delay)
            with self._lock:
                self.retried += 1
            billed = ", a retried generation may be billed twice" if what.startswith("POST") else ""
            self.on_retry(
                f"{error.message}; retrying {what} in {delay:.1f} s "
                f"(attempt {k + 1} of {tries}{billed})"
            )
            if self.cancelled.wait(delay):
                raise GatewayFailed("cancelled")
        raise AssertionError("unreachable")

    def _transport_error(self, exc: httpx.TransportError) -> GatewayFailed:
        host = _host(str(exc.request.url)) if _has_request(exc) else _host(self.base_url)
        if isinstance(exc, httpx.ConnectTimeout):
            text = f"could not connect to {host} within {CONNECT_TIMEOUT:.0f} s"
        elif isinstance(exc, httpx.ConnectError):
            text = f"could not connect to {host}: {_reason(exc)}"
        elif isinstance(exc, httpx.ReadTimeout):
            if self.deadline is not None and self.deadline - time.monotonic() <= 1:
                return DeadlineExceeded("--timeout reached while waiting for the gateway")
            text = f"{host} sent nothing for {self._read_budget():.0f} s"
        elif isinstance(exc, httpx.TimeoutException):
            text = f"timed out talking to {host}"
        elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            text = f"the connection to {host} broke mid-reply: {_reason(exc)}"
        else:
            text = f"network error talking to {host}: {_reason(exc)}"
        return GatewayFailed(text, hint="check the network and base_url, then try again")

    def _read_budget(self) -> float:
        if self.deadline is None:
            return self.read_timeout
        return max(0.05, min(self.read_timeout, self.deadline - time.monotonic()))

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded("--timeout reached before the reply was complete")

    def _request(self, method: str, url: str, *, download: bool = False, **kwargs: Any) -> Any:
        self._check_deadline()
        budget = self._read_budget()
        timeout = httpx.Timeout(
            connect=min(CONNECT_TIMEOUT, budget), read=budget, write=budget, pool=budget
        )
        client = self._downloads() if download else self._http
        return client.stream(method, url, timeout=timeout, **kwargs)

    def _log_response(self, resp: httpx.Response, started: float) -> None:
        ctype = resp.headers.get("content-type", "no content type").split(";")[0]
        self.on_debug(
            f"<- HTTP {resp.status_code} {ctype} from {_host(str(resp.url))} "
            f"after {time.monotonic() - started:.2f} s"
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    # -- downloads ----------------------------------------------------------------------

    def download(self, url: str, spill: SpillFactory) -> Path:
        """Fetch an image URL to a spill file: no key, http(s) only, capped, few redirects.
        Raises LinkExpired or GatewayFailed."""
        return self._with_retries(lambda d: self._download(url, spill), what="download")  # type: ignore[no-any-return]

    def _download(self, url: str, spill: SpillFactory) -> Path:
        for _ in range(MAX_REDIRECTS + 1):
            scheme = urlsplit(url).scheme
            if scheme not in ("http", "https"):
                raise GatewayFailed(
                    f"refusing to fetch a non-http(s) image URL ({_host(url)})",
                    hint=f"the gateway sent a {scheme}: link; images are fetched over http(s) only",
                )
            self.on_debug(f"-> GET {_host(url)}{urlsplit(url).path} (image download, no key)")
            started = time.monotonic()
            with self._request("GET", url, download=True, headers={"Accept": "image/*"}) as resp:
                self._log_response(resp, started)
                if resp.status_code in (301, 302, 303, 307, 308):
                    url = urljoin(url, resp.headers.get("location", ""))
                    continue
                return self._save_download(resp, url, spill)
        raise GatewayFailed(f"the image URL redirected more than {MAX_REDIRECTS} times")

    def _save_download(self, resp: httpx.Response, url: str, spill: SpillFactory) -> Path:
        status = resp.status_code
        host = _host(url)
        if status in (403, 404, 410):
            raise LinkExpired(
                f"the image link on {host} has expired or is gone (HTTP {status})",
                hint="links from some gateways last one hour (seed 004); generate again",
            )
        if status in RETRY_STATUSES or status >= 500:
            raise _Retry(GatewayFailed(f"HTTP {status} downloading the image from {host}"))
        if status >= 400:
            raise GatewayFailed(f"HTTP {status} downloading the image from {host}")
        total = _content_length(resp)
        if total is not None and total > DOWNLOAD_CAP:
            raise GatewayFailed(f"the image at {host} is {total:,} bytes, over the size cap")
        path, out = spill()
        size = 0
        head = b""
        with out:
            for chunk in self._chunks(resp):
                size += len(chunk)
                if size > DOWNLOAD_CAP:
                    raise GatewayFailed(f"the image at {host} is over the {DOWNLOAD_CAP:,} cap")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                out.write(chunk)
        if imagefile.sniff(head) is None:
            path.unlink(missing_ok=True)
            what = "a web page" if looks_like_html(head) or head.startswith(b"<?xml") else "data"
            raise LinkExpired(
                f"the image link on {host} answered {what}, not an image (an expired link?)",
                hint="generate again; such links are short-lived",
            )
        return path


def _content_length(resp: httpx.Response) -> int | None:
    try:
        return int(resp.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _read_capped(resp: httpx.Response, cap: int, *, strict: bool = True) -> bytes:
    data = bytearray()
    for chunk in resp.iter_bytes():
        data += chunk
        if len(data) > cap:
            if strict:
                big = GatewayFailed("the gateway's reply is larger than expected")
                big.status = resp.status_code
                raise big
            break
    return bytes(data[:cap])


def _parse_small(raw: bytes, resp: httpx.Response) -> Any:
    """A small JSON body. Raises GatewayFailed carrying the HTTP status: it did answer."""
    error = None
    if looks_like_html(raw[:512]):
        error = GatewayFailed(
            f"the gateway answered HTTP {resp.status_code} with an HTML page instead of JSON",
            hint="check base_url: it may point at a website, not the API",
        )
    else:
        try:
            return json.loads(raw)
        except ValueError:
            error = GatewayFailed(f"the gateway sent malformed JSON (HTTP {resp.status_code})")
    error.status = resp.status_code
    raise error


def _host(url: str) -> str:
    return urlsplit(url).netloc or url[:40]


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018
    except RuntimeError:
        return False
    return True


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:160] if text else type(exc).__name__
