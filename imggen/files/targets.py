"""Where images go: -o as a file, folder, template or stdout resolved to targets, and every check
that can be made before a request is sent, so no money is spent on an image that cannot be
saved: no clobbering (dangling symlinks included), names the filesystem takes, and a folder
that exists or can be made and really takes a new file."""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import string
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from imggen.errors import FileExists, UsageError

EXTS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
    ".gif": "gif",
    ".svg": "svg",
}
FORMAT_EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}
# What a saved image's name may end in: the extension follows the real type unless the user
# named the file exactly, and a JPEG/WEBP/GIF gets a NAME.EXT.json sidecar.
REAL_EXTS = (".png", ".jpg", ".webp", ".gif", ".svg")
SIDECAR = ".json"
NAME_MAX = 255  # bytes in one path component on every common filesystem (pathconf may say less)
PATH_MAX = 4096
TEMPLATE_FIELDS = ("i", "n", "slug", "model", "date", "time")


@dataclass(frozen=True)
class Target:
    path: Path | None  # None: stdout
    exact: bool = False  # the user named the file with its extension
    unique: bool = False  # a generated name: pick a free one rather than refuse

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path(tempfile.gettempdir())

    def names(self) -> list[Path]:
        """Every file this target may become: its own name, or (the extension following the
        real image type) a sibling with another image extension."""
        assert self.path is not None
        if self.exact:
            return [self.path]
        return list(dict.fromkeys([self.path, *(self.path.with_suffix(e) for e in REAL_EXTS)]))


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
    """The targets for `count` images from the -o value (`~` expanded). Raises UsageError,
    also for a name no filesystem takes (too long, a NUL byte)."""
    ext = FORMAT_EXT.get(fmt or "png", ".png")
    if output == "-":
        if count != 1:
            raise UsageError("-o - writes one image to stdout; use -n 1 or a file name")
        return [Target(None)]
    if output and "\0" in output:
        raise UsageError("-o holds a NUL byte, which no file name may contain")
    if output and output.startswith("~"):
        output = os.path.expanduser(output)
    if output and "{" in output:
        found = [
            _from_template(output, i, count, prompt, model, ext, cwd) for i in range(1, count + 1)
        ]
        return _checked(found)
    path = cwd / output if output else cwd  # made once: a batch plans 10,000 of them
    if output is None or output.endswith(("/", os.sep)) or _isdir(path):
        folder = path
        stem = slug(prompt)
        if count == 1:
            found = [Target(folder / f"{stem}{ext}", unique=True)]
        else:
            found = [Target(folder / f"{stem}-{i}{ext}", unique=True) for i in range(1, count + 1)]
    else:
        exact = path.suffix.lower() in EXTS
        if not exact:
            path = path.with_name(path.name + ext)
        if count == 1:
            found = [Target(path, exact=exact)]
        else:
            found = [
                Target(path.with_name(f"{path.stem}-{i}{path.suffix}"), exact=exact)
                for i in range(1, count + 1)
            ]
    return _checked(found)


_LISTED: contextvars.ContextVar[Callable[[str], bool] | None] = contextvars.ContextVar(
    "imggen_listed", default=None
)


@contextlib.contextmanager
def listed() -> Iterator[Callable[[str], bool]]:
    """While many outputs are planned (a batch): `maybe(path)`, whether a file may be there,
    from one listing of its folder instead of a stat of each of 10,000 names; plan() asks it
    before it asks whether an output is a folder. A folder that cannot be listed: a stat.
    Names compare case- and normalisation-blind, so on a folder that is so (macOS, a casefold
    ext4 one) it says no only where nothing is; whatever it says yes to is looked at for real."""
    seen: dict[str, set[str] | None] = {}

    def maybe(path: str) -> bool:
        head, name = os.path.split(path)
        if name in ("", ".", ".."):  # no entry of a listing: ask the filesystem
            return os.path.lexists(path)
        if head not in seen:
            try:
                seen[head] = {_fold(n) for n in os.listdir(head or ".")}
            except FileNotFoundError:
                seen[head] = set()
            except OSError:
                seen[head] = None
        names = seen[head]
        return os.path.lexists(path) if names is None else _fold(name) in names

    token = _LISTED.set(maybe)
    try:
        yield maybe
    finally:
        _LISTED.reset(token)


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _isdir(path: Path) -> bool:
    maybe = _LISTED.get()
    return (maybe is None or maybe(os.fspath(path))) and os.path.isdir(path)


def _checked(found: list[Target]) -> list[Target]:
    for target in found:
        _check_name(target, NAME_MAX)
    return found


def _from_template(
    template: str, i: int, count: int, prompt: str, model: str, ext: str, cwd: Path
) -> Target:
    """One target of a name template. Only the named fields, with an optional format spec
    ({i:03d}); a field's value never adds a folder or climbs out of one (a model named `..`)."""
    fields = {
        "i": i,
        "n": count,
        "slug": slug(prompt),
        "model": _component(model),
        "date": time.strftime("%Y%m%d"),
        "time": time.strftime("%H%M%S"),
    }
    hint = "fields: {i} {n} {slug} {model} {date} {time}"
    try:
        used = [
            (name, conversion)
            for _, name, _, conversion in string.Formatter().parse(template)
            if name is not None
        ]
        for name, conversion in used:
            if name not in fields or conversion:
                shown = "{" + name + (f"!{conversion}" if conversion else "") + "}"
                raise UsageError(f"bad -o template {template!r}: no field {shown}", hint=hint)
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UsageError(f"bad -o template {template!r}: {exc}", hint=hint) from None
    path = cwd / name
    if count > 1 and "i" not in {field for field, _ in used}:
        path = path.with_name(f"{path.stem}-{i}{path.suffix}")
    exact = path.suffix.lower() in EXTS
    if not exact:
        path = path.with_name(path.name + ext)
    return Target(path, exact=exact)


def _component(value: str) -> str:
    """A value fit to be one path component: no separators, no leading dots."""
    return re.sub(r"[^\w.-]+", "-", value).lstrip(".") or "-"


def longest_name(target: Target) -> str:
    """The longest name this target may be saved under: its real-type sibling with the longest
    extension, plus the sidecar's ".json"."""
    assert target.path is not None
    names = [p.name for p in target.names()]
    return max(names, key=lambda n: len(os.fsencode(n))) + SIDECAR


def _check_name(target: Target, name_max: int) -> None:
    """Refuse before any request a name the filesystem would refuse after it (ENAMETOOLONG
    once the image is paid for, or only for its sidecar)."""
    if target.path is None:
        return
    # most names are far from either limit (4 bytes a character at most, and at most 10 more
    # for another extension and the sidecar's): no need to spell their variants out
    if len(target.path.name) * 4 + 10 < name_max and len(str(target.path)) * 4 + 10 < PATH_MAX:
        return
    name = longest_name(target)
    size = len(os.fsencode(name))
    if size > name_max:
        raise UsageError(
            f"the file name {target.path.name!r} is too long: saved as {name!r} it would be "
            f"{size} bytes, and this filesystem takes at most {name_max}",
            hint="choose a shorter -o",
        )
    if len(os.fsencode(str(target.path.parent / name))) >= PATH_MAX:
        raise UsageError(f"the path {target.path} is too long ({PATH_MAX} bytes at most)")


def check(targets: list[Target], *, force: bool) -> None:
    """Everything about the targets that can fail before the request: a file (or a dangling
    symlink) in the way without --force, a folder that is a file or cannot be made, a
    filesystem that takes no new file there, a name it refuses. Raises FileExists or
    UsageError (exit 2)."""
    for target in targets:
        if target.path is None or target.unique:
            continue
        for path in target.names() if not force else []:
            if os.path.lexists(path):
                raise FileExists(_exists(target, path), hint=_exists_hint(target, path))
            record = path.with_name(path.name + SIDECAR)  # a record imggen would write beside
            if os.path.lexists(record):
                raise FileExists(
                    f"{record} exists; imggen never replaces it without --force",
                    hint="pass --force, or choose another -o",
                )
    for folder in dict.fromkeys(t.path.parent for t in targets if t.path is not None):
        _make_folder(folder)
        name_max = _name_max(folder)
        for target in targets:
            if target.path is not None and target.path.parent == folder:
                _check_name(target, name_max)


def _exists(target: Target, path: Path) -> str:
    if not os.path.exists(path):
        return f"{path} is a symlink to {os.readlink(path)}, which does not exist"
    if path != target.path:
        return f"{path} exists (the image takes the extension of its real type)"
    return f"{path} exists; imggen never overwrites without --force"


def _exists_hint(target: Target, path: Path) -> str:
    assert target.path is not None
    if path != target.path:
        return f"pass --force, or name the file with its extension (-o {target.path.name})"
    if not os.path.exists(path):
        return "remove the link, or pass --force (it replaces the link, not its target)"
    return "pass --force, or choose another -o"


def file_in_the_way(folder: Path) -> Path | None:
    """The first part of `folder` (itself included) that exists and is not a folder."""
    for part in [*reversed(folder.parents), folder]:
        if os.path.lexists(part) and not part.is_dir():
            return part
    return None


def _make_folder(folder: Path) -> None:
    """Create the folder if need be and prove it takes a new file (access() says yes as root
    and on /proc): a temp file, named as the save path's are, made and removed at once."""
    blocker = file_in_the_way(folder)
    if blocker is not None:
        which = "it" if blocker == folder else str(blocker)
        raise UsageError(
            f"cannot save into {folder}: {which} is a file, not a folder",
            hint="choose another -o",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create folder {folder}: {exc.strerror}", hint="choose another -o"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".imggen-probe-", suffix=".part", dir=folder)
    except OSError as exc:
        raise UsageError(
            f"cannot write to folder {folder}: {exc.strerror}", hint="choose another -o"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _name_max(folder: Path) -> int:
    try:
        return min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX
