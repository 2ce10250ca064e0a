"""Job providers end to end: the installed imggen against the fake gateway's fal, Replicate and
Black Forest Labs. Accepted, paid and delivered are three moments: a run killed (-9) between
submit and collect, re-run, pays once per job (the gateway's submission counter says so) and
saves every image; an expired result URL is its own error (exit 5) that `imggen jobs wait`
recovers; a job that fails upstream is not resubmitted except by an explicit re-run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY
from tests.e2e import complete_png, is_fake_image, start, wait_for

# provider -> (base path on the fake, model, submissions for -n 2: fal makes both in one job)
PROVIDERS = {
    "fal": ("/fal", "fal-ai/flux/dev", 1),
    "replicate": ("/replicate/v1", "black-forest-labs/flux-schnell", 2),
    "bfl": ("/bfl/v1", "flux-pro-1.1", 2),
}


def job_env(fake: FakeGateway, provider: str) -> dict[str, str]:
    path, model, _ = PROVIDERS[provider]
    return {
        "IMGGEN_PROFILE": provider,
        "IMGGEN_BASE_URL": fake.url + path,
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": model,
    }


def ledger(tmp_path: Path) -> list[dict[str, object]]:
    folder = Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs"
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    proc = start(args, env, cwd)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def kill_once_recorded(proc: subprocess.Popen[bytes], tmp_path: Path, jobs: int) -> None:
    """SIGKILL the run once the ledger holds its jobs (they are queued at the fake)."""
    wait_for(lambda: len(ledger(tmp_path)) >= jobs or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.kill()
    proc.communicate(timeout=10)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_killed_between_submit_and_collect_pays_once_and_saves_all(
    provider: str, fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 3.0  # long enough to be killed while queued
    env = job_env(fake, provider)
    args = ["generate", "a red fox", "-n", "2", "-o", "fox.png"]
    submits = PROVIDERS[provider][2]
    kill_once_recorded(start(args, env, tmp_path), tmp_path, submits)
    assert fake.jobs.submissions[provider] == submits
    assert not (tmp_path / "fox-1.png").exists()
    again = run(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert b"submitted earlier" in again.stderr
    assert fake.jobs.submissions[provider] == submits  # the re-run submitted nothing
    for name in ("fox-1.png", "fox-2.png"):
        assert complete_png(tmp_path / name) and is_fake_image(tmp_path / name, "a red fox")
    assert ledger(tmp_path) == []  # collected: forgotten


def test_ledger_entry_is_private_and_names_the_job(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.queue_seconds = 30.0
    proc = start(["generate", "a fox", "-o", "f.png"], job_env(fake, "fal"), tmp_path)
    kill_once_recorded(proc, tmp_path, 1)
    folder = Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs"
    (entry,) = folder.glob("*.json")
    assert entry.stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    doc = json.loads(entry.read_text())
    assert doc["provider"] == "fal" and doc["poll"].endswith("/status")
    assert SENTINEL_KEY not in entry.read_text()


def test_batch_killed_then_rerun_submits_each_job_once(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.queue_seconds = 3.0
    manifest = tmp_path / "assets.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"prompt": f"icon {i}", "output": f"icon-{i}.png"}) + "\n" for i in range(5)
        )
    )
    env = job_env(fake, "bfl")
    proc = start(["batch", str(manifest), "-j", "8"], env, tmp_path)
    written = tmp_path / "assets.results.jsonl"
    # killed once every job is in the ledger and has its line (the ledger is written first)
    wait_for(
        lambda: (
            (written.exists() and written.read_bytes().count(b"\n") >= 5) or proc.poll() is not None
        )
    )
    kill_once_recorded(proc, tmp_path, 5)
    results = written.read_text().splitlines()
    assert sum(json.loads(line)["status"] == "submitted" for line in results) == 5
    again = run(["batch", str(manifest), "-j", "8"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["bfl"] == 5
    assert all(complete_png(tmp_path / f"icon-{i}.png") for i in range(5))


def test_no_wait_prints_ids_and_jobs_wait_collects(fake: FakeGateway, tmp_path: Path) -> None:
    """The CI pattern: one step submits, a later step collects."""
    fake.jobs.queue_seconds = 1.0
    env = job_env(fake, "replicate")
    first = run(["generate", "a fox", "-n", "2", "-o", "fox.png", "--no-wait"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    ids = first.stdout.decode().split()
    assert len(ids) == 2 and not (tmp_path / "fox-1.png").exists()
    listed = run(["jobs", "list", "--json"], env, tmp_path)
    assert sorted(j["id"] for j in json.loads(listed.stdout)) == sorted(ids)
    done = run(["jobs", "wait"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.decode().split()) == [
        str(tmp_path / "fox-1.png"),
        str(tmp_path / "fox-2.png"),
    ]
    assert fake.jobs.submissions["replicate"] == 2
    assert ledger(tmp_path) == []
    # each image names the provider's job it came from: in its record and in the history
    seen = run(["inspect", "fox-1.png", "fox-2.png", "--json"], env, tmp_path)
    named = [f["record"]["job"] for f in json.loads(seen.stdout)["files"]]
    assert sorted(j["id"] for j in named) == sorted(ids)
    assert {j["provider"] for j in named} == {"replicate"}
    said = run(["inspect", "fox-1.png"], env, tmp_path).stdout.decode()
    assert any(line.strip() == f"job: replicate {i}" for line in said.splitlines() for i in ids)
    logged = json.loads(run(["log", "--json"], env, tmp_path).stdout)["entries"]
    assert sorted(e["job"] for e in logged) == sorted(f"replicate:{i}" for i in ids)


def test_no_wait_json_and_batch_no_wait_then_batch_collects(
    fake: FakeGateway, tmp_path: Path
) -> None:
    env = job_env(fake, "fal")
    one = run(["generate", "a fox", "-o", "a.png", "--no-wait", "--json"], env, tmp_path)
    doc = json.loads(one.stdout)
    assert one.returncode == 0 and doc["jobs"][0]["state"] == "submitted"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "output": f"b{i}.png"}) + "\n" for i in range(3))
    )
    sub = run(["batch", str(manifest), "--no-wait"], env, tmp_path)
    assert sub.returncode == 0, sub.stderr
    assert b"3 submitted" in sub.stderr
    assert fake.jobs.submissions["fal"] == 4
    got = run(["batch", str(manifest)], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert fake.jobs.submissions["fal"] == 4  # collected, not submitted again
    assert all(complete_png(tmp_path / f"b{i}.png") for i in range(3))
    # the results line and each image's record name the same provider job
    lines = [json.loads(line) for line in (tmp_path / "m.results.jsonl").read_text().splitlines()]
    ids = {
        line["output"].rsplit("/", 1)[-1]: line["job_ids"] for line in lines if "job_ids" in line
    }
    seen = json.loads(run(["inspect", "b0.png", "--json"], env, tmp_path).stdout)["files"][0]
    assert [seen["record"]["job"]["id"]] == ids["b0.png"]
    assert seen["record"]["batch"]  # and the batch job, as before


def test_no_wait_is_refused_where_nothing_is_a_job(fake: FakeGateway, tmp_path: Path) -> None:
    env = {
        "IMGGEN_PROFILE": "knox",
        "IMGGEN_BASE_URL": fake.base_url,
        "IMGGEN_API_KEY": SENTINEL_KEY,
    }
    done = run(["generate", "a fox", "--no-wait"], env, tmp_path)
    assert done.returncode == 2 and b"--no-wait is for job providers" in done.stderr
    assert fake.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_result_url_is_exit_5_and_jobs_wait_fetches_it(
    provider: str, fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.expire_next = 1  # the first result URL handed out is dead already
    env = job_env(fake, provider)
    done = run(["generate", "a fox", "-o", "fox.png"], env, tmp_path)
    assert done.returncode == 5, done.stderr
    (entry,) = ledger(tmp_path)
    assert entry["state"] == "expired"
    assert f"job {entry['id']} expired".encode() in done.stderr
    assert f"imggen jobs wait {entry['id']}".encode() in done.stderr
    again = run(["jobs", "wait", str(entry["id"])], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert complete_png(tmp_path / "fox.png")
    assert fake.jobs.submissions[provider] == 1


@pytest.mark.parametrize(
    ("provider", "switch", "code"),
    [
        ("fal", "fail_next", 5),
        ("replicate", "fail_next", 5),
        ("bfl", "fail_next", 5),
        ("fal", "cancel_next", 5),
        ("replicate", "refuse_next", 4),
        ("bfl", "refuse_next", 4),
    ],
)
def test_job_that_fails_upstream_is_not_resubmitted_until_rerun(
    provider: str, switch: str, code: int, fake: FakeGateway, tmp_path: Path
) -> None:
    setattr(fake.jobs, switch, 1)
    env = job_env(fake, provider)
    done = run(["generate", "a fox", "-o", "fox.png", "--retries", "3"], env, tmp_path)
    assert done.returncode == code, done.stderr
    (entry,) = ledger(tmp_path)
    assert f"{provider} job {entry['id']}".encode() in done.stderr
    assert fake.jobs.submissions[provider] == 1  # no retry loop paid again
    waited = run(["jobs", "wait", str(entry["id"])], env, tmp_path)
    assert waited.returncode == code and fake.jobs.submissions[provider] == 1
    again = run(["generate", "a fox", "-o", "fox.png"], env, tmp_path)  # the explicit re-run
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions[provider] == 2 and complete_png(tmp_path / "fox.png")


def test_jobs_cancel_cancels_at_the_provider(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.queue_seconds = 60.0
    env = job_env(fake, "fal")
    job_id = run(["generate", "a fox", "--no-wait"], env, tmp_path).stdout.decode().strip()
    done = run(["jobs", "cancel", job_id], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"cancelled fal job {job_id}".encode() in done.stderr
    assert [r.method for r in fake.requests if r.path.endswith("/cancel")] == ["PUT"]
    assert ledger(tmp_path) == []


def test_waiting_shows_state_and_queue_position(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.queue_seconds = 1.5
    done = run(["generate", "a fox", "-o", "f.png", "-v"], job_env(fake, "fal"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert b": queued (position 0)" in done.stderr and b": done" in done.stderr
    assert complete_png(tmp_path / "f.png")


def test_gateway_counts_are_readable_over_http(fake: FakeGateway, tmp_path: Path) -> None:
    import urllib.request

    run(["generate", "a fox", "-o", "f.png"], job_env(fake, "bfl"), tmp_path)
    request = urllib.request.Request(
        fake.url + "/__imggen/jobs", headers={"Authorization": f"Bearer {SENTINEL_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        counts = json.loads(reply.read())
    assert counts["submissions"] == {"bfl": 1} and counts["polls"]["bfl"] >= 1


def test_timeout_while_queued_then_rerun_collects(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.queue_seconds = 4.0
    env = job_env(fake, "fal")
    args = ["generate", "a fox", "-o", "fox.png"]
    late = run([*args, "--timeout", "1.5"], env, tmp_path)
    assert late.returncode == 5, late.stderr
    (entry,) = ledger(tmp_path)
    assert f"fal job {entry['id']} was still waiting".encode() in late.stderr
    again = run(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["fal"] == 1 and complete_png(tmp_path / "fox.png")


def test_sigterm_while_waiting_keeps_the_job_for_the_rerun(
    fake: FakeGateway, tmp_path: Path
) -> None:
    import signal

    fake.jobs.queue_seconds = 3.0
    env = job_env(fake, "replicate")
    args = ["generate", "a fox", "-o", "fox.png"]
    proc = start(args, env, tmp_path)
    wait_for(lambda: len(ledger(tmp_path)) == 1 or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 143, err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("fox", ".fox"))] == []
    again = run(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["replicate"] == 1 and complete_png(tmp_path / "fox.png")


def test_batch_submits_every_job_before_collecting_any(fake: FakeGateway, tmp_path: Path) -> None:
    """With -j 2, eight jobs still wait at the provider all at once: each is submitted (and
    recorded) before the first result is fetched."""
    fake.jobs.queue_seconds = 1.0
    manifest = tmp_path / "eight.jsonl"
    manifest.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "output": f"e{i}.png"}) + "\n" for i in range(8))
    )
    done = run(["batch", str(manifest), "-j", "2"], job_env(fake, "fal"), tmp_path)
    assert done.returncode == 0, done.stderr
    order = [r.path for r in fake.requests if r.method == "POST" or "/jobfiles/" in r.path]
    first_fetch = next(i for i, p in enumerate(order) if "/jobfiles/" in p)
    assert first_fetch == 8 and fake.jobs.submissions["fal"] == 8
    lines = [json.loads(x) for x in (tmp_path / "eight.results.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines].count("submitted") == 8
    assert [x["status"] for x in lines].count("saved") == 8


def test_a_job_the_provider_forgot_is_resubmitted_only_by_the_rerun(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 60.0
    env = job_env(fake, "fal")
    args = ["generate", "a fox", "-o", "fox.png"]
    job_id = run([*args, "--no-wait"], env, tmp_path).stdout.decode().strip()
    fake.jobs.jobs.clear()  # the provider's data removed
    fake.jobs.queue_seconds = 0.0
    waited = run(["jobs", "wait", job_id], env, tmp_path)
    assert waited.returncode == 5 and b"no longer knows" in waited.stderr
    assert fake.jobs.submissions["fal"] == 1
    again = run(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["fal"] == 2 and complete_png(tmp_path / "fox.png")


def test_images_collected_by_jobs_wait_count_as_the_manifests_own(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """batch --no-wait, then `imggen jobs wait`, then batch: the images carry the manifest
    job's own record, so the last run skips them all and sends nothing."""
    env = job_env(fake, "bfl")
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[defaults]\naspect = "16:9"\nseed = 5\n\n'
        '[[jobs]]\nprompt = "a"\noutput = "a.png"\n\n'
        '[[jobs]]\nprompt = "b"\noutput = "b.png"\nn = 2\n'
    )
    assert run(["batch", str(manifest), "--no-wait"], env, tmp_path).returncode == 0
    waited = run(["jobs", "wait"], env, tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert len(waited.stdout.splitlines()) == 3
    before = len(fake.requests)
    again = run(["batch", str(manifest)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert b"2 skipped" in again.stderr and len(fake.requests) == before
    assert fake.jobs.submissions["bfl"] == 3


def _noise_png(path: Path, side: int) -> None:
    """A PNG of random pixels, stored uncompressed: `side`² x 3 bytes and more."""
    import struct
    import zlib

    raw = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    head = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_replicate_uploads_an_input_over_1mb_and_inlines_a_small_one(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """Replicate takes data URIs under 1 MB; a larger input goes up first through its files
    API and the prediction names the File's URL (the offline Replicate refuses a files URL it
    never stored)."""
    _noise_png(tmp_path / "big.png", 700)  # ~1.4 MB
    _noise_png(tmp_path / "small.png", 64)
    env = {**job_env(fake, "replicate"), "IMGGEN_MODEL": "black-forest-labs/flux-kontext-pro"}
    done = run(["edit", "big.png", "small.png", "blend them", "-o", "out.png"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert complete_png(tmp_path / "out.png")
    uploads = [r for r in fake.requests if r.path == "/replicate/v1/files"]
    (submit,) = [r for r in fake.requests if r.path.endswith("/predictions")]
    assert len(uploads) == 1 and uploads[0].method == "POST"
    big, small = submit.json["input"]["input_images"]
    assert big.startswith(fake.url + "/replicate/v1/files/")
    assert small.startswith("data:image/png;base64,")


def test_one_fal_job_is_followed_on_its_status_stream_many_are_polled(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """Waiting on one fal job holds its status stream (no polls); waiting on several polls
    them from one loop (no stream a job)."""
    fake.jobs.queue_seconds, fake.jobs.run_seconds = 1.5, 1.0
    env = job_env(fake, "fal")
    one = run(["generate", "a fox", "-o", "one.png", "-v"], env, tmp_path)
    assert one.returncode == 0, one.stderr
    asked = [r.path.rsplit("/", 2)[-2:] for r in fake.requests if "/requests/" in r.path]
    assert ["status", "stream"] in asked and not any(a[-1] == "status" for a in asked)
    assert b"queued" in one.stderr and b"running" in one.stderr  # each state as it came
    fake.requests.clear()
    many = run(["generate", "a fox", "-n", "2", "-o", "two.png"], env, tmp_path)
    assert many.returncode == 0, many.stderr  # fal makes -n 2 in one job: one stream
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "output": f"m{i}.png"}) + "\n" for i in range(3))
    )
    assert run(["batch", str(manifest), "--no-wait"], env, tmp_path).returncode == 0
    fake.requests.clear()
    waited = run(["jobs", "wait"], env, tmp_path)
    assert waited.returncode == 0, waited.stderr
    paths = [r.path for r in fake.requests]
    assert not any(p.endswith("/stream") for p in paths)
    assert any(p.endswith("/status") for p in paths)


def test_an_interrupt_ends_a_status_stream_at_once(fake: FakeGateway, tmp_path: Path) -> None:
    """A status stream waits for the provider's next event (a comment every 15 s): SIGINT
    must not wait for it. Exit 130 well within a second or two; the job stays recorded."""
    import signal
    import time

    fake.jobs.queue_seconds = 60.0
    proc = start(["generate", "a fox", "-o", "fox.png"], job_env(fake, "fal"), tmp_path)
    wait_for(lambda: any(r.path.endswith("/status/stream") for r in fake.requests))
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - began < 5
    assert len(ledger(tmp_path)) == 1
