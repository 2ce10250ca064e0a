"""issue 25: what real gateways and proxies did to imggen, replayed on loopback: more partial
renders than asked, a 500 on streaming requests, a web page instead of an API."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e.hostile import Hostile, run_bounded

PNG = make_png(64, 64, noise=True)


def openai_env(gw: Hostile) -> dict[str, str]:
    return {
        "IMGGEN_PROFILE": "openai",
        "IMGGEN_BASE_URL": f"{gw.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
    }


def sse(h: BaseHTTPRequestHandler, events: list[dict[str, object]]) -> None:
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def test_partials_n_saves_at_most_n_partial_renders(tmp_path: Path) -> None:
    b64 = base64.b64encode(PNG).decode()
    partial = {"type": "image_generation.partial_image", "b64_json": b64}
    done_event = {"type": "image_generation.completed", "b64_json": b64}
    with Hostile() as gw:
        gw.routes["/v1/images/generations"] = lambda h: sse(h, [partial] * 66 + [done_event])
        args = ["generate", "x", "--partials", "2", "--save-partials", "-o", "a.png"]
        done, _ = run_bounded(args, openai_env(gw), tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.partial-1.png",
        "a.partial-2.png",
        "a.png",
    ]
    assert err.count("more partial renders than the 2 asked") == 1, err


def _status(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
    h.send_response(code)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _proxy_500(h: BaseHTTPRequestHandler) -> None:
    error = {"error": {"message": "litellm.APIError: streaming is not supported here"}}
    _status(h, 500, json.dumps(error).encode(), "application/json")


def test_a_500_on_a_streaming_images_request_is_resent_once_without_the_stream(
    tmp_path: Path,
) -> None:
    accepts: list[str] = []
    b64 = base64.b64encode(PNG).decode()

    def answer(h: BaseHTTPRequestHandler) -> None:
        accepts.append(h.headers.get("Accept", ""))
        if len(accepts) == 1:
            _proxy_500(h)
        else:
            _status(h, 200, json.dumps({"data": [{"b64_json": b64}]}).encode(), "application/json")

    with Hostile() as gw:
        gw.routes["/v1/images/generations"] = answer
        done, _ = run_bounded(
            ["generate", "x", "--partials", "2", "-o", "a.png"], openai_env(gw), tmp_path
        )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert accepts == ["text/event-stream", "application/json"]
    assert "sending it once more without the stream" in err
    assert (tmp_path / "a.png").exists()


def test_a_gateway_failing_the_stream_and_the_plain_request_is_asked_twice_not_nine_times(
    tmp_path: Path,
) -> None:
    with Hostile() as gw:
        gw.routes["/v1/images/generations"] = _proxy_500
        done, _ = run_bounded(
            ["generate", "x", "--stream", "-o", "a.png"], openai_env(gw), tmp_path
        )
        hits = gw.count("/v1/images/generations")
    err = done.stderr.decode()
    assert done.returncode == 5, err
    assert hits == 2  # before: 3 streaming tries, each retried upstream by the proxy
    assert "also without the stream" in err and "billed more than once" in err
    assert "try again later" not in err


def _web_page(code: int) -> Callable[[BaseHTTPRequestHandler], None]:
    page = b"<!DOCTYPE html><html><head><title>Error response</title></head><body>nope</body>"
    return lambda h: _status(h, code, page, "text/html")


def test_a_website_at_the_base_url_is_said_at_once_and_doctor_fails_it(tmp_path: Path) -> None:
    """`python -m http.server` answers POST with an HTML 501 and GET with an HTML 404: imggen
    retried the 501 and said "the gateway is failing or busy", and doctor passed it."""
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = _web_page(501)
        gw.routes["/v1/models"] = _web_page(404)
        env = {**gw.env(), "IMGGEN_PROFILE": "openrouter"}
        done, _ = run_bounded(["generate", "x", "-o", "a.png", "--no-stream"], env, tmp_path)
        posts = gw.count("/v1/chat/completions")
        doctor, _ = run_bounded(["doctor"], env, tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 3, err
    assert posts == 1 and "retry" not in err
    assert "base_url does not lead to an API: HTTP 501 with an HTML page" in err
    assert "failing or busy" not in err
    assert doctor.returncode == 3, doctor.stderr.decode()
    assert "reachable\tFAIL\tbase_url does not lead to an API" in doctor.stdout.decode()


WEIRD_IMAGES = [
    {"data": [{"b64_json": 5}]},
    {"data": [{"b64_json": ["aGk="]}]},
    {"data": [{"url": 12}]},
    {"data": [{"url": ["http://x"]}]},
    {"data": 7},
    {"data": [5]},
    {"data": [{"b64_json": {"x": 1}}]},
]


@pytest.mark.parametrize("body", WEIRD_IMAGES)
def test_an_image_field_that_is_a_number_or_a_list_is_the_gateways_fault_not_a_bug(
    tmp_path: Path, body: dict[str, object]
) -> None:
    with Hostile() as gw:
        gw.routes["/v1/images/generations"] = lambda h: _status(
            h, 200, json.dumps(body).encode(), "application/json"
        )
        done, _ = run_bounded(["generate", "x", "-o", "a.png"], openai_env(gw), tmp_path)
    err = done.stderr.decode()
    assert done.returncode in (5, 6), err
    assert "internal error" not in err and "bug" not in err


WEIRD_CHAT = [
    {"choices": [{"message": {"content": "", "images": [{"image_url": {"url": 5}}]}}]},
    {"choices": [{"message": {"content": "", "images": [{"image_url": [1]}]}}]},
    {"choices": [{"message": {"content": "", "images": 3}}]},
    {"choices": [{"message": {"content": [5, {"type": "image_url", "image_url": 9}]}}]},
    {"choices": [{"message": {"content": 5}}]},
    {"choices": 5},
]


@pytest.mark.parametrize("body", WEIRD_CHAT)
def test_a_chat_image_field_that_is_a_number_or_a_list_is_not_a_bug(
    tmp_path: Path, body: dict[str, object]
) -> None:
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: _status(
            h, 200, json.dumps(body).encode(), "application/json"
        )
        done, _ = run_bounded(["generate", "x", "-o", "a.png", "--no-stream"], gw.env(), tmp_path)
    err = done.stderr.decode()
    assert done.returncode in (5, 6), err
    assert "internal error" not in err and "bug" not in err
