"""Batch runs of thousands of jobs stay readable: one settings problem shared by every job
names a few, not ten thousand; the summary table shows at most SUMMARY_ROWS jobs, failed ones
first, and says the results file has the rest. And they stay fast: what every job shares is
worked out once (benchmarks/scale.py measures the time and memory)."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from imggen.batch import manifest, plan
from imggen.batch import run as batch
from imggen.cli import batch as command
from imggen.errors import GatewayFailed
from imggen.files import targets
from imggen.files.scratch import Scratch
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


# -- what made 10,000 jobs slow: work per job that one pass can do once ---------------------


def test_a_jobs_temp_files_go_without_listing_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of 10,000 jobs listed the folder of 10,000 images when it ended: the run's CPU grew
    with the square of its jobs. A file whose creation was recorded needs no search."""
    listed: list[Path] = []
    real_glob = Path.glob

    def glob(self: Path, pattern: str) -> Any:
        listed.append(self)
        return real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", glob)
    scratch = Scratch()
    kept, out = scratch.new(tmp_path)
    out.close()
    gone, out = scratch.new(tmp_path)
    out.close()
    scratch.release(kept)
    scratch.cleanup()
    assert listed == []
    assert sorted(tmp_path.iterdir()) == [kept]


def test_a_temp_file_whose_creation_was_cut_short_is_still_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between the file's creation and its recording: cleanup searches that folder."""
    real = tempfile.mkstemp

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        fd, _ = real(*args, **kwargs)
        os.close(fd)
        raise KeyboardInterrupt

    scratch = Scratch()
    monkeypatch.setattr(tempfile, "mkstemp", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scratch.new_fd(tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    scratch.cleanup()
    assert list(tmp_path.iterdir()) == []


def test_the_config_file_is_read_once_per_profile_not_once_per_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imggen.profiles import config

    written = Path(os.environ["IMGGEN_CONFIG"])
    written.parent.mkdir(parents=True)
    written.write_text('[profiles.x]\nmodel = "m"\n')
    reads: list[Path] = []
    real = config.load

    def load(path: Path) -> Any:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(config, "load", load)
    _, tasks = planned(tmp_path, 300)
    assert len(tasks) == 300 and all(t.plan.signer is None for t in tasks)
    assert 1 <= reads.count(written) <= 3  # settings, and the first job's plan: not 300 more


def test_planning_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    assert gc.isenabled()
    planned(tmp_path, 3)
    assert gc.isenabled()
    gc.disable()
    try:
        planned(tmp_path, 3, "n.jsonl")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_outputs_inside_the_folder_as_pathlib_says(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / "out").mkdir(parents=True)
    (folder / "away").symlink_to(tmp_path)
    real: dict[str, str] = {}
    for name, inside in [
        ("out/a.png", True),
        ("a.png", True),
        ("out/../a.png", True),
        ("out/../../a.png", False),
        ("../projectx/a.png", False),
        ("away/a.png", False),  # a link that leads out
    ]:
        assert plan._inside(folder / name, str(folder), real) is inside, name
    assert plan._inside(Path("/a/b.png"), "/", {}) is True


def test_the_folder_listing_says_no_only_for_files_that_are_not_there(tmp_path: Path) -> None:
    (tmp_path / "Hero.PNG").write_bytes(b"x")
    (tmp_path / "caf\u00e9.png").write_bytes(b"x")
    with targets.listed() as maybe:
        pass
    assert maybe(str(tmp_path / "Hero.PNG"))
    assert maybe(str(tmp_path / "hero.png"))  # a case-blind folder would have it
    assert maybe(str(tmp_path / "cafe\u0301.png"))  # and a normalisation-blind one
    assert not maybe(str(tmp_path / "other.png"))
    assert not maybe(str(tmp_path / "none" / "a.png"))  # no such folder
    (tmp_path / "sub").mkdir()
    assert maybe(f"{tmp_path}/sub/..") and maybe(f"{tmp_path}/.")  # no listing holds these


def test_a_profiles_gateway_is_made_once_per_model(tmp_path: Path) -> None:
    _, tasks = planned(tmp_path, 5)
    assert len({id(t.plan.gateway) for t in tasks}) == 1
    s = tasks[0].settings
    assert s.gateway() is s.gateway() and s.gateway("other/model").model == "other/model"
    assert dataclasses.replace(s, model="x").gateway().model == "x"


def test_the_dry_runs_paths_read_as_console_shown_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imggen.console import shown

    (tmp_path / "here" / "out").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    show = command._shower()
    here = str(tmp_path / "here")
    for path in [
        f"{here}/out/a.png",
        f"{here}/a.png",
        f"{tmp_path}/elsewhere/a.png",
        f"{here}/../here/out/b.png",
        f"{here}/out/..x.png",
        f"{here}/./out/c.png",
        f"{here}x/a.png",
        "rel/a.png",
        "/a.png",
    ]:
        assert show(path) == shown(path), path


def test_an_output_that_is_a_folder_is_still_found_from_the_listing(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"prompt": "x", "output": "shots"})
        + "\n"
        + json.dumps({"prompt": "y", "output": "new.png"})
        + "\n"
    )
    with pytest.raises(manifest.ManifestError) as info:
        plan.build(manifest.load(tmp_path / "m.jsonl"), offline_env(), need_key=False)
    assert "output 'shots' is a folder; name a file" in str(info.value)
    assert "new.png" not in str(info.value)
