"""Gemini's Batch API as the fake gateway speaks it: `POST .../v1beta/models/M:batchGenerateContent`
with inline requests or an uploaded JSONL file of them (`inputConfig.fileName`: a file of the
File API, google_files.py, each line {"key", "request"}), `GET .../v1beta/batches/ID` (an
Operation: metadata.state BATCH_STATE_PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED; once
done, `done: true` and `response.inlinedResponses.inlinedResponses[]` in the order of the
requests, each
{metadata, response} or {metadata, error: Status}; a batch made from a file names its results
file instead, `response.responsesFile`, a JSONL file of {key, response} or {key, error} lines
made by the gateway, downloaded through the File API), `POST .../v1beta/batches/ID:cancel`; the
key checked Google's way (x-goog-api-key or ?key=), Google's error shape.

Each request is answered as `models/M:generateContent` answers it (google.py: its models,
aspects and sizes); a prompt holding "[blocked]" is blocked (promptFeedback.blockReason), one
holding "[error]" fails with an INVALID_ARGUMENT Status. Timing, fates (--job-queue, --job-run,
--job-fail, --job-cancel) and counters come from the job store (testing/jobs.py, provider
"gemini-batch"). A cancelled batch ends with no responses; a failed one with the Operation's
error.

Sources: https://ai.google.dev/api/batch-api (batchGenerateContent, GenerateContentBatch,
InputConfig, InlinedRequest(s), GenerateContentBatchOutput, InlinedResponse(s), BatchStats,
BatchState, batches.get/cancel) and https://ai.google.dev/gemini-api/docs/batch-api (inline
requests under 20 MB). The live API also copies the output to metadata.output; this one sends
it once, at response."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from imggen.testing import google, google_files
from imggen.testing.jobs import FakeJob, store
from imggen.testing.protocol import Fault, HTTPError, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

PROVIDER = "gemini-batch"
INLINE_CAP = 20 * 1000 * 1000
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_STATE = {
    "queued": "BATCH_STATE_PENDING",
    "running": "BATCH_STATE_RUNNING",
    "done": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "refused": "BATCH_STATE_FAILED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
# HTTP status of an error reply -> google.rpc.Code, as a Status in a batch carries it
_RPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14, 504: 4}
_BATCH_FIELDS = frozenset({"displayName", "display_name", "inputConfig", "input_config"})
_BATCH_FIELDS |= {"priority", "model"}


def _invalid(message: str) -> HTTPError:
    return google.google_error(400, "INVALID_ARGUMENT", message)


def create(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    google.check_key(gw, rec)
    model = path.rsplit("/", 1)[-1].partition(":")[0]
    if model not in google.MODELS:
        raise google.google_error(
            404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
            "supported for batchGenerateContent. Call ListModels to see the list of available "
            "models and their supported methods.",
        )  # fmt: skip
    if rec.raw_size > INLINE_CAP:
        raise _invalid("Request payload size exceeds the limit: 20971520 bytes.")
    requests, source = _requests(gw, rec.json)
    job = store(gw).submit(PROVIDER, len(requests))
    display = rec.json["batch"].get("displayName", rec.json["batch"].get("display_name"))
    gw.batches[job.id] = {
        "model": model,
        "display": display,
        "requests": requests,
        "output": None,
        "created": _now(),
        "file": source,  # the input file's name: results go to a file too
        "responses": None,
    }
    return json_reply(200, _operation(gw, job, counted=False))


def _requests(gw: FakeGateway, body: Any) -> tuple[list[dict[str, Any]], str]:
    """The requests of a BatchGenerateContentRequest (and the input file's name, "" for inline
    requests), checked as Google checks them."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise _invalid("* BatchGenerateContentRequest.batch: batch is not specified")
    for name in batch:
        if name not in _BATCH_FIELDS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'batch': Cannot "
                "find field."
            )
    if not isinstance(batch.get("displayName", batch.get("display_name")), str):
        raise _invalid("* GenerateContentBatch.display_name: display_name is not specified")
    config = batch.get("inputConfig", batch.get("input_config"))
    config = config if isinstance(config, dict) else {}
    source = config.get("fileName", config.get("file_name"))
    inline = config.get("requests")
    if source is not None and inline is not None:
        raise _invalid("* GenerateContentBatch.input_config: give either file_name or requests")
    if source is not None:
        return _from_file(gw, source), str(source)
    found = inline.get("requests") if isinstance(inline, dict) else None
    if not isinstance(found, list) or not found:
        raise _invalid("* GenerateContentBatch.input_config: input_config is not specified")
    for k, item in enumerate(found):
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
            raise _invalid(f"* InlinedRequests.requests[{k}].request: request is not specified")
        if not isinstance(item.get("metadata", {}), dict):
            raise _invalid(f"Invalid value at 'batch.input_config.requests.requests[{k}].metadata'")
    return found, ""


def _from_file(gw: FakeGateway, name: Any) -> list[dict[str, Any]]:
    """The requests of an uploaded JSONL file: each line {"key": str, "request": object}."""
    held = google_files.held(gw, name) if isinstance(name, str) else None
    if held is None:
        raise _invalid(f"* GenerateContentBatch.input_config.file_name: File {name} not found.")
    out: list[dict[str, Any]] = []
    for number, line in enumerate(held["data"].splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("request"), dict):
            raise _invalid(f"Invalid JSONL in {name} at line {number}: expected a JSON object "
                           "with a request (a GenerateContentRequest)")  # fmt: skip
        if not isinstance(row.get("key", ""), str):
            raise _invalid(f"Invalid JSONL in {name} at line {number}: key must be a string")
        out.append({"request": row["request"], "metadata": {"key": row.get("key", "")}})
    if not out:
        raise _invalid(f"* GenerateContentBatch.input_config.file_name: {name} holds no requests")
    return out


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """GET batches/ID (the Operation), POST batches/ID:cancel."""
    google.check_key(gw, rec)
    name, _, action = path.rsplit("/", 1)[-1].partition(":")
    with gw._lock:
        held = gw.batches.get(name)
    job = store(gw).jobs.get(name)
    if held is None or job is None or job.provider != PROVIDER:
        raise google.google_error(404, "NOT_FOUND", "Requested entity was not found.")
    if action == "cancel" and rec.method == "POST":
        store(gw).cancel(job)
        return json_reply(200, {})
    if action or rec.method != "GET":
        raise google.google_error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
    return json_reply(200, _operation(gw, job))


def _operation(gw: FakeGateway, job: FakeJob, *, counted: bool = True) -> dict[str, Any]:
    state = store(gw).state(job)[0] if counted else "queued"
    held = gw.batches[job.id]
    total = len(held["requests"])
    stats = {"requestCount": str(total), "pendingRequestCount": str(total)}
    doc: dict[str, Any] = {
        "name": f"batches/{job.id}",
        "metadata": {
            "@type": _TYPE + "GenerateContentBatch",
            "model": f"models/{held['model']}",
            "displayName": held["display"],
            "createTime": held["created"],
            "updateTime": _now(),
            "batchStats": stats,
            "state": _STATE[state],
            "name": f"batches/{job.id}",
        },
    }
    if state in ("queued", "running"):
        return doc
    doc["done"] = True
    doc["metadata"]["endTime"] = _now()
    if state == "done":
        answers = _answers(gw, held)
        bad = sum(1 for a in answers if "error" in a)
        stats.pop("pendingRequestCount")
        stats["successfulRequestCount"] = str(total - bad)
        if bad:
            stats["failedRequestCount"] = str(bad)
        doc["response"] = {"@type": _TYPE + "GenerateContentBatchOutput"}
        if held["file"]:
            doc["response"]["responsesFile"] = _responses_file(gw, held, job)
        else:
            doc["response"]["inlinedResponses"] = {"inlinedResponses": answers}
    elif state != "cancelled":
        doc["error"] = {"code": 13, "message": "The batch failed: internal error."}
    return doc


def _responses_file(gw: FakeGateway, held: dict[str, Any], job: FakeJob) -> str:
    """The results file of a batch made from a file: made once, kept as a generated file."""
    if held["responses"] is None:
        lines = []
        for answer in _answers(gw, held):
            line = {"key": answer.get("metadata", {}).get("key", "")}
            line.update({k: v for k, v in answer.items() if k != "metadata"})
            lines.append(json.dumps(line) + "\n")
        data = "".join(lines).encode()
        made = google_files.put(
            gw, data, "application/jsonl", f"batch-{job.id}", source="GENERATED"
        )
        held["responses"] = made["name"]
    name: str = held["responses"]
    return name


def _answers(gw: FakeGateway, held: dict[str, Any]) -> list[dict[str, Any]]:
    """Each request answered as generateContent answers it, made once."""
    if held["output"] is None:
        held["output"] = [_answer(gw, held, item) for item in held["requests"]]
    out: list[dict[str, Any]] = held["output"]
    return out


def _answer(gw: FakeGateway, held: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    meta = {"metadata": item["metadata"]} if "metadata" in item else {}
    request = item["request"]
    prompt = json.dumps(request.get("contents", ""))
    if "[error]" in prompt:
        return {**meta, "error": {"code": 3, "message": "Request contains an invalid argument."}}
    if "[blocked]" in prompt:
        usage = {"promptTokenCount": 9, "totalTokenCount": 9}
        feedback = {"blockReason": "PROHIBITED_CONTENT"}
        return {**meta, "response": {"promptFeedback": feedback, "usageMetadata": usage}}
    path = f"/v1beta/models/{held['model']}:generateContent"
    key = {"x-goog-api-key": gw.api_key} if gw.api_key else {}  # checked when it came in
    one = Recorded("POST", path, {}, key, request, None, [], 0)
    try:
        reply = google.generate(gw, one, path, None)
    except HTTPError as exc:
        said = json.loads(exc.reply.body or b"{}").get("error", {})
        code = _RPC.get(exc.reply.status, 13)
        return {**meta, "error": {"code": code, "message": said.get("message", "")}}
    return {**meta, "response": json.loads(reply.body)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
