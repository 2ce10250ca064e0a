"""`imggen batch` as a user runs it: the installed command against the loopback fake gateway,
including SIGTERM/SIGINT mid-run (no partial files, whole results lines, the next run resumes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.testing import FakeGateway, Fault
from tests.conftest import SENTINEL_KEY, imggen_exe, png_bytes

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


def gw_env(gw: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": f"{gw.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }


def manifest(path: Path, count: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"prompt": f"tile {i}", "output": f"tiles/{i:02d}.png"}) + "\n"
            for i in range(count)
        )
    )
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_runs_then_rerun_sends_nothing(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.latency = 0.2
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "photo.png").write_bytes(png_bytes(32, 32))
    (tmp_path / "art" / "assets.toml").write_text(
        """
[defaults]
aspect = "1:1"

[[jobs]]
prompt = "a red fox"
output = "out/fox.png"

[[jobs]]
prompt = "two owls"
output = "out/owl.png"
n = 2

[[jobs]]
prompt = "make it night"
output = "out/night.png"
inputs = ["photo.png"]
"""
    )
    first = cli("batch", "art/assets.toml", "-j", "3", env=gw_env(fake))
    assert first.returncode == 0, first.stderr.decode()
    out = tmp_path / "art" / "out"
    assert sorted(first.stdout.decode().splitlines()) == [
        str(out / "fox.png"),
        str(out / "night.png"),
        str(out / "owl-1.png"),
        str(out / "owl-2.png"),
    ]
    lines = results(tmp_path / "art" / "assets.results.jsonl")
    assert [
        (r["job"], r["status"], r["output"]) for r in sorted(lines, key=lambda r: r["job"])
    ] == [
        (1, "saved", "out/fox.png"),
        (2, "saved", "out/owl.png"),
        (3, "saved", "out/night.png"),
    ]
    sent = len(fake.requests)
    again = cli("batch", "art/assets.toml", env=gw_env(fake))
    assert again.returncode == 0, again.stderr.decode()
    assert len(fake.requests) == sent
    assert again.stdout == b""
    assert again.stderr.decode().splitlines()[:3] == [
        "[1/3] skipped art/out/fox.png (unchanged)",
        "[2/3] skipped art/out/owl-1.png, art/out/owl-2.png (unchanged)",
        "[3/3] skipped art/out/night.png (unchanged)",
    ]


def test_bad_manifest_exits_2_listing_every_problem(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "m.jsonl").write_text(
        '{"prompt": "a", "output": "a.png", "size": "9K"}\n'
        '{"prompt": "b", "output": "b.png", "colour": "red"}\n'
        '{"prompt": "c", "output": "c.png"}\n'
    )
    r = cli("batch", "m.jsonl", env=gw_env(fake))
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        "error: manifest m.jsonl has 2 problems; nothing was sent:",
        "  m.jsonl:1: size '9K': not a size; give a tier (512, 1K, 2K, 4K), pixels WxH or auto",
        "  m.jsonl:2: unknown key 'colour'; known keys: prompt, output, profile, model, aspect, "
        "size, count, n, format, quality, background, seed, refs, inputs, mask, stream, partials, "
        "save_partials, params, provenance, timeout, retries",
        "hint: fix these and run again",
    ]
    assert fake.requests == []
    assert not (tmp_path / "m.results.jsonl").exists()


def test_failed_job_sets_the_exit_code_others_are_saved(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.faults.append(Fault("status", status=503))
    manifest(tmp_path / "m.jsonl", 4)
    r = cli("batch", "m.jsonl", "--retries", "0", env=gw_env(fake))
    assert r.returncode == 5
    assert len(r.stdout.decode().splitlines()) == 3
    statuses = sorted(x["status"] for x in results(tmp_path / "m.results.jsonl"))
    assert statuses == ["failed", "saved", "saved", "saved"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupt_leaves_whole_files_and_lines_and_next_run_resumes(
    fake: FakeGateway, cli: Cli, tmp_path: Path, signum: int, code: int
) -> None:
    fake.latency = 0.2
    for _ in range(2):  # replies that trickle in (~1 s): jobs caught mid-body by the signal
        fake.faults.append(Fault("slow", seconds=0.002))
    manifest(tmp_path / "m.jsonl", 10)
    env = {**os.environ, **gw_env(fake)}
    proc = subprocess.Popen(
        [*imggen_exe(), "batch", "m.jsonl", "-j", "3"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        results_file = tmp_path / "m.results.jsonl"
        until = time.monotonic() + 20
        while time.monotonic() < until and not (
            results_file.exists() and results_file.read_text().count("\n") >= 1
        ):
            time.sleep(0.05)
        time.sleep(0.1)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == code, err.decode()
    assert err.decode().splitlines()[-1].startswith("error: interrupted by SIG")
    assert list(tmp_path.rglob(".imggen-*")) == []
    done = results(results_file)
    assert 1 <= len(done) < 10
    assert all(Path(p).is_file() for r in done for p in r["paths"])
    fake.faults.clear()
    finished = len(list((tmp_path / "tiles").glob("*.png")))
    sent = len(fake.requests)
    resumed = cli("batch", "m.jsonl", env=gw_env(fake))
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert len(fake.requests) - sent == 10 - finished
    assert sorted(r["status"] for r in results(results_file)) == sorted(
        ["skipped"] * finished + ["saved"] * (10 - finished)
    )
