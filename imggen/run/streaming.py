"""Streams of images: whether a run streams, and the partial renders a streamed image brings
first (OpenAI's images API, OpenRouter's Image API): the progress line they update and the
files --save-partials writes beside the output. Partial renders are previews: never results,
never on stdout, never counted as images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imggen.console import UI
from imggen.dialects import Dialect
from imggen.errors import ImggenError, UsageError
from imggen.files import save
from imggen.files.scratch import Scratch
from imggen.files.targets import Target
from imggen.job import Gateway, Job, Payload, Reply

MAX_PARTIALS = 3  # OpenAI's partial_images is 0-3


def decide(job: Job, gw: Gateway, *, save_partials: bool, output: str | None) -> bool:
    """Whether to stream: as asked, else where the gateway allows it (the images APIs only when
    partial renders are asked for). Raises UsageError for a stream the model cannot give."""
    wants = job.stream
    if wants is None and job.partials:
        wants = True  # partial renders come only in a stream
    if wants and not gw.can_stream:
        why = f" ({gw.no_stream_why})" if gw.no_stream_why else ""
        asked = "partials" if job.stream is None else "stream"
        raise UsageError(
            f"{gw.model} cannot stream{why}"
            + (f", so {job.said('partials')} cannot be sent" if asked == "partials" else ""),
            hint=stream_hint(job.origins.get(asked, f"--{asked}")),
        )
    if job.stream is False and job.partials:
        origin = job.origins.get("stream", "--stream")
        off = "--no-stream" if origin == "--stream" else f"{origin} false"
        raise UsageError(
            f"{job.said('partials')} needs a stream, and {off} turns it off",
            hint="drop one of them",
        )
    stream = bool(wants) if wants is not None else gw.can_stream and gw.stream_default
    if save_partials and not stream:
        raise UsageError(
            "--save-partials saves the partial renders of a stream; this run does not stream",
            hint="ask for some with --partials N (GPT image models), or drop --save-partials",
        )
    if save_partials and output == "-":
        raise UsageError(
            "--save-partials writes files beside the output; -o - has no file name",
            hint="save to a file with -o, or drop --save-partials",
        )
    return stream


def stream_hint(origin: str) -> str:
    """How to take back a value: drop the flag, or override where else it was set."""
    return f"drop {origin}" if origin.startswith("-") else f"pass --no-stream ({origin} asks)"


class Watched:
    """A dialect watched while its stream is read: it parses as the dialect does, and each
    event's partial renders also move the progress line on ("MODEL: partial 1/2") and are
    marked as previews (never results). At most `expected` (--partials N) are kept: a gateway
    sending 66 made 64 files of up to 200 MiB; the rest are dropped (their spilled files
    removed at once) with one warning. One per request."""

    def __init__(
        self,
        dialect: Dialect,
        ui: UI,
        model: str,
        expected: int | None,
        preview: Callable[[Path], object] = lambda path: None,
        discard: Callable[[Path], object] = lambda path: path.unlink(missing_ok=True),
    ) -> None:
        self.dialect = dialect
        self.preview = preview
        self.discard = discard
        self.ui = ui
        self.model = model
        self.expected = expected
        self.seen = 0
        self.dropped = 0

    def parse(self, body: Any) -> Reply:
        return self.dialect.parse(body)

    def parse_text(self, text: str) -> Reply:
        return self.dialect.parse_text(text)

    def final(self, body: Any) -> bool:
        return self.dialect.final(body)

    def parse_event(self, body: Any) -> Reply:
        reply = self.dialect.parse_event(body)
        limit = self.expected if self.expected is not None else MAX_PARTIALS
        if len(reply.partials) > limit - self.seen:
            room = max(0, limit - self.seen)
            for p in reply.partials[room:]:
                if p.kind == "blob":
                    self.discard(p.value.path)
                if not self.dropped:
                    self.ui.warn(
                        f"the gateway sends more partial renders than the {limit} asked; "
                        "dropping the rest"
                    )
                self.dropped += 1
            reply.partials = reply.partials[:room]
        if reply.partials:
            for p in reply.partials:  # written as they came, as images are: not one of them
                if p.kind == "blob":
                    self.preview(p.value.path)
            self.seen += len(reply.partials)
            of = f"/{self.expected}" if self.expected else ""
            self.ui.describe(f"{label(self.model)}{self.seen}{of}")
        return reply


def label(model: str) -> str:
    """The start of the progress label of a partial render; core keeps it while bytes flow."""
    return f"{model}: partial "


def target(final: Target, k: int) -> Target:
    """Where partial render `k` of an image goes: NAME.partial-K beside it, the extension
    following the bytes."""
    assert final.path is not None
    stem = final.path.with_suffix("").name
    return Target(final.path.with_name(f"{stem}.partial-{k}.png"), unique=final.unique)


def planned(finals: list[Target], partials: int | None) -> list[Target]:
    """The partial files a run may write, for the no-clobber check before any request."""
    n = partials if partials is not None else MAX_PARTIALS
    return [target(t, k) for t in finals if t.path is not None for k in range(1, n + 1)]


def save_partials(
    received: list[tuple[int, list[Payload]]],
    finals: list[Target],
    materialize: Callable[[Payload], Path],
    record: Callable[[int, int], dict[str, Any]],
    *,
    force: bool,
    scratch: Scratch,
    warn: Callable[[str], None],
    level: str = "full",
) -> list[str]:
    """Save each image's partial renders (image index, payloads) beside its target; the paths.
    A preview that cannot be saved is a warning, not a failure of the run."""
    saved = []
    for index, payloads in received:
        final = finals[min(index, len(finals) - 1)]
        for k, p in enumerate(payloads, 1):
            path: Path | None = None
            try:
                path = materialize(p)
                done = save.save(
                    path,
                    target(final, k),
                    provenance=record(index + 1, k),
                    force=force,
                    scratch=scratch,
                    warn=warn,
                    level=level,
                )
                saved.append(done.path)
            except ImggenError as exc:
                warn(f"partial render {k} of image {index + 1} not saved: {exc.message}")
            finally:
                if path is not None:
                    path.unlink(missing_ok=True)
    return saved
