"""--preview: protocol choice from the environment, the escapes drawn, and never off a tty."""

from __future__ import annotations

import base64
import io
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from imggen import preview
from imggen.preview import detect, draw
from imggen.testing import FakeGateway, make_png
from tests.conftest import SENTINEL_KEY, imggen_exe


@pytest.mark.parametrize(
    ("environ", "protocol"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-ghostty"}, "kitty"),
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-256color"}, "kitty"),
        ({"KONSOLE_VERSION": "230401"}, "kitty"),
        ({"TERM_PROGRAM": "iTerm.app"}, "iterm"),
        ({"LC_TERMINAL": "iTerm2"}, "iterm"),
        ({"TERM_PROGRAM": "WezTerm"}, "iterm"),
        ({"TERM_PROGRAM": "mintty"}, "iterm"),
        ({"TERM": "foot"}, "sixel"),
        ({"WT_SESSION": "x"}, "sixel"),
        ({"TERM_PROGRAM": "vscode"}, "sixel"),
        ({"TERM": "xterm-256color"}, "blocks"),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux"}, "blocks"),
        ({"TERM": "xterm-256color", "IMGGEN_PREVIEW": "iterm"}, "iterm"),
    ],
)
def test_protocol_from_the_environment(environ: dict[str, str], protocol: str) -> None:
    assert detect.choose(environ).protocol == protocol


def test_tmux_passthrough_wraps_and_doubles_escapes() -> None:
    how = detect.choose({"TMUX": "x", "IMGGEN_PREVIEW": "kitty"})
    assert how.tmux
    seq = draw.kitty(b"\x89PNG", 10, how)
    assert seq.startswith("\x1bPtmux;\x1b\x1b_Ga=T,f=100,c=10,q=2,m=0;") and seq.endswith("\x1b\\")


def test_kitty_sends_png_in_4096_byte_chunks() -> None:
    png = make_png(200, 100, noise=True)
    seq = draw.kitty(png, 30, detect.How("kitty"))
    parts = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", seq)
    assert parts[0][0] == "a=T,f=100,c=30,q=2,m=1" and parts[-1][0] == "m=0"
    assert all(len(p[1]) == 4096 for p in parts[:-1])
    assert base64.b64decode("".join(p[1] for p in parts)) == png


def test_iterm_inline_image() -> None:
    seq = draw.iterm(b"abc", 12, detect.How("iterm"))
    assert seq == "\x1b]1337;File=inline=1;size=3;width=12;preserveAspectRatio=1:YWJj\a"


def test_nothing_off_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(make_png(8, 8))
    buf = io.StringIO()
    assert preview.show([str(tmp_path / "a.png")], buf, {}, isatty=False) is None
    assert buf.getvalue() == ""


def test_half_blocks_fit_the_box_and_make_a_row(tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="the half-block preview needs the preview extra (Pillow)")
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        path = tmp_path / f"{i}.png"
        path.write_bytes(make_png(400, 400, color=colour))
        paths.append(str(path))
    buf = io.StringIO()
    assert preview.show(paths, buf, {"TERM": "xterm"}, isatty=True, size=(41, 20)) is None
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10  # rows // 2, two pixels a cell
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert all(len(line) <= 40 for line in plain)
    # 40 columns less the gap for two squares: 19 each, 19 pixels high in 10 rows
    assert plain[0] == "▀" * 19 + " " + "▀" * 19
    assert "\x1b[38;2;255;0;0m" in lines[0] and "\x1b[38;2;0;0;255m" in lines[0]


def test_sixel_is_a_dcs_with_bands(tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="sixel needs the preview extra (Pillow)")
    path = tmp_path / "a.png"
    path.write_bytes(make_png(60, 30, noise=True))
    buf = io.StringIO()
    preview.show([str(path)], buf, {"TERM": "foot"}, isatty=True, size=(80, 24))
    out = buf.getvalue()
    assert out.startswith('\x1bP0;1;0q"1;1;60;30') and out.rstrip("\n").endswith("\x1b\\")
    assert out.count("-") >= 5  # 30 rows: five bands of six


def test_kitty_without_pillow_sends_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(draw, "pillow", lambda: None)
    path = tmp_path / "a.png"
    path.write_bytes(make_png(16, 8))
    buf = io.StringIO()
    assert preview.show([str(path)], buf, {"TERM": "xterm-kitty"}, isatty=True) is None
    assert buf.getvalue().startswith("\x1b_Ga=T,f=100,")
    note = preview.show([str(path)], io.StringIO(), {"TERM": "xterm"}, isatty=True)
    assert note == "install imggen[preview] (Pillow) to preview here"


def test_preview_through_a_pty_goes_to_stderr_only(fake: FakeGateway, tmp_path: Path) -> None:
    """The installed imggen with stderr on a pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "IMGGEN_BASE_URL": f"{fake.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
        "TERM": "xterm-kitty",
    }
    proc = subprocess.Popen(
        [*imggen_exe(), "generate", "a fox", "-o", "fox.png", "--preview", "-q"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=30)
    os.close(master)
    assert proc.returncode == 0
    assert out == f"{tmp_path / 'fox.png'}\n".encode()
    assert b"\x1b_Ga=T,f=100," in seen
