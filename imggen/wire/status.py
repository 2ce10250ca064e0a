"""What a gateway's answer means, in one place: an HTTP status and its body to an ImggenError and
whether to ask again; the gateway's own words from an error body; the one HTML sniffer. Pure:
no httpx, no I/O (httpie's http_status_to_exit_status)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from imggen.errors import (
    AuthFailed,
    ContentFiltered,
    GatewayFailed,
    GatewayRefused,
    ImggenError,
    LinkExpired,
    NotAnApi,
)
from imggen.files.imagefile import looks_like_html
from imggen.wire.jsonstream import loads
from imggen.wire.pace import retry_after, retry_delay

# Asked again (SPEC "Reliability"): timeouts, conflicts, rate limits, and the 5xx family
# (520-524 are Cloudflare's; any other 5xx is retried too).
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524})


# What a web server (not an API) answers an API call with, as an HTML page: no such page, no
# such method (`python -m http.server` answers POST with 501).
NOT_AN_API = frozenset({404, 405, 501})

BASE_URL_HINT = (
    "check base_url: it should be the API's address (often ending in /v1), not a website; "
    "`imggen doctor` checks it"
)


def not_an_api(status: int, said: str) -> NotAnApi:
    """The error for web pages where the API should answer; `said` describes the page."""
    page = said.removesuffix(" instead of JSON")
    return NotAnApi(
        f"base_url does not lead to an API: HTTP {status} with {page}",
        hint=BASE_URL_HINT,
        status=status,
    )


@dataclass(frozen=True)
class Verdict:
    """What an answer means: the error to report, whether to ask again, and how long the
    gateway asked to wait first (Retry-After), if it said."""

    error: ImggenError
    retry: bool = False
    wait: float | None = None


def error_for_status(
    status: int, body: bytes, headers: Mapping[str, str], redact: Callable[[str], str]
) -> Verdict:
    """The meaning of a non-2xx answer to an API call. ``body`` is the start of the reply (it
    may be cut), ``headers`` give Location and Retry-After (lower-case names, or httpx's
    Headers), ``redact`` takes the key out of the gateway's words.

    3xx: a redirect imggen does not follow with the key (GatewayFailed). A content filter:
    ContentFiltered, never retried, whatever the status. 401/403: AuthFailed. 408, 409, 429
    and 5xx: GatewayFailed, retried. Any other 4xx: GatewayRefused. Each carries ``status``.
    """
    if 300 <= status < 400:
        return Verdict(
            GatewayFailed(
                f"the gateway answered HTTP {status}, a redirect to "
                f"{host(headers.get('location', '?'))}; imggen does not follow redirects "
                "with your key",
                hint="set base_url to the address it redirects to",
                status=status,
            )
        )
    parsed: Any
    try:
        parsed = loads(body)  # nested too deeply is not JSON to read, as broken JSON is not
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    said = redact(error_text(parsed, status))
    # the gateway's own words, unless it gave none
    detail = "" if said == error_text(None, status) else f": {said}"
    if status in NOT_AN_API and isinstance(parsed, str) and looks_like_html(body[:512]):
        return Verdict(not_an_api(status, said))
    if is_content_filter(parsed):
        which = filtered_categories(parsed)
        return Verdict(
            ContentFiltered(
                f"the gateway refused the request (content filter{which}){detail}",
                hint="rephrase the prompt; refusals are not retried",
                status=status,
            )
        )
    if status in (401, 403) or google_key_rejected(parsed):
        return Verdict(
            AuthFailed(
                f"the gateway rejected the API key (HTTP {status}){detail}",
                hint="check the key: `imggen config show` says where it comes from",
                status=status,
            )
        )
    if status in RETRY_STATUSES or status >= 500:
        failed = GatewayFailed(
            f"HTTP {status} from the gateway{detail}",
            hint="the gateway is failing or busy; try again later (or raise --retries)",
            status=status,
        )
        wait = retry_after(headers)
        return Verdict(failed, retry=True, wait=retry_delay(parsed) if wait is None else wait)
    return Verdict(
        GatewayRefused(
            f"the gateway refused the request (HTTP {status}){detail}",
            hint="check -m (`imggen models` lists them) and base_url"
            if status == 404
            else "check the options and --param fields against its message; it is not retried",
            status=status,
        )
    )


def error_for_download(status: int, url: str) -> Verdict | None:
    """The meaning of an image URL's answer once its redirects are followed: None for 2xx.

    403/404/410: LinkExpired, not retried. 408, 409, 429 and 5xx: GatewayFailed, retried.
    Any other 4xx: GatewayFailed. The image host is not the gateway: no ``status`` is set.
    """
    where = host(url)
    if status in (403, 404, 410):
        return Verdict(
            LinkExpired(
                f"the image link on {where} has expired or is gone (HTTP {status})",
                # seed 004: XTY's image links expire after an hour
                hint="links from some gateways last one hour; generate again",
            )
        )
    if status in RETRY_STATUSES or status >= 500:
        failed = GatewayFailed(f"HTTP {status} downloading the image from {where}")
        return Verdict(failed, retry=True)
    if status >= 400:
        return Verdict(GatewayFailed(f"HTTP {status} downloading the image from {where}"))
    return None


def event_error(
    value: Mapping[str, Any], redact: Callable[[str], str], *, where: str = "mid-stream"
) -> ImggenError:
    """The error object a gateway put where a reply should be: in a stream event (OpenRouter
    style) or in a 2xx body."""
    message = redact(error_text(value, 200))
    if is_content_filter(value):
        return ContentFiltered(f"the gateway refused the prompt: {message}")
    return GatewayFailed(f"the gateway reported an error {where}: {message}")


def error_text(body: Any, status: int) -> str:
    """The gateway's own words for an error body (OpenAI-style or not)."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            msg = str(err.get("message") or err.get("msg") or "").strip()
            code = err.get("code") or err.get("type")
            if isinstance(err.get("status"), str):  # Google: {"code": 400, "status": "..."}
                code = err["status"]
            if msg:
                return f"{msg} ({code})" if code and str(code) not in msg else msg
        elif isinstance(err, str) and err:
            return err
    if isinstance(body, str):
        text = body.strip()
        if looks_like_html(text[:512].encode()):
            title = re.search(r"<title>(.*?)</title>|<h1>(.*?)</h1>", text, re.I | re.S)
            what = next((g for g in title.groups() if g), "") if title else ""
            return f"an HTML page{': ' + what.strip() if what else ''} instead of JSON"
        if text:
            return text[:200]
    return f"HTTP {status} with no explanation"


def is_content_filter(body: Any) -> bool:
    """seed 002: error.code "contentFilter", or "Generated image was filtered" in the message."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
        return False
    err = body["error"]
    inner = err.get("innererror", err.get("inner_error"))
    if isinstance(inner, Mapping) and inner.get("code") == "ResponsibleAIPolicyViolation":
        return True  # Azure OpenAI's content filter (azure-rest-api-specs innerErrorCode)
    code = str(err.get("code") or "").lower().replace("_", "")
    msg = str(err.get("message") or "").lower()
    return (
        code in ("contentfilter", "contentpolicyviolation", "moderationblocked")
        or "was filtered" in msg
        or "content policy" in msg
        or "safety system" in msg
    )


def host(url: str) -> str:
    """The host[:port] of a URL for messages (its path and query may hold tokens)."""
    return urlsplit(url).netloc or url[:40]


def filtered_categories(body: Any) -> str:
    """ ": sexual, violence" for an Azure content-filter body naming the categories it filtered
    (`innererror.content_filter_result`: the Azure OpenAI content filtering documentation,
    learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter); "" otherwise."""
    err = body.get("error") if isinstance(body, Mapping) else None
    inner = err.get("innererror", err.get("inner_error")) if isinstance(err, Mapping) else None
    if not isinstance(inner, Mapping):
        return ""
    result = inner.get("content_filter_result", inner.get("content_filter_results"))
    if not isinstance(result, Mapping):
        return ""
    hit = [
        str(k) for k, v in result.items() if isinstance(v, Mapping) and v.get("filtered") is True
    ]
    return f": {', '.join(hit)}" if hit else ""


def google_key_rejected(body: Any) -> bool:
    """Google's answer to a wrong API key is HTTP 400 INVALID_ARGUMENT with an ErrorInfo
    reason API_KEY_INVALID (real bodies quoted in continuedev/continue#8516); and 401
    UNAUTHENTICATED on Vertex AI."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping):
        return False
    if err.get("status") == "UNAUTHENTICATED":
        return True
    details = err.get("details")
    return isinstance(details, list) and any(
        isinstance(d, Mapping) and d.get("reason") in ("API_KEY_INVALID", "API_KEY_EXPIRED")
        for d in details
    )
