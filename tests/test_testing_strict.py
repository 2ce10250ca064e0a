"""The offline gateway is as strict as the APIs it plays (issue 25): its key, its paths, its
content types, its bounds, and what it refuses (models, fields, n, sizes, masks)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imggen.testing import FakeGateway, make_png
from imggen.testing.protocol import MAX_PIXELS
from imggen.testing.server import RECORD_BYTES, RECORDS_KEPT

KEY = "sk-test-strict"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {
    "model": "google/gemini-2.5-flash-image",
    "messages": [{"role": "user", "content": "a red fox"}],
}


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=KEY) as gateway:
        yield gateway


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as c:
        yield c


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def raw_request(gw: FakeGateway, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes on a socket; what came back (the gateway closes after refusals)."""
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/chat/completions", "/images/generations", "/x/v1/chat/completions", "/models"]
)
def test_routes_live_only_under_v1_or_api_v1(client: httpx.Client, path: str) -> None:
    response = client.post(path, json=CHAT) if "chat" in path else client.get(path)
    assert response.status_code == 404
    assert error(response)["message"] == f"Invalid URL ({response.request.method} {path})"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert client.post("/api/v1/chat/completions", json=CHAT).status_code == 200


# -- what a web page could send ------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_declared_json_is_refused(
    client: httpx.Client, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        "/v1/chat/completions", content=httpx.Request("POST", "/", json=CHAT).content,
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


def test_a_get_saying_json_with_no_body_is_fine(client: httpx.Client) -> None:
    response = client.get("/v1/models", headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_no_cors_preflight_is_granted(gw: FakeGateway) -> None:
    response = httpx.options(
        gw.base_url + "/chat/completions",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert response.status_code == 405
    assert not [h for h in response.headers if h.lower().startswith("access-control")]
    ok = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=AUTH, timeout=10)
    assert not [h for h in ok.headers if h.lower().startswith("access-control")]


def test_another_host_name_is_refused(gw: FakeGateway) -> None:
    """A page whose name was rebound to 127.0.0.1 sends its own Host."""
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json=CHAT,
        headers={**AUTH, "Host": "evil.example"},
        timeout=10,
    )
    assert response.status_code == 421 and gw.requests == []
    local = httpx.post(
        gw.base_url + "/chat/completions",
        json=CHAT,
        headers={**AUTH, "Host": "localhost"},
        timeout=10,
    )
    assert local.status_code == 200


# -- bounds --------------------------------------------------------------------------------------


def test_a_body_over_the_cap_gets_413_unread(gw: FakeGateway) -> None:
    gw.max_body = 1000
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1500000000\r\n\r\n"
    )
    reply = raw_request(gw, head, b"{" * 2000)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"request_too_large" in reply and gw.requests == []


def test_without_the_key_a_body_is_not_read(gw: FakeGateway) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer sk-wrong\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000000\r\n\r\n"
    )
    reply = raw_request(gw, head, b"{" * 2000)
    assert reply.startswith(b"HTTP/1.1 401 ") and b"invalid_api_key" in reply


def test_a_chunked_body_over_the_cap_gets_413(gw: FakeGateway) -> None:
    gw.max_body = 1000
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    reply = raw_request(gw, head, b"400\r\n" + b" " * 0x400 + b"\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("model", "size"),
    [("turing/gpt-image-1", "100000x100000"), ("doubao-seedream-4-5-251128", "8192x8192")],
)
def test_pixels_past_any_real_api_are_refused(client: httpx.Client, model: str, size: str) -> None:
    body = {"model": model, "prompt": "x", "size": size}
    response = client.post("/v1/images/generations", json=body)
    assert response.status_code == 400 and error(response)["code"] == "invalid_size"
    assert f"{MAX_PIXELS:,}" in error(response)["message"]


def test_an_odd_aspect_cannot_make_a_huge_chat_image(client: httpx.Client) -> None:
    body = {**CHAT, "image_config": {"aspect_ratio": "1000:1", "image_size": "4K"}}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and error(response)["code"] == "invalid_size"


def test_the_record_is_bounded_and_summarises_old_bodies(
    gw: FakeGateway, client: httpx.Client
) -> None:
    gw.records_kept, gw.record_bytes = 20, 300_000
    big = "A" * 100_000
    for _ in range(5):
        body = {**CHAT, "messages": [{"role": "user", "content": big}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
    kept = [r.json["messages"][0]["content"] for r in gw.requests]
    assert kept[-1] == big and kept[-2] == big  # the newest whole
    assert kept[0].startswith(f"<{len(big)} characters, sha256 ")  # the oldest summarised
    assert gw.requests[0].raw_size > len(big)
    for _ in range(25):
        client.get("/v1/models")
    assert len(gw.requests) == 20
    assert (RECORDS_KEPT, RECORD_BYTES) == (500, 32 << 20)  # the defaults


# -- what the real APIs refuse -------------------------------------------------------------------


def test_unknown_models_are_refused_in_each_apis_shape(client: httpx.Client) -> None:
    chat = client.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
    assert chat.status_code == 404 and error(chat)["code"] == "model_not_found"
    images = client.post("/v1/images/generations", json={"model": "no-such", "prompt": "x"})
    assert images.status_code == 400
    assert error(images)["param"] == "model" and error(images)["code"] == "invalid_value"


def test_models_the_user_adds_are_served(gw: FakeGateway, client: httpx.Client) -> None:
    gw.known_models.add("house-model")
    assert client.post("/v1/chat/completions", json={**CHAT, "model": "house-model"}).is_success


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "gpt-image-1", "prompt": "x", "seed": 1}, "unknown_parameter"),
        ({"model": "gpt-image-1", "prompt": "x", "colour": "red"}, "unknown_parameter"),
        ({"model": "gpt-image-1", "prompt": "x", "n": 11}, "integer_above_max_value"),
        ({"model": "dall-e-2", "prompt": "x", "n": 0}, "integer_below_min_value"),
        ({"model": "gpt-image-2", "prompt": "x", "size": "3856x1024"}, "invalid_size"),
    ],
)
def test_openai_images_refusals(client: httpx.Client, body: dict[str, Any], code: str) -> None:
    response = client.post("/v1/images/generations", json=body)
    assert response.status_code == 400 and error(response)["code"] == code
    if code == "unknown_parameter":  # OpenAI names the field
        assert error(response)["param"] in body


def test_gpt_image_2_on_openai_has_no_pixel_floor(client: httpx.Client) -> None:
    body = {"model": "gpt-image-2", "prompt": "x", "size": "512x512"}
    assert client.post("/v1/images/generations", json=body).status_code == 200
    turing = {**body, "model": "turing/gpt-image-2"}  # Turing's own floor stays
    assert client.post("/api/v1/images/generations", json=turing).status_code == 400


def test_a_mask_of_another_size_is_refused(client: httpx.Client) -> None:
    def edit(mask: bytes) -> httpx.Response:
        return client.post(
            "/v1/images/edits",
            data={"model": "gpt-image-1", "prompt": "hat", "size": "1024x1024"},
            files=[
                ("image", ("in.png", make_png(40, 30), "image/png")),
                ("mask", ("mask.png", mask, "image/png")),
            ],
        )

    refused = edit(make_png(30, 40))
    assert refused.status_code == 400
    assert error(refused)["message"] == (
        "Invalid mask: its size (30x40) must match the image's (40x30)"
    )
    assert edit(make_png(40, 30)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/images/generations", {"model": "turing/gpt-image-1", "prompt": "x", "n": 11}),
        ("/v1/images/generations", {"model": "doubao-seedream-4-5-251128", "n": 16}),
        ("/v1/images/generations", {"model": "turing/gpt-image-1", "partial_images": 9}),
        ("/v1/chat/completions", {**CHAT, "n": 11}),
    ],
)
def test_every_route_bounds_how_many_images_one_request_makes(
    client: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400 and error(response)["code"] == "invalid_value"


def test_json_nested_past_the_parser_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat/completions",
        content=b"[" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and error(response)["code"] == "invalid_json"


def test_connections_past_the_cap_are_hung_up_on(gw: FakeGateway) -> None:
    gw.max_connections = 2
    port = int(gw.url.rsplit(":", 1)[1])
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        for sock in held:  # each has its thread now
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
            assert third.recv(100) == b""  # closed without a word
    finally:
        for sock in held:
            sock.close()
