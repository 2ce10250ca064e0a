"""How an image was made: the record saved with it (never the key), reading it back from an
image (or its sidecar), and the request digest batch compares to skip work already done."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imggen import __version__, options
from imggen.files import imagefile, xmp
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
    prompt, cut = clean(job.prompt)
    record: dict[str, Any] = {
        "prompt": prompt,
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
    if cut:
        record["prompt_cut"] = True  # `imggen again` refuses to guess the rest
    if batch:
        record["batch"] = batch
    return _cleaned(record)  # type: ignore[no-any-return]


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


LEVELS = ("full", "minimal", "off")
PROMPT_CAP = 64 << 10  # UTF-8 bytes of prompt a file keeps; past it, cut and marked
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline


def clean(text: str, cap: int = PROMPT_CAP) -> tuple[str, bool]:
    """`text` as a file may hold it: control characters (NUL, ESC, C1...) removed, at most
    `cap` UTF-8 bytes, a cut one ending in a marker. And whether it was cut."""
    text = _CONTROL.sub("", text)
    raw = text.encode("utf-8", "replace")
    if len(raw) <= cap:
        return text, False
    kept = raw[:cap].decode("utf-8", "ignore")
    return kept + f" [... {len(raw) - cap:,} more bytes not kept]", True


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)[0]
    if isinstance(value, dict):
        return {k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


@dataclass(frozen=True)
class Marks:
    """What one image carries at a provenance level: the PNG text chunks (in order), the XMP
    packet for JPEG and WebP, and the sidecar text for files that cannot carry the record
    (JPEG/WebP at `full`; any image whose Content Credentials forbid touching it)."""

    level: str
    png: dict[str, str]
    xmp: bytes
    record: str  # the sidecar's JSON ("" at `off`)

    def sidecar(self, mime: str, *, credentials: bool) -> str:
        """The sidecar text for an image of `mime` ("" for none): where the image cannot
        carry the record; at `minimal` only for batch, which needs its request digest."""
        if credentials or mime not in ("image/png", "image/jpeg", "image/webp"):
            return self.record
        if mime == "image/png" or (self.level == "minimal" and '"batch"' not in self.record):
            return ""
        return self.record


def marks(record: Mapping[str, Any], level: str = "full") -> Marks:
    """The Marks of an image made as `record` says (provenance()'s dict), at `level`."""
    if level == "off":
        return Marks(level, {}, b"", "")
    model = clean(str(record.get("model") or "unknown"), 1024)[0]
    source = xmp.COMPOSITE if record.get("inputs") else xmp.TRAINED
    packet = xmp.packet(source, model, f"imggen {__version__}")
    png = {xmp.PNG_KEYWORD: packet.decode()}
    if level == "minimal":
        # the model, and what batch needs to know its own images again (the request's
        # digest, the job): never the prompt or the parameters
        small = {"model": model, "digital_source_type": source, "imggen": __version__}
        small |= {k: record[k] for k in ("request", "batch") if record.get(k)}
        png[PROVENANCE_KEY] = record_text(small)
        png["Software"] = f"imggen {__version__}"
        return Marks(level, png, packet, record_text(small))
    full = dict(record)
    prompt = full.pop("prompt", None)
    png[PROVENANCE_KEY] = record_text(full)
    png["Software"] = f"imggen {__version__}"
    if prompt:
        png["Description"] = prompt  # the prompt, once: read_png_record puts it back
    return Marks(level, png, packet, record_text(record))


def record_text(record: Mapping[str, Any]) -> str:
    """The record as saved: JSON, keys sorted (a PNG chunk or a sidecar's content). A name
    that is not UTF-8 (a surrogate to Python) is kept as its JSON escape, so it can be written
    and reads back the same."""
    text = json.dumps(dict(record), ensure_ascii=False, sort_keys=True)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def read_png_record(text: Mapping[str, str]) -> dict[str, Any] | None:
    """imggen's record from a PNG's text chunks (the prompt is the Description), or None."""
    raw = text.get(PROVENANCE_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if "prompt" not in value and isinstance(text.get("Description"), str):
        value["prompt"] = text["Description"]
    return value


def sidecar(path: Path) -> Path:
    """Where the record of a JPEG or WEBP image lives."""
    return path.with_name(path.name + ".json")


def read_provenance(path: Path) -> dict[str, Any] | None:
    """What imggen recorded in (or beside) an image it saved; None if nothing readable.

    A PNG carries it inside unless its Content Credentials kept imggen out, other files in a
    sidecar; where to look follows the bytes, not the name: PNG data saved as x.jpg carries its
    record inside, WEBP data saved as x.png has a sidecar."""
    try:
        with path.open("rb") as f:
            is_png = imagefile.sniff(f.read(64)) == "image/png"
        if is_png:
            record = read_png_record(imagefile.read_png_text(path))
            if record is not None:
                return record
        text = sidecar(path).read_text("utf-8")
    except OSError:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
