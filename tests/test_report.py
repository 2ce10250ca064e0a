"""The batch gallery (--report): one self-contained page, everything escaped, images linked
by relative path and lazy-loaded, failed jobs first, totals on top, written atomically."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from imggen.batch import report
from imggen.batch import run as batch
from imggen.errors import UsageError
from imggen.testing import FakeGateway, Fault
from tests.test_batch_cost import run

HOSTILE = "a <script>alert(1)</script> & \"quoted\" 'fox'"


def hostile_batch(folder: Path) -> Path:
    jobs = [
        {"prompt": "refused", "output": "out/refused.png"},  # the fake's fault hits the first
        {"prompt": "plain", "output": "out/plain.png"},
        {"prompt": HOSTILE, "output": "out/we <b>ird #1.png"},
        {"prompt": "two owls", "output": "out/owl.png", "n": 2},
    ]
    path = folder / "assets.jsonl"
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    return path


@pytest.fixture
def summary(fake: FakeGateway, tmp_path: Path) -> batch.Summary:
    fake.cost = 0.03
    fake.faults.append(Fault("status", status=400, body="<b>no</b> such model"))
    return run(hostile_batch(tmp_path), fake, jobs=1)


def test_page_escapes_everything_and_loads_nothing(summary: batch.Summary, tmp_path: Path) -> None:
    page = report.render(summary, tmp_path / "assets.jsonl", tmp_path)
    assert "<script" not in page and "<b>" not in page
    assert html.escape(HOSTILE) in page
    assert "&lt;b&gt;no&lt;/b&gt; such model" in page  # the gateway's words, escaped too
    # nothing from the network: no scripts, no stylesheets, no absolute URLs
    assert "<link" not in page and "://" not in page
    assert 'http-equiv="Content-Security-Policy"' in page


def test_images_are_relative_lazy_and_one_per_image(summary: batch.Summary, tmp_path: Path) -> None:
    page = report.render(summary, tmp_path / "assets.jsonl", tmp_path)
    srcs = re.findall(r'<img src="([^"]*)" loading="lazy" width="(\d+)" height="(\d+)"', page)
    assert sorted(s for s, _, _ in srcs) == [
        "out/owl-1.png",
        "out/owl-2.png",
        "out/plain.png",
        "out/we%20%3Cb%3Eird%20%231.png",
    ]
    assert {(w, h) for _, w, h in srcs} == {("1024", "1024")}
    # from a page in another folder the links climb to the images
    deeper = report.render(summary, tmp_path / "assets.jsonl", tmp_path / "site" / "ci")
    assert 'src="../../out/plain.png"' in deeper


def test_failed_jobs_come_first_and_totals_sit_on_top(
    summary: batch.Summary, tmp_path: Path
) -> None:
    summary.results.reverse()  # whatever order they finished in
    page = report.render(summary, tmp_path / "assets.jsonl", tmp_path)
    assert re.findall(r'<p class="prompt">(plain|two owls|refused)</p>', page) == [
        "refused",
        "plain",
        "two owls",
    ]
    statuses = re.findall(r'<article class="(\w+)">', page)
    assert statuses == ["failed", "saved", "saved", "saved"]
    first = page.index("<article")
    assert page.index("exit 4: the gateway refused the request") > first
    totals = re.search(r'<p class="totals">(.*?)</p>', page)
    assert totals is not None and totals.start() < first
    spans = re.findall(r"<span>([^<]*)</span>", totals[1])
    assert spans[:5] == ["4 jobs", "1 failed", "3 saved", "4 images made", "cost 0.12"]
    assert "1024×1024, 1024×1024" in page  # the pixels of a job's every image
    assert "<dt>cost</dt><dd>0.06</dd>" in page  # the two owls


def test_budget_skips_are_said_on_the_page(fake: FakeGateway, tmp_path: Path) -> None:
    fake.cost = 1.0
    summary = run(hostile_batch(tmp_path), fake, jobs=1, max_cost=1.0)
    page = report.render(summary, tmp_path / "assets.jsonl", tmp_path)
    assert "3 jobs not started: --max-cost reached" in page
    assert page.count("skipped (--max-cost 1 reached: 1 spent)") == 3


def test_each_shard_writes_its_own_page() -> None:
    assert report.page_path(Path("ci/gallery.html"), None) == Path("ci/gallery.html")
    assert report.page_path(Path("ci/gallery.html"), (2, 3)) == Path("ci/gallery-2-of-3.html")


def test_page_is_written_atomically_over_the_old_one(
    summary: batch.Summary, tmp_path: Path
) -> None:
    target = tmp_path / "site" / "gallery.html"
    target.parent.mkdir()
    target.write_text("old")
    report.write(target, summary, tmp_path / "assets.jsonl", None)
    assert target.read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in target.parent.iterdir()) == ["gallery.html"]  # no temp left


def test_unwritable_page_is_a_usage_error(summary: batch.Summary, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write the report"):
        report.write(blocker / "gallery.html", summary, tmp_path / "assets.jsonl", None)
