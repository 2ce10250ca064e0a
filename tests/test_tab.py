"""TAB on a generate option's value is answered without Typer (cli/tab.py, issue 26): for every
command line it takes it must print what Typer prints, in each shell's format, and leave every
other one to Typer."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imggen.cli import tab
from imggen.cli.app import app

CONFIG = {
    "default_profile": "work",
    "profiles": {
        "work": {"preset": "openrouter", "model": "google/gemini-2.5-flash-image"},
        "t": {"preset": "turing", "base_url": "https://t.test/v1", "model": "turing/gpt-image-1"},
        "odd": {"preset": "openai"},
        "bob's": {"preset": "openai"},  # quotes and colons, escaped for zsh as Typer's are
        "ci:main": {"preset": "openai"},
    },
}


@pytest.fixture(autouse=True)
def configured(write_config: Callable[..., Path]) -> Path:
    return write_config(CONFIG)


def environ(shell: str, line: str, action: str = "get-args") -> dict[str, str]:
    """What the shell's completion script sets for the command line LINE (the cursor at its
    end)."""
    if shell == "bash":
        words = line.split(" ")  # as bash's COMP_WORDS, for these unquoted lines
        return {
            "_IMGGEN_COMPLETE": "complete_bash",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        }
    env = {"_IMGGEN_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = action
    return env


def typer_says(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, [], env={**os.environ, **env}, prog_name="imggen")
    return result.exit_code, result.stdout


def fast_says(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str] | None:
    capsys.readouterr()
    code = tab.complete({**os.environ, **env})
    out = capsys.readouterr().out
    return None if code is None else (code, out)


TAKEN = [
    "imggen generate -m ",
    "imggen generate -m gpt",
    "imggen generate --model google/",
    "imggen generate -m zzz-no-such",
    "imggen generate -p ",
    "imggen generate --profile o",
    "imggen generate -p b",
    "imggen generate -p ci",
    "imggen generate -p t -m ",
    "imggen generate -p t -s ",
    "imggen generate -s ",
    "imggen generate --size 2",
    "imggen generate -m google/gemini-3-pro-image-preview -a ",
    "imggen generate --aspect ",
    "imggen generate --format ",
    "imggen generate -p odd --format w",
    "imggen generate --quality h",
    "imggen generate --background ",
    "imggen generate --provenance ",
    "imggen generate --provenance f",
    "imggen generate a-fox -o fox.png -n 2 --force -m ",
    "imggen generate -q -v --json -p t -a ",
]

LEFT = [
    "imggen ",
    "imggen gen",
    "imggen generate ",
    "imggen generate -",
    "imggen generate --si",
    "imggen generate -m gpt -",
    "imggen generate -o ",  # a path: the shell completes files
    "imggen generate --force ",
    "imggen generate a b -m ",  # two prompts: Typer says what that is
    "imggen generate -qv -m ",
    "imggen generate -- -m ",
    "imggen generate -o -m ",  # -m is -o's value here
    "imggen edit -m ",
    "imggen batch -p ",
    "imggen config set profiles.work.size ",
]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("line", TAKEN)
def test_values_are_printed_as_typer_prints_them(
    shell: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(shell, line)
    ours = fast_says(env, capsys)
    assert ours is not None, "the fast path should take this command line"
    assert ours == typer_says(env)


@pytest.mark.parametrize("line", ["imggen generate -m ", "imggen generate -m zzz-no-such"])
def test_fish_asks_whether_there_are_values(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = environ("fish", line, action="is-args")
    assert fast_says(env, capsys) == typer_says(env)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("line", LEFT)
def test_other_command_lines_are_left_to_typer(
    shell: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fast_says(environ(shell, line), capsys) is None


def test_other_shells_and_requests_are_left_to_typer(capsys: pytest.CaptureFixture[str]) -> None:
    line = "imggen generate -m "
    for env in (
        {"_IMGGEN_COMPLETE": "complete_powershell", "_TYPER_COMPLETE_ARGS": line},
        {"_IMGGEN_COMPLETE": "source_bash"},
        {"_IMGGEN_COMPLETE": "complete_bash", "COMP_WORDS": line},  # no COMP_CWORD
        {**environ("fish", line), "_TYPER_COMPLETE_FISH_ACTION": ""},
    ):
        assert fast_says(env, capsys) is None


@pytest.mark.parametrize("columns", ["80", "30", "wide"])
def test_help_typer_would_wrap_is_left_to_typer(
    columns: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Typer renders fish's help through rich at the console's width: a narrow one wraps it."""
    env = {**environ("fish", "imggen generate --provenance "), "COLUMNS": columns}
    ours = fast_says(env, capsys)
    if columns == "80":
        assert ours == typer_says(env)
    else:
        assert ours is None


def test_random_lines_print_alike_or_go_to_typer(capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the fast path answers, Typer answers the same (a bounded fuzz)."""
    words = [
        *("-m", "--model", "-p", "--profile", "-s", "-a", "--format", "--quality", "t", "work"),
        *("--provenance", "-o", "out.png", "-n", "2", "--json", "-q", "a-fox", "gpt", "--"),
        *("turing/gpt-image-1", "2K", "16:9", "--size=1K", "-qv", "-"),
    ]
    rng = random.Random(26)
    taken = 0
    for _ in range(150):
        shell = rng.choice(["bash", "zsh", "fish"])
        middle = [rng.choice(words) for _ in range(rng.randint(0, 4))]
        last = rng.choice(["-m", "-p", "-s", "-a", "--format", "--provenance", "-o"])
        line = " ".join(["imggen", "generate", *middle, last, rng.choice(["", "g", "t", "1"])])
        env = environ(shell, line)
        ours = fast_says(env, capsys)
        if ours is None:
            continue
        taken += 1
        assert ours == typer_says(env), (shell, line)
    assert taken > 30
