"""The fake gateway's job providers: one store of jobs shared by the fal, Replicate and Black
Forest Labs personas (jobs_fal.py, jobs_replicate.py, jobs_bfl.py), with the switches a CI
pipeline rehearses trouble with, and counters it can read:

- ``queue_seconds`` / ``run_seconds``: how long a job sits queued, then running (a slow queue)
- ``fail_next`` / ``cancel_next`` / ``refuse_next``: the next N jobs fail, are cancelled
  upstream, or are refused by moderation
- ``url_ttl``: result URLs stop working this many seconds after each poll hands them out
  (polling again hands out fresh ones, as long as the provider keeps the job);
  ``expire_next``: the next N result URLs handed out are dead already
- ``poll_rate``: polls a second each provider answers (a burst of a second's worth); beyond
  it a poll gets the provider's 429 (``limited`` counts them)
- ``submissions`` / ``polls``: per provider, every submit and poll it answered (also served as
  JSON at GET /__imggen/jobs), so a test can prove a resumed run paid once.

Result files are served at /jobfiles/NAME?exp=T (no key, as providers' CDNs)."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imggen.testing.protocol import (
    Fault,
    HTTPError,
    Look,
    Recorded,
    Reply,
    error_reply,
    json_reply,
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

FATES = ("fail_next", "cancel_next", "refuse_next")


@dataclass
class FakeJob:
    id: str
    provider: str
    created: float
    count: int
    width: int
    height: int
    fmt: str
    fate: str = "done"  # done | failed | cancelled | refused
    look: Look = field(default_factory=Look)  # the prompt and seed its images show
    images: list[str] = field(default_factory=list)  # file names, made when first asked


@dataclass
class JobStore:
    queue_seconds: float = 0.0
    run_seconds: float = 0.0
    fail_next: int = 0
    cancel_next: int = 0
    refuse_next: int = 0
    url_ttl: float | None = None
    expire_next: int = 0
    poll_rate: float | None = None
    submissions: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    limited: Counter[str] = field(default_factory=Counter)
    uploads: dict[str, int] = field(default_factory=dict)  # Replicate's files API: id -> size
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, when
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def submit(
        self,
        provider: str,
        count: int = 1,
        size: tuple[int, int] = (1024, 1024),
        fmt: str = "png",
        look: Look | None = None,
    ) -> FakeJob:
        with self.lock:
            self.submissions[provider] += 1
            fate = "done"
            for name in FATES:
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    fate = {"fail_next": "failed", "cancel_next": "cancelled"}.get(name, "refused")
                    break
            job = FakeJob(secrets.token_hex(8), provider, time.monotonic(), count, *size, fmt, fate)
            job.look = look or Look()
            self.jobs[job.id] = job
            return job

    def admit(self, provider: str, refuse: Any) -> None:
        """Let one poll of `provider` through its rate (poll_rate), or raise the HTTPError
        `refuse(seconds until one may go)` gives: the provider's own 429."""
        if not self.poll_rate:
            return
        with self.lock:
            now = time.monotonic()
            burst = max(1.0, self.poll_rate)
            tokens, then = self._buckets.get(provider, (burst, now))
            tokens = min(burst, tokens + (now - then) * self.poll_rate)
            if tokens < 1:
                self._buckets[provider] = (tokens, now)
                self.limited[provider] += 1
                raise refuse(max(1, math.ceil((1 - tokens) / self.poll_rate)))
            self._buckets[provider] = (tokens - 1, now)

    def find(self, job_id: str, provider: str) -> FakeJob:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or job.provider != provider:
            raise HTTPError(error_reply(404, f"Request {job_id} not found", code="not_found"))
        return job

    def state(self, job: FakeJob, *, counted: bool = True) -> tuple[str, int | None]:
        """(queued | running | done | failed | cancelled | refused, queue position); counted
        as a poll unless said (a status stream's later looks)."""
        with self.lock:
            self.polls[job.provider] += int(counted)
            age = time.monotonic() - job.created
            if job.fate == "cancelled" and job.id in self.jobs and age >= self.queue_seconds:
                return "cancelled", None
            if age < self.queue_seconds:
                ahead = sum(
                    1
                    for j in self.jobs.values()
                    if j.provider == job.provider
                    and j.created < job.created
                    and time.monotonic() - j.created < self.queue_seconds
                )
                return "queued", ahead
            if age < self.queue_seconds + self.run_seconds:
                return "running", None
            return job.fate, None

    def cancel(self, job: FakeJob) -> bool:
        """Cancel a job not yet finished; False when it had."""
        state, _ = self.state(job)
        if state not in ("queued", "running"):
            return False
        with self.lock:
            job.fate = "cancelled"
            job.created = time.monotonic() - self.queue_seconds  # over at once
        return True

    def urls(self, gw: FakeGateway, job: FakeJob) -> list[str]:
        """The job's result URLs, fresh: each good for url_ttl seconds from now."""
        if not job.images:
            made = []
            for i in range(max(1, job.count)):
                data, mime, ext = gw.image(job.width, job.height, job.fmt, look=job.look, index=i)
                made.append(gw.put_file(data, mime, ext))
            job.images = made
        out = []
        for name in job.images:
            with self.lock:
                dead = self.expire_next > 0
                self.expire_next -= int(dead)
            until = 1.0 if dead else (time.time() + self.url_ttl if self.url_ttl else 0)
            out.append(f"{gw.url}/jobfiles/{name}" + (f"?exp={until:.3f}" if until else ""))
        return out

    def counts(self) -> dict[str, Any]:
        with self.lock:
            return {
                "submissions": dict(self.submissions),
                "polls": dict(self.polls),
                "limited": dict(self.limited),
                "jobs": len(self.jobs),
            }


def store(gw: FakeGateway) -> JobStore:
    """The gateway's job store."""
    return gw.jobs


def files_route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """A result file, until its URL's expiry: then 403, as an expired signed URL answers."""
    exp = rec.query.get("exp")
    if exp and time.time() > float(exp):
        body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        return Reply(403, {"Content-Type": "application/xml"}, body)
    name = path[len("/jobfiles/") :]
    with gw._lock:
        entry = gw.files.get(name)
    if entry is None:
        raise HTTPError(error_reply(404, f"No such file: {name}", code="not_found"))
    data, content_type = entry
    if fault and fault.kind == "truncated_image":
        data = data[: len(data) // 2]
    return Reply(200, {"Content-Type": content_type}, data)


def counts_route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    return json_reply(200, store(gw).counts())


def size_of(value: Any, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """Pixels from {width, height}, or the default."""
    if isinstance(value, dict):
        w, h = value.get("width"), value.get("height")
        if isinstance(w, int) and isinstance(h, int) and 0 < w <= 4096 and 0 < h <= 4096:
            return w, h
    return default


def detail(status: int, message: str) -> HTTPError:
    """A FastAPI-style error, as fal and Black Forest Labs send."""
    return HTTPError(json_reply(status, {"detail": message}))


# `python -m imggen.testing` switches: (flag, JobStore field, type, help)
SWITCHES = (
    ("--job-queue", "queue_seconds", float, "SECONDS a job waits in the queue [0]"),
    ("--job-run", "run_seconds", float, "SECONDS a job then runs [0]"),
    ("--job-fail", "fail_next", int, "the next N jobs fail upstream"),
    ("--job-cancel", "cancel_next", int, "the next N jobs are cancelled upstream"),
    ("--job-refuse", "refuse_next", int, "the next N jobs are refused by moderation"),
    ("--job-url-ttl", "url_ttl", float, "result URLs expire SECONDS after a poll hands them out"),
    ("--job-expire", "expire_next", int, "the next N result URLs handed out are expired"),
    ("--job-poll-rate", "poll_rate", float, "polls a second each provider answers; 429 beyond"),
)


def add_arguments(cli: Any) -> None:
    """The job providers' switches, on the fake gateway's command line."""
    group = cli.add_argument_group(
        "job providers",
        "fal under /fal, Replicate under /replicate/v1, Black Forest Labs under\n"
        "/bfl/v1; GET /__imggen/jobs counts submissions and polls",
    )
    for flag, name, kind, text in SWITCHES:
        unit = "N" if kind is int or name == "poll_rate" else "SECONDS"
        group.add_argument(flag, dest=name, type=kind, default=None, metavar=unit, help=text)


def configure(jobs: JobStore, args: Any) -> None:
    for _, name, _, _ in SWITCHES:
        value = getattr(args, name, None)
        if value is not None:
            setattr(jobs, name, value)
