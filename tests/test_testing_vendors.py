"""The offline Together, xAI and Recraft personas refuse what the real APIs refuse in their
edits: an input image in the wrong field or for a model without one, junk data URIs, a Recraft
mask that is not black and white of the image's size, images outside Recraft's sides."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imggen.files.maskpng import black_and_white
from imggen.testing import FakeGateway, make_png

KEY = "sk-vendors-test"
PNG_URI = "data:image/png;base64," + base64.b64encode(make_png(8, 8)).decode()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with (
        FakeGateway(api_key=KEY) as gw,
        httpx.Client(
            base_url=gw.url.removesuffix("/v1"),
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        ) as c,
    ):
        yield c


def message(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    text: str = response.json()["error"]["message"]
    return text


KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "black-forest-labs/FLUX.1-schnell", "image_url": PNG_URI}, "not supported"),
        ({"model": KONTEXT, "image_url": "data:image/png;base64,@@@"}, "invalid base64"),
        ({"model": KONTEXT, "image_url": "data:text/plain;base64,aGk="}, "data URI"),
        ({"model": KONTEXT, "image_url": "data:image/png;base64,aGVsbG8="}, "not an image"),
        ({"model": KONTEXT, "reference_images": [PNG_URI]}, "not supported"),
        ({"model": "black-forest-labs/FLUX.2-dev", "reference_images": []}, "non-empty"),
        ({"model": KONTEXT, "width": 1020, "height": 1024}, "multiples of 8"),
    ],
)
def test_together_refuses_input_images_it_would_refuse(
    client: httpx.Client, body: dict[str, Any], words: str
) -> None:
    sent = client.post("/together/v1/images/generations", json={"prompt": "x", **body})
    assert words in message(sent)


def test_together_edit_answers_in_its_own_shape(client: httpx.Client) -> None:
    sent = client.post(
        "/together/v1/images/generations",
        json={"model": KONTEXT, "prompt": "x", "image_url": PNG_URI, "response_format": "base64"},
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["object"] == "list" and body["model"] == KONTEXT
    (item,) = body["data"]
    assert (item["index"], item["type"]) == (0, "b64_json") and item["b64_json"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"image": {"url": PNG_URI}, "images": [{"url": PNG_URI}]}, "mutually exclusive"),
        ({"images": [{"url": PNG_URI}] * 4}, "up to 3"),
        ({"image": {"url": "file:///etc/passwd"}}, "data URI"),
    ],
)
def test_xai_edit_refusals(client: httpx.Client, body: dict[str, Any], words: str) -> None:
    sent = client.post(
        "/xai/v1/images/edits", json={"model": "grok-imagine-image", "prompt": "x", **body}
    )
    assert words in message(sent)


def rgba(width: int, height: int, alpha: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + bytes([0, 0, 0, alpha]) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def grey(width: int, height: int, value: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress((b"\x00" + bytes([value]) * width) * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def inpaint(client: httpx.Client, image: bytes, mask: bytes | None) -> httpx.Response:
    files = [("image", ("in.png", image, "image/png"))]
    if mask is not None:
        files.append(("mask", ("mask.png", mask, "image/png")))
    return client.post(
        "/recraft/v1/images/inpaint",
        data={"prompt": "a bicycle", "model": "recraftv3"},
        files=files,
    )


def test_recraft_inpaint_takes_only_a_black_and_white_mask_of_the_image_size(
    client: httpx.Client,
) -> None:
    image = make_png(256, 300)
    assert "mask is required" in message(inpaint(client, image, None))
    assert "8-bit grayscale" in message(inpaint(client, image, rgba(256, 300, 0)))
    assert "image's size" in message(inpaint(client, image, grey(300, 256, 255)))
    assert "black (0) or white (255)" in message(inpaint(client, image, grey(256, 300, 128)))
    done = inpaint(client, image, black_and_white(rgba(256, 300, 0)))
    assert done.status_code == 200, done.text


def test_recraft_edits_refuse_images_outside_its_sides(client: httpx.Client) -> None:
    small = make_png(255, 300)
    assert "sides must be 256-4096" in message(inpaint(client, small, grey(255, 300, 0)))
    i2i = client.post(
        "/recraft/v1/images/imageToImage",
        data={"prompt": "x", "strength": "0.5"},
        files=[("image", ("in.png", small, "image/png"))],
    )
    assert "sides must be 256-4096" in message(i2i)
