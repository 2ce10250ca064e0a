"""A Gemini provider batch over the inline limit (batch/gemini_files.py, wire/resumable.py),
through the real API client on an httpx.MockTransport: the requests written as JSONL and sent
with Google's resumable upload (start, then the bytes at offset 0 with "upload, finalize"), the
batch made from the file; the results file downloaded with alt=media and read a line at a
time, answers found by key, large strings kept on disk, error lines as their errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.batch import gemini_files, provider_gemini
from imggen.batch.provider_gemini import GeminiBatch
from imggen.errors import GatewayFailed, GatewayRefused
from imggen.files.ledger import Entry
from imggen.job import HttpCall
from imggen.wire import resumable
from imggen.wire.auth import parse
from imggen.wire.client import Client
from tests import test_provider_batch_units as units
from tests.conftest import NO_BACKOFF

BASE = "https://g.example/v1beta"
KEY = "k-test-123"
PATH = "/models/gemini-2.5-flash-image:generateContent"


class Google:
    """The File API and batch creation, as a MockTransport handler, recording each request."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.fail_bytes = 0  # the next N byte uploads answer 503
        self.status = "final"
        self.upload_url = "https://elsewhere.example/upload/v1beta/files?upload_id=U1"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        path = request.url.path
        assert request.headers["x-goog-api-key"] == KEY
        if path == "/upload/v1beta/files" and "upload_id" not in request.url.params:
            return httpx.Response(200, headers={"x-goog-upload-url": self.upload_url})
        if path == "/upload/v1beta/files":
            if self.fail_bytes:
                self.fail_bytes -= 1
                return httpx.Response(503, json={"error": {"code": 503, "message": "busy"}})
            status = {"x-goog-upload-status": self.status}
            return httpx.Response(200, headers=status, json={"file": {"name": "files/f1"}})
        if path.endswith(":batchGenerateContent"):
            return httpx.Response(200, json={"name": "batches/b1"})
        return httpx.Response(404, json={"error": {"code": 404, "message": "no"}})


def client(google: Google) -> Client:
    return Client(
        BASE,
        KEY,
        transport=httpx.MockTransport(google),
        limits=NO_BACKOFF,
        auth=parse("header:x-goog-api-key"),
    )


def backend(tmp_path: Path) -> GeminiBatch:
    g = GeminiBatch()
    g.folder = lambda: tmp_path
    return g


def calls(n: int) -> list[tuple[str, HttpCall]]:
    body = {"contents": [{"parts": [{"text": "a fox " * 20}]}]}
    return [(f"{k + 1}-0", HttpCall("POST", PATH, json=body)) for k in range(n)]


def test_over_the_cap_the_requests_are_uploaded_and_the_batch_made_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_gemini, "INLINE_CAP", 200)
    google = Google()
    with client(google) as c:
        name = backend(tmp_path).submit(c, calls(3), "imggen m.jsonl")
    assert name == "batches/b1"
    start, data, create = google.seen
    assert str(start.url) == "https://g.example/upload/v1beta/files"
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-type"] == "application/jsonl"
    assert json.loads(start.content) == {"file": {"display_name": "imggen m.jsonl"}}
    # the upload URL's path and query, on the base URL's host (never another host)
    assert str(data.url) == "https://g.example/upload/v1beta/files?upload_id=U1"
    assert data.headers["x-goog-upload-offset"] == "0"
    assert data.headers["x-goog-upload-command"] == "upload, finalize"
    assert start.headers["x-goog-upload-header-content-length"] == str(len(data.content))
    assert data.headers["content-length"] == str(len(data.content))
    rows = [json.loads(x) for x in data.content.decode().splitlines()]
    assert [r["key"] for r in rows] == ["1-0", "2-0", "3-0"]
    assert rows[0]["request"] == calls(1)[0][1].json
    assert str(create.url) == BASE + "/models/gemini-2.5-flash-image:batchGenerateContent"
    sent = json.loads(create.content)
    assert sent == {
        "batch": {"displayName": "imggen m.jsonl", "inputConfig": {"fileName": "files/f1"}}
    }
    assert list(tmp_path.iterdir()) == []  # the JSONL is gone once uploaded


def test_under_the_cap_the_requests_go_inline_without_an_upload(tmp_path: Path) -> None:
    google = Google()
    with client(google) as c:
        backend(tmp_path).submit(c, calls(2), "imggen m.jsonl")
    (create,) = google.seen
    inline = json.loads(create.content)["batch"]["inputConfig"]["requests"]["requests"]
    assert [x["metadata"]["key"] for x in inline] == ["1-0", "2-0"]


def test_the_inline_size_is_counted_exactly_as_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    google = Google()
    with client(google) as c:
        backend(tmp_path).submit(c, calls(3), "imggen ünïcode.jsonl")
    sent = len(google.seen[0].content)  # the inline body as the client wrote it
    monkeypatch.setattr(provider_gemini, "INLINE_CAP", sent)
    google = Google()
    with client(google) as c:
        backend(tmp_path).submit(c, calls(3), "imggen ünïcode.jsonl")
    assert len(google.seen) == 1  # exactly at the limit: still inline
    monkeypatch.setattr(provider_gemini, "INLINE_CAP", sent - 1)
    google = Google()
    with client(google) as c:
        backend(tmp_path).submit(c, calls(3), "imggen ünïcode.jsonl")
    assert [r.url.path for r in google.seen][0] == "/upload/v1beta/files"


def test_a_failed_upload_starts_again_and_in_the_end_makes_no_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_gemini, "INLINE_CAP", 200)
    google = Google()
    google.fail_bytes = 1
    with client(google) as c:
        assert backend(tmp_path).submit(c, calls(3), "t") == "batches/b1"
    assert [r.url.path for r in google.seen][:4] == ["/upload/v1beta/files"] * 4  # from start
    google = Google()
    google.fail_bytes = 99
    with client(google) as c, pytest.raises(GatewayFailed) as failed:
        backend(tmp_path).submit(c, calls(3), "t")
    assert "uploading the batch's requests failed, so no batch was made" in failed.value.message
    assert KEY not in str(failed.value)
    assert not [r for r in google.seen if r.url.path.endswith(":batchGenerateContent")]
    assert list(tmp_path.iterdir()) == []


def test_an_upload_google_did_not_finish_or_start_is_the_gateways_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_gemini, "INLINE_CAP", 200)
    google = Google()
    google.status = "active"
    with client(google) as c, pytest.raises(GatewayFailed, match="did not finish the upload"):
        backend(tmp_path).submit(c, calls(3), "t")
    google = Google()
    google.upload_url = ""
    with client(google) as c, pytest.raises(GatewayFailed, match="x-goog-upload-url"):
        backend(tmp_path).submit(c, calls(3), "t")


def test_the_upload_is_read_from_disk_a_piece_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * (resumable.PIECE * 2 + 5))
    sent: list[int] = []
    with path.open("rb") as f:
        sizes = [
            len(p) for p in resumable._pieces(f, path.stat().st_size, lambda n, t: sent.append(n))
        ]
    assert sizes == [resumable.PIECE, resumable.PIECE, 5] and sent == sizes
    assert resumable.on_base("https://a.example/v1beta", "https://b.example/u?x=1") == (
        "https://a.example/u?x=1"
    )
    assert gemini_files.beside("https://h/v1beta/", "download") == "https://h/download/v1beta"


class Results:
    """A client whose fetch_to writes the batch's Operation, then its results file."""

    def __init__(self, doc: dict[str, Any], lines: list[bytes]) -> None:
        self.docs: list[bytes] = [json.dumps(doc).encode(), b"".join(lines)]
        self.asked: list[str] = []
        self.base_url = "https://x/v1beta"

    def fetch_to(self, path: str, out: Any) -> int:
        self.asked.append(path)
        data = self.docs.pop(0)
        out.write(data)
        return len(data)


def entry() -> Entry:
    return units.entry({"1-0": "1-0"})


def image_reply(data: bytes) -> dict[str, Any]:
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
    return {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]}


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode() + b"\n"


@pytest.mark.parametrize("where", ["response", "metadata.output"])
def test_the_results_file_is_downloaded_and_read_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(gemini_files, "PIECE", 4096)  # lines cross the reads' edges
    picture = bytes(range(256)) * 1000  # its base64 is spilled to disk while read
    output = {"responsesFile": "files/r1"}
    doc: dict[str, Any] = {"name": "batches/b1", "done": True}
    doc["metadata"] = {"state": "BATCH_STATE_SUCCEEDED"}
    if where == "response":
        doc["response"] = output
    else:
        doc["metadata"]["output"] = output
    lines = [
        line(
            {"key": "2-0", "error": {"code": 3, "message": "Request contains an invalid argument."}}
        ),
        b"\n",
        line({"key": "1-0", "response": image_reply(picture)}),
    ]
    client = Results(doc, lines)
    g = backend(tmp_path)
    state, _ = g.poll(client, entry())
    assert state.state == "done"
    answers = g.answers(client, entry())
    assert client.asked[1] == "https://x/download/v1beta/files/r1:download?alt=media"
    assert any(tmp_path.iterdir())  # the image's text, on disk until asked for
    got = answers.answer("1-0", "m.jsonl:1")
    data = got["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    assert base64.b64decode(data) == picture
    with pytest.raises(GatewayRefused, match="invalid argument") as refused:
        answers.answer("2-0", "m.jsonl:2")
    assert refused.value.status == 400
    with pytest.raises(GatewayFailed, match="no answer for m.jsonl:3"):
        answers.answer("3-0", "m.jsonl:3")
    answers.close()
    assert list(tmp_path.iterdir()) == []


def test_a_results_line_that_is_not_json_is_the_gateways_fault(tmp_path: Path) -> None:
    doc = {"name": "batches/b1", "done": True, "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}
    doc["response"] = {"responsesFile": "files/r1"}
    big = {"key": "1-0", "response": image_reply(b"\x00" * 100_000)}
    client = Results(doc, [line(big), b"{oops\n"])
    g = backend(tmp_path)
    g.poll(client, entry())
    with pytest.raises(GatewayFailed, match="line 2 of the batch's results is not JSON"):
        g.answers(client, entry())
    assert list(tmp_path.iterdir()) == []  # nothing left of the download or its strings
