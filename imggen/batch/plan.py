"""Batch plans: manifest rows -> checked Jobs with their settings and plan, and whether each
must run (missing, changed, --force) or can be skipped (same request already saved)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import options, sizes
from imggen.batch import manifest
from imggen.batch.manifest import Manifest, Problem, Row
from imggen.env import Env
from imggen.errors import ImggenError, UsageError
from imggen.files import targets
from imggen.files.provenance import job_digest, made_by, read_provenance
from imggen.job import Job
from imggen.profiles import modelcache, settings
from imggen.run import core, inputs

Key = tuple[str | None, str | None]  # (profile, model) as the job asks for them


@dataclass(frozen=True)
class Task:
    """One job ready to run, and whether it needs to: action "run", "skip" or "refuse"."""

    row: Row
    settings: settings.Settings
    job: Job
    opts: core.RunOptions
    plan: core.Plan
    action: str = "run"
    reason: str = "missing"
    existing: tuple[Path, ...] = ()


def build(
    m: Manifest,
    env: Env,
    *,
    flags: options.Layer | None = None,
    force: bool = False,
    need_key: bool = True,
    anywhere: bool = False,
) -> list[Task]:
    """Check every row offline (settings, input images, sizes, outputs) and decide what to skip.
    `flags` are the batch command's own option flags, under the manifest and over the profile.

    Outputs must lie inside the manifest's folder unless `anywhere` (--outputs-anywhere).
    Raises ManifestError listing every problem at once, before any request.
    """
    with manifest.collector_paused(), targets.listed() as maybe:
        return _build(m, env, flags or options.flag_layer({}), force, need_key, anywhere, maybe)


def _build(
    m: Manifest,
    env: Env,
    flags: options.Layer,
    force: bool,
    need_key: bool,
    anywhere: bool,
    maybe: Callable[[str], bool],
) -> list[Task]:
    problems = list(m.problems)
    resolved: dict[Key, settings.Settings | ImggenError] = {}
    failed_settings: dict[Key, list[Row]] = {}
    tasks: list[Task] = []
    memo = _Memo()
    for row in m.rows:
        if not row.valid:
            continue  # its own problems are listed; deeper checks would only repeat them
        layers = [*row.layers(), flags]
        key = (_first(layers, "profile"), _first(layers, "model"))
        if key not in resolved:
            source = options.merge(layers).origins.get("model", "")
            resolved[key] = _settings(key, source, resolved, env, need_key)
        s = resolved[key]
        if isinstance(s, ImggenError):
            failed_settings.setdefault(key, []).append(row)
            continue
        task = _task(row, [*layers, s.layer()], s, m, problems, memo, env.limits.input_cap)
        if task is not None:
            tasks.append(task)
    for key, rows in failed_settings.items():
        error = resolved[key]
        assert isinstance(error, ImggenError)
        more = f" and {len(rows) - 11:,} more" if len(rows) > 11 else ""
        also = f" (also {', '.join(f'#{r.number}' for r in rows[1:11])}{more})" if rows[1:] else ""
        hint = f"; {error.hint}" if error.hint else ""
        message = f"{error.message}{hint}{also}"
        problems.append(Problem(rows[0].where, message, error.exit_code, rows[0].number))
    _check_outputs(tasks, problems, None if anywhere else m.folder)
    if problems:
        raise manifest.ManifestError(str(m.path), problems)
    return [_decide(t, force, maybe) for t in tasks]


def _first(layers: list[options.Layer], name: str) -> Any:
    """The value the highest layer setting `name` gives it (as options.merge would), or None."""
    return next((layer.values[name] for layer in layers if name in layer.values), None)


def _settings(
    key: Key,
    model_source: str,
    resolved: dict[Key, settings.Settings | ImggenError],
    env: Env,
    need_key: bool,
) -> settings.Settings | ImggenError:
    """Settings for a (profile, model) pair, resolved once per profile: another model of it
    is the same settings (an api_key_cmd such as `pass show` runs once, not once per model)."""
    same = next((v for k, v in resolved.items() if k[0] == key[0]), None)
    if isinstance(same, settings.Settings) and key[1]:
        sources = {**same.sources, "model": model_source}
        other = dataclasses.replace(same, model=key[1], sources=sources)
        try:
            modelcache.check_served(other)
        except ImggenError as exc:
            return exc
        return other
    try:
        s = settings.resolve(
            profile=key[0],
            model=key[1],
            environ=env.environ,
            need_key=need_key,
            model_source=model_source,
            limits=env.limits,
        )
        # what the gateway's model listing says (cached a day) picks dialects, as for generate
        s = modelcache.learn(s, env, offline=not need_key)
        modelcache.check_served(s)
        return s
    except ImggenError as exc:
        return exc


@dataclass
class _Memo:
    """What the jobs of one plan share, worked out once."""

    inputs: dict[str, Any] = field(default_factory=dict)  # input images by path (or URL)
    # by (settings, provenance level): the config's signer, from the first job's plan
    signers: dict[tuple[int, str], Any] = field(default_factory=dict)
    bare: dict[int, settings.Settings] = field(default_factory=dict)  # without config_file

    def prepare(self, s: settings.Settings, job: Job, opts: core.RunOptions) -> core.Plan:
        """core.prepare, the config file read (for its [c2pa] signer) once per settings and
        provenance level, not once per job (a read and a TOML parse each)."""
        if s.config_file is None:
            return core.prepare(s, job, opts)
        key = (id(s), opts.provenance)
        if key not in self.signers:  # the signer as core.prepare finds it
            self.signers[key] = core.prepare(s, job, opts).signer
        if id(s) not in self.bare:
            self.bare[id(s)] = dataclasses.replace(s, config_file=None)
        plan = core.prepare(self.bare[id(s)], job, opts)
        signer = self.signers[key]
        return plan if signer is None else dataclasses.replace(plan, signer=signer)


def _task(
    row: Row,
    layers: list[options.Layer],
    s: settings.Settings,
    m: Manifest,
    problems: list[Problem],
    memo: _Memo,
    cap: int,
) -> Task | None:
    """A Task, or None after adding the row's problems. Each value comes from the job, else
    [defaults], else the batch command's flag, else the profile, else the built-in default."""
    before = len(problems)
    folder, manifest_path = m.folder, m.resolved

    def bad(exc: ImggenError) -> None:
        hint = f" ({exc.hint})" if exc.hint else ""
        problems.append(Problem(row.where, exc.message + hint, exc.exit_code, row.number))

    values = options.merge(layers)

    def load(sources: list[str], what: str) -> list[Any]:
        out = []
        for src in sources:
            source = _local(src, folder)
            try:
                if source not in memo.inputs:  # read and hashed once, however many jobs use it
                    memo.inputs[source] = inputs.load(source, what=what, max_bytes=cap)
                out.append(memo.inputs[source])
            except ImggenError as exc:
                bad(exc)
        return out

    images = load(values.get("inputs") or [], "input image")
    refs = load(values.get("refs") or [], "reference image")
    masks = load([values.get("mask")] if values.get("mask") else [], "mask")
    try:
        if masks and not images:
            raise UsageError("mask needs inputs (the images to edit)")
        if masks:
            inputs.check_mask(masks[0], images[0])
    except ImggenError as exc:
        bad(exc)
    job = core.make_job(
        values.get("prompt"), values, refs=refs, inputs=images, mask=masks[0] if masks else None
    )
    if len(problems) > before:
        try:  # still say whether the model takes the size, so every problem shows at once
            gw = s.gateway()
            sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
        except ImggenError as exc:
            bad(exc)
        return None
    opts = core.RunOptions(
        cwd=folder, made_by=(manifest_path, row.output), **values.lands(options.RUN)
    )
    try:
        plan = memo.prepare(s, job, opts)
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


def _inside(path: Path, top: str, real: dict[str, str]) -> bool:
    """Whether path lies in folder, both as written (`a/../../x` does not) and as the links
    the folder holds lead: an output folder that is a link to elsewhere (one a pull request
    can ship) needs --outputs-anywhere too. `real`: the folders' resolved paths so far
    (10,000 outputs share a few folders). On strings: pathlib costs a second at 10,000 jobs."""
    written = os.fspath(path)
    if not _under(os.path.normpath(written), top):
        return False
    parent = os.path.dirname(written)
    for where in (parent, top):
        if where not in real:
            real[where] = os.path.realpath(where)
    return _under(real[parent], real[top])


def _under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies in it (both absolute and normalised), as
    PurePath.is_relative_to says."""
    path, folder = os.path.normcase(path), os.path.normcase(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _check_outputs(tasks: list[Task], problems: list[Problem], folder: Path | None) -> None:
    """Each job needs file names of its own: a re-run finds a job's images by them; and they
    stay in the manifest's folder (`folder`; None: anywhere)."""
    owner: dict[str, Row] = {}
    real: dict[str, str] = {}
    top = os.fspath(folder) if folder else ""
    for task in tasks:
        output = task.row.output
        outside = [
            t.path
            for t in task.plan.targets
            if top and t.path is not None and not _inside(t.path, top, real)
        ]
        if outside:
            problems.append(
                Problem(
                    task.row.where,
                    f"output {task.row.output!r} leads outside the manifest's folder "
                    f"({outside[0]}); pass --outputs-anywhere to allow it",
                    job=task.row.number,
                )
            )
            continue
        if "{" in output and any(field in output for field in ("{date}", "{time}")):
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
            other = owner.setdefault(os.fspath(target.path), task.row)
            if other is not task.row:
                problems.append(
                    Problem(
                        task.row.where,
                        f"output {target.path} is also {other.where}'s",
                        job=task.row.number,
                    )
                )


def _decide(task: Task, force: bool, maybe: Callable[[str], bool]) -> Task:
    """Skip a job whose images exist and carry this very request's digest; regenerate (over
    its own stale images) one whose request changed; refuse files this job did not make
    (by hand, by `imggen generate`, by another manifest or job): only --force replaces them."""
    if force:
        return _with(task, "run", "--force", force=True)
    if not any(maybe(os.fspath(name)) for t in task.plan.targets for name in _names(t)):
        return task  # the usual first run: nothing to read, no digest to make
    digest = job_digest(task.job, task.plan.gateway)
    found = [_existing(t, digest) for t in task.plan.targets]
    pairs = [f for f in found if f is not None]
    if not pairs:
        return task
    present = tuple(path for path, _ in pairs)
    records = [record for _, record in pairs]
    made = [r.get("request") for r in records]
    if len(present) == len(found) and all(d == digest for d in made):
        # the very request's images: skipping replaces nothing, whoever ran it
        return dataclasses.replace(task, action="skip", reason="unchanged", existing=present)
    assert task.opts.made_by is not None
    for path, record in zip(present, records, strict=True):
        if record.get("batch") != made_by(*task.opts.made_by, path.parent):
            who = "this job" if record.get("request") else "imggen"
            reason = (
                f"{path} exists and was not made by {who}; imggen never overwrites without --force"
            )
            return dataclasses.replace(task, action="refuse", reason=reason, existing=present)
    if len(present) < len(found):
        return _with(task, "run", f"incomplete: {len(present)} of {len(found)} images exist")
    return _with(task, "run", "changed since its image was made", existing=present)


def _with(task: Task, action: str, reason: str, *, force: bool = True, **kw: Any) -> Task:
    opts = dataclasses.replace(task.opts, force=force)
    return dataclasses.replace(task, action=action, reason=reason, opts=opts, **kw)


def _names(target: targets.Target) -> list[Path]:
    """The files a target may have become: its own name, or (extension following the real
    image type) a sibling with another image extension."""
    assert target.path is not None
    names = [target.path]
    if not target.exact:
        names += [target.path.with_suffix(targets.FORMAT_EXT[e]) for e in ("png", "jpeg", "webp")]
    return list(dict.fromkeys(names))


def _existing(target: targets.Target, digest: str) -> tuple[Path, dict[str, Any]] | None:
    """The file a target became and its provenance record ({} for none): its own name, or
    (extension following the real image type) a sibling with another image extension; the
    one made by this very request first, so a leftover of an earlier type cannot make every
    re-run pay again. Each file is read once."""
    first: tuple[Path, dict[str, Any]] | None = None
    for path in _names(target):
        if not path.exists():
            continue
        record = read_provenance(path) or {}
        if record.get("request") == digest:
            return path, record
        first = first or (path, record)
    return first
