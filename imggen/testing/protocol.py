"""What the fake gateway records of each request, the faults it can inject, and the replies it
builds: the vocabulary its routes share."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "status",
    "content_filter",
    "html",
    "bad_json",
    "reset",
    "truncate_sse",
    "slow",
    "stall",
    "no_image",
    "bad_base64",
    "expired",
    "truncated_image",
    "stream_error",
)

BAD_BASE64 = "iVBORw0KGgo!!!not-base64***"
NO_IMAGE_TEXT = "I can't draw that, but here is a poem."
EXPIRED_XML = (
    '<?xml version="1.0"?><Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message></Error>"
)
HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"
SLOW_STEP = 16  # bytes per tick for the "slow" fault


@dataclass
class FilePart:
    name: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    form: dict[str, list[str]] | None
    files: list[FilePart]
    raw_size: int
    # the uploaded files' bytes, for the route only: dropped once the reply is built
    uploads: dict[str, list[bytes]] = field(default_factory=dict, repr=False, compare=False)
    summarised: bool = False  # long strings in json/form replaced by a short description

    def summarise(self) -> None:
        """Keep the shape of the body, not its long strings (base64 images, long prompts)."""
        self.json = summarised(self.json)
        if self.form is not None:
            self.form = {k: [summarised(v) for v in vs] for k, vs in self.form.items()}
        self.summarised = True

    @property
    def authorized(self) -> bool:
        """Whether the request carried an Authorization header at all."""
        return "authorization" in self.headers


@dataclass
class Fault:
    """One injected failure, consumed by the first matching request (FIFO among matches).

    Matching: a non-empty ``path`` matches request paths that end or start with it; an empty one
    matches every request except /files/ and /redirect/ downloads. On top of that some kinds only
    fit some requests (the fault then waits in the queue): ``expired`` only /files/ (its empty
    path means "/files/"), ``truncate_sse`` only streaming chat requests, ``no_image`` and
    ``bad_base64`` only generation requests, ``truncated_image`` generation requests and /files/.

    ``status`` 0 means the kind's default (500 for "status", 502 for "html", 403 for "expired").
    ``stall`` sends nothing for ``seconds`` and then the real reply; ``slow`` sends the headers,
    then the body 16 bytes every ``seconds``; ``truncate_sse`` ends the chunked stream cleanly
    after the role delta (no image event, no [DONE]); ``stream_error`` ends a streamed image
    request (images API, OpenRouter's Image API) with an error event instead of the image
    (``body``: its message); ``reset`` writes half the body, then RST.
    """

    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0
    body: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")


LONG_STRING = 1024  # a recorded string longer than this is summarised in old records


def summarised(value: Any) -> Any:
    """``value`` with every string longer than LONG_STRING replaced by its length and digest."""
    if isinstance(value, str) and len(value) > LONG_STRING:
        digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]
        return f"<{len(value)} characters, sha256 {digest}...>"
    if isinstance(value, dict):
        return {k: summarised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summarised(v) for v in value]
    return value


@dataclass(frozen=True)
class Look:
    """What a placeholder shows: the prompt's first words, the seed (the same seed and prompt
    make the same bytes), and for an edit its first input image."""

    prompt: str = ""
    seed: Any = None
    source: bytes | None = None


class TooLarge(Exception):
    """A request body over the gateway's cap."""


class Abort(Exception):
    """Close the connection without (finishing) a reply."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    # streamed (chunked) reply, one chunk per piece; an iterator is sent as it makes them
    pieces: list[bytes] | Iterator[bytes] | None = None


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(obj, ensure_ascii=False).encode()
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, body)


def error_reply(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: Any = None,
    param: str | None = None,
) -> Reply:
    return json_reply(
        status, {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


class HTTPError(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def bad_request(message: str, code: Any = None, param: str | None = None) -> HTTPError:
    return HTTPError(error_reply(400, message, "invalid_request_error", code, param))


_PARAM_RE = re.compile(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def header_params(value: str) -> tuple[str, dict[str, str]]:
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for key, raw in _PARAM_RE.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return main, params


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, list[str]], list[FilePart], dict[str, list[bytes]]]:
    """Text fields, file descriptions and file contents of a multipart/form-data body."""
    _, params = header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise bad_request("multipart body without boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    form: dict[str, list[str]] = {}
    files: list[FilePart] = []
    contents: dict[str, list[bytes]] = {}
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2:
        raise bad_request("malformed multipart body")
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        section = section.split(b"\r\n", 1)[1] if b"\r\n" in section else b""
        head, sep, content = section.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("malformed multipart part")
        part_headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("utf-8", "replace").partition(":")
            part_headers[name.strip().lower()] = value.strip()
        _, disposition = header_params(part_headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        if "filename" in disposition:
            files.append(
                FilePart(
                    name=name,
                    filename=disposition["filename"],
                    content_type=part_headers.get("content-type", "application/octet-stream"),
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
            contents.setdefault(name, []).append(content)
        else:
            form.setdefault(name, []).append(content.decode("utf-8", "replace"))
    return form, files, contents


def as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid integer {value!r}") from None


# The largest image any API the fake plays makes: Gemini 3's 4K 21:9 is 6336x2688, Seedream's
# 4096x4096 (shared/seeds/002_b08cd22946c7f3fa.txt); nothing is built past these.
MAX_SIDE = 8192
MAX_PIXELS = 17_100_000


def check_pixels(width: int, height: int) -> None:
    """400 (invalid_size) for an image larger than any real API makes."""
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise bad_request(
            f"Invalid size '{width}x{height}': at most {MAX_SIDE} pixels a side and "
            f"{MAX_PIXELS:,} pixels in all",
            "invalid_size",
        )


def parse_wxh(size: Any) -> tuple[int, int] | None:
    """None for auto/missing, else (w, h); 400 when malformed or too large."""
    if size is None or size == "" or size == "auto":
        return None
    match = re.fullmatch(r"\s*(\d{1,9})\s*[xX×]\s*(\d{1,9})\s*", str(size))
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise bad_request(f"invalid size {size!r}: expected 'auto' or '<w>x<h>'", "invalid_size")
    check_pixels(int(match[1]), int(match[2]))
    return int(match[1]), int(match[2])


def fault_matches(fault: Fault, path: str, route: str, streaming: bool) -> bool:
    is_download = route in ("files", "redirect")
    want = fault.path or ("/files/" if fault.kind == "expired" else "")
    if want:
        if not (path.endswith(want) or path.startswith(want)):
            return False
    elif is_download:
        return False
    if fault.kind == "expired":
        return route == "files"
    if fault.kind == "truncate_sse":
        return route == "chat" and streaming
    if fault.kind == "stream_error":
        return route in ("generations", "edits", "image_api") and streaming
    if fault.kind in ("no_image", "bad_base64"):
        return route in ("chat", "generations", "edits")
    if fault.kind == "truncated_image":
        return route in ("chat", "generations", "edits", "files")
    return True


def fault_reply(fault: Fault | None) -> Reply | None:
    """The reply of a fault that replaces the real answer, or None."""
    if fault is None:
        return None
    if fault.kind == "status":
        status = fault.status or 500
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        if status == 429:
            type_ = "rate_limit_error"
        reply = error_reply(
            status, fault.body or f"fake gateway error {status}", type_, str(status)
        )
        reply.headers.update(fault.headers)
        return reply
    if fault.kind == "content_filter":
        # 002_b08cd22946c7f3fa.txt: prompt hit moderation -> 4xx with error.code "contentFilter".
        reply = json_reply(
            400,
            {
                "error": {
                    "code": "contentFilter",
                    "message": "The prompt was filtered due to content policy",
                }
            },
        )
        reply.headers.update(fault.headers)
        return reply
    if fault.kind == "html":
        body = (fault.body or HTML_502).encode()
        return Reply(fault.status or 502, {"Content-Type": "text/html", **fault.headers}, body)
    if fault.kind == "bad_json":
        return Reply(200, {"Content-Type": "application/json", **fault.headers}, b'{"choices": [')
    if fault.kind == "expired":
        body = (fault.body or EXPIRED_XML).encode()
        return Reply(
            fault.status or 403, {"Content-Type": "application/xml", **fault.headers}, body
        )
    return None
