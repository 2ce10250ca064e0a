"""Gemini's Batch API for `batch --provider-batch`: the manifest's generateContent requests as
one batch, inline up to 20 MB of requests and through the File API beyond (gemini_files.py),
each answer read from the finished batch's inlined responses or results file through the
google dialect's own reading (dialects/google.py).

Wire facts, from Google's reference https://ai.google.dev/api/batch-api and guide
https://ai.google.dev/gemini-api/docs/batch-api:
- `POST {base}/models/{model}:batchGenerateContent` with `{"batch": {"displayName",
  "inputConfig": {"requests": {"requests": [{"request": GenerateContentRequest,
  "metadata": {...}}]}}}}` (InputConfig, InlinedRequests, InlinedRequest); one model a batch;
  inline requests are for batches under 20 MB in all; larger ones go through the File API
  (`inputConfig.fileName`, gemini_files.py, wire/resumable.py; the upload and download wire
  facts: https://ai.google.dev/gemini-api/docs/batch-api#input-file and
  https://ai.google.dev/api/files).
- The reply is an Operation `{name: "batches/ID", metadata: GenerateContentBatch{state, ...}}`;
  `GET {base}/batches/ID` gives it again, `done: true` once over, with
  `response.inlinedResponses.inlinedResponses[]` = InlinedResponse{metadata, response |
  error: Status}, in the order of the requests; `POST {base}/batches/ID:cancel`.
- `state` BATCH_STATE_PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED (BatchState).
  Replies seen from the live API (quoted in public client code and issue threads, e.g. the
  LangChain4j and Apifox examples) also carry the output at metadata.output, read as well.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from imggen.batch.plan import Task
from imggen.errors import GatewayFailed, ImggenError
from imggen.files.ledger import Entry
from imggen.job import HttpCall, JobState

PROVIDER = "gemini-batch"
INLINE_CAP = 20 * 1000 * 1000  # bytes of inline requests Google takes in one batch; more: a file
_STATES = {"PENDING": "queued", "RUNNING": "running", "SUCCEEDED": "done"}
# google.rpc.Code (a Status's code) -> the HTTP status it maps to
_RPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 13: 500, 14: 503}
_RPC_HTTP |= {6: 409, 10: 409, 11: 400, 12: 501, 15: 500, 16: 401}


class GeminiBatch:
    """One run's dealings with Gemini's Batch API (provider.Backend)."""

    name = PROVIDER
    label = "Gemini's Batch API"

    def __init__(self) -> None:
        self.folder: Callable[[], Path] = Path.cwd  # provider.run gives it its temp folder
        self.doc: dict[str, Any] = {}

    def refuse(self, task: Task, first: Task) -> str | None:
        """Why a job cannot go in the batch: Vertex AI (its batch jobs are another API), or a
        second model (a Gemini batch is one model's)."""
        gw = task.plan.gateway
        if "/projects/" in task.settings.base_url:
            return (
                "--provider-batch speaks the Gemini API's batch mode; Vertex AI's batch "
                "prediction jobs are not supported"
            )
        if gw.model != first.plan.gateway.model:
            return (
                f"a Gemini batch holds one model's requests; this job uses {gw.model}, "
                f"another {first.plan.gateway.model}"
            )
        return None

    def submit(self, client: Any, lines: list[tuple[str, HttpCall]], title: str) -> str:
        """Create the batch: its requests inline, or, past INLINE_CAP, uploaded as a JSONL
        file first; its name (batches/ID)."""
        requests = [{"request": c.json, "metadata": {"key": custom}} for custom, c in lines]
        inline: list[Any] = []
        body: dict[str, Any] = {
            "batch": {"displayName": title, "inputConfig": {"requests": {"requests": inline}}}
        }
        # the inline body's size as json.dumps writes it (", " between requests), unwritten
        size = len(json.dumps(body, ensure_ascii=False).encode()) + 2 * max(0, len(lines) - 1)
        size += sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in requests)
        if size > INLINE_CAP:
            from imggen.batch import gemini_files

            with gemini_files.write_requests(lines) as jsonl:
                uploaded = gemini_files.upload(client, jsonl, title)
            body = {"batch": {"displayName": title, "inputConfig": {"fileName": uploaded}}}
        else:
            inline += requests
        path = (
            lines[0][1].path.split("?", 1)[0].replace(":generateContent", ":batchGenerateContent")
        )
        doc = client.submit(HttpCall("POST", path, json=body, job=True))
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name.startswith("batches/"):
            raise GatewayFailed(f"the gateway created no batch: {str(doc)[:200]}")
        return name

    def paths(self, batch_id: str) -> tuple[str, str]:
        """(poll, cancel) paths of a batch named batches/ID."""
        return f"/{batch_id}", f"/{batch_id}:cancel"

    def poll(self, client: Any, entry: Entry) -> tuple[JobState, str]:
        """The batch's state, and a line saying so for -v. Read to a file: a finished batch's
        reply holds every image, its large strings kept on disk (jsonstream)."""
        self._discard()
        with tempfile.TemporaryFile() as f:  # nameless: nothing is left of it, even on a kill
            client.fetch_to(entry.poll, f)
            f.seek(0)
            self.doc = _parse(f, self.folder)
        meta = self.doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        state = str(meta.get("state", "")).removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        said = f"{state or '?'} {meta.get('batchStats', '')}"
        error = self.doc.get("error")
        if state in _STATES and not error:
            return JobState(_STATES[state]), said
        if state in ("CANCELLED", "EXPIRED") and (_inlined(self.doc) or _file(self.doc)):
            return JobState("done"), said  # what was done before it stopped
        over = state in ("FAILED", "CANCELLED", "EXPIRED") or self.doc.get("done") or error
        if not over:
            return JobState("running"), said  # a state this reading does not know, not over
        why = error.get("message") if isinstance(error, dict) else None
        what = f"the batch is {state.lower() or 'over without its responses'}"
        return JobState("failed", error=str(why or what)), said

    def answers(self, client: Any, entry: Entry) -> Inlined:
        name = _file(self.doc)
        if name and not _inlined(self.doc):
            from imggen.batch.gemini_files import Responses

            return Responses(client, name, self.folder)
        order = list(entry.request.get("members", {}).values())
        return Inlined(self.doc, order, self._discard)

    def _discard(self) -> None:
        for blob in blobs(self.doc):
            blob.discard()
        self.doc = {}


def _parse(f: Any, folder: Callable[[], Path]) -> dict[str, Any]:
    """A batch's Operation, read in chunks, its large strings (base64 images) spilled to files
    in `folder()` (as wire/jsonstream reads a large reply): a batch still waiting has none."""
    from imggen.wire.jsonstream import JsonStreamParser

    count = [0]

    def spill() -> tuple[Path, Any]:
        count[0] += 1
        path = folder() / f"blob-{count[0]}"
        return path, path.open("w+b")

    parser = JsonStreamParser(spill)
    try:
        while chunk := f.read(1024 * 1024):
            parser.feed(chunk)
        doc = parser.close()
    except (ValueError, GatewayFailed) as exc:
        for blob in parser.blobs:
            blob.discard()
        raise GatewayFailed(f"the gateway's batch reply is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise GatewayFailed("the gateway's batch reply is not a JSON object")
    return doc


def _inlined(doc: dict[str, Any]) -> list[Any]:
    """The inlined responses of a finished batch: at response (the Operation's result), else
    at metadata.output (the batch itself)."""
    for top in (doc.get("response"), (doc.get("metadata") or {}).get("output")):
        outer = top.get("inlinedResponses") if isinstance(top, dict) else None
        inner = outer.get("inlinedResponses") if isinstance(outer, dict) else None
        if isinstance(inner, list):
            return inner
    return []


def _file(doc: dict[str, Any]) -> str | None:
    from imggen.batch.gemini_files import responses_file

    return responses_file(doc)


def blobs(value: Any) -> Iterator[Any]:
    """The spilled strings (jsonstream Blobs) in a parsed document."""
    if isinstance(value, dict):
        for v in value.values():
            yield from blobs(v)
    elif isinstance(value, list):
        for v in value:
            yield from blobs(v)
    elif hasattr(value, "discard") and hasattr(value, "kind"):
        yield value


class Inlined:
    """The answers of a finished batch, found by the key each request was sent with (by its
    place in the batch where a response carries none)."""

    def __init__(self, doc: dict[str, Any], order: list[str], discard: Any) -> None:
        self._by_key: dict[str, Any] = {}
        self._discard = discard
        for k, item in enumerate(_inlined(doc)):
            meta = item.get("metadata") if isinstance(item, dict) else None
            key = meta.get("key") if isinstance(meta, dict) else None
            if not isinstance(key, str) and k < len(order):
                key = order[k]
            if isinstance(key, str):
                self._by_key.setdefault(key, item)

    def answer(self, custom_id: str, where: str) -> Any:
        """One GenerateContentResponse (its spilled strings as text again, one at a time);
        raises the error a failed request stands for."""
        from imggen.wire.status import error_for_status

        item = self._by_key.get(custom_id)
        if not isinstance(item, dict):
            raise GatewayFailed(f"the batch holds no answer for {where} ({custom_id})")
        error = item.get("error")
        if isinstance(error, dict) or item.get("response") is None:
            status = error.get("code") if isinstance(error, dict) else None
            code = status if isinstance(status, int) else 13
            http = code if code >= 100 else _RPC_HTTP.get(code, 500)
            raw = json.dumps({"error": _restored(error or {"message": "no response"})}).encode()
            found: ImggenError = error_for_status(http, raw, {}, lambda t: t).error
            raise found
        return _restored(item["response"])

    def close(self) -> None:
        self._discard()


def _restored(value: Any) -> Any:
    """`value` with each spilled string read back as the text it was (base64 for an image)."""
    if isinstance(value, dict):
        return {k: _restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(v) for v in value]
    if hasattr(value, "discard") and hasattr(value, "kind"):
        data = value.path.read_bytes()
        if value.kind == "text":
            return data.decode("utf-8", "replace")
        head = f"data:{value.mime};base64," if value.mime else ""
        return value.prefix + head + base64.b64encode(data).decode("ascii") + value.suffix
    return value
