"""Completion that knows the values: per-model sizes, aspects and formats; profiles told apart
from presets; `config use|get|set|unset`; and each shipped script driven in its own shell
(where that shell is installed), zsh on the first TAB of a new shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.cli import completion

SCRIPTS = Path(__file__).resolve().parents[1] / "completions"
CONFIG = {
    "default_profile": "work",
    "profiles": {
        "work": {"preset": "openrouter", "model": "google/gemini-2.5-flash-image"},
        "t": {"preset": "turing", "base_url": "https://t.test/v1", "model": "turing/gpt-image-1"},
    },
}
TIMEOUT = 60


@pytest.fixture(autouse=True)
def configured(write_config: Callable[..., Path]) -> Path:
    return write_config(CONFIG)


def values(found: list[Any]) -> list[str]:
    return [c[0] if isinstance(c, tuple) else c for c in found]


def test_sizes_aspects_and_formats_follow_the_model() -> None:
    assert completion.sizes({}) == ["1K"]  # the default profile's gemini-2.5
    assert completion.sizes({"profile": "t"}) == [
        "1K",
        "1024x1024",
        "1536x1024",
        "1024x1536",
        "auto",
    ]
    assert completion.aspects({"profile": "t"}) == ["1:1", "3:2", "2:3"]
    gemini3 = {"model": "google/gemini-3-pro-image-preview"}
    assert completion.sizes(gemini3) == ["1K", "2K", "4K"]
    assert "21:9" in completion.aspects(gemini3)
    assert completion.formats({}) == ["png", "jpeg", "webp"]


def test_values_without_a_profile_are_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGGEN_CONFIG", "/nonexistent/config.toml")
    assert completion.sizes({}) == ["512", "1K", "2K", "4K", "auto"]
    assert len(completion.aspects({})) == 10


def test_profiles_are_told_apart_from_presets() -> None:
    found = completion.profiles({})
    assert found[:2] == [("work", "profile (openrouter)"), ("t", "profile (turing)")]
    assert ("knox", "built-in preset") in found
    assert values(completion.configured({})) == ["work", "t"]


def test_config_keys_and_values() -> None:
    held = completion.keys_set({})
    assert {"default_profile", "profiles.work", "profiles.work.model", "profiles.t.base_url"} <= {
        *held
    }
    settable = values(completion.keys({}))
    assert "default_profile" in settable and "profiles.t.size" in settable
    assert values(completion.values({"key": "default_profile"})) == ["work", "t"]
    assert "openrouter" in values(completion.values({"key": "profiles.t.preset"}))
    assert completion.values({"key": "profiles.t.size"}) == completion.sizes({"profile": "t"})
    assert completion.values({"key": "profiles.t.base_url"}) == []


# -- the shipped scripts, each in its shell --------------------------------------------------


def shell_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "_IMGGEN"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["IMGGEN_CONFIG"] = str(config)
    return env


def need(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        pytest.skip(f"{shell} is not installed: its shipped completion script is not driven here")
    return found


def drive(argv: list[str], config: Path, cwd: Path) -> list[str]:
    done = subprocess.run(
        argv, env=shell_env(config), cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_script(configured: Path, tmp_path: Path) -> None:
    bash = need("bash")
    script = f"""
        source {SCRIPTS / "imggen.bash"}
        for line in 'imggen generate x -p t --size ' 'imggen config use ' 'imggen gen'; do
            read -ra COMP_WORDS <<< "$line"
            [[ "$line" == *' ' ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
            COMPREPLY=()
            _imggen_completion imggen
            echo "${{COMPREPLY[*]}}"
        done
    """
    lines = drive([bash, "--norc", "--noprofile", "-c", script], configured, tmp_path)
    assert lines == ["1K 1024x1024 1536x1024 1024x1536 auto", "work t", "generate"]


def test_zsh_script_completes_on_the_first_tab(configured: Path, tmp_path: Path) -> None:
    """compinit loads the script from $fpath on the first TAB: that TAB must complete, and so
    must the next (a stand-in _arguments prints what zsh would offer)."""
    zsh = need("zsh")
    fpath = tmp_path / "zfunc"
    fpath.mkdir()
    shutil.copy(SCRIPTS / "imggen.zsh", fpath / "_imggen")
    script = f"""
        fpath=({fpath} $fpath)
        autoload -Uz compinit && compinit -u -d {tmp_path / "zcompdump"}
        _arguments() {{ print -r -- "$@" }}
        words=(imggen generate x -p t --size ""); CURRENT=7
        $_comps[imggen]
        words=(imggen config use ""); CURRENT=4
        $_comps[imggen]
    """
    lines = drive([zsh, "-f", "-c", script], configured, tmp_path)
    assert len(lines) == 2, lines
    assert '"1024x1536"' in lines[0] and '"auto"' in lines[0]
    assert '"work":"profile (openrouter)"' in lines[1] and "built-in preset" not in lines[1]


def test_fish_script(configured: Path, tmp_path: Path) -> None:
    fish = need("fish")
    script = f"""
        source {SCRIPTS / "imggen.fish"}
        complete -C 'imggen generate x -p t -a '
        complete -C 'imggen generate x -p '
    """
    lines = drive([fish, "--no-config", "-c", script], configured, tmp_path)
    assert lines[:3] == ["1:1", "2:3", "3:2"]  # fish sorts them
    assert "work\tprofile (openrouter)" in lines and "knox\tbuilt-in preset" in lines
