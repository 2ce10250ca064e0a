"""Incremental Server-Sent Events parsing (WHATWG rules) that streams long data lines in pieces.

Owns SseParser and the parts it yields: Data, Dispatch, Comment. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Comment", "Data", "Dispatch", "SseParser", "SsePart"]


@dataclass(frozen=True)
class Data:
    """A piece of the current event's data; an event's data is its pieces joined."""

    chunk: bytes


@dataclass(frozen=True)
class Dispatch:
    """A blank line ended the event; ``event`` is its ``event:`` field or None."""

    event: str | None


@dataclass(frozen=True)
class Comment:
    """A line starting with ':' (keep-alives such as ': OPENROUTER PROCESSING')."""

    text: str


SsePart = Data | Dispatch | Comment

_BOM = b"\xef\xbb\xbf"
_LF = 0x0A
_CR = 0x0D
_SPACE = 0x20
_MAX_NAME = 5  # longest field name we act on: "event"
_STOP, _LINE_END = -1, -2  # what _field_name says besides a position
_MAX_VALUE = 64 * 1024  # longest comment or event name kept; the rest of the line is dropped

# Line states.
_START = 0  # at the start of a line
_NAME = 1  # reading the field name (buffered, at most _MAX_NAME + 1 bytes)
_DATA = 2  # inside the value of a data line: forwarded as it arrives
_VALUE = 3  # inside the value of an event line or a comment: buffered
_SKIP = 4  # inside a line we ignore (id, retry, unknown fields)

_SEPARATOR = Data(b"\n")


class SseParser:
    """Turns a byte stream into Data / Dispatch / Comment parts, one pass over each byte."""

    def __init__(self) -> None:
        self._state = _START
        self._name = bytearray()
        self._value = bytearray()
        self._is_event = False  # the buffered value belongs to "event" (else a comment)
        self._strip_space = False  # the next byte is the first of a value: drop it if a space
        self._after_cr = False  # the last chunk ended in CR: drop a LF opening the next one
        self._head: bytes | None = b""  # bytes held back while checking for a BOM; None after
        self._has_data = False
        self._event: str | None = None
        self._events = 0
        self._closed = False
        self._truncated = False

    @property
    def truncated(self) -> bool:
        """True if the stream was closed inside an event (data seen, no blank line)."""
        return self._truncated

    @property
    def events(self) -> int:
        """Number of events dispatched so far."""
        return self._events

    def feed(self, chunk: bytes) -> list[SsePart]:
        """Parse the next chunk of the stream and return the parts it completes."""
        if self._closed:
            raise ValueError("SseParser.feed() called after close()")
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._head = chunk
                return []
            self._head = None
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        return self._parse(chunk)

    def close(self) -> list[SsePart]:
        """End of stream: return what is left; an unfinished event is not dispatched."""
        if self._closed:
            return []
        out: list[SsePart] = []
        if self._head:
            out = self._parse(self._head)
        self._head = None
        self._closed = True
        # An unfinished last line is dropped (WHATWG); its data pieces were already sent.
        self._truncated = self._has_data
        self._name.clear()
        self._value.clear()
        return out

    def _parse(self, chunk: bytes) -> list[SsePart]:
        out: list[SsePart] = []
        n = len(chunk)
        pos = 0
        if self._after_cr and n:
            self._after_cr = False
            if chunk[0] == _LF:
                pos = 1
        # Cached positions of the next LF / CR at or after `pos` (n when there is none), so
        # that each byte is searched over once however many lines the chunk holds.
        nl = cr = -1
        while pos < n:
            if nl < pos:
                nl = chunk.find(b"\n", pos)
                if nl < 0:
                    nl = n
            if cr < pos:
                cr = chunk.find(b"\r", pos)
                if cr < 0:
                    cr = n
            end = nl if nl < cr else cr  # end of the current line, or n
            state = self._state

            if state == _DATA or state == _VALUE:
                if self._strip_space:
                    self._strip_space = False
                    if pos < end and chunk[pos] == _SPACE:
                        pos += 1
                if state == _DATA:
                    if end > pos:
                        out.append(Data(chunk[pos:end]))
                else:
                    room = _MAX_VALUE - len(self._value)
                    if room > 0:
                        self._value += chunk[pos : min(end, pos + room)]
                if end == n:
                    break
                if state == _VALUE:
                    text = self._value.decode("utf-8", "replace")
                    self._value.clear()
                    if self._is_event:
                        self._event = text or None
                    else:
                        out.append(Comment(text))

            elif state == _START and pos == end:  # a blank line
                if self._has_data:
                    self._events += 1
                    out.append(Dispatch(self._event))
                self._has_data = False
                self._event = None

            elif state == _START or state == _NAME:
                went = self._field_name(chunk, pos, end, out)
                if went == _STOP:
                    break
                if went != _LINE_END:
                    pos = went
                    continue

            elif end == n:  # _SKIP
                break

            # `end` is a line ending: step over it (CR LF counts as one).
            self._state = _START
            if chunk[end] == _CR:
                if end + 1 == n:
                    self._after_cr = True
                elif chunk[end + 1] == _LF:
                    end += 1
            pos = end + 1
        return out

    def _field_name(self, chunk: bytes, pos: int, end: int, out: list[SsePart]) -> int:
        """Read a field's name from `pos` (the line ends at `end`): the position to go on
        from, _STOP when the chunk ended inside the name, or _LINE_END when the line ended
        without a colon (a field with an empty value)."""
        n = len(chunk)
        room = _MAX_NAME - len(self._name)
        limit = min(end, pos + room + 1)
        colon = chunk.find(b":", pos, limit)
        if colon >= 0:
            self._name += chunk[pos:colon]
            self._begin_value(bytes(self._name), out)
            self._name.clear()
            return colon + 1
        if limit == n:  # the chunk ended inside a short name
            if n - pos > room:
                self._name.clear()
                self._state = _SKIP
            else:
                self._name += chunk[pos:n]
                self._state = _NAME
            return _STOP
        if limit < end:  # longer than any field we act on
            self._name.clear()
            self._state = _SKIP
            return limit
        # The line ended without a colon: a field with an empty value.
        self._name += chunk[pos:end]
        name = bytes(self._name)
        self._name.clear()
        if name == b"data":
            if self._has_data:
                out.append(_SEPARATOR)
            self._has_data = True
        elif name == b"event":
            self._event = None
        return _LINE_END

    def _begin_value(self, name: bytes, out: list[SsePart]) -> None:
        self._strip_space = True
        if name == b"data":
            if self._has_data:
                out.append(_SEPARATOR)
            self._has_data = True
            self._state = _DATA
        elif name == b"event" or not name:
            self._is_event = bool(name)
            self._state = _VALUE
        else:
            self._state = _SKIP
