"""A `--mask` as a provider that wants black and white: imggen's masks mark the area to repaint
with transparent pixels (OpenAI's convention, seed 002); Recraft's inpaint wants a grayscale
image of the same size, white (255) where to regenerate and black (0) where to keep, every
pixel one of the two (https://www.recraft.ai/docs/api-reference/tools/inpainting).

Decoded and encoded a row at a time: memory grows with the width, not the image. Pure."""

from __future__ import annotations

import functools
import itertools
import struct
import zlib
from collections.abc import Iterator

from imggen.errors import InputError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (colour type, bit depth) -> bytes per pixel; the alpha (or tRNS lookup) is read per type
_BPP = {(0, 8): 1, (2, 8): 3, (3, 8): 1, (4, 8): 2, (6, 8): 4, (4, 16): 4, (6, 16): 8}
_CHUNK = 1 << 16  # inflated bytes asked of the inflater at a time
_MAX_SIDE = 1 << 15  # a row buffer is allocated from the header's width: bound it first


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        yield kind, data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos += 12 + length


@functools.lru_cache(maxsize=8)
def _lanes(n: int) -> tuple[int, int]:
    """Masks of n bytes: every low 7 bits, every high bit (bytewise addition in one int)."""
    return int.from_bytes(b"\x7f" * n, "little"), int.from_bytes(b"\x80" * n, "little")


def _add(a: int, b: int) -> int:
    return (a + b) & 255


def _unfilter_channel(kind: int, ch: bytearray, up: bytes | bytearray) -> None:
    """Undo one row's PNG filter (PNG spec 9.2) on one byte channel of it, in place: a byte's
    filter reads only the same channel (the pixel to its left, above, above-left), so each
    channel unfilters alone, as a row of one byte per pixel."""
    if kind == 1:
        summed: list[int] = list(itertools.accumulate(ch, _add))
        ch[:] = bytes(summed)
    elif kind == 2:  # bytewise (a + b) mod 256 over the whole row at once
        low, high = _lanes(len(ch))
        a, b = int.from_bytes(ch, "little"), int.from_bytes(up, "little")
        ch[:] = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(len(ch), "little")
    elif kind == 3:
        left = 0
        for i, above in enumerate(up):
            left = ch[i] = (ch[i] + (left + above) // 2) & 255
    elif kind == 4:
        left = corner = 0
        for i, above in enumerate(up):
            p = left + above - corner
            pa, pb, pc = abs(p - left), abs(p - above), abs(p - corner)
            guess = left if pa <= pb and pa <= pc else above if pb <= pc else corner
            left, corner = (ch[i] + guess) & 255, above
            ch[i] = left
    elif kind != 0:
        raise ValueError(f"bad PNG filter {kind}")


def rows(
    data: bytes, width: int, height: int, bpp: int, only: tuple[int, ...] = ()
) -> Iterator[bytes]:
    """The unfiltered rows of the IDAT stream, one at a time, inflating a bounded piece at a
    time (a small mask cannot inflate into gigabytes: rows past the height are never made).
    `only`: the byte offsets within a pixel worth unfiltering (the alpha's); the others are
    left as they came."""
    stride = width * bpp
    offsets = only or tuple(range(bpp))
    inflater = zlib.decompressobj()
    pending = bytearray()
    prev = bytearray(stride)
    made = 0
    for kind, part in _chunks(data):
        if kind != b"IDAT":
            continue
        left = part
        while made < height:
            got = inflater.decompress(left, _CHUNK)
            left = inflater.unconsumed_tail
            pending += got
            while len(pending) > stride and made < height:
                line = bytearray(pending[1 : stride + 1])
                for k in offsets:
                    channel = line[k::bpp]
                    _unfilter_channel(pending[0], channel, prev[k::bpp])
                    line[k::bpp] = channel
                del pending[: stride + 1]
                prev, made = line, made + 1
                yield bytes(line)
            if not left and not got:
                break
    if made < height:
        raise ValueError("its image data ends early")


def _keep_table(colour: int, trns: bytes) -> bytes | None:
    """For palette masks: a byte translation from palette index to 255 (repaint) or 0."""
    if colour != 3:
        return None
    alphas = trns.ljust(256, b"\xff")[:256]
    return bytes(255 if a == 0 else 0 for a in alphas)


_CLEAR = bytes([255] + [0] * 255)  # an alpha byte -> the mask's byte: 0 (clear) repaints


def _white_where_clear(
    row: bytes, colour: int, depth: int, trns: bytes, table: bytes | None
) -> bytes:
    """One grayscale row: 255 where the mask row is fully transparent, else 0."""
    if colour in (6, 4):
        size = (4 if colour == 6 else 2) * (depth // 8)
        if depth == 8:
            return row[size - 1 :: size].translate(_CLEAR)
        high, low = row[size - 2 :: size], row[size - 1 :: size]
        return bytes(255 if h == 0 and lo == 0 else 0 for h, lo in zip(high, low, strict=True))
    if table is not None:
        return row.translate(table)
    if colour == 0:  # tRNS names the one transparent grey (2 bytes, low one used at 8 bits)
        grey = trns[1] if len(trns) >= 2 else -1
        return bytes(255 if v == grey else 0 for v in row)
    key = bytes(trns[1::2][:3]) if len(trns) >= 6 else None  # colour type 2
    return bytes(255 if row[i : i + 3] == key else 0 for i in range(0, len(row), 3))


def black_and_white(data: bytes, source: str = "the mask") -> bytes:
    """The mask (a PNG whose transparent pixels mark the area to repaint) as an 8-bit
    grayscale PNG of the same size: white to regenerate, black to keep. Raises InputError for
    a PNG it cannot read (interlaced, palette or grey below 8 bits, damaged)."""
    if data[:8] != _SIGNATURE or data[12:16] != b"IHDR" or len(data) < 33:
        raise InputError(f"{source} is not a PNG imggen can read")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    bpp = _BPP.get((colour, depth))
    if not 0 < width <= _MAX_SIDE or not 0 < height <= _MAX_SIDE:
        raise InputError(f"{source} is {width}x{height} pixels: too large a mask")
    if bpp is None or interlace:
        raise InputError(
            f"{source} is a PNG imggen cannot turn into a black-and-white mask "
            f"(colour type {colour}, {depth}-bit{', interlaced' if interlace else ''})",
            hint="save the mask as an 8-bit RGBA PNG, not interlaced",
        )
    trns = next((part for kind, part in _chunks(data) if kind == b"tRNS"), b"")
    table = _keep_table(colour, trns)
    packer = zlib.compressobj(9)
    out = bytearray()
    try:
        # only the alpha's bytes matter where there is an alpha channel (its last 1 or 2)
        alpha = tuple(range(bpp - depth // 8, bpp)) if colour in (4, 6) else ()
        for row in rows(data, width, height, bpp, alpha):
            line = _white_where_clear(row, colour, depth, trns, table)
            out += packer.compress(b"\x00" + line)
    except (zlib.error, ValueError) as exc:
        raise InputError(f"{source} could not be read as a PNG: {exc}") from None
    out += packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", bytes(out)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
