"""imagefile: magic bytes, pixel sizes from headers, truncation, PNG text chunks."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest

from imggen.files.imagefile import (
    MIME_EXT,
    dimensions,
    is_complete,
    read_png_text,
    sniff,
)
from imggen.files.streamcheck import copy_with_png_text


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(w: int = 3, h: int = 2, extra: bytes = b"") -> bytes:
    """A valid RGB PNG; `extra` chunks go between IHDR and IDAT."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x10\x20\x30" * w for _ in range(h))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def chunks_of(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored crc) of each chunk."""
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        out.append((kind, body, crc))
        pos += 12 + n
    return out


JPEG = (
    b"\xff\xd8"  # SOI
    + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # APP0
    + b"\xff\xdb\x00\x43\x00"
    + bytes(64)  # DQT (dummy table)
    + b"\xff\xc4\x00\x05\x00\x00\x00"  # DHT: C4 is not a frame header
    + b"\xff\xc2\x00\x11\x08\x02\xd0\x05\x00\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"  # SOF2
    + b"\xff\xd9"  # EOI
)

VP8X = b"RIFF" + struct.pack("<I", 22) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes(4)
VP8X += (1919).to_bytes(3, "little") + (1079).to_bytes(3, "little")
VP8L = b"RIFF" + struct.pack("<I", 18) + b"WEBPVP8L" + struct.pack("<I", 5) + b"\x2f"
VP8L += struct.pack("<I", (640 - 1) | ((480 - 1) << 14)) + b"\x00"  # odd chunk: one pad byte
VP8 = b"RIFF" + struct.pack("<I", 22) + b"WEBPVP8 " + struct.pack("<I", 10)
VP8 += b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 1024, 768)
GIF = b"GIF89a" + struct.pack("<HH", 320, 200) + b"\x00\x00\x00" + b"\x3b"


@pytest.fixture
def write(tmp_path: Path):
    def _write(data: bytes, name: str = "img") -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p

    return _write


@pytest.mark.parametrize(
    ("data", "mime", "size"),
    [
        (make_png(3, 2), "image/png", (3, 2)),
        (JPEG, "image/jpeg", (1280, 720)),
        (VP8X, "image/webp", (1920, 1080)),
        (VP8L, "image/webp", (640, 480)),
        (VP8, "image/webp", (1024, 768)),
        (GIF, "image/gif", (320, 200)),
        (b"GIF87a" + GIF[6:], "image/gif", (320, 200)),
    ],
)
def test_sniff_dimensions_and_complete(write, data, mime, size):
    assert sniff(data[:32]) == mime
    assert mime in MIME_EXT
    path = write(data)
    assert dimensions(path) == size
    assert is_complete(path, mime)


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><body>Forbidden</body></html>",
        b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
        b'{"error": {"message": "expired"}}',
        b"",
        b"\x89PN",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"iVBORw0KGgoAAAANSUhEUgAA",  # base64 of a PNG, not a PNG
    ],
)
def test_sniff_non_images(write, head):
    assert sniff(head) is None
    assert dimensions(write(head)) is None


def test_mime_ext():
    assert MIME_EXT == {
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "image/webp": ".webp",
        "image/gif": ".gif",
        "image/svg+xml": ".svg",
    }


def test_jpeg_without_frame_header_has_no_dimensions(write):
    no_sof = JPEG.replace(b"\xff\xc2", b"\xff\xe1")  # the SOF2 segment becomes APP1
    assert dimensions(write(no_sof)) is None
    assert dimensions(write(JPEG[:30])) is None


def test_jpeg_dac_and_jpg_markers_are_not_frames(write):
    dac = b"\xff\xcc\x00\x06" + bytes(4)
    assert dimensions(write(JPEG[:2] + dac + JPEG[2:])) == (1280, 720)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (make_png(), "image/png"),
        (JPEG, "image/jpeg"),
        (VP8X, "image/webp"),
        (GIF, "image/gif"),
    ],
)
def test_is_complete_false_on_cut_file(write, data, mime):
    assert not is_complete(write(data[:-3]), mime)


def test_is_complete_jpeg_allows_zero_padding(write):
    assert is_complete(write(JPEG + bytes(70_000)), "image/jpeg")
    assert not is_complete(write(JPEG[:-2] + bytes(10)), "image/jpeg")
    assert not is_complete(write(bytes(100)), "image/jpeg")


def test_is_complete_webp_size_field(write):
    assert not is_complete(write(VP8X + b"\x00\x00"), "image/webp")


def test_png_dimensions_need_ihdr_first(write):
    png = make_png(5, 7)
    assert dimensions(write(png)) == (5, 7)
    assert dimensions(write(png[:20])) is None
    broken = png[:12] + b"IHDX" + png[16:]
    assert dimensions(write(broken)) is None


def test_png_text_round_trip(write, tmp_path):
    src = write(make_png(4, 4), "src.png")
    meta = json.dumps({"prompt": "日没の海 — café ☀", "model": "gpt-image-2"}, ensure_ascii=False)
    out = io.BytesIO()
    copy_with_png_text(src, out, {"imggen": meta, "Comment": "plain"})
    dst = tmp_path / "dst.png"
    dst.write_bytes(out.getvalue())

    assert read_png_text(dst) == {"imggen": meta, "Comment": "plain"}
    assert json.loads(read_png_text(dst)["imggen"])["prompt"] == "日没の海 — café ☀"
    assert dimensions(dst) == (4, 4)
    assert is_complete(dst, "image/png")

    parts = chunks_of(out.getvalue())
    # a registered keyword's ASCII text is tEXt, which every viewer reads
    assert [k for k, _, _ in parts] == [b"IHDR", b"iTXt", b"tEXt", b"IDAT", b"IEND"]
    assert parts[2][1] == b"Comment\x00plain"
    for kind, body, crc in parts:
        assert crc == zlib.crc32(kind + body)
    kind, body, _ = parts[1]
    assert body == b"imggen\x00\x00\x00\x00\x00" + meta.encode("utf-8")
    # everything but the inserted chunks is copied byte for byte
    original = chunks_of(src.read_bytes())
    assert [p for p in parts if p[0] not in (b"iTXt", b"tEXt")] == original


def test_registered_keyword_beyond_ascii_stays_itxt(write, tmp_path):
    out = io.BytesIO()
    copy_with_png_text(write(make_png(4, 4), "src.png"), out, {"Description": "日没 café"})
    (dst := tmp_path / "dst.png").write_bytes(out.getvalue())
    assert [k for k, _, _ in chunks_of(out.getvalue())][1] == b"iTXt"
    assert read_png_text(dst) == {"Description": "日没 café"}


def test_png_text_replaces_same_key_before_idat(write, tmp_path):
    old = chunk(b"tEXt", b"imggen\x00old") + chunk(b"tEXt", b"Other\x00kept")
    src = write(make_png(extra=old), "src.png")
    out = io.BytesIO()
    copy_with_png_text(src, out, {"imggen": "new"})
    dst = tmp_path / "dst.png"
    dst.write_bytes(out.getvalue())
    assert read_png_text(dst) == {"imggen": "new", "Other": "kept"}
    assert out.getvalue().count(b"imggen") == 1


def test_copy_with_png_text_refuses_non_png(write):
    with pytest.raises(ValueError, match="PNG signature"):
        copy_with_png_text(write(JPEG), io.BytesIO(), {"a": "b"})
    with pytest.raises(ValueError, match="keyword"):
        copy_with_png_text(write(make_png()), io.BytesIO(), {"": "b"})


def test_copy_streams_large_idat(write, tmp_path):
    big = chunk(b"IDAT", bytes(3 << 20))
    data = make_png()
    pos = data.index(b"IDAT") - 4
    src = write(data[:pos] + big + data[pos:], "big.png")
    out = io.BytesIO()
    copy_with_png_text(src, out, {"k": "v"})
    assert len(out.getvalue()) == src.stat().st_size + len(
        chunk(b"iTXt", b"k\x00\x00\x00\x00\x00v")
    )


def test_read_png_text_kinds(write):
    itxt_z = b"Zi\x00\x01\x00en\x00Titel\x00" + zlib.compress("grüße ✓".encode())
    extra = (
        chunk(b"tEXt", b"Author\x00J\xf6rg")  # Latin-1
        + chunk(b"zTXt", b"Desc\x00\x00" + zlib.compress(b"squeezed"))
        + chunk(b"iTXt", itxt_z)
        + chunk(b"tEXt", b"Author\x00second")  # the first of a keyword wins
        + chunk(b"tEXt", b"nonul")  # malformed: ignored
    )
    bad_crc = chunk(b"tEXt", b"Bad\x00x")[:-4] + b"\x00\x00\x00\x00"
    data = make_png(extra=extra + bad_crc)
    after_idat = chunk(b"tEXt", b"Late\x00ignored")
    pos = data.index(b"IEND") - 4
    path = write(data[:pos] + after_idat + data[pos:], "t.png")
    assert read_png_text(path) == {"Author": "Jörg", "Desc": "squeezed", "Zi": "grüße ✓"}


def test_read_png_text_on_non_png_and_truncated(write):
    assert read_png_text(write(JPEG)) == {}
    data = make_png(extra=chunk(b"tEXt", b"k\x00v"))
    assert read_png_text(write(data[:40])) == {}


def test_copy_and_read_use_bounded_memory(write, tmp_path):
    data = make_png()
    pos = data.index(b"IDAT") - 4
    src = write(data[:pos] + chunk(b"IDAT", bytes(8 << 20)) + data[pos:], "big.png")
    tracemalloc.start()
    try:
        with (tmp_path / "out.png").open("wb") as out:
            copy_with_png_text(src, out, {"imggen": "{}"})
        assert read_png_text(tmp_path / "out.png") == {"imggen": "{}"}
        assert dimensions(tmp_path / "out.png") == (3, 2)
        assert is_complete(tmp_path / "out.png", "image/png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 << 20
