"""The temp files of a run (.imggen-*.part, in the folders the images go to), and the sweep of
those a dead run left behind."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from imggen.errors import GatewayFailed

__all__ = ["HOST", "Scratch", "sweep"]


class Scratch:
    """The temp files of one run, named .imggen-*.part; all removed at the end unless moved
    into place, so Ctrl-C, timeouts and crashes leave nothing partial behind."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()
        # Every name carries this run's token, so cleanup() also finds a file whose creation
        # a signal cut short before it was recorded; and its machine and pid, so a later run
        # can tell the leftovers of a run that is gone (kill -9, a power cut) from a live one's.
        self._prefix = f".imggen-{HOST}-{os.getpid()}-{secrets.token_hex(4)}-"
        # folders where a file's creation began and was not recorded (a signal cut it
        # short): only these are searched for the run's token at cleanup, not every folder,
        # which would list a folder of 10,000 images after each of 10,000 batch jobs
        self._cut: set[Path] = set()
        self._closed = False

    def new_fd(self, directory: Path) -> tuple[Path, int]:
        """A new temp file in `directory`, open for writing. Raises GatewayFailed once the run
        has ended, OSError if the folder cannot take a file."""
        with self._lock:  # held across mkstemp: no file appears after cleanup() has run
            if self._closed:
                raise GatewayFailed("cancelled: this run has ended")
            if directory not in _SWEPT:
                _SWEPT.add(directory)  # once per process: 5,000 batch jobs, one folder
                sweep(directory)
            self._cut.add(directory)
            fd, name = tempfile.mkstemp(prefix=self._prefix, suffix=".part", dir=directory)
            path = Path(name)
            self._paths.add(path)
            self._cut.discard(directory)  # recorded: no search needed for it
        return path, fd

    def new(self, directory: Path) -> tuple[Path, BinaryIO]:
        path, fd = self.new_fd(directory)
        return path, os.fdopen(fd, "wb")

    def factory(self, directory: Path) -> Any:
        return lambda: self.new(directory)

    def release(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def cleanup(self) -> None:
        with self._lock:
            self._closed = True
            paths, self._paths = self._paths, set()
            cut = list(self._cut)
        for path in paths:
            path.unlink(missing_ok=True)
        for folder in cut:
            for stray in folder.glob(f"{self._prefix}*.part"):
                stray.unlink(missing_ok=True)


# This machine, as part files name it: a pid says nothing about another machine's (or
# container's) runs writing the same folder, whose files only age out.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
STALE_AGE = 24 * 3600.0  # a part file this old is a leftover, whoever made it
OWNER_GONE_AGE = 60.0  # and one this old whose process has ended here
_PART = re.compile(r"\.imggen-(?:([0-9a-f]{6})-(\d+)-)?[0-9a-f]+-.*\.part")
_SWEPT: set[Path] = set()  # folders this process has swept (a race sweeps twice: harmless)


def sweep(directory: Path, *, now: float | None = None) -> list[Path]:
    """Remove the .imggen-*.part files a dead run left in `directory`: those of this machine
    whose owner pid no longer runs (a minute old), and any a day old; what was removed."""
    now = time.time() if now is None else now
    gone: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return gone
    for entry in entries:
        found = _PART.fullmatch(entry.name)
        if found is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = int(found.group(2)) if found.group(1) == HOST else None
        owner_gone = pid is not None and pid != os.getpid() and not _alive(pid)
        if (owner_gone and age > OWNER_GONE_AGE) or age > STALE_AGE:
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            gone.append(Path(entry.path))
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as someone else
        return True
    return True
