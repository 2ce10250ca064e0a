"""Following one job's status stream instead of polling it: fal's
`GET .../requests/{id}/status/stream` sends each status as a server-sent event and closes after
COMPLETED, with a comment every 15 s to keep the connection open
(fal.ai/docs/inference-api/queue/status-stream). One held connection a job: for a single job's
wait only (run/jobs.py), never for a loop over hundreds (wire/polls.py polls those)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from imggen.errors import ImggenError
from imggen.job import HttpCall
from imggen.wire.client import Client
from imggen.wire.polls import PollLimited
from imggen.wire.retry import RetryLater
from imggen.wire.sse import Data, Dispatch, SseParser


def watch(client: Client, call: HttpCall, on_event: Callable[[Any], bool]) -> bool:
    """Follow a status stream on the provider's own site (the key sent the profile's way),
    calling on_event(each event's JSON) until it returns True: then True. False when the
    stream ended, broke or was refused first (the caller polls instead); PollLimited on a 429,
    as a poll would raise."""
    url = client._own(call.path)
    what = f"GET {url.split('?', 1)[0]}"
    headers = {**client._auth(), "Accept": "text/event-stream"}
    session, retrier = client._session, client._retrier
    client.on_debug(f"-> {what} (key sent, status stream)")
    try:
        with (
            session.errors(what, retrier, url),
            session.stream("GET", client._keyed(url), retrier, headers=headers) as resp,
        ):
            client._check_status(resp)
            done = threading.Event()
            _cut_on_close(resp, retrier.cancelled, done)
            try:
                return _follow(session.chunks(resp, retrier), client, on_event)
            finally:
                done.set()
    except RetryLater as exc:
        if exc.error.status == 429:
            raise PollLimited(exc.wait) from None
        return False
    except (ImggenError, ValueError):  # refused, or not JSON: the poll says what is wrong
        return False
    return False


def _follow(chunks: Iterable[bytes], client: Client, on_event: Callable[[Any], bool]) -> bool:
    """Each event's JSON to on_event until it returns True (then True); False at the end."""
    parser, data = SseParser(), bytearray()
    for chunk in chunks:
        for part in parser.feed(chunk):
            if isinstance(part, Data):
                data += part.chunk
                if len(data) > client.limits.json_cap:
                    return False  # no status is this large: poll instead
            elif isinstance(part, Dispatch) and data.strip():
                doc = json.loads(bytes(data))
                data.clear()
                if on_event(doc):
                    return True
    return False


def _cut_on_close(resp: Any, cancelled: threading.Event, done: threading.Event) -> None:
    """A stream waits for the provider's next event (fal: a comment every 15 s); Client.close()
    (an interrupt) must end that wait at once. Closing the socket's descriptor does not wake a
    read blocked on it, shutting the socket down does: a daemon thread does that through its
    own duplicate of the descriptor (the client may have closed the first already)."""
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        return
    spare = sock.dup()

    def cut() -> None:
        try:
            while not done.is_set():
                if cancelled.wait(0.1):
                    with contextlib.suppress(OSError):
                        spare.shutdown(socket.SHUT_RDWR)
                    return
        finally:
            spare.close()

    threading.Thread(target=cut, name="imggen-stream-cut", daemon=True).start()
