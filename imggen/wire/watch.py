"""Following one job's status stream instead of polling it: fal's
`GET .../requests/{id}/status/stream` sends each status as a server-sent event and closes after
COMPLETED, with a comment every 15 s to keep the connection open
(fal.ai/docs/inference-api/queue/status-stream). One held connection a job: for a single job's
wait only (run/jobs.py), never for a loop over hundreds (wire/polls.py polls those)."""

from __future__ import annotations

import json
from collections.abc import Callable
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
    parser, data = SseParser(), bytearray()
    client.on_debug(f"-> {what} (key sent, status stream)")
    try:
        with (
            session.errors(what, retrier, url),
            session.stream("GET", client._keyed(url), retrier, headers=headers) as resp,
        ):
            client._check_status(resp)
            for chunk in session.chunks(resp, retrier):
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
    except RetryLater as exc:
        if exc.error.status == 429:
            raise PollLimited(exc.wait) from None
        return False
    except (ImggenError, ValueError):  # refused, or not JSON: the poll says what is wrong
        return False
    return False
