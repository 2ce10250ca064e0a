"""Replicate's predictions, as the fake gateway speaks them under /replicate/v1: POST
/models/{owner}/{name}/predictions or /predictions (with `version`) -> 201 a prediction; GET
/predictions/{id}; POST /predictions/{id}/cancel. Shapes: shared/references/
providers-beyond-openai.md section 4."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imggen.testing.jobs import FakeJob, detail, store
from imggen.testing.protocol import Fault, HTTPError, Look, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

PREFIX = "/replicate/"
_ASPECT = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1184, 896),
    "3:4": (896, 1184),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "21:9": (1536, 640),
}
_STATUS = {
    "queued": "starting",
    "running": "processing",
    "done": "succeeded",
    "failed": "failed",
    "refused": "failed",
    "cancelled": "canceled",
}


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    parts = path[len(PREFIX) :].strip("/").split("/")
    if parts and parts[0] == "v1":
        parts = parts[1:]
    if rec.method == "POST" and parts[-1:] == ["predictions"]:
        return _submit(gw, rec)
    if len(parts) >= 2 and parts[0] == "predictions":
        job = store(gw).find(parts[1], "replicate")
        if parts[2:] == ["cancel"] and rec.method == "POST":
            store(gw).cancel(job)
            return json_reply(200, _prediction(gw, job))
        if len(parts) == 2 and rec.method == "GET":
            store(gw).admit("replicate", _throttled)
            return json_reply(200, _prediction(gw, job))
    raise detail(404, "Not found")


def _throttled(seconds: int) -> HTTPError:
    """Replicate's 429 (replicate.com/docs/topics/predictions/rate-limits): the wait only in
    words, no Retry-After; `ratelimit-*` headers as its recorded replies carry."""
    detail = f"Request was throttled. Your rate limit resets in ~{seconds}s."
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": str(seconds)}
    return HTTPError(json_reply(429, {"detail": detail}, headers))


def _submit(gw: FakeGateway, rec: Recorded) -> Reply:
    body = rec.json if isinstance(rec.json, dict) else {}
    inputs = body.get("input")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("prompt"), str):
        return json_reply(
            422,
            {
                "title": "Input validation failed",
                "status": 422,
                "detail": "- input: prompt is required",
            },
        )
    w, h = _ASPECT.get(inputs.get("aspect_ratio", "1:1"), (1024, 1024))
    if inputs.get("megapixels") == "0.25":
        w, h = w // 2, h // 2
    fmt = {"jpg": "jpeg", "png": "png"}.get(inputs.get("output_format", "webp"), "webp")
    look = Look(inputs["prompt"], inputs.get("seed"))
    job = store(gw).submit("replicate", 1, (w, h), fmt, look)
    return json_reply(201, _prediction(gw, job, counted=False))


def _prediction(gw: FakeGateway, job: FakeJob, *, counted: bool = True) -> dict[str, Any]:
    state = store(gw).state(job)[0] if counted else "queued"
    base = f"{gw.url}/replicate/v1/predictions/{job.id}"
    doc: dict[str, Any] = {
        "id": job.id,
        "status": _STATUS[state],
        "output": None,
        "error": None,
        "urls": {"get": base, "cancel": f"{base}/cancel"},
    }
    if state == "done":
        doc["output"] = store(gw).urls(gw, job)
    elif state == "failed":
        doc["error"] = "CUDA out of memory"
    elif state == "refused":
        doc["error"] = "NSFW content detected. Try running it again, or try a different prompt."
    return doc
