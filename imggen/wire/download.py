"""Fetching the image URLs a gateway returned: never with the key, no cookies kept, http(s)
only, capped in size, few redirects; an expired link or a page instead of an image is an error,
never a saved ".png"."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from imggen.errors import GatewayFailed, LinkExpired
from imggen.files import imagefile, svg
from imggen.files.imagefile import looks_like_html
from imggen.limits import Limits
from imggen.wire.retry import Retrier, RetryLater
from imggen.wire.session import Progress, Session, content_length
from imggen.wire.spill import SpillFactory
from imggen.wire.status import error_for_download, host

REDIRECTS = (301, 302, 303, 307, 308)


class Downloader:
    """Fetches image URLs under its owner's Retrier (retry budget, deadline, cancellation) over
    its own httpx.Client, built on the first download (TLS setup costs) and shared with the
    views fork() makes. Thread-safe."""

    def __init__(
        self,
        retrier: Retrier,
        *,
        transport: Any = None,
        limits: Limits = Limits(),
        read_timeout: float | None = None,
        on_debug: Callable[[str], None] | None = None,
        on_bytes: Progress | None = None,
    ) -> None:
        self._retrier = retrier
        self._limits = limits
        self._transport = transport
        self._read_timeout = limits.read_timeout if read_timeout is None else read_timeout
        self._on_debug = on_debug or (lambda message: None)
        self._on_bytes = on_bytes or (lambda n, total: None)
        # the Session once built; a list so that fork()'s views share it
        self._session: list[Session] = []
        self._lock = threading.Lock()

    def fork(self, retrier: Retrier) -> Downloader:
        """A view for another job: the same connection pool, that job's Retrier."""
        view = copy.copy(self)
        view._retrier = retrier
        return view

    def close(self) -> None:
        with self._lock:
            for session in self._session:
                session.close()

    def download(self, url: str, spill: SpillFactory) -> Path:
        """Fetch an image URL to a new spill file, with retries. Raises LinkExpired (gone, or
        a page instead of an image) or GatewayFailed (refused scheme, too big, too many
        redirects, network)."""
        return self._retrier.run(
            lambda delivered: self._fetch(url, spill), what="download", paced=False
        )

    def _open(self) -> Session:
        with self._lock:
            if not self._session:
                if self._retrier.cancelled.is_set():
                    raise GatewayFailed("cancelled")
                session = Session(
                    transport=self._transport,
                    limits=self._limits,
                    read_timeout=self._read_timeout,
                    on_debug=self._on_debug,
                    on_bytes=self._on_bytes,
                    keep_cookies=False,
                )
                self._session.append(session)
            return self._session[0]

    def _fetch(self, url: str, spill: SpillFactory) -> Path:
        session = self._open()
        with session.errors("download", self._retrier, url):
            for _ in range(self._limits.max_redirects + 1):
                scheme = urlsplit(url).scheme
                if scheme not in ("http", "https"):
                    raise GatewayFailed(
                        f"refusing to fetch a non-http(s) image URL ({host(url)})",
                        hint=f"the gateway sent a {scheme}: link; images are fetched over "
                        "http(s) only",
                    )
                self._on_debug(f"-> GET {host(url)}{urlsplit(url).path} (image download, no key)")
                started = time.monotonic()
                headers = {"Accept": "image/*"}
                with session.stream("GET", url, self._retrier, headers=headers) as resp:
                    session.log(resp, started)
                    if resp.status_code in REDIRECTS:
                        url = urljoin(url, resp.headers.get("location", ""))
                        continue
                    return self._save(session, resp, url, spill)
        raise GatewayFailed(
            f"the image URL redirected more than {self._limits.max_redirects} times"
        )

    def _save(self, session: Session, resp: httpx.Response, url: str, spill: SpillFactory) -> Path:
        verdict = error_for_download(resp.status_code, url)
        if verdict is not None:
            if verdict.retry:
                raise RetryLater(verdict.error)
            raise verdict.error
        where, cap = host(url), self._limits.download_cap
        total = content_length(resp)
        if total is not None and total > cap:
            raise GatewayFailed(f"the image at {where} is {total:,} bytes, over the size cap")
        path, out = spill()
        size = 0
        head = b""
        with out:
            for chunk in session.chunks(resp, self._retrier):
                size += len(chunk)
                if size > cap:
                    raise GatewayFailed(f"the image at {where} is over the {cap:,} cap")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                out.write(chunk)
        if imagefile.sniff(head) is None and not svg.sniff(head):
            path.unlink(missing_ok=True)
            what = "a web page" if looks_like_html(head) or head.startswith(b"<?xml") else "data"
            raise LinkExpired(
                f"the image link on {where} answered {what}, not an image (an expired link?)",
                hint="generate again; such links are short-lived",
            )
        return path
