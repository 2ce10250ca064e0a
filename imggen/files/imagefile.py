"""Image files on disk: recognise the type, read pixel size, check truncation, PNG text chunks.
Everything streams: files may be tens of MB and are never read whole."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MIME_EXT: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/svg+xml": ".svg",  # files/svg.py: recognised and checked there, output only
}

PNG_SIG = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
_PIECE = 1 << 20  # copy in 1 MiB pieces
_TEXT_CAP = 16 << 20  # larger text chunks (or inflated text) are skipped, not loaded
# JPEG start-of-frame markers: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff(head: bytes) -> str | None:
    """The image MIME type the leading bytes announce, or None (HTML, JSON, junk...)."""
    if head.startswith(PNG_SIG):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    """Walk JPEG marker segments to the first start-of-frame; f is just past SOI."""
    while True:
        b = f.read(1)
        if b != b"\xff":
            return None
        while b == b"\xff":  # fill bytes before a marker
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker == 0x00:
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers: no length
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            return None
        raw = f.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            seg = f.read(5)  # precision, height, width
            if len(seg) < 5:
                return None
            h, w = struct.unpack(">HH", seg[1:5])
            return (w, h) if w and h else None
        f.seek(length - 2, 1)


def _webp_size(head: bytes) -> tuple[int, int] | None:
    kind, body = head[12:16], head[20:30]
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", body[6:10])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(body) >= 10:
        w = int.from_bytes(body[4:7], "little") + 1
        h = int.from_bytes(body[7:10], "little") + 1
        return w, h
    return None


@contextlib.contextmanager
def _reader(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """A file to read from its start: a path is opened, an open file is rewound."""
    if isinstance(source, Path):
        with source.open("rb") as f:
            yield f
    else:
        source.seek(0)
        yield source


def dimensions(source: Path | BinaryIO) -> tuple[int, int] | None:
    """Width and height from the file's header, or None when unknown or unparseable."""
    with _reader(source) as f:
        head = f.read(32)
        mime = sniff(head)
        if mime == "image/png":
            if head[12:16] != b"IHDR" or len(head) < 24:
                return None
            w, h = struct.unpack(">II", head[16:24])
            return (w, h) if w and h else None
        if mime == "image/gif":
            if len(head) < 10:
                return None
            w, h = struct.unpack("<HH", head[6:10])
            return (w, h) if w and h else None
        if mime == "image/webp":
            return _webp_size(head)
        if mime == "image/jpeg":
            f.seek(2)
            return _jpeg_size(f)
        if mime is None:
            from imggen.files import svg

            if svg.sniff(head + f.read(32)):
                f.seek(0)
                return svg.pixels(f.read(svg.CAP + 1))
    return None


def _last_nonzero(f: BinaryIO, size: int) -> int:
    """Offset of the last non-zero byte, scanning back in pieces; -1 if all zero."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        f.seek(start)
        piece = f.read(end - start).rstrip(b"\x00")
        if piece:
            return start + len(piece) - 1
        end = start
    return -1


def has_alpha(source: Path | BinaryIO) -> bool | None:
    """Whether the image can hold transparency: a PNG with an alpha channel or a tRNS chunk, a
    WEBP with its alpha flag; False for JPEG and opaque ones; None when unknown (GIF, junk)."""
    with _reader(source) as f:
        head = f.read(32)
        mime = sniff(head)
        if mime == "image/jpeg":
            return False
        if mime == "image/webp":
            kind = head[12:16]
            if kind == b"VP8X" and len(head) > 20:
                return bool(head[20] & 0x10)  # the ALPHA flag
            if kind == b"VP8L" and len(head) >= 25:
                return bool(int.from_bytes(head[21:25], "little") >> 28 & 1)  # alpha_is_used
            return False if kind == b"VP8 " else None
        if mime != "image/png" or len(head) < 26 or head[12:16] != b"IHDR":
            return None
        if head[25] in (4, 6):  # grey + alpha, RGBA
            return True
        f.seek(8)
        while len(raw := f.read(8)) == 8:  # a tRNS chunk comes before the first IDAT
            (size,) = struct.unpack(">I", raw[:4])
            if raw[4:] == b"tRNS":
                return True
            if raw[4:] in (b"IDAT", b"IEND"):
                return False
            f.seek(size + 4, 1)
        return False


def is_complete(path: Path, mime: str) -> bool:
    """Whether the file ends the way a whole image of `mime` ends (a cheap truncation check)."""
    if mime not in MIME_EXT:
        raise ValueError(f"cannot check completeness of {mime}")
    if mime == "image/svg+xml":
        from imggen.files import svg

        return path.stat().st_size <= svg.CAP and svg.problem(path.read_bytes()) is None
    with path.open("rb") as f:
        size = f.seek(0, 2)
        if size < 12:
            return False
        if mime == "image/png":
            f.seek(size - 12)
            return f.read(12) == _IEND
        if mime == "image/gif":
            f.seek(size - 1)
            return f.read(1) == b"\x3b"
        if mime == "image/webp":
            f.seek(4)
            (declared,) = struct.unpack("<I", f.read(4))
            return bool(declared == size - 8)
        last = _last_nonzero(f, size)  # JPEG: FFD9, then maybe zero padding
        if last < 1:
            return False
        f.seek(last - 1)
        return f.read(2) == b"\xff\xd9"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_keyword(key: str) -> bytes:
    keyword = key.encode("latin-1")  # PNG keywords: 1-79 Latin-1 characters, no NUL
    if not 1 <= len(keyword) <= 79 or b"\x00" in keyword:
        raise ValueError(f"bad PNG text keyword {key!r}")
    return keyword


# The keywords the PNG specification registers: viewers and `identify -verbose` show them,
# and several (ImageMagick 6) read them only from tEXt, not iTXt.
_REGISTERED = frozenset(
    ("Title", "Author", "Description", "Copyright", "Creation Time", "Software")
    + ("Disclaimer", "Warning", "Source", "Comment")
)


def text_chunk(key: str, value: str) -> bytes:
    """One PNG text chunk: a registered keyword's ASCII text as tEXt; anything else as iTXt
    (UTF-8). (tEXt may hold Latin-1, but tools print its bytes raw, which a UTF-8 terminal
    garbles.) Raises ValueError for a keyword PNG cannot hold."""
    keyword = png_keyword(key)
    if key in _REGISTERED and value.isascii():
        return _chunk(b"tEXt", keyword + b"\x00" + value.encode("ascii"))
    # keyword NUL, compression flag 0, method 0, empty language NUL, empty translation NUL
    return _chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def _inflate(data: bytes) -> bytes | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, _TEXT_CAP)
    except zlib.error:
        return None
    return None if d.unconsumed_tail else out


def _decode_text(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk's data; None if malformed."""
    key, sep, rest = data.partition(b"\x00")
    if not sep or not key:
        return None
    keyword = key.decode("latin-1")
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"zTXt":
        raw = _inflate(rest[1:]) if rest[:1] == b"\x00" else None
        return None if raw is None else (keyword, raw.decode("latin-1"))
    if len(rest) < 2:
        return None
    flag, method, rest = rest[0], rest[1], rest[2:]
    _lang, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, body = rest.partition(b"\x00")
    if not (sep1 and sep2) or flag not in (0, 1) or method != 0:
        return None
    raw = _inflate(body) if flag else body
    if raw is None:
        return None
    try:
        return keyword, raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_png_text(source: Path | BinaryIO) -> dict[str, str]:
    """Text chunks (tEXt, zTXt, iTXt) before the first IDAT; the first of a keyword wins."""
    found: dict[str, str] = {}
    with _reader(source) as f:
        if f.read(8) != PNG_SIG:
            return found
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            (length,) = struct.unpack(">I", header[:4])
            kind = header[4:8]
            if kind in (b"IDAT", b"IEND"):
                break
            if kind not in TEXT_TYPES or length > _TEXT_CAP:
                f.seek(length + 4, 1)
                continue
            data = f.read(length)
            crc = f.read(4)
            if len(crc) < 4:
                break
            if struct.unpack(">I", crc)[0] != zlib.crc32(data, zlib.crc32(kind)):
                continue  # corrupt chunk: ignore it
            item = _decode_text(kind, data)
            if item is not None:
                found.setdefault(*item)
    return found


def looks_like_html(head: bytes) -> bool:
    """Whether a body's first bytes are an HTML page: a proxy's error page, or a website where
    the API or an image should be. The one sniffer for replies, error bodies and image files."""
    text = head.lstrip()[:512].lower()
    if text.startswith((b"<!doctype", b"<html", b"<head", b"<body")):
        return True
    return text.startswith(b"<") and b"<body" in text
