"""The streaming string decoder under JsonStreamParser: one large JSON string into its spill
file, piece by piece, undoing JSON escapes, sniffing a data URL, decoding base64 strictly.

Owns Blob (the spilled string's record), Spill (the decoder writing it) and SpillFactory.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from imggen.errors import GatewayFailed

__all__ = ["Blob", "Spill", "SpillFactory", "b64decode", "malformed", "show"]

# Makes a new spill file: its path and a file-like sink open for binary writing (a plain file,
# or files.incoming.Incoming, which checks and lands an image as it is written)
SpillFactory = Callable[[], tuple[pathlib.Path, BinaryIO]]


Decoder = Callable[[bytes | bytearray | memoryview], bytes]


def b64decode(data: bytes | bytearray | memoryview) -> bytes:
    """Strictly decode base64 (no whitespace, padding only at the end). Raises ValueError
    (binascii.Error). pybase64's SIMD decoder (some 10-20x the standard library's) where it is
    installed, imported on first use so that start-up does not pay for it."""
    global _DECODE
    if _DECODE is None:
        _DECODE = decoder()
    return _DECODE(data)


def decoder(simd: bool = True) -> Decoder:
    """The strict base64 decoder: pybase64's if `simd` and it is installed, else the standard
    library's (which lets excess '=' at the end through; pybase64 refuses it)."""
    if simd:
        try:
            from pybase64 import b64decode as fast
        except ImportError:  # pragma: no cover - pybase64 has wheels for the usual platforms
            pass
        else:
            return functools.partial(fast, validate=True)
    return functools.partial(binascii.a2b_base64, strict_mode=True)


_DECODE: Decoder | None = None


@dataclass
class Blob:
    """A large JSON string value, spilled to a file instead of memory."""

    path: pathlib.Path
    kind: str  # "base64": the file holds decoded bytes; "text": the file holds the UTF-8 text
    mime: str | None  # from a data URL prefix such as "data:image/png;base64,"
    size: int
    head: bytes  # the first 64 bytes of the file
    prefix: str = ""  # text before an embedded data URL
    suffix: str = ""  # text after the base64 run (at most 4 KiB)
    sink: Any = None  # the file object it was written to

    def discard(self) -> None:
        """Delete the spill file; do nothing if it is already gone."""
        forget = getattr(self.sink, "discard", None)
        if forget is not None:
            forget()
        self.path.unlink(missing_ok=True)


_HEAD = 64
_KEEP = 4096  # bytes of suffix kept
_SNIFF = _KEEP + 256  # decoded bytes looked at before deciding how to store a spilled string
_LOOKBACK = 512  # a data URL's "data:...;base64," may straddle pieces by this much
_TEXT_CAP = 8 * 1024 * 1024
_SHOW = 40  # characters of offending data quoted in an error message

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_RUN = _B64_ALPHABET + b"=\r\n"  # what a base64 run may hold
_CONTROLS = bytes(range(0x20))

_BACKSLASH = 0x5C
_EQUALS = 0x3D

_PARAMS = rb"(?:;[\w.+-]+=[^;,\"]*)*;base64,"
_DATA_URL_START = re.compile(rb"data:([\w.+-]+/[\w.+-]+)?" + _PARAMS, re.IGNORECASE)
_IMAGE_DATA_URL = re.compile(rb"data:(image/[\w.+-]+)" + _PARAMS, re.IGNORECASE)

_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_ESCAPE = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))",
    re.DOTALL,
)
_ONE_CHAR_ESCAPES = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
}
# With no escaped backslash in a piece, every backslash starts an escape, so escapes can be
# replaced in bulk: a PHP-style 40 MB base64 string holds ~600k of "\/", a line-wrapped one
# ~500k of "\n". "\/" goes first, then the others, most likely first.
_BULK_ESCAPES = tuple(
    (b"\\" + k, _ONE_CHAR_ESCAPES[k]) for k in (b"n", b"r", b'"', b"t", b"b", b"f")
)


def show(data: bytes | str) -> str:
    """Offending data for an error message, quoted and cut to _SHOW characters."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if len(data) > _SHOW:
        data = data[:_SHOW] + "..."
    return repr(data)


def _bad_base64(why: str) -> GatewayFailed:
    return GatewayFailed(f"the gateway sent invalid base64 image data: {why}")


def malformed(why: str) -> GatewayFailed:
    """The error for a reply that is not valid JSON, saying why."""
    return GatewayFailed(f"the gateway sent malformed JSON: {why}")


# --- JSON string escapes -----------------------------------------------------------------


def _unescape_one(match: re.Match[bytes]) -> bytes:
    high, low, single, other = match.groups()
    if high is not None:
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return chr(code).encode()
    if single is not None:
        code = int(single, 16)
        if 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be written as UTF-8
            code = 0xFFFD
        return chr(code).encode()
    out = _ONE_CHAR_ESCAPES.get(other)
    if out is None:
        raise malformed(f"a string holds the invalid escape {show(match.group(0))}")
    return out


def _unescape(raw: bytes) -> bytes:
    out = raw.replace(b"\\/", b"/")
    if b"\\" not in out:
        return out  # every backslash began a "\/" (the first of a "\\" pair never goes)
    if b"\\\\" in raw:
        return _ESCAPE.sub(_unescape_one, raw)
    for escape, char in _BULK_ESCAPES:
        if escape in out:
            out = out.replace(escape, char)
            if b"\\" not in out:
                return out
    return _ESCAPE.sub(_unescape_one, out)


def _starts_escape(data: bytes, k: int) -> bool:
    """True if the backslash at k begins an escape (it ends an odd run of backslashes)."""
    j = k
    while j > 0 and data[j - 1] == _BACKSLASH:
        j -= 1
    return (k - j) % 2 == 0


def _split_tail(data: bytes) -> tuple[bytes, bytes]:
    """Split off an escape that may continue in the next piece (or a high surrogate)."""
    n = len(data)
    k = data.rfind(b"\\", max(0, n - 6))
    if k < 0 or not _starts_escape(data, k):
        return data, b""
    rest = n - k
    if rest == 1 or (data[k + 1] == 0x75 and rest < 6):  # "\" or "\uXX" so far
        h = k - 6
        if h >= 0 and _HIGH_SURROGATE.fullmatch(data, h, k) and _starts_escape(data, h):
            k = h
        return data[:k], data[k:]
    if rest == 6 and _HIGH_SURROGATE.fullmatch(data, k, n):
        return data[:k], data[k:]
    return data, b""


class _Unescaper:
    """Decodes JSON string escapes piece by piece, holding back an escape split between pieces."""

    def __init__(self) -> None:
        self._tail = b""

    @property
    def held(self) -> bool:
        """An escape split between pieces is waiting for its end."""
        return bool(self._tail)

    def feed(self, raw: bytes) -> bytes:
        if self._tail:
            raw = self._tail + raw
            self._tail = b""
        if b"\\" not in raw:
            return raw
        raw, self._tail = _split_tail(raw)
        return _unescape(raw)

    def finish(self) -> bytes:
        tail, self._tail = self._tail, b""
        return _unescape(tail) if tail else b""


# --- spilling one string -----------------------------------------------------------------

_SNIFFING = 0
_TEXT = 1
_BASE64 = 2  # everything left in the string must be base64
_BASE64_RUN = 3  # base64 until the first other character, then the suffix
_SUFFIX = 4


class Spill:
    """Streams one large string into its file: sniffs it, then decodes base64 straight into the
    file (in place of the string), or holds text (bounded) and writes it at the end."""

    def __init__(self, blob: Blob, sink: BinaryIO, text_cap: int = _TEXT_CAP) -> None:
        self.blob = blob
        self._sink: BinaryIO | None = sink
        self._unescaper = _Unescaper()
        self._mode = _SNIFFING
        self._sniffed = bytearray()
        self._text = bytearray()  # _TEXT: the string so far, looked through for a data URL
        self._scanned = 0  # where the next data URL search in _text starts
        self._text_cap = text_cap
        self._carry = b""  # fewer than 4 base64 characters waiting for the rest of their quad
        self._padded = False
        self._suffix = bytearray()

    def write(self, raw: bytes, start: int = 0, end: int | None = None) -> None:
        """Take the next piece of the string as it appears in the JSON text: raw[start:end]."""
        if end is None:
            end = len(raw)
        if self._mode == _BASE64 and not self._unescaper.held and raw.find(b"\\", start, end) < 0:
            # the common case, at memory speed: no escapes, so the piece is base64 as it
            # stands; the strict decoder rejects control characters with everything else
            self._decode_span(raw, start, end)
            return
        piece = raw[start:end] if start or end != len(raw) else raw
        if len(piece.translate(None, _CONTROLS)) != len(piece):
            raise _raw_control()
        data = self._unescaper.feed(piece)
        if data:
            self._route(data)

    def finish(self) -> None:
        """The closing quote arrived: flush, check and close the file."""
        data = self._unescaper.finish()
        if data:
            self._route(data)
        if self._mode == _SNIFFING:
            self._decide()
        if self._mode in (_BASE64, _BASE64_RUN) and self._carry:
            raise _bad_base64("its length is not a multiple of 4")
        if self._mode == _TEXT:
            text = bytes(self._text)
            self._text = bytearray()
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                raise malformed("a string is not valid UTF-8") from None
            expect_text = getattr(self._sink, "expect_text", None)
            if expect_text is not None:
                expect_text()
            self._write(text)
        if self._suffix:
            self.blob.suffix = codecs.getincrementaldecoder("utf-8")("replace").decode(
                bytes(self._suffix)
            )
        self._close("close")

    def abort(self) -> None:
        """Close the file (the Blob stays listed so the caller can discard it)."""
        self._close("abort")

    def _close(self, how: str) -> None:
        if self._sink is not None:
            sink, self._sink = self._sink, None
            getattr(sink, how, sink.close)()

    def _route(self, data: bytes) -> None:
        mode = self._mode
        if mode == _BASE64:
            self._route_base64(data)
        elif mode == _TEXT:
            self._add_text(data)
        elif mode == _BASE64_RUN:
            others = data.translate(None, _B64_RUN)
            if not others:
                self._route_base64(data)
                return
            stop = data.find(others[:1])
            self._route_base64(data[:stop])
            if self._carry:
                raise _bad_base64("its length is not a multiple of 4")
            self._mode = _SUFFIX
            self._keep_suffix(data[stop:])
        elif mode == _SUFFIX:
            self._keep_suffix(data)
        else:
            self._sniffed += data
            if len(self._sniffed) >= _SNIFF:
                self._decide()

    def _route_base64(self, data: bytes) -> None:
        if b"\n" in data or b"\r" in data:
            data = data.replace(b"\r", b"").replace(b"\n", b"")
        self._decode_span(data, 0, len(data))

    def _keep_suffix(self, data: bytes) -> None:
        room = _KEEP - len(self._suffix)
        if room > 0:
            self._suffix += data[:room]

    def _add_text(self, data: bytes) -> None:
        """Text so far, in memory up to the cap; a data URL anywhere in it starts the image
        (chat replies put "Here it is: ![x](data:image/png;base64,...)" in their content)."""
        text = self._text
        text += data
        found = _IMAGE_DATA_URL.search(text, self._scanned)
        if found is None:
            if len(text) > self._text_cap:
                cap = self._text_cap // (1024 * 1024)
                raise GatewayFailed(f"the gateway sent a text value over {cap} MiB in its reply")
            self._scanned = max(0, len(text) - _LOOKBACK)
            return
        blob = self.blob
        blob.kind = "base64"
        blob.mime = found.group(1).decode("ascii").lower()
        blob.prefix = text[: found.start()].decode("utf-8", "replace")
        rest = bytes(text[found.end() :])
        self._text = bytearray()
        self._mode = _BASE64_RUN
        if rest:
            self._route(rest)

    def _decide(self) -> None:
        """Choose how to store the string from its first bytes, then route those bytes."""
        head = bytes(self._sniffed)
        self._sniffed = bytearray()
        blob = self.blob
        start = _DATA_URL_START.match(head)
        if start is not None:
            blob.kind = "base64"
            mime = start.group(1)
            blob.mime = mime.decode("ascii").lower() if mime else None
            self._mode = _BASE64
            rest = head[start.end() :]
        elif not head[:256].translate(None, _B64_RUN):
            blob.kind = "base64"
            self._mode = _BASE64
            rest = head
        else:
            blob.kind = "text"
            self._mode = _TEXT
            rest = head
        if rest:
            self._route(rest)

    def _decode_span(self, data: bytes, start: int, end: int) -> None:
        """Decode data[start:end], base64 that continues a run, into the file."""
        if start == end:
            return
        if self._padded:
            raise _bad_base64("there is more data after the '=' padding")
        if self._carry:  # finish the quad the last piece began
            need = 4 - len(self._carry)
            quad = self._carry + data[start : start + need]
            start += len(quad) - len(self._carry)
            if len(quad) < 4:
                self._carry = quad
                return
            self._carry = b""
            self._decode_block(quad)
            if start == end:
                return
            if self._padded:
                raise _bad_base64("there is more data after the '=' padding")
        cut = start + ((end - start) & ~3)
        if cut < end:
            self._carry = bytes(data[cut:end])
        if cut > start:
            self._decode_block(memoryview(data)[start:cut] if start or cut != len(data) else data)
        if self._padded and self._carry:
            raise _bad_base64("there is more data after the '=' padding")

    def _decode_block(self, block: bytes | memoryview) -> None:
        """Decode whole quads; '=' may only end the string."""
        if block[-1] == _EQUALS:
            self._padded = True
        try:
            decoded = b64decode(block)
        except ValueError:
            raise self._explain(bytes(block)) from None
        self._write(decoded)

    @staticmethod
    def _explain(data: bytes) -> GatewayFailed:
        if len(data.translate(None, _CONTROLS)) != len(data):
            return _raw_control()
        others = data.translate(None, _B64_ALPHABET + b"=")
        if others:
            bad = others[:1]
            at = data.find(bad)
            near = show(data[max(0, at - 10) : at + 10])
            if bad in b"-_":
                return _bad_base64(
                    f"it holds {show(bad)}, from URL-safe base64, which is not accepted"
                    f" (near {near})"
                )
            return _bad_base64(f"it holds {show(bad)}, which is not base64 (near {near})")
        return _bad_base64("an '=' padding character appears before the end")

    def _write(self, data: bytes) -> None:
        assert self._sink is not None
        self._sink.write(data)
        blob = self.blob
        if len(blob.head) < _HEAD:
            blob.head += data[: _HEAD - len(blob.head)]
        blob.size += len(data)


def _raw_control() -> GatewayFailed:
    return malformed("a string holds a raw control character (such as a line break)")
