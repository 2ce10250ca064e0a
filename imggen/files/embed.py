"""The AI marker put into JPEG and WebP images as they stream past, in one pass: JpegStream
(an XMP APP1 segment after SOI and any JFIF APP0) and WebpStream (an `XMP ` chunk at the end,
the VP8X header made or flagged for it, the RIFF size told in advance). Both leave an image
with Content Credentials (APP11 JUMBF; a `C2PA` chunk) byte for byte as it came."""

from __future__ import annotations

import struct

from imggen.files import xmp
from imggen.files.imagefile import _webp_size as webp_size
from imggen.files.streamcheck import Edit, Emit

_HOLD_CAP = 1 << 20  # a JPEG header held this long without its first scan is let through
_JUMBF = b"JP"  # an APP11 segment of C2PA's JUMBF boxes starts so (ISO 19566-5)


class JpegStream:
    """Holds a JPEG's header segments (up to its first scan) to see whether an APP11 segment
    carries Content Credentials: if so, every byte passes unchanged (``credentials``); else an
    XMP APP1 segment goes in after SOI (and a JFIF APP0), and an XMP segment the image had is
    left out. Does not check the image: TailCheck does."""

    def __init__(self, emit: Emit, packet: bytes) -> None:
        self._emit = emit
        self._segment = xmp.jpeg_segment(packet) if packet else b""
        self._held: bytearray | None = bytearray()
        self.credentials = False
        self.late_credentials = False  # never: C2PA's segments come before the first scan
        self.edits: list[Edit] = []

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._emit(data)
            return
        self._held += data
        self._scan()

    def finish(self) -> None:
        if self._held is not None:
            self._release(None)

    def _scan(self) -> None:
        held = self._held
        assert held is not None
        if held[:2] != b"\xff\xd8" and len(held) >= 2:
            return self._release(None)  # not a JPEG header imggen can walk: left as it is
        pos, after_app0 = 2, 2
        drops: list[tuple[int, int]] = []
        while True:
            if pos + 2 > len(held):
                break
            if held[pos] != 0xFF:
                return self._release(None)
            marker = held[pos + 1]
            if marker in (0xDA, 0xD9):  # start of scan, end of image: the header is whole
                return self._release((after_app0, drops))
            if pos + 4 > len(held):
                break
            (length,) = struct.unpack(">H", held[pos + 2 : pos + 4])
            end = pos + 2 + length
            if end > len(held):
                break
            body = bytes(held[pos + 4 : pos + 4 + 32])
            if marker == 0xEB and body.startswith(_JUMBF):
                self.credentials = True
                return self._release(None)
            if marker == 0xE0 and pos == 2 and body.startswith(b"JFIF\x00"):
                after_app0 = end
            if marker == 0xE1 and body.startswith(xmp.JPEG_SIGNATURE):
                drops.append((pos, end))
            pos = end
        if len(held) > _HOLD_CAP:
            self._release((after_app0, drops))

    def _release(self, where: tuple[int, list[tuple[int, int]]] | None) -> None:
        held, self._held = self._held, None
        assert held is not None
        if where is None or not self._segment:
            self._emit(held)
            return
        at, drops = where
        out = bytearray(held[:at]) + self._segment
        start = at
        for begin, end in drops:
            out += held[start:begin]
            start = end
        out += held[start:]
        self._emit(out)


class WebpStream:
    """Adds an `XMP ` chunk at the end of a WebP streaming past: the RIFF header is written
    first with the size it will have, with a VP8X chunk made from a simple image's VP8/VP8L
    header (canvas size, alpha) or the one there flagged for XMP; an XMP chunk the image had is
    left out (the new one padded to its room). A `C2PA` chunk (which c2pa appends after the
    image data) sets ``late_credentials``; ``edits`` give back the original bytes."""

    def __init__(self, emit: Emit, packet: bytes) -> None:
        self._sink = emit
        self._packet = packet
        self._head: bytearray | None = bytearray()
        self._passing = False  # not an image this can mark: bytes go through unchanged
        self._size = 0  # the RIFF size announced, to check against the end
        self._chunk = bytearray()  # a chunk header being collected
        self._left = 0  # bytes left in the current chunk's body (and pad)
        self._kind = b""
        self._dropped = bytearray()
        self._dropped_room = 0
        self.written = 0
        self.credentials = False
        self.late_credentials = False
        self.edits: list[Edit] = []

    def _emit(self, piece: bytes | bytearray | memoryview) -> None:
        self.written += len(piece)
        self._sink(piece)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._passing:
            self._emit(data)
            return
        view = memoryview(data)
        if self._head is not None:
            need = 30 - len(self._head)
            self._head += view[:need]
            view = view[need:]
            if len(self._head) < 30:
                return
            self._start(bytes(self._head))
            self._head = None
            if self._passing:
                self._emit(view)
                return
        self._walk(view)

    def _start(self, head: bytes) -> None:
        """Write the RIFF header (and VP8X) the marked image will have."""
        kind = head[12:16]
        chunk = xmp.webp_chunk(self._packet)
        if not self._packet or kind not in (b"VP8X", b"VP8 ", b"VP8L"):
            self._passing = True
            self._emit(head)
            return
        (riff,) = struct.unpack("<I", head[4:8])
        (first,) = struct.unpack("<I", head[16:20])
        if first < 10:  # too short a chunk to be an image
            self._passing = True
            self._emit(head)
            return
        if kind == b"VP8X":
            flagged = bytearray(head[12:30])
            flagged[8] |= 0x04  # the XMP flag
            new = head[:4] + struct.pack("<I", riff + len(chunk)) + head[8:12] + bytes(flagged)
            self.edits.append((0, 30, head))
            self._emit(new)
            self._walk_header_done(head[12:20], body_seen=10)
            return
        size = webp_size(head)
        if size is None:
            self._passing = True
            self._emit(head)
            return
        alpha = kind == b"VP8L" and bool(int.from_bytes(head[21:25], "little") >> 28 & 1)
        flags = 0x04 | (0x10 if alpha else 0)
        body = bytes([flags, 0, 0, 0])
        body += (size[0] - 1).to_bytes(3, "little") + (size[1] - 1).to_bytes(3, "little")
        vp8x = b"VP8X" + struct.pack("<I", 10) + body
        riff_new = riff + len(vp8x) + len(chunk)
        self.edits.append((0, 12 + len(vp8x), head[:12]))
        self._emit(head[:4] + struct.pack("<I", riff_new) + head[8:12] + vp8x)
        self._emit(head[12:30])
        self._walk_header_done(head[12:20], body_seen=10)

    def _walk_header_done(self, header: bytes, *, body_seen: int) -> None:
        self._kind = header[:4]
        (length,) = struct.unpack("<I", header[4:8])
        self._left = length + (length & 1) - body_seen

    def _walk(self, view: memoryview) -> None:
        pos, n = 0, len(view)
        while pos < n:
            if self._left > 0:
                take = min(self._left, n - pos)
                piece = view[pos : pos + take]
                if self._kind == b"XMP ":
                    self._dropped += piece
                else:
                    self._emit(piece)
                pos += take
                self._left -= take
                if not self._left:
                    self._chunk_done()
                continue
            need = 8 - len(self._chunk)
            self._chunk += view[pos : pos + need]
            pos += need
            if len(self._chunk) < 8:
                return
            header, self._chunk = bytes(self._chunk), bytearray()
            self._kind = header[:4]
            (length,) = struct.unpack("<I", header[4:8])
            self._left = length + (length & 1)
            if self._kind == b"C2PA":
                self.late_credentials = True
            if self._kind == b"XMP " and length > _HOLD_CAP:
                # too large to hold for an undo: kept, the new chunk follows it (the size
                # announced stays true)
                self._kind = b"XMP+"
            if self._kind == b"XMP ":
                self._dropped = bytearray(header)
            else:
                self._emit(header)
            if not self._left:
                self._chunk_done()

    def _chunk_done(self) -> None:
        if self._kind == b"XMP ":
            self.edits.append((self.written, 0, bytes(self._dropped)))
            self._dropped_room += len(self._dropped)
            self._dropped = bytearray()
        self._kind = b""

    def finish(self) -> None:
        """The bytes ended: the XMP chunk goes last (unless the image turned out signed)."""
        if self._head is not None:  # shorter than any WebP imggen can mark
            self._passing = True
            head, self._head = self._head, None
            self._emit(head)
        if self._passing or self.late_credentials:
            return
        packet = self._packet
        if self._dropped_room:
            # the image's own XMP chunk was left out: the new one fills its room too, so the
            # RIFF size written first stays true
            pad = self._dropped_room
            packet = packet[: -len(b'<?xpacket end="w"?>')]
            packet += b" " * pad + b'<?xpacket end="w"?>'
        self._emit(xmp.webp_chunk(packet))
