"""The gallery at scale and at the edges: pages of 200 cards with links between them, lazy
images, counts in words that agree with their numbers, a page that says why a shard has no
jobs, names that are not UTF-8, and one gallery of a sharded run."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.batch import manifest, plan, report
from imggen.batch import run as batch
from imggen.env import Env
from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


def offline_env() -> Env:
    environ = dict(os.environ)
    environ.update(
        IMGGEN_BASE_URL="http://127.0.0.1:9/v1",
        IMGGEN_API_KEY=SENTINEL_KEY,
        IMGGEN_MODEL="google/gemini-2.5-flash-image",
    )
    return Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=environ, stdin_isatty=False)


def planned(folder: Path, count: int, name: str = "m.jsonl") -> tuple[Path, list[plan.Task]]:
    path = folder / name
    path.write_text(
        "".join(
            json.dumps({"prompt": f"tile {i}", "output": f"out/{i:04d}.png"}) + "\n"
            for i in range(count)
        )
    )
    return path, plan.build(manifest.load(path), offline_env(), need_key=False)


def summary_of(tasks: list[plan.Task], status: str = "saved") -> batch.Summary:
    results = [
        batch.JobResult(t, status, paths=[str(t.plan.targets[0].path)], seconds=1.0) for t in tasks
    ]
    return batch.Summary(results, len(results), 12.0)


def test_a_big_run_is_paged_200_cards_a_page_with_links_between(tmp_path: Path) -> None:
    path, tasks = planned(tmp_path, 450)
    pages = report.write(tmp_path / "g.html", summary_of(tasks), path, None)
    assert [p.name for p in pages] == ["g.html", "g-page-2.html", "g-page-3.html"]
    texts = [p.read_text() for p in pages]
    assert [t.count("<article") for t in texts] == [200, 200, 50]
    for k, text in enumerate(texts, 1):
        imgs = re.findall(r"<img [^>]*>", text)
        assert imgs and all('loading="lazy"' in i and 'decoding="async"' in i for i in imgs)
        assert f"page {k} of 3" in text
        assert f"<b>{k}</b>" in text  # this page, not a link to itself
        assert set(re.findall(r'<a href="(g[^"]*\.html)"', text)) == {
            p.name for p in pages if p != pages[k - 1]
        }
        assert "450 jobs" in text  # every page carries the run's totals
    assert "out/0000.png" in texts[0] and "out/0449.png" in texts[2]


def test_a_small_run_is_one_page_without_links(tmp_path: Path) -> None:
    path, tasks = planned(tmp_path, 3)
    pages = report.write(tmp_path / "g.html", summary_of(tasks), path, None)
    assert pages == [tmp_path / "g.html"]
    assert "<nav" not in pages[0].read_text()


def test_counts_agree_with_their_numbers(tmp_path: Path) -> None:
    path, tasks = planned(tmp_path, 1)
    page = report.render(summary_of(tasks), path, tmp_path)
    spans = re.findall(r"<span>([^<]*)</span>", page)
    assert spans[:3] == ["1 job", "1 saved", "1 image made"]


def test_an_empty_shard_says_why_it_has_no_jobs(tmp_path: Path) -> None:
    path, _ = planned(tmp_path, 1)
    page = report.render(batch.Summary([], 0, 0.0), path, tmp_path, (2, 2))
    assert "No jobs in shard 2 of 2 (the manifest's jobs all fell to the other shards)." in page
    assert "0 jobs" in page and "0 images made" in page
    page = report.render(batch.Summary([], 0, 0.0), path, tmp_path)
    assert "No jobs in this run." in page


def test_names_that_are_not_utf8_are_shown_and_linked_not_a_crash(tmp_path: Path) -> None:
    odd = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8
    (tmp_path / odd).mkdir()
    path = tmp_path / odd / f"{odd}.jsonl"
    path.write_text(json.dumps({"prompt": "x", "output": f"{odd}.png"}) + "\n")
    tasks = plan.build(manifest.load(path), offline_env(), need_key=False)
    pages = report.write(tmp_path / "g.html", summary_of(tasks), path, None)
    text = pages[0].read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert "imggen batch: caf\ufffd.jsonl" in text
    assert 'src="caf%E9/caf%E9.png"' in text  # the file's own bytes, percent-encoded


def gw_env(gw: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": gw.base_url,
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }


def test_one_gallery_of_a_sharded_run(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.cost = 0.25
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps({"prompt": f"p{i}", "output": f"out/{i}.png"}) + "\n" for i in range(6))
    )
    for shard in ("1/2", "2/2"):
        r = cli("batch", "m.jsonl", "--shard", shard, env=gw_env(fake))
        assert r.returncode == 0, r.stderr.decode()
    sent = len(fake.requests)
    r = cli("batch", "m.jsonl", "--report", "all.html", env=gw_env(fake))
    assert r.returncode == 0, r.stderr.decode()
    assert len(fake.requests) == sent  # nothing paid twice: every image is there
    page = (tmp_path / "all.html").read_text()
    assert len(re.findall(r"<img ", page)) == 6
    made_by = re.findall(r'<div class="status">saved \(by shard (\d)/2\)</div>', page)
    assert len(made_by) == 6 and set(made_by) == {"1", "2"}
    assert "6 jobs made by earlier runs (shards), cost 1.5" in page
    assert "<dt>cost</dt><dd>0.25</dd>" in page


@pytest.mark.parametrize("lines", [["not json", '{"job": 1, "status": "saved"}'], []])
def test_shard_records_pass_over_broken_lines(tmp_path: Path, lines: list[str]) -> None:
    (tmp_path / "m.results-1-of-2.jsonl").write_text("".join(x + "\n" for x in lines))
    (tmp_path / "m.results-x-of-2.jsonl").write_text('{"job": 2, "status": "saved"}\n')
    found = report.shard_records(tmp_path / "m.jsonl")
    assert found == ({1: {"job": 1, "status": "saved", "run": "shard 1/2"}} if lines else {})
