"""`imggen again FILE`: the request an image's record describes (prompt, model, profile,
parameters, seed, input images found again by their SHA-256), as a layer of option values the
generate path merges under the command line's flags."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imggen import options
from imggen.errors import UsageError
from imggen.files.inspection import inspect

# the record's params that are option values (output, the run's own choices, are not)
_TAKEN = ("aspect", "size", "count", "format", "quality", "background", "seed", "params")


@dataclass(frozen=True)
class Again:
    """What to make again: the prompt, the images to edit (paths), the profile and model the
    record names, and the record's option values as a layer."""

    prompt: str
    images: list[str]
    profile: str | None
    model: str | None
    layer: options.Layer

    @property
    def command(self) -> str:
        return "edit" if self.images else "generate"


def from_file(path: Path, *, cwd: Path) -> Again:
    """The request `path`'s record (inside or in its sidecar) describes. Raises UsageError
    (exit 2): no record, a prompt only partly kept, input images not found."""
    found = inspect(path, validate=False)
    record = found.record
    if not record or not isinstance(record.get("prompt"), str) or not record["prompt"]:
        why = (
            "it was saved with --provenance minimal or off, or not by imggen"
            if found.marker
            else "it was not saved by imggen, or with --provenance off"
        )
        raise UsageError(
            f"{path} carries no imggen record with a prompt ({why})",
            hint="only images saved with --provenance full can be made again",
        )
    if record.get("prompt_cut"):
        raise UsageError(
            f"{path} keeps only the start of its prompt (it was longer than a file holds)",
            hint="run `imggen generate` with the whole prompt",
        )
    label = f"{path.name} (record)"
    raw = {k: v for k, v in (record.get("params") or {}).items() if k in _TAKEN}
    folders = [path.parent, cwd]
    images = [_find(item, folders, "input image") for item in record.get("inputs") or []]
    refs = [_find(item, folders, "reference image") for item in record.get("refs") or []]
    if refs:
        raw["refs"] = refs
    if isinstance(record.get("mask"), Mapping):
        raw["mask"] = _find(record["mask"], folders, "mask")
    values, problems = options.check(raw, lambda name: f"{label} ({name})")
    if problems:
        raise problems[0].error()
    return Again(
        prompt=record["prompt"],
        images=images,
        profile=_text(record.get("profile")),
        model=_text(record.get("model")),
        layer=options.Layer(values, lambda name: f"{label} ({name})"),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _find(item: Mapping[str, Any], folders: list[Path], what: str) -> str:
    """An input the record names: its URL, or the file of that name (in the image's folder or
    the current one) whose SHA-256 is the one recorded."""
    if isinstance(item.get("url"), str) and item["url"]:
        return str(item["url"])
    name = str(item.get("name") or "")
    want = item.get("sha256")
    for folder in folders:
        candidate = folder / Path(name).name
        try:
            data = candidate.read_bytes()
        except OSError:
            continue
        if not want or hashlib.sha256(data).hexdigest() == want:
            return str(candidate)
    raise UsageError(
        f"the {what} {name!r} the record names is not in {folders[0]} or the current folder "
        "(or has changed since)",
        hint="put the file back beside the image, or run `imggen edit` naming the images",
    )
