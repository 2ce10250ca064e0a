"""`imggen inspect` (what a file says about itself) and `imggen again` (the same request from
a file's record), through CliRunner with the mock gateway."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.files import xmp
from imggen.testing import make_jpeg_header, make_png, signed
from tests.conftest import SENTINEL_KEY, MockGateway, Result
from tests.test_cli_generate import CONFIG, images_reply

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def setup(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    return write_config(CONFIG)


def ok(r: Result) -> Result:
    assert r.exit_code == 0, r.stderr
    return r


def made(run: Run, gateway: MockGateway, *args: str, data: bytes | None = None) -> Result:
    gateway.queue(images_reply(data))
    return ok(run("generate", "a red fox at dawn", "--quality", "high", "-s", "1K", *args))


# -- inspect ------------------------------------------------------------------------------------


def test_inspect_shows_marker_record_and_no_credentials(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    made(run, gateway, "-o", "fox.png")
    r = ok(run("inspect", "fox.png"))
    lines = r.stdout.splitlines()
    assert lines[0] == "fox.png: PNG 8x8"
    assert lines[1] == "  AI-generated: yes (trainedAlgorithmicMedia, model turing/gpt-image-2)"
    assert "  imggen record: in the file" in lines
    assert "    prompt: a red fox at dawn" in lines
    assert '    parameters: count=1, quality="high", size="1K"' in lines
    assert lines[-1] == "  Content Credentials: none"


def test_inspect_json_for_scripts(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    made(run, gateway, "-o", "fox.jpg", data=make_jpeg_header(8, 8))
    doc = json.loads(ok(run("inspect", "fox.jpg", "--json")).stdout)
    (item,) = doc["files"]
    assert item["ai_generated"] is True and item["ai_system"] == "turing/gpt-image-2"
    assert item["digital_source_type"] == xmp.TRAINED
    assert item["record"]["prompt"] == "a red fox at dawn"
    assert item["record_in"] == str(Path("fox.jpg.json"))
    assert (item["mime"], item["width"], item["content_credentials"]) == ("image/jpeg", 8, False)
    assert item["marker_in"] == "XMP"


def test_inspect_minimal_has_marker_and_no_prompt(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    made(run, gateway, "-o", "fox.png", "--provenance", "minimal")
    assert b"red fox" not in (tmp_path / "fox.png").read_bytes()
    r = ok(run("inspect", "fox.png"))
    assert "AI-generated: yes" in r.stdout and "imggen record: in the file" in r.stdout
    assert "    model: turing/gpt-image-2" in r.stdout and "prompt" not in r.stdout


def test_inspect_a_file_imggen_knows_nothing_about(tmp_path: Path, run: Run) -> None:
    (tmp_path / "photo.png").write_bytes(make_png(4, 3))
    r = ok(run("inspect", "photo.png"))
    assert r.stdout == (
        "photo.png: PNG 4x3\n"
        "  nothing imggen can read: no AI marker, no imggen record, no credentials\n"
    )


def test_inspect_unreadable_or_not_an_image_is_exit_2(tmp_path: Path, run: Run) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "photo.png").write_bytes(make_png(4, 3))
    r = run("inspect", "missing.png", "notes.txt", "photo.png")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "error: cannot read missing.png: No such file or directory",
        "error: notes.txt is not a PNG, JPEG, WEBP or GIF image",
    ]
    assert r.stdout.startswith("photo.png: PNG 4x3")


@pytest.mark.skipif(not signed.available(), reason="c2pa-python is not installed")
def test_a_signed_reply_is_kept_and_inspect_validates_and_names_the_signer(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    data = signed.sign(make_png(8, 8), "image/png", "gpt-image-2")
    gateway.queue(images_reply(data))
    r = ok(run("generate", "a red fox", "-o", "fox.png", "--json"))
    assert (tmp_path / "fox.png").read_bytes() == data
    (image,) = json.loads(r.stdout)["images"]
    assert image["content_credentials"] is True and image["sidecar"] is True
    assert r.stderr.count("Content Credentials") == 1
    assert "saved byte for byte" in r.stderr
    r = ok(run("inspect", "fox.png"))
    assert (
        "  Content Credentials: valid, signed by imggen test signer, imggen offline gateway "
        "(signer not on the trust list)"
    ) in r.stdout.splitlines()
    assert f"  imggen record: in {Path('fox.png.json')}" in r.stdout.splitlines()
    assert (
        "  AI-generated: yes (trainedAlgorithmicMedia, model gpt-image-2, per its Content "
        "Credentials)"
    ) in r.stdout.splitlines()
    (tmp_path / "bad.png").write_bytes(_flip_pixel(data))
    r = ok(run("inspect", "bad.png", "--json"))
    verdict = json.loads(r.stdout)["files"][0]["c2pa"]
    assert verdict["state"] == "tampered" and "assertion.dataHash.mismatch" in verdict["codes"]


def _flip_pixel(png: bytes) -> bytes:
    """A pixel changed, the PNG still well-formed (IDAT's CRC made right): a tampered image."""
    import struct
    import zlib

    data = bytearray(png)
    pos = 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            data[pos + 8 + 4] ^= 0xFF
            crc = zlib.crc32(bytes(data[pos + 4 : pos + 8 + n]))
            data[pos + 8 + n : pos + 12 + n] = struct.pack(">I", crc)
        pos += 12 + n
    return bytes(data)


# -- again --------------------------------------------------------------------------------------


def body(gateway: MockGateway) -> Any:
    return gateway.bodies()[-1]


def test_again_sends_the_same_request_to_a_new_file(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    made(run, gateway, "-o", "fox.png", "--param", "moderation=low")
    first = body(gateway)
    gateway.queue(images_reply())
    r = ok(run("again", "fox.png"))
    assert body(gateway) == first
    (path,) = r.stdout.split()
    assert Path(path).name != "fox.png" and Path(path).exists()


def test_again_flags_override_and_dry_run_sends_nothing(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    made(run, gateway, "-o", "fox.png")
    sent = len(gateway.requests)
    r = ok(run("again", "fox.png", "-m", "turing/gpt-image-1", "--quality", "low", "--dry-run"))
    assert len(gateway.requests) == sent
    assert '"model": "turing/gpt-image-1"' in r.stdout and '"quality": "low"' in r.stdout
    assert '"prompt": "a red fox at dawn"' in r.stdout


def test_again_takes_an_entry_of_the_history(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    made(run, gateway, "-o", "fox.png")
    r = ok(run("again", "1", "--dry-run"))
    assert '"prompt": "a red fox at dawn"' in r.stdout
    (tmp_path / "fox.png").unlink()
    r = run("again", "1")
    assert r.exit_code == 2 and "is no longer there" in r.stderr
    r = run("again", "7")
    assert r.exit_code == 2 and "the history lists 1 image," in r.stderr


def test_again_from_a_sidecar_with_o(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    made(run, gateway, "-o", "fox.jpg", data=make_jpeg_header(8, 8))
    gateway.queue(images_reply())
    ok(run("again", "fox.jpg", "-o", "again.png"))
    assert body(gateway)["prompt"] == "a red fox at dawn"
    assert (tmp_path / "again.png").exists()


def test_again_without_a_record_is_exit_2(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    made(run, gateway, "-o", "min.png", "--provenance", "minimal")
    (tmp_path / "photo.png").write_bytes(make_png(4, 3))
    r = run("again", "photo.png")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: photo.png carries no imggen record with a prompt (it was not saved by imggen, "
        "or with --provenance off)"
    )
    r = run("again", "min.png")
    assert r.exit_code == 2 and "--provenance minimal or off" in r.stderr


def test_again_an_edit_finds_its_input_by_hash(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    (tmp_path / "in.png").write_bytes(make_png(8, 8))
    gateway.queue(images_reply())
    ok(run("edit", "in.png", "add a hat", "-o", "hat.png"))
    first = gateway.requests[-1]
    gateway.queue(images_reply())
    ok(run("again", "hat.png"))
    assert str(gateway.requests[-1].url) == str(first.url)
    (tmp_path / "in.png").write_bytes(make_png(9, 9))  # changed since
    r = run("again", "hat.png", "--dry-run")
    assert r.exit_code == 2 and "'in.png'" in r.stderr


# -- --provenance as a profile key and a bad value ---------------------------------------------


def test_provenance_from_a_profile_and_a_bad_value(
    run: Run, gateway: MockGateway, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    profiles = {"t": {**CONFIG["profiles"]["t"], "provenance": "off"}}  # type: ignore[index]
    write_config({**CONFIG, "profiles": profiles})
    gateway.queue(images_reply())
    ok(run("generate", "a red fox", "-o", "fox.png"))
    assert (tmp_path / "fox.png").read_bytes() == make_png(8, 8)  # nothing added
    r = run("generate", "a red fox", "-o", "fox2.png", "--provenance", "some")
    assert r.exit_code == 2
    assert (
        r.stderr.splitlines()[0] == "error: --provenance 'some': choose one of full, minimal, off"
    )
