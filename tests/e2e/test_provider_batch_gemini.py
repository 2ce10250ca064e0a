"""batch --provider-batch on a gemini profile, against the fake gateway's Gemini batch mode: one
batchGenerateContent of inline requests, its name recorded in the results file before waiting;
--no-wait then a re-run collects; a run killed (SIGKILL) while the batch is pending, re-run,
sends no second batch and saves every image; failed requests fail their own job; a failed or
cancelled batch is reported, and only an explicit re-run sends a new one."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY
from tests.e2e import complete_png, start, wait_for

MANIFEST = (
    '{"prompt": "a fox", "output": "fox.png"}\n'
    '{"prompt": "two cats", "output": "cats.png", "n": 2}\n'
    '{"prompt": "a boat", "output": "boat.png", "aspect": "16:9"}\n'
)
IMAGES = ("fox.png", "cats-1.png", "cats-2.png", "boat.png")


def env_for(fake: FakeGateway, model: str = "gemini-2.5-flash-image") -> dict[str, str]:
    return {
        "IMGGEN_PROFILE": "gemini",
        "IMGGEN_BASE_URL": fake.url + "/v1beta",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": model,
    }


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    proc = start(args, env, cwd)
    out, err = proc.communicate(timeout=90)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def results(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "m.results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def creates(fake: FakeGateway) -> list[object]:
    return [r for r in fake.requests if r.path.endswith(":batchGenerateContent")]


def pixels(path: Path) -> tuple[int, int]:
    w, h = struct.unpack(">II", path.read_bytes()[16:24])
    return w, h


def test_no_wait_submits_one_batch_and_the_rerun_collects(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    sub = run(["batch", "m.jsonl", "--provider-batch", "--no-wait"], env, tmp_path)
    assert sub.returncode == 0, sub.stderr
    assert b"submitted to Gemini's Batch API" in sub.stderr
    lines = results(tmp_path)
    assert [x["status"] for x in lines] == ["submitted"] * 3
    (name,) = {x["batch_id"] for x in lines}
    assert str(name).startswith("batches/") and lines[0]["provider"] == "gemini-batch"
    (create,) = creates(fake)
    assert create.path == "/v1beta/models/gemini-2.5-flash-image:batchGenerateContent"
    assert (
        create.headers["x-goog-api-key"] == SENTINEL_KEY and "authorization" not in create.headers
    )
    batch = create.json["batch"]
    assert batch["displayName"] == "imggen m.jsonl"
    inline = batch["inputConfig"]["requests"]["requests"]
    assert [x["metadata"]["key"] for x in inline] == ["1-0", "2-0", "2-1", "3-0"]
    assert inline[3]["request"]["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1  # collected, not sent again
    assert all(complete_png(tmp_path / n) for n in IMAGES)
    assert pixels(tmp_path / "boat.png") == (1344, 768)
    assert not [r for r in fake.requests if r.path.endswith(("GenerateContent", "Content?alt=sse"))
                and not r.path.endswith(":batchGenerateContent")]  # fmt: skip
    polls = [r for r in fake.requests if r.method == "GET" and "/v1beta/batches/" in r.path]
    assert polls and all(r.headers["x-goog-api-key"] == SENTINEL_KEY for r in polls)
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 0 and b"3 skipped" in again.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1


def test_killed_while_the_batch_is_pending_then_rerun_sends_no_second_batch(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 4.0
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    proc = start(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    state = Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs"
    written = tmp_path / "m.results.jsonl"

    def recorded() -> bool:
        lines = written.read_bytes().count(b"\n") if written.exists() else 0
        return any(state.glob("*.json")) and lines >= 3

    wait_for(lambda: recorded() or proc.poll() is not None)
    assert proc.poll() is None
    proc.kill()  # SIGKILL: between submit and collect
    proc.communicate(timeout=10)
    assert [x["status"] for x in results(tmp_path)] == ["submitted"] * 3
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert b"collecting batch batches/" in got.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1 and len(creates(fake)) == 1
    assert all(complete_png(tmp_path / n) for n in IMAGES)
    assert not any(state.glob("*.json"))  # collected: the ledger forgets it


def test_failed_requests_fail_their_own_job_only(fake: FakeGateway, tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text(
        '{"prompt": "a fox", "output": "fox.png"}\n'
        '{"prompt": "[blocked] no", "output": "no.png"}\n'
        '{"prompt": "[error] bad", "output": "bad.png"}\n'
    )
    env = env_for(fake)
    done = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert done.returncode == 4, done.stderr
    by = {x["output"]: x for x in results(tmp_path) if x["status"] != "submitted"}
    assert by["fox.png"]["status"] == "saved" and complete_png(tmp_path / "fox.png")
    assert by["no.png"]["status"] == "failed" and "PROHIBITED_CONTENT" in str(by["no.png"]["error"])
    assert by["bad.png"]["status"] == "failed" and "invalid argument" in str(by["bad.png"]["error"])
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 4
    assert fake.jobs.submissions["gemini-batch"] == 2  # the explicit re-run sent the two left
    last = creates(fake)[-1].json["batch"]["inputConfig"]["requests"]["requests"]
    assert [x["metadata"]["key"] for x in last] == ["2-0", "3-0"]


def test_a_cancelled_batch_is_reported_and_a_rerun_sends_a_new_one(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.cancel_next = 1
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    done = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert done.returncode == 5, done.stderr
    assert b"the batch is cancelled" in done.stderr and b"submits a new batch" in done.stderr
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["gemini-batch"] == 2
    assert all(complete_png(tmp_path / n) for n in IMAGES)


def test_a_failed_batch_says_why(fake: FakeGateway, tmp_path: Path) -> None:
    fake.jobs.fail_next = 1
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    done = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert done.returncode == 5, done.stderr
    assert b"The batch failed: internal error." in done.stderr
    assert not (tmp_path / "fox.png").exists()


def test_what_a_gemini_batch_cannot_take_is_refused_before_sending(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(
        MANIFEST + '{"prompt": "x", "output": "x.png", "model": "gemini-3-pro-image-preview"}\n'
    )
    done = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert done.returncode == 2 and b"a Gemini batch holds one model's requests" in done.stderr
    (tmp_path / "s.jsonl").write_text('{"prompt": "a fox", "output": "fox.png"}\n')
    streamed = run(["batch", "s.jsonl", "--provider-batch", "--stream"], env_for(fake), tmp_path)
    assert streamed.returncode == 2 and b"this job streams" in streamed.stderr
    assert fake.requests == []


def test_the_gateway_refuses_what_google_refuses(fake: FakeGateway) -> None:
    import httpx

    url = fake.url + "/v1beta/models/gemini-2.5-flash-image:batchGenerateContent"
    key = {"x-goog-api-key": SENTINEL_KEY}
    body = {"batch": {"displayName": "x", "inputConfig": {"requests": {"requests": []}}}}
    assert httpx.post(url, json=body, headers=key).status_code == 400  # no requests
    body["batch"]["colour"] = "red"  # type: ignore[index]
    said = httpx.post(url, json=body, headers=key)
    assert said.status_code == 400 and 'Unknown name "colour"' in said.json()["error"]["message"]
    assert httpx.post(url, json={}, headers={"x-goog-api-key": "wrong"}).status_code == 400
    assert httpx.post(url, json={}).status_code == 403  # no key at all
    gone = httpx.get(fake.url + "/v1beta/batches/nope", headers=key)
    assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND"
    assert fake.jobs.submissions["gemini-batch"] == 0


def test_jobs_wait_names_the_batch_command_and_jobs_cancel_cancels_the_batch(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 30.0
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    assert run(["batch", "m.jsonl", "--provider-batch", "--no-wait"], env, tmp_path).returncode == 0
    (name,) = {x["batch_id"] for x in results(tmp_path)}
    waited = run(["jobs", "wait"], env, tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert f"batch {name} is collected by running `imggen batch".encode() in waited.stderr
    assert b"m.jsonl --provider-batch` again" in waited.stderr
    gone = run(["jobs", "cancel", str(name)], env, tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert f"cancelled batch {name}".encode() in gone.stderr
    (cancel,) = [r for r in fake.requests if r.path.endswith(":cancel")]
    assert cancel.method == "POST" and cancel.path == f"/v1beta/{name}:cancel"
    assert run(["jobs", "list"], env, tmp_path).stdout == b""


def test_sigterm_while_waiting_exits_143_and_the_rerun_collects_the_same_batch(
    fake: FakeGateway, tmp_path: Path
) -> None:
    import signal

    fake.jobs.queue_seconds = 60.0
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    proc = start(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    wait_for(lambda: any(r.method == "GET" for r in fake.requests) or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 143, err
    assert not list(tmp_path.glob("*.png"))
    fake.jobs.queue_seconds = 0.0  # the provider finishes it meanwhile
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1
    assert all(complete_png(tmp_path / n) for n in IMAGES)


def test_a_batch_the_gateway_no_longer_knows_is_given_up_and_the_next_run_resends(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    assert run(["batch", "m.jsonl", "--provider-batch", "--no-wait"], env, tmp_path).returncode == 0
    fake.batches.clear()  # deleted at the provider (or kept past its retention)
    gone = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert gone.returncode == 4, gone.stderr
    assert b"is gone from the gateway" in gone.stderr and b"submits a new batch" in gone.stderr
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["gemini-batch"] == 2
    assert all(complete_png(tmp_path / n) for n in IMAGES)
