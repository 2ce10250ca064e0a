"""Batch in CI as a user runs it: the installed imggen against the loopback fake with costs,
--max-cost (exit 8, then a re-run resumes), --report pages per shard, the page rendered in
headless Chromium, and the example GitHub workflow's own steps run against the fake."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.testing import FakeGateway, Fault
from tests.conftest import SENTINEL_KEY

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github-actions" / "assets.yml"


def gw_env(gw: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": f"{gw.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }


def write_manifest(path: Path, count: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    jobs = [{"prompt": f"tile {i}", "output": f"out/{i:02d}.png"} for i in range(count)]
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    return path


def results(path: Path) -> list[dict[str, Any]]:
    lines = (json.loads(x) for x in path.read_text().splitlines())
    return sorted(lines, key=lambda r: r["job"])


def test_the_readmes_max_cost_demo_exits_8_within_budget_and_the_next_run_resumes(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    """The README's demo, with its four workers: it spent 0.16 and exited 0 before."""
    fake.cost = 0.04
    write_manifest(tmp_path / "assets.jsonl", 5)
    args = ("batch", "assets.jsonl", "--max-cost", "0.1", "--report", "g.html")
    first = cli(*args, env=gw_env(fake))
    assert first.returncode == 8, first.stderr.decode()
    err = first.stderr.decode()
    assert "5 jobs: 2 saved, 3 skipped (3 not started: --max-cost reached; a re-run resumes)" in err
    assert "cost 0.08;" in err
    assert re.search(r"^\s*total\s+0\.08\s*$", err, re.M), err  # the table's total row
    lines = results(tmp_path / "assets.results.jsonl")
    assert (
        sorted((r["status"], r["cost"] or 0) for r in lines)
        == [("saved", 0.04)] * 2 + [("skipped", 0)] * 3
    )
    for r in lines:
        assert r["status"] == "saved" or "one more (about 0.04) would pass it" in r["reason"]
    assert "5 jobs" in (tmp_path / "g.html").read_text()

    again = cli(*args, "--json", env=gw_env(fake))
    assert again.returncode == 8, again.stderr.decode()
    doc = json.loads(again.stdout)
    assert (doc["saved"], doc["skipped"], doc["cost"], doc["exit_code"]) == (2, 3, 0.08, 8)
    last = cli(*args, "--json", env=gw_env(fake))
    assert last.returncode == 0, last.stderr.decode()
    assert len(fake.requests_to("/chat/completions")) == 5  # nothing paid twice


def test_max_cost_must_be_an_amount(cli: Cli, tmp_path: Path) -> None:
    write_manifest(tmp_path / "assets.jsonl", 1)
    r = cli("batch", "assets.jsonl", "--max-cost", "0")
    assert r.returncode == 2
    assert "--max-cost 0.0: give an amount above 0" in r.stderr.decode()


def test_each_shard_writes_its_own_page(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    write_manifest(tmp_path / "assets.jsonl", 6)
    made = []
    for shard in ("1/2", "2/2"):
        r = cli(
            "batch", "assets.jsonl", "--shard", shard, "--report", "site/g.html", env=gw_env(fake)
        )
        assert r.returncode == 0, r.stderr.decode()
        made += r.stdout.decode().splitlines()
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [
        "g-1-of-2.html",
        "g-2-of-2.html",
    ]
    pages = "".join(p.read_text() for p in (tmp_path / "site").iterdir())
    assert sorted(re.findall(r'<img src="([^"]+)"', pages)) == [
        f"../out/{i:02d}.png" for i in range(6)
    ]
    assert len(made) == 6


# ---- the page in a real browser -------------------------------------------------------------


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA PNG, unfiltered."""
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colours(png: bytes) -> dict[bytes, int]:
    """How many pixels (every 2nd of every 2nd row) have each RGB colour."""
    width, _, bpp, rows = decode_png(png)
    seen: dict[bytes, int] = {}
    for row in rows[::2]:
        for x in range(0, width * bpp, 2 * bpp):
            rgb = row[x : x + 3]
            seen[rgb] = seen.get(rgb, 0) + 1
    return seen


@pytest.mark.skipif(
    chromium() is None,
    reason="no headless browser: install Debian's chromium package (.ci/run does, as root)",
)
def test_gallery_renders_in_headless_chromium(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    fake.cost, fake.size = 0.02, (96, 96)
    fake.faults.append(Fault("status", status=400, body="no such model"))
    write_manifest(tmp_path / "assets.jsonl", 3)
    r = cli("batch", "assets.jsonl", "-j", "1", "--report", "site/gallery.html", env=gw_env(fake))
    assert r.returncode == 4, r.stderr.decode()  # the first job refused: a failed card too
    page = tmp_path / "site" / "gallery.html"
    shot = tmp_path / "shot.png"
    browser = subprocess.run(
        [
            str(chromium()),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,700",  # three cards a row: all in view
            "--virtual-time-budget=5000",  # let the lazy images load and decode
            "--run-all-compositor-stages-before-draw",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert shot.is_file(), browser.stderr.decode(errors="replace")[-2000:]
    seen = colours(shot.read_bytes())
    assert len(seen) > 10, "the screenshot is blank"
    # each saved image is one flat colour: seeing it proves the relative <img> loaded
    for name in ("01.png", "02.png"):
        _, _, _, rows = decode_png((tmp_path / "out" / name).read_bytes())
        assert seen.get(rows[0][:3], 0) > 100, f"{name} is not on the page"


# ---- the example workflow ------------------------------------------------------------------


def test_example_workflow_is_a_valid_github_workflow() -> None:
    # check-jsonschema ships GitHub's workflow schema: no network needed
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "check_jsonschema"]
    r = subprocess.run(
        [*cmd, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


def workflow() -> dict[str, Any]:
    from ruamel.yaml import YAML  # check-jsonschema's own YAML reader

    return dict(YAML(typ="safe").load(WORKFLOW.read_text()))


def test_example_workflow_shards_caches_and_uploads() -> None:
    wf = workflow()
    job = wf["jobs"]["images"]
    shards = job["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    assert '--shard "${{ matrix.shard }}/$SHARDS"' in steps["Generate"]["run"]
    restore, save = (
        steps["Restore images made by earlier runs"],
        steps["Save the images for the next run"],
    )
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@") and "always()" in save["if"]
    assert restore["with"]["path"] == save["with"]["path"] == "assets/out"
    upload = steps["Upload images, results and gallery"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    assert upload["with"]["path"].split() == ["assets/out/", "assets/*.results-*.jsonl", "reports/"]


def test_example_workflow_installs_imggen_from_a_pinned_commit_never_by_name(
    tmp_path: Path,
) -> None:
    """By name from the package index, the step failed (no such package) and would run
    whatever a later registrant of the name uploads, in a job holding the key."""
    steps = {s.get("name"): s for s in workflow()["jobs"]["images"]["steps"]}
    step = steps["Install imggen"]
    assert (
        'pip install "imggen @ git+https://github.com/${IMGGEN_REPO}@${IMGGEN_COMMIT}"'
        in (step["run"])
    )
    assert "vars." not in step["run"] and "IMGGEN_PIP_SPEC" not in WORKFLOW.read_text()

    def guard(commit: str) -> subprocess.CompletedProcess[bytes]:
        script = step["run"].replace("python -m pip install", "echo would install")
        env = {"PATH": os.environ["PATH"], "IMGGEN_REPO": "me/imggen", "IMGGEN_COMMIT": commit}
        return subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True)

    placeholder = guard(step["env"]["IMGGEN_COMMIT"])
    assert (
        placeholder.returncode == 1 and b"set IMGGEN_REPO and IMGGEN_COMMIT" in placeholder.stdout
    )
    assert guard("v0.1.0").returncode == 1  # a tag can move; a commit cannot
    pinned = guard("0123456789abcdef0123456789abcdef01234567")
    assert pinned.returncode == 0
    assert b"git+https://github.com/me/imggen@0123456789abcdef" in pinned.stdout


def test_example_workflow_steps_run_against_the_fake(fake: FakeGateway, tmp_path: Path) -> None:
    """Every machine's Generate and Count steps, run as the workflow's shell runs them: the
    shards cover the manifest once, each writes its page, and a re-run makes nothing."""
    wf = workflow()
    steps = {s.get("name"): s for s in wf["jobs"]["images"]["steps"]}
    manifest = tmp_path / wf["env"]["MANIFEST"]
    manifest.parent.mkdir()
    jobs = "".join(
        f'[[jobs]]\nprompt = "tile {i}"\noutput = "out/{i:02d}.png"\n\n' for i in range(9)
    )
    manifest.write_text(jobs)
    fake.cost = 0.01

    def run_step(name: str, shard: int, output: Path) -> subprocess.CompletedProcess[bytes]:
        script = steps[name]["run"].replace("${{ matrix.shard }}", str(shard))
        script = script.replace("${{ vars.IMGGEN_MAX_COST || '5' }}", "5")
        assert "${{" not in script, script
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update({k: str(v) for k, v in wf["env"].items()}, **gw_env(fake))
        env.update(
            OPENROUTER_API_KEY=SENTINEL_KEY,
            GITHUB_OUTPUT=str(output),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        )
        return subprocess.run(
            ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, timeout=120
        )

    def machine(shard: int) -> str:
        output = tmp_path / f"github-output-{shard}"
        output.write_text("")
        r = run_step("Generate", shard, output)
        assert r.returncode == 0, r.stderr.decode()
        assert run_step("Count the images made by this run", shard, output).returncode == 0
        return output.read_text()

    shards = wf["jobs"]["images"]["strategy"]["matrix"]["shard"]
    counts = [machine(s) for s in shards]
    assert sum(int(c.strip().removeprefix("count=")) for c in counts) == 9
    assert sorted(p.name for p in (tmp_path / "assets" / "out").iterdir()) == [
        f"{i:02d}.png" for i in range(9)
    ]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f"gallery-{s}-of-{len(shards)}.html" for s in shards
    ]
    assert [machine(s) for s in shards] == ["count=0\n"] * len(shards)  # nothing to save again
    assert len(fake.requests_to("/chat/completions")) == 9
