"""Where images go: -o as a file, folder, template or stdout resolved to targets, and the
checks made before any request (no clobbering, a folder that can be written)."""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imggen.errors import FileExists, UsageError

EXTS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}
FORMAT_EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}


@dataclass(frozen=True)
class Target:
    path: Path | None  # None: stdout
    exact: bool = False  # the user named the file with its extension
    unique: bool = False  # a generated name: pick a free one rather than refuse

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path(tempfile.gettempdir())


def slug(text: str, limit: int = 48) -> str:
    """A file-name stem from a prompt: lowercase words joined by dashes."""
    words = re.findall(r"\w+", text.lower())
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or "image"


def plan(
    output: str | None, count: int, *, prompt: str, model: str, fmt: str | None, cwd: Path
) -> list[Target]:
    """The targets for `count` images from the -o value. Raises UsageError."""
    ext = FORMAT_EXT.get(fmt or "png", ".png")
    if output == "-":
        if count != 1:
            raise UsageError("-o - writes one image to stdout; use -n 1 or a file name")
        return [Target(None)]
    if output and "{" in output:
        return [
            _from_template(output, i, count, prompt, model, ext, cwd) for i in range(1, count + 1)
        ]
    if output is None or output.endswith(("/", os.sep)) or (cwd / output).is_dir():
        folder = cwd / output if output else cwd
        stem = slug(prompt)
        if count == 1:
            return [Target(folder / f"{stem}{ext}", unique=True)]
        return [Target(folder / f"{stem}-{i}{ext}", unique=True) for i in range(1, count + 1)]
    path = cwd / output
    exact = path.suffix.lower() in EXTS
    if not exact:
        path = path.with_name(path.name + ext)
    if count == 1:
        return [Target(path, exact=exact)]
    return [
        Target(path.with_name(f"{path.stem}-{i}{path.suffix}"), exact=exact)
        for i in range(1, count + 1)
    ]


def _from_template(
    template: str, i: int, count: int, prompt: str, model: str, ext: str, cwd: Path
) -> Target:
    fields = {
        "i": i,
        "n": count,
        "slug": slug(prompt),
        "model": re.sub(r"[^\w.-]+", "-", model),
        "date": time.strftime("%Y%m%d"),
        "time": time.strftime("%H%M%S"),
    }
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UsageError(
            f"bad -o template {template!r}: {exc}",
            hint="fields: {i} {n} {slug} {model} {date} {time}",
        ) from None
    path = cwd / name
    if count > 1 and "{i}" not in template:
        path = path.with_name(f"{path.stem}-{i}{path.suffix}")
    exact = path.suffix.lower() in EXTS
    if not exact:
        path = path.with_name(path.name + ext)
    return Target(path, exact=exact)


def check(targets: list[Target], *, force: bool) -> None:
    """Refuse existing files and unwritable folders before any request is sent."""
    for target in targets:
        if target.path is None or target.unique:
            continue
        if target.path.exists() and not force:
            raise FileExists(
                f"{target.path} exists; imggen never overwrites without --force",
                hint="pass --force, or choose another -o",
            )
    for folder in {t.path.parent for t in targets if t.path is not None}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create folder {folder}: {exc.strerror}") from exc
        if not os.access(folder, os.W_OK):
            raise UsageError(f"cannot write to folder {folder}")
