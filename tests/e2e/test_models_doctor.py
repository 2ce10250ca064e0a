"""The installed `imggen models` and `imggen doctor` as subprocesses against the loopback
fake: real sockets, real exit codes, nothing left behind, the key never printed."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


def test_models_lists_the_gateways_image_models(cli: Cli, fake: FakeGateway) -> None:
    env = {"IMGGEN_BASE_URL": f"{fake.url}/api/v1", "OPENROUTE_API_KEY": SENTINEL_KEY}
    done = cli("models", "-p", "openroute", "--json", env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["source"], [m["id"] for m in doc["models"]]) == (
        "gateway",
        ["google/gemini-2.5-flash-image", "google/gemini-3-pro-image-preview"],
    )
    assert [(r.path, r.query) for r in fake.requests] == [
        ("/api/v1/models", {"output_modalities": "image"})
    ]
    assert SENTINEL_KEY.encode() not in done.stdout + done.stderr


def test_doctor_generate_end_to_end_leaves_nothing(
    cli: Cli, fake: FakeGateway, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "IMGGEN_BASE_URL": f"{fake.url}/api/v1",
        "TURING_API_KEY": SENTINEL_KEY,
        "TMPDIR": str(scratch),  # doctor's temp folder, to see it removed
    }
    done = cli("doctor", "-p", "turing", "-m", "turing/gemini-3-pro-image", "--generate",
               env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split(b"\t")[:2] for line in done.stdout.splitlines()]
    assert rows == [
        [b"CHECK", b"RESULT"],
        [b"config", b"ok"],
        [b"reachable", b"ok"],
        [b"key", b"ok"],
        [b"models api", b"warn"],  # the fake's listing does not name turing/gemini-3-pro-image
        [b"generation", b"ok"],
        [b"response shape", b"ok"],
        [b"streaming", b"ok"],
        [b"size", b"ok"],
    ]
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert SENTINEL_KEY.encode() not in done.stdout + done.stderr


def test_doctor_on_a_closed_port_exits_5(cli: Cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"IMGGEN_BASE_URL": f"http://127.0.0.1:{port}/v1", "KNOX_API_KEY": SENTINEL_KEY}
    done = cli("doctor", "-p", "knox", env=env, timeout=30)
    assert done.returncode == 5
    assert done.stderr.splitlines()[-2].startswith(b"error: reachable: could not connect to")


def test_doctor_counts_the_image_models_that_models_lists(cli: Cli, fake: FakeGateway) -> None:
    """OpenRouter: `models` lists the models API's image models and the Image API's; doctor
    said "2 with image output" beside a listing of 4."""
    env = {"IMGGEN_BASE_URL": f"{fake.url}/api/v1", "OPENROUTER_API_KEY": SENTINEL_KEY}
    listed = cli("models", "-p", "openrouter", "--json", env=env, timeout=30)
    assert listed.returncode == 0, listed.stderr
    count = len(json.loads(listed.stdout)["models"])
    doctor = cli("doctor", "-p", "openrouter", env=env, timeout=30)
    assert doctor.returncode == 0, doctor.stderr
    (line,) = [x for x in doctor.stdout.decode().splitlines() if x.startswith("models api")]
    assert f": {count} image models" in line, (count, line)
