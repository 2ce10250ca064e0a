"""The local history of saved images: one SQLite file (standard-library sqlite3, WAL, a busy
timeout) in the user data dir (IMGGEN_DATA_DIR overrides it), appended to by every run that
saves an image, read by `imggen log`.

What a row holds follows the provenance level: `full` everything (prompt, parameters),
`minimal` no prompt and no pass-through parameters, `off` only time, path, SHA-256, model and
outcome. sqlite3 is imported only when a row is written or read, never at start-up.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imggen.errors import UsageError

if TYPE_CHECKING:
    import sqlite3

DATA_ENV = "IMGGEN_DATA_DIR"
OFF_ENV = "IMGGEN_NO_LOG"
FILE = "history.sqlite3"
BUSY_MS = 10_000  # parallel batch workers and processes wait for each other's inserts
LEVELS = ("full", "minimal", "off")
_LOCK = threading.Lock()  # one writer per process at a time; sqlite serialises processes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT,
    profile TEXT,
    model TEXT,
    prompt TEXT,
    params TEXT,
    cost REAL,
    estimate REAL,
    currency TEXT,
    job TEXT,
    outcome TEXT NOT NULL,
    provenance TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_time ON images (time);
"""


@dataclass(frozen=True)
class Entry:
    """One saved image as the history holds it."""

    time: float
    path: str
    sha256: str | None
    model: str | None
    outcome: str = "saved"  # "saved", or "exit N" when the run it came from failed in part
    profile: str | None = None
    prompt: str | None = None
    params: Mapping[str, Any] | None = None
    cost: float | None = None  # the gateway's reported cost for this image
    estimate: float | None = None  # imggen's price-table estimate for this image
    currency: str | None = None
    job: str | None = None  # the batch job (manifest#output) or provider job id
    provenance: str = "full"
    id: int = 0

    def as_json(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.time).astimezone().isoformat(timespec="seconds")
        return {
            "id": self.id,
            "time": when,
            "path": self.path,
            "sha256": self.sha256,
            "profile": self.profile,
            "model": self.model,
            "prompt": self.prompt,
            "params": dict(self.params) if self.params is not None else None,
            "cost": self.cost,
            "estimate": self.estimate,
            "currency": self.currency,
            "job": self.job,
            "outcome": self.outcome,
            "provenance": self.provenance,
        }


def data_dir(environ: Mapping[str, str]) -> Path:
    """IMGGEN_DATA_DIR if set, else the platform's user data dir for imggen."""
    if environ.get(DATA_ENV):
        return Path(environ[DATA_ENV]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("imggen", appauthor=False))


def db_path(environ: Mapping[str, str]) -> Path:
    return data_dir(environ) / FILE


def enabled(environ: Mapping[str, str], log: bool | None) -> bool:
    """False under --no-log, `log = false` or IMGGEN_NO_LOG=1 (any value but 0/empty)."""
    if log is False:
        return False
    return environ.get(OFF_ENV, "").strip().lower() in ("", "0", "false", "no")


def trimmed(entry: Entry) -> Entry:
    """The entry as its provenance level allows it to be kept."""
    import dataclasses

    if entry.provenance == "off":
        return dataclasses.replace(entry, profile=None, prompt=None, params=None, job=None)
    if entry.provenance == "minimal":
        params = {k: v for k, v in (entry.params or {}).items() if k != "params"}
        return dataclasses.replace(entry, prompt=None, params=params)
    return entry


def append(environ: Mapping[str, str], entries: list[Entry]) -> None:
    """Add the entries in one transaction. Raises OSError or sqlite3.Error: the caller warns,
    a history that cannot be written never fails a run."""
    if not entries:
        return
    rows = [_row(trimmed(e)) for e in entries]
    with _LOCK, _connect(db_path(environ), create=True) as db, db:
        db.executemany(
            "INSERT INTO images (time, path, sha256, profile, model, prompt, params, cost,"
            " estimate, currency, job, outcome, provenance)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _row(e: Entry) -> tuple[Any, ...]:
    params = None if e.params is None else json.dumps(dict(e.params), ensure_ascii=False)
    return (
        e.time,
        e.path,
        e.sha256,
        e.profile,
        e.model,
        e.prompt,
        params,
        e.cost,
        e.estimate,
        e.currency,
        e.job,
        e.outcome,
        e.provenance,
    )


def query(
    environ: Mapping[str, str],
    *,
    since: float | None = None,
    model: str | None = None,
    grep: str | None = None,
    limit: int | None = 20,
) -> list[Entry]:
    """Entries newest first, filtered; [] when there is no history yet."""
    path = db_path(environ)
    if not path.exists():
        return []
    where: list[str] = ["1"]
    args: list[Any] = []
    if since is not None:
        where.append("time >= ?")
        args.append(since)
    if model:
        where.append("model LIKE ? ESCAPE '\\'")
        args.append(f"%{_literal(model)}%")
    if grep:
        where.append("(prompt LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\')")
        args += [f"%{_literal(grep)}%"] * 2
    sql = f"SELECT * FROM images WHERE {' AND '.join(where)} ORDER BY time DESC, id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with _connect(path, create=False) as db:
        return [_entry(row) for row in db.execute(sql, args)]


def _literal(text: str) -> str:
    """Text matched as written by LIKE: its % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _entry(row: sqlite3.Row) -> Entry:
    params = json.loads(row["params"]) if row["params"] else None
    return Entry(
        time=row["time"],
        path=row["path"],
        sha256=row["sha256"],
        model=row["model"],
        outcome=row["outcome"],
        profile=row["profile"],
        prompt=row["prompt"],
        params=params,
        cost=row["cost"],
        estimate=row["estimate"],
        currency=row["currency"],
        job=row["job"],
        provenance=row["provenance"],
        id=row["id"],
    )


def clear(environ: Mapping[str, str]) -> int:
    """Delete the history (its WAL files too); how many entries it held."""
    path = db_path(environ)
    if not path.exists():
        return 0
    try:
        with _connect(path, create=False) as db:
            count = int(db.execute("SELECT count(*) FROM images").fetchone()[0])
    except Exception:  # a damaged file is deleted all the same
        count = 0
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        name.unlink(missing_ok=True)
    return count


def state(entry: Entry) -> str:
    """ "" when the file is where it was saved with the same bytes; else "missing" (moved or
    deleted) or "changed" (its SHA-256 differs)."""
    path = Path(entry.path)
    if entry.path == "-":
        return "stdout"
    import hashlib

    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return "missing"
    return "" if entry.sha256 in (None, digest.hexdigest()) else "changed"


@contextmanager
def _connect(path: Path, *, create: bool) -> Iterator[sqlite3.Connection]:
    import sqlite3

    if create:
        _create(path)
    db = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None)
    with closing(db):
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        # with WAL, NORMAL syncs at checkpoints, not at every commit: a crash of imggen loses
        # nothing and the file stays whole; only a power cut may drop the newest rows, which
        # the images' own records (and `imggen inspect`) still hold. A full sync per saved
        # image cost a receive more than the image's own fsync (issue 26)
        db.execute("PRAGMA synchronous = NORMAL")
        if create:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
        db.isolation_level = "DEFERRED"  # `with db:` commits what follows as one transaction
        yield db


def _create(path: Path) -> None:
    """The history file, created 0600 (its folder 0700) without following a symlink: a link
    planted where it goes is refused, not written through."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise OSError(f"{path} is a symbolic link; imggen does not write through it") from exc
        raise
    os.close(fd)


_SPAN = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """A time to list from: a span back from now (30m, 12h, 2d, 1w) or a date (2026-12-01,
    2026-12-01T08:00). Raises UsageError."""
    now = time.time() if now is None else now
    raw = text.strip().lower()
    found = _SPAN.match(raw)
    if found:
        return now - int(found[1]) * _SECONDS[found[2]]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text}: not a time span or a date",
            hint="give a span such as 30m, 12h, 2d or 1w, or a date such as 2026-12-01",
        ) from None
    return when.timestamp() if when.tzinfo else when.astimezone().timestamp()
