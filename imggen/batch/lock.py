"""Two batch runs of one manifest at once paid every job twice and wrote a results file saying
each job both saved and failed. A run holds an advisory lock (flock) on its manifest, exclusive
for a whole run and shared among --shard runs (their jobs are disjoint), and an exclusive one on
its results file; a second run stops at once and says why. The kernel drops the locks when the
process ends, however it ends: nothing stale to clean up."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from imggen.errors import UsageError


class Busy(UsageError):
    """Another imggen batch holds the manifest or the results file."""


def _flock(fd: int, *, shared: bool) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    if sys.platform == "win32":  # no flock: no guard there
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK: a filesystem without locks (some NFS setups) guards nothing
        return True
    return True


def _busy(what: str, path: Path) -> Busy:
    return Busy(
        f"another imggen batch is running {what} {path}; not starting a second one",
        hint="wait for it to end, then run again: jobs it saved are skipped",
    )


class ManifestLock:
    """Held from before planning to the end of the run; `shared` for a --shard run."""

    def __init__(self, path: Path, *, shared: bool) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None  # load() has read it; a vanished file guards nothing
            return
        if not _flock(self._fd, shared=shared):
            self.close()
            raise _busy("the manifest", path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ManifestLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_results(path: Path) -> int:
    """The results file, locked and then emptied (never emptied under another run's feet):
    a descriptor for appends, never through a link to a file (owned.open_append). Raises
    Busy or owned.NotOurs, or OSError when it cannot be opened."""
    from imggen.files import owned

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = owned.open_append(path, "the results file")
    if not _flock(fd, shared=False):
        os.close(fd)
        raise _busy("with the results file", path)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not a device or a pipe (--results /dev/stdout)
            os.ftruncate(fd, 0)
    except OSError:
        os.close(fd)
        raise
    return fd
