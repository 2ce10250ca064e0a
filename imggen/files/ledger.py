"""The job ledger: every job submitted to a job provider and not yet collected, one small JSON
file per job in the user's state dir (IMGGEN_STATE_DIR overrides it), written before imggen
waits on the job. A re-run of the same request finds its job here by the request's key and
polls it instead of paying for a new one; `imggen jobs` lists, waits on and cancels them.

Each file is written whole (a temp file, then a rename), mode 0600, in a folder of mode 0700,
never through a symlink: a link in the folder is refused, not followed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imggen.errors import UsageError
from imggen.job import HttpCall, Ticket

STATE_ENV = "IMGGEN_STATE_DIR"
FORMAT = 1
_NAME = re.compile(r"^[0-9a-f]{64}\.json$")
_SIZE_CAP = 1024 * 1024  # an entry is a few KB; a bigger file is not one of ours


@dataclass
class Entry:
    """One job: where it was sent, how to ask about it, and where its images go."""

    key: str  # the request's digest: the same request made again finds this entry
    id: str
    provider: str  # the dialect's name
    profile: str
    base_url: str
    model: str
    poll: str
    result: str = ""
    cancel: str = ""
    state: str = "submitted"  # submitted | queued | running | failed | cancelled | expired
    error: str = ""
    images: int = 1
    first: int = 0  # the index of its first image among the run's targets
    run: str = ""  # the run that submitted it: its entries share the targets below
    targets: list[list[Any]] = field(default_factory=list)  # [path, exact, unique]
    prompt: str = ""
    format: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # the Job, for the images' record
    submitted: float = field(default_factory=time.time)

    @property
    def ticket(self) -> Ticket:
        return Ticket(self.id, self.poll, self.result, self.cancel)

    @property
    def resubmit(self) -> bool:
        """The provider gave up on it: a re-run of the same request submits it again."""
        return self.state in ("failed", "cancelled")


def state_dir(environ: Mapping[str, str]) -> Path:
    """IMGGEN_STATE_DIR if set, else the platform's user state dir for imggen."""
    if environ.get(STATE_ENV):
        return Path(environ[STATE_ENV]).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("imggen", appauthor=False))


def request_key(base_url: str, model: str, call: HttpCall, index: int) -> str:
    """The digest of one submit: where it goes, what it asks, and which of a run's identical
    calls it is (-n 3 on a one-image-a-call provider sends the same body three times)."""
    body = json.dumps(call.json, sort_keys=True, ensure_ascii=False, default=str)
    text = "\n".join([base_url.rstrip("/"), model, call.method, call.path, body, str(index)])
    return hashlib.sha256(text.encode()).hexdigest()


class Ledger:
    """The jobs folder of one state dir."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.folder = state_dir(environ) / "jobs"

    def get(self, key: str) -> Entry | None:
        return self._read(self.folder / f"{key}.json")

    def put(self, entry: Entry) -> None:
        """Write (or replace) one entry whole. Raises UsageError when it cannot be written:
        a job nobody recorded must not be waited on (a kill would lose it)."""
        data = json.dumps({"ledger": FORMAT, **asdict(entry)}, ensure_ascii=False).encode()
        final = self.folder / f"{entry.key}.json"
        tmp = self.folder / f".{entry.key}.{os.getpid()}.tmp"
        try:
            self._folder()
            _refuse_link(final)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UsageError(
                f"cannot record the job {entry.id} in {self.folder}: {exc.strerror or exc}",
                hint=f"check that folder (or set {STATE_ENV} to a writable one); the job was "
                "submitted: its id is above",
            ) from None

    def update(self, key: str, **changes: Any) -> None:
        entry = self.get(key)
        if entry is None:
            return
        for name, value in changes.items():
            setattr(entry, name, value)
        self.put(entry)

    def remove(self, key: str) -> None:
        try:
            (self.folder / f"{key}.json").unlink()
        except FileNotFoundError:
            pass

    def all(self) -> list[Entry]:
        """Every entry, oldest first."""
        found = [e for e in self._each() if e is not None]
        return sorted(found, key=lambda e: (e.submitted, e.run, e.first))

    def find(self, job_id: str) -> Entry | None:
        return next((e for e in self.all() if e.id == job_id or e.key == job_id), None)

    def _each(self) -> Iterator[Entry | None]:
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return
        for name in names:
            if _NAME.match(name):
                yield self._read(self.folder / name)

    def _read(self, path: Path) -> Entry | None:
        """An entry, or None when absent, a link, too big or not one of ours."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            raw = os.read(fd, _SIZE_CAP + 1)
        finally:
            os.close(fd)
        try:
            doc = json.loads(raw)
            if len(raw) > _SIZE_CAP or doc.pop("ledger", None) != FORMAT:
                return None
            return Entry(**doc)
        except (ValueError, TypeError):
            return None

    def _folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.folder.is_symlink() or not self.folder.is_dir():
            raise OSError(f"{self.folder} is not a folder")


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise OSError(f"{path} is a symlink imggen did not make")
