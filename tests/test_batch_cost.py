"""Batch costs: each job's gateway-reported cost in the results, the run's total, and
--max-cost, which starts no job once the run's reported cost reaches it (exit 8; the next run
resumes the jobs left)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from imggen.batch import manifest, plan
from imggen.batch import run as batch
from imggen.console import UI
from imggen.env import Env
from imggen.testing import FakeGateway, Fault
from tests.conftest import SENTINEL_KEY


def env_for(gw: FakeGateway) -> Env:
    environ = dict(os.environ)
    environ.update(
        IMGGEN_BASE_URL=f"{gw.url}/v1",
        IMGGEN_API_KEY=SENTINEL_KEY,
        IMGGEN_MODEL="google/gemini-2.5-flash-image",
    )
    return Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=environ, stdin_isatty=False)


def write_jobs(path: Path, count: int, n: dict[int, int] | None = None) -> Path:
    n = n or {}
    path.write_text(
        "".join(
            json.dumps({"prompt": f"tile {i}", "output": f"out/{i:02d}.png", "n": n.get(i, 1)})
            + "\n"
            for i in range(count)
        )
    )
    return path


def run(path: Path, gw: FakeGateway, **kw: Any) -> batch.Summary:
    env = env_for(gw)
    todo = plan.build(manifest.load(path), env)
    results = batch.ResultsFile(path.with_suffix(".results.jsonl"))
    try:
        return batch.run_many(todo, env, UI(env), results=results, **kw)
    finally:
        results.close()


def lines(path: Path) -> list[dict[str, Any]]:
    text = path.with_suffix(".results.jsonl").read_text()
    return sorted((json.loads(x) for x in text.splitlines()), key=lambda r: r["job"])


def test_each_jobs_cost_is_recorded_and_totalled(fake: FakeGateway, tmp_path: Path) -> None:
    fake.cost = 0.02
    path = write_jobs(tmp_path / "assets.jsonl", 3, n={1: 2})
    summary = run(path, fake)
    assert summary.exit_code == 0
    # job 2 made two images, each reported by its own reply
    assert [(r["job"], r["cost"], r["currency"]) for r in lines(path)] == [
        (1, 0.02, None),
        (2, 0.04, None),
        (3, 0.02, None),
    ]
    assert (summary.cost, summary.currency) == (0.08, None)


def test_no_cost_reported_is_none_not_zero(fake: FakeGateway, tmp_path: Path) -> None:
    path = write_jobs(tmp_path / "assets.jsonl", 2)
    summary = run(path, fake, max_cost=0.01)  # a budget cannot stop what is never priced
    assert [r.status for r in summary.results] == ["saved", "saved"]
    assert summary.cost is None and summary.exit_code == 0
    assert [r["cost"] for r in lines(path)] == [None, None]


def test_max_cost_starts_no_job_once_reached_then_the_next_run_resumes(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.cost = 0.1
    path = write_jobs(tmp_path / "assets.jsonl", 5)
    summary = run(path, fake, jobs=1, max_cost=0.25)
    # 0.1 and 0.2 are within the budget; a third job (about 0.1 more) would pass it
    assert [r.status for r in summary.results] == ["saved"] * 2 + ["skipped"] * 3
    assert len(fake.requests_to("/chat/completions")) == 2
    assert (summary.cost, summary.over_budget, summary.exit_code) == (0.2, 3, 8)
    reason = "--max-cost 0.25: 0.2 spent, 0 on jobs running; one more (about 0.1) would pass it"
    assert [(r["status"], r["reason"], r["paths"]) for r in lines(path)[2:]] == [
        ("skipped", reason, []),
    ] * 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00.png", "01.png"]

    again = run(path, fake, jobs=1, max_cost=0.25)
    assert [(r.status, r.reason) for r in again.results] == [("skipped", "unchanged")] * 2 + [
        ("saved", "missing")
    ] * 2 + [("skipped", reason)]
    assert (again.cost, again.exit_code) == (0.2, 8)
    assert len(fake.requests_to("/chat/completions")) == 4


def test_jobs_in_flight_finish_when_the_budget_is_reached(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.cost, fake.latency = 0.5, 0.3
    path = write_jobs(tmp_path / "assets.jsonl", 12)
    summary = run(path, fake, jobs=4, max_cost=0.1)
    # the first job runs alone (nothing to expect a cost from yet), then nothing fits
    assert summary.count("saved") == 1
    assert summary.count("skipped") == 11 == summary.over_budget
    assert summary.exit_code == 8


def test_workers_reserve_the_expected_cost_so_the_readme_demo_cannot_overspend(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """The README's demo: 0.04 an image, --max-cost 0.1, four workers. Before, all four
    started before any cost came in and 0.16 was spent with exit 0."""
    fake.cost, fake.latency = 0.04, 0.2
    path = write_jobs(tmp_path / "assets.jsonl", 6)
    summary = run(path, fake, jobs=4, max_cost=0.1)
    assert summary.cost == 0.08 and summary.cost <= 0.1
    assert (summary.count("saved"), summary.over_budget, summary.exit_code) == (2, 4, 8)
    assert len(fake.requests_to("/chat/completions")) == 2


@pytest.mark.parametrize("cost", [float("nan"), "nan", -1.0, "-inf", float("inf"), "lots"])
def test_a_cost_that_cannot_be_counted_stops_the_run_as_over_budget(
    fake: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cost: Any
) -> None:
    """With a cap of 2, one reply costing NaN (or "nan", -1, "-inf") let all 10 jobs run."""
    monkeypatch.setattr(fake, "usage", lambda base, images: {**base, "cost": cost})
    path = write_jobs(tmp_path / "assets.jsonl", 10)
    summary = run(path, fake, jobs=2, max_cost=2.0)
    assert summary.count("saved") == 1 and summary.over_budget == 9
    assert summary.exit_code == 8
    assert len(fake.requests_to("/chat/completions")) == 1
    first, second = lines(path)[:2]
    assert first["cost"] is None and first["cost_unusable"]
    assert "cannot be counted; stopped as over budget" in second["reason"]
    assert any("not an amount" in w for w in first["warnings"])


def test_without_a_budget_an_unusable_cost_is_warned_and_not_counted(
    fake: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "usage", lambda base, images: {**base, "cost": float("nan")})
    path = write_jobs(tmp_path / "assets.jsonl", 3)
    summary = run(path, fake, jobs=2)
    assert summary.count("saved") == 3 and summary.cost is None and summary.exit_code == 0


def test_a_failure_outranks_the_budget_exit_code(fake: FakeGateway, tmp_path: Path) -> None:
    fake.cost = 1.0
    fake.faults.append(Fault("status", status=400, body="no such model"))
    path = write_jobs(tmp_path / "assets.jsonl", 4)
    summary = run(path, fake, jobs=1, max_cost=1.0)
    assert [r.status for r in summary.results] == ["failed", "saved", "skipped", "skipped"]
    assert summary.exit_code == 4


def test_fail_fast_leaves_the_jobs_waiting_on_the_budget_not_started(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """The first job fails while the others wait for a first cost: they are not started,
    not "over budget"."""
    fake.latency = 0.2
    fake.faults.append(Fault("status", status=400, body="no such model"))
    path = write_jobs(tmp_path / "assets.jsonl", 4)
    summary = run(path, fake, jobs=4, max_cost=1.0, fail_fast=True)
    assert [r.status for r in summary.results] == ["failed"]
    assert (summary.over_budget, summary.not_started, summary.exit_code) == (0, 3, 4)
