"""Provenance end to end: the installed imggen against the offline gateway serving images
signed with Content Credentials (`--signed`, as OpenAI and Azure sign theirs); saved byte for
byte and still valid by c2pa-python; unsigned ones marked for exiftool; `inspect` and `again`
on what was saved."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.files import xmp
from imggen.testing import FakeGateway, signed
from tests.e2e import env_only, lines

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
MODEL = "gpt-image-1"
needs_c2pa = pytest.mark.skipif(
    not signed.available(), reason="c2pa-python is not installed (pip install 'imggen[c2pa]')"
)


def ok(r: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert r.returncode == 0, r.stderr.decode()
    return r


def valid(path: Path, mime: str) -> dict[str, object]:
    import c2pa

    with path.open("rb") as f, c2pa.Reader(mime, f) as reader:
        doc: dict[str, object] = json.loads(reader.json())
    return doc


@needs_c2pa
@pytest.mark.parametrize(("fmt", "mime"), [("png", "image/png"), ("webp", "image/webp")])
def test_a_signed_image_is_saved_intact_and_said_so(
    fake: FakeGateway, cli: Cli, tmp_path: Path, fmt: str, mime: str
) -> None:
    fake.signer = signed.signing()
    fake.image_format = fmt
    env = env_only(fake, "openai", MODEL)
    r = ok(cli("generate", "a red fox", "-o", "fox", "--json", env=env))
    (image,) = json.loads(r.stdout)["images"]
    path = Path(image["path"])
    assert image["content_credentials"] is True and image["sidecar"] is True
    said = [line for line in lines(r.stderr) if "Content Credentials" in line]
    assert said == [
        f"{path} carries the provider's Content Credentials: saved byte for byte, nothing "
        f"added; imggen's record is in {path}.json"
    ]
    doc = valid(path, mime)
    assert doc["validation_state"] == "Valid", doc.get("validation_status")
    assert json.loads(Path(f"{path}.json").read_text())["prompt"] == "a red fox"
    shown = ok(cli("inspect", str(path), env=env)).stdout.decode()
    assert "Content Credentials: valid, signed by imggen test signer" in shown
    assert "imggen record: in " in shown


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_an_unsigned_image_carries_the_marker_exiftool_reads(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    env = env_only(fake, "openai", MODEL)
    ok(cli("generate", "a red fox", "-o", "fox.png", env=env))
    out = subprocess.run(
        ["exiftool", "-j", "-XMP-iptcExt:all", str(tmp_path / "fox.png")],
        capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    tags = json.loads(out)[0]
    assert tags["DigitalSourceType"] == xmp.TRAINED and tags["AISystemUsed"] == MODEL


def test_again_makes_it_again_and_off_writes_nothing(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    env = env_only(fake, "openai", MODEL)
    ok(cli("generate", "a red fox", "-o", "fox.png", "-s", "1024x1536", env=env))
    r = ok(cli("again", "fox.png", env=env))
    (path,) = lines(r.stdout)
    assert Path(path).name != "fox.png"
    bodies = [req.json for req in fake.requests if req.path.endswith("/images/generations")]
    assert bodies[-1] == bodies[-2]
    ok(cli("generate", "a red fox", "-o", "off.png", "--provenance", "off", env=env))
    r = cli("again", "off.png", env=env)
    assert r.returncode == 2 and b"carries no imggen record" in r.stderr
    shown = ok(cli("inspect", "off.png", env=env)).stdout.decode()
    assert "nothing imggen can read" in shown


@needs_c2pa
def test_the_gateway_command_serves_signed_images(tmp_path: Path, cli: Cli) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "imggen.testing", "--port", "0", "--quiet", "--signed"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().decode().strip()
        run_env = {"IMGGEN_BASE_URL": base, "IMGGEN_API_KEY": "any", "IMGGEN_MODEL": MODEL}
        ok(cli("generate", "a red fox", "-o", "fox.png", env=run_env))
        assert valid(tmp_path / "fox.png", "image/png")["validation_state"] == "Valid"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
