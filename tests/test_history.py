"""The history of saved images (imggen/history.py) and `imggen log`."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen import history
from imggen.errors import UsageError
from tests.conftest import SENTINEL_KEY, MockGateway, Result
from tests.test_cli_generate import CONFIG, images_reply

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def setup(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    return write_config(CONFIG)


def environ() -> dict[str, str]:
    return dict(os.environ)


def entry(path: str, **kw: object) -> history.Entry:
    base: dict[str, object] = {"time": 1000.0, "path": path, "sha256": None, "model": "m"}
    return history.Entry(**{**base, **kw})  # type: ignore[arg-type]


def test_db_is_created_0600_in_a_0700_folder_and_refuses_a_symlink(tmp_path: Path) -> None:
    history.append(environ(), [entry("/x.png", prompt="a fox")])
    db = history.db_path(environ())
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert [e.prompt for e in history.query(environ())] == ["a fox"]
    history.clear(environ())
    assert not db.exists()
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    db.symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        history.append(environ(), [entry("/x.png")])
    assert target.read_bytes() == b""


def test_query_filters_newest_first() -> None:
    history.append(
        environ(),
        [
            entry("/a/fox.png", time=100.0, model="gpt-image-1", prompt="a red fox"),
            entry("/a/owl.png", time=200.0, model="gemini", prompt="an owl"),
            entry("/a/cat.png", time=300.0, model="gpt-image-1", prompt="a cat"),
        ],
    )
    env = environ()
    assert [e.path for e in history.query(env)] == ["/a/cat.png", "/a/owl.png", "/a/fox.png"]
    assert [e.path for e in history.query(env, model="gpt-image")] == ["/a/cat.png", "/a/fox.png"]
    assert [e.path for e in history.query(env, grep="fox")] == ["/a/fox.png"]
    assert [e.path for e in history.query(env, since=150.0)] == ["/a/cat.png", "/a/owl.png"]
    assert [e.path for e in history.query(env, limit=1)] == ["/a/cat.png"]
    assert history.query(env, grep="%") == [] and history.query(env, model="gpt_image") == []


def test_provenance_levels_trim_what_is_kept() -> None:
    params = {"size": "1K", "params": {"secret": "x"}}
    full = entry("/f.png", prompt="p", params=params, profile="w", job="m#o")
    minimal = history.trimmed(entry("/f.png", prompt="p", params=params, provenance="minimal"))
    off = history.trimmed(
        entry("/f.png", prompt="p", params=params, profile="w", job="m#o", provenance="off")
    )
    assert history.trimmed(full) == full
    assert (minimal.prompt, minimal.params) == (None, {"size": "1K"})
    assert (off.prompt, off.params, off.profile, off.job, off.model) == (
        None,
        None,
        None,
        None,
        "m",
    )


def test_state_marks_missing_and_changed_files(tmp_path: Path) -> None:
    import hashlib

    f = tmp_path / "a.png"
    f.write_bytes(b"image")
    digest = hashlib.sha256(b"image").hexdigest()
    assert history.state(entry(str(f), sha256=digest)) == ""
    f.write_bytes(b"other")
    assert history.state(entry(str(f), sha256=digest)) == "changed"
    f.unlink()
    assert history.state(entry(str(f), sha256=digest)) == "missing"


def test_parallel_writers_threads_and_processes_lose_nothing() -> None:
    def write(k: int) -> None:
        for i in range(10):
            history.append(environ(), [entry(f"/t{k}-{i}.png")])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_child, args=(dict(os.environ), k)) for k in range(2)]
    for p in procs:
        p.start()
    for t in threads:
        t.join(30)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(history.query(environ(), limit=None)) == 40 + 20


def _child(env: dict[str, str], k: int) -> None:
    for i in range(10):
        history.append(env, [entry(f"/p{k}-{i}.png")])


def test_parse_since() -> None:
    assert history.parse_since("2d", now=1_000_000.0) == 1_000_000.0 - 2 * 86400
    assert history.parse_since("30m", now=1000.0) == 1000.0 - 1800
    assert history.parse_since("2026-12-01T00:00:00+00:00") == 1796083200.0
    with pytest.raises(UsageError, match="--since yesterday"):
        history.parse_since("yesterday")


# -- through the command line -------------------------------------------------------------


def test_generate_logs_every_image_and_log_lists_them(run: Run, gateway: MockGateway) -> None:
    gateway.queue(images_reply(count=2))
    r = run("generate", "a red fox", "-n", "2", "-o", "fox.png", "-s", "1K")
    assert r.exit_code == 0, r.stderr
    rows = history.query(environ())
    assert [Path(e.path).name for e in rows] == ["fox-2.png", "fox-1.png"]
    assert all(e.prompt == "a red fox" and e.model == "turing/gpt-image-2" for e in rows)
    assert rows[0].params and rows[0].params["count"] == 2 and rows[0].params["size"] == "1K"
    assert rows[0].outcome == "saved" and rows[0].sha256
    Path("fox-1.png").unlink()
    r = run("log", "--json")
    doc = json.loads(r.stdout)["entries"]
    assert [(Path(e["path"]).name, e["state"]) for e in doc] == [
        ("fox-2.png", "ok"),
        ("fox-1.png", "missing"),
    ]
    r = run("log")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["#", "TIME", "MODEL", "COST", "PATH", "PROMPT"]
    assert lines[1].endswith("fox-2.png\ta red fox") and "unknown" in lines[1]
    assert "fox-1.png [missing]" in lines[2]
    assert run("log", "--grep", "owl").stderr.startswith("no images in the history that match")


@pytest.mark.parametrize("how", ["flag", "env", "profile"])
def test_log_can_be_turned_off(
    how: str,
    run: Run,
    gateway: MockGateway,
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[..., Path],
) -> None:
    gateway.queue(images_reply())
    args = ["generate", "a red fox"]
    if how == "flag":
        args.append("--no-log")
    elif how == "env":
        monkeypatch.setenv("IMGGEN_NO_LOG", "1")
    else:
        profiles = {**CONFIG["profiles"]}  # type: ignore[dict-item]
        profiles["t"] = {**profiles["t"], "log": False}
        write_config({**CONFIG, "profiles": profiles})
    assert run(*args).exit_code == 0
    assert not history.db_path(environ()).exists()


def test_log_open_runs_the_opener_and_clear_deletes(
    run: Run, gateway: MockGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.queue(images_reply())
    assert run("generate", "a red fox", "-o", "fox.png").exit_code == 0
    opened = tmp_path / "opened.txt"
    script = tmp_path / "opener.py"
    script.write_text(f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])")
    monkeypatch.setenv("IMGGEN_OPENER", f"{sys.executable} {script}")
    r = run("log", "--open", "1")
    assert r.exit_code == 0, r.stderr
    for _ in range(100):
        if opened.exists() and opened.read_text():
            break
        threading.Event().wait(0.05)
    assert opened.read_text() == str(tmp_path / "fox.png")
    r = run("log", "--open", "2")
    assert r.exit_code == 2 and "lists 1 matching entries" in r.stderr
    r = run("log", "--clear")
    assert r.exit_code == 0 and "1 entry" in r.stderr
    assert history.query(environ()) == []


def test_the_run_s_provenance_level_decides_what_is_logged() -> None:
    from types import SimpleNamespace

    from imggen.run import record

    assert record.level(SimpleNamespace(), SimpleNamespace()) == "full"
    assert record.level(SimpleNamespace(provenance="off"), SimpleNamespace()) == "off"
    assert record.level(SimpleNamespace(), SimpleNamespace(provenance="minimal")) == "minimal"


def test_batch_jobs_are_logged_with_their_job(run: Run, gateway: MockGateway) -> None:
    gateway.queue(images_reply(), images_reply())
    Path("m.jsonl").write_text(
        '{"prompt": "one", "output": "a.png"}\n{"prompt": "two", "output": "b.png"}\n'
    )
    r = run("batch", "m.jsonl", "-j", "2")
    assert r.exit_code == 0, r.stderr
    rows = sorted(history.query(environ()), key=lambda e: e.path)
    assert [(Path(e.path).name, e.prompt) for e in rows] == [("a.png", "one"), ("b.png", "two")]
    assert rows[0].job is not None and rows[0].job.endswith("m.jsonl#a.png")
