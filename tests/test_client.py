"""imggen.wire.client (and the Downloader it owns) through httpx.MockTransport: the key's scope,
redirects, downloads, status mapping, retries and Retry-After, SSE and JSON bodies, and the
--timeout deadline."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from imggen.dialects import DIALECTS
from imggen.errors import (
    AuthFailed,
    ContentFiltered,
    GatewayFailed,
    GatewayRefused,
    LinkExpired,
)
from imggen.job import FilePart, HttpCall, Payload
from imggen.limits import Limits
from imggen.wire.client import Client
from imggen.wire.retry import Pacer
from tests.conftest import SENTINEL_KEY, png_bytes
from tests.dialects import PNG_1X1, fixture, fixture_bytes

BASE = "https://gw.example/v1"
CHAT = DIALECTS["openrouter"]
GEMINI = DIALECTS["gemini"]
CALL = HttpCall(
    "POST",
    "/chat/completions",
    json={"model": "m", "messages": [{"role": "user", "content": "a fox"}]},
)
STREAM_CALL = HttpCall(
    "POST",
    "/chat/completions",
    json={"model": "m", "messages": [{"role": "user", "content": "a fox"}], "stream": True},
    stream=True,
)
SSE = {"content-type": "text/event-stream"}
PNG = png_bytes(2, 2)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering from a list (Response, exception, or callable)."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else httpx.Response(599)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(request)
        assert isinstance(reply, httpx.Response)
        return reply

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


# Retries without sleeping (the delays themselves are tested in test_retry.py)
NO_BACKOFF = Limits(backoff_base=0.0)


def make(handler: Handler, **kwargs: Any) -> Client:
    kwargs.setdefault("limits", NO_BACKOFF)
    return Client(BASE, SENTINEL_KEY, transport=httpx.MockTransport(handler), **kwargs)


@pytest.fixture
def spill(tmp_path: Path) -> Callable[[], tuple[Path, BinaryIO]]:
    counter = itertools.count()

    def new() -> tuple[Path, BinaryIO]:
        path = tmp_path / f"spill-{next(counter)}.part"
        return path, path.open("wb")

    return new


def ok_json(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=fixture("knox_reply.json") if body is None else body)


def image_response(data: bytes = PNG, **headers: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "image/png", **headers}, content=data)


def redirect(to: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"location": to})


# -- the key goes to the base URL only -------------------------------------------------------


def test_authorization_only_on_requests_to_the_base_url(spill: Any) -> None:
    rec = Recorder(
        ok_json(fixture("trinity_url.json")),
        image_response(),
    )
    with make(rec) as client:
        reply = client.send(CALL, CHAT, spill)
        path = client.download(reply.images[0].value, spill)

    assert path.read_bytes() == PNG
    assert rec.urls == [f"{BASE}/chat/completions", "https://cdn.trinity.example/gen/2f6c1e.png"]
    assert rec.requests[0].headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert "authorization" not in rec.requests[1].headers


def test_download_sends_no_cookies_even_on_the_gateway_host(spill: Any) -> None:
    session = {"set-cookie": "session=s3cr3t; Path=/"}
    rec = Recorder(
        httpx.Response(200, headers=session, json=fixture("knox_reply.json")),
        httpx.Response(302, headers={"location": f"{BASE}/files/b.png", **session}),
        image_response(),
    )
    with make(rec) as client:
        client.send(CALL, CHAT, spill)
        client.download(f"{BASE}/files/a.png", spill)

    assert [("authorization" in r.headers, "cookie" in r.headers) for r in rec.requests[1:]] == [
        (False, False),
        (False, False),
    ]


def test_api_redirect_is_not_followed_and_names_the_host(spill: Any) -> None:
    rec = Recorder(redirect("https://elsewhere.example/v1/chat/completions", 307))
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.send(CALL, CHAT, spill)

    assert info.value.exit_code == 5
    assert info.value.message == (
        "the gateway answered HTTP 307, a redirect to elsewhere.example; imggen does not "
        "follow redirects with your key"
    )
    assert rec.urls == [f"{BASE}/chat/completions"]


def test_error_message_never_echoes_the_key(spill: Any) -> None:
    body = {"error": {"message": f"invalid api key {SENTINEL_KEY}", "code": "invalid_api_key"}}
    rec = Recorder(httpx.Response(400, json=body))
    with make(rec) as client, pytest.raises(GatewayRefused) as info:
        client.send(CALL, CHAT, spill)

    assert SENTINEL_KEY not in info.value.message
    assert info.value.message == (
        "the gateway refused the request (HTTP 400): invalid api key *** (invalid_api_key)"
    )


def test_a_2xx_reply_echoing_the_key_is_redacted(spill: Any) -> None:
    """Text and usage of a successful reply pass the same redaction as error bodies."""
    url = f"data:image/png;base64,{PNG_1X1}"
    message = {"content": f"done for {SENTINEL_KEY}", "images": [{"image_url": {"url": url}}]}
    body = {"choices": [{"message": message}], "usage": {"note": f"key {SENTINEL_KEY}"}}
    with make(Recorder(httpx.Response(200, json=body))) as client:
        reply = client.send(CALL, CHAT, spill)

    assert (reply.text, reply.usage) == ("done for ***", {"note": "key ***"})
    assert len(reply.images) == 1


def test_an_error_object_in_a_2xx_reply_is_redacted(spill: Any) -> None:
    body = {"error": {"message": f"bad key {SENTINEL_KEY}"}}
    with make(Recorder(httpx.Response(200, json=body))) as client:
        with pytest.raises(GatewayFailed) as info:
            client.send(CALL, CHAT, spill)
    assert info.value.message == "the gateway reported an error in an HTTP 200 reply: bad key ***"


def test_a_network_error_holding_the_key_is_redacted_in_retry_lines(spill: Any) -> None:
    said: list[str] = []
    fail = httpx.LocalProtocolError(f"Illegal header value b'Bearer {SENTINEL_KEY}'")
    rec = Recorder(fail, fail)
    with make(rec, retries=1, on_retry=said.append) as client:
        with pytest.raises(GatewayFailed) as info:
            client.send(CALL, CHAT, spill)
    assert SENTINEL_KEY not in info.value.message + "".join(said)
    assert "Bearer ***" in info.value.message and "Bearer ***" in said[0]


def test_the_models_listing_is_redacted() -> None:
    body = {"data": [{"id": "m", "description": f"for {SENTINEL_KEY}"}]}
    with make(Recorder(httpx.Response(200, json=body))) as client:
        assert client.get_json("/models") == {"data": [{"id": "m", "description": "for ***"}]}


# -- downloads --------------------------------------------------------------------------------


def test_download_follows_five_redirects(spill: Any) -> None:
    hops = [redirect(f"https://cdn{i}.example/img.png") for i in range(1, 6)]
    rec = Recorder(*hops, image_response())
    with make(rec) as client:
        path = client.download("https://cdn0.example/img.png", spill)

    assert path.read_bytes() == PNG
    assert rec.urls[-1] == "https://cdn5.example/img.png"
    assert all("authorization" not in r.headers for r in rec.requests)


def test_download_refuses_a_sixth_redirect(spill: Any) -> None:
    rec = Recorder(*[redirect(f"https://cdn{i}.example/img.png") for i in range(1, 7)])
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.download("https://cdn0.example/img.png", spill)

    assert info.value.message == "the image URL redirected more than 5 times"
    assert len(rec.requests) == 6


@pytest.mark.parametrize(
    ("url", "first"),
    [
        ("ftp://files.example/a.png", None),
        ("https://cdn.example/a.png", redirect("file:///etc/passwd")),
    ],
)
def test_download_refuses_non_http_schemes(spill: Any, url: str, first: Any) -> None:
    rec = Recorder(*([first] if first else []))
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.download(url, spill)

    assert info.value.message.startswith("refusing to fetch a non-http(s) image URL")
    assert len(rec.requests) == (1 if first else 0)


def test_download_over_the_cap_by_content_length(spill: Any) -> None:
    rec = Recorder(image_response(png_bytes(40, 40)))
    with make(rec, limits=Limits(download_cap=64)) as client, pytest.raises(GatewayFailed) as info:
        client.download("https://cdn.example/big.png", spill)

    assert info.value.message.startswith("the image at cdn.example is ")
    assert info.value.message.endswith(" bytes, over the size cap")


def test_download_over_the_cap_while_streaming(spill: Any) -> None:
    body = png_bytes(40, 40)
    chunks = iter([body[i : i + 32] for i in range(0, len(body), 32)])  # no content-length
    rec = Recorder(httpx.Response(200, headers={"content-type": "image/png"}, content=chunks))
    with make(rec, limits=Limits(download_cap=64)) as client, pytest.raises(GatewayFailed) as info:
        client.download("https://cdn.example/big.png", spill)

    assert info.value.message == "the image at cdn.example is over the 64 cap"


@pytest.mark.parametrize("status", [403, 404, 410])
def test_download_gone_is_link_expired_and_not_retried(spill: Any, status: int) -> None:
    rec = Recorder(httpx.Response(status, text="gone"), image_response())
    with make(rec) as client, pytest.raises(LinkExpired) as info:
        client.download("https://files.xty.app/images/a.png", spill)

    assert info.value.exit_code == 5
    assert info.value.message == (
        f"the image link on files.xty.app has expired or is gone (HTTP {status})"
    )
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    ("name", "ctype"),
    [("expired_link.xml", "application/xml"), ("gateway_502.html", "text/html")],
)
def test_download_of_a_page_instead_of_an_image_is_link_expired(
    spill: Any, tmp_path: Path, name: str, ctype: str
) -> None:
    page = fixture_bytes(name)
    rec = Recorder(httpx.Response(200, headers={"content-type": ctype}, content=page))
    with make(rec) as client, pytest.raises(LinkExpired) as info:
        client.download("https://files.xty.app/images/a.png", spill)

    assert info.value.message == (
        "the image link on files.xty.app answered a web page, not an image (an expired link?)"
    )
    assert list(tmp_path.glob("spill-*")) == []


def test_download_retries_a_503(spill: Any) -> None:
    rec = Recorder(httpx.Response(503), image_response())
    with make(rec) as client:
        path = client.download("https://cdn.example/a.png", spill)

    assert path.read_bytes() == PNG
    assert client.retried == 1


# -- status mapping and retries ----------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_retried_statuses_then_success(spill: Any, status: int) -> None:
    messages: list[str] = []
    body = {"error": {"message": "try later", "type": "server_error"}}
    rec = Recorder(httpx.Response(status, json=body), ok_json())
    with make(rec, on_retry=messages.append) as client:
        reply = client.send(CALL, CHAT, spill)

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    # a 429 is turned away before any work: that retry cannot bill twice
    billed = "" if status == 429 else ", a retried generation may be billed twice"
    assert len(rec.requests) == 2
    assert (client.retried, client.resent) == (1, 0 if status == 429 else 1)
    assert messages == [
        f"HTTP {status} from the gateway: try later (server_error); retrying POST "
        f"/chat/completions in 0.0 s (attempt 2 of 3{billed})"
    ]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectTimeout("timed out"),
    ],
    ids=["refused", "dns", "connect-timeout"],
)
def test_connect_failure_is_retried_and_never_called_billed(spill: Any, failure: Exception) -> None:
    messages: list[str] = []
    rec = Recorder(failure, ok_json())
    with make(rec, on_retry=messages.append) as client:
        client.send(CALL, CHAT, spill)

    assert len(rec.requests) == 2
    assert (client.retried, client.resent) == (1, 0)
    assert messages[0].startswith("could not connect to gw.example")
    assert messages[0].endswith("retrying POST /chat/completions in 0.0 s (attempt 2 of 3)")


def test_a_broken_reply_is_retried_and_may_be_billed(spill: Any) -> None:
    messages: list[str] = []
    rec = Recorder(httpx.ReadError("connection reset by peer"), ok_json())
    with make(rec, on_retry=messages.append) as client:
        client.send(CALL, CHAT, spill)

    assert (client.retried, client.resent) == (1, 1)
    assert messages[0].endswith("(attempt 2 of 3, a retried generation may be billed twice)")


def test_retries_exhausted_raise_the_last_failure(spill: Any) -> None:
    rec = Recorder(*[httpx.Response(502, text="bad gateway")] * 3)
    with make(rec, retries=2) as client, pytest.raises(GatewayFailed) as info:
        client.send(CALL, CHAT, spill)

    assert info.value.message == "HTTP 502 from the gateway: bad gateway"
    assert len(rec.requests) == 3
    assert client.retried == 2


def test_html_error_page_is_named_not_dumped(spill: Any) -> None:
    page = httpx.Response(
        502, headers={"content-type": "text/html"}, content=fixture_bytes("gateway_502.html")
    )
    with make(Recorder(page), retries=0) as client, pytest.raises(GatewayFailed) as info:
        client.send(CALL, CHAT, spill)

    assert info.value.message == (
        "HTTP 502 from the gateway: an HTML page: 502 Bad Gateway instead of JSON"
    )


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (
            httpx.Response(400, json=fixture("xty_error.json")),
            GatewayRefused,
            "the gateway refused the request (HTTP 400): 请求失败 (invalid_request_error)",
        ),
        (
            httpx.Response(404, json={"error": {"message": "model not found"}}),
            GatewayRefused,
            "the gateway refused the request (HTTP 404): model not found",
        ),
        (
            httpx.Response(400, json=fixture("turing_content_filter.json")),
            GatewayRefused,
            "the gateway refused the request (content filter): The prompt was blocked by "
            "content moderation. (contentFilter)",
        ),
        (
            # a refusal is final whatever its status (SPEC: never retried on a content filter)
            httpx.Response(500, json=fixture("turing_image_filtered.json")),
            GatewayRefused,
            "the gateway refused the request (content filter): Generated image was filtered "
            "by the output moderation. Please try a different prompt. (invalid_request_error)",
        ),
        (
            httpx.Response(401, json={"error": {"message": "Invalid token"}}),
            AuthFailed,
            "the gateway rejected the API key (HTTP 401): Invalid token",
        ),
    ],
)
def test_refusals_are_not_retried(
    spill: Any, response: httpx.Response, error: type, message: str
) -> None:
    rec = Recorder(response, ok_json())
    with make(rec) as client, pytest.raises(error) as info:
        client.send(CALL, CHAT, spill)

    assert info.value.message == message
    assert len(rec.requests) == 1
    assert client.retried == 0


def test_retry_after_above_the_cap_fails_at_once(spill: Any) -> None:
    messages: list[str] = []
    rec = Recorder(httpx.Response(429, headers={"retry-after": "3600"}, text="slow down"))
    started = time.monotonic()
    pacer = Pacer()
    with (
        make(rec, on_retry=messages.append, pacer=pacer) as client,
        pytest.raises(GatewayFailed) as info,
    ):
        client.send(CALL, CHAT, spill)

    assert info.value.message == (
        "HTTP 429 from the gateway: slow down; the gateway asks to wait 3600 s, more than "
        "imggen's 60 s cap"
    )
    assert info.value.hint == "try again later"
    assert (len(rec.requests), client.retried, messages) == (1, 0, [])
    assert time.monotonic() - started < 5
    # nobody else sharing the Pacer is held back for a wait that was refused
    assert pacer.until < time.monotonic() + 1


def test_retry_after_ms_is_honoured_and_shared_through_the_pacer(spill: Any) -> None:
    rec = Recorder(httpx.Response(429, headers={"retry-after-ms": "50"}), ok_json())
    messages: list[str] = []
    pacer = Pacer()
    started = time.monotonic()
    with make(rec, on_retry=messages.append, pacer=pacer) as client:
        client.send(CALL, CHAT, spill)

    assert len(rec.requests) == 2
    assert messages[0].startswith("HTTP 429 from the gateway; retrying POST /chat/completions")
    assert " in 0.1 s " in messages[0]  # 50 ms, shown to one decimal
    # every worker sharing the Pacer waits out the same 50 ms
    assert started + 0.05 <= pacer.until < started + 1


# -- JSON and multipart bodies -----------------------------------------------------------------


def test_json_call_sends_the_body_and_parses_the_reply(spill: Any) -> None:
    rec = Recorder(ok_json(fixture("turing_gemini25.json")))
    with make(rec) as client:
        reply = client.send(CALL, GEMINI, spill)

    request = rec.requests[0]
    assert (request.method, request.headers["content-type"]) == ("POST", "application/json")
    assert json.loads(request.content) == CALL.json
    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == "Here's your dog!"


def test_html_page_with_200_is_a_gateway_failure(spill: Any) -> None:
    page = httpx.Response(
        200, headers={"content-type": "text/html"}, content=fixture_bytes("gateway_502.html")
    )
    with make(Recorder(page)) as client, pytest.raises(GatewayFailed) as info:
        client.send(CALL, CHAT, spill)

    assert info.value.message == ("the gateway answered HTTP 200 with an HTML page instead of JSON")
    assert info.value.hint == "check base_url: it may point at a website, not the API"


def test_multipart_call_sends_fields_then_files(spill: Any) -> None:
    call = HttpCall(
        "POST",
        "/images/edits",
        form=(("model", "turing/gpt-image-2"), ("prompt", "蓝色瓶子"), ("n", "1")),
        files=(
            FilePart("image[]", "a.png", "image/png", b"AAA"),
            FilePart("image[]", "b.png", "image/png", b"BBB"),
        ),
    )
    rec = Recorder(ok_json(fixture("images_b64.json")))
    with make(rec) as client:
        reply = client.send(call, DIALECTS["images"], spill)

    request = rec.requests[0]
    ctype = request.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=", 1)[1]
    assert int(request.headers["content-length"]) == len(request.content)
    assert request.content.decode().split("\r\n") == [
        f"--{boundary}",
        'Content-Disposition: form-data; name="model"',
        "",
        "turing/gpt-image-2",
        f"--{boundary}",
        'Content-Disposition: form-data; name="prompt"',
        "",
        "蓝色瓶子",
        f"--{boundary}",
        'Content-Disposition: form-data; name="n"',
        "",
        "1",
        f"--{boundary}",
        'Content-Disposition: form-data; name="image[]"; filename="a.png"',
        "Content-Type: image/png",
        "",
        "AAA",
        f"--{boundary}",
        'Content-Disposition: form-data; name="image[]"; filename="b.png"',
        "Content-Type: image/png",
        "",
        "BBB",
        f"--{boundary}--",
        "",
    ]
    assert len(reply.images) == 2


# -- SSE streams -------------------------------------------------------------------------------


def split(data: bytes, size: int) -> Iterator[bytes]:
    """Chunks of `size` bytes: most boundaries fall in the middle of a line."""
    return iter([data[i : i + size] for i in range(0, len(data), size)])


def sse(*events: Any) -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        out += f"data: {data}\n\n".encode()
    return out


def delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields}]}


IMAGE_EVENT = delta(
    images=[{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}}]
)


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_knox_stream_split_anywhere(spill: Any, size: int) -> None:
    stream = split(fixture_bytes("knox_stream.sse"), size)
    rec = Recorder(httpx.Response(200, headers=SSE, content=stream))
    with make(rec) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == "Here is your futuristic city."
    assert reply.usage == {"prompt_tokens": 8, "completion_tokens": 1300, "total_tokens": 1308}
    assert reply.shapes == ["delta.images"]
    assert rec.requests[0].headers["accept"] == "text/event-stream"  # it streams


def test_a_call_that_does_not_stream_accepts_json_only(spill: Any) -> None:
    """Sent `text/event-stream, application/json` before: an OpenAPI mock (Prism) then
    answered a non-streaming request with a stream."""
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}}
    body = {"choices": [{"message": {"content": "", "images": [image]}}]}
    rec = Recorder(httpx.Response(200, json=body))
    with make(rec) as client:
        client.send(dataclasses.replace(STREAM_CALL, stream=False), CHAT, spill)
    assert rec.requests[0].headers["accept"] == "application/json"


def test_gemini_3_stream_with_raw_base64(spill: Any) -> None:
    stream = split(fixture_bytes("turing_gemini3_stream.sse"), 13)
    with make(Recorder(httpx.Response(200, headers=SSE, content=stream))) as client:
        reply = client.send(STREAM_CALL, GEMINI, spill)

    assert reply.images == [Payload("base64", PNG_1X1)]
    assert reply.usage == {"prompt_tokens": 7, "completion_tokens": 1210, "total_tokens": 1217}


def test_stream_with_crlf_keep_alives_and_usage_only_final_chunk(spill: Any) -> None:
    body = (
        b": OPENROUTER PROCESSING\r\n\r\n"
        + sse(delta(role="assistant", content="Here "), IMAGE_EVENT).replace(b"\n", b"\r\n")
        + b": OPENROUTER PROCESSING\n\n"
        + sse({"choices": [], "usage": {"total_tokens": 5}}, "[DONE]")
    )
    with make(Recorder(httpx.Response(200, headers=SSE, content=split(body, 5)))) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)

    assert (len(reply.images), reply.text, reply.usage) == (1, "Here ", {"total_tokens": 5})


def test_stream_text_reply_with_done_is_returned_for_no_image(spill: Any) -> None:
    body = sse(delta(content="I can't draw that, "), delta(content="sorry."), "[DONE]")
    with make(Recorder(httpx.Response(200, headers=SSE, content=split(body, 9)))) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)

    assert (reply.images, reply.text) == ([], "I can't draw that, sorry.")


def test_stream_link_in_joined_text_is_found_at_the_end(spill: Any) -> None:
    body = sse(delta(content="![image](https://files.xty"), delta(content=".app/a.png)"), "[DONE]")
    with make(Recorder(httpx.Response(200, headers=SSE, content=split(body, 9)))) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)

    assert reply.images == [Payload("url", "https://files.xty.app/a.png")]
    assert reply.text == ""


def test_stream_ending_without_image_or_done_fails(spill: Any) -> None:
    body = sse(delta(role="assistant"), {"choices": [], "usage": {"total_tokens": 1}})
    rec = Recorder(
        httpx.Response(200, headers=SSE, content=split(body, 16)),
        httpx.Response(200, headers=SSE, content=split(fixture_bytes("knox_stream.sse"), 64)),
    )
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message == ("the gateway's stream ended before the image arrived (no [DONE])")
    assert len(rec.requests) == 1  # a generation had begun (and may be billed): not retried


def test_stream_cut_inside_an_event_fails(spill: Any) -> None:
    body = sse(delta(role="assistant"))[:-1] + b'data: {"choices": [{"delta": {"ima'
    rec = Recorder(httpx.Response(200, headers=SSE, content=split(body, 16)))
    with make(rec, retries=0) as client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message == "the gateway's stream was cut off in the middle of an event"


def test_empty_stream_is_retried_then_reported(spill: Any) -> None:
    empty = httpx.Response(200, headers=SSE, content=b"")
    good = httpx.Response(200, headers=SSE, content=split(fixture_bytes("knox_stream.sse"), 64))
    with make(Recorder(empty, good)) as client:
        assert len(client.send(STREAM_CALL, CHAT, spill).images) == 1
        assert client.retried == 1

    empty = httpx.Response(200, headers=SSE, content=b": OPENROUTER PROCESSING\n\n")
    with make(Recorder(empty), retries=0) as client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message == "the gateway's stream ended before any event arrived"


def test_mid_stream_error_event(spill: Any) -> None:
    body = sse(
        delta(role="assistant"),
        {"error": {"message": "upstream overloaded", "code": 502}},
        "[DONE]",
    )
    rec = Recorder(httpx.Response(200, headers=SSE, content=split(body, 11)), ok_json())
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message == (
        "the gateway reported an error mid-stream: upstream overloaded (502)"
    )
    assert len(rec.requests) == 1


def test_mid_stream_content_filter_is_a_refusal(spill: Any) -> None:
    body = sse(fixture("turing_image_filtered.json"))
    rec = Recorder(httpx.Response(200, headers=SSE, content=body))
    with make(rec) as client, pytest.raises(GatewayRefused) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message.startswith(
        "the gateway refused the prompt: Generated image was filtered"
    )


def reset_after(*chunks: bytes) -> Iterator[bytes]:
    yield from chunks
    raise httpx.ReadError("connection reset by peer")


def test_stream_that_delivered_is_not_retried_after_a_reset(spill: Any) -> None:
    started = sse(delta(role="assistant", content="Here is your image"))
    rec = Recorder(
        httpx.Response(200, headers=SSE, content=reset_after(started)),
        httpx.Response(200, headers=SSE, content=split(fixture_bytes("knox_stream.sse"), 64)),
    )
    with make(rec) as client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert info.value.message == (
        "the connection to gw.example broke mid-reply: connection reset by peer "
        "(the stream had started delivering, so it is not retried)"
    )
    assert (len(rec.requests), client.retried) == (1, 0)


def test_stream_reset_before_anything_arrived_is_retried(spill: Any) -> None:
    rec = Recorder(
        httpx.Response(200, headers=SSE, content=reset_after(b": OPENROUTER PROCESSING\n\n")),
        httpx.Response(200, headers=SSE, content=split(fixture_bytes("knox_stream.sse"), 64)),
    )
    with make(rec) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)

    assert len(reply.images) == 1
    assert (len(rec.requests), client.retried) == (2, 1)


# -- --timeout ---------------------------------------------------------------------------------


def slow_keepalives() -> Iterator[bytes]:
    for _ in range(50):  # bounded: 5 s at most if the deadline were ignored
        time.sleep(0.1)
        yield b": OPENROUTER PROCESSING\n\n"


def test_deadline_cuts_a_slow_stream_mentioning_timeout(spill: Any) -> None:
    rec = Recorder(
        lambda request: httpx.Response(200, headers=SSE, content=slow_keepalives()),
        ok_json(),
    )
    started = time.monotonic()
    client = make(rec, deadline=time.monotonic() + 0.3)
    with client, pytest.raises(GatewayFailed) as info:
        client.send(STREAM_CALL, CHAT, spill)

    assert "--timeout" in info.value.message
    assert time.monotonic() - started < 3
    assert len(rec.requests) == 1


def test_deadline_already_passed_sends_nothing(spill: Any) -> None:
    rec = Recorder(ok_json())
    client = make(rec, deadline=time.monotonic() - 1)
    with client, pytest.raises(GatewayFailed) as info:
        client.send(CALL, CHAT, spill)

    assert "--timeout" in info.value.message
    assert rec.requests == []


def test_errors_carry_the_http_status_and_filters_their_own_class() -> None:
    from imggen.errors import ContentFiltered, GatewayRefused

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/filtered"):
            body = {"error": {"code": "contentFilter", "message": "filtered"}}
            return httpx.Response(500, json=body)
        return httpx.Response(404, json={"error": {"message": "no such model"}})

    transport = httpx.MockTransport(handler)
    client = Client("https://gw.test/v1", "k", transport=transport, retries=2, limits=NO_BACKOFF)
    with client:
        with pytest.raises(GatewayRefused) as refused:
            client.get_json("/models")
        with pytest.raises(ContentFiltered) as filtered:
            client.get_json("/filtered")
    assert (refused.value.status, type(refused.value)) == (404, GatewayRefused)
    assert filtered.value.status == 500
    assert client.retried == 0


def test_retry_note_about_billing_only_for_generation_requests() -> None:
    replies = [httpx.Response(503), httpx.Response(200, json={"data": []})]
    messages: list[str] = []
    client = Client(
        "https://gw.test/v1",
        "k",
        transport=httpx.MockTransport(lambda request: replies.pop(0)),
        on_retry=messages.append,
        limits=NO_BACKOFF,
    )
    with client:
        client.get_json("/models")
    assert len(messages) == 1
    assert messages[0].startswith("HTTP 503 from the gateway; retrying GET /models in ")
    assert "billed" not in messages[0]


def test_final_done_without_its_blank_line_keeps_the_image(spill: Any) -> None:
    body = sse(IMAGE_EVENT) + b"data: [DONE]\n"  # the stream ends right after the line
    rec = Recorder(httpx.Response(200, headers=SSE, content=split(body, 5)))
    with make(rec) as client:
        reply = client.send(STREAM_CALL, CHAT, spill)
    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]


def test_last_event_without_blank_line_but_cut_json_is_a_broken_stream(spill: Any) -> None:
    body = sse(delta(role="assistant")) + b'data: {"choices": [{"delta": {"ima'
    rec = Recorder(httpx.Response(200, headers=SSE, content=split(body, 5)))
    with make(rec) as client, pytest.raises(GatewayFailed, match="cut off in the middle"):
        client.send(STREAM_CALL, CHAT, spill)
    assert len(rec.requests) == 1  # it had delivered an event: not retried


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "Generated image was filtered", "code": "x"}, ContentFiltered),
        ({"message": "upstream exploded"}, GatewayFailed),
    ],
)
def test_error_object_in_a_200_body_is_reported_not_no_image(spill: Any, error, kind) -> None:
    rec = Recorder(httpx.Response(200, json={"error": error}))
    with make(rec) as client, pytest.raises(kind) as info:
        client.send(CALL, CHAT, spill)
    assert error["message"] in info.value.message
    assert len(rec.requests) == 1


def test_a_429_without_retry_after_still_pauses_every_worker(spill: Any) -> None:
    rec = Recorder(httpx.Response(429), ok_json())
    pacer = Pacer()
    slow = Limits(backoff_base=0.4, backoff_cap=0.4)  # 0.2 to 0.4 s with jitter
    with make(rec, pacer=pacer, limits=slow) as client:
        started = time.monotonic()
        client.send(CALL, CHAT, spill)
    assert pacer.until >= started + 0.2  # the pause others wait on, not just this worker's


def test_a_failing_source_closes_the_open_spill_file(tmp_path: Path) -> None:
    from imggen.wire.replies import read_json

    files: list[BinaryIO] = []

    def new() -> tuple[Path, BinaryIO]:
        path = tmp_path / f"s{len(files)}"
        files.append(path.open("wb"))
        return path, files[-1]

    def chunks() -> Iterator[bytes]:
        yield b'{"data": [{"b64_json": "' + b"A" * 200_000
        raise httpx.ReadError("reset")

    with pytest.raises(httpx.ReadError):
        read_json(chunks(), 200, new)
    assert len(files) == 1 and files[0].closed
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("key", "text", "shown"),
    [
        ("k", "only keep-alives, k", "only keep-alives, ***"),
        ("test-key", "key test-key and xtest-keyx", "key *** and x***x"),
    ],
)
def test_a_short_key_is_redacted_where_it_stands_alone(key: str, text: str, shown: str) -> None:
    assert Client(BASE, key)._redact(text) == shown


# -- streamed images (OpenAI's images API, OpenRouter's Image API) ---------------------------

IMAGE_STREAM_CALL = HttpCall(
    "POST", "/images/generations", json={"model": "gpt-image-1", "stream": True}, stream=True
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_image_events_named_only_by_event_lines_and_without_done(spill: Any) -> None:
    # the JSON carries no `type`: the `event:` line names it; no [DONE] ends the stream
    body = (
        b"event: image_generation.partial_image\n"
        + f'data: {{"b64_json": "{_b64(PNG)}", "partial_image_index": 0}}\n\n'.encode()
        + b"event: image_generation.completed\n"
        + f'data: {{"b64_json": "{_b64(PNG)}", "usage": {{"total_tokens": 9}}}}\n\n'.encode()
    )
    with make(Recorder(httpx.Response(200, headers=SSE, content=split(body, 7)))) as client:
        reply = client.send(IMAGE_STREAM_CALL, DIALECTS["images"], spill)

    assert len(reply.partials) == 1  # a preview, never a result
    assert len(reply.images) == 1
    assert reply.usage == {"total_tokens": 9}


def test_an_image_error_event_fails_with_the_gateways_message(spill: Any) -> None:
    body = sse({"type": "error", "error": {"message": "upstream exploded", "code": "x"}})
    with make(Recorder(httpx.Response(200, headers=SSE, content=body))) as client:
        with pytest.raises(GatewayFailed, match="upstream exploded"):
            client.send(IMAGE_STREAM_CALL, DIALECTS["images"], spill)
