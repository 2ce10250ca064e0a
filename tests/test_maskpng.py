"""A transparent-where-to-repaint --mask turned into Recraft's black-and-white mask: every PNG
layout a mask is saved in, each filter, bounded work on damaged or lying files."""

from __future__ import annotations

import struct
import zlib

import pytest

from imggen.errors import InputError
from imggen.files.maskpng import black_and_white, rows


def png(
    width: int, height: int, colour: int, depth: int, raw_rows: list[bytes], **extra: bytes
) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    middle = b"".join(chunk(kind.encode(), body) for kind, body in extra.items())
    idat = zlib.compress(b"".join(raw_rows))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + middle
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def grey_rows(data: bytes) -> list[bytes]:
    width, height = struct.unpack(">II", data[16:24])
    assert data[24:26] == b"\x08\x00"  # 8-bit grayscale
    return list(rows(data, width, height, 1))


def test_rgba_transparent_pixels_become_white_others_black() -> None:
    # row 0: clear, opaque; row 1: half-transparent (kept), clear
    raw = [b"\x00" + bytes([9, 9, 9, 0, 9, 9, 9, 255]), b"\x00" + bytes([1, 2, 3, 128, 0, 0, 0, 0])]
    out = black_and_white(png(2, 2, 6, 8, raw))
    assert grey_rows(out) == [b"\xff\x00", b"\x00\xff"]


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_every_png_filter_is_undone(kind: int) -> None:
    # grey+alpha, 3 pixels a row; filtered bytes chosen so that the unfiltered alpha is known:
    # encode rows with the filter by hand from the plain rows
    plain = [bytes([5, 0, 5, 255, 5, 0]), bytes([7, 255, 7, 0, 7, 255])]
    bpp, prev, raw = 2, bytes(6), []
    for line in plain:
        enc = bytearray()
        for i, x in enumerate(line):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                guess = left
            elif kind == 2:
                guess = up
            elif kind == 3:
                guess = (left + up) // 2
            else:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            enc.append((x - guess) & 255)
        raw.append(bytes([kind]) + bytes(enc))
        prev = line
    out = black_and_white(png(3, 2, 4, 8, raw))
    assert grey_rows(out) == [b"\xff\x00\xff", b"\x00\xff\x00"]


def test_palette_rgb_and_grey_with_trns_and_16_bit_rgba() -> None:
    palette = png(3, 1, 3, 8, [b"\x00\x00\x01\x02"], PLTE=bytes(9), tRNS=b"\xff\x00")
    assert grey_rows(black_and_white(palette)) == [b"\x00\xff\x00"]
    rgb = png(2, 1, 2, 8, [b"\x00" + bytes([1, 2, 3, 4, 5, 6])], tRNS=b"\x00\x04\x00\x05\x00\x06")
    assert grey_rows(black_and_white(rgb)) == [b"\x00\xff"]
    grey = png(2, 1, 0, 8, [b"\x00\x07\x08"], tRNS=b"\x00\x08")
    assert grey_rows(black_and_white(grey)) == [b"\x00\xff"]
    deep = png(2, 1, 6, 16, [b"\x00" + bytes(6) + b"\x00\x00" + bytes(6) + b"\x00\x01"])
    assert grey_rows(black_and_white(deep)) == [b"\xff\x00"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"GIF89a" + bytes(40), "not a PNG"),
        (png(2, 1, 6, 8, [b"\x00" + bytes(8)])[:-30], "could not be read"),
        (png(1, 1, 3, 4, [b"\x00\x00"]), "cannot turn into"),
        (png(4, 100, 6, 8, [b"\x00" + bytes(16)]), "ends early"),
        (png(1, 1, 6, 8, [b"\x09" + bytes(4)]), "bad PNG filter"),
    ],
)
def test_unreadable_masks_are_input_errors(data: bytes, words: str) -> None:
    with pytest.raises(InputError, match=words):
        black_and_white(data, "mask m.png")


def test_a_lying_header_costs_no_more_than_its_data() -> None:
    """A mask claiming 30000x30000 pixels with a few bytes of data fails at once: rows are
    made only from data that arrived, never allocated from the header's promise."""
    huge = png(30000, 30000, 6, 8, [b"\x00" + bytes(100)])
    with pytest.raises(InputError, match="ends early"):
        black_and_white(huge)


def test_a_header_claiming_billions_of_pixels_is_refused_before_any_buffer() -> None:
    with pytest.raises(InputError, match="too large a mask"):
        black_and_white(png(1 << 31, 1, 6, 8, [b"\x00"]))
