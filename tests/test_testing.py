"""Tests of the loopback fake gateway (imggen.testing) itself."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.testing import (
    FAULT_KINDS,
    FakeGateway,
    Fault,
    image_size_of,
    make_jpeg_header,
    make_png,
    make_webp_header,
)

KEY = "sk-test-SENTINEL"


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=KEY) as gateway:
        yield gateway


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gw.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5.0
    ) as c:
        yield c


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> bytes:
    """Raw (filtered) scanlines of a single-IDAT PNG; checks the CRCs on the way."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + chunk)
        if kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return zlib.decompress(idat)


def data_url_png(url: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    return png_size(base64.b64decode(url[len(prefix) :], validate=True))


def chat(client: httpx.Client, body: dict[str, Any], path: str = "/v1/chat/completions") -> Any:
    body = {"messages": [{"role": "user", "content": "a cat"}], **body}
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def sse_events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


# ---- image bytes ---------------------------------------------------------------------------


def test_make_png_solid_and_noise() -> None:
    solid = make_png(5, 3, color=(1, 2, 3))
    assert png_size(solid) == (5, 3)
    assert png_pixels(solid) == (b"\x00" + b"\x01\x02\x03" * 5) * 3
    noise = make_png(40, 30, noise=True)
    assert png_size(noise) == (40, 30)
    raw = png_pixels(noise)
    assert len(raw) == 30 * (1 + 40 * 3) and len(noise) > 40 * 30 * 3
    started = time.perf_counter()
    big = make_png(4096, 4096)
    assert time.perf_counter() - started < 1.5
    assert png_size(big) == (4096, 4096) and len(big) < 200_000
    assert len(png_pixels(big)) == 4096 * (1 + 4096 * 3)


def test_jpeg_and_webp_are_real_files() -> None:
    from PIL import Image

    jpeg = make_jpeg_header(1376, 768)
    assert (
        jpeg[:4] == b"\xff\xd8\xff\xe0" and jpeg[6:11] == b"JFIF\x00" and jpeg[-2:] == b"\xff\xd9"
    )
    sof = jpeg.index(b"\xff\xc0")
    assert struct.unpack(">HH", jpeg[sof + 5 : sof + 9]) == (768, 1376)
    webp = make_webp_header(300, 200)
    assert webp[:4] == b"RIFF" and webp[8:16] == b"WEBPVP8L"
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8 - len(webp) % 2
    for data, size in ((jpeg, (1376, 768)), (webp, (300, 200))):
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == size
            pixel = image.getpixel((5, 5))
            assert max(abs(a - b) for a, b in zip(pixel, (200, 80, 40), strict=True)) <= 2
    assert image_size_of(jpeg) == ("jpeg", 1376, 768)
    assert image_size_of(webp) == ("webp", 300, 200)
    assert image_size_of(make_png(7, 9)) == ("png", 7, 9)


# ---- chat shapes -----------------------------------------------------------------------------


def test_chat_openrouter_shape(gw: FakeGateway, client: httpx.Client) -> None:
    # Shape 4 (001/003 and Trinity base64): message.images with data URLs.
    reply = chat(
        client,
        {
            "model": "google/gemini-3-pro-image-preview",
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "16:9", "image_size": "512"},
        },
        path="/api/v1/chat/completions",
    )
    assert reply["usage"] == {"prompt_tokens": 10, "completion_tokens": 1290, "total_tokens": 1300}
    assert reply["object"] == "chat.completion" and reply["model"].startswith("google/")
    assert reply["id"] and reply["created"]
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop" and isinstance(choice["message"]["content"], str)
    (image,) = choice["message"]["images"]
    assert image["type"] == "image_url"
    assert data_url_png(image["image_url"]["url"]) == (688, 384)  # half of 1K 1376x768

    # Gemini 2.5 table: one size per aspect ratio, whatever the tier.
    reply = chat(
        client,
        {"model": "google/gemini-2.5-flash-image", "image_config": {"aspect_ratio": "21:9"}},
    )
    assert data_url_png(reply["choices"][0]["message"]["images"][0]["image_url"]["url"]) == (
        1536,
        672,
    )
    rec = gw.requests[-1]
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.json["image_config"] == {"aspect_ratio": "21:9"}
    assert rec.headers["authorization"] == f"Bearer {KEY}" and rec.raw_size > 0


def test_chat_trinity_url_shape_and_download(gw: FakeGateway, client: httpx.Client) -> None:
    body = {
        "model": "hunyuan-image",
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "3:2", "image_size": "1K", "output_format": "url"},
    }
    reply = chat(client, body)
    (image,) = reply["choices"][0]["message"]["images"]
    url = image["image_url"]["url"]
    assert url.startswith(gw.url + "/files/")
    download = httpx.get(url, timeout=5)  # no key sent to the CDN
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert png_size(download.content) == (1264, 848)
    files = gw.requests_to(url[len(gw.url) :])
    assert len(files) == 1 and "authorization" not in files[0].headers
    assert not files[0].authorized

    # 000: Trinity refuses stream:true for images.
    refused = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request"


def test_chat_turing_gemini_25_content_parts(gw: FakeGateway, client: httpx.Client) -> None:
    reply = chat(
        client,
        {
            "model": "turing/gemini-2.5-flash-image",
            "modalities": ["text", "image"],
            "imageConfig": {"aspectRatio": "9:16", "imageSize": "2K"},
        },
        path="/api/v1/chat/completions",
    )
    message = reply["choices"][0]["message"]
    assert "images" not in message
    text, image = message["content"]
    assert text == {"type": "text", "text": "Here's your image!"}
    assert image["type"] == "image_url" and image["image_url"]["detail"] == "low"
    assert data_url_png(image["image_url"]["url"]) == (768, 1344)


def test_chat_turing_gemini_3_choice_images(gw: FakeGateway, client: httpx.Client) -> None:
    gw.image_format = "jpeg"
    reply = chat(
        client,
        {
            "model": "turing/gemini-3-pro-image",
            "imageConfig": {
                "aspectRatio": "4:3",
                "imageSize": "2K",
                "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 95},
            },
        },
    )
    choice = reply["choices"][0]
    assert choice["message"]["content"] == [] and "images" not in choice["message"]
    (image,) = choice["images"]
    url = image["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(url.split(",", 1)[1])
    assert data[:2] == b"\xff\xd8" and image_size_of(data) == ("jpeg", 2400, 1792)


def test_chat_xty_markdown_choices(gw: FakeGateway, client: httpx.Client) -> None:
    reply = chat(
        client,
        {
            "model": "gemini-3.1-flash-image-preview",
            "n": 2,
            "extra_body": {
                "google": {"image_config": {"aspect_ratio": "16:9", "image_size": "2K"}}
            },
        },
    )
    assert [c["index"] for c in reply["choices"]] == [0, 1]
    urls = []
    for number, choice in enumerate(reply["choices"], start=1):
        content = choice["message"]["content"]
        match = re.fullmatch(rf"这是第 {number} 张图片:!\[image\]\((\S+)\)", content)
        assert match, content
        urls.append(match[1])
    assert len(set(urls)) == 2
    for url in urls:
        assert url.startswith(gw.url + "/files/")
        assert png_size(httpx.get(url).content) == (1344, 768)  # 004 table


def test_honour_size_false_and_latency(gw: FakeGateway, client: httpx.Client) -> None:
    gw.honour_size = False
    gw.latency = 0.2
    started = time.perf_counter()
    reply = chat(
        client,
        {
            "model": "google/gemini-3-pro-image-preview",
            "image_config": {"aspect_ratio": "16:9", "image_size": "4K"},
        },
    )
    assert time.perf_counter() - started >= 0.2
    assert data_url_png(reply["choices"][0]["message"]["images"][0]["image_url"]["url"]) == (64, 64)


# ---- SSE -----------------------------------------------------------------------------------------


def test_stream_openrouter(gw: FakeGateway, client: httpx.Client) -> None:
    gw.noise = True  # about 150 KiB of base64: the image event goes out in several pieces
    body = {
        "model": "google/gemini-3-pro-image-preview",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "image_config": {"aspect_ratio": "1:1", "image_size": "512"},
    }
    with client.stream("POST", "/api/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    assert text.startswith(": OPENROUTER PROCESSING\n\n")
    events = sse_events(text)
    assert events[-1] == "[DONE]" and text.endswith("data: [DONE]\n\n")
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[1]["choices"][0]["delta"]["content"] == "Here is"
    image_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("images")]
    assert len(image_chunks) == 1
    (image,) = image_chunks[0]["choices"][0]["delta"]["images"]
    assert data_url_png(image["image_url"]["url"]) == (512, 512)
    assert len(image["image_url"]["url"]) > 64 * 1024
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert last["usage"]["total_tokens"] == 1300


def test_stream_gemini_25_content_part(gw: FakeGateway, client: httpx.Client) -> None:
    body = {
        "model": "turing/gemini-2.5-flash-image",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "imageConfig": {"aspectRatio": "1:1"},
    }
    text = client.post("/api/v1/chat/completions", json=body).text
    chunks = [json.loads(e) for e in sse_events(text) if e != "[DONE]"]
    parts = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and isinstance(c["choices"][0]["delta"].get("content"), list)
    ]
    (part,) = parts[0]
    assert part["type"] == "image_url" and data_url_png(part["image_url"]["url"]) == (1024, 1024)


# ---- images API ------------------------------------------------------------------------------


def test_images_generations_b64(gw: FakeGateway, client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/images/generations",
        json={
            "model": "turing/gpt-image-1",
            "prompt": "bear",
            "n": 2,
            "size": "48x32",
            "quality": "low",
        },
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["usage"]["total_tokens"] == 1618 and reply["created"]
    assert reply["usage"]["input_tokens_details"] == {"text_tokens": 50, "image_tokens": 0}
    assert len(reply["data"]) == 2
    for item in reply["data"]:
        assert png_size(base64.b64decode(item["b64_json"])) == (48, 32)
    assert gw.requests[-1].json["quality"] == "low"

    # Seedream: n images even though the platform makes it sequential generation (002).
    reply = client.post(
        "/v1/images/generations",
        json={"model": "doubao-seedream-4-5-251128", "prompt": "x", "n": 3, "size": "16x16"},
    ).json()
    assert len(reply["data"]) == 3

    reply = client.post(
        "/v1/images/generations",
        json={
            "model": "turing/gpt-image-1",
            "prompt": "x",
            "size": "auto",
            "response_format": "url",
        },
    ).json()
    url = reply["data"][0]["url"]
    assert url.startswith(gw.url + "/files/") and png_size(httpx.get(url).content) == (1024, 1024)


@pytest.mark.parametrize(
    ("size", "ok"),
    [
        ("1024x640", True),  # exactly 655,360 pixels
        ("3840x2160", True),
        ("1000x1000", False),  # not multiples of 16
        ("3856x2160", False),  # long side > 3840
        ("2304x752", False),  # ratio > 3:1
        ("800x800", False),  # too few pixels
        ("3840x2176", False),  # too many pixels
        ("big", False),
    ],
)
def test_gpt_image_2_size_rules(client: httpx.Client, size: str, ok: bool) -> None:
    response = client.post(
        "/api/v1/images/generations",
        json={"model": "turing/gpt-image-2", "prompt": "x", "size": size},
    )
    assert response.status_code == (200 if ok else 400), response.text
    if ok:
        width, height = map(int, size.split("x"))
        assert png_size(base64.b64decode(response.json()["data"][0]["b64_json"])) == (width, height)
    else:
        assert response.json()["error"]["message"]


def test_images_edits_multipart(gw: FakeGateway, client: httpx.Client) -> None:
    first, second, mask = make_png(4, 4), b"\xff\xd8fake jpeg", make_png(4, 4)
    response = client.post(
        "/api/v1/images/edits",
        data={"model": "turing/gpt-image-2", "prompt": "加一顶帽子", "n": "2", "size": "1024x640"},
        files=[
            ("image[]", ("lotion.png", first, "image/png")),
            ("image[]", ("soap.jpg", second, "image/jpeg")),
            ("mask", ("mask.png", mask, "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 2 and png_size(base64.b64decode(data[0]["b64_json"])) == (1024, 640)
    rec = gw.requests[-1]
    assert rec.json is None and rec.path == "/api/v1/images/edits"
    assert rec.form == {
        "model": ["turing/gpt-image-2"],
        "prompt": ["加一顶帽子"],
        "n": ["2"],
        "size": ["1024x640"],
    }
    summary = [(f.name, f.filename, f.content_type, f.size) for f in rec.files]
    assert summary == [
        ("image[]", "lotion.png", "image/png", len(first)),
        ("image[]", "soap.jpg", "image/jpeg", len(second)),
        ("mask", "mask.png", "image/png", len(mask)),
    ]
    assert rec.files[1].sha256 == hashlib.sha256(second).hexdigest()

    single = client.post(
        "/v1/images/edits",
        data={"model": "turing/gpt-image-1", "prompt": "x", "size": "8x8"},
        files={"image": ("in.png", first, "image/png")},
    )
    assert single.status_code == 200 and len(single.json()["data"]) == 1
    assert [f.name for f in gw.requests[-1].files] == ["image"]

    seedream = client.post(
        "/v1/images/edits",
        data={"model": "doubao-seedream-4-5-251128", "prompt": "x"},
        files={"image": ("in.png", first, "image/png")},
    )
    assert seedream.status_code == 400


# ---- models, auth, routing -------------------------------------------------------------------


def test_models_listing(gw: FakeGateway, client: httpx.Client) -> None:
    listing = client.get("/api/v1/models").json()["data"]
    assert [m["id"] for m in listing] == [
        "google/gemini-2.5-flash-image",
        "google/gemini-3-pro-image-preview",
        "openai/gpt-4o",
    ]
    for model in listing:
        assert model["name"] and model["architecture"]["input_modalities"]
        assert model["output_modalities"] == model["architecture"]["output_modalities"]
    images = client.get("/v1/models", params={"output_modalities": "image"}).json()["data"]
    assert [m["id"] for m in images] == [
        "google/gemini-2.5-flash-image",
        "google/gemini-3-pro-image-preview",
    ]
    assert gw.requests[-1].query == {"output_modalities": "image"}
    gw.models = [{"id": "only/one", "name": "One", "output_modalities": ["image"]}]
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["only/one"]
    gw.models_endpoint = False
    assert client.get("/v1/models").status_code == 404


MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def test_auth_refuses_other_keys_in_openais_shape(gw: FakeGateway) -> None:
    for headers, message, code in (
        ({}, MISSING_KEY, None),
        ({"Authorization": KEY}, MISSING_KEY, None),
        ({"Authorization": "Basic a2V5"}, MISSING_KEY, None),
        ({"Authorization": "Bearer sk-wrong"}, "Incorrect API key provided.", "invalid_api_key"),
    ):
        for path in ("/v1/chat/completions", "/api/v1/images/generations", "/v1/nothing"):
            response = httpx.post(gw.url + path, json={"model": "x"}, headers=headers, timeout=5)
            assert response.status_code == 401
            assert response.json() == {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": code,
                }
            }
            assert "SENTINEL" not in response.text and "wrong" not in response.text
    assert gw.requests == []  # refused before the body is read or recorded


def test_without_key_any_key_is_taken_but_one_is_required() -> None:
    with FakeGateway() as open_gateway:
        assert httpx.get(open_gateway.base_url + "/models", timeout=5).status_code == 401
        response = httpx.get(
            open_gateway.base_url + "/models", headers={"Authorization": "Bearer any"}, timeout=5
        )
        assert response.status_code == 200


def test_unknown_path_and_redirect(gw: FakeGateway, client: httpx.Client) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["message"]
    assert client.get("/v1/chat/completions").status_code == 405
    name = gw.put_file(make_png(3, 2))
    redirect = httpx.get(f"{gw.url}/redirect/{name}", timeout=5)
    assert redirect.status_code == 302 and redirect.headers["location"] == gw.file_url(name)
    followed = httpx.get(f"{gw.url}/redirect/{name}", timeout=5, follow_redirects=True)
    assert png_size(followed.content) == (3, 2)


# ---- faults ----------------------------------------------------------------------------------

SMALL_CHAT = {
    "model": "google/gemini-3-pro-image-preview",
    "messages": [{"role": "user", "content": "x"}],
    "image_config": {"aspect_ratio": "1:1", "image_size": "512"},
}


def test_fault_status_is_fifo_and_path_scoped(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}, path="generations"))
    gw.faults.append(Fault("status", status=503, body="upstream down"))
    first = client.post("/v1/chat/completions", json=SMALL_CHAT)  # skips the generations fault
    assert first.status_code == 503 and first.json()["error"]["message"] == "upstream down"
    second = client.post(
        "/v1/images/generations", json={"model": "turing/gpt-image-1", "size": "16x16"}
    )
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert second.json()["error"]["message"]
    assert gw.faults == []
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200


def test_fault_content_filter_html_bad_json(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults += [
        Fault("content_filter"),
        Fault("html"),
        Fault("html", status=200),
        Fault("bad_json"),
    ]
    filtered = client.post("/v1/images/generations", json={"model": "turing/gpt-image-1"})
    assert filtered.status_code == 400
    assert filtered.json() == {
        "error": {
            "code": "contentFilter",
            "message": "The prompt was filtered due to content policy",
        }
    }
    html = client.post("/v1/chat/completions", json=SMALL_CHAT)
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in html.text
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200
    bad = client.post("/v1/chat/completions", json=SMALL_CHAT)
    assert bad.status_code == 200 and bad.text == '{"choices": ['
    with pytest.raises(json.JSONDecodeError):
        bad.json()


def test_fault_reset(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("reset"))
    with pytest.raises(httpx.TransportError):
        client.post("/v1/chat/completions", json=SMALL_CHAT)
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200


def test_fault_truncate_sse(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("truncate_sse"))
    # Not a streaming request: the fault waits for one.
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200
    text = client.post("/v1/chat/completions", json={**SMALL_CHAT, "stream": True}).text
    assert text.startswith(": OPENROUTER PROCESSING\n\n")
    events = sse_events(text)
    assert len(events) == 1 and json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    assert "[DONE]" not in text and "images" not in text


def test_fault_slow(gw: FakeGateway) -> None:
    gw.faults.append(Fault("slow", seconds=0.05))
    started = time.perf_counter()
    with (
        httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=1.0) as c,
        c.stream("POST", gw.url + "/v1/chat/completions", json=SMALL_CHAT) as response,
    ):
        assert response.status_code == 200
        received = b""
        for piece in response.iter_raw():
            received += piece
            if time.perf_counter() - started > 0.4:
                break
    assert 0 < len(received) < 200  # trickled: 16 bytes per 50 ms, never timing out


def test_fault_stall_times_out_and_stop_interrupts() -> None:
    started = time.perf_counter()
    with FakeGateway(api_key=KEY) as gateway:
        gateway.faults.append(Fault("stall", seconds=30))
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                gateway.url + "/v1/chat/completions",
                json=SMALL_CHAT,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=0.3,
            )
    assert time.perf_counter() - started < 3
    assert not [t for t in threading.enumerate() if t.name.startswith("fakegateway")]


def test_fault_short_stall_then_answers(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("stall", seconds=0.2))
    started = time.perf_counter()
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_fault_no_image(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults += [Fault("no_image"), Fault("no_image", body="nope")]
    message = client.post("/v1/chat/completions", json=SMALL_CHAT).json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "I can't draw that, but here is a poem."}
    reply = client.post(
        "/v1/images/generations", json={"model": "turing/gpt-image-1", "size": "8x8"}
    )
    assert reply.status_code == 200 and reply.json()["data"] == []


def test_fault_bad_base64(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults += [Fault("bad_base64"), Fault("bad_base64")]
    message = client.post("/v1/chat/completions", json=SMALL_CHAT).json()["choices"][0]["message"]
    url = message["images"][0]["image_url"]["url"]
    assert url == "data:image/png;base64,iVBORw0KGgo!!!not-base64***"
    item = client.post(
        "/v1/images/generations", json={"model": "turing/gpt-image-1", "size": "8x8"}
    ).json()
    with pytest.raises(ValueError):
        base64.b64decode(item["data"][0]["b64_json"], validate=True)


def test_fault_truncated_image(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("truncated_image"))
    message = client.post("/v1/chat/completions", json=SMALL_CHAT).json()["choices"][0]["message"]
    data = base64.b64decode(message["images"][0]["image_url"]["url"].split(",", 1)[1])
    assert png_size(data) == (512, 512)  # the header survives, the end does not
    assert b"IEND" not in data


def test_fault_expired_and_files_faults(gw: FakeGateway, client: httpx.Client) -> None:
    name = gw.put_file(make_png(2, 2))
    gw.faults += [Fault("expired"), Fault("truncated_image", path="/files/")]
    assert client.post("/v1/chat/completions", json=SMALL_CHAT).status_code == 200  # not consumed
    expired = httpx.get(gw.file_url(name), timeout=5)
    assert expired.status_code == 403
    assert expired.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    half = httpx.get(gw.file_url(name), timeout=5)
    assert half.status_code == 200 and len(half.content) == len(make_png(2, 2)) // 2
    assert httpx.get(gw.file_url(name), timeout=5).content == make_png(2, 2)


def test_every_fault_kind_is_covered() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for kind in FAULT_KINDS:
        assert f'Fault("{kind}"' in source, kind
    with pytest.raises(ValueError):
        Fault("nonsense")


def test_stop_leaves_no_threads() -> None:
    gateway = FakeGateway(api_key=None).start()
    with httpx.Client(base_url=gateway.url, headers={"Authorization": "Bearer k"}, timeout=5) as c:
        # keep-alive connection stays open while the gateway stops
        assert c.get("/v1/models").status_code == 200
        gateway.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("fakegateway")]


# -- OpenAI's images API, OpenRouter's Image API, a LiteLLM-style proxy ---------------------


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_openai_rules_answer_400(client: httpx.Client) -> None:
    def post(**body: Any) -> httpx.Response:
        return client.post("/v1/images/generations", json={"prompt": "x", **body})

    assert post(model="dall-e-3", n=2).json()["error"]["code"] == "integer_above_max_value"
    assert post(model="dall-e-2", output_format="png").json()["error"]["code"] == (
        "unknown_parameter"
    )
    assert post(model="gpt-image-1", size="512x512").status_code == 400
    assert (
        post(model="gpt-image-1", background="transparent", output_format="jpeg").status_code == 400
    )
    # dall-e answers with a URL unless asked for b64_json
    assert "url" in post(model="dall-e-3", size="1792x1024").json()["data"][0]


def test_openai_stream_has_event_lines_and_no_done(client: httpx.Client) -> None:
    r = client.post(
        "/v1/images/generations",
        json={"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 2},
    )
    assert r.headers["content-type"] == "text/event-stream"
    assert "event: image_generation.partial_image\n" in r.text
    assert "[DONE]" not in r.text
    types = [e["type"] for e in _events(r.text)]
    assert types == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]


def test_stream_error_fault_ends_with_an_error_event(gw: FakeGateway, client: httpx.Client) -> None:
    gw.faults.append(Fault("stream_error", body="the upstream failed"))
    r = client.post(
        "/api/v1/images",
        json={"model": "openai/gpt-image-1", "prompt": "x", "stream": True, "partial_images": 1},
    )
    assert "event:" not in r.text and r.text.endswith("data: [DONE]\n\n")
    last = _events(r.text)[-1]
    assert last == {
        "type": "error",
        "error": {"message": "the upstream failed", "code": "server_error"},
    }


def test_image_api_checks_descriptors_and_reports_cost(client: httpx.Client) -> None:
    listed = client.get("/api/v1/images/models").json()["data"]
    assert [m["id"] for m in listed] == ["openai/gpt-image-1", "black-forest-labs/flux.2-pro"]
    flux = {"model": "black-forest-labs/flux.2-pro", "prompt": "x"}
    assert client.post("/api/v1/images", json={**flux, "quality": "high"}).status_code == 400
    r = client.post("/api/v1/images", json={**flux, "aspect_ratio": "16:9", "resolution": "1K"})
    doc = r.json()
    assert doc["data"][0]["media_type"] == "image/png"
    assert png_size(base64.b64decode(doc["data"][0]["b64_json"])) == (1376, 768)
    assert doc["usage"]["cost"] == 0.04


def test_proxy_alias_drops_format_and_background(gw: FakeGateway, client: httpx.Client) -> None:
    gw.aliases = {"company-image": "gpt-image-1"}
    gw.drops = ("output_format", "background")
    r = client.post(
        "/v1/images/generations",
        json={"model": "company-image", "prompt": "x", "output_format": "jpeg",
              "background": "transparent"},
    )  # fmt: skip
    data = base64.b64decode(r.json()["data"][0]["b64_json"])
    assert data.startswith(b"\x89PNG") and b"tRNS" not in data  # an opaque PNG
