"""Files imggen writes besides images (the results file, the gallery, kept images): opened
without following a symbolic link imggen did not make, and never replacing a file imggen did
not make without --force.

A pull request can ship `assets.results.jsonl` as a link to `~/.bashrc`; a results file that
truncated and appended through it turned prompts into shell code. So:

- `check()` runs before anything is sent: a link, a folder, the manifest itself, or an existing
  file that does not look like imggen's own (`ours` reads its first bytes) is refused (exit 2,
  with --force as the way out where that is safe);
- `open_append()` opens with O_NOFOLLOW (a link swapped in after the check is refused too);
  a link to a character device or a pipe (`--results /dev/stdout`) is written to, never
  truncated;
- `replace()` writes a temp file in the same folder and renames it over the path: a link
  there is replaced, never written through.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from imggen.errors import UsageError

__all__ = ["NotOurs", "check", "open_append", "replace"]

_HEAD = 4096  # bytes read to tell whether an existing file is imggen's own


class NotOurs(UsageError):
    """A path imggen would write holds something it did not make (exit 2)."""


def _stream(info: os.stat_result) -> bool:
    """A character device or a pipe: written to (`--results /dev/stdout`), never replaced."""
    return stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)


def check(
    path: Path,
    what: str,
    *,
    ours: Callable[[bytes], bool],
    force: bool = False,
    protect: tuple[Path, ...] = (),
) -> None:
    """Refuse (NotOurs) to write `what` at `path` when it is one of `protect` (the manifest),
    a symbolic link to anything but a device or a pipe, not a regular file, or a non-empty file
    whose first bytes `ours` does not recognise (unless `force`)."""
    for other in protect:
        try:
            if os.path.samefile(path, other):
                raise NotOurs(
                    f"{what} {path} is the manifest itself; not overwritten",
                    hint=f"name another file for the {what}",
                )
        except OSError:
            continue
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise NotOurs(f"cannot use {path} for the {what}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        try:
            if _stream(os.stat(path)):
                return
        except OSError:
            pass
        raise NotOurs(
            f"{what} {path} is a symbolic link; imggen does not write through a link it did "
            "not make",
            hint="remove the link (or name another file); imggen then creates a real file",
        )
    if _stream(info):
        return
    if not stat.S_ISREG(info.st_mode):
        raise NotOurs(f"{what} {path} exists and is not a file", hint="name another path")
    if force or info.st_size == 0:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            head = os.read(fd, _HEAD)
        finally:
            os.close(fd)
    except OSError as exc:
        raise NotOurs(f"cannot read {path} (the {what}): {exc.strerror}") from None
    if not ours(head):
        raise NotOurs(
            f"{path} exists and is not an imggen {what}; not overwritten",
            hint="name another file, or pass --force to replace it",
        )


def open_append(path: Path, what: str) -> int:
    """A descriptor appending to `path` (created 0666 less the umask), never through a link
    unless it leads to a device or a pipe. Raises NotOurs, or OSError."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EMLINK):  # ELOOP: a link (FreeBSD: EMLINK)
            raise
        fd = os.open(path, flags)  # a link, checked just below to lead to a device or a pipe
        if not _stream(os.fstat(fd)):
            os.close(fd)
            raise NotOurs(
                f"{what} {path} is a symbolic link; imggen does not write through a link it "
                "did not make",
                hint="remove the link (or name another file); imggen then creates a real file",
            ) from None
    return fd


def replace(path: Path, data: bytes, *, mode: int, new: Callable[[Path], tuple[Path, int]]) -> Path:
    """Put `data` at `path` whole: a temp file from `new(folder)` (the run's Scratch, so an
    interrupt removes it), given `mode`, then renamed over `path` (a link there is replaced,
    not followed); returns the temp file's name, gone now. Raises OSError; the temp file is
    then the caller's Scratch's to remove."""
    tmp, fd = new(path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return tmp
