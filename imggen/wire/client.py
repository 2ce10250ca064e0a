"""The API client: sends a dialect's HttpCalls to one gateway with the key, retries and
Retry-After, reads JSON and SSE replies in bounded memory, and hands image URLs to its
Downloader, which never sends the key."""

from __future__ import annotations

import copy
import dataclasses
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
from imggen.wire import redact, replies
from imggen.wire.auth import BEARER, Auth, same_site
from imggen.wire.download import Downloader
from imggen.wire.inflate import decoded
from imggen.wire.multipart import multipart
from imggen.wire.pace import reading
from imggen.wire.replies import ReplyParser
from imggen.wire.retry import Pacer, Retrier, RetryLater
from imggen.wire.session import Progress, Session
from imggen.wire.spill import SpillFactory
from imggen.wire.status import error_for_status, event_error, host

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
        attempt = lambda delivered: self._attempt(call, dialect, spill, delivered, what)  # noqa: E731
        if call.stream and _IMAGES_PATH in call.path:
            attempt = self._stream_or_plain(call, dialect, spill, what)
        try:
            reply = self._refreshing(lambda: self._retrier.run(attempt, what=what))
        except ImggenError as exc:
            raise self._scrub(exc) from exc.__cause__
        reply.text = self._redact(reply.text)
        reply.usage = self._redact_value(reply.usage)
        return reply

    def _stream_or_plain(
        self, call: HttpCall, dialect: ReplyParser, spill: SpillFactory, what: str
    ) -> Callable[[list[bool]], Reply]:
        """An images API request that streams, as one attempt: a server error (5xx) before the
        stream starts is answered by sending it once without the stream, and that is all. A
        proxy that cannot stream an images endpoint (LiteLLM answers 500) retries upstream
        itself: imggen's retries on top made 9 paid generations of one command."""
        plain = dataclasses.replace(
            call,
            stream=False,
            json=None if call.json is None else _unstreamed(call.json),
            form=tuple((k, v) for k, v in call.form if k not in _STREAM_FIELDS),
        )

        def attempt(delivered: list[bool]) -> Reply:
            try:
                return self._attempt(call, dialect, spill, delivered, what)
            except RetryLater as exc:
                status = exc.error.status or 0
                if delivered[0] or not exc.reached or not 500 <= status < 600:
                    raise
                first = exc.error
            self._retrier.count(billable=True)
            self._retrier.on_retry(
                f"{first.message} on the streaming request; sending it once more without the "
                "stream (no partial renders; a retried generation may be billed twice)"
            )
            try:
                return self._attempt(plain, dialect, spill, delivered, what)
            except RetryLater as exc:
                raise GatewayFailed(
                    f"{exc.error.message} (also without the stream)",
                    hint="the gateway failed this request with and without the stream, and a "
                    "proxy may have retried each upstream, so it may have been billed more than "
                    "once: check the gateway's logs or dashboard, then drop --stream/--partials",
                    status=exc.error.status,
                ) from exc

        return attempt

    def get_json(self, path: str, *, root: bool = False) -> Any:
        """A small authenticated GET (the models API), with retries; `root`: at the base URL
        without its /v1 (LiteLLM's /model_group/info lives there). Raises as send() does;
        GatewayFailed for a page or malformed JSON carries the HTTP status."""
        base = self.base_url.removesuffix("/v1") if root else self.base_url
        return self._small("GET", base + path, None, f"GET {path}")

    def submit(self, call: HttpCall) -> Any:
        """A job's submit POST: its small JSON reply (the job's id and URLs). Asked again only
        when the request never reached the provider (no connection) or was turned away unread
        (429): a submit that may have reached it may have been accepted, and it bills."""
        url = self._own(call.path)
        body = call if call.files or call.form else call.json
        return self._small(call.method, url, body, f"{call.method} {call.path}", mode="once")

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
                self._heard(resp)
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

    def ask(self, call: HttpCall, *, poll: bool = False) -> Any:
        """A job's poll, result or cancel request (a URL on the provider's own site), with
        retries: asking about a job never starts another. A `poll` answered 429 raises
        PollLimited (its Retry-After): wire/polls.py holds all of that provider's polls."""
        url = self._own(call.path)
        what = f"{call.method} {_path_of(url)}"
        return self._small(call.method, url, call.json, what, mode="poll" if poll else "")

    def _own(self, path: str) -> str:
        """The URL a job call goes to: a path joined to the base URL, or a URL the provider
        gave on its own site (base host, or a sibling such as BFL's api.us1.bfl.ai for
        api.bfl.ai). The key goes nowhere else."""
        if "://" not in path:
            return self.base_url + path
        if not same_site(self.base_url, path):
            raise GatewayFailed(
                f"the provider named a job URL on another host ({host(path)}); imggen sends "
                "the key only to the profile's own host",
                hint="check base_url: the provider's replies must come from its own site",
            )
        return path

    def _small(self, method: str, url: str, body: Any, what: str, *, mode: str = "") -> Any:
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
                    raw = read_capped(resp, self.limits.small_json_cap)
                    return replies.parse_small(raw, resp.status_code)
            except RetryLater as exc:
                if mode == "once" and exc.reached and exc.error.status != 429:
                    raise _maybe_accepted(exc.error) from None
                if mode == "poll" and exc.error.status == 429:
                    from imggen.wire.polls import PollLimited  # job polls only: not at start-up

                    raise PollLimited(exc.wait) from None
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
        except AuthFailed as exc:
            # 401 is "who are you?" (an expired token); 403 is "not allowed", which no new
            # token of the same account changes
            if exc.status != 401 or self._refresh is None or self._retrier.cancelled.is_set():
                raise
            with self._refresh_lock:
                if self._key == used:  # another thread may have fetched it already
                    self.on_debug("the gateway rejected the key: fetching it again")
                    self._key = self._refresh()
            return call()

    def _redact(self, text: str) -> str:
        """The one redaction every gateway text passes, 2xx or not (wire/redact.py)."""
        return redact.text(text, self._key)

    def _redact_value(self, value: Any) -> Any:
        return redact.value(value, self._key)

    def _scrub(self, exc: ImggenError) -> ImggenError:
        return redact.error(exc, self._key)

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
        headers = {**self._auth(), "Accept": call.accept}
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
        body = b"" if redirect else read_capped(resp, self.limits.error_body_cap, strict=False)
        verdict = error_for_status(status, body, resp.headers, self._redact)
        if verdict.retry:
            raise RetryLater(verdict.error, verdict.wait)
        raise verdict.error


_IMAGES_PATH = "/images/"
_STREAM_FIELDS = ("stream", "partial_images")


def _unstreamed(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _STREAM_FIELDS}


def _maybe_accepted(error: ImggenError) -> ImggenError:
    """A submit that failed after reaching the provider: not sent again (it may have been
    accepted and billed); the user decides."""
    return GatewayFailed(
        f"{error.message} (a job submit that reached the provider is never sent twice)",
        hint="check the provider's dashboard for the job before running this again",
        status=error.status,
    )


def _path_of(url: str) -> str:
    """A URL without its query string, for logs and messages."""
    return url.split("?", 1)[0]


def read_capped(resp: httpx.Response, cap: int, *, strict: bool = True) -> bytes:
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
