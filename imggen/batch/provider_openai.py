"""OpenAI's Batch API for `batch --provider-batch`: the manifest's image generations as one
JSONL upload and one batch; each job's answer read from the batch's output or error file.

Shapes: shared/references/providers-beyond-openai.md section 6 (POST /files purpose=batch,
POST /batches {input_file_id, endpoint, completion_window: "24h"}, GET /batches/{id},
GET /files/{id}/content; output and error lines {custom_id, response{status_code, body}})."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from imggen.batch.plan import Task
from imggen.errors import GatewayFailed, ImggenError
from imggen.files.ledger import Entry
from imggen.job import FilePart, HttpCall, JobState

PROVIDER = "openai-batch"
ENDPOINT = "/v1/images/generations"
_STATES = {"validating": "queued", "in_progress": "running", "finalizing": "running"}


class OpenAIBatch:
    """One run's dealings with OpenAI's Batch API (provider.Backend)."""

    name = PROVIDER
    label = "OpenAI's Batch API"

    def __init__(self) -> None:
        self.folder: Callable[[], Path] = Path.cwd  # provider.run gives it its temp folder
        self.doc: dict[str, Any] = {}

    def refuse(self, task: Task, first: Task) -> str | None:
        """Why a job cannot go in the batch: the images API's JSON generations only."""
        gw = task.plan.gateway
        if gw.dialect != "images" or task.job.is_edit:
            return (
                f"--provider-batch takes image generations on an images-API gateway "
                f"(OpenAI's Batch API); {gw.model} is {gw.dialect}"
                + (" and this job is an edit" if task.job.is_edit else "")
            )
        return None

    def submit(self, client: Any, lines: list[tuple[str, HttpCall]], title: str) -> str:
        """Upload the JSONL and create the batch; its id."""
        rows = [
            {"custom_id": custom, "method": "POST", "url": "/v1" + c.path, "body": c.json}
            for custom, c in lines
        ]
        data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows).encode()
        upload = HttpCall(
            "POST",
            "/files",
            form=(("purpose", "batch"),),
            files=(FilePart("file", "batch.jsonl", "application/jsonl", data),),
        )
        file_id = client.submit(upload).get("id")
        create = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
        doc = client.submit(HttpCall("POST", "/batches", json=create, job=True))
        if not isinstance(doc, dict) or not doc.get("id"):
            raise GatewayFailed(f"the gateway created no batch: {str(doc)[:200]}")
        return str(doc["id"])

    def paths(self, batch_id: str) -> tuple[str, str]:
        """(poll, cancel) paths of a batch."""
        return f"/batches/{batch_id}", f"/batches/{batch_id}/cancel"

    def poll(self, client: Any, entry: Entry) -> tuple[JobState, str]:
        """The batch's state, and a line saying so for -v."""
        doc = client.ask(HttpCall("GET", entry.poll))
        self.doc = doc if isinstance(doc, dict) else {}
        status = str(self.doc.get("status", ""))
        said = f"{status} {self.doc.get('request_counts', '')}"
        if status in _STATES:
            return JobState(_STATES[status]), said
        files = self.doc.get("output_file_id") or self.doc.get("error_file_id")
        if status in ("completed", "expired", "cancelled") and files:
            return JobState("done"), said  # expired and cancelled batches keep what was done
        return JobState("failed", error=f"the batch is {status or 'in an unknown state'}"), said

    def answers(self, client: Any, entry: Entry) -> Lines:
        return Lines(client, self.doc, self.folder())


class Lines:
    """The batch's output and error files, fetched once, and where each line is."""

    def __init__(self, client: Any, doc: dict[str, Any], folder: Path) -> None:
        self.lines: dict[str, tuple[BinaryIO, int]] = {}
        self._files: list[BinaryIO] = []
        self._lock = threading.Lock()
        for name in ("output_file_id", "error_file_id"):
            if doc.get(name):
                f = (folder / name).open("w+b")
                client.fetch_to(f"/files/{doc[name]}/content", f)
                self._files.append(f)
                f.seek(0)
                while True:
                    at, line = f.tell(), f.readline()
                    if not line:
                        break
                    try:
                        custom = json.loads(line).get("custom_id")
                    except (ValueError, AttributeError):
                        continue
                    self.lines[str(custom)] = (f, at)

    def answer(self, custom_id: str, where: str) -> Any:
        """The images API's reply to one request of the batch; raises the error it stands for."""
        from imggen.wire.status import error_for_status

        found = self.lines.get(custom_id)
        if found is None:
            raise GatewayFailed(f"the batch holds no answer for {where} ({custom_id})")
        f, at = found
        with self._lock:
            f.seek(at)
            raw = f.readline()
        line: dict[str, Any] = json.loads(raw)
        got = line.get("response")
        response: dict[str, Any] = got if isinstance(got, dict) else {}
        status = int(response.get("status_code") or 500)
        body = response.get("body")
        if status != 200 or line.get("error"):
            text = json.dumps(body if body is not None else {"error": line.get("error")}).encode()
            error: ImggenError = error_for_status(
                status if status != 200 else 500, text, {}, lambda t: t
            ).error
            raise error
        return body

    def close(self) -> None:
        for f in self._files:
            f.close()
