"""The installed imggen against the offline gateway as a newcomer meets it (issues 24, 25): a
base URL without /v1 is refused as a real gateway refuses it, a seed gives the same picture,
JPEG and WebP arrive as real files, an edit shows its input."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from imggen.testing import FakeGateway, make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e import RUN_TIMEOUT, without_text

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
CHAT_MODEL = "google/gemini-2.5-flash-image"


def env(fake: FakeGateway, base: str = "/v1", model: str = CHAT_MODEL) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": fake.url + base,
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": model,
    }


def pixels(path: Path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


def test_a_base_url_without_v1_is_refused_as_the_real_api_does(fake: FakeGateway, cli: Cli) -> None:
    done = cli("generate", "a red fox", "-o", "fox.png", env=env(fake, ""), timeout=RUN_TIMEOUT)
    assert done.returncode == 4
    assert done.stderr.decode().splitlines()[0] == (
        "error: the gateway refused the request (HTTP 404): Invalid URL (POST /chat/completions) "
        "(invalid_request_error)"
    )


def test_one_seed_one_picture(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    for name, seed in (("a.png", "7"), ("b.png", "7"), ("c.png", "8")):
        done = cli("generate", "a red fox", "--seed", seed, "-o", name, env=env(fake),
                   timeout=RUN_TIMEOUT)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
    a, b, c = (tmp_path / n for n in ("a.png", "b.png", "c.png"))
    assert without_text(a.read_bytes()) == without_text(b.read_bytes())
    assert pixels(a) == pixels(b) != pixels(c)


def test_jpeg_and_webp_are_real_files(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    for fmt, name in (("jpeg", "f.jpg"), ("webp", "f.webp")):
        done = cli("generate", "a red fox", "--format", fmt, "-o", name,
                   env=env(fake, model="gpt-image-1"), timeout=RUN_TIMEOUT)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        with Image.open(io.BytesIO((tmp_path / name).read_bytes())) as image:
            image.load()
            assert image.size == (1024, 1024)


def test_an_edit_shows_its_input(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(make_png(64, 64, color=(0, 100, 200)))
    done = cli("edit", "in.png", "add a hat", "-o", "out.png",
               env=env(fake, model="gpt-image-1"), timeout=RUN_TIMEOUT)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    with Image.open(tmp_path / "out.png") as image:
        assert image.convert("RGB").getpixel((512, 512)) == (127, 177, 227)  # lightened input
