"""`imggen edit` (issue 5) against the loopback fake: multipart for the images API, image
parts for chat dialects, Trinity's URL-only references, and refusals with zero requests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from imggen.env import Env
from imggen.files.provenance import read_provenance
from imggen.limits import Limits
from imggen.testing import FakeGateway, make_png
from tests.conftest import SENTINEL_KEY, Result


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=SENTINEL_KEY) as fake:
        yield fake


@pytest.fixture
def profile(gw: FakeGateway, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """profile("turing") writes a config whose profile of that preset points at the fake."""
    monkeypatch.setenv("GATEWAY_KEY", SENTINEL_KEY)

    def write(preset: str, **extra: Any) -> None:
        base = f"{gw.url}/api/v1" if preset in ("turing", "openroute") else f"{gw.url}/v1"
        prof = {"preset": preset, "base_url": base, "api_key_env": "GATEWAY_KEY", **extra}
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(
            tomli_w.dumps({"default_profile": preset, "profiles": {preset: prof}})
        )

    return write


@pytest.fixture
def edit() -> Callable[..., Result]:
    """Run `imggen edit ...` through CliRunner over real loopback HTTP."""
    from imggen.cli.app import app

    def invoke(*args: str, input: bytes | None = None, limits: Limits | None = None) -> Result:
        env = Env(
            environ=dict(os.environ),
            stdin_isatty=input is None,
            stderr_isatty=False,
            limits=limits or Limits(),
        )
        r = CliRunner().invoke(app, ["edit", *args], obj=env, input=input)
        return Result(r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception)

    return invoke


def rgba_png(width: int, height: int) -> bytes:
    """A fully transparent RGBA PNG (a mask that repaints everything)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x00\x00\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    files = {
        "a.png": make_png(64, 64),
        "b.png": make_png(32, 32),
        "mask.png": rgba_png(64, 64),
        "mask-small.png": rgba_png(32, 32),
        "notes.png": b"<html>not an image</html>",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_one_input_is_sent_as_image_field(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("a.png", "make it blue", "-o", "out.png", "-s", "1024x1024", "--quality", "medium")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{Path('out.png').resolve()}\n"
    (req,) = gw.requests_to("/images/edits")
    assert req.form == {
        "model": ["turing/gpt-image-2"],
        "prompt": ["make it blue"],
        "size": ["1024x1024"],
        "quality": ["medium"],
        "n": ["1"],
    }
    assert [(f.name, f.filename, f.content_type) for f in req.files] == [
        ("image", "a.png", "image/png")
    ]
    assert req.files[0].sha256 == hashlib.sha256(images["a.png"].read_bytes()).hexdigest()


def test_several_inputs_are_repeated_image_brackets_with_mask(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("a.png", "b.png", "combine them", "--param", "input_fidelity=high", "-o", "o.png")
    assert r.exit_code == 0, r.stderr
    (req,) = gw.requests_to("/images/edits")
    assert [(f.name, f.filename) for f in req.files] == [("image[]", "a.png"), ("image[]", "b.png")]
    assert req.form["input_fidelity"] == ["high"]

    r = edit("a.png", "add a cat", "--mask", "mask.png", "-o", "m.png")
    assert r.exit_code == 0, r.stderr
    req = gw.requests_to("/images/edits")[-1]
    assert [(f.name, f.content_type) for f in req.files] == [
        ("image", "image/png"),
        ("mask", "image/png"),
    ]


def test_provenance_records_input_digests(gw, profile, edit, images) -> None:
    profile("turing")
    assert edit("a.png", "b.png", "combine", "-o", "o.png").exit_code == 0
    record = read_provenance(Path("o.png"))
    assert record is not None
    assert record["prompt"] == "combine"
    assert [i["sha256"] for i in record["inputs"]] == [
        hashlib.sha256(images[n].read_bytes()).hexdigest() for n in ("a.png", "b.png")
    ]
    assert SENTINEL_KEY not in json.dumps(record)


def test_input_image_from_stdin(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("-", "from stdin", "-o", "s.png", input=images["a.png"].read_bytes())
    assert r.exit_code == 0, r.stderr
    (req,) = gw.requests_to("/images/edits")
    assert [(f.name, f.filename) for f in req.files] == [("image", "stdin.png")]


def test_prompt_from_stdin_when_only_images_given(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("a.png", input=b"piped prompt\n")
    assert r.exit_code == 0, r.stderr
    assert gw.requests_to("/images/edits")[0].form["prompt"] == ["piped prompt"]


@pytest.mark.parametrize(
    ("preset", "model"),
    [("knox", None), ("openroute", None), ("turing", "turing/gemini-2.5-flash-image")],
)
def test_chat_dialects_send_inputs_as_image_url_parts(gw, profile, edit, images, preset, model):
    profile(preset, **({"model": model} if model else {}))
    r = edit("a.png", "b.png", "combine", "-o", "c.png", "--no-stream")
    assert r.exit_code == 0, r.stderr
    (req,) = gw.requests_to("/chat/completions")
    content = req.json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "combine"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert urls == [
        "data:image/png;base64," + base64.b64encode(images[n].read_bytes()).decode()
        for n in ("a.png", "b.png")
    ]


def test_xty_inputs_travel_as_parts_with_extra_body(gw, profile, edit, images) -> None:
    profile("xty")
    r = edit("a.png", "restyle", "-a", "16:9", "-o", "x.png")
    assert r.exit_code == 0, r.stderr
    (req,) = gw.requests_to("/chat/completions")
    assert req.json["extra_body"] == {"google": {"image_config": {"aspect_ratio": "16:9"}}}
    assert req.json["messages"][0]["content"][1]["type"] == "image_url"


def test_gemini_follow_up_edit_replays_the_earlier_turn(gw, profile, edit, images) -> None:
    """seed 002: a follow-up edit passes the earlier image as the assistant's turn."""
    profile("turing", model="turing/gemini-3-pro-image")
    from imggen.cli.app import app

    env = Env(environ=dict(os.environ), stdin_isatty=True, stderr_isatty=False)
    first = CliRunner().invoke(app, ["generate", "draw a dog", "-o", "dog.png"], obj=env)
    assert first.exit_code == 0, first.stderr
    r = edit("dog.png", "add a hat", "-o", "hat.png")
    assert r.exit_code == 0, r.stderr
    messages = gw.requests_to("/chat/completions")[-1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [{"type": "text", "text": "draw a dog"}]
    assert messages[1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert messages[2]["content"] == [{"type": "text", "text": "add a hat"}]


def test_trinity_takes_url_inputs_as_reference_images(gw, profile, edit) -> None:
    profile("trinity", base_url=f"{gw.url}/v1")
    url = "https://example.com/day.png"
    r = edit(url, "the same building at night", "-o", "t.png")
    assert r.exit_code == 0, r.stderr
    (req,) = gw.requests_to("/chat/completions")
    assert req.json["image_config"]["reference_images"] == [{"type": "url", "url": url}]
    assert req.json["messages"][0]["content"] == "the same building at night"
    assert "stream" not in req.json


REFUSALS = [
    # (preset, args, exit code, stderr fragment)
    ("trinity", ["a.png", "x"], 2, "takes reference images as http(s) URLs only"),
    ("turing", ["a.png", "x", "-m", "doubao-seedream-4-5-251128"], 2, "cannot edit images"),
    ("turing", ["missing.png", "x"], 2, "missing.png does not exist"),
    ("turing", ["notes.png", "x"], 2, "not a PNG, JPEG or WEBP image"),
    ("turing", [".", "x"], 2, "is a folder"),
    ("turing", ["a.png", "x", "--mask", "b.png"], 2, "has no alpha channel"),
    ("turing", ["a.png", "x", "--mask", "mask-small.png"], 2, "they must match"),
    ("turing", ["a.png", "x", "--mask", "notes.png"], 2, "not a PNG"),
    ("turing", ["a.png"], 2, "edit needs at least one image and a prompt"),
    ("turing", ["-", "-"], 2, "stdin can be read once"),
]


@pytest.mark.parametrize(("preset", "args", "code", "message"), REFUSALS)
def test_refusals_send_nothing(gw, profile, edit, images, preset, args, code, message) -> None:
    profile(preset, **({"base_url": f"{gw.url}/v1"} if preset == "trinity" else {}))
    r = edit(*args, input=b"" if args[0] == "-" else None)
    assert r.exit_code == code, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert gw.requests == []


def test_oversized_input_refused_before_request(gw, profile, edit, images, monkeypatch) -> None:
    profile("turing")
    r = edit("a.png", "x", limits=Limits(input_cap=100))
    assert r.exit_code == 2
    assert "gateways take at most 100 bytes" in r.stderr
    assert gw.requests == []


def test_seedream_refusal_names_models_that_can_edit(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("a.png", "x", "-m", "doubao-seedream-4-5-251128")
    assert "hint: use a model that can: turing/gpt-image-2, turing/gpt-image-1" in r.stderr


def test_dry_run_shows_multipart_fields_and_sizes(gw, profile, edit, images) -> None:
    profile("turing")
    r = edit("a.png", "b.png", "combine", "--dry-run")
    assert r.exit_code == 0, r.stderr
    a, b = images["a.png"].stat().st_size, images["b.png"].stat().st_size
    assert r.stdout.splitlines() == [
        f"POST {gw.url}/api/v1/images/edits",
        "Authorization: Bearer <redacted>",
        "Accept: application/json",
        "Content-Type: multipart/form-data",
        "",
        "model=turing/gpt-image-2",
        "prompt=combine",
        "n=1",
        f"image[]=@a.png (image/png, {a:,} bytes)",
        f"image[]=@b.png (image/png, {b:,} bytes)",
    ]
    assert gw.requests == []


def test_existing_output_refused_before_upload(gw, profile, edit, images) -> None:
    profile("turing")
    Path("taken.png").write_bytes(b"x")
    r = edit("a.png", "x", "-o", "taken.png")
    assert r.exit_code == 2
    assert "exists" in r.stderr
    assert gw.requests == []
    assert Path("taken.png").read_bytes() == b"x"


def test_progress_says_uploading_for_the_request_body_then_receiving() -> None:
    from imggen.console import UI
    from imggen.profiles import settings
    from imggen.run import core

    s = settings.resolve(
        environ={
            "IMGGEN_BASE_URL": "https://gw.test/v1",
            "IMGGEN_MODEL": "m",
            "IMGGEN_API_KEY": "k",
        }
    )
    env = Env(environ={}, stderr_isatty=False)
    ui = UI(env)
    seen: list[tuple[str, int]] = []
    ui.advance = lambda n, total: seen.append((ui.label, n))  # type: ignore[method-assign]
    with core.make_client(s, env, ui, core.RunOptions()) as client:
        client.on_sent(100, 300)
        client.on_sent(200, 300)
        client.on_bytes(50, None)
    assert seen == [("m: uploading", 100), ("m: uploading", 200), ("m: receiving", 50)]
