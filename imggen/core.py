"""run(settings, job, env): dialect -> client -> output. Knows no Typer; serves generate,
edit, batch and tests alike."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import output, sizes
from imggen.console import UI
from imggen.dialects import DIALECTS, Dialect
from imggen.env import Env
from imggen.errors import ImggenError, NoImage, UsageError
from imggen.job import Gateway, HttpCall, Job, Payload, Reply, SavedImage
from imggen.provenance import provenance
from imggen.settings import Settings

ASPECT_TOLERANCE = 0.03  # XTY's 16:9 is 1344x768, Gemini 3's is 1376x768 (seeds 002/004)
AREA_TOLERANCE = 0.15


@dataclass(frozen=True)
class Options:
    """How to run, as opposed to what to make."""

    output: str | None = None
    force: bool = False
    timeout: float | None = None  # bounds the whole command
    retries: int = 2
    cwd: Path = field(default_factory=Path.cwd)


@dataclass
class Outcome:
    """What a run produced, for paths on stdout, --json, and batch results."""

    profile: str
    model: str
    dialect: str
    saved: list[SavedImage] = field(default_factory=list)
    text: str = ""
    usage: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    shapes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # the warnings about ignored sizes
    requested: dict[str, Any] = field(default_factory=dict)
    error: ImggenError | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "paths": [s.path for s in self.saved],
            "images": [
                {
                    "path": s.path,
                    "mime": s.mime,
                    "bytes": s.bytes,
                    "width": s.pixels[0] if s.pixels else None,
                    "height": s.pixels[1] if s.pixels else None,
                    "sha256": s.sha256,
                }
                for s in self.saved
            ],
            "profile": self.profile,
            "model": self.model,
            "dialect": self.dialect,
            "requested": self.requested,
            "text": self.text,
            "usage": self.usage,
            "retries": self.retries,
            "response_shapes": self.shapes,
            "warnings": self.warnings,
            "error": (
                None
                if self.error is None
                else {
                    "class": type(self.error).__name__,
                    "message": self.error.message,
                    "exit_code": int(self.error.exit_code),
                }
            ),
        }


@dataclass(frozen=True)
class Plan:
    """A job checked and built for one gateway; nothing sent yet."""

    gateway: Gateway
    dialect: Dialect
    calls: list[HttpCall]
    stream: bool
    targets: list[output.Target]
    requested: sizes.Resolved


def prepare(settings: Settings, job: Job, opts: Options) -> Plan:
    """Check everything that can be checked offline and build the requests.

    Raises UsageError (exit 2) for anything the model cannot take, before any request.
    """
    gw = settings.gateway()
    dialect = DIALECTS[gw.dialect]
    if job.stream and not gw.can_stream:
        why = "seed 000: Trinity refuses stream:true for images" if gw.dialect == "trinity" else ""
        raise UsageError(
            f"{gw.model} on the {gw.dialect} dialect cannot stream{f' ({why})' if why else ''}",
            hint="drop --stream",
        )
    stream = gw.can_stream if job.stream is None else job.stream
    if job.is_edit and not gw.can_edit:
        from imggen.presets import PRESETS

        presets = [settings.preset] if settings.preset else list(PRESETS.values())
        able = dict.fromkeys(m.id for p in presets for m in p.models if m.can_edit)
        raise UsageError(
            f"{gw.model} cannot edit images (seed 002: Seedream has no images/edits)"
            if gw.size_rule == "seedream"
            else f"{gw.model} cannot edit images",
            hint=f"use a model that can: {', '.join(list(able)[:6])}",
        )
    if job.count < 1:
        raise UsageError("-n must be at least 1")
    requested = sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
    calls = dialect.build(job, gw, stream=stream)
    targets = output.plan(
        opts.output, job.count, prompt=job.prompt, model=gw.model, fmt=job.format, cwd=opts.cwd
    )
    return Plan(gw, dialect, calls, stream, targets, requested)


def make_client(settings: Settings, env: Env, ui: UI, opts: Options, **kwargs: Any) -> Any:
    from imggen.wire.client import Client

    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    return Client(
        settings.base_url,
        settings.api_key,
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
    so it always says which way the bytes it counts are going (issues 4 and 5)."""

    def advance(n: int, total: int | None) -> None:
        if ui.label != label:
            ui.describe(label)
        ui.advance(n, total)

    return advance


def run(
    settings: Settings,
    job: Job,
    env: Env,
    ui: UI,
    opts: Options,
    *,
    plan: Plan | None = None,
    client: Any = None,
    on_saved: Callable[[SavedImage], None] | None = None,
    scratch: output.Scratch | None = None,
) -> Outcome:
    """Make the images of one job and save them. Failures after some images arrived are
    returned in Outcome.error with the saved ones; failures before are raised."""
    plan = plan or prepare(settings, job, opts)
    gw = plan.gateway
    output.check_targets(plan.targets, force=opts.force)
    outcome = Outcome(gw.profile, gw.model, gw.dialect, requested=_requested(plan.requested))
    scratch = scratch or output.Scratch()  # batch passes its own, to clean up on interrupt
    own_client = client is None
    client = client or make_client(settings, env, ui, opts)
    spool = plan.targets[0].directory
    ui.start_progress(f"{gw.model}: waiting for the gateway")
    try:
        results = _send_all(client, plan, scratch, spool, ui)
        files: list[tuple[Path, Payload]] = []
        errors: list[ImggenError] = []
        for result in results:
            if isinstance(result, ImggenError):
                errors.append(result)
                continue
            reply, paths, failed = result
            files.extend(paths)
            errors.extend(failed)
            if reply.text.strip():
                outcome.text += ("\n" if outcome.text else "") + reply.text.strip()
            if reply.usage:
                outcome.usage.append(reply.usage)
            outcome.shapes.extend(s for s in reply.shapes if s not in outcome.shapes)
        ui.stop_progress()
        if len(files) > len(plan.targets):
            outcome.warnings.append(
                f"the gateway sent {len(files)} images for {len(plan.targets)} asked; "
                "saving the first"
            )
            for path, _ in files[len(plan.targets) :]:
                path.unlink(missing_ok=True)
            files = files[: len(plan.targets)]
        for i, ((path, _), target) in enumerate(zip(files, plan.targets, strict=False), 1):
            try:
                saved = output.save(
                    path,
                    target,
                    provenance=provenance(job, gw, i),
                    force=opts.force,
                    scratch=scratch,
                    stdout=env.out_bytes() if target.path is None else None,
                    warn=outcome.warnings.append,
                )
            except ImggenError as exc:
                errors.append(exc)
                continue
            finally:
                path.unlink(missing_ok=True)
            outcome.saved.append(saved)
            _check_pixels(saved, plan.requested, gw.size_rule, outcome)
            if on_saved:
                on_saved(saved)
        if errors:
            outcome.error = max(errors, key=lambda e: int(e.exit_code))
        elif len(outcome.saved) < job.count:
            got = len(outcome.saved)
            said = f" It said: {outcome.text[:500]}" if outcome.text else ""
            which = f" for {job.count - got} of {job.count}" if got else ""
            outcome.error = NoImage(
                f"the gateway answered without an image{which}.{said}",
                text=outcome.text,
                hint="check that the model makes images and the prompt asks for one",
            )
        outcome.retries = client.retried
        if outcome.error is not None and not outcome.saved:
            outcome.error.outcome = outcome  # --json still reports the text and usage
            raise outcome.error
        return outcome
    except ImggenError as exc:
        exc.retries = client.retried  # --json counts them on failure too
        raise
    finally:
        with _signals_held():  # a second Ctrl-C must not cut the clean-up short
            ui.stop_progress()
            if own_client:
                client.close()
            scratch.cleanup()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM for the block, then deliver them. Main thread only: batch runs
    jobs in workers, and only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {n: signal.signal(n, lambda n, f: caught.append(n)) for n in _SIGNALS}
    try:
        yield
    finally:
        for n, handler in saved.items():
            if handler is not None:  # None: not set from Python; nothing to put back
                signal.signal(n, handler)
        if caught:
            signal.raise_signal(caught[0])


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# a call's reply, the images fetched to scratch files, and those that could not be fetched
Result = tuple[Reply, list[tuple[Path, Payload]], list[ImggenError]] | ImggenError


def _send_all(
    client: Any, plan: Plan, scratch: output.Scratch, spool: Path, ui: UI
) -> list[Result]:
    """Send the plan's calls, in parallel when there are several; each worker also fetches
    its images to scratch files. The main thread only waits, so signals stay prompt."""

    def one(call: HttpCall) -> Result:
        try:
            reply = client.send(call, plan.dialect, scratch.factory(spool))
        except ImggenError as exc:
            return exc
        if any(p.kind == "url" for p in reply.images):
            ui.describe(f"{plan.gateway.model}: downloading")
        files, failed = [], []
        for p in reply.images:  # one expired link must not cost the images that did arrive
            try:
                files.append((_materialize(p, client, scratch, spool), p))
            except ImggenError as exc:
                failed.append(exc)
        return reply, files, failed

    if len(plan.calls) == 1:
        result = one(plan.calls[0])
        if isinstance(result, ImggenError):
            raise result
        return [result]
    results: list[Result | None] = [None] * len(plan.calls)

    crashes: list[BaseException] = []

    def worker(i: int, call: HttpCall) -> None:
        try:
            results[i] = one(call)
        except BaseException as exc:  # a bug: re-raised below, not a thread's traceback
            crashes.append(exc)

    threads = [
        threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(plan.calls)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except BaseException:
        # Interrupted: stop the workers and go. One blocked in a read wakes only when its
        # socket does; it is a daemon, and Scratch refuses it new files once run() cleans up.
        client.close()
        raise
    if crashes:
        raise crashes[0]
    done = [r for r in results if r is not None]
    errors = [r for r in done if isinstance(r, ImggenError)]
    if errors and len(errors) == len(done):
        raise max(errors, key=lambda e: int(e.exit_code))
    return done


def _materialize(p: Payload, client: Any, scratch: output.Scratch, spool: Path) -> Path:
    """The decoded bytes of one image in a scratch file."""
    if p.kind == "blob":
        scratch_path: Path = p.value.path
        return scratch_path
    if p.kind == "url":
        path: Path = client.download(p.value, scratch.factory(spool))
        return path
    return output.decode_base64(p.value, scratch, spool)


def _requested(res: sizes.Resolved) -> dict[str, Any]:
    return {
        "aspect": res.aspect,
        "size": res.tier,
        "pixels": f"{res.pixels[0]}x{res.pixels[1]}" if res.pixels else None,
    }


def _check_pixels(saved: SavedImage, res: sizes.Resolved, rule: str, outcome: Outcome) -> None:
    """Report, never hide, a gateway that ignored --size or --aspect."""
    if saved.pixels is not None:
        problem = size_mismatch(res, rule, saved.pixels)
        if problem:
            why = ": it did not honour the size/aspect asked" if res.pixels else ""
            outcome.mismatches.append(f"{problem} ({saved.path}){why}")
            outcome.warnings.append(outcome.mismatches[-1])


def size_mismatch(res: sizes.Resolved, rule: str, pixels: tuple[int, int]) -> str | None:
    """What the gateway got wrong about the size asked, or None when it honoured it (within
    the tolerances above). One judgement for generate, batch and doctor."""
    w, h = pixels
    if res.pixels:
        ew, eh = res.pixels
        ratio_off = abs((w / h) / (ew / eh) - 1)
        area_off = abs((w * h) / (ew * eh) - 1)
        if ratio_off > ASPECT_TOLERANCE or area_off > AREA_TOLERANCE:
            return f"asked for {ew}x{eh} but the gateway returned {w}x{h}"
        return None
    if res.aspect:
        aw, ah = (int(x) for x in res.aspect.split(":"))
        if abs((w / h) / (aw / ah) - 1) > ASPECT_TOLERANCE:
            return f"asked for aspect {res.aspect} but the gateway returned {w}x{h}"
    # a tier without an aspect: every aspect of a tier has about the same area (seed 002)
    square = sizes.RULES[rule].table.get(("1:1", res.tier)) if res.tier else None
    if square and abs((w * h) / (square[0] * square[1]) - 1) > AREA_TOLERANCE:
        return (
            f"asked for the {res.tier} tier (about {square[0] * square[1] / 1e6:.1f} megapixels) "
            f"but the gateway returned {w}x{h}"
        )
    return None
