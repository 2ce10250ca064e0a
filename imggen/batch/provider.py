"""`batch --provider-batch`: a manifest's jobs sent to the gateway's own batch API (OpenAI's
Batch API: about half the price, finished within 24 hours) as one JSONL upload and one batch,
recorded (results file and ledger) before anything waits on it; a re-run polls the recorded
batch instead of sending another, and once it is done each job's images are saved as a normal
run saves them (through run_many, a Replay client answering each call from the batch's
output or error file).

Shapes: shared/references/providers-beyond-openai.md section 6 (POST /files purpose=batch,
POST /batches {input_file_id, endpoint, completion_window: "24h"}, GET /batches/{id},
GET /files/{id}/content; output and error lines {custom_id, response{status_code, body}})."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from imggen.batch import run as b
from imggen.batch.plan import Task
from imggen.console import UI
from imggen.env import Env
from imggen.errors import GatewayFailed, ImggenError, UsageError
from imggen.files.ledger import Entry, Ledger, request_key
from imggen.job import FilePart, HttpCall, JobState, Reply, SavedImage

PROVIDER = "openai-batch"
ENDPOINT = "/v1/images/generations"
_STATES = {"validating": "queued", "in_progress": "running", "finalizing": "running"}


def run(
    tasks: list[Task],
    env: Env,
    ui: UI,
    *,
    results: b.ResultsFile,
    no_wait: bool,
    width: int,
    on_saved: Callable[[SavedImage], None] | None,
) -> b.Summary:
    todo = [t for t in tasks if t.action == "run"]
    if not todo:
        return b.run_many(tasks, env, ui, jobs=width, results=results, on_saved=on_saved)
    _check(todo)
    settings = todo[0].settings
    members = {_key(t, k, c): f"{t.row.number}-{k}" for t in todo for k, c in _calls(t)}
    ledger = Ledger(env.environ)
    limit = todo[0].opts.timeout or 24 * 3600.0
    from imggen.wire.client import Client

    client = Client(
        **settings.connection(),
        transport=env.transport,
        limits=env.limits,
        deadline=time.monotonic() + limit,
        on_retry=ui.retry,
    )
    try:
        entry = _recorded(ledger, settings.base_url, set(members))
        if entry is None:
            entry = _submit(client, ledger, todo, members, results)
        else:
            ui.info(f"collecting batch {entry.id}, submitted earlier")
        if no_wait:
            return _submitted(todo, tasks, entry, results, ui)
        doc = _wait(client, entry, env, ui, limit)
        with tempfile.TemporaryDirectory(prefix="imggen-batch-") as folder:
            index = _Index(client, doc, Path(folder))
            summary = b.run_many(
                tasks,
                env,
                ui,
                jobs=width,
                results=results,
                on_saved=on_saved,
                client_of=lambda task, c: Replay(c, index, task),
            )
            index.close()
    finally:
        client.close()
    # every answer delivered (images saved, refusals reported): a re-run submits what failed
    ledger.remove(entry.key)
    return summary


def _calls(task: Task) -> list[tuple[int, HttpCall]]:
    return list(enumerate(task.plan.calls))


def _key(task: Task, k: int, call: HttpCall) -> str:
    return request_key(task.settings.base_url, task.plan.gateway.model, call, k)


def _check(todo: list[Task]) -> None:
    """One gateway, the images API's JSON generations only: what a batch file can hold."""
    first = todo[0]
    for t in todo:
        where = t.row.where
        if (t.settings.profile, t.settings.base_url) != (
            first.settings.profile,
            first.settings.base_url,
        ):
            raise UsageError(
                f"{where}: --provider-batch sends one manifest to one gateway; this job uses "
                f"profile {t.settings.profile}, another {first.settings.profile}",
                hint="split the manifest by profile, or drop --provider-batch",
            )
        if t.plan.gateway.dialect != "images" or t.job.is_edit:
            raise UsageError(
                f"{where}: --provider-batch takes image generations on an images-API gateway "
                f"(OpenAI's Batch API); {t.plan.gateway.model} is {t.plan.gateway.dialect}"
                + (" and this job is an edit" if t.job.is_edit else ""),
                hint="drop --provider-batch for this manifest",
            )
        if any(c.files or c.form or c.stream or c.json is None for c in t.plan.calls):
            raise UsageError(
                f"{where}: a batch line is one JSON request; this job streams or uploads files",
                hint="drop --stream/--partials for --provider-batch",
            )


def _recorded(ledger: Ledger, base_url: str, wanted: set[str]) -> Entry | None:
    """A recorded batch on this gateway holding every request wanted (a re-run, or one after
    some jobs were saved), and not given up on."""
    for e in ledger.all():
        held = set(e.request.get("members", {}))
        if e.provider == PROVIDER and e.base_url == base_url and not e.resubmit and wanted <= held:
            return e
    return None


def _submit(
    client: Any, ledger: Ledger, todo: list[Task], members: dict[str, str], results: b.ResultsFile
) -> Entry:
    """Upload the JSONL, create the batch, record it; before anything waits on it."""
    lines = [
        {
            "custom_id": f"{t.row.number}-{k}",
            "method": "POST",
            "url": "/v1" + c.path,
            "body": c.json,
        }
        for t in todo
        for k, c in _calls(t)
    ]
    data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()
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
    gw = todo[0].plan.gateway
    entry = Entry(
        key=request_key(gw.base_url, gw.model, HttpCall("POST", "/batches", json=create), 0),
        id=str(doc["id"]),
        provider=PROVIDER,
        profile=gw.profile,
        base_url=todo[0].settings.base_url,
        model=gw.model,
        poll=f"/batches/{doc['id']}",
        cancel=f"/batches/{doc['id']}/cancel",
        images=sum(c.images for t in todo for c in t.plan.calls),
        prompt=f"{len(todo)} jobs of a manifest",
        request={"members": members},
    )
    ledger.put(entry)
    for t in todo:
        results.write(
            {
                "job": t.row.number,
                "where": t.row.where,
                "status": "submitted",
                "output": t.row.output,
                "batch_id": entry.id,
                "provider": PROVIDER,
            }
        )
    return entry


def _submitted(
    todo: list[Task], tasks: list[Task], entry: Entry, results: b.ResultsFile, ui: UI
) -> b.Summary:
    done = [
        b.JobResult(t, "skipped", paths=[str(p) for p in t.existing])
        for t in tasks
        if t.action == "skip"
    ]
    done += [b.JobResult(t, "submitted", job_ids=[entry.id]) for t in todo]
    ui.info(f"batch {entry.id}: {len(todo)} jobs submitted; run the same command again to collect")
    return b.Summary(done, len(tasks), 0.0)


def _wait(client: Any, entry: Entry, env: Env, ui: UI, limit: float) -> dict[str, Any]:
    """The batch, polled (backing off to a minute between polls) until it is over."""
    from imggen.run.jobs import poll_loop

    last: dict[str, Any] = {}

    def poll() -> JobState:
        doc = client.ask(HttpCall("GET", entry.poll))
        status = str(doc.get("status", "")) if isinstance(doc, dict) else ""
        last.clear()
        last.update(doc if isinstance(doc, dict) else {})
        ui.debug(f"batch {entry.id}: {status} {doc.get('request_counts', '')}")
        if status in _STATES:
            return JobState(_STATES[status])
        files = doc.get("output_file_id") or doc.get("error_file_id")
        if status in ("completed", "expired", "cancelled") and files:
            return JobState("done")  # expired and cancelled batches keep what was done
        return JobState("failed", error=f"the batch is {status or 'in an unknown state'}")

    limits = dataclasses.replace(env.limits, poll_cap=max(env.limits.poll_cap, 60.0))
    out = poll_loop(
        {entry.key: poll},
        limits=limits,
        deadline=time.monotonic() + limit,
        first=0.0,
        late=lambda k: GatewayFailed(
            f"batch {entry.id} is not done yet",
            hint="run the same command again later to collect it",
        ),
        stop=client.close,
    )
    result = out[entry.key]
    if isinstance(result, ImggenError):
        raise result
    if result.state != "done":
        Ledger(env.environ).update(entry.key, state="failed", error=result.error)
        raise GatewayFailed(
            f"batch {entry.id}: {result.error}", hint="running it again submits a new batch"
        )
    return last


class _Index:
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

    def line(self, custom_id: str) -> dict[str, Any] | None:
        found = self.lines.get(custom_id)
        if found is None:
            return None
        f, at = found
        with self._lock:
            f.seek(at)
            raw = f.readline()
        doc: dict[str, Any] = json.loads(raw)
        return doc

    def close(self) -> None:
        for f in self._files:
            f.close()


class Replay:
    """A client for one task whose calls the batch already answered: send() gives each call's
    line of the output (as the images API's reply) or error file (as the error it stands
    for); anything else goes to the real client."""

    def __init__(self, client: Any, index: _Index, task: Task) -> None:
        self._client, self._index, self._task = client, index, task
        self._next = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send(self, call: HttpCall, reader: Any, spill: Any) -> Reply:
        from imggen.wire.status import error_for_status

        with self._lock:
            k, self._next = self._next, self._next + 1
        custom = f"{self._task.row.number}-{k}"
        line = self._index.line(custom)
        if line is None:
            raise GatewayFailed(f"the batch holds no answer for {self._task.row.where} ({custom})")
        found = line.get("response")
        response: dict[str, Any] = found if isinstance(found, dict) else {}
        status = int(response.get("status_code") or 500)
        body = response.get("body")
        if status != 200 or line.get("error"):
            raw = json.dumps(body if body is not None else {"error": line.get("error")}).encode()
            raise error_for_status(status if status != 200 else 500, raw, {}, lambda t: t).error
        reply: Reply = reader.parse(body)
        return reply
