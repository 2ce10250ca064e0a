"""Images checked as they stream past, in one pass and bounded memory: PngStream (signature,
IHDR first, every chunk's CRC, IDAT together, IEND last; text chunks put in after IHDR unless
the image carries Content Credentials) and TailCheck (a JPEG, WEBP or GIF ends the way a whole
one does). Nothing is read back."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from imggen.files.imagefile import MIME_EXT, PNG_SIG, TEXT_TYPES, png_keyword, text_chunk

_PIECE = 1 << 20


class BadImage(ValueError):
    """The bytes are not a whole, well-formed image; ``truncated`` if they merely stop early."""

    def __init__(self, why: str, *, truncated: bool = False) -> None:
        super().__init__(why)
        self.truncated = truncated


Emit = Callable[[bytes | bytearray | memoryview], object]

# PngStream states
_SIGNATURE = 0  # collecting the signature and the whole IHDR chunk (33 bytes)
_HEADER = 1  # collecting a chunk's length and type (8 bytes)
_BODY = 2  # inside a chunk's data
_CRC = 3  # collecting a chunk's CRC (4 bytes)
_DONE = 4  # IEND passed: nothing may follow
_HEAD_SIZE = 33
_NEED = {_SIGNATURE: _HEAD_SIZE, _HEADER: 8, _CRC: 4}
_MAX_CHUNK = (1 << 31) - 1
_LETTERS = frozenset(range(65, 91)) | frozenset(range(97, 123))
_DROP_CAP = 1 << 20  # a text chunk to replace larger than this is kept instead
CREDENTIALS = b"caBX"  # C2PA's chunk: a manifest bound to a hash of the file's bytes

# (offset in what was written, bytes written there that the original did not have, original
# bytes that were left out there): how to give back the bytes exactly as they came
Edit = tuple[int, int, bytes]


class PngStream:
    """Checks a PNG as it streams past, in one pass and in bounded memory: the signature, IHDR
    first, every chunk's CRC, IDAT chunks together, IEND last with nothing after it. Text chunks
    go in right after IHDR (``insert``, ready-made chunks); earlier text chunks under the keywords
    in ``drop`` are left out, so a record never comes twice. feed() hands the bytes to write,
    mostly slices of its input, to ``emit``. Raises BadImage.

    A PNG whose chunk after IHDR is C2PA's caBX (where c2pa puts it) passes byte for byte
    (``credentials``); one found later sets ``late_credentials``, and ``edits`` say how to give
    back the original bytes from those written."""

    def __init__(self, emit: Emit, insert: bytes = b"", drop: Iterable[str] = ()) -> None:
        self._sink = emit
        self._insert = insert
        self._waiting = True  # the insert waits for the chunk after IHDR: is it caBX?
        self.credentials = False
        self.late_credentials = False
        self.written = 0
        self.edits: list[Edit] = []
        self._dropped = bytearray()  # the chunk being left out, kept for edits
        self._dropped_total = 0
        self._drop = frozenset(png_keyword(k) for k in drop)
        self._state = _SIGNATURE
        self._buf = bytearray()  # signature+IHDR, a chunk header or a CRC being collected
        self._left = 0  # data bytes left in the current chunk
        self._crc = 0
        self._kind = b""
        self._hold: bytearray | None = None  # a text chunk's start, until its keyword is known
        self._dropping = False
        self._idat = 0  # 0 none yet, 1 in the IDAT run, 2 after it
        self.pixels: tuple[int, int] | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        n = len(view)
        pos = 0
        while pos < n:
            state = self._state
            if state == _BODY:
                take = min(self._left, n - pos)
                piece = view[pos : pos + take]
                pos += take
                self._left -= take
                self._crc = zlib.crc32(piece, self._crc)
                if self._hold is not None:
                    self._hold += piece
                    self._check_keyword()
                elif not self._dropping:
                    self._emit(piece)
                else:
                    self._dropped += piece
                if not self._left:
                    self._state = _CRC
                continue
            if state == _DONE:
                raise BadImage("there is data after the image's end (IEND)")
            need = _NEED[state] - len(self._buf)
            self._buf += view[pos : pos + need]
            pos += need
            if len(self._buf) < _NEED[state]:
                return
            head, self._buf = bytes(self._buf), bytearray()
            if state == _SIGNATURE:
                self._begin(head)
            elif state == _HEADER:
                self._chunk_header(head)
            else:
                self._chunk_end(head)

    def finish(self) -> None:
        """The bytes ended: raises BadImage(truncated=True) unless the PNG was whole."""
        if self._state != _DONE:
            raise BadImage("the image ends early", truncated=True)

    def _begin(self, head: bytes) -> None:
        if not head.startswith(PNG_SIG):
            raise BadImage("it does not start with the PNG signature")
        if head[8:16] != b"\x00\x00\x00\x0dIHDR":
            raise BadImage("its first chunk is not IHDR")
        if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
            raise BadImage("the CRC of chunk IHDR does not match")
        w, h = struct.unpack(">II", head[16:24])
        self.pixels = (w, h) if w and h else None
        self._emit(head)
        self._state = _HEADER

    def _emit(self, piece: bytes | bytearray | memoryview) -> None:
        self.written += len(piece)
        self._sink(piece)

    def _decide(self, kind: bytes) -> None:
        """At the chunk after IHDR: credentials (nothing goes in), or the insert goes in."""
        self._waiting = False
        if kind == CREDENTIALS:
            self.credentials = True
            self._drop = frozenset()
        elif self._insert:
            self.edits.append((self.written, len(self._insert), b""))
            self._emit(self._insert)

    def _chunk_header(self, head: bytes) -> None:
        (length,) = struct.unpack(">I", head[:4])
        kind = head[4:8]
        name = kind.decode("latin-1")
        if not all(c in _LETTERS for c in kind):
            raise BadImage(f"it holds a chunk of invalid type {name!r} (corrupt data)")
        if length > _MAX_CHUNK:
            raise BadImage(f"chunk {name} claims {length} bytes")
        if kind == b"IHDR":
            raise BadImage("it holds a second IHDR chunk")
        if self._waiting:
            self._decide(kind)
        elif kind == CREDENTIALS and not self.credentials:
            self.late_credentials = True
        if kind == b"IDAT":
            if self._idat == 2:
                raise BadImage("its IDAT chunks are not consecutive")
            self._idat = 1
        elif self._idat == 1:
            self._idat = 2
        if kind == b"IEND":
            if not self._idat:
                raise BadImage("it has no image data (IDAT) before IEND")
            if length:
                raise BadImage("its IEND chunk is not empty")
        self._kind = kind
        self._crc = zlib.crc32(kind)
        self._left = length
        self._dropping = False
        droppable = length <= _DROP_CAP and self._dropped_total < 4 * _DROP_CAP
        if kind in TEXT_TYPES and self._drop and droppable:
            self._hold = bytearray(head)
            self._check_keyword()
        else:
            self._hold = None
            self._emit(head)
        self._state = _BODY if length else _CRC

    def _check_keyword(self) -> None:
        """Decide about a held text chunk once its keyword is whole (or cannot be one)."""
        hold = self._hold
        assert hold is not None
        data = hold[8:]
        if b"\x00" not in data and len(data) < 80 and self._left:
            return
        self._hold = None
        if bytes(data).split(b"\x00", 1)[0] in self._drop:
            self._dropping = True
            self._dropped = bytearray(hold)
        else:
            self._emit(hold)

    def _chunk_end(self, crc: bytes) -> None:
        if struct.unpack(">I", crc)[0] != self._crc:
            raise BadImage(f"the CRC of chunk {self._kind.decode('latin-1')} does not match")
        if not self._dropping:
            self._emit(crc)
        else:
            left_out = bytes(self._dropped + crc)
            self.edits.append((self.written, 0, left_out))
            self._dropped_total += len(left_out)
            self._dropped = bytearray()
        self._dropping = False
        self._state = _DONE if self._kind == b"IEND" else _HEADER


class TailCheck:
    """Whether a JPEG, WEBP or GIF streaming past ends the way a whole one does (is_complete's
    checks without reading the file back)."""

    def __init__(self, mime: str) -> None:
        if mime not in MIME_EXT or mime == "image/png":
            raise ValueError(f"no tail check for {mime}")
        self._mime = mime
        self._size = 0
        self._head = b""
        self._last = b""  # JPEG: the two bytes before any zero padding; GIF: the last byte
        self._final = b""  # the last byte fed so far

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        n = len(view)
        if not n:
            return
        if len(self._head) < 12:
            self._head += bytes(view[: 12 - len(self._head)])
        self._size += n
        if self._mime == "image/jpeg":
            end = n
            while end > 0:  # the last non-zero bytes, looked for from the end
                start = max(0, end - 4096)
                window = bytes(view[start:end]).rstrip(b"\x00")
                if window:
                    before = bytes(view[start - 1 : start]) if start else self._final
                    self._last = (before + window)[-2:]
                    break
                end = start
        else:
            self._last = bytes(view[-1:])
        self._final = bytes(view[-1:])

    def complete(self) -> bool:
        if self._size < 12:
            return False
        if self._mime == "image/webp":
            (declared,) = struct.unpack("<I", self._head[4:8])
            return bool(declared == self._size - 8)
        if self._mime == "image/gif":
            return self._last == b"\x3b"
        return self._last == b"\xff\xd9"


def copy_with_png_text(src: Path, dst: BinaryIO, text: Mapping[str, str]) -> None:
    """Stream-copy PNG `src` to `dst`, checked, with one text chunk per key right after IHDR
    (as text_chunk makes them: tEXt for a registered keyword's ASCII text, else iTXt).

    Text chunks with the same keywords are dropped; raises BadImage (a ValueError) if `src` is
    not a whole, well-formed PNG, ValueError for a bad keyword.
    """
    insert = b"".join(text_chunk(k, v) for k, v in text.items())
    png = PngStream(dst.write, insert, drop=text)
    with src.open("rb") as f:
        while piece := f.read(_PIECE):
            png.feed(piece)
    png.finish()
