"""A Gemini batch too large to send inline: its requests go through the File API as a JSONL
file, and the finished batch's responses come back the same way (provider_gemini.py sends
smaller ones inline, which saves the upload).

Wire facts, from https://ai.google.dev/gemini-api/docs/batch-api (input file; retrieving
results, REST) and https://ai.google.dev/api/files:
- the input file: one line a request, `{"key": KEY, "request": GenerateContentRequest}`,
  uploaded with the resumable upload (wire/resumable.py) to `{root}/upload/v1beta/files`;
  the batch is created with `{"batch": {"displayName", "inputConfig": {"fileName":
  "files/..."}}}` (the guide's REST example writes `input_config.file_name`: the same field);
- once done, the Operation names the results at `response.responsesFile` (google-genai reads
  `metadata.output.responsesFile`: both are read here), a JSONL file of
  `{"key": KEY, "response": GenerateContentResponse}` or `{"key": KEY, "error": Status}`
  lines, downloaded with `GET {root}/download/v1beta/{files/...}:download?alt=media`.

The results file of a batch of large images can be hundreds of MB: it is written to disk as it
arrives and read a line at a time, each line's long strings (base64 images) spilled to files
(wire/jsonstream), so memory holds only the lines' small skeletons."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from imggen.batch.provider_gemini import Inlined, blobs
from imggen.errors import GatewayFailed, ImggenError
from imggen.job import HttpCall

PIECE = 1024 * 1024  # bytes of the results file read at a time
MIME = "application/jsonl"


def beside(base_url: str, kind: str) -> str:
    """The File API's upload or download root beside a Gemini API base URL:
    https://host/v1beta -> https://host/upload/v1beta (kind "upload")."""
    root, _, version = base_url.rstrip("/").rpartition("/")
    return f"{root}/{kind}/{version}"


def write_requests(lines: list[tuple[str, HttpCall]]) -> BinaryIO:
    """The batch's requests as the JSONL input file, one request written at a time, in a
    nameless temp file: nothing is left of it once closed, even after a kill."""
    f = tempfile.TemporaryFile()
    try:
        for key, call in lines:
            row = {"key": key, "request": call.json}
            f.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        f.flush()
    except BaseException:
        f.close()
        raise
    return f


def upload(client: Any, jsonl: BinaryIO, title: str) -> str:
    """Upload the input file; its name (files/...). An upload with no batch made from it
    costs nothing (Google deletes the file after 48 hours), so nothing is recorded for it: a
    run killed before the batch is created uploads again."""
    from imggen.wire import resumable

    start = beside(client.base_url, "upload") + "/files"
    try:
        doc = resumable.upload(client, start, jsonl, display=title, mime=MIME)
    except ImggenError as exc:
        said = copy.copy(exc)
        said.message = f"uploading the batch's requests failed, so no batch was made: {exc}"
        said.args = (said.message,)
        raise said from exc.__cause__
    found = doc.get("file") if isinstance(doc, dict) else None
    name = found.get("name") if isinstance(found, dict) else None
    if not isinstance(name, str) or not name.startswith("files/"):
        raise GatewayFailed(f"the gateway's upload reply names no file: {str(doc)[:200]}")
    return name


def responses_file(doc: dict[str, Any]) -> str | None:
    """The results file a finished batch names, if any."""
    for top in (doc.get("response"), (doc.get("metadata") or {}).get("output")):
        name = top.get("responsesFile") if isinstance(top, dict) else None
        if isinstance(name, str) and name:
            return name
    return None


class Responses(Inlined):
    """The answers in a finished batch's results file, found by each line's key."""

    def __init__(self, client: Any, name: str, folder: Callable[[], Path]) -> None:
        super().__init__({}, [], self._drop)
        self._items: list[Any] = []
        try:  # nameless: what is kept of it is in the spilled files
            with tempfile.TemporaryFile() as f:
                url = f"{beside(client.base_url, 'download')}/{name}:download?alt=media"
                client.fetch_to(url, f)
                f.seek(0)
                self._read(f, folder)
        except BaseException:
            self._drop()
            raise

    def _read(self, f: Any, folder: Callable[[], Path]) -> None:
        """Each line parsed as it is read (a line ends at a newline: JSON text has none)."""
        from imggen.wire.jsonstream import JsonStreamParser

        count = [0]

        def spill() -> tuple[Path, Any]:
            count[0] += 1
            path = folder() / f"line-blob-{count[0]}"
            return path, path.open("w+b")

        parser, fed, number = JsonStreamParser(spill), False, 0
        while chunk := f.read(PIECE):
            pieces = chunk.split(b"\n")
            for k, piece in enumerate(pieces):
                if piece.strip():
                    parser.feed(piece)
                    fed = True
                if k < len(pieces) - 1:  # a newline: the line is whole
                    number += 1
                    if fed:
                        self._keep(parser, number)
                    parser, fed = JsonStreamParser(spill), False
        if fed:
            self._keep(parser, number + 1)

    def _keep(self, parser: Any, number: int) -> None:
        try:
            item = parser.close()
        except (ValueError, GatewayFailed) as exc:
            for blob in parser.blobs:
                blob.discard()
            raise GatewayFailed(
                f"line {number} of the batch's results is not JSON: {exc}"
            ) from None
        self._items.append(item)
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str):
            meta = item.get("metadata") if isinstance(item, dict) else None
            key = meta.get("key") if isinstance(meta, dict) else None
        if isinstance(key, str):
            self._by_key.setdefault(key, item)

    def _drop(self) -> None:
        for blob in blobs(self._items):
            blob.discard()
        self._items = []
        self._by_key = {}
