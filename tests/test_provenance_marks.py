"""What saved images carry at each provenance level, read back by the tools others use:
exiftool and Pillow read the IPTC AI marker in PNG, JPEG and WebP; c2pa-python validates a
provider's Content Credentials after imggen saved the image (nothing inserted)."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from imggen.files import imagefile, xmp
from imggen.files.provenance import read_provenance, sidecar
from imggen.files.save import Landing
from imggen.files.scratch import Scratch
from imggen.files.targets import Target
from imggen.testing import make_png, signed

Image = pytest.importorskip("PIL.Image", reason="Pillow (a dev dependency) reads images back")
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool is not installed (apt-get install libimage-exiftool-perl)"
)
needs_c2pa = pytest.mark.skipif(
    not signed.available(), reason="c2pa-python is not installed (pip install 'imggen[c2pa]')"
)

RECORD = {"prompt": "a red fox at dawn", "model": "gpt-image-2", "profile": "t", "inputs": []}
MIMES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def pillow(fmt: str, mode: str = "RGB", **kw: Any) -> bytes:
    out = io.BytesIO()
    color = (200, 80, 40, 128) if mode == "RGBA" else (200, 80, 40)
    Image.new(mode, (40, 30), color).save(out, fmt.upper(), **kw)
    return out.getvalue()


def save(
    tmp_path: Path, data: bytes, name: str, level: str = "full", record: Any = None
) -> tuple[Path, Any]:
    land = Landing(
        [Target(tmp_path / name, exact=True)],
        record=lambda i: record or RECORD,
        scratch=Scratch(),
        level=level,
    )
    path, sink = land.open()
    with sink:
        for i in range(0, len(data), 700):  # in pieces, as a reply arrives
            sink.write(data[i : i + 700])
    try:
        saved = land.land(path, 1)
    finally:
        land.discard(path)
        land.close()
    return tmp_path / name, saved


def exiftool(path: Path) -> dict[str, Any]:
    assert EXIFTOOL is not None
    out = subprocess.run(
        [EXIFTOOL, "-j", "-G1", "-XMP:all", "-Warning", str(path)],
        capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    doc: dict[str, Any] = json.loads(out)[0]
    return doc


UNSIGNED = [
    ("png", lambda: make_png(40, 30)),
    ("jpeg", lambda: pillow("jpeg")),
    ("webp", lambda: pillow("webp")),  # simple lossy: VP8 only, VP8X made
    ("webp", lambda: pillow("webp", lossless=True)),  # simple lossless: VP8L
    ("webp", lambda: pillow("webp", "RGBA")),  # extended already: VP8X + ALPH
]


@needs_exiftool
@pytest.mark.parametrize(("fmt", "make"), UNSIGNED, ids=["png", "jpeg", "vp8", "vp8l", "vp8x"])
@pytest.mark.parametrize("level", ["full", "minimal"])
def test_the_ai_marker_reads_back_in_exiftool_and_pillow(
    tmp_path: Path, fmt: str, make: Any, level: str
) -> None:
    path, saved = save(tmp_path, make(), "out" + EXT[fmt], level)
    tags = exiftool(path)
    assert tags["XMP-iptcExt:DigitalSourceType"] == xmp.TRAINED, tags
    assert "Warning" not in tags, tags
    assert "gpt-image-2" in json.dumps(tags)  # AISystemUsed (named by exiftool's version)
    with Image.open(path) as im:
        im.load()  # still decodes
        assert im.size == (40, 30)
        assert (
            xmp.read(im.info.get("xmp") or im.info.get("XML:com.adobe.xmp", b""))[
                "digital_source_type"
            ]
            == xmp.TRAINED
        )
    data = path.read_bytes()
    assert saved.sha256 and not saved.credentials
    if level == "minimal":  # no prompt anywhere, in the file or beside it
        assert b"red fox" not in data and not sidecar(path).exists()
    elif fmt == "png":
        assert data.count(b"a red fox at dawn") == 1 and not sidecar(path).exists()
        assert read_provenance(path) == RECORD
    else:
        assert b"red fox" not in data and read_provenance(path) == RECORD


@pytest.mark.parametrize(("fmt", "make"), UNSIGNED, ids=["png", "jpeg", "vp8", "vp8l", "vp8x"])
def test_off_writes_nothing(tmp_path: Path, fmt: str, make: Any) -> None:
    data = make()
    path, saved = save(tmp_path, data, "out" + EXT[fmt], "off")
    assert path.read_bytes() == data and not sidecar(path).exists() and not saved.sidecar


def test_an_edit_is_marked_composite(tmp_path: Path) -> None:
    record = {**RECORD, "inputs": [{"name": "in.png", "sha256": "0" * 64, "url": None}]}
    path, _ = save(tmp_path, pillow("jpeg"), "out.jpg", record=record)
    with Image.open(path) as im:
        assert xmp.read(im.info["xmp"])["digital_source_type"] == xmp.COMPOSITE


def test_a_webp_with_its_own_xmp_gets_one_xmp_chunk_and_a_true_size(tmp_path: Path) -> None:
    theirs = xmp.packet(xmp.TRAINED, "their-model", "their tool") + b"x"  # odd: padded
    base = pillow("webp", "RGBA")
    chunk = xmp.webp_chunk(theirs)
    data = bytearray(base + chunk)
    data[20] |= 0x04
    data[4:8] = struct.pack("<I", len(data) - 8)
    path, _ = save(tmp_path, bytes(data), "out.webp")
    out = path.read_bytes()
    assert out.count(b"XMP ") == 1 and b"their-model" not in out
    assert struct.unpack("<I", out[4:8])[0] == len(out) - 8
    with Image.open(path) as im:
        im.load()
        assert xmp.read(im.info["xmp"])["ai_system"] == "gpt-image-2"


def test_control_characters_are_cleaned_and_a_huge_prompt_is_stored_once(tmp_path: Path) -> None:
    from imggen.files.provenance import PROMPT_CAP, clean

    assert clean("a\x00b\x1b[31mc\x9bd\te\nf") == ("ab[31mcd\te\nf", False)
    huge = "fox " * (5 << 18)  # 5 MiB
    text, cut = clean(huge)
    assert cut and len(text.encode()) < PROMPT_CAP + 64 and text.endswith("not kept]")
    record = {**RECORD, "prompt": text, "prompt_cut": True}
    path, _ = save(tmp_path, make_png(8, 8), "out.png", record=record)
    assert path.stat().st_size < PROMPT_CAP + 4096
    assert read_provenance(path) == record


# -- Content Credentials -----------------------------------------------------------------------


def validate(path: Path, mime: str) -> dict[str, Any]:
    import c2pa

    with path.open("rb") as f, c2pa.Reader(mime, f) as reader:
        doc: dict[str, Any] = json.loads(reader.json())
    return doc


def codes(doc: dict[str, Any]) -> set[str]:
    return {s["code"] for s in doc.get("validation_status") or []}


@needs_c2pa
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("level", ["full", "minimal"])
def test_signed_images_are_saved_byte_for_byte_and_validate(
    tmp_path: Path, fmt: str, level: str
) -> None:
    raw = make_png(40, 30) if fmt == "png" else pillow(fmt)
    data = signed.sign(raw, MIMES[fmt], "gpt-image-2")
    path, saved = save(tmp_path, data, "out" + EXT[fmt], level)
    assert path.read_bytes() == data
    assert saved.credentials and saved.sidecar
    doc = validate(path, MIMES[fmt])
    assert doc["validation_state"] == "Valid", doc.get("validation_status")
    assert codes(doc) <= {"signingCredential.untrusted"}
    beside = json.loads(sidecar(path).read_text())
    assert beside["model"] == "gpt-image-2"
    assert ("prompt" in beside) == (level == "full")


@needs_c2pa
def test_a_caBX_after_the_image_data_is_restored_byte_for_byte(tmp_path: Path) -> None:
    data = signed.sign(make_png(40, 30), "image/png", "m")
    chunks = list(_chunks(data))
    cabx = next(c for c in chunks if c[4:8] == b"caBX")
    rest = [c for c in chunks if c is not cabx]
    late = imagefile.PNG_SIG + b"".join(rest[:-1]) + cabx + rest[-1]  # before IEND
    path, saved = save(tmp_path, late, "out.png")
    assert path.read_bytes() == late and saved.credentials


@needs_c2pa
def test_unsigned_images_still_validate_nothing(tmp_path: Path) -> None:
    path, saved = save(tmp_path, make_png(8, 8), "out.png")
    assert not saved.credentials
    import c2pa

    with pytest.raises(c2pa.C2paError):
        validate(path, "image/png")


def _chunks(png: bytes) -> Any:
    pos = 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        yield png[pos : pos + 12 + n]
        pos += 12 + n


def test_a_huge_xmp_chunk_in_a_webp_is_kept_not_held(tmp_path: Path) -> None:
    """A WebP's own XMP chunk too large to hold in memory is left in place; the marker
    follows it and the RIFF size stays true."""
    base = pillow("webp", "RGBA")
    chunk = xmp.webp_chunk(b" " * (2 << 20))
    data = bytearray(base + chunk)
    data[20] |= 0x04
    data[4:8] = struct.pack("<I", len(data) - 8)
    path, _ = save(tmp_path, bytes(data), "out.webp")
    out = path.read_bytes()
    assert out.count(b"XMP ") == 2 and struct.unpack("<I", out[4:8])[0] == len(out) - 8
    with Image.open(path) as im:
        im.load()
