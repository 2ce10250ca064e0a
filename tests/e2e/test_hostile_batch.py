"""issue 14, batch end to end: the installed imggen touches only what it made, confines a
manifest's outputs to its folder, and two runs of one manifest never pay a job twice."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imggen.files.provenance import read_provenance
from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY
from tests.e2e import RUN_TIMEOUT, start, wait_for

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


def gw_env(gw: FakeGateway) -> dict[str, str]:
    return {
        "IMGGEN_BASE_URL": f"{gw.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }


def jobs(path: Path, *rows: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def prompts(gw: FakeGateway) -> list[str]:
    return [r.json["messages"][-1]["content"] for r in gw.requests_to("/chat/completions")]


def test_batch_never_replaces_an_image_generate_made(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    made = cli("generate", "the real logo", "-o", "logo.png", env=gw_env(fake))
    assert made.returncode == 0, made.stderr.decode()
    before = (tmp_path / "logo.png").read_bytes()
    m = jobs(tmp_path / "a.jsonl", {"prompt": "another logo", "output": "logo.png"})

    done = cli("batch", str(m), env=gw_env(fake))

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "logo.png exists and was not made by this job" in err and "--force" in err
    assert (tmp_path / "logo.png").read_bytes() == before
    assert "another logo" not in json.dumps(prompts(fake))
    forced = cli("batch", str(m), "--force", env=gw_env(fake))
    assert forced.returncode == 0, forced.stderr.decode()
    record = read_provenance(tmp_path / "logo.png")
    assert record is not None and record["batch"] == {"manifest": "a.jsonl", "output": "logo.png"}


def test_batch_never_deletes_a_sibling_of_another_type(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.image_format = "jpeg"
    made = cli("generate", "a hero", "-o", "hero.jpg", env=gw_env(fake))
    assert made.returncode == 0, made.stderr.decode()
    fake.image_format = "png"
    m = jobs(tmp_path / "a.jsonl", {"prompt": "another hero", "output": "hero"})

    done = cli("batch", str(m), env=gw_env(fake))

    assert done.returncode == 2, done.stderr.decode()
    assert "--force" in done.stderr.decode()
    assert sorted(p.name for p in tmp_path.glob("hero*")) == ["hero.jpg", "hero.jpg.json"]


def test_another_manifests_image_is_not_this_jobs(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    first = jobs(tmp_path / "a.jsonl", {"prompt": "a fox", "output": "art/fox.png"})
    second = jobs(tmp_path / "b.jsonl", {"prompt": "a wolf", "output": "art/fox.png"})
    assert cli("batch", str(first), env=gw_env(fake)).returncode == 0
    done = cli("batch", str(second), env=gw_env(fake))
    assert done.returncode == 2, done.stderr.decode()
    # its own job, changed, is regenerated over its own image
    jobs(first, {"prompt": "a red fox", "output": "art/fox.png"})
    again = cli("batch", str(first), env=gw_env(fake))
    assert again.returncode == 0, again.stderr.decode()
    assert prompts(fake) == ["a fox", "a red fox"]


def test_outputs_stay_in_the_manifests_folder(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    folder = tmp_path / "project"
    folder.mkdir()
    m = jobs(
        folder / "a.jsonl",
        {"prompt": "one", "output": "../escaped.png"},
        {"prompt": "two", "output": str(tmp_path / "abs.png")},
        {"prompt": "three", "output": "~/tilde.png"},
        {"prompt": "four", "output": "art/sub/../ok.png"},
    )
    env = {**gw_env(fake), "HOME": str(home)}

    done = cli("batch", str(m), env=env)

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("leads outside the manifest's folder") == 3, err
    assert "--outputs-anywhere" in err
    assert not fake.requests_to("/chat/completions")
    anywhere = cli("batch", str(m), "--outputs-anywhere", env=env)
    assert anywhere.returncode == 0, anywhere.stderr.decode()
    assert (tmp_path / "escaped.png").exists() and (tmp_path / "abs.png").exists()
    assert (home / "tilde.png").exists() and (folder / "art" / "ok.png").exists()
    assert not list(folder.rglob("~"))  # `~` is expanded, never a folder of that name


def test_a_model_named_dotdot_cannot_lead_a_template_out(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.known_models.add("..")  # a gateway that serves a model of that name
    m = jobs(tmp_path / "a.jsonl", {"prompt": "x", "output": "art/{model}.png", "model": ".."})
    done = cli("batch", str(m), "--outputs-anywhere", env=gw_env(fake))
    assert done.returncode == 0, done.stderr.decode()
    # the field's value is a name, never a path: `..` becomes `-`, inside art/
    assert [p.name for p in (tmp_path / "art").iterdir()] == ["-.png"]
    assert not list(tmp_path.glob("*.png"))


def _eight(tmp_path: Path) -> Path:
    rows = [{"prompt": f"tile {i}", "output": f"tiles/{i}.png"} for i in range(8)]
    return jobs(tmp_path / "tiles.jsonl", *rows)


def test_a_second_run_of_one_manifest_stops_and_pays_nothing(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.latency = 0.5
    m = _eight(tmp_path)
    first = start(["batch", str(m), "-j", "2"], gw_env(fake), tmp_path)
    try:
        wait_for(lambda: len(fake.requests_to("/chat/completions")) >= 1)
        second = cli("batch", str(m), env=gw_env(fake), timeout=RUN_TIMEOUT)
        out, err = first.communicate(timeout=RUN_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err.decode()
    assert second.returncode == 2, second.stderr.decode()
    assert "another imggen batch is running the manifest" in second.stderr.decode()
    assert len(fake.requests_to("/chat/completions")) == 8  # each job paid once
    lines = [json.loads(x) for x in (tmp_path / "tiles.results.jsonl").read_text().splitlines()]
    assert sorted(r["job"] for r in lines) == list(range(1, 9))
    assert {r["status"] for r in lines} == {"saved"}


def test_shards_of_one_manifest_run_side_by_side(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.latency = 0.3
    m = _eight(tmp_path)
    procs = [start(["batch", str(m), "--shard", f"{i}/2"], gw_env(fake), tmp_path) for i in (1, 2)]
    try:
        ended = [p.communicate(timeout=RUN_TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [e[1].decode() for e in ended]
    assert len(fake.requests_to("/chat/completions")) == 8
    assert len(list((tmp_path / "tiles").glob("*.png"))) == 8
