"""The offline gateway's Gemini File API, as batch mode uses it: a strict resumable upload
(the protocol, command, declared length, offset and final length checked), files with names
and an expiry, batches made from an uploaded JSONL file (which must exist and hold requests),
their results in a responsesFile downloaded with alt=media, the key checked Google's way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imggen.testing import FakeGateway

KEY = "g-files-test"
MODEL = "gemini-2.5-flash-image"
LINE = {"key": "a", "request": {"contents": [{"parts": [{"text": "a fox"}]}]}}


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=KEY) as fake:
        yield fake


def http(gw: FakeGateway) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"x-goog-api-key": KEY}, timeout=10)


def start(c: httpx.Client, size: int, **headers: str) -> httpx.Response:
    sent = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": "application/jsonl",
    }
    sent.update(headers)
    sent = {k: v for k, v in sent.items() if v}
    return c.post("/upload/v1beta/files", json={"file": {"display_name": "in"}}, headers=sent)


def send(c: httpx.Client, url: str, data: bytes, command: str, offset: int) -> httpx.Response:
    headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
    return c.post(url, content=data, headers=headers)


def uploaded(c: httpx.Client, data: bytes) -> dict[str, Any]:
    url = start(c, len(data)).headers["x-goog-upload-url"]
    done = send(c, url, data, "upload, finalize", 0)
    assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
    file: dict[str, Any] = done.json()["file"]
    return file


def error(reply: httpx.Response, status: int = 400) -> str:
    assert reply.status_code == status, reply.text
    text: str = reply.json()["error"]["message"]
    return text


def test_an_upload_in_pieces_makes_a_file_with_a_name_and_an_expiry(gw: FakeGateway) -> None:
    data = (json.dumps(LINE) + "\n").encode()
    with http(gw) as c:
        begun = start(c, len(data))
        assert begun.status_code == 200 and begun.headers["x-goog-upload-status"] == "active"
        url = begun.headers["x-goog-upload-url"]
        assert url.startswith(gw.url + "/upload/v1beta/files?upload_id=")
        assert send(c, url, data[:10], "upload", 0).headers["x-goog-upload-size-received"] == "10"
        said = error(send(c, url, data[10:], "upload", 3))  # not where the bytes stopped
        assert "Invalid X-Goog-Upload-Offset 3: 10 bytes received" in said
        query = c.post(url, headers={"X-Goog-Upload-Command": "query"})
        assert query.headers["x-goog-upload-size-received"] == "10"
        done = send(c, url, data[10:], "upload, finalize", 10)
        assert done.status_code == 200, done.text
        file = done.json()["file"]
        assert file["name"].startswith("files/") and file["sizeBytes"] == str(len(data))
        assert file["displayName"] == "in" and file["mimeType"] == "application/jsonl"
        assert file["state"] == "ACTIVE" and file["expirationTime"] > file["createTime"]
        got = c.get(f"/v1beta/{file['name']}")
        assert got.status_code == 200 and got.json()["name"] == file["name"]
        # an uploaded file cannot be downloaded, as on the live API
        down = c.get(f"/download/v1beta/{file['name']}:download", params={"alt": "media"})
        assert "only generated files" in error(down)
        gw.gemini_files[file["name"]]["expires"] = 0.0  # 48 hours later
        assert c.get(f"/v1beta/{file['name']}").status_code == 403


def test_the_upload_protocol_is_checked_strictly(gw: FakeGateway) -> None:
    with http(gw) as c:
        assert "upload protocol (none)" in error(start(c, 5, **{"X-Goog-Upload-Protocol": ""}))
        assert "'start'" in error(start(c, 5, **{"X-Goog-Upload-Command": "upload"}))
        no_length = start(c, 5, **{"X-Goog-Upload-Header-Content-Length": ""})
        assert "Content-Length: (none)" in error(no_length)
        url = start(c, 5).headers["x-goog-upload-url"]
        assert "Invalid X-Goog-Upload-Command" in error(send(c, url, b"12345", "", 0))
        short = send(c, url, b"123", "upload, finalize", 0)
        assert "Finalized with 3 bytes; the upload declared 5" in error(short)
        assert short.headers["x-goog-upload-status"] == "active"
        bad = c.post(url.replace("upload_id=", "upload_id=x"), content=b"1")
        assert error(bad, 404)
        assert c.post("/upload/v1beta/files", headers={"x-goog-api-key": ""}).status_code == 403
        with httpx.Client(base_url=gw.url, timeout=10) as anon:
            assert anon.post("/upload/v1beta/files").status_code == 403  # no key at all
    assert gw.jobs.submissions["gemini-batch"] == 0


def test_a_batch_from_a_file_answers_in_a_results_file(gw: FakeGateway) -> None:
    data = "".join(
        json.dumps({**LINE, "key": k, "request": {"contents": [{"parts": [{"text": t}]}]}}) + "\n"
        for k, t in (("a", "a fox"), ("b", "[error] no"))
    ).encode()
    with http(gw) as c:
        file = uploaded(c, data)
        body = {"batch": {"displayName": "d", "inputConfig": {"fileName": file["name"]}}}
        made = c.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=body)
        assert made.status_code == 200, made.text
        op = c.get(f"/v1beta/{made.json()['name']}").json()
        assert op["done"] is True and "inlinedResponses" not in op["response"]
        name = op["response"]["responsesFile"]
        assert c.get(f"/download/v1beta/{name}:download").status_code == 400  # alt=media
        got = c.get(f"/download/v1beta/{name}:download", params={"alt": "media"})
        assert got.status_code == 200
        lines = [json.loads(x) for x in got.content.splitlines()]
        assert [x["key"] for x in lines] == ["a", "b"]
        parts = lines[0]["response"]["candidates"][0]["content"]["parts"]
        assert any("inlineData" in p for p in parts)
        assert lines[1]["error"]["code"] == 3
        with httpx.Client(base_url=gw.url, timeout=10) as anon:
            down = anon.get(f"/download/v1beta/{name}:download", params={"alt": "media"})
            assert down.status_code == 403
    assert gw.jobs.submissions["gemini-batch"] == 1


def test_a_batch_from_a_missing_or_malformed_file_is_refused(gw: FakeGateway) -> None:
    url = f"/v1beta/models/{MODEL}:batchGenerateContent"
    with http(gw) as c:

        def create(name: str, **more: Any) -> httpx.Response:
            config = {"fileName": name, **more}
            return c.post(url, json={"batch": {"displayName": "d", "inputConfig": config}})

        assert "File files/nope not found" in error(create("files/nope"))
        junk = uploaded(c, b'{"key": "a", "request": {"contents": []}}\nnot json\n')
        assert "Invalid JSONL in" in error(create(junk["name"])) and "line 2" in error(
            create(junk["name"])
        )
        good = uploaded(c, (json.dumps(LINE) + "\n").encode())
        both = create(good["name"], requests={"requests": [{"request": LINE["request"]}]})
        assert "either file_name or requests" in error(both)
    assert gw.jobs.submissions["gemini-batch"] == 0
