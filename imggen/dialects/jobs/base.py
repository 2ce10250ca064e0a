"""What every job provider's dialect shares: the JobDialect shape (submit, accepted, poll,
read, result, cancel) and the size and image helpers their bodies use.

A job provider is one module in this package defining DIALECT (a JobDialect) and PRESET (its
built-in preset); imggen.dialects.jobs finds them, so adding a provider is that one file (and
its tests). Nothing provider-specific lives anywhere else."""

from __future__ import annotations

import abc
import base64
import hashlib
from typing import Any

from imggen.dialects.base import refused
from imggen.errors import GatewayFailed, UsageError
from imggen.job import Cadence, FilePart, Gateway, HttpCall, Job, JobState, Reply, Ticket
from imggen.sizes import Resolved

TIER_SIDE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


class JobDialect(abc.ABC):
    """A provider that answers a submit with a job to poll. Subclasses set the class
    attributes and write build, accepted, read and parse; poll, result and cancel default to
    the ticket's URLs."""

    name = ""
    can_stream = False
    no_stream_why = "it answers with a job to poll, not a stream"
    formats: tuple[str, ...] = ("png", "jpeg")
    takes: frozenset[str] = frozenset()
    is_job = True
    # how often its jobs may be polled (wire/polls.py): each provider's module says, with the
    # provider's documented guidance as its source
    cadence = Cadence(first=1.0, least=1.0, most=15.0, factor=1.5, rate=10.0, jitter=0.2)

    @abc.abstractmethod
    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        """The submit calls of a job (HttpCall.job set): one, or one an image."""

    @abc.abstractmethod
    def accepted(self, body: Any) -> Ticket:
        """The ticket a submit reply stands for. Raises GatewayFailed when it holds none."""

    @abc.abstractmethod
    def read(self, body: Any) -> JobState:
        """What one poll reply says."""

    def poll(self, ticket: Ticket) -> HttpCall:
        return HttpCall("GET", ticket.poll)

    def result(self, ticket: Ticket) -> HttpCall | None:
        """The request that reads a finished job's output, when the poll reply lacks it."""
        return HttpCall("GET", ticket.result) if ticket.result else None

    def cancel(self, ticket: Ticket) -> HttpCall | None:
        """The request that cancels a job; None when the provider has none."""
        return None

    def watch(self, ticket: Ticket) -> HttpCall | None:
        """A status stream to follow instead of polling one job (server-sent events, each a
        poll reply that read() understands); None when the provider has none."""
        return None

    def upload(self, part: FilePart) -> HttpCall:
        """The request that uploads an input too large to inline (a submit call's `files`,
        each named by the placeholder its body holds); uploaded() reads its URL."""
        raise GatewayFailed(f"{self.name} takes no uploads")

    def uploaded(self, body: Any) -> str:
        """The URL an upload's reply gives the file, to put in the submit's body."""
        raise GatewayFailed(f"{self.name} takes no uploads")

    @abc.abstractmethod
    def parse(self, body: Any) -> Reply:
        """A finished job's output (the result request's reply) as images."""

    def parse_event(self, body: Any) -> Reply:
        return self.parse(body)


def submit_call(
    path: str, body: dict[str, Any], images: int = 1, uploads: tuple[FilePart, ...] = ()
) -> HttpCall:
    """A job's submit; `uploads`: inputs sent first (JobDialect.upload), each FilePart's field
    the placeholder its URL replaces in the body."""
    return HttpCall("POST", path, json=body, images=images, job=True, files=uploads)


def placeholder(img: Any) -> str:
    """What stands in a submit's body for an input uploaded first: stable (the request's key in
    the job ledger is made from the body), naming the image by its digest."""
    return f"imggen-upload:{img.sha256 or hashlib.sha256(img.data).hexdigest()}"


def no_ticket(body: Any, provider: str) -> GatewayFailed:
    shown = str(body)[:200]
    return GatewayFailed(f"{provider} accepted the request but named no job: {shown}")


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fixed(job: Job, gw: Gateway, names: tuple[str, ...]) -> None:
    """Refuse what a job provider cannot carry, naming it (its `takes` lists what it can),
    and -s auto, which none of them has."""
    for name in names:
        if getattr(job, name) not in (None, False, (), ""):
            raise refused(job.said(name), gw)
    if job.size == "auto":
        raise refused(job.said("size"), gw, "512, 1K, 2K, 4K or WxH")


def pixels(res: Resolved, job: Job, gw: Gateway, step: int) -> tuple[int, int] | None:
    """Width and height for --size WxH, or --aspect with --size TIER (the tier the long side;
    1K without --size), each a multiple of `step`; None when neither was given."""
    if res.pixels:
        w, h = res.pixels
    elif res.aspect or res.tier:
        side = TIER_SIDE.get(res.tier or "1K", 1024)
        a, b = (int(x) for x in (res.aspect or "1:1").split(":"))
        w, h = (side, side * b // a) if a >= b else (side * a // b, side)
    else:
        return None
    if w % step or h % step:
        if res.pixels:
            raise UsageError(
                f"{job.said('size')} is not something {gw.model} can make: width and height "
                f"must be multiples of {step}",
                hint=f"use {w // step * step}x{h // step * step}",
            )
        w, h = max(step, round(w / step) * step), max(step, round(h / step) * step)
    return w, h


def inline(img: Any) -> str:
    """An input image as a data URI (a URL reference as given)."""
    return str(img.data_url())


def raw_base64(img: Any) -> str:
    """An input image as bare base64 (a URL reference as given)."""
    return str(img.url) if img.url else base64.b64encode(img.data).decode()


def images_of(job: Job) -> list[Any]:
    return [*job.inputs, *job.refs]
