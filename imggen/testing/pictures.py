"""Image bytes the fake gateway serves: real PNGs, JPEGs and WebPs (one colour with words on
it, or noise), made fast at any size."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

from imggen.testing.encoders import RGB, WEBP_TEXT_PIXELS, make_jpeg, make_webp

__all__ = ["RGB"]
from imggen.testing.font import Layout, caption, layout

IMAGE_FORMATS = {
    "png": ("image/png", "png"),
    "jpeg": ("image/jpeg", "jpg"),
    "webp": ("image/webp", "webp"),
}


def seeded_colour(seed: object, prompt: str, index: int) -> RGB:
    """A colour that depends only on the seed, the prompt and the image's index."""
    digest = hashlib.sha256(f"{seed}\n{prompt}\n{index}".encode()).digest()
    return digest[0], digest[1], digest[2]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def idat_of(groups: list[tuple[bytes, int]]) -> bytes:
    """zlib stream of each ``row * count`` in turn, without compressing all of it.

    Each group's block of rows is deflated once (raw, ending with a full flush so it refers to
    nothing before it) and the compressed block is repeated; only Adler-32 walks all the data.
    """
    out = [b"\x78\x9c"]
    adler = 1
    for at, (row, count) in enumerate(groups):
        rows_per_block = max(1, (1 << 18) // len(row))
        repeat, rest = divmod(count, rows_per_block)
        block = row * rows_per_block
        if repeat:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            out.append((comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)) * repeat)
            for _ in range(repeat):
                adler = zlib.adler32(block, adler)
        last = at == len(groups) - 1
        if rest or last:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            out.append(
                comp.compress(row * rest) + comp.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
            )
            adler = zlib.adler32(row * rest, adler)
    out.append(struct.pack(">I", adler))
    return b"".join(out)


def solid_idat(row: bytes, height: int) -> bytes:
    """zlib stream of ``row * height`` (see idat_of)."""
    return idat_of([(row, height)])


def layout_idat(picture: Layout, colours: tuple[RGB, RGB]) -> bytes:
    """zlib stream of a two-colour Layout's RGB scanlines (filter 0)."""
    groups = []
    for runs, count in picture.rows:
        row = b"\x00" + b"".join(bytes(colours[c]) * n for c, n in runs)
        groups.append((row, count))
    return idat_of(groups)


def make_png(
    width: int,
    height: int,
    noise: bool = False,
    color: RGB = (200, 80, 40),
    picture: Layout | None = None,
    ink: RGB = (255, 255, 255),
) -> bytes:
    """A valid 8-bit RGB PNG (filter 0 on every row): solid ``color``, random noise, or
    ``picture`` (words drawn in ``ink`` on ``color``)."""
    if width < 1 or height < 1:
        raise ValueError(f"bad PNG size {width}x{height}")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if noise:
        raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
        idat = zlib.compress(raw, 0)  # incompressible anyway: store it
    elif picture is not None:
        idat = layout_idat(picture, (color, ink))
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


def placeholder(
    fmt: str,
    width: int,
    height: int,
    colour: RGB,
    prompt: str = "",
    seed: object = None,
    alpha: bool = False,
) -> bytes:
    """A placeholder image in ``fmt``: the prompt's first words, the size and the seed drawn
    on ``colour`` (in black or white, whichever shows); ``alpha``: a WebP's background is
    transparent (a PNG gets its tRNS chunk from with_transparency)."""
    ink = (20, 20, 20) if sum(colour) > 384 else (255, 255, 255)
    lines = caption(prompt, width, height, seed)
    if fmt == "jpeg":
        return make_jpeg(layout(width, height, lines, grid=8), (colour, ink))
    if fmt == "webp":
        words = width * height <= WEBP_TEXT_PIXELS
        return make_webp(layout(width, height, lines if words else []), (colour, ink), alpha)
    return make_png(width, height, color=colour, picture=layout(width, height, lines), ink=ink)


def make_jpeg_header(width: int, height: int, color: RGB = (200, 80, 40)) -> bytes:
    """A real baseline JPEG of one colour (the name is older than the encoder)."""
    return make_jpeg(Layout(width, height, ((((0, width),), height),)), (color, color))


def make_webp_header(width: int, height: int, color: RGB = (200, 80, 40)) -> bytes:
    """A real lossless WebP of one colour (the name is older than the encoder)."""
    return make_webp(Layout(width, height, ((((0, width),), height),)), (color, color))


def image_size_of(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of bytes made by this module (PNG IHDR, JPEG SOF0, WEBP VP8L)."""
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
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return "webp", (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    raise ValueError("not an image made by imggen.testing")
