"""Batch runs through plan.build + run.run_many against the loopback fake gateway (real HTTP,
real threads), and the `batch` command through CliRunner with a MockTransport."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.batch import manifest
from imggen.batch import plan as tasks
from imggen.batch import run as batch
from imggen.console import UI
from imggen.env import Env
from imggen.files.provenance import read_provenance
from imggen.testing import FakeGateway, Fault
from tests.conftest import SENTINEL_KEY, b64_png, png_bytes

MODEL = "google/gemini-2.5-flash-image"


def env_for(gw: FakeGateway) -> Env:
    environ = dict(os.environ)
    environ.update(IMGGEN_BASE_URL=f"{gw.url}/v1", IMGGEN_API_KEY=SENTINEL_KEY, IMGGEN_MODEL=MODEL)
    return Env(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ=environ,
        stdin_isatty=False,
        stderr_isatty=False,
    )


def jobs_toml(path: Path, prompts: list[str], extra: str = "") -> Path:
    text = extra + "".join(
        f'[[jobs]]\nprompt = "{p}"\noutput = "out/{i:02d}.png"\n\n' for i, p in enumerate(prompts)
    )
    path.write_text(text)
    return path


def run_batch(
    path: Path,
    env: Env,
    *,
    jobs: int = 4,
    force: bool = False,
    fail_fast: bool = False,
    shard: tuple[int, int] | None = None,
) -> batch.Summary:
    """What `imggen batch` does, minus the CLI."""
    todo = tasks.build(manifest.load(path), env, force=force)
    if shard:
        todo = [t for t in todo if manifest.in_shard(t.row, *shard)]
    results = batch.ResultsFile(path.with_name(path.stem + ".results.jsonl"))
    try:
        return batch.run_many(todo, env, UI(env), jobs=jobs, results=results, fail_fast=fail_fast)
    finally:
        results.close()


def results_of(path: Path) -> list[dict[str, Any]]:
    lines = path.with_name(path.stem + ".results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def chat_posts(gw: FakeGateway) -> list[str]:
    """The prompts the gateway was asked for, in arrival order."""
    return [
        r.json["messages"][-1]["content"][0]["text"]
        if isinstance(r.json["messages"][-1]["content"], list)
        else r.json["messages"][-1]["content"]
        for r in gw.requests_to("/chat/completions")
    ]


PROMPTS = [f"picture number {i}" for i in range(12)]


def test_jobs_run_concurrently_up_to_j(fake: FakeGateway, tmp_path: Path) -> None:
    # counted at the gateway, not timed: a loaded machine makes wall time say nothing. Each
    # request waits (up to 0.5 s) for a fourth to join it, so -j 4 must reach 4 and never 5
    # (the first goes alone: the run learns the gateway's limits from its reply).
    fake.latency = 0.05
    inflight = peak = 0
    held = threading.Condition()
    real_sleep = fake.sleep

    def counted(seconds: float) -> bool:
        nonlocal inflight, peak
        with held:
            inflight += 1
            peak = max(peak, inflight)
            held.notify_all()
            held.wait_for(lambda: inflight >= 4, timeout=0.5)
        try:
            return real_sleep(seconds)
        finally:
            with held:
                inflight -= 1

    fake.sleep = counted  # type: ignore[method-assign]
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS)
    summary = run_batch(path, env_for(fake), jobs=4)
    assert [r.status for r in summary.results] == ["saved"] * 12
    assert summary.exit_code == 0
    assert peak == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{i:02d}.png" for i in range(12)
    ]
    assert sorted(chat_posts(fake)) == sorted(PROMPTS)


def test_rerun_sends_no_request_and_skips_every_job(fake: FakeGateway, tmp_path: Path) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:5])
    run_batch(path, env_for(fake))
    before = len(fake.requests)
    summary = run_batch(path, env_for(fake))
    assert len(fake.requests) == before
    assert [(r.status, r.task.reason) for r in summary.results] == [("skipped", "unchanged")] * 5
    assert summary.exit_code == 0
    assert [(r["job"], r["status"], r["reason"]) for r in results_of(path)] == [
        (i, "skipped", "unchanged") for i in range(1, 6)
    ]


def test_one_changed_prompt_sends_exactly_one_request(fake: FakeGateway, tmp_path: Path) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:5])
    run_batch(path, env_for(fake))
    before = len(fake.requests)
    jobs_toml(path, [*PROMPTS[:2], "a different picture", *PROMPTS[3:5]])
    summary = run_batch(path, env_for(fake))
    assert chat_posts(fake)[before:] == ["a different picture"]
    assert [r.status for r in summary.results] == [
        "skipped",
        "skipped",
        "saved",
        "skipped",
        "skipped",
    ]
    assert summary.results[2].task.reason == "changed since its image was made"
    made = read_provenance(tmp_path / "out" / "02.png")
    assert made is not None and made["prompt"] == "a different picture"


def test_changed_parameters_regenerate_too(fake: FakeGateway, tmp_path: Path) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:2])
    run_batch(path, env_for(fake))
    jobs_toml(path, PROMPTS[:2], extra='[defaults]\naspect = "16:9"\n\n')
    summary = run_batch(path, env_for(fake))
    assert [r.status for r in summary.results] == ["saved", "saved"]


def test_shards_cover_all_jobs_without_overlap(fake: FakeGateway, tmp_path: Path) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS)
    ran: list[list[int]] = []
    for i in (1, 2, 3):
        summary = run_batch(path, env_for(fake), shard=(i, 3))
        ran.append([r.task.row.number for r in summary.results if r.status == "saved"])
    assert sorted(n for part in ran for n in part) == list(range(1, 13))
    assert all(part for part in ran)
    assert sorted(chat_posts(fake)) == sorted(PROMPTS)  # each job asked for once


def test_failing_job_does_not_stop_the_others(fake: FakeGateway, tmp_path: Path) -> None:
    fake.faults.append(Fault("status", status=400, body="model is sleeping"))
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:6])
    summary = run_batch(path, env_for(fake), jobs=3)
    assert sorted(r.status for r in summary.results) == ["failed"] + ["saved"] * 5
    assert summary.exit_code == 4
    (failed,) = [r for r in results_of(path) if r["status"] == "failed"]
    assert failed["paths"] == []
    assert failed["retries"] == 0
    assert failed["error"] == {
        "class": "GatewayRefused",
        "message": "the gateway refused the request (HTTP 400): model is sleeping (400)",
        "exit_code": 4,
    }
    saved = [r for r in results_of(path) if r["status"] == "saved"]
    assert len(saved) == 5
    assert all(Path(r["paths"][0]).is_file() for r in saved)
    assert {k for r in results_of(path) for k in r} == {
        *("job", "where", "status", "output", "paths", "prompt", "model", "profile"),
        *("retries", "reason", "error", "warnings", "started", "seconds", "cost", "currency"),
        "estimate",
        "cost_unusable",
    }
    # the failed job alone is redone by the next run
    again = run_batch(path, env_for(fake))
    assert sorted(r.status for r in again.results) == ["saved"] + ["skipped"] * 5


def test_fail_fast_starts_no_new_job(fake: FakeGateway, tmp_path: Path) -> None:
    fake.faults.append(Fault("status", status=400))
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:4])
    summary = run_batch(path, env_for(fake), jobs=1, fail_fast=True)
    assert [r.status for r in summary.results] == ["failed"]
    assert summary.not_started == 3
    assert len(fake.requests) == 1
    assert summary.exit_code == 4


def test_validation_problems_listed_at_once_before_any_request(
    fake: FakeGateway, tmp_path: Path
) -> None:
    path = tmp_path / "assets.toml"
    path.write_text(
        """[[jobs]]
prompt = "ok"
output = "ok.png"

[[jobs]]
prompt = "wrong size"
output = "b.png"
model = "turing/gpt-image-2"
size = "4000x4000"

[[jobs]]
prompt = "missing input"
output = "c.png"
inputs = ["nowhere.png"]

[[jobs]]
prompt = "same output"
output = "ok.png"

[[jobs]]
promt = "typo"
output = "e.png"
"""
    )
    with pytest.raises(manifest.ManifestError) as info:
        tasks.build(manifest.load(path), env_for(fake))
    assert [str(p) for p in info.value.problems] == [
        f"{path}:5 [[jobs]] #2: turing/gpt-image-2 cannot make 4000x4000: the long side must be "
        f"at most 3840 px; it allows at most 8,294,400 pixels, this is 16,000,000; set by "
        f"{path}:9 (size) (try --size 2880x2880)",
        f"{path}:11 [[jobs]] #3: input image {tmp_path}/nowhere.png does not exist",
        f"{path}:16 [[jobs]] #4: output {tmp_path}/ok.png is also {path}:1 [[jobs]] #1's",
        f"{path}:20 [[jobs]] #5: the job has no 'prompt'",
        f"{path}:21 [[jobs]] #5: unknown key 'promt' (did you mean 'prompt'?)",
    ]
    assert int(info.value.exit_code) == 2
    assert fake.requests == []


def test_missing_key_is_one_config_problem(tmp_path: Path, fake: FakeGateway) -> None:
    env = env_for(fake)
    del env.environ["IMGGEN_API_KEY"]
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:3])
    with pytest.raises(manifest.ManifestError) as info:
        tasks.build(manifest.load(path), env)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:1 [[jobs]] #1: no API key for profile 'env'; export IMGGEN_API_KEY=..., or run "
        "`imggen config set profiles.env.api_key_env VAR` (also #2, #3)"
    ]
    assert int(info.value.exit_code) == 3


def test_429_pauses_every_worker_of_the_profile(fake: FakeGateway, tmp_path: Path) -> None:
    fake.latency = 0.3
    fake.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:3])
    began = time.time()
    summary = run_batch(path, env_for(fake), jobs=2)
    assert [r.status for r in summary.results] == ["saved"] * 3
    assert sorted(r.retries for r in summary.results) == [0, 0, 1]  # counted per job
    # The worker that was not refused finishes at ~0.3 s and starts the third job, which must
    # wait for the pause (until ~1 s) although it never saw the 429 itself.
    third = max((r for r in summary.results if r.retries == 0), key=lambda r: r.started)
    assert third.started + third.seconds - began >= 0.95


def test_foreign_file_refused_without_request_then_force_overwrites(
    fake: FakeGateway, tmp_path: Path
) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:2])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "00.png").write_bytes(png_bytes())  # a hand-made image
    summary = run_batch(path, env_for(fake))
    assert [r.status for r in summary.results] == ["failed", "saved"]
    assert summary.results[0].error is not None
    assert summary.results[0].error.message.endswith(
        "00.png exists and was not made by imggen; imggen never overwrites without --force"
    )
    assert chat_posts(fake) == [PROMPTS[1]]
    assert summary.exit_code == 2
    forced = run_batch(path, env_for(fake), force=True)
    assert [r.status for r in forced.results] == ["saved", "saved"]
    assert read_provenance(tmp_path / "out" / "00.png") is not None


def test_relative_paths_resolve_against_the_manifest_folder(
    fake: FakeGateway, tmp_path: Path
) -> None:
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "in.png").write_bytes(png_bytes(16, 16))
    path = folder / "edits.jsonl"
    path.write_text(
        json.dumps({"prompt": "make it blue", "output": "blue.png", "inputs": ["in.png"]}) + "\n"
    )
    summary = run_batch(path, env_for(fake))
    assert [r.paths for r in summary.results] == [[str(folder / "blue.png")]]
    (req,) = fake.requests_to("/chat/completions")
    assert [p["type"] for p in req.json["messages"][-1]["content"]] == ["text", "image_url"]


def test_progress_lines_go_to_stderr_one_per_job(fake: FakeGateway, tmp_path: Path) -> None:
    path = jobs_toml(tmp_path / "assets.toml", PROMPTS[:2])
    run_batch(path, env_for(fake))
    env = env_for(fake)
    run_batch(path, env)
    assert env.stderr is not None and env.stdout is not None
    assert env.stderr.getvalue().splitlines() == [
        "[1/2] skipped out/00.png (unchanged)",
        "[2/2] skipped out/01.png (unchanged)",
    ]
    assert env.stdout.getvalue() == ""


# -- the command, through CliRunner and a MockTransport ------------------------------------


@pytest.fixture
def images_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGGEN_BASE_URL", "https://gw.test/api/v1")
    monkeypatch.setenv("IMGGEN_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("IMGGEN_MODEL", "turing/gpt-image-2")
    monkeypatch.setenv("IMGGEN_DIALECT", "images")


def test_cli_batch_saves_prints_paths_and_writes_results(
    run: Any, gateway: Any, images_env: None, tmp_path: Path
) -> None:
    gateway.queue({"data": [{"b64_json": b64_png()}]}, {"data": [{"b64_json": b64_png()}]})
    jobs_toml(tmp_path / "assets.toml", ["a", "b"])
    r = run("batch", "assets.toml", "-j", "1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [str(tmp_path / "out/00.png"), str(tmp_path / "out/01.png")]
    lines = r.stderr.splitlines()
    assert lines[:3] == [
        "[1/2] saved out/00.png in " + lines[0].split(" in ")[1],
        "[2/2] saved out/01.png in " + lines[1].split(" in ")[1],
        "job\toutput\tstatus\tmodel\tretries\tseconds\tnote",
    ]
    assert lines[-1].startswith("2 jobs: 2 saved in ")
    assert lines[-1].endswith("; results in assets.results.jsonl")
    assert [(x["status"], x["model"]) for x in results_of(tmp_path / "assets.toml")] == [
        ("saved", "turing/gpt-image-2")
    ] * 2
    assert [json.loads(req.content)["prompt"] for req in gateway.requests] == ["a", "b"]


def test_cli_dry_run_lists_run_and_skip_without_a_key(
    run: Any, gateway: Any, images_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.queue({"data": [{"b64_json": b64_png()}]})
    path = jobs_toml(tmp_path / "assets.toml", ["a"])
    assert run("batch", "assets.toml").exit_code == 0
    jobs_toml(path, ["a", "b"])
    monkeypatch.delenv("IMGGEN_API_KEY")
    before = len(gateway.requests)
    r = run("batch", "assets.toml", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "skip\tout/00.png\tturing/gpt-image-2\tunchanged",
        "run\tout/01.png\tturing/gpt-image-2\tmissing",
    ]
    assert r.stderr.splitlines() == [
        "2 jobs: 1 would run, 1 would be skipped; nothing was sent",
        "cost of the jobs that would run: unknown (1 image, no list price known)",
    ]
    assert len(gateway.requests) == before


def test_cli_exit_code_is_the_worst_failure_and_json_lists_jobs(
    run: Any, gateway: Any, images_env: None, tmp_path: Path
) -> None:
    gateway.queue(
        httpx.Response(400, json={"error": {"message": "bad prompt"}}),
        {"data": [{"b64_json": b64_png()}]},
    )
    jobs_toml(tmp_path / "assets.toml", ["a", "b"])
    r = run("batch", "assets.toml", "-j", "1", "--json", "-q", "--results", "r.jsonl")
    assert r.exit_code == 4
    doc = json.loads(r.stdout)
    assert {k: doc[k] for k in ("saved", "skipped", "failed", "not_started", "exit_code")} == {
        "saved": 1,
        "skipped": 0,
        "failed": 1,
        "not_started": 0,
        "exit_code": 4,
    }
    assert doc["results_file"] == "r.jsonl"
    assert [j["status"] for j in doc["jobs"]] == ["failed", "saved"]
    assert r.stderr.splitlines() == [
        "error: [1/2] assets.toml:1 [[jobs]] #1: the gateway refused the request (HTTP 400): "
        "bad prompt (exit 4)"
    ]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_cli_shard_gets_its_own_results_file(
    run: Any, gateway: Any, images_env: None, tmp_path: Path
) -> None:
    gateway.queue(*[{"data": [{"b64_json": b64_png()}]} for _ in range(6)])
    jobs_toml(tmp_path / "assets.toml", PROMPTS[:6])
    r = run("batch", "assets.toml", "--shard", "2/3", "-q")
    assert r.exit_code == 0, r.stderr
    rows = (tmp_path / "assets.results-2-of-3.jsonl").read_text().splitlines()
    assert len(rows) == len(r.stdout.splitlines()) == len(gateway.requests)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-j", "0"], "error: --jobs 0: must be a whole number of at least 1"),
        (["--shard", "4/3"], "error: --shard '4/3': give I/N with 1 <= I <= N"),
        (["--retries", "-1"], "error: --retries -1: must be a whole number of at least 0"),
    ],
)
def test_cli_bad_flags_exit_2(
    run: Any, images_env: None, tmp_path: Path, args: list[str], message: str
) -> None:
    jobs_toml(tmp_path / "assets.toml", ["a"])
    r = run("batch", "assets.toml", *args)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == message


def test_interrupt_removes_spill_files_of_jobs_stalled_mid_body(tmp_path: Path) -> None:
    """A worker blocked in a read after its spill file exists cannot clean up; the main
    thread must (SPEC: Ctrl-C leaves nothing partial)."""
    import signal
    import threading

    release = threading.Event()
    started = threading.Event()

    def stalled_body():
        yield b'{"data": [{"b64_json": "' + b"A" * 300_000  # past the spill threshold
        started.set()
        release.wait(10)
        yield b'"}]}'

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=stalled_body()))
    environ = dict(os.environ)
    environ.update(
        IMGGEN_BASE_URL="https://gw.test/v1",
        IMGGEN_API_KEY=SENTINEL_KEY,
        IMGGEN_MODEL="turing/gpt-image-2",
    )
    env = Env(environ=environ, stderr=io.StringIO(), transport=transport, stderr_isatty=False)
    path = jobs_toml(tmp_path / "m.toml", ["a", "b"])
    todo = tasks.build(manifest.load(path), env, force=False)

    def interrupt() -> None:
        started.wait(10)
        time.sleep(0.2)
        signal.raise_signal(signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            batch.run_many(todo, env, UI(env), jobs=2)
        assert list((tmp_path / "out").glob(".imggen-*")) == []
        assert list((tmp_path / "out").glob("*.png")) == []
    finally:
        release.set()


def test_results_file_that_cannot_be_written_fails_the_run(fake: FakeGateway, tmp_path: Path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    env = env_for(fake)
    path = jobs_toml(tmp_path / "m.toml", ["a", "b", "c"])
    todo = tasks.build(manifest.load(path), env, force=False)
    results = batch.ResultsFile(Path("/dev/full"))
    try:
        with pytest.raises(batch.UsageError, match="cannot write the results file /dev/full"):
            batch.run_many(todo, env, UI(env), jobs=1, results=results)
    finally:
        results.close()


def test_clock_templates_are_refused_for_batch(fake: FakeGateway, tmp_path: Path) -> None:
    from imggen.errors import ImggenError

    path = tmp_path / "m.toml"
    path.write_text('[[jobs]]\nprompt = "a"\noutput = "out/{slug}-{time}.png"\n')
    with pytest.raises(ImggenError, match="changes with the clock"):
        tasks.build(manifest.load(path), env_for(fake), force=False)
    assert fake.requests == []


def test_key_command_runs_once_per_profile_however_many_models(
    fake: FakeGateway, tmp_path: Path, write_config
) -> None:
    import sys

    calls = tmp_path / "calls"
    cmd = [sys.executable, "-c", f"open({str(calls)!r}, 'a').write('x'); print({SENTINEL_KEY!r})"]
    write_config({"profiles": {"p": {"base_url": f"{fake.url}/v1", "api_key_cmd": cmd}}})
    path = tmp_path / "m.toml"
    path.write_text(
        '[defaults]\nprofile = "p"\n\n'
        + "".join(
            f'[[jobs]]\nprompt = "x"\nmodel = "{m}"\noutput = "out/{i}.png"\n\n'
            for i, m in enumerate(["a/one", "b/two", "c/three"])
        )
    )
    env = Env(environ=dict(os.environ), stderr=io.StringIO(), stderr_isatty=False)
    todo = tasks.build(manifest.load(path), env, force=False)
    assert [t.settings.model for t in todo] == ["a/one", "b/two", "c/three"]
    assert calls.read_text() == "x"


def test_batch_warns_about_a_readable_inline_key(fake: FakeGateway, tmp_path: Path, write_config):
    from typer.testing import CliRunner

    from imggen.cli.app import app

    config = write_config({"profiles": {"p": {"base_url": f"{fake.url}/v1", "api_key": "k"}}})
    config.chmod(0o644)
    path = tmp_path / "m.toml"
    path.write_text('[[jobs]]\nprompt = "x"\nmodel = "a/b"\noutput = "o.png"\n')
    env = Env(environ=dict(os.environ), stdin_isatty=False, stderr_isatty=False)
    r = CliRunner().invoke(app, ["batch", str(path), "--dry-run"], obj=env)
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(app, ["batch", str(path), "-q"], obj=env)
    assert "holds the inline api_key of profile 'p' and others can read it" in r.stderr


def test_type_change_leaves_no_stale_sibling_and_reruns_cost_nothing(
    fake: FakeGateway, tmp_path: Path
) -> None:
    env = env_for(fake)
    path = tmp_path / "m.toml"
    path.write_text('[[jobs]]\nprompt = "one"\noutput = "out/hero"\n')
    assert run_batch(path, env).count("saved") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hero.png"]

    fake.image_format = "webp"  # the changed job now comes back as another type
    path.write_text('[[jobs]]\nprompt = "two"\noutput = "out/hero"\n')
    assert run_batch(path, env).count("saved") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hero.webp", "hero.webp.json"]

    before = len(chat_posts(fake))
    assert run_batch(path, env).count("skipped") == 1
    assert len(chat_posts(fake)) == before


def test_a_multi_image_job_with_one_stale_image_is_made_again(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """Every image of a job must carry this very request to skip it: one image from an earlier
    version of the job (the other from this one) means the job changed, so it runs again."""
    path = tmp_path / "assets.toml"
    job = '[[jobs]]\nprompt = "{}"\noutput = "out/pair.png"\ncount = 2\n'
    path.write_text(job.format("old prompt"))
    assert run_batch(path, env_for(fake)).exit_code == 0
    stale = (tmp_path / "out" / "pair-2.png").read_bytes()
    path.write_text(job.format("new prompt"))
    assert run_batch(path, env_for(fake)).exit_code == 0
    (tmp_path / "out" / "pair-2.png").write_bytes(stale)  # image 1 new, image 2 from the old job
    asked = len(chat_posts(fake))

    summary = run_batch(path, env_for(fake))

    assert [(r.status, r.task.reason) for r in summary.results] == [
        ("saved", "changed since its image was made")
    ]
    assert len(chat_posts(fake)) == asked + 2
    for name in ("pair-1.png", "pair-2.png"):
        record = read_provenance(tmp_path / "out" / name) or {}
        assert record.get("prompt") == "new prompt"


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_minimal_provenance_still_resumes_and_keeps_no_prompt(
    fake: FakeGateway, tmp_path: Path, fmt: str
) -> None:
    """`provenance = "minimal"` keeps the prompt out of the files, yet a re-run still knows
    its own images (by the request's digest) and skips them."""
    fake.image_format = fmt
    path = jobs_toml(
        tmp_path / "assets.toml", PROMPTS[:2], '[defaults]\nprovenance = "minimal"\n\n'
    )
    run_batch(path, env_for(fake))
    before = len(fake.requests)
    summary = run_batch(path, env_for(fake))
    assert len(fake.requests) == before
    assert [r.status for r in summary.results] == ["skipped"] * 2
    for image in (tmp_path / "out").iterdir():
        assert b"picture number" not in image.read_bytes()
