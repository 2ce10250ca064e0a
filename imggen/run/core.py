"""prepare + run: a Job checked and built for one gateway, then sent, received and saved.
Knows no Typer; serves generate, edit, batch, doctor and tests alike."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import options, sizes
from imggen.console import UI
from imggen.dialects import DIALECTS, Dialect, check_carried
from imggen.env import Env
from imggen.errors import ImggenError, NoImage, SizeRefused, UsageError
from imggen.files import save, targets
from imggen.files.provenance import made_by, provenance
from imggen.files.scratch import Scratch
from imggen.job import Gateway, HttpCall, ImageInput, Job, Payload, SavedImage
from imggen.limits import Limits
from imggen.profiles.settings import Settings
from imggen.run import record, send, streaming, verify
from imggen.run.outcome import Outcome, usage_cost
from imggen.run.workers import signals_held


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what to make: the options.OPTIONS that land in a run."""

    output: str | None = None
    force: bool = False
    timeout: float | None = None  # bounds the whole command
    retries: int = 2
    save_partials: bool = False  # also save streamed partial renders beside the output
    provenance: str = "full"  # what each image records: full, minimal, off
    no_wait: bool = False  # job providers: submit, record, return (the ids in Outcome.jobs)
    cwd: Path = field(default_factory=Path.cwd)
    # (manifest, output as written) when a batch job runs: recorded in provenance
    made_by: tuple[Path, str] | None = None
    log: bool | None = None  # record saved images in the history (None: yes, unless turned off)
    preview: bool = False  # show saved images in the terminal (the command does it)
    jobs: int = 4  # requests sent at once when a job needs several
    confirm_above: int = 10  # ask before more images than this (the command does it)

    @classmethod
    def of(cls, values: options.Values, cwd: Path) -> RunOptions:
        return cls(cwd=cwd, **values.lands(options.RUN))


def make_job(
    prompt: str,
    values: options.Values,
    *,
    refs: Sequence[ImageInput] = (),
    inputs: Sequence[ImageInput] = (),
    mask: ImageInput | None = None,
) -> Job:
    """A Job from merged option values and the images already read."""
    return Job(
        prompt=prompt,
        refs=tuple(refs),
        inputs=tuple(inputs),
        mask=mask,
        origins=dict(values.origins),
        **values.lands(options.JOB),
    )


@dataclass(frozen=True)
class Plan:
    """A job checked and built for one gateway; nothing sent yet."""

    gateway: Gateway
    dialect: Dialect
    calls: list[HttpCall]
    stream: bool
    targets: list[targets.Target]
    requested: sizes.Resolved
    signer: Any = None  # files.signing.Signer, from the config's [c2pa] table
    batch: bool = False  # sent through the gateway's batch API (--provider-batch): batch price


def prepare(settings: Settings, job: Job, opts: RunOptions) -> Plan:
    """Check everything that can be checked offline and build the requests.

    Raises UsageError (exit 2) for anything the model cannot take, before any request.
    """
    gw = settings.gateway()
    dialect = DIALECTS[gw.dialect]
    if opts.no_wait and not getattr(dialect, "is_job", False):
        raise UsageError(
            f"--no-wait is for job providers; {gw.model} ({gw.dialect} dialect) answers at once",
            hint="drop --no-wait, or use a job provider's profile (fal, replicate, bfl)",
        )
    stream = streaming.decide(job, gw, save_partials=opts.save_partials, output=opts.output)
    if job.is_edit and not gw.can_edit:
        from imggen.dialects.presets import PRESETS

        presets = [settings.preset] if settings.preset else list(PRESETS.values())
        able = dict.fromkeys(m.id for p in presets for m in p.models if m.can_edit)
        why = f" ({gw.no_edit_why})" if gw.no_edit_why else ""
        raise UsageError(
            f"{gw.model} cannot edit images{why}",
            hint=f"use a model that can: {', '.join(list(able)[:6])}",
        )
    try:
        requested = sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
    except SizeRefused as exc:
        raise SizeRefused(exc.message + _set_by(job, "aspect", "size"), hint=exc.hint) from None
    check_carried(job, gw)
    calls = dialect.build(job, gw, requested, stream=stream)
    where = targets.plan(
        opts.output, job.count, prompt=job.prompt, model=gw.model, fmt=job.format, cwd=opts.cwd
    )
    signer = None
    if opts.provenance != "off" and settings.config_file is not None:
        from imggen.files import signing
        from imggen.profiles import config

        signer = signing.configured(config.load(settings.config_file))
    return Plan(gw, dialect, calls, stream, where, requested, signer)


def _set_by(job: Job, *names: str) -> str:
    """ "; set by profile knox (size)" for values that did not come from a flag."""
    said = [job.origins[n] for n in names if getattr(job, n) is not None and n in job.origins]
    shown = [label for label in said if not label.startswith("-")]
    return f"; set by {' and '.join(shown)}" if shown else ""


def time_limit(opts: RunOptions, limits: Limits, plan: Plan | None = None) -> float:
    """Seconds a run may take: --timeout, else the default, longer for a call that makes
    several images in turn."""
    if opts.timeout:
        return opts.timeout
    most = max((c.images for c in plan.calls), default=1) if plan else 1
    return limits.deadline + limits.deadline_per_image * (most - 1)


def make_client(
    settings: Settings,
    env: Env,
    ui: UI,
    opts: RunOptions,
    plan: Plan | None = None,
    **kwargs: Any,
) -> Any:
    from imggen.wire.client import Client

    deadline = time.monotonic() + time_limit(opts, env.limits, plan)
    return Client(
        **settings.connection(),
        retries=opts.retries,
        deadline=deadline,
        transport=env.transport,
        on_retry=ui.retry,
        on_sent=_labelled(ui, f"{settings.model}: uploading"),
        on_bytes=_labelled(ui, f"{settings.model}: receiving"),
        on_debug=ui.debug,
        limits=env.limits,
        **kwargs,
    )


def _labelled(ui: UI, label: str) -> Callable[[int, int | None], None]:
    """ui.advance that first switches the bar to `label` ("uploading", then "receiving"),
    so it always says which way the bytes it counts are going; a partial render's label
    ("MODEL: partial 1/2") stays while the rest of the image arrives."""
    model = label.rsplit(": ", 1)[0]

    def advance(n: int, total: int | None) -> None:
        if ui.label != label and not ui.label.startswith(streaming.label(model)):
            ui.describe(label)
        ui.advance(n, total)

    return advance


def run(
    settings: Settings,
    job: Job,
    env: Env,
    ui: UI,
    opts: RunOptions,
    *,
    plan: Plan | None = None,
    client: Any = None,
    on_saved: Callable[[SavedImage], None] | None = None,
    scratch: Scratch | None = None,
    on_submitted: Callable[[Any], None] | None = None,
    resume: Sequence[Any] = (),
) -> Outcome:
    """Make the images of one job and save them. Whatever goes wrong once the plan exists
    (a file in the way, the gateway, the network, a bad image) is returned in Outcome.error,
    beside the images that did arrive; only an interrupt or a bug is raised."""
    plan = plan or prepare(settings, job, opts)
    gw = plan.gateway
    outcome = Outcome(gw.profile, gw.model, gw.dialect, requested=_requested(plan.requested))
    scratch = scratch or Scratch()  # batch passes its own, to clean up on interrupt
    landing = save.Landing(
        plan.targets,
        record=lambda i: _record(job, gw, i, _made_by(opts, landing.target_of(i)), jobs),
        scratch=scratch,
        limits=env.limits,
        force=opts.force,
        level=opts.provenance,
        signer=plan.signer,
    )
    own_client = client is None
    client = client or make_client(settings, env, ui, opts, plan)
    jobs = _job_context(plan, job, env, opts, on_submitted, resume)
    try:
        extra = streaming.planned(plan.targets, job.partials) if opts.save_partials else []
        targets.check(plan.targets + extra, force=opts.force)
        ui.start_progress(f"{gw.model}: waiting for the gateway")
        deadline = time.monotonic() + time_limit(opts, env.limits, plan)
        files, errors, partials = _receive(
            client, plan, landing, outcome, ui, job.partials, opts.jobs, (jobs, deadline)
        )
        ui.stop_progress()
        errors += _save_all(files, job, plan, env, landing, outcome, on_saved, jobs)
        if jobs is not None:
            jobs.finish(outcome)
        if opts.save_partials and partials:
            outcome.partials = streaming.save_partials(
                partials,
                plan.targets,
                lambda p: landing.preview(send.materialize(p, client, landing)),
                lambda i, k: {**provenance(job, gw, i), "partial": k},
                force=opts.force,
                scratch=scratch,
                warn=outcome.warnings.append,
                level=opts.provenance,
            )
        if errors:
            outcome.error = max(errors, key=lambda e: int(e.exit_code))
        elif opts.no_wait and jobs is not None:
            pass  # submitted and recorded: the images come with a later run
        elif len(outcome.saved) < len(plan.targets):  # job.count, or those collected now
            outcome.error = _no_image(outcome, len(plan.targets))
    except ImggenError as exc:
        outcome.error = exc
    finally:
        with signals_held():  # a second Ctrl-C must not cut the clean-up short
            ui.stop_progress()
            if own_client:
                client.close()
            landing.close()
            scratch.cleanup()
    outcome.retries, outcome.resent = client.retried, client.resent
    if outcome.error is not None:
        outcome.error = _pointed(outcome.error, settings, gw)
    _account(outcome, job, plan, opts, env)
    return outcome


def _account(outcome: Outcome, job: Job, plan: Plan, opts: RunOptions, env: Env) -> None:
    """What the run cost (as reported, and imggen's estimate), and its line in the history."""
    gw = plan.gateway
    outcome.cost, outcome.currency, outcome.cost_unusable = usage_cost(outcome.usage, gw.currency)
    if outcome.cost_unusable:
        outcome.warnings.append(
            f"the gateway reported a cost of {outcome.cost_unusable}, which is not an amount; "
            "not counted"
        )
    outcome.estimate = record.estimate(plan, job, len(outcome.saved) or job.count)
    warning = record.log(job, plan, opts, outcome, env.environ)
    if warning:
        outcome.warnings.append(warning)


def _pointed(error: ImggenError, settings: Settings, gw: Gateway) -> ImggenError:
    """The error, hinted the right way where the settings know better than the wire: a rejected
    key names where it came from; a refused model the preset's catalog does not know names the
    catalog model it was likely meant to be, and where the name came from."""
    from imggen import suggest
    from imggen.errors import AuthFailed, GatewayRefused

    if type(error) is AuthFailed:
        return AuthFailed(error.message, hint=settings.auth_hint(), status=error.status)
    if type(error) is GatewayRefused and "DeploymentNotFound" in error.message:
        came = settings.sources.get("model", "")
        hint = (
            f"the Azure resource has no deployment named {gw.model!r}"
            + (f" (from {came})" if came else "")
            + "; -m names a deployment: the Azure portal (Deployments) lists them"
        )
        return GatewayRefused(error.message, hint=hint, status=error.status)
    preset = settings.preset
    if type(error) is not GatewayRefused or preset is None or preset.find(gw.model):
        return error
    guess = suggest.closest(gw.model, [m.id for m in preset.models])
    if guess is None:
        return error
    source = settings.sources.get("model", "")
    came = {"--model": "-m", "IMGGEN_MODEL": "$IMGGEN_MODEL"}.get(source, source)
    hint = (
        f"did you mean {guess}? ({gw.model} is not in imggen's {preset.name} catalog"
        + (f"; it came from {came}" if came else "")
        + f"; `imggen models -p {gw.profile}` lists the gateway's)"
    )
    return GatewayRefused(error.message, hint=hint, status=error.status, delivered=error.delivered)


def _job_context(
    plan: Plan,
    job: Job,
    env: Env,
    opts: RunOptions,
    on_submitted: Callable[[Any], None] | None,
    resume: Sequence[Any],
) -> Any:
    """The ledger and its callers' wishes, for a job provider's plan; None for the others."""
    from imggen.dialects.jobs import is_job

    if not is_job(plan.dialect):
        return None
    from imggen.run.jobs import context

    return context(job, env, opts, on_submitted, resume)


def _receive(
    client: Any,
    plan: Plan,
    landing: save.Landing,
    outcome: Outcome,
    ui: UI,
    partials: int | None,
    at_once: int,
    jobs: tuple[Any, float],
) -> tuple[list[tuple[Path, int | None]], list[ImggenError], list[tuple[int, list[Payload]]]]:
    """Send the calls (or submit and wait on the jobs); the images they brought, written as
    they arrived, each with the target it goes to (None: not a whole image, land() says why),
    at most one per target; and the partial renders streamed before each (by the 0-based
    target of the image they preview)."""
    files: list[Path] = []
    errors: list[ImggenError] = []
    streamed: list[tuple[int, Path | None, list[Payload]]] = []
    if jobs[0] is not None:
        from imggen.run.jobs import send_jobs

        results = send_jobs(client, plan, landing, ui, *jobs)
    else:
        results = send.send_all(client, plan, landing, ui, partials, at_once)
    for result in results:
        if isinstance(result, ImggenError):
            errors.append(result)
            continue
        reply, paths, failed = result
        if reply.partials:
            streamed.append((len(files), paths[0][0] if paths else None, reply.partials))
        files.extend(path for path, _ in paths)
        errors.extend(failed)
        if reply.text.strip():
            outcome.text += ("\n" if outcome.text else "") + reply.text.strip()
        if reply.usage:
            outcome.usage.append(reply.usage)
        outcome.shapes.extend(s for s in reply.shapes if s not in outcome.shapes)
    sent = sum(len(r[0].images) for r in results if not isinstance(r, ImggenError))
    placed, extra = landing.assign(files)
    room = len(plan.targets) - sum(1 for _, index in placed if index is not None)
    bad = [path for path, index in placed if index is None]
    extra += bad[room:]  # what cannot be saved matters only while an image is missing
    placed = [(path, index) for path, index in placed if path not in extra]
    if sent > len(plan.targets):
        outcome.warnings.append(
            f"the gateway sent {sent} images for {len(plan.targets)} asked; saving the first"
        )
    for path in extra:
        landing.discard(path)
    where = {path: index for path, index in placed if index is not None}
    previewed = [
        (where[first] - 1 if first in where else before, payloads)
        for before, first, payloads in streamed
    ]
    return placed, errors, previewed


def _save_all(
    files: list[tuple[Path, int | None]],
    job: Job,
    plan: Plan,
    env: Env,
    landing: save.Landing,
    outcome: Outcome,
    on_saved: Callable[[SavedImage], None] | None,
    jobs: Any = None,
) -> list[ImggenError]:
    """Move each received image into place (its provenance is in already); the errors of
    those that could not be. From a job provider, each names its job (for the history)."""
    errors: list[ImggenError] = []
    for path, index in files:
        target = landing.target_of(index)
        try:
            saved = landing.land(
                path,
                index,
                stdout=env.out_bytes() if target is not None and target.path is None else None,
                warn=outcome.warnings.append,
            )
        except ImggenError as exc:
            errors.append(exc)
            continue
        finally:
            landing.discard(path)
        saved = jobs.named(saved, index) if jobs is not None else saved
        outcome.saved.append(saved)
        verify.pixels(saved, plan.requested, plan.gateway.size_rule, outcome)
        verify.format(saved, job, outcome)
        if on_saved:
            on_saved(saved)
    return errors


def _record(job: Job, gw: Gateway, i: int, batch: dict[str, str] | None, jobs: Any) -> Any:
    """An image's record; from a job provider, naming its job (to trace an image to it)."""
    record = provenance(job, gw, i, batch)
    return jobs.stamp(record, i) if jobs is not None else record


def _made_by(opts: RunOptions, target: targets.Target | None) -> dict[str, str] | None:
    if opts.made_by is None or target is None or target.path is None:
        return None
    return made_by(*opts.made_by, target.path.parent)


def _no_image(outcome: Outcome, count: int) -> NoImage:
    got = len(outcome.saved)
    said = f" It said: {outcome.text[:500]}" if outcome.text else ""
    which = f" for {count - got} of {count}" if got else ""
    return NoImage(
        f"the gateway answered without an image{which}.{said}",
        text=outcome.text,
        hint="check that the model makes images and the prompt asks for one",
    )


# a call's reply, the images fetched to scratch files, and those that could not be fetched
def _requested(res: sizes.Resolved) -> dict[str, Any]:
    return {
        "aspect": res.aspect,
        "size": res.tier,
        "pixels": f"{res.pixels[0]}x{res.pixels[1]}" if res.pixels else None,
    }
