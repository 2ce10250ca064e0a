"""Google's resumable upload, as the Gemini API's File API takes a file: a `start` request
with the file's size, type and metadata, answered with the upload URL (x-goog-upload-url
header); then the bytes, streamed from disk, in one `upload, finalize` request at offset 0.
The reply to that is the File (`{"file": {"name": "files/...", ...}}`).

Wire facts: https://ai.google.dev/gemini-api/docs/batch-api (input file, REST) and
https://ai.google.dev/api/files (media.upload). Where the guide is silent, as google-genai's
`files.upload` does (googleapis/python-genai google/genai/_api_client.py upload_file): the
upload URL is used with the base URL's scheme and host (never another host: the key goes
with it), and the last reply must say `x-goog-upload-status: final`.

The whole upload is one attempt to the retrier: a failed one starts again from `start` (an
upload costs nothing; a half-sent one is dropped by Google)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

from imggen.errors import GatewayFailed, ImggenError
from imggen.wire import replies
from imggen.wire.client import Client, read_capped

PIECE = 256 * 1024  # bytes read from disk at a time


def upload(client: Client, start_url: str, f: BinaryIO, *, display: str, mime: str) -> Any:
    """Upload the file `f` (seekable, binary) to `start_url` (…/upload/v1beta/files); Google's
    reply to the finalize (a JSON object holding "file"). Raises as Client.submit does."""
    size = f.seek(0, 2)
    what = f"the upload to {urlsplit(start_url).path}"  # not "POST ...": nothing is billed

    def attempt(delivered: list[bool]) -> Any:
        target = _start(client, start_url, size, display, mime, what)
        f.seek(0)
        return _send(client, target, f, size, what)

    try:
        return client._redact_value(
            client._refreshing(lambda: client._retrier.run(attempt, what=what))
        )
    except ImggenError as exc:
        raise client._scrub(exc) from exc.__cause__


def _start(client: Client, url: str, size: int, display: str, mime: str, what: str) -> str:
    """The `start` request; the upload URL it answers with, on the base URL's host."""
    headers = {
        **client._auth(),
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime,
    }
    body = json.dumps({"file": {"display_name": display}}).encode()
    client.on_debug(f"-> POST {url} (start a {size}-byte upload, key sent)")
    session, retrier = client._session, client._retrier
    with (
        session.errors(what, retrier, url),
        session.stream("POST", client._keyed(url), retrier, headers=headers, content=body) as resp,
    ):
        client._check_status(resp)
        given = resp.headers.get("x-goog-upload-url", "")
        read_capped(resp, client.limits.small_json_cap, strict=False)
    if not given:
        raise GatewayFailed(
            "the gateway started no upload: its reply has no x-goog-upload-url header",
            status=resp.status_code,
        )
    return on_base(client.base_url, given)


def _send(client: Client, url: str, f: BinaryIO, size: int, what: str) -> Any:
    """The bytes, read from disk as they are sent, in one `upload, finalize` request."""
    headers = {
        **client._auth(),
        "Accept": "application/json",
        "Content-Length": str(size),
        "X-Goog-Upload-Offset": "0",
        "X-Goog-Upload-Command": "upload, finalize",
    }
    client.on_debug(f"-> POST {url.split('?', 1)[0]} ({size} bytes, key sent)")
    session, retrier = client._session, client._retrier
    body = _pieces(f, size, client.on_sent)
    with (
        session.errors(what, retrier, url),
        session.stream("POST", client._keyed(url), retrier, headers=headers, content=body) as resp,
    ):
        client._check_status(resp)
        status = resp.headers.get("x-goog-upload-status", "")
        raw = read_capped(resp, client.limits.small_json_cap)
    if status and status != "final":
        raise GatewayFailed(
            f"the gateway did not finish the upload (x-goog-upload-status: {status})",
            status=resp.status_code,
        )
    return replies.parse_small(raw, resp.status_code)


def _pieces(f: Any, size: int, on_sent: Callable[[int, int | None], None]) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        block = f.read(min(PIECE, size - sent))
        if not block:
            raise GatewayFailed("the file became shorter while it was being uploaded")
        sent += len(block)
        on_sent(len(block), size)
        yield block


def on_base(base_url: str, url: str) -> str:
    """`url`'s path and query on the base URL's scheme and host (as google-genai does when a
    base URL is set): the upload goes where the key already goes, and nowhere else."""
    base, given = urlsplit(base_url), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, given.path, given.query, ""))
