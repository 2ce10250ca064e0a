"""issue 14 end to end, the earlier half: odd keys, a gateway echoing the key in a 2xx reply,
credentials in base_url, inputs that never end, output paths that cannot be written, and
config edits that keep the user's file. The installed imggen against a hostile loopback
gateway, bounded in memory and time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e.hostile import Hostile, links_reply, run_bounded, send, serving

PNG = make_png(16, 16)
KEY = SENTINEL_KEY.encode()


def echoing(gw: Hostile) -> None:
    """A 2xx reply whose text quotes the key back, with an image."""
    text = f"Made with key {SENTINEL_KEY}, enjoy"
    gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"], text))
    gw.routes["/img/"] = serving(PNG)


@pytest.mark.parametrize(
    "key", [SENTINEL_KEY + "\r\n", SENTINEL_KEY + "\n", "sk-tëst-ключ-0123456789", "sk two words"]
)
def test_an_unsendable_key_is_exit_3_naming_its_source_never_the_key(
    tmp_path: Path, key: str
) -> None:
    with Hostile() as gw:
        echoing(gw)
        done, _ = run_bounded(
            ["generate", "x", "-o", "a.png", "-v", "--retries", "2"],
            gw.env(IMGGEN_API_KEY=key),
            tmp_path,
        )
    assert done.returncode == 3, done.stderr.decode()
    assert "IMGGEN_API_KEY" in done.stderr.decode()
    assert key.strip().encode() not in done.stdout + done.stderr
    assert gw.hits == []  # refused before anything was sent


def test_a_key_echoed_in_a_2xx_reply_is_redacted_everywhere(tmp_path: Path) -> None:
    with Hostile() as gw:
        echoing(gw)
        done, _ = run_bounded(["generate", "x", "-o", "a.png", "--json", "-v"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert KEY not in done.stdout + done.stderr
    assert "enjoy" in json.loads(done.stdout)["text"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_bytes(), path


@pytest.mark.parametrize(
    "base", ["http://user:hunter2secret@{host}/v1", "http://{host}/v1?token=hunter2secret"]
)
def test_credentials_in_base_url_are_refused_unechoed(tmp_path: Path, base: str) -> None:
    with Hostile() as gw:
        echoing(gw)
        url = base.format(host=gw.url.split("//", 1)[1])
        done, _ = run_bounded(
            ["generate", "x", "-o", "a.png", "-v"], gw.env(IMGGEN_BASE_URL=url), tmp_path
        )
    assert done.returncode == 3, done.stderr.decode()
    assert b"hunter2secret" not in done.stdout + done.stderr
    assert gw.hits == []


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_input_is_refused_at_once(tmp_path: Path, device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"needs {device}")
    with Hostile() as gw:
        echoing(gw)
        done, took = run_bounded(
            ["edit", device, "make it blue", "-o", "a.png"], gw.env(), tmp_path, timeout=30
        )
        m = tmp_path / "m.jsonl"
        m.write_text(json.dumps({"prompt": "x", "output": "b.png", "inputs": [device]}) + "\n")
        dry, took_dry = run_bounded(["batch", str(m), "--dry-run"], gw.env(), tmp_path, timeout=30)
    assert done.returncode == 2, done.stderr.decode()
    assert "is a device, not an image file" in done.stderr.decode()
    assert dry.returncode == 2, dry.stderr.decode()
    assert took < 20 and took_dry < 20
    assert gw.hits == []


@pytest.mark.parametrize(
    ("name", "why"),
    [("x" * 300 + ".png", "too long"), ("y" * 251 + ".jpg", "too long")],
    ids=["image-name", "sidecar-name"],
)
def test_an_output_name_too_long_is_refused_before_the_request(
    tmp_path: Path, name: str, why: str
) -> None:
    with Hostile() as gw:
        echoing(gw)
        done, _ = run_bounded(["generate", "x", "-o", name], gw.env(), tmp_path)
    assert done.returncode == 2, done.stderr.decode()
    assert why in done.stderr.decode()
    assert gw.hits == []


def test_a_dangling_symlink_at_the_output_is_refused_before_the_request(tmp_path: Path) -> None:
    (tmp_path / "a.png").symlink_to(tmp_path / "nowhere" / "a.png")
    with Hostile() as gw:
        echoing(gw)
        done, _ = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert done.returncode == 2, done.stderr.decode()
    assert "symlink" in done.stderr.decode()
    assert gw.hits == []


def test_config_set_writes_through_a_symlink_and_keeps_comments(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "imggen.toml"
    text = '# my imggen setup\ndefault_profile = "knox"  # the usual one\n\n[profiles.knox]\n'
    text += 'preset = "knox"\n'
    real.write_text(text)
    link = tmp_path / "config" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    env = {"IMGGEN_CONFIG": str(link)}
    done, _ = run_bounded(["config", "set", "profiles.knox.model", "m1"], env, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert link.is_symlink()
    after = real.read_text()
    assert after.startswith(text) and 'model = "m1"' in after


def test_an_unwritable_config_folder_is_exit_3_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    config = blocker / "imggen" / "config.toml"
    done, _ = run_bounded(
        ["config", "init", "knox", "--preset", "knox"], {"IMGGEN_CONFIG": str(config)}, tmp_path
    )
    assert done.returncode == 3, done.stderr.decode()
    assert str(blocker) in done.stderr.decode()
