"""What an edit on the fake gateway answers: the input PNG's own pixels, scaled to the size
asked, lightened and framed in the edit's colour, so an edit visibly comes from its input.
Bounded: inputs and outputs past a few megapixels get a marked placeholder instead."""

from __future__ import annotations

import struct
import zlib

from imggen.testing.pictures import RGB, idat_of, png_chunk

EDIT_INPUT_PIXELS = 1 << 20  # inputs decoded in Python at most this big
EDIT_OUTPUT_PIXELS = 1 << 22
_CHANNELS = {2: 3, 6: 4}  # PNG colour type -> samples per pixel (8-bit RGB, RGBA)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytes]:
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if len(line) != stride:
            raise ValueError("short PNG data")
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind in (3, 4):
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
                guess = (left + up) // 2 if kind == 3 else _paeth(left, up, corner)
                line[i] = (line[i] + guess) & 255
        elif kind != 0:
            raise ValueError(f"bad PNG filter {kind}")
        rows.append(bytes(line))
        prev = line
    return rows


def decode_png(data: bytes) -> tuple[int, int, list[bytes]] | None:
    """(width, height, RGB rows) of an 8-bit RGB/RGBA non-interlaced PNG no larger than
    EDIT_INPUT_PIXELS; None for anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    bpp = _CHANNELS.get(colour)
    if bpp is None or depth != 8 or interlace or not 0 < width * height <= EDIT_INPUT_PIXELS:
        return None
    pos, idat = 8, bytearray()
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(bytes(idat), height * (width * bpp + 1))
        rows = _unfilter(raw, width, height, bpp)
    except (zlib.error, ValueError, IndexError):
        return None
    if bpp == 4:
        rows = [b"".join(row[i : i + 3] for i in range(0, len(row), 4)) for row in rows]
    return width, height, rows


def derived_png(source: bytes, width: int, height: int, accent: RGB) -> bytes | None:
    """The edit of ``source``: its pixels scaled (nearest) to width x height, lightened, in a
    frame of ``accent``; None when the input cannot be decoded here or the output is too big."""
    if width * height > EDIT_OUTPUT_PIXELS:
        return None
    decoded = decode_png(source)
    if decoded is None:
        return None
    src_w, src_h, rows = decoded
    lighten = bytes((v + 255) // 2 for v in range(256))
    frame = max(1, min(width, height) // 24)
    xmap = [x * src_w // width for x in range(width)]
    edge = bytes(accent) * frame
    inner = max(0, width - 2 * frame)
    groups: list[tuple[bytes, int]] = []
    cache: dict[int, bytes] = {}

    def add(row: bytes) -> None:
        if groups and groups[-1][0] == row:
            groups[-1] = (row, groups[-1][1] + 1)
        else:
            groups.append((row, 1))

    full = b"\x00" + bytes(accent) * width
    for y in range(height):
        if y < frame or y >= height - frame or not inner:
            add(full)
            continue
        sy = y * src_h // height
        if sy not in cache:
            src = rows[sy]
            pixels = b"".join(src[3 * x : 3 * x + 3] for x in xmap[frame : frame + inner])
            cache[sy] = b"\x00" + (edge + pixels.translate(lighten) + edge)[: 3 * width]
        add(cache[sy])
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat_of(groups))
        + png_chunk(b"IEND", b"")
    )
