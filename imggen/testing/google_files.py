"""The Gemini API's File API as the fake gateway speaks it, as far as batch mode uses it:

- the resumable upload: `POST .../upload/v1beta/files` with X-Goog-Upload-Protocol:
  resumable, X-Goog-Upload-Command: start, X-Goog-Upload-Header-Content-Length (and -Type)
  and an optional JSON body {"file": {"display_name"|"displayName", ...}}, answered with the
  upload URL in X-Goog-Upload-URL (the same path with ?upload_id=...); then the bytes POSTed
  to that URL with X-Goog-Upload-Command "upload" (more to come), "upload, finalize" or
  "finalize", at X-Goog-Upload-Offset = the bytes received so far ("query" asks for that).
  The finalize answers {"file": File} with X-Goog-Upload-Status: final. Strict: a missing or
  wrong header, an offset that is not the bytes received so far, or a finalize whose total is
  not the declared length is refused with a 400, as Google refuses it;
- `GET .../v1beta/files/ID` (the File), `DELETE` (gone);
- `GET .../download/v1beta/files/ID:download?alt=media`: a file the gateway made (a batch's
  results), its bytes; an uploaded file cannot be downloaded, as on the live API.

Files expire 48 hours after they were made (`ttl` below), then are gone (404). The key is
checked Google's way on each call but the bytes of an upload, which the upload URL's
upload_id authorizes (the guide's REST example sends no key there).

Sources: https://ai.google.dev/api/files (File: name, displayName, mimeType, sizeBytes,
createTime, updateTime, expirationTime, sha256Hash, uri, state, source);
https://ai.google.dev/gemini-api/docs/batch-api (the REST upload and download);
googleapis/python-genai _api_client.py (x-goog-upload-status active/final)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from imggen.testing import google
from imggen.testing.protocol import Fault, HTTPError, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

TTL = 48 * 3600.0  # seconds a file is kept
_FILE_FIELDS = frozenset({"name", "displayName", "display_name", "mimeType", "mime_type"})


def _invalid(message: str) -> HTTPError:
    return google.google_error(400, "INVALID_ARGUMENT", message)


def _gone(name: str) -> HTTPError:
    return google.google_error(
        403, "PERMISSION_DENIED", f"You do not have permission to access the File {name} or it "
        "may not exist.",
    )  # fmt: skip


def upload(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """The start of a resumable upload, or (with ?upload_id=) its bytes."""
    if rec.method != "POST":
        raise google.google_error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
    if "upload_id" in rec.query:
        return _bytes(gw, rec, rec.query["upload_id"])
    google.check_key(gw, rec)
    protocol = rec.headers.get("x-goog-upload-protocol", "")
    if protocol.lower() != "resumable":
        raise _invalid(
            f"Unsupported upload protocol {protocol or '(none)'}: this gateway takes "
            "X-Goog-Upload-Protocol: resumable"
        )
    if rec.headers.get("x-goog-upload-command", "").lower() != "start":
        raise _invalid("Invalid X-Goog-Upload-Command: a new upload starts with 'start'")
    length = rec.headers.get("x-goog-upload-header-content-length", "")
    if not length.isdigit():
        raise _invalid(f"Invalid X-Goog-Upload-Header-Content-Length: {length or '(none)'}")
    meta = _metadata(rec.json)
    upload_id = secrets.token_urlsafe(24)
    with gw._lock:
        gw.gemini_uploads[upload_id] = {
            "length": int(length),
            "mime": rec.headers.get("x-goog-upload-header-content-type")
            or "application/octet-stream",
            "display": meta.get("displayName", meta.get("display_name", "")),
            "data": bytearray(),
        }
    where = f"{gw.url}{path}?upload_id={upload_id}&upload_protocol=resumable"
    headers = {
        "X-Goog-Upload-URL": where,
        "X-Goog-Upload-Status": "active",
        "X-Goog-Upload-Chunk-Granularity": str(8 * 1024 * 1024),
        "Content-Type": "text/plain; charset=utf-8",
    }
    return Reply(200, headers, b"")


def _metadata(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    file = body.get("file", {}) if isinstance(body, dict) else None
    if not isinstance(file, dict) or set(body) - {"file"}:
        raise _invalid("Invalid JSON payload received. Unknown name at the top: expected 'file'")
    for name in file:
        if name not in _FILE_FIELDS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'file': Cannot find "
                "field."
            )
    return file


def _bytes(gw: FakeGateway, rec: Recorded, upload_id: str) -> Reply:
    data = b"".join(rec.uploads.get("body", []))
    with gw._lock:
        held = gw.gemini_uploads.get(upload_id)
    if held is None:
        raise google.google_error(404, "NOT_FOUND", "No active upload session for that upload_id")
    command = {c.strip() for c in rec.headers.get("x-goog-upload-command", "").lower().split(",")}
    got = len(held["data"])
    active = {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(got)}
    if command == {"query"}:
        return Reply(200, active, b"")
    if not command or not command <= {"upload", "finalize"}:
        raise HTTPError(_with(_invalid("Invalid X-Goog-Upload-Command"), active))
    offset = rec.headers.get("x-goog-upload-offset", "")
    if "upload" in command and offset != str(got):
        raise HTTPError(
            _with(_invalid(f"Invalid X-Goog-Upload-Offset {offset or '(none)'}: {got} bytes "
                           "received so far"), active)
        )  # fmt: skip
    if "upload" in command:
        held["data"] += data
    if "finalize" not in command:
        return Reply(200, {**active, "X-Goog-Upload-Size-Received": str(len(held["data"]))}, b"")
    if len(held["data"]) != held["length"]:
        message = (
            f"Finalized with {len(held['data'])} bytes; the upload declared {held['length']} "
            "(X-Goog-Upload-Header-Content-Length)"
        )
        raise HTTPError(_with(_invalid(message), active))
    with gw._lock:
        gw.gemini_uploads.pop(upload_id, None)
    file = put(gw, bytes(held["data"]), held["mime"], held["display"], source="UPLOADED")
    reply = json_reply(200, {"file": file})
    reply.headers["X-Goog-Upload-Status"] = "final"
    return reply


def _with(error: HTTPError, headers: dict[str, str]) -> Reply:
    return Reply(error.reply.status, {**error.reply.headers, **headers}, error.reply.body)


def put(gw: FakeGateway, data: bytes, mime: str, display: str, *, source: str) -> dict[str, Any]:
    """Keep a file (made by an upload or by a batch); its File."""
    name = "files/" + secrets.token_hex(6)
    now = time.time()
    file: dict[str, Any] = {
        "name": name,
        "mimeType": mime,
        "sizeBytes": str(len(data)),
        "createTime": _stamp(now),
        "updateTime": _stamp(now),
        "expirationTime": _stamp(now + TTL),
        "sha256Hash": base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode(),
        "uri": f"{gw.url}/v1beta/{name}",
        "state": "ACTIVE",
        "source": source,
    }
    if display:
        file["displayName"] = display
    if source == "GENERATED":
        file["downloadUri"] = f"{gw.url}/download/v1beta/{name}:download?alt=media"
    with gw._lock:
        gw.gemini_files[name] = {"file": file, "data": data, "expires": now + TTL}
    return file


def held(gw: FakeGateway, name: str) -> dict[str, Any] | None:
    """A kept file (its File, bytes, expiry), None when unknown or expired."""
    with gw._lock:
        found = gw.gemini_files.get(name)
        if found is not None and found["expires"] <= time.time():
            del gw.gemini_files[name]
            return None
    return found


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """GET or DELETE .../v1beta/files/ID."""
    google.check_key(gw, rec)
    name = "files/" + path.rsplit("/", 1)[-1]
    found = held(gw, name)
    if found is None:
        raise _gone(name)
    if rec.method == "DELETE":
        with gw._lock:
            gw.gemini_files.pop(name, None)
        return json_reply(200, {})
    if rec.method != "GET":
        raise google.google_error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
    return json_reply(200, found["file"])


def download(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """GET .../download/v1beta/files/ID:download?alt=media: a made file's bytes."""
    google.check_key(gw, rec)
    if rec.query.get("alt") != "media":
        raise _invalid("Invalid value for alt: a file's bytes are downloaded with alt=media")
    name = "files/" + path.rsplit("/", 1)[-1].removesuffix(":download")
    found = held(gw, name)
    if found is None:
        raise _gone(name)
    if found["file"]["source"] != "GENERATED":
        raise _invalid(f"File {name} was uploaded: only generated files can be downloaded.")
    return Reply(200, {"Content-Type": found["file"]["mimeType"]}, found["data"])


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(at))
