"""fal's queue, as the fake gateway speaks it under /fal: POST /fal/{model} submits; GET
/fal/{owner}/{alias}/requests/{id}/status, GET .../requests/{id} (the result) and PUT
.../requests/{id}/cancel. Shapes: shared/references/providers-beyond-openai.md section 3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from imggen.testing.jobs import FakeJob, detail, size_of, store
from imggen.testing.protocol import Fault, HTTPError, Look, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

PREFIX = "/fal/"
_NAMED = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
_STATUS = {"queued": "IN_QUEUE", "running": "IN_PROGRESS"}
STREAM_MOST = 600.0  # seconds a status stream stays open at the most


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    parts = path[len(PREFIX) :].strip("/").split("/")
    if "requests" in parts:
        at = parts.index("requests")
        app, rest = "/".join(parts[:at]), parts[at + 1 :]
        if not rest:
            raise detail(404, "no request id")
        return _request(gw, rec, app, rest)
    if rec.method != "POST":
        raise detail(405, "Method not allowed")
    return _submit(gw, rec, parts)


def _submit(gw: FakeGateway, rec: Recorded, parts: list[str]) -> Reply:
    body = rec.json if isinstance(rec.json, dict) else None
    if body is None or not isinstance(body.get("prompt"), str) or len(parts) < 2:
        raise detail(422, "prompt is required")
    size = body.get("image_size")
    pixels = _NAMED.get(size, (1024, 768)) if isinstance(size, str) else size_of(size)
    count = body.get("num_images", 1)
    if not isinstance(count, int) or not 1 <= count <= 4:
        raise detail(422, "num_images must be between 1 and 4")
    fmt = body.get("output_format", "jpeg")
    look = Look(body["prompt"], body.get("seed"))
    job = store(gw).submit("fal", count, pixels, "jpeg" if fmt == "jpeg" else "png", look)
    # status and result URLs name owner/alias only, not the model's subpath (fal's docs)
    base = f"{gw.url}/fal/{'/'.join(parts[:2])}/requests/{job.id}"
    return json_reply(
        200,
        {
            "status": "IN_QUEUE",
            "request_id": job.id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
            "queue_position": store(gw).state(job)[1] or 0,
        },
    )


def _throttled(seconds: int) -> HTTPError:
    """fal's 429: a FastAPI `detail`, with Retry-After (fal documents no poll rate; the shape
    is its error reference's)."""
    reply = json_reply(429, {"detail": "Rate limit exceeded"}, {"Retry-After": str(seconds)})
    return HTTPError(reply)


def _status(gw: FakeGateway, job: FakeJob, *, counted: bool = True) -> dict[str, object]:
    """What GET .../status answers now."""
    state, position = store(gw).state(job, counted=counted)
    doc: dict[str, object] = {"status": _STATUS.get(state, "COMPLETED"), "request_id": job.id}
    if state == "queued":
        doc["queue_position"] = position
    if state in ("failed", "refused", "cancelled"):
        doc["error"] = {"failed": "the model crashed", "refused": "content policy"}.get(
            state, "the request was cancelled"
        )
        doc["error_type"] = "content_policy_violation" if state == "refused" else state
    return doc


def _stream(gw: FakeGateway, job: FakeJob) -> Iterator[bytes]:
    """GET .../status/stream (fal.ai/docs/inference-api/queue/status-stream): each status as
    an event when it changes, a comment every 15 s, closed after COMPLETED; bounded by
    STREAM_MOST seconds and the gateway's stop."""
    last: dict[str, object] | None = None
    began = quiet = time.monotonic()
    while time.monotonic() - began < STREAM_MOST:
        doc = _status(gw, job, counted=last is None)  # the stream counts as one poll
        if doc != last:
            yield b"data: " + json.dumps(doc).encode() + b"\n\n"
            last, quiet = doc, time.monotonic()
        if doc["status"] == "COMPLETED":
            return
        if time.monotonic() - quiet >= 15:
            yield b": keep-alive\n\n"
            quiet = time.monotonic()
        if not gw.sleep(0.1):
            return


def _request(gw: FakeGateway, rec: Recorded, app: str, rest: list[str]) -> Reply:
    jobs = store(gw)
    job = jobs.find(rest[0], "fal")
    what = rest[1] if len(rest) > 1 else ""
    if what == "cancel" and rec.method == "PUT":
        if jobs.cancel(job):
            return json_reply(202, {"status": "CANCELLATION_REQUESTED"})
        return json_reply(400, {"status": "ALREADY_COMPLETED"})
    if what == "status":
        jobs.admit("fal", _throttled)
        if rest[2:] == ["stream"] and rec.method == "GET":
            return Reply(200, {"Content-Type": "text/event-stream"}, pieces=_stream(gw, job))
    if what == "status":
        doc = _status(gw, job)
        return json_reply(200 if doc["status"] == "COMPLETED" else 202, doc)
    state = jobs.state(job)[0]
    if what:
        raise detail(404, f"Not found: {what}")
    if state in ("queued", "running"):
        raise detail(400, "Request is still in progress")
    if state != "done":
        raise detail(422 if state == "refused" else 500, f"the request {state}")
    images = [
        {"url": u, "width": job.width, "height": job.height, "content_type": f"image/{job.fmt}"}
        for u in jobs.urls(gw, job)
    ]
    return json_reply(200, {"images": images, "seed": 42, "has_nsfw_concepts": [False]})
