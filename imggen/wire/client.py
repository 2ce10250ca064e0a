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
from typing import Any

import httpx

from imggen.errors import GatewayFailed, ImggenError
from imggen.job import HttpCall, Reply
from imggen.limits import Limits
from imggen.wire import replies
from imggen.wire.download import Downloader
from imggen.wire.inflate import decoded
from imggen.wire.jsonstream import loads
from imggen.wire.multipart import multipart
from imggen.wire.pace import reading
from imggen.wire.replies import ReplyParser
from imggen.wire.retry import Pacer, Retrier, RetryLater
from imggen.wire.session import Progress, Session
from imggen.wire.spill import SpillFactory
from imggen.wire.status import error_for_status, event_error, looks_like_html


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
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
            reply = self._retrier.run(
                lambda delivered: self._attempt(call, dialect, spill, delivered, what), what=what
            )
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__
        reply.text = self._redact(reply.text)
        reply.usage = self._redact_value(reply.usage)
        return reply

    def get_json(self, path: str) -> Any:
        """A small authenticated GET (the models API), with retries. Raises as send() does;
        GatewayFailed for a page or malformed JSON carries the HTTP status."""
        what, url = f"GET {path}", self.base_url + path

        def attempt(delivered: list[bool]) -> Any:
            with (
                self._session.errors(what, self._retrier, url),
                self._session.stream("GET", url, self._retrier, headers=self._auth()) as resp,
            ):
                self._heard(resp)
                self._check_status(resp)
                raw = _read_capped(resp, self.limits.small_json_cap)
                return _parse_small(raw, resp.status_code)

        try:
            return self._redact_value(self._retrier.run(attempt, what=what))
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
        return {"Authorization": f"Bearer {self._key}"}

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
        self.on_debug(f"-> {call.method} {url} ({size} bytes, key sent)")
        started = time.monotonic()
        session, retrier = self._session, self._retrier
        with (
            session.errors(what, retrier, url),
            session.stream(call.method, url, retrier, headers=headers, **kwargs) as resp,
        ):
            session.log(resp, started)
            self._heard(resp)
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

    def _heard(self, resp: httpx.Response) -> None:
        """Tell the gate what the gateway said of its rate limit."""
        self._retrier.heard(resp.status_code, reading(resp.headers, wall=time.time()))

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
