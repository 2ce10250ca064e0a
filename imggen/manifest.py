"""Batch manifests: TOML (`[defaults]` + `[[jobs]]`) or JSONL (one job a line) read into checked
rows, every problem reported at once with its line or table; and the stable `--shard` split."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import sizes
from imggen.errors import ExitCode, ImggenError, InputError, UsageError

# Every generate/edit option a job may set; "n" is the short name of "count".
JOB_KEYS = tuple(
    "prompt output model profile aspect size count n format quality background seed refs "
    "inputs mask params stream timeout retries".split()
)
PER_JOB = ("prompt", "output")  # what [defaults] may not set: each job names its own
FORMATS = ("png", "jpeg", "webp")


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
    """One job as the manifest gives it, [defaults] merged in and each value checked."""

    number: int  # 1-based, in manifest order
    where: str  # e.g. "assets.toml:12 [[jobs]] #3" or "assets.jsonl:4"
    values: Mapping[str, Any] = field(default_factory=dict)
    valid: bool = True  # no problem of its own: worth checking further (settings, sizes, inputs)

    @property
    def output(self) -> str:
        return str(self.values["output"])

    @property
    def shard_key(self) -> str:
        """The output path as written, normalised, so every CI machine agrees."""
        return re.sub(r"^(\./)+", "", self.output.replace("\\", "/"))


@dataclass(frozen=True)
class Manifest:
    path: Path
    rows: list[Row]
    problems: list[Problem] = field(default_factory=list)  # raised with later ones, all at once

    @property
    def folder(self) -> Path:
        """Relative paths (output, inputs, refs, mask) resolve against this."""
        return self.path.resolve().parent


def load(path: Path) -> Manifest:
    """Read and check a manifest; its problems are kept for tasks.build() to report with its
    own. Raises InputError when the file cannot be read."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError(f"manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {path}: {exc}") from None
    name = str(path)
    problems: list[Problem] = []
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith("{")
    )
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
    defaults = _check(
        defaults_raw, lambda k: at(dline, k, " [defaults]"), problems, is_defaults=True
    )
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
    defaults: dict[str, Any] = {}
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
                defaults = _check(obj["defaults"], _fixed(where), problems, is_defaults=True)
            continue
        number = len(rows) + 1
        rows.append(_row(number, where, defaults, obj, _fixed(where), problems))
    return rows


def _fixed(where: str) -> Callable[[str], str]:
    """A JSONL line is its own location, whatever the key."""
    return lambda key: where


def _row(
    number: int,
    where: str,
    defaults: Mapping[str, Any],
    raw: Mapping[str, Any],
    loc: Callable[[str], str],
    problems: list[Problem],
) -> Row:
    """One job checked, [defaults] merged in; its problems carry its number."""
    before = len(problems)
    job = _check(raw, loc, problems)
    values = {**defaults, **job}
    if "params" in defaults and "params" in job:
        values["params"] = deep_merge(defaults["params"], job["params"])
    for key in PER_JOB:
        if key not in raw:
            problems.append(Problem(where, f"the job has no {key!r}"))
    for i in range(before, len(problems)):
        problems[i] = dataclasses.replace(problems[i], job=number)
    return Row(number, where, values, valid=len(problems) == before)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def _check(
    raw: Mapping[str, Any],
    loc: Callable[[str], str],
    problems: list[Problem],
    *,
    is_defaults: bool = False,
) -> dict[str, Any]:
    """Known keys with checked, normalised values; a Problem for every other one."""
    out: dict[str, Any] = {}
    if "n" in raw and "count" in raw:
        problems.append(Problem(loc("n"), "set n or count, not both"))
    for key, value in raw.items():
        if key not in JOB_KEYS:
            problems.append(Problem(loc(key), f"unknown key {key!r}{_did_you_mean(key, JOB_KEYS)}"))
            continue
        if is_defaults and key in PER_JOB:
            problems.append(Problem(loc(key), f"{key!r} belongs in each job, not in defaults"))
            continue
        try:
            out["count" if key == "n" else key] = check_value(key, value)
        except ImggenError as exc:
            problems.append(Problem(loc(key), exc.message))
    return out


def check_value(key: str, v: Any) -> Any:
    """One checked value. Raises UsageError naming what is accepted."""
    if key in ("prompt", "output", "model", "profile", "background", "mask"):
        if not isinstance(v, str) or not v.strip():
            raise UsageError(f"{key} must be a non-empty string, not {v!r}")
        if v.strip() == "-" and key in ("output", "mask"):
            raise UsageError(f"{key} cannot be - (stdin/stdout) in a batch")
        return v.strip() if key != "prompt" else v
    if key == "aspect":
        return sizes.parse_aspect(str(v))
    if key == "size":
        parsed = sizes.parse_size(str(v))
        return parsed if isinstance(parsed, str) else f"{parsed[0]}x{parsed[1]}"
    if key in ("count", "n", "seed", "retries"):
        least = {"seed": None, "retries": 0}.get(key, 1)
        if not isinstance(v, int) or isinstance(v, bool) or (least is not None and v < least):
            raise UsageError(
                f"{key} must be a whole number{'' if least is None else f' of at least {least}'}"
                f", not {v!r}"
            )
        return v
    if key == "format":
        low = {"jpg": "jpeg"}.get(str(v).lower(), str(v).lower())
        if low not in FORMATS:
            raise UsageError(f"format {v!r}: choose one of {', '.join(FORMATS)}")
        return low
    if key == "quality":
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise UsageError(f"quality must be a string or a number, not {v!r}")
        return str(v)
    if key in ("refs", "inputs"):
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise UsageError(f"{key} must be a file/URL or a list of them, not {v!r}")
        if "-" in items:
            raise UsageError(f"{key} cannot read stdin (-) in a batch")
        return [i.strip() for i in items]
    if key == "params":
        if not isinstance(v, dict):
            raise UsageError(f"params must be a table/object of body fields, not {v!r}")
        return v
    if key == "stream":
        if not isinstance(v, bool):
            raise UsageError(f"stream must be true or false, not {v!r}")
        return v
    if key == "timeout":
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise UsageError(f"timeout must be a number of seconds above 0, not {v!r}")
        return float(v)
    raise AssertionError(key)


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
