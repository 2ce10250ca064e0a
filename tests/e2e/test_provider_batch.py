"""batch --provider-batch against the fake gateway's Batch API: one upload and one batch,
recorded in the results file before waiting; --no-wait then a re-run collects; a run killed
while the batch is in progress, re-run, sends no second batch; refused lines fail their own
job only, and only an explicit re-run sends them again; costs at the batch price (half the
list price), and --max-cost counting the batch's estimate before anything is sent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY
from tests.e2e import complete_png, start, wait_for

MANIFEST = (
    '{"prompt": "a fox", "output": "fox.png"}\n'
    '{"prompt": "two cats", "output": "cats.png", "n": 2}\n'
    '{"prompt": "a boat", "output": "boat.png", "size": "1536x1024"}\n'
)


def env_for(fake: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_PROFILE": "openai",
        "IMGGEN_BASE_URL": fake.base_url,
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
    }


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    proc = start(args, env, cwd)
    out, err = proc.communicate(timeout=90)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def results(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "m.results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def lines(tmp_path: Path) -> int:
    """The whole lines in the results file so far (each is written with one append)."""
    path = tmp_path / "m.results.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_no_wait_submits_one_batch_and_the_rerun_collects(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    sub = run(["batch", "m.jsonl", "--provider-batch", "--no-wait"], env, tmp_path)
    assert sub.returncode == 0, sub.stderr
    lines = results(tmp_path)
    assert [x["status"] for x in lines] == ["submitted"] * 3
    assert len({x["batch_id"] for x in lines}) == 1
    assert len(fake.requests_to("/v1/files")) == 1 and fake.jobs.submissions["openai-batch"] == 1
    (upload,) = [r for r in fake.requests if r.path == "/v1/batches"]
    assert upload.json["endpoint"] == "/v1/images/generations"
    assert upload.json["completion_window"] == "24h"
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert fake.jobs.submissions["openai-batch"] == 1  # collected, not sent again
    for name in ("fox.png", "cats-1.png", "cats-2.png", "boat.png"):
        assert complete_png(tmp_path / name)
    assert fake.requests_to("/images/generations") == []  # nothing went the expensive way
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 0 and b"3 skipped" in again.stderr
    assert fake.jobs.submissions["openai-batch"] == 1


def test_killed_while_the_batch_runs_then_rerun_sends_no_second_batch(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 4.0
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    proc = start(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    state = Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs"
    # killed once the batch is recorded in both places (the ledger, then each job's line), while
    # it waits at the provider
    wait_for(
        lambda: (any(state.glob("*.json")) and lines(tmp_path) >= 3) or proc.poll() is not None
    )
    assert proc.poll() is None
    proc.kill()
    proc.communicate(timeout=10)
    assert [x["status"] for x in results(tmp_path)] == ["submitted"] * 3
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert fake.jobs.submissions["openai-batch"] == 1
    assert complete_png(tmp_path / "boat.png")


def test_a_refused_line_fails_its_job_and_only_a_rerun_sends_it_again(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(
        '{"prompt": "a fox", "output": "fox.png"}\n{"prompt": "[blocked] no", "output": "no.png"}\n'
    )
    env = env_for(fake)
    done = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert done.returncode == 4, done.stderr
    assert [x["status"] for x in results(tmp_path)][-2:] in (
        ["saved", "failed"],
        ["failed", "saved"],
    )
    assert complete_png(tmp_path / "fox.png") and fake.jobs.submissions["openai-batch"] == 1
    again = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert again.returncode == 4
    assert fake.jobs.submissions["openai-batch"] == 2  # the explicit re-run sent the one left
    (last,) = [r for r in fake.requests if r.path == "/v1/files"][1:]
    assert last.raw_size > 0


def test_what_a_provider_batch_cannot_take_is_refused_before_sending(
    fake: FakeGateway, tmp_path: Path
) -> None:
    env = env_for(fake)
    (tmp_path / "chat.jsonl").write_text('{"prompt": "a fox", "output": "fox.png"}\n')
    chat = {**env, "IMGGEN_PROFILE": "knox", "IMGGEN_MODEL": "google/gemini-2.5-flash-image"}
    done = run(["batch", "chat.jsonl", "--provider-batch"], chat, tmp_path)
    assert done.returncode == 2 and b"--provider-batch takes image generations" in done.stderr
    assert fake.requests == []


def test_max_cost_refuses_the_whole_batch_before_anything_is_sent(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    # 4 gpt-image-1 images of no quality named: 0.25 each at list price, 0.125 at batch price
    over = run(["batch", "m.jsonl", "--provider-batch", "--max-cost", "0.4"], env, tmp_path)
    assert over.returncode == 8, over.stderr
    assert b"the batch would cost about 0.5 USD at the batch price (4 images)" in over.stderr
    assert b"nothing was sent" in over.stderr
    assert fake.requests == [] and fake.jobs.submissions["openai-batch"] == 0
    assert [x["status"] for x in results(tmp_path)] == ["skipped"] * 3
    assert not any(state_files())
    within = run(["batch", "m.jsonl", "--provider-batch", "--max-cost", "0.5"], env, tmp_path)
    assert within.returncode == 0, within.stderr
    assert fake.jobs.submissions["openai-batch"] == 1
    saved = {x["output"]: x for x in results(tmp_path)}
    assert saved["fox.png"]["estimate"] == 0.125 and saved["cats.png"]["estimate"] == 0.25
    assert saved["boat.png"]["status"] == "saved"


def test_costs_are_recorded_at_the_batch_price(fake: FakeGateway, tmp_path: Path) -> None:
    fake.cost = 0.04  # the gateway reports usage.cost per image at its list price
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    env = env_for(fake)
    done = run(["batch", "m.jsonl", "--provider-batch", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    costs = {j["output"]: j["cost"] for j in doc["jobs"]}
    assert costs == {"fox.png": 0.02, "cats.png": 0.04, "boat.png": 0.02}
    assert doc["cost"] == 0.08
    log = run(["log", "--json"], env, tmp_path)
    entries = json.loads(log.stdout)["entries"]
    assert sorted(e["cost"] for e in entries) == [0.02] * 4
    assert {e["estimate"] for e in entries} == {0.125}


def test_max_cost_with_a_model_of_no_known_price_says_so_and_sends(
    fake: FakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text('{"prompt": "a fox", "output": "fox.png"}\n')
    env = {**env_for(fake), "IMGGEN_MODEL": "gpt-image-2"}
    done = run(["batch", "m.jsonl", "--provider-batch", "--max-cost", "0.01"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"imggen knows no price for 1 of the batch's 1 images (gpt-image-2)" in done.stderr
    assert fake.jobs.submissions["openai-batch"] == 1 and complete_png(tmp_path / "fox.png")


def test_dry_run_shows_the_batch_price(fake: FakeGateway, tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text(MANIFEST)
    done = run(["batch", "m.jsonl", "--provider-batch", "--dry-run"], env_for(fake), tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"about 0.5 USD for 4 images" in done.stderr and fake.requests == []


def state_files() -> list[Path]:
    return list((Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs").glob("*.json"))
