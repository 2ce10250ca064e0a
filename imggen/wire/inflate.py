"""A reply body as decompressed, in bounded pieces. httpx inflates each received chunk whole: a
64 KiB gzip chunk of one repeated byte becomes 64 MB at once. Here gzip and deflate are
inflated at most _PIECE bytes at a time, so a gzip bomb meets the reply caps in flat memory."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from imggen.errors import GatewayFailed

__all__ = ["decoded"]

_PIECE = 1 << 20


def decoded(resp: Any) -> Iterator[bytes]:
    """The body of httpx.Response `resp`, decompressed (gzip, deflate) in bounded pieces; other
    encodings as httpx decodes them. Raises GatewayFailed for corrupt compressed data."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if resp.is_stream_consumed:  # read already (a test's MockTransport): in memory anyway
        yield from resp.iter_bytes()
    elif encoding in ("", "identity"):
        yield from resp.iter_raw()
    elif encoding in ("gzip", "x-gzip", "deflate"):
        yield from _inflate(resp.iter_raw(), encoding)
    else:
        yield from resp.iter_bytes()


def _inflate(raw: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    inflater: Any = None
    try:
        for chunk in raw:
            if inflater is None:
                if not chunk:
                    continue
                inflater = zlib.decompressobj(_wbits(encoding, chunk))
            data = inflater.decompress(chunk, _PIECE)
            while True:
                if data:
                    yield data
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, _PIECE)
        if inflater is not None:
            tail = inflater.flush()
            if tail:
                yield tail
    except zlib.error as exc:
        raise GatewayFailed(f"the gateway's {encoding} reply is corrupt ({exc})") from None


def _wbits(encoding: str, first: bytes) -> int:
    if encoding != "deflate":
        return 31  # gzip header and trailer
    # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate (as httpx allows)
    if len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
        return 15
    return -15
