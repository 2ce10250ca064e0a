"""The API client: sends a dialect's HttpCalls to one gateway with the key, retries and
Retry-After, reads JSON and SSE replies in bounded memory, and hands image URLs to its
Downloader, which never sends the key."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from imggen.errors import AuthFailed, GatewayFailed, ImggenError
from imggen.job import HttpCall, Reply
from imggen.limits import Limits
from imggen.wire import replies
from imggen.wire.auth import BEARER, Auth, same_site
from imggen.wire.download import Downloader
from imggen.wire.inflate import decoded
from imggen.wire.jsonstream import loads
from imggen.wire.multipart import multipart
from imggen.wire.replies import ReplyParser
from imggen.wire.retry import Pacer, Retrier, RetryLater
from imggen.wire.session import Progress, Session
from imggen.wire.spill import SpillFactory
from imggen.wire.status import error_for_status, event_error, looks_like_html

T = TypeVar("T")


class Client:
    """Sends calls to one gateway. Thread-safe: batch and `-n` fan-out share one pool."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retries: int = 2,
        read_timeout: float | None = None,  # None: limits.read_timeout
        deadline: float | None = None,
        transport: Any = None,
        on_retry: Callable[[str], None] | None = None,
        on_bytes: Progress | None = None,
        on_sent: Progress | None = None,
        on_debug: Callable[[str], None] | None = None,
        pacer: Pacer | None = None,
        max_connections: int = 32,
        limits: Limits = Limits(),
        auth: Auth = BEARER,
        refresh: Callable[[], str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._way = auth
        # a key that expires (a token printed by api_key_cmd): fetched again once on a 401
        self._refresh = refresh
        self._refresh_lock = threading.Lock()
        self.limits = limits
        self.on_sent = on_sent or (lambda n, total: None)  # request bytes sent (uploads)
        self.on_bytes = on_bytes or (lambda n, total: None)  # reply bytes received
        self.on_debug = on_debug or (lambda message: None)
        read_timeout = limits.read_timeout if read_timeout is None else read_timeout
        self._retrier = Retrier(
            retries=retries,
            limits=limits,
            pacer=pacer,
            cancelled=threading.Event(),
            deadline=deadline,
            on_retry=self._redacting(on_retry),
        )
        self._session = Session(
            transport=transport,
            limits=limits,
            read_timeout=read_timeout,
            on_debug=self.on_debug,
            on_bytes=self.on_bytes,
            max_connections=max_connections,
            # API calls follow no redirects: an http:// base URL never needs TLS
            tls=not self.base_url.lower().startswith("http://"),
        )
        self._downloader = Downloader(
            self._retrier,
            transport=transport,
            limits=limits,
            read_timeout=read_timeout,
            on_debug=self.on_debug,
            on_bytes=self.on_bytes,
        )

    @property
    def retried(self) -> int:
        """Retries made so far by this client (or this fork()'s view), downloads included."""
        return self._retrier.retried

    @property
    def resent(self) -> int:
        """Of those, the retried generations the gateway may have billed twice."""
        return self._retrier.resent

    def close(self) -> None:
        """Stop: in-flight reads in other threads fail at once."""
        self._retrier.cancelled.set()
        self._session.close()
        self._downloader.close()

    def fork(
        self,
        *,
        retries: int | None = None,
        deadline: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> Client:
        """A view for one batch job: the same connection pools, Pacer and cancellation, but its
        own retry count (Outcome.retries), retry budget and deadline. Close the parent, not it."""
        view = copy.copy(self)
        view._retrier = self._retrier.fork(
            retries=retries, deadline=deadline, on_retry=self._redacting(on_retry)
        )
        view._downloader = self._downloader.fork(view._retrier)
        return view

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, call: HttpCall, dialect: ReplyParser, spill: SpillFactory) -> Reply:
        """One call with retries. Raises AuthFailed, GatewayRefused, GatewayFailed."""
        what = f"{call.method} {call.path}"
        try:
            reply = self._refreshing(
                lambda: self._retrier.run(
                    lambda delivered: self._attempt(call, dialect, spill, delivered, what),
                    what=what,
                )
            )
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__
        reply.text = self._redact(reply.text)
        reply.usage = self._redact_value(reply.usage)
        return reply

    def get_json(self, path: str) -> Any:
        """A small authenticated GET (the models API), with retries. Raises as send() does;
        GatewayFailed for a page or malformed JSON carries the HTTP status."""
        return self._small("GET", self.base_url + path, None, f"GET {path}")

    def submit(self, call: HttpCall) -> Any:
        """A job's submit POST: its small JSON reply (the job's id and URLs). Asked again only
        when the request never reached the provider (no connection) or was turned away unread
        (429): a submit that may have reached it may have been accepted, and it bills."""
        url = self._own(call.path)
        body = call if call.files or call.form else call.json
        return self._small(call.method, url, body, f"{call.method} {call.path}", once=True)

    def fetch_to(self, path: str, out: Any) -> int:
        """An authenticated GET of a file the provider keeps (a batch's output), written to
        `out` as it arrives, at most limits.reply_cap bytes; its size. Retried until bytes
        have been written."""
        url, what = self._own(path), f"GET {path}"

        def attempt(delivered: list[bool]) -> int:
            out.seek(0)
            out.truncate()
            headers = {**self._auth(), "Accept": "application/jsonl, application/json"}
            with (
                self._session.errors(what, self._retrier, url),
                self._session.stream(
                    "GET", self._keyed(url), self._retrier, headers=headers
                ) as resp,
            ):
                self._check_status(resp)
                size = 0
                for chunk in decoded(resp):
                    size += len(chunk)
                    if size > self.limits.reply_cap:
                        raise GatewayFailed(f"{path} is larger than imggen reads")
                    out.write(chunk)
                return size

        try:
            result: int = self._refreshing(lambda: self._retrier.run(attempt, what=what))
            return result
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__

    def ask(self, call: HttpCall) -> Any:
        """A job's poll, result or cancel request (a URL on the provider's own site), with
        retries: asking about a job never starts another."""
        url = self._own(call.path)
        return self._small(call.method, url, call.json, f"{call.method} {_path_of(url)}")

    def _own(self, path: str) -> str:
        """The URL a job call goes to: a path joined to the base URL, or a URL the provider
        gave on its own site (base host, or a sibling such as BFL's api.us1.bfl.ai for
        api.bfl.ai). The key goes nowhere else."""
        if "://" not in path:
            return self.base_url + path
        if not same_site(self.base_url, path):
            raise GatewayFailed(
                f"the provider named a job URL on another host ({_host(path)}); imggen sends "
                "the key only to the profile's own host",
                hint="check base_url: the provider's replies must come from its own site",
            )
        return path

    def _small(self, method: str, url: str, body: Any, what: str, *, once: bool = False) -> Any:
        def attempt(delivered: list[bool]) -> Any:
            headers = {**self._auth(), "Accept": "application/json"}
            kwargs: dict[str, Any] = {}
            if isinstance(body, HttpCall):  # multipart: a Batch API upload
                kwargs["content"], headers["Content-Type"], length = multipart(body, self.on_sent)
                headers["Content-Length"] = str(length)
            elif body is not None:
                kwargs["content"] = json.dumps(body, ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
            self.on_debug(f"-> {method} {_path_of(url)} (key sent)")
            try:
                with (
                    self._session.errors(what, self._retrier, url),
                    self._session.stream(
                        method, self._keyed(url), self._retrier, headers=headers, **kwargs
                    ) as resp,
                ):
                    self._check_status(resp)
                    raw = _read_capped(resp, self.limits.small_json_cap)
                    return _parse_small(raw, resp.status_code)
            except RetryLater as exc:
                if once and exc.reached and exc.error.status != 429:
                    raise _maybe_accepted(exc.error) from None
                raise

        try:
            return self._redact_value(
                self._refreshing(lambda: self._retrier.run(attempt, what=what))
            )
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__

    def download(self, url: str, spill: SpillFactory) -> Path:
        """Fetch an image URL to a spill file: no key, http(s) only, capped, few redirects.
        Raises LinkExpired or GatewayFailed."""
        try:
            return self._downloader.download(url, spill)
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__

    def _auth(self) -> dict[str, str]:
        return self._way.headers(self._key)

    def _keyed(self, url: str) -> str:
        """The URL the request goes to: with the key in it where the profile sends it as a
        query parameter (logged and shown without it: see _attempt's debug line)."""
        return self._way.url(url, self._key)

    def _refreshing(self, call: Callable[[], T]) -> T:
        """`call`, and once more with a fresh key when the gateway rejected the key and the
        key can be fetched again (a short-lived token from api_key_cmd, such as Vertex AI's
        OAuth token, that expired mid-run). A second rejection stands (exit 3)."""
        used = self._key
        try:
            return call()
        except AuthFailed:
            if self._refresh is None or self._retrier.cancelled.is_set():
                raise
            with self._refresh_lock:
                if self._key == used:  # another thread may have fetched it already
                    self.on_debug("the gateway rejected the key: fetching it again")
                    self._key = self._refresh()
            return call()

    def _redact(self, text: str) -> str:
        """The one redaction every gateway text passes, 2xx or not: replies, usage, error
        bodies, stream events, retry lines, the models listing. A short key (a test key such
        as "k") is taken out only where it stands alone, not out of every word holding it."""
        key = self._key
        if not key or key not in text:
            return text
        if len(key) >= 8:
            return text.replace(key, "***")
        import re

        return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", "***", text)

    def _redact_value(self, value: Any) -> Any:
        """A parsed JSON value with the key taken out of every string in it."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {self._redact(str(k)): self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact_value(v) for v in value]
        return value

    def _scrub(self, exc: ImggenError) -> ImggenError:
        """An error with the key taken out of its message, hint and text (a copy, or itself
        when there was nothing to take out)."""
        message = self._redact(exc.message)
        hint = self._redact(exc.hint) if exc.hint else exc.hint
        text = getattr(exc, "text", "")
        if (message, hint) == (exc.message, exc.hint) and self._redact(text) == text:
            return exc
        clean = copy.copy(exc)
        clean.message, clean.hint, clean.args = message, hint, (message,)
        if text:
            clean.text = self._redact(text)  # type: ignore[attr-defined]
        return clean

    def _redacting(self, report: Callable[[str], None] | None) -> Callable[[str], None] | None:
        """A retry announcer that never shows the key (a network error's text may hold a
        header)."""
        if report is None:
            return None
        return lambda message: report(self._redact(message))

    def _attempt(
        self,
        call: HttpCall,
        dialect: ReplyParser,
        spill: SpillFactory,
        delivered: list[bool],
        what: str,
    ) -> Reply:
        url = self.base_url + call.path
        # what the call reads: an event stream only where it asked for one
        accept = "text/event-stream, application/json" if call.stream else "application/json"
        headers = {**self._auth(), "Accept": accept}
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
        self.on_debug(f"-> {call.method} {url} ({size} bytes, key sent)")
        started = time.monotonic()
        session, retrier = self._session, self._retrier
        with (
            session.errors(what, retrier, url),
            session.stream(
                call.method, self._keyed(url), retrier, headers=headers, **kwargs
            ) as resp,
        ):
            session.log(resp, started)
            self._check_status(resp)
            chunks = session.chunks(resp, retrier)
            if "text/event-stream" in resp.headers.get("content-type", ""):
                try:
                    return replies.read_sse(
                        chunks,
                        dialect,
                        spill,
                        delivered,
                        event_gap=self.limits.event_gap,
                        redact=self._redact,
                        limits=self.limits,
                    )
                except replies.StreamNotStarted as exc:
                    raise RetryLater(exc) from exc
            value = replies.read_json(chunks, resp.status_code, spill, limits=self.limits)
            if isinstance(value, dict) and value.get("error"):  # an error object with HTTP 2xx
                where = f"in an HTTP {resp.status_code} reply"
                raise event_error(value, self._redact, where=where)
            return dialect.parse(value)

    def _check_status(self, resp: httpx.Response) -> None:
        """Raises the error a non-2xx answer stands for; RetryLater when it is worth asking
        again (the gateway's Retry-After with it)."""
        status = resp.status_code
        if 200 <= status < 300:
            return
        redirect = 300 <= status < 400  # its body says nothing the Location does not
        body = b"" if redirect else _read_capped(resp, self.limits.error_body_cap, strict=False)
        verdict = error_for_status(status, body, resp.headers, self._redact)
        if verdict.retry:
            raise RetryLater(verdict.error, verdict.wait)
        raise verdict.error


def _maybe_accepted(error: ImggenError) -> ImggenError:
    """A submit that failed after reaching the provider: not sent again (it may have been
    accepted and billed); the user decides."""
    return GatewayFailed(
        f"{error.message} (a job submit that reached the provider is never sent twice)",
        hint="check the provider's dashboard for the job before running this again",
        status=error.status,
    )


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


def _path_of(url: str) -> str:
    """A URL without its query string, for logs and messages."""
    return url.split("?", 1)[0]


def _read_capped(resp: httpx.Response, cap: int, *, strict: bool = True) -> bytes:
    """At most `cap` bytes of the body; more is GatewayFailed when strict, else cut off."""
    data = bytearray()
    for chunk in decoded(resp):
        data += chunk
        if len(data) > cap:
            if strict:
                raise GatewayFailed(
                    "the gateway's reply is larger than expected", status=resp.status_code
                )
            break
    return bytes(data[:cap])


def _parse_small(raw: bytes, status: int) -> Any:
    """A small JSON body. Raises GatewayFailed carrying the HTTP status: it did answer."""
    if looks_like_html(raw[:512]):
        raise GatewayFailed(
            f"the gateway answered HTTP {status} with an HTML page instead of JSON",
            hint="check base_url: it may point at a website, not the API",
            status=status,
        )
    try:
        return loads(raw)  # nesting deeper than Limits.json_depth is a ValueError too
    except ValueError:
        raise GatewayFailed(
            f"the gateway sent malformed JSON (HTTP {status})", status=status
        ) from None
