"""--preview inside a real terminal: tmux runs the installed imggen against the offline gateway,
and capture-pane shows the half-blocks it drew (tmux draws them; it would need passthrough for
kitty or sixel)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY, imggen_exe

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed: apt-get install tmux to run this"
)


def test_half_block_preview_in_tmux(fake: FakeGateway, tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="half-blocks need the preview extra (Pillow)")
    socket = str(tmp_path / "tmux.sock")
    env = {
        "IMGGEN_BASE_URL": f"{fake.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
        "IMGGEN_DATA_DIR": str(tmp_path / "data"),
        "IMGGEN_CONFIG": str(tmp_path / "config.toml"),
    }
    command = " ".join(
        [*(f"{k}={shlex.quote(v)}" for k, v in env.items())]
        + [shlex.quote(a) for a in imggen_exe()]
        + ["generate", "'a fox'", "-n", "2", "-o", "fox.png", "--preview", "-q", "-s", "1K"]
        + ["; echo DONE-$?; sleep 30"]
    )
    tmux = ["tmux", "-S", socket, "-f", os.devnull]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "60", "-y", "30", "-c", str(tmp_path), command],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
        timeout=30,
    )
    try:
        screen = ""
        for _ in range(200):
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-e"], capture_output=True, text=True, timeout=10
            ).stdout
            if "DONE-" in screen:
                break
            time.sleep(0.1)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=10, check=False)
    assert "DONE-0" in screen, screen
    rows = [line for line in screen.splitlines() if "▀" in line]
    assert 5 <= len(rows) <= 15  # bounded: at most half the 30-row pane
    assert "\x1b[38;2;" in rows[0] or "\x1b[38;5;" in rows[0]  # colour reached the pane
    assert (tmp_path / "fox-1.png").is_file() and (tmp_path / "fox-2.png").is_file()
