"""The httpx seam under the API client and the downloader: one httpx.Client that follows no
redirects, each request timed against the --timeout deadline, bodies read in chunks that stop on
cancellation, and httpx's exceptions turned into imggen's (httpx's map_httpcore_exceptions)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from imggen.errors import DeadlineExceeded, GatewayFailed
from imggen.limits import Limits
from imggen.wire.inflate import decoded
from imggen.wire.retry import Retrier, RetryLater
from imggen.wire.status import host

USER_AGENT = "imggen"

Progress = Callable[[int, int | None], None]  # (bytes now, total if known)


class Session:
    """One httpx.Client and the way imggen uses it. The Retrier passed to each method is the
    caller's (a batch job's view has its own deadline); the pool is shared by all of them."""

    def __init__(
        self,
        *,
        transport: Any = None,
        limits: Limits,
        read_timeout: float,
        on_debug: Callable[[str], None],
        on_bytes: Progress,
        max_connections: int | None = None,
        keep_cookies: bool = True,
        tls: bool = True,
    ) -> None:
        self.limits = limits
        self.read_timeout = read_timeout
        self.on_debug = on_debug
        self.on_bytes = on_bytes
        options: dict[str, Any] = {}
        if max_connections is not None:
            options["limits"] = httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(16, max_connections),
            )
        if not tls:  # plain http only (a gateway on localhost): no CA bundle to load (~20 ms)
            options["verify"] = False
        if not keep_cookies:  # a CDN's cookies must not follow the next link, nor reach the gateway
            options["cookies"] = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._http = httpx.Client(
            transport=transport,
            follow_redirects=False,  # a redirect must never carry the key to another host
            # only what wire.inflate decompresses in bounded pieces
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            **options,
        )

    def close(self) -> None:
        self._http.close()

    def stream(
        self, method: str, url: str, retrier: Retrier, **kwargs: Any
    ) -> contextlib.AbstractContextManager[httpx.Response]:
        """A streamed request whose waits all end by the deadline. Raises DeadlineExceeded."""
        retrier.check_deadline()
        budget = retrier.budget(self.read_timeout)
        timeout = httpx.Timeout(
            connect=min(self.limits.connect_timeout, budget), read=budget, write=budget, pool=budget
        )
        return self._http.stream(method, url, timeout=timeout, **kwargs)

    def chunks(self, resp: httpx.Response, retrier: Retrier) -> Iterator[bytes]:
        """The body as it arrives, counted for progress; stops on close() and at the deadline."""
        total = content_length(resp)
        for chunk in decoded(resp):  # inflated in bounded pieces (gzip bombs)
            if retrier.cancelled.is_set():
                raise GatewayFailed("cancelled")
            retrier.check_deadline()
            self.on_bytes(len(chunk), total)
            yield chunk

    def log(self, resp: httpx.Response, started: float) -> None:
        ctype = resp.headers.get("content-type", "no content type").split(";")[0]
        self.on_debug(
            f"<- HTTP {resp.status_code} {ctype} from {host(str(resp.url))} "
            f"after {time.monotonic() - started:.2f} s"
        )

    @contextlib.contextmanager
    def errors(self, what: str, retrier: Retrier, url: str) -> Iterator[None]:
        """httpx's exceptions in the block as imggen's: a network failure as RetryLater (the
        Retrier decides), a bad scheme, a bad URL or an undecodable body as GatewayFailed.
        ``url`` names the host when an exception does not carry its request."""
        try:
            yield
        except httpx.TransportError as exc:
            if retrier.cancelled.is_set():
                raise GatewayFailed("cancelled") from exc
            error = self._failure(exc, retrier, url)
            if isinstance(exc, httpx.UnsupportedProtocol):
                raise error from exc  # a bad URL stays bad
            # No connection (refused, DNS, connect or pool timeout): nothing reached the gateway.
            unsent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
            raise RetryLater(error, reached=not isinstance(exc, unsent)) from exc
        except (httpx.DecodingError, httpx.InvalidURL) as exc:
            raise GatewayFailed(f"{what} failed: {_reason(exc)}") from exc

    def _failure(self, exc: httpx.TransportError, retrier: Retrier, url: str) -> GatewayFailed:
        where = host(str(exc.request.url)) if _has_request(exc) else host(url)
        if isinstance(exc, httpx.ConnectTimeout):
            text = f"could not connect to {where} within {self.limits.connect_timeout:.0f} s"
        elif isinstance(exc, httpx.ConnectError):
            text = f"could not connect to {where}: {_reason(exc)}"
        elif isinstance(exc, httpx.ReadTimeout):
            if retrier.deadline is not None and retrier.deadline - time.monotonic() <= 1:
                return DeadlineExceeded(
                    "the time limit (--timeout) ran out while waiting for the gateway",
                    hint="pass a longer --timeout SECONDS for a slow gateway",
                )
            text = f"{where} sent nothing for {retrier.budget(self.read_timeout):.0f} s"
        elif isinstance(exc, httpx.TimeoutException):
            text = f"timed out talking to {where}"
        elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            text = f"the connection to {where} broke mid-reply: {_reason(exc)}"
        else:
            text = f"network error talking to {where}: {_reason(exc)}"
        return GatewayFailed(text, hint="check the network and base_url, then try again")


def content_length(resp: httpx.Response) -> int | None:
    try:
        return int(resp.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018
    except RuntimeError:
        return False
    return True


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:160] if text else type(exc).__name__
