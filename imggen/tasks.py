"""Batch tasks: manifest rows -> checked Jobs with their settings and plan, and whether each
must run (missing, changed, --force) or can be skipped (same request already saved)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imggen import core, inputs, manifest, output, settings, sizes
from imggen.env import Env
from imggen.errors import ImggenError, UsageError
from imggen.job import Job
from imggen.manifest import Manifest, Problem, Row
from imggen.provenance import job_digest


@dataclass(frozen=True)
class Task:
    """One job ready to run, and whether it needs to: action "run", "skip" or "refuse"."""

    row: Row
    settings: settings.Settings
    job: Job
    opts: core.Options
    plan: core.Plan
    action: str = "run"
    reason: str = "missing"
    existing: tuple[Path, ...] = ()


def build(
    m: Manifest,
    env: Env,
    *,
    profile: str | None = None,
    model: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    force: bool = False,
    need_key: bool = True,
) -> list[Task]:
    """Check every row offline (settings, input images, sizes, outputs) and decide what to skip.

    Raises ManifestError listing every problem at once, before any request.
    """
    problems = list(m.problems)
    resolved: dict[tuple[str | None, str | None], settings.Settings | ImggenError] = {}
    failed_settings: dict[tuple[str | None, str | None], list[Row]] = {}
    tasks: list[Task] = []
    loaded: dict[str, Any] = {}  # input images by path (or URL)
    for row in m.rows:
        if not row.valid:
            continue  # its own problems are listed; deeper checks would only repeat them
        key = (row.values.get("profile", profile), row.values.get("model", model))
        if key not in resolved:
            # once per profile: another model of it is the same settings (an api_key_cmd
            # such as `pass show` runs once, not once per model)
            same = next((v for k, v in resolved.items() if k[0] == key[0]), None)
            if isinstance(same, settings.Settings) and key[1]:
                sources = {**same.sources, "model": "manifest"}
                resolved[key] = dataclasses.replace(same, model=key[1], sources=sources)
            else:
                try:
                    resolved[key] = settings.resolve(
                        profile=key[0], model=key[1], environ=env.environ, need_key=need_key
                    )
                except ImggenError as exc:
                    resolved[key] = exc
        s = resolved[key]
        if isinstance(s, ImggenError):
            failed_settings.setdefault(key, []).append(row)
            continue
        task = _task(row, s, m.folder, timeout, retries, problems, loaded)
        if task is not None:
            tasks.append(task)
    for key, rows in failed_settings.items():
        error = resolved[key]
        assert isinstance(error, ImggenError)
        also = f" (also {', '.join(f'#{r.number}' for r in rows[1:])})" if rows[1:] else ""
        hint = f"; {error.hint}" if error.hint else ""
        message = f"{error.message}{hint}{also}"
        problems.append(Problem(rows[0].where, message, error.exit_code, rows[0].number))
    _check_outputs(tasks, problems)
    if problems:
        raise manifest.ManifestError(str(m.path), problems)
    return [_decide(t, force) for t in tasks]


def _task(
    row: Row,
    s: settings.Settings,
    folder: Path,
    timeout: float | None,
    retries: int | None,
    problems: list[Problem],
    loaded: dict[str, Any],
) -> Task | None:
    """A Task, or None after adding the row's problems. Each value comes from the job, else
    [defaults], else the batch command's flag, else the profile, else the built-in default."""
    before = len(problems)

    def bad(exc: ImggenError, prefix: str = "") -> None:
        hint = f" ({exc.hint})" if exc.hint else ""
        problems.append(Problem(row.where, prefix + exc.message + hint, exc.exit_code, row.number))

    flags = {"timeout": timeout, "retries": retries}
    v = {k: f for k, f in flags.items() if f is not None} | dict(row.values)
    for key, value in s.defaults.items():
        if key in manifest.JOB_KEYS and key not in manifest.PER_JOB and key not in v:
            try:
                v[key] = manifest.check_value(key, value)
            except ImggenError as exc:
                bad(exc, f"profile {s.profile}: ")
    if isinstance(s.defaults.get("params"), dict) and "params" in row.values:
        v["params"] = manifest.deep_merge(s.defaults["params"], row.values["params"])

    def load(sources: list[str], what: str) -> list[Any]:
        out = []
        for src in sources:
            source = _local(src, folder)
            try:
                if source not in loaded:  # read and hashed once, however many jobs use it
                    loaded[source] = inputs.load(source, what=what)
                out.append(loaded[source])
            except ImggenError as exc:
                bad(exc)
        return out

    images = load(v.get("inputs", []), "input image")
    refs = load(v.get("refs", []), "reference image")
    masks = load([v["mask"]] if "mask" in v else [], "mask")
    try:
        if masks and not images:
            raise UsageError("mask needs inputs (the images to edit)")
        if masks:
            inputs.check_mask(masks[0], images[0])
    except ImggenError as exc:
        bad(exc)
    if len(problems) > before:
        try:  # still say whether the model takes the size, so every problem shows at once
            gw = s.gateway()
            sizes.resolve(gw.size_rule, gw.model, v.get("aspect"), v.get("size"))
        except ImggenError as exc:
            bad(exc)
        return None
    job = Job(
        prompt=v["prompt"],
        count=v.get("count", 1),
        aspect=v.get("aspect"),
        size=v.get("size"),
        format=v.get("format"),
        quality=v.get("quality"),
        background=v.get("background"),
        seed=v.get("seed"),
        refs=tuple(refs),
        inputs=tuple(images),
        mask=masks[0] if masks else None,
        params=v.get("params", {}),
        stream=v.get("stream"),
    )
    opts = core.Options(
        output=row.output,
        timeout=v.get("timeout"),
        retries=v.get("retries", 2),
        cwd=folder,
    )
    try:
        plan = core.prepare(s, job, opts)
    except ImggenError as exc:
        bad(exc)
        return None
    return Task(row, s, job, opts, plan)


def _local(source: str, folder: Path) -> str:
    """Relative input paths resolve against the manifest's folder; URLs pass as given."""
    if source.startswith(("http://", "https://", "data:")):
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else folder / path)


def _check_outputs(tasks: list[Task], problems: list[Problem]) -> None:
    """Each job needs file names of its own: a re-run finds a job's images by them."""
    owner: dict[Path, Row] = {}
    for task in tasks:
        if any(field in str(task.row.output) for field in ("{date}", "{time}")):
            problems.append(
                Problem(
                    task.row.where,
                    f"output {task.row.output!r} changes with the clock; a re-run could never "
                    "find (and skip) this job's image: drop {date}/{time}",
                    job=task.row.number,
                )
            )
            continue
        for target in task.plan.targets:
            if target.path is None or target.unique:
                problems.append(
                    Problem(
                        task.row.where,
                        f"output {task.row.output!r} is a folder; name a file "
                        "(a re-run finds a job's image by its name)",
                        job=task.row.number,
                    )
                )
                break
            other = owner.setdefault(target.path, task.row)
            if other is not task.row:
                problems.append(
                    Problem(
                        task.row.where,
                        f"output {target.path} is also {other.where}'s",
                        job=task.row.number,
                    )
                )


def _decide(task: Task, force: bool) -> Task:
    """Skip a job whose images exist and carry this very request's digest; regenerate (over
    its own stale images) one whose request changed; refuse files imggen did not make."""
    if force:
        return _with(task, "run", "--force", force=True)
    digest = job_digest(task.job, task.plan.gateway)
    found = [_existing(t, digest) for t in task.plan.targets]
    present = tuple(p for p in found if p is not None)
    if not present:
        return task
    made = [(output.read_provenance(p) or {}).get("request") for p in present]
    foreign = [p for p, d in zip(present, made, strict=True) if d is None]
    if foreign:
        reason = f"{foreign[0]} exists and was not made by imggen; --force overwrites it"
        return dataclasses.replace(task, action="refuse", reason=reason, existing=present)
    if len(present) == len(found) and all(d == digest for d in made):
        return dataclasses.replace(task, action="skip", reason="unchanged", existing=present)
    if len(present) < len(found):
        return _with(task, "run", f"incomplete: {len(present)} of {len(found)} images exist")
    return _with(task, "run", "changed since its image was made", existing=present)


def _with(task: Task, action: str, reason: str, *, force: bool = True, **kw: Any) -> Task:
    opts = dataclasses.replace(task.opts, force=force)
    return dataclasses.replace(task, action=action, reason=reason, opts=opts, **kw)


def _existing(target: output.Target, digest: str) -> Path | None:
    """The file a target became: its own name, or (extension following the real image type)
    a sibling with another image extension; the one made by this very request first, so a
    leftover of an earlier type cannot make every re-run pay again."""
    assert target.path is not None
    names = [target.path]
    if not target.exact:
        names += [target.path.with_suffix(output.FORMAT_EXT[e]) for e in ("png", "jpeg", "webp")]
    present = [p for p in dict.fromkeys(names) if p.exists()]
    for path in present:
        if (output.read_provenance(path) or {}).get("request") == digest:
            return path
    return present[0] if present else None
