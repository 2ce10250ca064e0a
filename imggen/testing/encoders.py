"""Real, decodable JPEG and WebP files of a two-colour Layout, in pure Python and fast at any
size: a baseline JPEG whose 8x8 blocks are each one colour (only DC coefficients, every AC
block ends at once), and a lossless WebP (VP8L) whose prefix codes have one or two symbols."""

from __future__ import annotations

import struct

from imggen.testing.font import Layout

RGB = tuple[int, int, int]

# ---- JPEG (ITU T.81 baseline, 4:4:4, one quantisation table of 8s) -------------------------

# the standard luminance DC table (T.81 Annex K.3); the AC table holds only EOB, coded "0"
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
_AC_BITS = (1,) + (0,) * 15
_Q = 8  # every quantiser: a block's DC coefficient 8*(v-128) is stored as v-128


def _canonical(bits: tuple[int, ...]) -> list[str]:
    codes, code = [], 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes.append(format(code, f"0{length}b"))
            code += 1
        code <<= 1
    return codes


_DC_CODES = _canonical(_DC_BITS)  # by category (the values are 0..11 in order)


def _ycbcr(rgb: RGB) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return tuple(min(255, max(0, round(v))) - 128 for v in (y, cb, cr))  # type: ignore[return-value]


def _dc(diff: int) -> str:
    """One block: its DC difference (category code + extra bits), then EOB ("0")."""
    if diff == 0:
        return "000"
    cat = abs(diff).bit_length()
    extra = diff if diff > 0 else diff + (1 << cat) - 1
    return _DC_CODES[cat] + format(extra, f"0{cat}b") + "0"


def _block_rows(layout: Layout) -> list[tuple[tuple[int, int], ...]]:
    """Each row of 8x8 blocks as (colour, blocks) runs, sampled at the blocks' top-left."""
    out: list[tuple[tuple[int, int], ...]] = []
    y = 0
    for runs, count in layout.rows:
        blocks: list[tuple[int, int]] = []
        x = 0
        for colour, length in runs:
            n = -(-(x + length) // 8) - -(-x // 8)
            if n:
                blocks.append((colour, n))
            x += length
        first, end = -(-y // 8), -(-(y + count) // 8)
        out += [tuple(blocks)] * (end - first)
        y += count
    return out


def make_jpeg(layout: Layout, colours: tuple[RGB, RGB]) -> bytes:
    """A baseline JFIF JPEG of ``layout`` (runs on 8-pixel boundaries: layout(grid=8))."""
    width, height = layout.width, layout.height
    if not (0 < width < 65536 and 0 < height < 65536):
        raise ValueError(f"bad JPEG size {width}x{height}")
    values = [_ycbcr(c) for c in colours]
    pred = [0, 0, 0]
    bits: list[str] = []
    for row in _block_rows(layout):
        for colour, n in row:
            mcu = ""
            for comp in range(3):
                mcu += _dc(values[colour][comp] - pred[comp])
                pred[comp] = values[colour][comp]
            bits.append(mcu + "0" * (9 * (n - 1)))  # the same colour again: all zero bits
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    data = int(stream, 2).to_bytes(len(stream) // 8, "big") if stream else b""
    data = data.replace(b"\xff", b"\xff\x00")

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    app0 = b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00"
    dqt = b"\x00" + bytes([_Q]) * 64
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    dht = b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES) + b"\x10" + bytes(_AC_BITS) + b"\x00"
    sos = b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + segment(0xE0, app0)
        + segment(0xDB, dqt)
        + segment(0xC0, sof)
        + segment(0xC4, dht)
        + segment(0xDA, sos)
        + data
        + b"\xff\xd9"
    )


# ---- WebP lossless (VP8L: no transforms, no colour cache, one group of prefix codes) -------

WEBP_TEXT_PIXELS = 4_200_000  # above this a WebP placeholder is one flat colour (no words)


def _bits(value: int, count: int) -> str:
    """``value`` in ``count`` bits, least significant first (VP8L's bit order)."""
    return "".join("1" if value >> i & 1 else "0" for i in range(count))


def _simple_code(symbols: list[int]) -> tuple[str, dict[int, str]]:
    """A VP8L "simple" prefix code of one or two 8-bit symbols: its header and each symbol's
    code (none for one symbol; the smaller symbol is "0" for two)."""
    head = "1" + _bits(len(symbols) - 1, 1) + "1" + _bits(symbols[0], 8)
    if len(symbols) == 1:
        return head, {symbols[0]: ""}
    head += _bits(symbols[1], 8)
    low, high = sorted(symbols)
    return head, {low: "0", high: "1"}


def make_webp(layout: Layout, colours: tuple[RGB, RGB], alpha: bool = False) -> bytes:
    """A lossless WebP of ``layout``: one bit per differing channel per pixel (none when the
    image has one colour); ``alpha``: the background fully transparent."""
    width, height = layout.width, layout.height
    if not (0 < width <= 1 << 14 and 0 < height <= 1 << 14):
        raise ValueError(f"bad WebP size {width}x{height}")
    used = sorted({c for runs, _ in layout.rows for c, _ in runs})
    argb = [(*colours[c], 0 if alpha and c == 0 else 255) for c in (0, 1)]
    head = _bits(0x2F, 8) + _bits(width - 1, 14) + _bits(height - 1, 14) + str(int(alpha))
    head += "000"  # version
    head += "0" + "0" + "0"  # no transform, no colour cache, no meta prefix codes
    channel_codes: list[dict[int, str]] = []
    for channel in (1, 0, 2, 3):  # green, red, blue, alpha
        header, codes = _simple_code(sorted({argb[c][channel] for c in used}))
        head += header
        channel_codes.append(codes)
    head += _simple_code([0])[0]  # distance (unused)
    pixel = {
        c: "".join(
            codes[argb[c][ch]] for codes, ch in zip(channel_codes, (1, 0, 2, 3), strict=True)
        )
        for c in used
    }
    body = "".join("".join(pixel[c] * n for c, n in runs) * count for runs, count in layout.rows)
    stream = head + body
    stream += "0" * (-len(stream) % 8)
    data = int(stream[::-1], 2).to_bytes(len(stream) // 8, "little")
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
