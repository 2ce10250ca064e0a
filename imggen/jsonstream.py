"""Incremental JSON parsing that spills large string values (base64 images) to files.

Owns JsonStreamParser, Blob and the streaming decoder for JSON escapes, data URLs and base64.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import json
import pathlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from imggen.errors import GatewayFailed

__all__ = ["Blob", "JsonStreamParser", "SinkFactory", "Truncated", "parse_bytes"]

SinkFactory = Callable[[], tuple[pathlib.Path, BinaryIO]]


@dataclass
class Blob:
    """A large JSON string value, spilled to a file instead of memory."""

    path: pathlib.Path
    kind: str  # "base64": the file holds decoded bytes; "text": the file holds the UTF-8 text
    mime: str | None  # from a data URL prefix such as "data:image/png;base64,"
    size: int
    head: bytes  # the first 64 bytes of the file
    prefix: str = ""  # text before an embedded data URL (at most 4 KiB)
    suffix: str = ""  # text after the base64 run (at most 4 KiB)

    def discard(self) -> None:
        """Delete the spill file; do nothing if it is already gone."""
        self.path.unlink(missing_ok=True)


_HEAD = 64
_KEEP = 4096  # bytes of prefix / suffix kept; a data URL must start within this many bytes
_SNIFF = _KEEP + 256  # decoded bytes looked at before deciding how to store a spilled string
_SHOW = 40  # characters of offending data quoted in an error message

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_RUN = _B64_ALPHABET + b"=\r\n"  # what a base64 run may hold
_CONTROLS = bytes(range(0x20))

_QUOTE = 0x22
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

_CUT_OFF = "the gateway's reply was cut off"


class Truncated(GatewayFailed):
    """The document ended before it was whole (the stream or body was cut off)."""


def _show(data: bytes | str) -> str:
    """Quote at most _SHOW characters of offending data."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if len(data) > _SHOW:
        data = data[:_SHOW] + "..."
    return repr(data)


def _bad_base64(why: str) -> GatewayFailed:
    return GatewayFailed(f"the gateway sent invalid base64 image data: {why}")


def _malformed(why: str) -> GatewayFailed:
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
        raise _malformed(f"a string holds the invalid escape {_show(match.group(0))}")
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


class _Spill:
    """Streams one large string into its file: sniffs it, then decodes base64 or copies text."""

    def __init__(self, blob: Blob, sink: BinaryIO) -> None:
        self.blob = blob
        self._sink: BinaryIO | None = sink
        self._unescaper = _Unescaper()
        self._mode = _SNIFFING
        self._sniffed = bytearray()
        self._carry = b""  # fewer than 4 base64 characters waiting for the rest of their quad
        self._padded = False
        self._suffix = bytearray()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def write(self, raw: bytes) -> None:
        """Take the next piece of the string as it appears in the JSON text."""
        if self._mode == _BASE64:  # the strict decoder rejects all other control characters
            controls = b"\n" in raw or b"\r" in raw
        else:
            controls = len(raw.translate(None, _CONTROLS)) != len(raw)
        if controls:
            raise _malformed("a string holds a raw control character (such as a line break)")
        data = self._unescaper.feed(raw)
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
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _malformed("a string is not valid UTF-8") from None
        if self._suffix:
            self.blob.suffix = codecs.getincrementaldecoder("utf-8")("replace").decode(
                bytes(self._suffix)
            )
        self.abort()

    def abort(self) -> None:
        """Close the file (the Blob stays listed so the caller can discard it)."""
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.close()

    def _route(self, data: bytes) -> None:
        mode = self._mode
        if mode == _BASE64:
            self._route_base64(data)
        elif mode == _TEXT:
            try:
                self._utf8.decode(data)
            except UnicodeDecodeError:
                raise _malformed("a string is not valid UTF-8") from None
            self._write(data)
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
        self._decode(data)

    def _keep_suffix(self, data: bytes) -> None:
        room = _KEEP - len(self._suffix)
        if room > 0:
            self._suffix += data[:room]

    def _decide(self) -> None:
        """Choose how to store the string from its first bytes, then route those bytes."""
        head = bytes(self._sniffed)
        self._sniffed = bytearray()
        blob = self.blob
        start = _DATA_URL_START.match(head)
        embedded = None if start else _IMAGE_DATA_URL.search(head, 0, _SNIFF)
        if start is not None:
            blob.kind = "base64"
            mime = start.group(1)
            blob.mime = mime.decode("ascii").lower() if mime else None
            self._mode = _BASE64
            rest = head[start.end() :]
        elif embedded is not None and embedded.start() < _KEEP:
            blob.kind = "base64"
            blob.mime = embedded.group(1).decode("ascii").lower()
            blob.prefix = head[: embedded.start()].decode("utf-8", "replace")
            self._mode = _BASE64_RUN
            rest = head[embedded.end() :]
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

    def _decode(self, data: bytes) -> None:
        if self._carry:
            data = self._carry + data
        cut = len(data) & ~3
        if self._padded and data:
            raise _bad_base64("there is more data after the '=' padding")
        if cut < len(data):
            self._carry = data[cut:]
            data = data[:cut]
        else:
            self._carry = b""
        if not data:
            return
        if data[-1] == _EQUALS:
            first = data.find(b"=")
            if first < cut - 2:
                raise _bad_base64("an '=' padding character appears before the end")
            self._padded = True
            if self._carry:
                raise _bad_base64("there is more data after the '=' padding")
        try:
            decoded = binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error:
            raise self._explain(data) from None
        self._write(decoded)

    @staticmethod
    def _explain(data: bytes) -> GatewayFailed:
        others = data.translate(None, _B64_ALPHABET + b"=")
        if others:
            bad = others[:1]
            at = data.find(bad)
            near = _show(data[max(0, at - 10) : at + 10])
            if bad in b"-_":
                return _bad_base64(
                    f"it holds {_show(bad)}, from URL-safe base64, which is not accepted"
                    f" (near {near})"
                )
            return _bad_base64(f"it holds {_show(bad)}, which is not base64 (near {near})")
        return _bad_base64("an '=' padding character appears before the end")

    def _write(self, data: bytes) -> None:
        assert self._sink is not None
        self._sink.write(data)
        blob = self.blob
        if len(blob.head) < _HEAD:
            blob.head += data[: _HEAD - len(blob.head)]
        blob.size += len(data)


# --- the document --------------------------------------------------------------------------


class JsonStreamParser:
    """Reads a JSON document chunk by chunk, spilling strings longer than threshold to files."""

    def __init__(self, new_spill: SinkFactory, threshold: int = 64 * 1024) -> None:
        self._new_spill = new_spill
        self._threshold = threshold
        self._skeleton = bytearray()  # the document with each spilled string's text replaced
        self._in_string = False
        self._escaped = False  # the string so far ends in an unfinished escape ("\")
        self._start = 0  # where the current string's content starts in the skeleton
        self._spill: _Spill | None = None
        self._blobs: list[Blob] = []
        self._token = f"\x00imggen-blob-{secrets.token_hex(8)}:"
        self._error: BaseException | None = None
        self._closed = False
        self._value: Any = None

    @property
    def blobs(self) -> list[Blob]:
        """Every Blob created so far, so a caller can discard their files on error."""
        return list(self._blobs)

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the document."""
        self._check_usable()
        if self._closed:
            raise ValueError("JsonStreamParser.feed() called after close()")
        try:
            self._feed(chunk)
        except BaseException as exc:
            self._fail(exc)
            raise

    def close(self) -> Any:
        """End of document: return the value, with a Blob in place of each spilled string."""
        self._check_usable()
        if not self._closed:
            try:
                self._value = self._finish()
            except BaseException as exc:
                self._fail(exc)
                raise
            self._closed = True
        return self._value

    def abort(self) -> None:
        """Stop early (the bytes' source failed): close the open spill file. The Blobs stay
        in `blobs` for the caller to discard."""
        if self._error is None:
            self._fail(GatewayFailed("the reply was abandoned"))

    def _check_usable(self) -> None:
        if isinstance(self._error, GatewayFailed):
            raise self._error
        if self._error is not None:
            raise ValueError("JsonStreamParser cannot go on after an earlier error")

    def _fail(self, exc: BaseException) -> None:
        """Remember the error and close the open spill file (its Blob stays in blobs)."""
        self._error = exc
        spill, self._spill = self._spill, None
        if spill is not None:
            with contextlib.suppress(OSError):
                spill.abort()

    def _feed(self, chunk: bytes) -> None:
        skeleton = self._skeleton
        n = len(chunk)
        pos = 0
        while pos < n:
            if not self._in_string:
                quote = chunk.find(b'"', pos)
                if quote < 0:
                    skeleton += chunk[pos:] if pos else chunk
                    return
                skeleton += chunk[pos : quote + 1]
                self._in_string = True
                self._escaped = False
                self._start = len(skeleton)
                pos = quote + 1
                continue
            end = self._string_end(chunk, pos)
            if self._spill is not None:
                if end > pos:
                    self._spill.write(chunk[pos:end])
            else:
                skeleton += chunk[pos:end]
                if len(skeleton) - self._start > self._threshold:
                    self._begin_spill()
            if end == n:
                return
            if self._spill is not None:
                self._spill.finish()
                self._spill = None
            skeleton.append(_QUOTE)
            self._in_string = False
            pos = end + 1

    def _string_end(self, chunk: bytes, pos: int) -> int:
        """Index of the quote closing the current string, or len(chunk) if it goes on."""
        n = len(chunk)
        search = pos
        while True:
            quote = chunk.find(b'"', search)
            stop = n if quote < 0 else quote
            i = stop
            while i > pos and chunk[i - 1] == _BACKSLASH:
                i -= 1
            odd = (stop - i) % 2 == 1
            if i == pos and self._escaped:
                odd = not odd
            if quote < 0:
                self._escaped = odd
                return n
            if not odd:
                return quote
            search = quote + 1

    def _begin_spill(self) -> None:
        skeleton = self._skeleton
        raw = bytes(skeleton[self._start :])
        del skeleton[self._start :]
        path, sink = self._new_spill()
        blob = Blob(path=path, kind="text", mime=None, size=0, head=b"")
        self._blobs.append(blob)
        placeholder = json.dumps(f"{self._token}{len(self._blobs) - 1}")[1:-1]
        skeleton += placeholder.encode("ascii")
        self._spill = _Spill(blob, sink)
        self._spill.write(raw)

    def _finish(self) -> Any:
        if self._in_string:
            raise Truncated(f"{_CUT_OFF}: it ended inside a JSON string")
        text = bytes(self._skeleton)
        if not text.strip():
            raise GatewayFailed("the gateway sent an empty reply where JSON was expected")
        try:
            value = json.loads(text)
        except UnicodeDecodeError:
            raise _malformed("it is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            rest = exc.doc[exc.pos :].strip()
            if not rest or any(word.startswith(rest) for word in ("true", "false", "null")):
                raise Truncated(f"{_CUT_OFF}: the JSON document ended early") from None
            near = _show(exc.doc[max(0, exc.pos - 20) : exc.pos + 20])
            raise _malformed(f"{exc.msg.lower()} at character {exc.pos} (near {near})") from None
        if self._blobs:
            value = self._restore(value)
        return value

    def _restore(self, value: Any) -> Any:
        """Put each Blob where its placeholder string is."""
        if isinstance(value, str):
            if value.startswith(self._token):
                return self._blobs[int(value[len(self._token) :])]
            return value
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str | list | dict):
                    value[i] = self._restore(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key.startswith(self._token):
                    raise _malformed(f"an object key is longer than {self._threshold} bytes")
                if isinstance(item, str | list | dict):
                    value[key] = self._restore(item)
        return value


def parse_bytes(data: bytes, new_spill: SinkFactory, threshold: int = 64 * 1024) -> Any:
    """Parse a whole JSON document, spilling large strings; on error no spill file is left."""
    parser = JsonStreamParser(new_spill, threshold)
    try:
        parser.feed(data)
        return parser.close()
    except BaseException:
        for blob in parser.blobs:
            blob.discard()
        raise
