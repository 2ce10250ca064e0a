"""Batch manifests: TOML (`[defaults]` + `[[jobs]]`) or JSONL (one job a line) read into checked
rows, every problem reported at once with its line or table; and the stable `--shard` split."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import gc
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import options
from imggen.errors import ExitCode, InputError, UsageError
from imggen.files import bounded
from imggen.limits import MiB

MANIFEST_CAP = 64 * MiB  # 5,000 jobs take about 1 MiB
# Every option a job may set (imggen/options/table.py); "n" is the short name of "count".
JOB_KEYS = options.MANIFEST_KEYS
PER_JOB = options.PER_JOB  # what [defaults] may not set: each job names its own
_KNOWN = frozenset(JOB_KEYS)  # asked of every key of every job


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    exit_code: int = ExitCode.USAGE
    job: int = 0  # the job's number; 0 for the file and its defaults

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    @property
    def order(self) -> tuple[int, int]:
        line = re.search(r":(\d+)(?: |$)", self.where)
        return int(line[1]) if line else 0, self.job


class ManifestError(UsageError):
    """All the problems of a manifest at once; nothing was sent. Exit 2 (3 if a profile is
    unusable)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: p.order)
        many = f"{len(problems)} problems" if len(problems) > 1 else "a problem"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"manifest {source} has {many}; nothing was sent:\n{lines}",
            hint="fix these and run again",
        )
        self.problems = problems
        self.exit_code = ExitCode(max(p.exit_code for p in problems))


@dataclass(frozen=True)
class Row:
    """One job as the manifest gives it: its own checked values and those of [defaults], each
    with where it was written, as two precedence layers (options.merge walks them)."""

    number: int  # 1-based, in manifest order
    where: str  # e.g. "assets.toml:12 [[jobs]] #3" or "assets.jsonl:4"
    job: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # "size" -> "a.toml:12 (size)"
    # "size" -> "a.toml:3 ([defaults] size)": one mapping every row of the manifest shares
    defaults_labels: Mapping[str, str] = field(default_factory=dict)
    valid: bool = True  # no problem of its own: worth checking further (settings, sizes, inputs)

    def layers(self) -> list[options.Layer]:
        """The job, then [defaults]: the two highest layers of a batch job's precedence."""
        return [
            options.Layer(self.job, self._label),
            options.Layer(self.defaults, lambda key: self.defaults_labels.get(key, "")),
        ]

    def _label(self, key: str) -> str:
        """Where the job set `key`: "assets.toml:9 (size)"; a JSONL job's line, which is
        where each of its keys is, keeps no table of them (10,000 rows, 10,000 tables)."""
        label = self.labels.get(key)
        return label if label is not None else f"{self.where.split(' ')[0]} ({key})"

    @property
    def values(self) -> Mapping[str, Any]:
        """The job's values with [defaults] under them."""
        return options.merge(self.layers()).values

    @property
    def output(self) -> str:
        return str(self.job["output"])

    @property
    def shard_key(self) -> str:
        """The output path as written, normalised, so every CI machine agrees."""
        return re.sub(r"^(\./)+", "", self.output.replace("\\", "/"))


@dataclass(frozen=True)
class Manifest:
    path: Path
    rows: list[Row]
    problems: list[Problem] = field(default_factory=list)  # raised with later ones, all at once

    @functools.cached_property
    def resolved(self) -> Path:
        """The manifest's own path with its links resolved (once: 10,000 jobs ask)."""
        return self.path.resolve()

    @functools.cached_property
    def folder(self) -> Path:
        """Relative paths (output, inputs, refs, mask) resolve against this."""
        return self.resolved.parent


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while reading and planning a manifest: 10,000 jobs
    are 10,000 sets of objects that live on, which it would otherwise walk again and again
    (a fifth of the time) to find nothing; it is back on (if it was) for the run."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # what was made meanwhile goes straight to the oldest generation (two list
            # splices) instead of being walked whole by the next young collection
            gc.freeze()
            gc.unfreeze()
        if was:
            gc.enable()


def load(path: Path) -> Manifest:
    """Read and check a manifest; its problems are kept for tasks.build() to report with its
    own. Raises InputError when the file cannot be read."""
    try:
        text = bounded.read(path.expanduser(), MANIFEST_CAP).decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"manifest {path} does not exist") from None
    except bounded.NotRegular as exc:
        raise InputError(f"manifest {path} is {exc.kind}, not a file") from None
    except bounded.TooLarge:
        raise InputError(
            f"manifest {path} is over {MANIFEST_CAP // MiB} MiB",
            hint="split it, or run its parts with --shard",
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read manifest {path}: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read manifest {path}: {exc.strerror}") from None
    name = str(path)
    problems: list[Problem] = []
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith("{")
    )
    with collector_paused():
        rows = (_jsonl if jsonl else _toml)(name, text, problems)
    if not rows and not problems:
        problems.append(Problem(name, "no jobs" + ("" if jsonl else " (add [[jobs]] tables)")))
    return Manifest(path, rows, problems)


def _toml(name: str, text: str, problems: list[Problem]) -> list[Row]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        problems.append(Problem(f"{name}:{line[1]}" if line else name, f"not valid TOML: {exc}"))
        return []
    lines = text.splitlines()
    headers = [i + 1 for i, ln in enumerate(lines) if re.match(r"\s*\[\[\s*jobs\s*\]\]", ln)]
    dline = next((i + 1 for i, ln in enumerate(lines) if re.match(r"\s*\[\s*defaults\s*\]", ln)), 0)

    def key_line(start: int, key: str) -> int:
        """The line of `key = ...` in the table opened at `start` (0: the top of the file)."""
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*[.=]")
        for i in range(start, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if pattern.match(lines[i]):
                return i + 1
        return start

    def at(start: int, key: str, label: str) -> str:
        line = key_line(start, key)
        return f"{name}:{line}{label}" if line else f"{name}{label}"

    for key in data:
        if key not in ("defaults", "jobs"):
            hint = _did_you_mean(key, ("defaults", "jobs"))
            problems.append(Problem(at(0, key, ""), f"unknown key {key!r}{hint}"))
    defaults_raw = data.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        problems.append(Problem(name, "defaults must be a table ([defaults])"))
        defaults_raw = {}
    checked = _check(
        defaults_raw, lambda k: at(dline, k, " [defaults]"), problems, is_defaults=True
    )
    defaults = _defaults(checked, {k: at(dline, k, " [defaults]") for k in checked})
    jobs = data.get("jobs", [])
    if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        problems.append(Problem(name, "jobs must be an array of tables ([[jobs]])"))
        return []
    rows = []
    for n, job in enumerate(jobs, 1):
        start = headers[n - 1] if len(headers) == len(jobs) else 0
        label = f"[[jobs]] #{n}"
        where = f"{name}:{start} {label}" if start else f"{name} {label}"

        def loc(key: str, start: int = start, label: str = label) -> str:
            return at(start, key, f" {label}") if start else f"{name} {label}"

        rows.append(_row(n, where, defaults, job, loc, problems))
    return rows


def _jsonl(name: str, text: str, problems: list[Problem]) -> list[Row]:
    defaults: tuple[dict[str, Any], dict[str, str]] = ({}, {})
    rows: list[Row] = []
    seen_line = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            problems.append(
                Problem(where, f"not valid JSON ({msg}{f' at column {col}' if col else ''})")
            )
            seen_line = True
            continue
        first, seen_line = not seen_line, True
        if not isinstance(obj, dict):
            problems.append(Problem(where, "each line must be a JSON object (one job)"))
            continue
        if "defaults" in obj:
            if not first or len(obj) != 1 or not isinstance(obj["defaults"], dict):
                problems.append(
                    Problem(where, 'defaults go alone on the first line: {"defaults": {...}}')
                )
            else:
                checked = _check(obj["defaults"], _fixed(where), problems, is_defaults=True)
                defaults = _defaults(checked, dict.fromkeys(checked, where))
            continue
        number = len(rows) + 1
        rows.append(_row(number, where, defaults, obj, _fixed(where), problems, labelled=False))
    return rows


def _fixed(where: str) -> Callable[[str], str]:
    """A JSONL line is its own location, whatever the key."""
    return lambda key: where


def _row(
    number: int,
    where: str,
    defaults: tuple[Mapping[str, Any], Mapping[str, str]],
    raw: Mapping[str, Any],
    loc: Callable[[str], str],
    problems: list[Problem],
    *,
    labelled: bool = True,
) -> Row:
    """One job checked; its problems carry its number. Without `labelled` (every key of the
    job is at `where`), Row._label says where its keys are."""
    before = len(problems)
    job = _check(raw, loc, problems)
    for key in PER_JOB:
        if key not in raw:
            problems.append(Problem(where, f"the job has no {key!r}"))
    for i in range(before, len(problems)):
        problems[i] = dataclasses.replace(problems[i], job=number)
    values, at = defaults
    # "assets.toml:9 (size)": the line says which job; messages name the job anyway
    labels = {k: f"{loc(k).split(' ')[0]} ({k})" for k in job} if labelled else {}
    return Row(number, where, job, values, labels, at, valid=len(problems) == before)


def _defaults(
    values: dict[str, Any], at: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """[defaults] as every row holds it: its values, and each one's label, made once."""
    return values, {k: f"{at[k].split(' ')[0]} ([defaults] {k})" for k in values}


def _check(
    raw: Mapping[str, Any],
    loc: Callable[[str], str],
    problems: list[Problem],
    *,
    is_defaults: bool = False,
) -> dict[str, Any]:
    """Known keys with values checked by the option table; a Problem for every other one."""
    if "n" in raw and "count" in raw:
        problems.append(Problem(loc("n"), "set n or count, not both"))
    known: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KNOWN:
            problems.append(Problem(loc(key), f"unknown key {key!r}{_did_you_mean(key, JOB_KEYS)}"))
        elif value is None:
            problems.append(Problem(loc(key), f"{key} cannot be null; leave it out instead"))
        elif is_defaults and options.canonical(key) in PER_JOB:
            problems.append(Problem(loc(key), f"{key!r} belongs in each job, not in defaults"))
        else:
            known[key] = value
    out, found = options.check(known, lambda name: name)
    for p in found:
        key = next(k for k in known if options.canonical(k) == p.option)
        problems.append(Problem(loc(key), str(dataclasses.replace(p, label=key))))
    for name, value in out.items():
        problem = _batch_only(name, value)
        if problem:
            problems.append(Problem(loc(name), problem))
    return out


def _batch_only(name: str, value: Any) -> str | None:
    """What a manifest may not say that a command line may: stdin and stdout."""
    if name in ("output", "mask") and value == "-":
        return f"{name} cannot be - (stdin/stdout) in a batch"
    if name in ("refs", "inputs") and "-" in value:
        return f"{name} cannot read stdin (-) in a batch"
    return None


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(known)}"


# -- shards ------------------------------------------------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """--shard I/N, 1 <= I <= N, as (I, N). Raises UsageError."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None or not 1 <= int(m[1]) <= int(m[2]):
        raise UsageError(
            f"--shard {text!r}: give I/N with 1 <= I <= N", hint="for example --shard 2/4"
        )
    return int(m[1]), int(m[2])


def in_shard(row: Row, index: int, total: int) -> bool:
    """Stable across machines and manifest edits: a hash of the job's output path picks the
    shard, so N machines cover every job exactly once."""
    digest = hashlib.sha256(row.shard_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total == index - 1
