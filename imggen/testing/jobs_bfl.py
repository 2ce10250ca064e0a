"""Black Forest Labs, as the fake gateway speaks it under /bfl/v1: POST /{model} -> {id,
polling_url}; GET /get_result?id= (the polling URL) -> {id, status, result}. Shapes:
shared/references/providers-beyond-openai.md section 5."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imggen.testing.jobs import detail, store
from imggen.testing.protocol import Fault, HTTPError, Look, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

PREFIX = "/bfl/"
_STATUS = {
    "queued": "Pending",
    "running": "Pending",
    "done": "Ready",
    "failed": "Error",
    "refused": "Content Moderated",
    "cancelled": "Error",
}


def _throttled(seconds: int) -> HTTPError:
    """Black Forest Labs' 429 (black-forest-labs/skills references/rate-limiting.md): body
    `retry_after` and a Retry-After header."""
    body = {"error": "rate_limit_exceeded", "message": "Too many requests", "retry_after": seconds}
    return HTTPError(json_reply(429, body, {"Retry-After": str(seconds)}))


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    parts = path[len(PREFIX) :].strip("/").split("/")
    if parts and parts[0] == "v1":
        parts = parts[1:]
    if parts == ["get_result"] and rec.method == "GET":
        store(gw).admit("bfl", _throttled)
        job_id = rec.query.get("id", "")
        try:
            job = store(gw).find(job_id, "bfl")
        except HTTPError:
            return json_reply(200, {"id": job_id, "status": "Task not found"})
        state = store(gw).state(job)[0]
        doc: dict[str, Any] = {"id": job.id, "status": _STATUS[state], "result": None}
        if state == "done":
            doc["result"] = {"sample": store(gw).urls(gw, job)[0], "prompt": "..."}
        elif state == "running":
            doc["progress"] = 0.5
        return json_reply(200, doc)
    if rec.method != "POST" or len(parts) != 1:
        raise detail(404, "Not Found")
    body = rec.json if isinstance(rec.json, dict) else {}
    if not isinstance(body.get("prompt"), str):
        raise detail(422, "prompt: Field required")
    w, h = body.get("width", 1024), body.get("height", 768)
    if not isinstance(w, int) or not isinstance(h, int) or w % 32 or h % 32:
        if "kontext" not in parts[0] and "flux-2" not in parts[0]:
            raise detail(422, "width and height must be multiples of 32")
    fmt = "png" if body.get("output_format") == "png" else "jpeg"
    look = Look(body["prompt"], body.get("seed"))
    job = store(gw).submit("bfl", 1, (int(w), int(h)), fmt, look)
    poll = f"{gw.url}/bfl/v1/get_result?id={job.id}"
    return json_reply(200, {"id": job.id, "polling_url": poll, "cost": 4.0})
