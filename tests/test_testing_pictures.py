"""What the offline gateway's images look like (issues 24 and 25): real PNG, JPEG and WebP
files any decoder opens, showing the prompt's first words, the size and the seed; the same
seed makes the same bytes; an edit shows its input."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from imggen.testing import FakeGateway, image_size_of, make_png
from imggen.testing.derive import decode_png
from imggen.testing.font import GLYPHS, caption, layout

KEY = "sk-test-pictures"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with (
        FakeGateway(api_key=KEY) as gw,
        httpx.Client(
            base_url=gw.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as c,
    ):
        yield c


def generate(client: httpx.Client, **body: Any) -> bytes:
    body = {"model": "gpt-image-1", "prompt": "a red fox", "size": "1024x1024", **body}
    response = client.post("/images/generations", json=body)
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["data"][0]["b64_json"])


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def ink_rows(image: Image.Image) -> list[int]:
    """Rows holding a pixel unlike the top-left one (the words)."""
    background = image.getpixel((0, 0))
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    return [y for y in range(height) if any(pixels[x, y] != background for x in range(0, width, 2))]


@pytest.mark.parametrize(("fmt", "mime"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_every_format_is_a_real_file_with_words_on_it(
    client: httpx.Client, fmt: str, mime: str
) -> None:
    data = generate(client, output_format=fmt, size="1536x1024")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert (image.format, image.size) == (mime, (1536, 1024))
    assert image_size_of(data) == (fmt, 1536, 1024)
    rows = ink_rows(image.convert("RGB"))
    assert rows and 200 < rows[0] and rows[-1] < 824  # words, centred
    # Pillow decodes with libjpeg(-turbo) and libwebp, the decoders browsers and tools use
    assert Image.open(io.BytesIO(data)).get_format_mimetype() == f"image/{fmt}"


def test_the_caption_holds_the_first_words_the_size_and_the_seed() -> None:
    assert caption("a red fox in the snow at dawn", 1024, 768, 42) == [
        "A RED FOX IN THE",
        "1024X768",
        "SEED 42",
    ]
    assert caption("", 64, 64, None) == ["64X64", "NO SEED"]
    assert caption("über café ☃", 8, 8, "x")[0] == "?BER CAF? ?"
    assert set("".join(caption("any text at all", 1, 1, 7))) <= set(GLYPHS)


def test_the_words_are_drawn_in_the_font() -> None:
    picture = layout(64, 16, ["I"])
    ink = [row for row, count in picture.rows for _ in range(count) if len(row) > 1]
    assert len(ink) > 0 and sum(count for _, count in picture.rows) == 16
    assert all(sum(n for _, n in row) == 64 for row, _ in picture.rows)


def test_the_same_seed_makes_the_same_bytes(client: httpx.Client) -> None:
    one = generate(client, model="doubao-seedream-4-5-251128", seed=7)
    two = generate(client, model="doubao-seedream-4-5-251128", seed=7)
    other = generate(client, model="doubao-seedream-4-5-251128", seed=8)
    assert one == two != other
    assert generate(client) != generate(client)  # no seed: a new picture each time


def test_an_edit_shows_its_input_framed(client: httpx.Client) -> None:
    source = make_png(40, 40, color=(10, 120, 250))
    response = client.post(
        "/images/edits",
        data={"model": "gpt-image-1", "prompt": "add a hat", "size": "1024x1024"},
        files={"image": ("in.png", source, "image/png")},
    )
    assert response.status_code == 200, response.text
    image = opened(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert image.size == (1024, 1024)
    assert image.getpixel((512, 512)) == ((10 + 255) // 2, (120 + 255) // 2, (250 + 255) // 2)
    assert image.getpixel((2, 2)) == image.getpixel((1021, 1021)) != image.getpixel((512, 512))


def test_an_undecodable_input_gets_a_marked_placeholder(client: httpx.Client) -> None:
    response = client.post(
        "/images/edits",
        data={"model": "gpt-image-1", "prompt": "hat", "size": "1024x1024"},
        files={"image": ("in.jpg", b"\xff\xd8 not really", "image/jpeg")},
    )
    image = opened(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert ink_rows(image)  # "EDIT HAT", the size, no seed


def test_filtered_pngs_decode_for_edits() -> None:
    """PNGs from other encoders use filters 1-4: the decoder undoes each."""
    picture = Image.new("RGB", (33, 17))
    picture.putdata(
        [(x * 7 % 256, y * 13 % 256, (x * y) % 256) for y in range(17) for x in range(33)]
    )
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    decoded = decode_png(out.getvalue())
    assert decoded is not None
    width, height, rows = decoded
    assert (width, height) == (33, 17)
    assert b"".join(rows) == picture.tobytes()
    rgba = io.BytesIO()
    picture.convert("RGBA").save(rgba, format="PNG")
    assert decode_png(rgba.getvalue()) == decoded


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_a_4k_image_stays_quick(client: httpx.Client, fmt: str) -> None:
    started = time.perf_counter()
    data = generate(client, model="doubao-seedream-4-5-251128", size="4096x4096", output_format=fmt)
    assert time.perf_counter() - started < 10  # generous: 2 shared cores
    assert image_size_of(data) == (fmt, 4096, 4096) and len(data) < 2_000_000


def test_a_transparent_webp_has_a_transparent_background(client: httpx.Client) -> None:
    data = generate(client, output_format="webp", background="transparent")
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # the background
        assert image.getchannel("A").getextrema() == (0, 255)  # the words are opaque
