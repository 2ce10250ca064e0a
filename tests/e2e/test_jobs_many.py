"""200 jobs waited on by one process: `imggen jobs wait` polls them all from one loop with a
bounded pool, so its threads stay few and its memory flat, and polls back off. The child runs
under an address-space cap and a timeout; its peak RSS and thread count are read from /proc
while it waits."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

import pytest

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY, imggen_exe
from tests.e2e import complete_png, subprocess_env
from tests.e2e.hostile import MEMORY_CAP

JOBS = 200


def _status(pid: int) -> dict[str, int]:
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "Threads"):
                found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def test_two_hundred_jobs_one_process_bounded_threads_and_memory(
    fake: FakeGateway, tmp_path: Path
) -> None:
    env = {
        "IMGGEN_PROFILE": "fal",
        "IMGGEN_BASE_URL": fake.url + "/fal",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "fal-ai/flux/schnell",
    }
    manifest = tmp_path / "many.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"prompt": f"tile {i}", "output": f"out/t{i:03d}.png", "size": "512"}) + "\n"
            for i in range(JOBS)
        )
    )
    fake.jobs.queue_seconds = 3.0  # each job queued a while: waiting is the work
    submit = subprocess.run(
        [*imggen_exe(), "batch", str(manifest), "--no-wait", "-j", "16"],
        env=subprocess_env(env),
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert submit.returncode == 0, submit.stderr[-2000:]
    assert fake.jobs.submissions["fal"] == JOBS
    polls_before = fake.jobs.polls["fal"]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    proc = subprocess.Popen(
        [*imggen_exe(), "jobs", "wait", "-q"],
        env=subprocess_env(env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=cap,
    )
    peak_rss, threads = 0, 0
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        seen = _status(proc.pid)
        peak_rss = max(peak_rss, seen.get("VmHWM", 0))
        threads = max(threads, seen.get("Threads", 0))
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-2000:]
    polls = fake.jobs.polls["fal"] - polls_before
    print(f"\n200 jobs: {polls} polls, peak RSS {peak_rss // 1024} MiB, {threads} threads")
    assert len(out.splitlines()) == JOBS
    assert all(complete_png(tmp_path / "out" / f"t{i:03d}.png") for i in range(JOBS))
    assert fake.jobs.submissions["fal"] == JOBS  # collected, never submitted again
    assert threads <= 24  # the poll pool and the runtime's own, not one per job
    assert polls <= JOBS * 8  # backed off: a few polls a job over a 3 s queue
    assert peak_rss < 256 * 1024  # KiB


@pytest.mark.parametrize("provider", ["fal", "replicate", "bfl"])
def test_polls_answered_429_are_honoured_and_every_job_collected(
    fake: FakeGateway, tmp_path: Path, provider: str
) -> None:
    """The gateway answers 3 polls a second per provider and 429s beyond (fal and Black
    Forest Labs with Retry-After, Replicate only in words): imggen holds every poll of the
    provider after a 429 instead of retrying each alone, so 429s stay a fraction of the polls
    and every job is collected."""
    from tests.e2e.test_jobs import job_env

    env = job_env(fake, provider)
    jobs = 12
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"prompt": f"p{i}", "output": f"o/{i:02d}.png", "size": "512"}) + "\n"
            for i in range(jobs)
        )
    )
    fake.jobs.queue_seconds = 2.0
    fake.jobs.poll_rate = 3.0
    submit = subprocess.run(
        [*imggen_exe(), "batch", str(manifest), "--no-wait"],
        env=subprocess_env(env),
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert submit.returncode == 0, submit.stderr[-2000:]
    waited = subprocess.run(
        [*imggen_exe(), "jobs", "wait", "-v"],
        env=subprocess_env(env),
        cwd=tmp_path,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert waited.returncode == 0, waited.stderr[-2000:]
    assert all(complete_png(tmp_path / "o" / f"{i:02d}.png") for i in range(jobs))
    limited, polls = fake.jobs.limited[provider], fake.jobs.polls[provider]
    print(f"\n{provider}: {polls} polls answered, {limited} answered 429")
    assert fake.jobs.submissions[provider] == jobs
    assert 2 * limited <= polls  # held after each 429 instead of hammering
    assert limited and b"a poll was answered 429" in waited.stderr  # said under -v
