"""Incremental JSON parsing that spills large string values (base64 images) to files.

Owns JsonStreamParser, Truncated and parse_bytes; each spilled string becomes a Blob, written
by spill.Spill as it arrives.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from imggen.errors import GatewayFailed
from imggen.limits import Limits, MiB
from imggen.wire.spill import Blob, Spill, SpillFactory, malformed, show

__all__ = ["Blob", "JsonStreamParser", "SpillFactory", "Truncated", "loads", "parse_bytes"]

_QUOTE = 0x22
_BACKSLASH = 0x5C

_CUT_OFF = "the gateway's reply was cut off"
_WHITESPACE = b" \t\r\n"


def loads(text: bytes | bytearray | str, depth: int = Limits.json_depth) -> Any:
    """json.loads for a gateway's text: nesting deeper than `depth` is a ValueError (as bad
    JSON is), never a RecursionError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"it is nested deeper than {depth} levels") from None
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") > depth and _deeper_than(value, depth):
        raise ValueError(f"it is nested deeper than {depth} levels")
    return value


def _deeper_than(value: Any, depth: int) -> bool:
    """Whether containers nest more than `depth` levels in `value` (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > depth:
            return True
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
    return False


class Truncated(GatewayFailed):
    """The document ended before it was whole (the stream or body was cut off)."""


class JsonStreamParser:
    """Reads a JSON document chunk by chunk, spilling strings longer than threshold to files."""

    def __init__(
        self, new_spill: SpillFactory, threshold: int = 64 * 1024, *, limits: Limits = Limits()
    ) -> None:
        self._new_spill = new_spill
        self._threshold = threshold
        self._limits = limits
        self._values = 0  # commas and opened containers outside strings: values, nearly
        self._skeleton = bytearray()  # the document with each spilled string's text replaced
        self._in_string = False
        self._escaped = False  # the string so far ends in an unfinished escape ("\")
        self._start = 0  # where the current string's content starts in the skeleton
        self._spill: Spill | None = None
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
                # Outside strings whitespace means nothing: it is dropped, and what is left
                # (the structure and the short strings) is capped, so memory stays bounded
                quote = chunk.find(b'"', pos)
                stop = n if quote < 0 else quote + 1
                # (and so is the count of values, which cost memory once parsed: ~60 bytes each)
                part = chunk[pos:stop].translate(None, _WHITESPACE)
                skeleton += part
                self._values += part.count(b",") + part.count(b"[") + part.count(b"{")
                self._check_size()
                if quote < 0:
                    return
                self._in_string = True
                self._escaped = False
                self._start = len(skeleton)
                pos = quote + 1
                continue
            end = self._string_end(chunk, pos)
            if self._spill is not None:
                if end > pos:
                    self._spill.write(chunk, pos, end)  # no copy of the piece
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

    def _check_size(self) -> None:
        limits = self._limits
        if len(self._skeleton) > limits.json_cap:
            cap = limits.json_cap // MiB or 1
            raise GatewayFailed(
                f"the gateway's reply holds over {cap} MiB of JSON besides its images"
            )
        if self._values > limits.json_values:
            raise GatewayFailed(
                f"the gateway's reply holds over {limits.json_values:,} JSON values besides "
                "its images"
            )

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
        blob = Blob(path=path, kind="text", mime=None, size=0, head=b"", sink=sink)
        self._blobs.append(blob)
        placeholder = json.dumps(f"{self._token}{len(self._blobs) - 1}")[1:-1]
        skeleton += placeholder.encode("ascii")
        self._spill = Spill(blob, sink, text_cap=self._limits.json_text_cap)
        self._spill.write(raw)

    def _finish(self) -> Any:
        if self._in_string:
            raise Truncated(f"{_CUT_OFF}: it ended inside a JSON string")
        text = bytes(self._skeleton)
        if not text.strip():
            raise GatewayFailed("the gateway sent an empty reply where JSON was expected")
        try:
            value = loads(text, self._limits.json_depth)
        except UnicodeDecodeError:
            raise malformed("it is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            rest = exc.doc[exc.pos :].strip()
            if not rest or any(word.startswith(rest) for word in ("true", "false", "null")):
                raise Truncated(f"{_CUT_OFF}: the JSON document ended early") from None
            near = show(exc.doc[max(0, exc.pos - 20) : exc.pos + 20])
            raise malformed(f"{exc.msg.lower()} at character {exc.pos} (near {near})") from None
        except ValueError as exc:  # nested too deeply
            raise malformed(str(exc)) from None
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
                    raise malformed(f"an object key is longer than {self._threshold} bytes")
                if isinstance(item, str | list | dict):
                    value[key] = self._restore(item)
        return value


def parse_bytes(
    data: bytes, new_spill: SpillFactory, threshold: int = 64 * 1024, *, limits: Limits = Limits()
) -> Any:
    """Parse a whole JSON document, spilling large strings; on error no spill file is left."""
    parser = JsonStreamParser(new_spill, threshold, limits=limits)
    try:
        parser.feed(data)
        return parser.close()
    except BaseException:
        for blob in parser.blobs:
            blob.discard()
        raise
