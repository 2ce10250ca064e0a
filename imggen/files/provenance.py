"""How an image was made: the record saved with it (never the key), reading it back from an
image (or its sidecar), and the request digest batch compares to skip work already done."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imggen import __version__, options
from imggen.files import imagefile
from imggen.job import Gateway, Job

PROVENANCE_KEY = "imggen"


def job_digest(job: Job, gw: Gateway) -> str:
    """A fingerprint of the request (prompt, model, profile, parameters, input digests):
    batch skips a job whose saved image carries the same one."""
    record = {
        "prompt": job.prompt,
        "model": gw.model,
        "profile": gw.profile,
        "params": _params(job),
        "inputs": [i.sha256 or i.url for i in job.inputs],
        "refs": [i.sha256 or i.url for i in job.refs],
        "mask": job.mask.sha256 if job.mask else None,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _params(job: Job) -> dict[str, Any]:
    """The options that shape the image (those the option table marks `digest`), as set:
    a new such option changes the digest only of the jobs that set it."""
    values = {name: getattr(job, name) for name in options.DIGEST}
    values["params"] = dict(job.params) or None
    return {k: v for k, v in values.items() if v is not None}


def made_by(manifest: Path, output: str, folder: Path) -> dict[str, str]:
    """Which batch job made an image: its manifest (relative to the image's folder, so moving
    the project keeps it) and the job's output as written. Batch replaces or removes only
    images whose record names the very job."""
    return {"manifest": os.path.relpath(manifest, folder), "output": output}


def provenance(
    job: Job, gw: Gateway, index: int, batch: dict[str, str] | None = None
) -> dict[str, Any]:
    """How an image was made (and, from batch, by which job). Never the key."""
    record: dict[str, Any] = {
        "prompt": job.prompt,
        "model": gw.model,
        "profile": gw.profile,
        "dialect": gw.dialect,
        "params": _params(job),
        "inputs": [
            {"name": i.name, "sha256": i.sha256, "url": bare_url(i.url)} for i in job.inputs
        ],
        "refs": [{"name": i.name, "sha256": i.sha256, "url": bare_url(i.url)} for i in job.refs],
        "mask": {"name": job.mask.name, "sha256": job.mask.sha256} if job.mask else None,
        "index": index,
        "request": job_digest(job, gw),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "imggen": __version__,
    }
    if batch:
        record["batch"] = batch
    return record


def bare_url(url: str | None) -> str | None:
    """A reference URL as a saved file may keep it: no query string (a signed link's
    X-Amz-Signature, a token), no fragment, no user:password@."""
    if not url:
        return url
    parts = urlsplit(url)
    where = parts.hostname or ""
    if parts.port is not None:
        where += f":{parts.port}"
    return urlunsplit((parts.scheme, where, parts.path, "", ""))


def png_text(record: Mapping[str, Any]) -> dict[str, str]:
    """The text chunks a saved PNG carries, keyword to text, in order: imggen's whole record
    (JSON), and the standard keys image viewers and `identify -verbose` show: Software, and a
    Description holding the prompt and the model. The writer puts them right after IHDR and
    drops any the gateway's image already had under the same keywords."""
    described = f"{record.get('prompt', '')}\nmodel: {record.get('model', '')}"
    return {
        PROVENANCE_KEY: record_text(record),
        "Software": f"imggen {__version__}",
        "Description": described.strip(),
    }


def record_text(record: Mapping[str, Any]) -> str:
    """The record as saved: JSON, keys sorted (a PNG chunk or a sidecar's content). A name
    that is not UTF-8 (a surrogate to Python) is kept as its JSON escape, so it can be written
    and reads back the same."""
    text = json.dumps(dict(record), ensure_ascii=False, sort_keys=True)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def sidecar(path: Path) -> Path:
    """Where the record of a JPEG or WEBP image lives."""
    return path.with_name(path.name + ".json")


def read_provenance(path: Path) -> dict[str, Any] | None:
    """What imggen recorded in (or beside) an image it saved; None if nothing readable.

    Where to look follows the bytes, as save() does, not the name: PNG data saved as x.jpg
    carries its record inside, WEBP data saved as x.png has a sidecar."""
    try:
        with path.open("rb") as f:
            is_png = imagefile.sniff(f.read(64)) == "image/png"
        if is_png:
            text = imagefile.read_png_text(path).get(PROVENANCE_KEY)
        else:
            text = sidecar(path).read_text("utf-8")
    except OSError:
        return None
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
