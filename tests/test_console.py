"""The terminal: the progress line (spinner while waiting, bytes and speed, bar and time left
once the size is known, never wider than 80 columns), the "saved" lines, and tables that never
cut a model id."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from imggen.console import UI, clock, human_bytes, progress_line
from imggen.env import Env

MODEL = "google/gemini-3-pro-image-preview"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (786_300, "786.3 kB"), (3_100_000, "3.1 MB")],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_clock() -> None:
    assert [clock(5.7), clock(754), clock(3723)] == ["0:05", "12:34", "1:02:03"]


def test_waiting_shows_the_label_and_the_time_only() -> None:
    line = progress_line(f"{MODEL}: waiting for the gateway", 0, None, 5.2, None, 77)
    assert line == f"{MODEL}: waiting for the gateway  0:05"


def test_bytes_without_a_size_show_count_speed_and_time() -> None:
    line = progress_line(f"{MODEL}: receiving", 786_300, None, 3.0, 250_000.0, 77)
    assert line == f"{MODEL}: receiving  786.3 kB  250.0 kB/s  0:03"
    assert "?" not in line


def test_a_known_size_adds_a_bar_and_the_time_left() -> None:
    line = progress_line("turing/gpt-image-2: receiving", 786_300, 3_100_000, 3.0, 250e3, 77)
    assert line.startswith("gpt-image-2: receiving  ━━━")
    assert line.endswith("  786.3 kB/3.1 MB  250.0 kB/s  0:09 left")


@pytest.mark.parametrize("width", [77, 60, 40, 30])
@pytest.mark.parametrize(
    ("done", "total", "speed"),
    [(0, None, None), (786_300, None, 250e3), (786_300, 3_100_000, 250e3), (10, 300, None)],
)
def test_the_line_never_outgrows_its_width(
    width: int, done: int, total: int | None, speed: float | None
) -> None:
    line = progress_line(f"{MODEL}: receiving", done, total, 12.0, speed, width)
    assert len(line) <= width
    assert "receiving" in line or width < 40


def test_saved_line_on_a_terminal_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    UI(Env(environ={}, stderr=err, stderr_isatty=True)).saved(
        str(tmp_path / "sunset.png"), (1344, 768), 3_100_000
    )
    assert err.getvalue() == "saved sunset.png 1344×768 3.1 MB\n"
    for ui in (
        UI(Env(environ={}, stderr=(piped := io.StringIO()), stderr_isatty=False)),
        UI(Env(environ={}, stderr=piped, stderr_isatty=True), quiet=True),
    ):
        ui.saved("/x/a.png", (8, 8), 100)
    assert piped.getvalue() == ""


COLUMNS = ("MODEL", "DIALECT", "SIZES", "ASPECTS", "STREAM", "EDIT", "NOTE")
ROWS = [
    [MODEL, "openrouter", "1K 2K 4K", "1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9", "yes", "yes",
     "profile default; not in the catalog"],
    ["google/gemini-2.5-flash-image", "openrouter", "1K", "1:1 16:9", "yes", "yes", ""],
]  # fmt: skip


@pytest.mark.parametrize("width", [120, 80, 60, 40])
def test_table_never_cuts_a_model_id(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out, err = Terminal(), io.StringIO()
    ui = UI(Env(environ={}, stderr=err, stderr_isatty=False))
    droppable = ("NOTE", "DIALECT", "ASPECTS", "STREAM", "EDIT", "SIZES")
    ui.table("models", COLUMNS, ROWS, out=out, whole=("MODEL",), droppable=droppable)
    drawn = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert MODEL in drawn and "google/gemini-2.5-flash-image" in drawn
    assert "…" not in drawn
    assert max(len(line) for line in drawn.splitlines()) <= width
    if width >= 120:
        assert "profile default" in drawn and err.getvalue() == ""
    else:
        assert err.getvalue().startswith("too narrow for ") and "NOTE" in err.getvalue()


def test_saved_paths_written_to_stdout_during_a_progress_bar_stay_on_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`imggen batch > paths.txt` at a terminal: rich's bar took over sys.stdout while it ran,
    so the paths went to the screen and paths.txt stayed empty."""
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)
    env = Env(stderr=io.StringIO(), stderr_isatty=True, environ={})
    ui = UI(env)
    ui.start_count("batch: 2 jobs", 2)
    env.out.write("out/01.png\n")
    ui.count()
    ui.stop_progress()
    assert captured.getvalue() == "out/01.png\n"
    ui.start_progress("x")
    env.out.write("out/02.png\n")
    ui.stop_progress()
    assert captured.getvalue() == "out/01.png\nout/02.png\n"
