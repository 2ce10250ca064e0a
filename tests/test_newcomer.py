"""What a newcomer trips on: an unquoted prompt, a mistyped option, a missing value, the prompt
first in `edit`, and zsh completion (no zstyle added unasked; apostrophes kept)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from imggen.cli import shells
from imggen.testing import make_png
from tests.conftest import imggen_exe


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [*imggen_exe(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_unquoted_prompt_gets_a_hint_to_quote_it(tmp_path: Path) -> None:
    r = run("generate", "a", "red", "fox", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (
        "error: generate takes one prompt, and got 3 words\n"
        "hint: quote it: imggen generate 'a red fox'\n"
    )


def test_click_errors_in_imggens_form(tmp_path: Path) -> None:
    r = run("generate", "x", "--aspcet", "16:9", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "error: no such option: --aspcet",
        "hint: did you mean --aspect? `imggen generate --help` lists what it takes",
    ]
    r = run("generate", "x", "-s", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: -s needs a value\nhint: ")
    assert "Usage:" not in r.stderr and "Traceback" not in r.stderr


def test_edit_says_the_prompt_comes_last(tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(make_png(8, 8))
    r = run("edit", "make it blue", "photo.png", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: the prompt comes last: 'make it blue' is not a file, and 'photo.png' is",
        "hint: imggen edit IMAGE... PROMPT: imggen edit photo.png 'make it blue'",
    ]


def test_zsh_install_adds_no_zstyle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".zshrc").write_text("export EDITOR=vi\n")
    path = shells.install_zsh(prog_name="imggen", complete_var="_IMGGEN_COMPLETE", shell="zsh")
    rc = (tmp_path / ".zshrc").read_text()
    assert "zstyle" not in rc
    assert rc == f"export EDITOR=vi\n{shells.COMPINIT}\n"
    assert path == tmp_path / ".zfunc" / "_imggen" and "compdef" in path.read_text()
    shells.install_zsh(prog_name="imggen", complete_var="_IMGGEN_COMPLETE", shell="zsh")
    assert (tmp_path / ".zshrc").read_text() == rc  # once only


def test_zsh_completion_keeps_apostrophes(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "_TYPER_COMPLETE_ARGS": "imggen batch m.toml --max",
        "_IMGGEN_COMPLETE": "complete_zsh",
    }
    out = subprocess.run(imggen_exe(), capture_output=True, text=True, env=env, timeout=60).stdout
    assert "this run'\\''s cost" in out and "run''s" not in out
