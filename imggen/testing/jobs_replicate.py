"""Replicate's predictions, as the fake gateway speaks them under /replicate/v1: POST
/models/{owner}/{name}/predictions or /predictions (with `version`) -> 201 a prediction; GET
/predictions/{id}; POST /predictions/{id}/cancel. Shapes: shared/references/
providers-beyond-openai.md section 4."""

from __future__ import annotations

import secrets
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
    if parts[:1] == ["files"]:
        return _files(gw, rec, parts[1:])
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


def _files(gw: FakeGateway, rec: Recorded, rest: list[str]) -> Reply:
    """The files API: POST /v1/files (multipart `content`) stores an input, GET /v1/files/{id}
    describes it (replicate/replicate-python file.py)."""
    uploads = store(gw).uploads
    if rec.method == "POST" and not rest:
        data = b"".join(rec.uploads.get("content", []))
        part = next((f for f in rec.files if f.name == "content"), None)
        if part is None or not data:
            raise detail(400, "content: a file is required")
        file_id = secrets.token_hex(12)
        uploads[file_id] = len(data)
        return json_reply(201, _file(gw, file_id, part.filename, part.content_type, len(data)))
    if rec.method == "GET" and len(rest) == 1 and rest[0] in uploads:
        return json_reply(200, _file(gw, rest[0], "file", "application/octet-stream", 0))
    raise detail(404, "Not found")


def _file(gw: FakeGateway, file_id: str, name: str, mime: str, size: int) -> dict[str, Any]:
    url = f"{gw.url}/replicate/v1/files/{file_id}"
    return {"id": file_id, "name": name, "content_type": mime, "size": size, "urls": {"get": url}}


def _invalid(message: str) -> Reply:
    doc = {"title": "Input validation failed", "status": 422, "detail": f"- input: {message}"}
    return json_reply(422, doc)


def _unknown_file(gw: FakeGateway, inputs: dict[str, Any]) -> str:
    """An input naming a file of this files API that was never uploaded ("" when none)."""
    prefix = f"{gw.url}/replicate/v1/files/"
    found = [inputs.get("input_image"), *(inputs.get("input_images") or [])]
    for value in found:
        if isinstance(value, str) and value.startswith(prefix):
            if value[len(prefix) :] not in store(gw).uploads:
                return value
    return ""


def _submit(gw: FakeGateway, rec: Recorded) -> Reply:
    body = rec.json if isinstance(rec.json, dict) else {}
    inputs = body.get("input")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("prompt"), str):
        return _invalid("prompt is required")
    if unknown := _unknown_file(gw, inputs):
        return _invalid(f"{unknown} is not a file that can be read")
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
