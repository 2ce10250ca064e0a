"""OpenAI's Batch API for images, as the fake gateway speaks it (under any base path, such as
/v1): POST /files (multipart `file` + `purpose=batch`), POST /batches {input_file_id,
endpoint: /v1/images/generations, completion_window: 24h}, GET /batches/{id} (validating,
in_progress, finalizing, completed, failed, cancelled), POST /batches/{id}/cancel, GET
/files/{id}/content. Each input line is answered as the images API answers it (the output
file), or, when refused, in the error file; a prompt holding "[blocked]" is refused as
moderation_blocked. Timing, fates and counters come from the job store (testing/jobs.py,
provider "openai-batch"). Shapes: shared/references/providers-beyond-openai.md section 6."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from imggen.testing import images_api
from imggen.testing.jobs import FakeJob, store
from imggen.testing.protocol import (
    Fault,
    HTTPError,
    Recorded,
    Reply,
    bad_request,
    error_reply,
    json_reply,
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

PROVIDER = "openai-batch"
ENDPOINT = "/v1/images/generations"
_PATH = re.compile(r"/(files|batches)(?:/([\w-]+)(?:/(content|cancel))?)?$")
_STATE = {
    "queued": "validating",
    "running": "in_progress",
    "done": "completed",
    "failed": "failed",
    "refused": "failed",
    "cancelled": "cancelled",
}


def route_for(path: str) -> tuple[str, str, Any] | None:
    """(route name, method, handler) for the Batch API's paths, else None."""
    found = _PATH.search(path)
    if found is None:
        return None
    if found.group(1) == "files" and found.group(2) is None:
        return "batch_upload", "POST", upload
    return "batches", "*", route


def upload(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    form = rec.form or {}
    data = b"".join(rec.uploads.get("file", []))
    if form.get("purpose", [""])[-1] != "batch" or not data:
        raise bad_request("expected a file and purpose=batch")
    file_id = "file-" + secrets.token_hex(8)
    with gw._lock:
        gw.files[file_id] = (data, "application/jsonl")
    return json_reply(200, _file(file_id, len(data), "batch"))


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    found = _PATH.search(path)
    assert found is not None
    kind, ident, action = found.groups()
    if kind == "files" and action == "content" and rec.method == "GET":
        with gw._lock:
            entry = gw.files.get(ident)
        if entry is None:
            raise HTTPError(error_reply(404, f"No such file: {ident}", code="not_found"))
        return Reply(200, {"Content-Type": "application/jsonl"}, entry[0])
    if kind == "batches" and ident is None and rec.method == "POST":
        return _create(gw, rec)
    if kind == "batches" and ident:
        job = store(gw).find(ident, PROVIDER)
        if action == "cancel" and rec.method == "POST":
            store(gw).cancel(job)
        elif action or rec.method != "GET":
            raise HTTPError(error_reply(404, f"Not found: {path}", code="not_found"))
        return json_reply(200, _batch(gw, job))
    raise HTTPError(error_reply(404, f"Not found: {path}", code="not_found"))


def _create(gw: FakeGateway, rec: Recorded) -> Reply:
    body: dict[str, Any] = rec.json if isinstance(rec.json, dict) else {}
    if body.get("endpoint") != ENDPOINT or body.get("completion_window") != "24h":
        raise bad_request(f"endpoint must be {ENDPOINT} and completion_window 24h")
    with gw._lock:
        entry = gw.files.get(str(body.get("input_file_id")))
    if entry is None:
        raise bad_request("input_file_id names no uploaded file")
    lines = [json.loads(x) for x in entry[0].decode().splitlines() if x.strip()]
    job = store(gw).submit(PROVIDER, len(lines))
    gw.batches[job.id] = {"lines": lines, "output": None, "errors": None}
    return json_reply(200, _batch(gw, job, counted=False))


def _batch(gw: FakeGateway, job: FakeJob, *, counted: bool = True) -> dict[str, Any]:
    state = store(gw).state(job)[0] if counted else "queued"
    doc: dict[str, Any] = {
        "id": job.id,
        "object": "batch",
        "endpoint": ENDPOINT,
        "completion_window": "24h",
        "status": _STATE[state],
        "output_file_id": None,
        "error_file_id": None,
        "request_counts": {"total": job.count, "completed": 0, "failed": 0},
    }
    if state in ("done", "cancelled"):
        out, errors = _results(gw, job)
        doc["output_file_id"], doc["error_file_id"] = out, errors
    return doc


def _results(gw: FakeGateway, job: FakeJob) -> tuple[str | None, str | None]:
    """The output and error files of a finished batch, made once."""
    held = gw.batches[job.id]
    if held["output"] is None:
        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for line in held["lines"]:
            answer = _answer(gw, line)
            (good if answer["response"]["status_code"] == 200 else bad).append(answer)
        held["output"] = _put(gw, good)
        held["errors"] = _put(gw, bad)
    return held["output"], held["errors"]


def _answer(gw: FakeGateway, line: dict[str, Any]) -> dict[str, Any]:
    found = line.get("body")
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    try:
        if "[blocked]" in str(body.get("prompt", "")):
            raise HTTPError(
                error_reply(
                    400, "Your request was rejected by the safety system", code="moderation_blocked"
                )
            )
        reply = images_api.images_reply(gw, body, None, "generations", 0)
    except HTTPError as exc:
        reply = exc.reply
    return {
        "id": "batch_req_" + secrets.token_hex(6),
        "custom_id": line.get("custom_id"),
        "response": {
            "status_code": reply.status,
            "request_id": secrets.token_hex(8),
            "body": json.loads(reply.body or b"{}"),
        },
        "error": None,
    }


def _put(gw: FakeGateway, lines: list[dict[str, Any]]) -> str | None:
    if not lines:
        return None
    file_id = "file-" + secrets.token_hex(8)
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    with gw._lock:
        gw.files[file_id] = (data, "application/jsonl")
    return file_id


def _file(file_id: str, size: int, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": "batch.jsonl",
        "purpose": purpose,
        "status": "processed",
    }
