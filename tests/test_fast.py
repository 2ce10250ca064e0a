"""A plain `imggen generate` is parsed without Typer (cli/fast.py, issue 26): it must read every
command line it takes exactly as the Typer command does, and leave every other one to Typer."""

from __future__ import annotations

import random
from typing import Any

import pytest
from typer.testing import CliRunner

from imggen.cli import fast, make
from imggen.cli.app import app


def typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...] | None:
    """(prompt, flags) as the Typer command hands them on, or None if Typer refuses ARGV."""
    got: list[tuple[Any, ...]] = []

    def capture(env: Any, flags: Any, prompt: Any, images: Any, **kwargs: Any) -> None:
        got.append((prompt, dict(flags)))

    monkeypatch.setattr(make, "make", capture)
    result = CliRunner().invoke(app, ["generate", *argv])
    if result.exit_code != 0:
        assert not got
        return None
    return got[0]


PLAIN = [
    [],
    ["a red fox"],
    ["-"],
    [""],
    ["a fox", "-o", "fox.png", "-s", "2K", "-a", "16:9", "-n", "3", "--force", "-q"],
    ["-o", "-", "a fox", "--json", "--dry-run", "-v", "--yes", "-y"],
    ["--size=4K", "--output=out dir/", "--model=turing/gpt-image-2", "--profile", "knox"],
    ["x", "-r", "a.png", "--ref", "b.png", "--ref=c.png", "--param", "seed=3", "--param=a.b=1"],
    ["x", "--stream", "--no-stream", "--log", "--no-log", "--no-log", "--log"],
    [
        "x",
        "--timeout",
        "1e1",
        "--retries",
        " 3",
        "--jobs",
        "2",
        "--partials",
        "0",
        "--quality",
        "-",
    ],
    ["x", "--timeout", "inf", "--seed", "1_000", "-n", "+2", "--size="],
    ["x", "-m", "a", "-m", "b", "--format", "webp", "--quality", "high", "--background", "t"],
    ["x", "--provenance", "off", "--save-partials", "--no-wait", "--preview", "-j", "4"],
]

NOT_PLAIN = [
    ["--help"],
    ["a fox", "-h"],
    ["a", "b"],
    ["-qv", "x"],
    ["-n3", "x"],
    ["x", "-o"],
    ["x", "-o", "-q"],
    ["x", "--", "-y"],
    ["x", "--force=1"],
    ["x", "-n", "three"],
    ["x", "--timeout", "soon"],
    ["x", "--no-such-flag"],
    ["x", "--mask", "m.png"],  # edit's option
    ["x", "-o=f.png"],
    ["x", "--siz", "4K"],  # Click takes no abbreviations
]


@pytest.mark.parametrize("argv", PLAIN)
def test_plain_command_lines_read_as_typer_reads_them(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = fast.parse(argv)
    assert ours is not None, "the fast path should take this command line"
    assert ours == typer_reads(argv, monkeypatch)


@pytest.mark.parametrize("argv", NOT_PLAIN)
def test_other_command_lines_are_left_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def test_random_command_lines_read_alike_or_go_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the fast path takes, Typer takes too, and reads the same (a bounded fuzz)."""
    words = [
        *("-o", "--output", "-n", "--count", "-s", "--size=2K", "--json", "-q", "-v", "-y"),
        *("--stream", "--no-stream", "--ref", "-r", "--param", "--timeout", "--seed", "-m"),
        *("--force", "--log", "--no-log", "--save-partials", "--dry-run", "-", "--", "-h"),
        *("a fox", "3", "-3", "0.5", "x=1", "out.png", "", "1e3", "--count=2", "-qv"),
    ]
    rng = random.Random(26)
    taken = 0
    for _ in range(300):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 6))]
        ours = fast.parse(argv)
        if ours is None:
            continue
        taken += 1
        assert ours == typer_reads(argv, monkeypatch), argv
    assert taken > 30  # the corpus exercises the fast path, not only the way out of it
