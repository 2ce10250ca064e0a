"""Image bytes the fake gateway serves: real PNGs (solid or noise, made fast at any size), and
JPEG/WEBP files whose magic bytes and headers are right but which are not decodable."""

from __future__ import annotations

import os
import struct
import zlib

IMAGE_FORMATS = {
    "png": ("image/png", "png"),
    "jpeg": ("image/jpeg", "jpg"),
    "webp": ("image/webp", "webp"),
}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def solid_idat(row: bytes, height: int) -> bytes:
    """zlib stream of ``row * height`` without compressing all of it.

    One block of rows is deflated (raw, ending with a full flush so it refers to nothing before
    it) and the compressed block is repeated; only the Adler-32 checksum walks the whole data.
    """
    rows_per_block = max(1, (1 << 18) // len(row))
    count, rest = divmod(height, rows_per_block)
    block = row * rows_per_block
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = comp.compress(row * rest) + comp.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    return b"\x78\x9c" + piece * count + tail + struct.pack(">I", adler)


def make_png(
    width: int, height: int, noise: bool = False, color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """A valid 8-bit RGB PNG (filter 0 on every row): solid ``color``, or random noise."""
    if width < 1 or height < 1:
        raise ValueError(f"bad PNG size {width}x{height}")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if noise:
        raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
        idat = zlib.compress(raw, 0)  # incompressible anyway: store it
    else:
        idat = solid_idat(b"\x00" + bytes(color) * width, height)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def with_transparency(png: bytes) -> bytes:
    """An RGB PNG with a tRNS chunk (one colour transparent): it holds transparency."""
    at = 8 + 8 + 13 + 4  # signature, then the IHDR chunk
    return png[:at] + png_chunk(b"tRNS", b"\x00\x00\x00\x00\x00\x00") + png[at:]


def make_jpeg_header(width: int, height: int) -> bytes:
    """SOI + APP0 JFIF + SOF0 (with the size) + EOI: right magic and size, not decodable."""
    if not (0 < width < 65536 and 0 < height < 65536):
        raise ValueError(f"bad JPEG size {width}x{height}")
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1)
    app0 += b"\x00\x00"
    components = b"\x01\x22\x00" + b"\x02\x11\x01" + b"\x03\x11\x01"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 8 + len(components), 8, height, width, 3)
    return b"\xff\xd8" + app0 + sof0 + components + b"\xff\xd9"


def make_webp_header(width: int, height: int) -> bytes:
    """RIFF/WEBP with one VP8X chunk (canvas size): right magic and size, not decodable."""
    if not (0 < width <= 1 << 24 and 0 < height <= 1 << 24):
        raise ValueError(f"bad WEBP size {width}x{height}")
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def image_size_of(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of bytes made by this module (PNG IHDR, JPEG SOF0, WEBP VP8X)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 4 <= len(data) and data[index] == 0xFF:
            marker = data[index + 1]
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            if marker == 0xC0:
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return "jpeg", width, height
            index += 2 + length
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return "webp", width, height
    raise ValueError("not an image made by imggen.testing")
