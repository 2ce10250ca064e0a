"""Batch runs of thousands of jobs stay readable: one settings problem shared by every job
names a few, not ten thousand; the summary table shows at most SUMMARY_ROWS jobs, failed ones
first, and says the results file has the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imggen.batch import manifest, plan
from imggen.batch import run as batch
from imggen.cli import batch as command
from imggen.errors import GatewayFailed
from tests.test_report_pages import offline_env, planned


def test_a_problem_every_job_shares_names_ten_of_them(tmp_path: Path) -> None:
    env = offline_env()
    del env.environ["IMGGEN_API_KEY"]
    path = tmp_path / "m.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": "x", "output": f"o/{i}.png"}) + "\n" for i in range(30))
    )
    with pytest.raises(manifest.ManifestError) as info:
        plan.build(manifest.load(path), env)
    text = str(info.value)
    assert "(also #2, #3, #4, #5, #6, #7, #8, #9, #10, #11 and 19 more)" in text
    assert "#12" not in text


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.lines: list[str] = []

    def summary(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        self.rows = rows

    def info(self, line: str) -> None:
        self.lines.append(line)


def test_the_summary_table_of_a_big_run_shows_100_jobs_failed_first(tmp_path: Path) -> None:
    _, tasks = planned(tmp_path, 150)
    results = [batch.JobResult(t, "skipped") for t in tasks]
    for k in (7, 120, 149):
        results[k] = batch.JobResult(tasks[k], "failed", error=GatewayFailed("HTTP 500"))
    ui: Any = Table()
    command._summarise(ui, batch.Summary(results, 150, 1.0), tmp_path / "m.results.jsonl")
    assert len(ui.rows) == command.SUMMARY_ROWS == 100
    shown = [int(row[0]) for row in ui.rows]
    assert {8, 121, 150} <= set(shown) and shown == sorted(shown)
    assert ui.lines[0] == (
        "the table shows 100 of 150 jobs (failed ones first); the results file has every one"
    )


def test_a_small_run_lists_every_job(tmp_path: Path) -> None:
    _, tasks = planned(tmp_path, 5)
    ui: Any = Table()
    command._summarise(
        ui, batch.Summary([batch.JobResult(t, "saved") for t in tasks], 5, 1.0), tmp_path / "r"
    )
    assert len(ui.rows) == 5 and not ui.lines[0].startswith("the table shows")
