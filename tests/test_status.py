"""imggen.wire.status as tables: one row per status and body, what the error is and whether it is
asked again; the gateway's words from error bodies; the HTML sniffer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from imggen.errors import (
    AuthFailed,
    ContentFiltered,
    GatewayFailed,
    GatewayRefused,
    ImggenError,
    LinkExpired,
)
from imggen.wire.status import (
    Verdict,
    error_for_download,
    error_for_status,
    error_text,
    event_error,
    is_content_filter,
    looks_like_html,
)
from tests.conftest import SENTINEL_KEY
from tests.dialects import fixture_bytes


def redact(text: str) -> str:
    return text.replace(SENTINEL_KEY, "***")


def meaning(status: int, body: bytes, headers: dict[str, str]) -> Verdict:
    """As the client reads an answer: an error object in a 2xx body, else the status."""
    if 200 <= status < 300:
        where = f"in an HTTP {status} reply"
        return Verdict(event_error(json.loads(body), redact, where=where))
    return error_for_status(status, body, headers, redact)


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Row:
    status: int
    body: bytes
    error: type[ImggenError]
    message: str
    retry: bool = False
    wait: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


OPENAI_400 = {
    "error": {
        "message": "Invalid size '100x100'. Supported sizes are 1024x1024, 1024x1536, 1536x1024.",
        "type": "invalid_request_error",
        "param": "size",
        "code": "invalid_size",
    }
}
FILTER = fixture_bytes("turing_content_filter.json")
FILTERED_TEXT = "The prompt was blocked by content moderation. (contentFilter)"

ROWS = {
    "401 bad key": Row(401, js({"error": {"message": "Invalid token"}}), AuthFailed,
                       "the gateway rejected the API key (HTTP 401): Invalid token"),
    "403 echoing the key": Row(403, js({"error": {"message": f"key {SENTINEL_KEY} denied"}}),
                               AuthFailed, "the gateway rejected the API key (HTTP 403): "
                               "key *** denied"),
    "404 unknown model": Row(404, js({"error": {"message": "model not found"}}), GatewayRefused,
                             "the gateway refused the request (HTTP 404): model not found"),
    "400 OpenAI error JSON": Row(400, js(OPENAI_400), GatewayRefused,
                                 "the gateway refused the request (HTTP 400): Invalid size "
                                 "'100x100'. Supported sizes are 1024x1024, 1024x1536, "
                                 "1536x1024. (invalid_size)"),
    "418 with no body": Row(418, b"", GatewayRefused,
                            "the gateway refused the request (HTTP 418)"),
    "429 Retry-After seconds": Row(429, b"slow down", GatewayFailed,
                                   "HTTP 429 from the gateway: slow down", retry=True, wait=7.0,
                                   headers={"retry-after": "7"}),
    "429 retry-after-ms": Row(429, b"", GatewayFailed, "HTTP 429 from the gateway", retry=True,
                              wait=1.5, headers={"retry-after-ms": "1500", "retry-after": "9"}),
    "500 OpenAI error JSON": Row(500, js({"error": {"message": "try later",
                                                    "type": "server_error"}}),
                                 GatewayFailed, "HTTP 500 from the gateway: try later "
                                 "(server_error)", retry=True),
    "502 HTML page": Row(502, fixture_bytes("gateway_502.html"), GatewayFailed,
                         "HTTP 502 from the gateway: an HTML page: 502 Bad Gateway instead of "
                         "JSON", retry=True),
    "504 plain text": Row(504, b"upstream timed out\n", GatewayFailed,
                          "HTTP 504 from the gateway: upstream timed out", retry=True),
    "content filter at 400": Row(400, FILTER, ContentFiltered,
                                 f"the gateway refused the request (content filter): "
                                 f"{FILTERED_TEXT}"),
    # a refusal is final whatever its status (SPEC: never retried on a content filter)
    "content filter at 500": Row(500, FILTER, ContentFiltered,
                                 f"the gateway refused the request (content filter): "
                                 f"{FILTERED_TEXT}"),
    "content filter at 200": Row(200, FILTER, ContentFiltered,
                                 f"the gateway refused the prompt: {FILTERED_TEXT}"),
    "error object at 200": Row(200, js({"error": {"message": "upstream exploded"}}),
                               GatewayFailed, "the gateway reported an error in an HTTP 200 "
                               "reply: upstream exploded"),
    "307 redirect": Row(307, b"", GatewayFailed,
                        "the gateway answered HTTP 307, a redirect to elsewhere.example; imggen "
                        "does not follow redirects with your key",
                        headers={"location": "https://elsewhere.example/v1/chat/completions"}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ROWS))
def test_status_table(name: str) -> None:
    row = ROWS[name]
    verdict = meaning(row.status, row.body, row.headers)

    assert type(verdict.error) is row.error
    assert verdict.error.message == row.message
    assert (verdict.retry, verdict.wait) == (row.retry, row.wait)
    assert verdict.error.status == (None if row.status < 300 else row.status)
    assert verdict.error.delivered is False


def test_hints_say_what_to_do() -> None:
    hints = {
        status: error_for_status(status, b"", {}, redact).error.hint
        for status in (302, 401, 404, 400, 503)
    }
    assert hints == {
        302: "set base_url to the address it redirects to",
        401: "check the key: `imggen config show` says where it comes from",
        404: "check -m (`imggen models` lists them) and base_url",
        400: "check the options and --param fields against its message; it is not retried",
        503: "the gateway is failing or busy; try again later (or raise --retries)",
    }


GONE = "the image link on cdn.example has expired or is gone (HTTP {})"
FETCH = "HTTP {} downloading the image from cdn.example"


@pytest.mark.parametrize(
    ("status", "error", "message", "retry"),
    [
        (200, None, None, False),
        (403, LinkExpired, GONE, False),
        (404, LinkExpired, GONE, False),
        (410, LinkExpired, GONE, False),
        (429, GatewayFailed, FETCH, True),
        (503, GatewayFailed, FETCH, True),
        (400, GatewayFailed, FETCH, False),
    ],
)
def test_download_status_table(
    status: int, error: type | None, message: str | None, retry: bool
) -> None:
    verdict = error_for_download(status, "https://cdn.example/a.png?sig=secret")
    if error is None:
        assert verdict is None
        return
    assert verdict is not None
    assert (type(verdict.error), verdict.error.message, verdict.retry) == (
        error,
        str(message).format(status),
        retry,
    )
    assert verdict.error.status is None  # the image host is not the gateway


def test_expired_link_hint_names_no_internal_document() -> None:
    verdict = error_for_download(410, "https://files.xty.app/a.png")
    assert verdict is not None
    assert verdict.error.hint == "links from some gateways last one hour; generate again"


# -- the gateway's own words -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"error": {"message": "Invalid size", "code": "invalid_size"}},
            "Invalid size (invalid_size)",
        ),
        (
            {"error": {"message": "bad model: invalid_model", "code": "invalid_model"}},
            "bad model: invalid_model",
        ),
        ({"error": "model not found"}, "model not found"),
        ({"message": "quota exceeded"}, "quota exceeded"),
        ({}, "HTTP 500 with no explanation"),
        ("", "HTTP 500 with no explanation"),
        ("upstream timed out\n", "upstream timed out"),
    ],
)
def test_error_text_of_json_and_plain_bodies(body: Any, text: str) -> None:
    assert error_text(body, 500) == text
    assert is_content_filter(body) is False


def test_error_text_of_an_html_page_names_its_title() -> None:
    page = fixture_bytes("gateway_502.html").decode()

    assert error_text(page, 502) == "an HTML page: 502 Bad Gateway instead of JSON"
    assert error_text("<html><body>oops</body></html>", 502) == "an HTML page instead of JSON"


@pytest.mark.parametrize(
    ("head", "html"),
    [
        (b"<!DOCTYPE html>\n<html>", True),
        (b"  \n<html lang=en>", True),
        (b"<HEAD><title>x</title>", True),
        (b"<body>oops</body>", True),
        (b"<!-- proxy -->\n<body>503</body>", True),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', False),
        (b'{"error": "<body> is not allowed"}', False),
        (b"\x89PNG\r\n\x1a\n", False),
        (b"", False),
    ],
)
def test_html_sniffer(head: bytes, html: bool) -> None:
    assert looks_like_html(head) is html


# -- Google and Azure OpenAI error shapes -----------------------------------------------------


def _verdict(status: int, body: object):  # type: ignore[no-untyped-def]
    import json

    from imggen.wire.status import error_for_status

    return error_for_status(status, json.dumps(body).encode(), {}, lambda t: t)


def test_google_wrong_key_400_is_an_auth_failure_naming_the_status() -> None:
    from imggen.errors import AuthFailed

    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"reason": "API_KEY_INVALID"}],
        }
    }
    err = _verdict(400, body).error
    assert isinstance(err, AuthFailed) and "(INVALID_ARGUMENT)" in err.message


def test_google_resource_exhausted_is_retried_and_bad_argument_refused() -> None:
    from imggen.errors import GatewayRefused

    tired = {
        "error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}
    }
    assert _verdict(429, tired).retry
    bad = {
        "error": {"code": 400, "message": "Unsupported aspect ratio", "status": "INVALID_ARGUMENT"}
    }
    err = _verdict(400, bad).error
    assert (
        type(err) is GatewayRefused and "Unsupported aspect ratio (INVALID_ARGUMENT)" in err.message
    )


def test_azure_content_filter_names_the_categories() -> None:
    from imggen.errors import ContentFiltered

    body = {
        "error": {
            "code": "content_filter",
            "message": "The response was filtered",
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": False},
                    "violence": {"filtered": True, "severity": "medium"},
                },
            },
        }
    }
    err = _verdict(400, body).error
    assert isinstance(err, ContentFiltered) and "content filter: violence" in err.message
