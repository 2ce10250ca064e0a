"""Reading a file the user names (an input image, a manifest, the config) in bounded memory and
time: a regular file only, opened without blocking (a FIFO would wait for a writer for ever),
its size checked before a byte is read, and never more than the cap read after that (a file
may grow while it is read; /dev/zero never ends)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegular(OSError):
    """A device, FIFO, socket or folder where a file was expected; `kind` says which."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class TooLarge(OSError):
    """The file holds more than the cap; `size` is what stat() said (or cap + 1 if it grew)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def read(path: Path | str, cap: int) -> bytes:
    """The bytes of a regular file of at most `cap` bytes. Raises NotRegular, TooLarge, or the
    OSError of open() (FileNotFoundError, PermissionError ...)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # before fdopen(), which refuses a folder itself
            raise NotRegular(kind(info.st_mode))
        if info.st_size > cap:
            raise TooLarge(info.st_size)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(len(data))
    return data


def kind(mode: int) -> str:
    """What a file that is not a regular file is, in a user's words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
