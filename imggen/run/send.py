"""The calls of one plan on the wire: sent in parallel when there are several, each worker also
fetching its images into their temp files (a Landing's), while the main thread only waits so
that signals stay prompt."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imggen.console import UI
from imggen.errors import ImggenError
from imggen.files import kept, save
from imggen.job import HttpCall, Payload, Reply
from imggen.run import streaming
from imggen.run.workers import run_threads

if TYPE_CHECKING:
    from imggen.run.core import Plan

__all__ = ["Result", "materialize", "send_all"]


Result = tuple[Reply, list[tuple[Path, Payload]], list[ImggenError]] | ImggenError


def send_all(
    client: Any,
    plan: Plan,
    landing: save.Landing,
    ui: UI,
    partials: int | None,
    at_once: int = 4,
) -> list[Result]:
    """Send the plan's calls, `at_once` at a time when there are several; each worker also
    fetches its images into their temp files. The main thread only waits, so signals stay
    prompt."""

    def one(call: HttpCall) -> Result:
        reader = streaming.Watched(
            plan.dialect, ui, plan.gateway.model, partials, landing.preview, landing.discard
        )
        try:
            reply = client.send(call, reader, landing.open)
        except ImggenError as exc:
            return exc
        except OSError as exc:  # the reply's image spilled to disk: a full disk, say
            return kept.os_error(exc, landing.spool)
        if any(p.kind == "url" for p in reply.images):
            ui.describe(f"{plan.gateway.model}: downloading")
        files: list[tuple[Path, Payload]] = []
        failed: list[ImggenError] = []
        # At most the images asked for, and one spare try should one of them fail: a gateway
        # sending 100 links for -n 1 must not cost 100 downloads.
        tries = call.images + 1
        for p in reply.images:  # one expired link must not cost the images that did arrive
            if len(files) >= call.images or tries <= 0:
                break
            tries -= 1
            try:
                files.append((materialize(p, client, landing), p))
            except ImggenError as exc:
                failed.append(exc)
            except OSError as exc:
                failed.append(kept.os_error(exc, landing.spool))
        if len(reply.images) > call.images:
            failed = failed[: max(0, call.images - len(files))]  # a spare's failure costs none
        return reply, files, failed

    if len(plan.calls) == 1:
        result = one(plan.calls[0])
        if isinstance(result, ImggenError):
            raise result
        return [result]
    results: list[Result | None] = [None] * len(plan.calls)

    todo = iter(enumerate(plan.calls))
    taking = threading.Lock()
    stop = threading.Event()

    def worker() -> None:  # at most `at_once` requests in flight: -n 100 is not 10 at once
        while not stop.is_set():
            with taking:
                i, call = next(todo, (-1, None))
            if call is None:
                return
            results[i] = one(call)

    # Interrupted: stop the workers and go. One blocked in a read wakes only when its socket
    # does; it is a daemon, and Scratch refuses it new files once run() cleans up.
    run_threads(
        [worker] * max(1, min(at_once, len(plan.calls))),
        name="imggen-call",
        on_crash=stop.set,
        on_interrupt=client.close,
    )
    done = [r for r in results if r is not None]
    errors = [r for r in done if isinstance(r, ImggenError)]
    if errors and len(errors) == len(done):
        raise max(errors, key=lambda e: int(e.exit_code))
    return done


def materialize(p: Payload, client: Any, landing: save.Landing) -> Path:
    """The temp file one image was (or now is) written to."""
    if p.kind == "blob":
        scratch_path: Path = p.value.path
        return scratch_path
    if p.kind == "url":
        path: Path = client.download(p.value, landing.open)
        return path
    return landing.decode_base64(p.value)
