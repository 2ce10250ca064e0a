"""imggen's own Content Credentials ([c2pa] in the config, the optional extra imggen[c2pa]):
signed after the record is written, validated by c2pa-python, refused without the extra."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.files import xmp
from imggen.files.inspection import inspect
from imggen.testing import signed
from tests.conftest import SENTINEL_KEY, MockGateway, Result
from tests.test_cli_generate import CONFIG, images_reply

Run = Callable[..., Result]
pytestmark = pytest.mark.skipif(
    not signed.available(), reason="c2pa-python is not installed (pip install 'imggen[c2pa]')"
)


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    chain, key = signed.test_chain()
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "signer.key").write_bytes(key)
    return tmp_path / "chain.pem", tmp_path / "signer.key"


@pytest.fixture
def configure(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, Any]], Path]:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    return lambda table: write_config({**CONFIG, "c2pa": table})


def manifest_of(path: Path, mime: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import c2pa

    with path.open("rb") as f, c2pa.Reader(mime, f) as reader:
        doc = json.loads(reader.json())
    return doc, doc["manifests"][doc["active_manifest"]]


def test_images_are_signed_with_the_configured_certificate(
    run: Run, gateway: MockGateway, tmp_path: Path, pem: tuple[Path, Path], configure: Any
) -> None:
    configure({"cert": str(pem[0]), "key": str(pem[1])})
    gateway.queue(images_reply())
    r = run("generate", "a red fox", "-o", "fox.png", "--json")
    assert r.exit_code == 0, r.stderr
    (image,) = json.loads(r.stdout)["images"]
    assert image["signed"] is True and image["content_credentials"] is False
    assert image["sidecar"] is False  # the record is in the PNG still
    doc, active = manifest_of(tmp_path / "fox.png", "image/png")
    assert doc["validation_state"] == "Valid", doc["validation_status"]
    (action,) = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))[
        "data"
    ]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == xmp.TRAINED
    assert action["softwareAgent"]["name"] == "turing/gpt-image-2"
    assert "a red fox" not in json.dumps(active)  # never the prompt
    found = inspect(tmp_path / "fox.png")
    assert found.ai_generated and found.record and found.record["prompt"] == "a red fox"
    assert found.c2pa and found.c2pa["state"] == "valid"
    assert "BEGIN" not in r.stderr


def test_key_from_a_command_and_a_jpeg_sidecar(
    run: Run, gateway: MockGateway, tmp_path: Path, pem: tuple[Path, Path], configure: Any
) -> None:
    import io

    from PIL import Image  # a JPEG c2pa can parse

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG")
    configure({"cert_cmd": ["cat", str(pem[0])], "key_cmd": ["cat", str(pem[1])]})
    gateway.queue(images_reply(out.getvalue()))
    r = run("generate", "a red fox", "-o", "fox.jpg")
    assert r.exit_code == 0, r.stderr
    doc, _ = manifest_of(tmp_path / "fox.jpg", "image/jpeg")
    assert doc["validation_state"] == "Valid"
    assert json.loads((tmp_path / "fox.jpg.json").read_text())["prompt"] == "a red fox"


def test_without_the_extra_the_config_is_refused_before_sending(
    run: Run,
    gateway: MockGateway,
    pem: tuple[Path, Path],
    configure: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure({"cert": str(pem[0]), "key": str(pem[1])})
    monkeypatch.setitem(sys.modules, "c2pa", None)  # as if not installed
    r = run("generate", "a red fox", "-o", "fox.png")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == [
        "error: the config names a [c2pa] signing certificate, but c2pa-python is not installed",
        "hint: install the optional extra imggen[c2pa] (pipx inject imggen c2pa-python "
        "cryptography, or pip install '.[c2pa]' from the source), or remove [c2pa]",
    ]
    assert gateway.requests == []


def test_an_unusable_key_saves_the_image_unsigned_and_says_so(
    run: Run, gateway: MockGateway, tmp_path: Path, pem: tuple[Path, Path], configure: Any
) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(signed.test_chain()[1].replace(b"A", b"B", 3))  # damaged PEM
    configure({"cert": str(pem[0]), "key": str(other)})
    gateway.queue(images_reply())
    r = run("generate", "a red fox", "-o", "fox.png")
    assert r.exit_code == 0, r.stderr
    assert "warning: the image is saved unsigned: [c2pa]" in r.stderr
    assert "PRIVATE" not in r.stderr and "BEGIN" not in r.stderr
    assert inspect(tmp_path / "fox.png").credentials is False


def test_off_signs_nothing_and_a_bad_table_is_exit_3(
    run: Run, gateway: MockGateway, tmp_path: Path, pem: tuple[Path, Path], configure: Any
) -> None:
    configure({"cert": str(pem[0]), "key": str(pem[1])})
    gateway.queue(images_reply())
    r = run("generate", "a red fox", "-o", "fox.png", "--provenance", "off")
    assert r.exit_code == 0, r.stderr
    assert inspect(tmp_path / "fox.png").known is False
    configure({"cert": str(pem[0])})
    r = run("generate", "a red fox", "-o", "fox2.png", "--dry-run")
    assert r.exit_code == 3 and "[c2pa] needs key" in r.stderr


def jpeg_c2pa_cannot_parse(width: int, height: int) -> bytes:
    """SOI + APP0 JFIF + SOF0 (the size) + EOI: the right magic, size and ends, no scan."""
    import struct

    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1)
    components = b"\x01\x22\x00" + b"\x02\x11\x01" + b"\x03\x11\x01"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 8 + len(components), 8, height, width, 3)
    return b"\xff\xd8" + app0 + b"\x00\x00" + sof0 + components + b"\xff\xd9"


def test_a_placeholder_jpeg_is_left_unsigned_with_a_warning(
    run: Run, gateway: MockGateway, tmp_path: Path, pem: tuple[Path, Path], configure: Any
) -> None:
    configure({"cert": str(pem[0]), "key": str(pem[1])})
    gateway.queue(images_reply(jpeg_c2pa_cannot_parse(8, 8)))
    r = run("generate", "a red fox", "-o", "fox.jpg")
    assert r.exit_code == 0 and "saved unsigned" in r.stderr
