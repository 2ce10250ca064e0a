"""The installed imggen against the loopback fake speaking Google's Gemini API and Vertex AI,
Azure OpenAI's two routes, Together, xAI and Recraft: each preset from `config init` plus its
key variable; generate, edit, stream, models and doctor; their failures in the user's words."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from imggen.testing import FakeGateway, make_png
from imggen.testing.pictures import with_transparency
from tests.conftest import SENTINEL_KEY
from tests.e2e import as_json, lines, png_size

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
BASE = {
    "gemini": "/v1beta",
    "vertex": "/v1/projects/p1/locations/us-central1/publishers/google",
    "azure": "/openai",
    "together": "/together/v1",
    "xai": "/xai/v1",
    "recraft": "/recraft/v1",
}
KEY = {
    "gemini": "GEMINI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "together": "TOGETHER_API_KEY",
    "xai": "XAI_API_KEY",
    "recraft": "RECRAFT_API_TOKEN",
}


def setup(cli: Cli, fake: FakeGateway, preset: str, *extra: str, base: str = "") -> None:
    url = fake.url + (base or BASE[preset])
    done = cli("config", "init", preset, "--preset", preset, "--base-url", url, *extra)
    assert done.returncode == 0, done.stderr.decode()


def key(preset: str) -> dict[str, str]:
    return {KEY[preset]: SENTINEL_KEY}


def token_cmd(tmp_path: Path, *tokens: str) -> str:
    """An api_key_cmd printing the given tokens in turn (the last one from then on), as JSON
    argv for `config set`."""
    state = tmp_path / "tokens.json"
    state.write_text(json.dumps(list(tokens)))
    script = tmp_path / "token.py"
    script.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(state)!r})\n"
        "t = json.loads(p.read_text())\n"
        "print(t[0])\n"
        "p.write_text(json.dumps(t[1:] or t))\n"
    )
    return json.dumps([sys.executable, str(script)])


# -- Gemini API --------------------------------------------------------------------------------


def test_gemini_generate_streams_by_default_with_google_key_header(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "gemini")
    out = tmp_path / "fox.png"
    done = cli(
        "generate", "a red fox", "-m", "gemini-3-pro-image-preview", "--aspect", "16:9",
        "--size", "2K", "-o", str(out), env=key("gemini"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert png_size(out) == (2752, 1536)
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    assert rec.path.endswith("/v1beta/models/gemini-3-pro-image-preview:streamGenerateContent")
    assert rec.query == {"alt": "sse"}
    assert rec.headers["x-goog-api-key"] == SENTINEL_KEY and "authorization" not in rec.headers
    assert rec.json["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}


def test_gemini_no_stream_n2_seed_and_google_api_key_fallback(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "gemini")
    done = cli(
        "generate", "fox", "--no-stream", "-n", "2", "--seed", "7", "--json",
        "-o", str(tmp_path / "f.png"), env={"GOOGLE_API_KEY": SENTINEL_KEY},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert len(as_json(done.stdout)["images"]) == 2
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 2 and all(r.path.endswith(":generateContent") for r in posts)
    assert all(r.json["generationConfig"]["seed"] == 7 for r in posts)


def test_gemini_edit_sends_inline_data_and_refuses_mask(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "gemini")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(32, 32))
    done = cli("edit", str(src), "make it blue", "-o", str(tmp_path / "o.png"), env=key("gemini"))
    assert done.returncode == 0, done.stderr.decode()
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    parts = rec.json["contents"][0]["parts"]
    assert parts[0] == {"text": "make it blue"}
    assert parts[1]["inlineData"]["mimeType"] == "image/png"
    mask = tmp_path / "mask.png"
    mask.write_bytes(with_transparency(make_png(32, 32)))
    masked = cli("edit", str(src), "x", "--mask", str(mask), env=key("gemini"))
    assert masked.returncode == 2 and b"--mask" in masked.stderr


def test_gemini_safety_refusal_is_exit_4_streamed_or_not(fake: FakeGateway, cli: Cli) -> None:
    setup(cli, fake, "gemini")
    fake.refuse_safety = True
    for flag in ("--stream", "--no-stream"):
        done = cli("generate", "x", flag, env=key("gemini"))
        assert done.returncode == 4, done.stderr.decode()
        assert b"refused for safety (finishReason IMAGE_SAFETY)" in done.stderr


def test_gemini_wrong_key_is_exit_3_and_bad_model_exit_4(fake: FakeGateway, cli: Cli) -> None:
    setup(cli, fake, "gemini")
    wrong = cli("generate", "x", env={"GEMINI_API_KEY": "wrong-key-123456"})
    assert wrong.returncode == 3, wrong.stderr.decode()
    assert b"API key not valid" in wrong.stderr and b"GEMINI_API_KEY" in wrong.stderr
    bad = cli("generate", "x", "-m", "gemini-9-image", env=key("gemini"))
    assert bad.returncode == 4 and b"NOT_FOUND" in bad.stderr


def test_gemini_models_and_doctor(fake: FakeGateway, cli: Cli) -> None:
    setup(cli, fake, "gemini")
    done = cli("models", "--json", env=key("gemini"))
    assert done.returncode == 0, done.stderr.decode()
    ids = [m["id"] for m in as_json(done.stdout)["models"]]
    assert "gemini-3-pro-image-preview" in ids and "gemini-2.5-flash" not in ids
    doc = cli("doctor", "--generate", env=key("gemini"))
    assert doc.returncode == 0, doc.stdout.decode() + doc.stderr.decode()


# -- Vertex AI ---------------------------------------------------------------------------------


def test_vertex_token_from_command_fetched_again_once(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "vertex")
    cmd = token_cmd(tmp_path, "expired-token-1", SENTINEL_KEY)
    assert cli("config", "set", "profiles.vertex.api_key_cmd", cmd).returncode == 0
    done = cli("generate", "fox", "-o", str(tmp_path / "v.png"))
    assert done.returncode == 0, done.stderr.decode()
    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.headers["authorization"] for r in posts] == [
        "Bearer expired-token-1",
        f"Bearer {SENTINEL_KEY}",
    ]
    assert "/projects/p1/locations/us-central1/publishers/google/models/" in posts[0].path


def test_vertex_token_still_rejected_after_refetch_is_exit_3(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "vertex")
    cmd = token_cmd(tmp_path, "stale-token-1", "stale-token-2")
    assert cli("config", "set", "profiles.vertex.api_key_cmd", cmd).returncode == 0
    done = cli("generate", "fox", "--no-stream")
    assert done.returncode == 3, done.stderr.decode()
    assert b"UNAUTHENTICATED" in done.stderr and b"api_key_cmd" in done.stderr
    assert len([r for r in fake.requests if r.method == "POST"]) == 2


def test_vertex_config_init_writes_gcloud_command(fake: FakeGateway, cli: Cli) -> None:
    setup(cli, fake, "vertex")
    shown = cli("config", "get", "profiles.vertex.api_key_cmd")
    assert b"gcloud" in shown.stdout and b"print-access-token" in shown.stdout


def test_vertex_batch_token_expires_mid_batch(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    """The first job's token is accepted; then the hour is up (the fake accepts only a new
    token): the second job's request is refused once, the token fetched again, and it works."""
    import threading
    import time

    setup(cli, fake, "vertex")
    fake.api_key = "token-A-0123456789"
    fake.latency = 0.5  # the first request is under way (its key checked) when the key changes
    cmd = token_cmd(tmp_path, "token-A-0123456789", SENTINEL_KEY)
    assert cli("config", "set", "profiles.vertex.api_key_cmd", cmd).returncode == 0
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"prompt": "one", "output": "one.png"}\n{"prompt": "two", "output": "two.png"}\n'
    )

    def expire() -> None:
        deadline = time.monotonic() + 30
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.api_key = SENTINEL_KEY

    watcher = threading.Thread(target=expire)
    watcher.start()
    done = cli("batch", str(manifest), "-j", "1", "--no-stream")
    watcher.join(timeout=35)
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "one.png").exists() and (tmp_path / "two.png").exists()
    keys = [r.headers["authorization"] for r in fake.requests if r.method == "POST"]
    assert keys == [
        "Bearer token-A-0123456789",
        "Bearer token-A-0123456789",
        f"Bearer {SENTINEL_KEY}",
    ]


# -- Azure OpenAI -----------------------------------------------------------------------------


def test_azure_classic_route_with_api_version_and_like(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "azure")
    like = cli("config", "set", "profiles.azure.models.my-images.like", "gpt-image-1")
    assert like.returncode == 0, like.stderr.decode()
    done = cli(
        "generate", "fox", "-m", "my-images", "--aspect", "3:2", "-o", str(tmp_path / "a.png"),
        env=key("azure"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    assert rec.path == "/openai/deployments/my-images/images/generations"
    assert rec.query == {"api-version": "2025-04-01-preview"}
    assert rec.headers["api-key"] == SENTINEL_KEY and rec.json["size"] == "1536x1024"
    refused = cli("generate", "fox", "-m", "my-images", "--aspect", "16:9", env=key("azure"))
    assert refused.returncode == 2  # gpt-image-1's rules, borrowed by `like`
    assert cli("config", "set", "profiles.azure.api_version", "2025-06-01").returncode == 0
    again = cli(
        "generate", "fox", "-m", "my-images", "-o", str(tmp_path / "b.png"), env=key("azure")
    )
    assert again.returncode == 0 and fake.requests[-1].query == {"api-version": "2025-06-01"}


def test_azure_v1_route_edit_and_errors(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    setup(cli, fake, "azure", base="/openai/v1")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(32, 32))
    mask = tmp_path / "mask.png"
    mask.write_bytes(with_transparency(make_png(32, 32)))
    done = cli("edit", str(src), "blue", "-m", "my-images", "--mask", str(mask),
               "-o", str(tmp_path / "e.png"), env=key("azure"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    rec = fake.requests[-1]
    assert rec.path == "/openai/v1/images/edits" and rec.query == {}
    missing = cli("generate", "fox", "-m", "no-such-deployment", env=key("azure"))
    assert missing.returncode == 4
    assert b"DeploymentNotFound" in missing.stderr and b"'no-such-deployment'" in missing.stderr
    fake.refuse_safety = True
    filtered = cli("generate", "fox", "-m", "my-images", env=key("azure"))
    assert filtered.returncode == 4 and b"content filter: violence" in filtered.stderr


def test_azure_models_says_deployments_cannot_be_listed(fake: FakeGateway, cli: Cli) -> None:
    setup(cli, fake, "azure")
    cli("config", "set", "profiles.azure.models.my-images.like", "gpt-image-1")
    done = cli("models", "--json", env=key("azure"))
    assert done.returncode == 0, done.stderr.decode()
    doc = as_json(done.stdout)
    assert "cannot be listed" in doc["detail"]
    assert [m["id"] for m in doc["models"]] == ["my-images"]
    doctor = cli("doctor", "-m", "my-images", "--generate", env=key("azure"))
    assert doctor.returncode == 0, doctor.stdout.decode() + doctor.stderr.decode()


# -- Together, xAI, Recraft -------------------------------------------------------------------


def test_together_xai_generate_models_doctor(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    for preset, flags in (
        ("together", ["--aspect", "16:9", "-n", "2"]),
        ("xai", ["--aspect", "20:9", "-n", "3"]),
    ):
        setup(cli, fake, preset)
        out = str(tmp_path / f"{preset}-{{i}}.png")
        done = cli("generate", "fox", "-p", preset, *flags, "-o", out, env=key(preset))
        assert done.returncode == 0, done.stderr.decode()
        assert len(lines(done.stdout)) == int(flags[-1])
        listed = cli("models", "-p", preset, env=key(preset))
        assert listed.returncode == 0, listed.stderr.decode()
        doctor = cli("doctor", "-p", preset, "--generate", env=key(preset))
        assert doctor.returncode == 0, doctor.stdout.decode() + doctor.stderr.decode()
    streamed = cli("generate", "fox", "-p", "xai", "--stream", env=key("xai"))
    assert streamed.returncode == 2 and b"does not stream" in streamed.stderr


def test_recraft_vector_saves_checked_svg_with_sidecar(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "recraft")
    done = cli("generate", "a fox icon", "-m", "recraftv3_vector", "--aspect", "16:9", "-o",
               str(tmp_path / "icon"), env=key("recraft"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (path,) = lines(done.stdout)
    assert path.endswith("icon.svg")
    assert Path(path).read_bytes().lstrip().startswith(b"<?xml")
    record = json.loads(Path(path + ".json").read_text())
    assert record["model"] == "recraftv3_vector"
    assert fake.requests[-2].json["size"] == "1820x1024"


def test_recraft_batch_gallery_shows_svg_as_img_never_inline(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "recraft")
    manifest = tmp_path / "icons.jsonl"
    manifest.write_text(
        '{"prompt": "fox icon", "output": "fox.svg", "model": "recraftv3_vector"}\n'
    )
    done = cli(
        "batch", str(manifest), "--report", str(tmp_path / "gallery.html"), env=key("recraft")
    )
    assert done.returncode == 0, done.stderr.decode()
    page = (tmp_path / "gallery.html").read_text()
    assert '<img src="fox.svg"' in page and "<svg" not in page and "<circle" not in page


def test_recraft_hostile_svg_is_refused_not_saved(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    from imggen.testing import vendors

    setup(cli, fake, "recraft")
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>'
    )
    original = vendors.SVG
    vendors.SVG = laughs.replace(b"%", b"%%") + b"<!-- %d %d %d %d -->"
    try:
        done = cli(
            "generate",
            "x",
            "-m",
            "recraftv3_vector",
            "-o",
            str(tmp_path / "bad"),
            env=key("recraft"),
        )
    finally:
        vendors.SVG = original
    assert done.returncode == 5, done.stderr.decode()
    assert b"declares a DOCTYPE or entities" in done.stderr
    assert list(tmp_path.glob("bad*")) == []


def test_xai_edit_sends_json_data_uris(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    setup(cli, fake, "xai")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(32, 32))
    done = cli("edit", str(src), str(src), "sketch", "-o", str(tmp_path / "e.png"), env=key("xai"))
    assert done.returncode == 0, done.stderr.decode()
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    assert rec.path == "/xai/v1/images/edits" and rec.headers["content-type"] == "application/json"
    assert [i["url"][:22] for i in rec.json["images"]] == ["data:image/png;base64,"] * 2
    four = cli("edit", *[str(src)] * 4, "x", env=key("xai"))
    assert four.returncode == 2 and b"at most 3 images" in four.stderr


def test_vertex_models_catalog_and_doctor_streams(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "vertex")
    cmd = token_cmd(tmp_path, SENTINEL_KEY)
    assert cli("config", "set", "profiles.vertex.api_key_cmd", cmd).returncode == 0
    listed = cli("models", "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    doc = as_json(listed.stdout)
    assert doc["source"] == "catalog" and "Model Garden" in doc["detail"]
    doctor = cli("doctor", "--generate", "--json")
    assert doctor.returncode == 0, doctor.stdout.decode() + doctor.stderr.decode()
    checks = {c["check"]: c for c in as_json(doctor.stdout)["checks"]}
    assert checks["streaming"]["detail"] == "the image arrived over SSE"
    assert "streamGenerateContent" in checks["response_shape"]["detail"]
    assert checks["size"]["status"] == "ok"


def test_recraft_edit_is_image_to_image_with_a_strength(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "recraft")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(256, 256))
    none = cli("edit", str(src), "watercolor", env=key("recraft"))
    assert none.returncode == 2 and b"--param strength=0.5" in none.stderr
    done = cli("edit", str(src), "watercolor", "--param", "strength=0.3", "-m", "recraftv3_vector",
               "-o", str(tmp_path / "w"), env=key("recraft"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert lines(done.stdout)[0].endswith("w.svg")
    rec = next(r for r in fake.requests if r.path.endswith("/imageToImage"))
    assert rec.form is not None and rec.form["strength"] == ["0.3"]
    assert [f.name for f in rec.files] == ["image"]
    small = tmp_path / "small.png"
    small.write_bytes(make_png(32, 32))
    tiny = cli("edit", str(small), "x", "--param", "strength=0.3", env=key("recraft"))
    assert tiny.returncode == 2 and b"sides of 256-4096 px" in tiny.stderr


def rgba_mask(path: Path, width: int, height: int) -> Path:
    """An RGBA PNG mask, transparent (to repaint) in its left half."""
    import struct
    import zlib

    half = width // 2
    row = b"\x00" + b"\x00\x00\x00\x00" * half + b"\xff\xff\xff\xff" * (width - half)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


def test_recraft_edit_with_mask_goes_to_inpaint_in_black_and_white(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "recraft")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(320, 256))
    mask = rgba_mask(tmp_path / "mask.png", 320, 256)
    done = cli("edit", str(src), "a bicycle", "--mask", str(mask), "-n", "2", "--json",
               "-o", str(tmp_path / "bike.png"), env=key("recraft"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert len(as_json(done.stdout)["images"]) == 2
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    assert rec.path == "/recraft/v1/images/inpaint" and rec.form is not None
    assert rec.form["n"] == ["2"] and "strength" not in rec.form
    assert sorted(f.name for f in rec.files) == ["image", "mask"]
    # the persona took it: an 8-bit grayscale PNG of the image's size, every pixel 0 or 255
    assert png_size(tmp_path / "bike-1.png") == (320, 256)


def test_together_kontext_edit_sends_image_url_and_refusals_in_user_words(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    setup(cli, fake, "together")
    src = tmp_path / "in.png"
    src.write_bytes(make_png(64, 48))
    kontext = "black-forest-labs/FLUX.1-kontext-pro"
    done = cli("edit", str(src), "make it blue", "-m", kontext, "-o", str(tmp_path / "e.png"),
               env=key("together"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (rec,) = [r for r in fake.requests if r.method == "POST"]
    assert rec.path == "/together/v1/images/generations"
    assert rec.json["image_url"].startswith("data:image/png;base64,")
    assert rec.json["response_format"] == "base64"
    schnell = cli("edit", str(src), "x", env=key("together"))
    assert schnell.returncode == 2
    assert b"FLUX.1-schnell cannot edit images" in schnell.stderr and b"kontext" in schnell.stderr
    mask = tmp_path / "mask.png"
    mask.write_bytes(with_transparency(make_png(64, 48)))
    setup(cli, fake, "xai")
    for preset, model in (("together", kontext), ("xai", "grok-imagine-image")):
        masked = cli("edit", str(src), "x", "--mask", str(mask), "-p", preset, "-m", model,
                     env=key(preset))  # fmt: skip
        assert masked.returncode == 2, masked.stderr.decode()
        assert b"--mask" in masked.stderr and b"describe the area to change" in masked.stderr
    assert len([r for r in fake.requests if r.method == "POST"]) == 1  # nothing more was sent
