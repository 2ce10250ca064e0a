"""The README from a fresh machine: its offline quick start runs as written (in bash, against
`python -m imggen.testing`), and its install and completion steps hold what a fresh machine
needs (cd into the clone, a venv when pipx is missing, mkdir -p before each cp, zsh's
fpath/compinit)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from imggen.files import imagefile

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TIMEOUT = 120


def block(heading: str) -> str:
    """The first ```sh block after a heading."""
    start = README.index("```sh\n", README.index(heading)) + len("```sh\n")
    return README[start : README.index("```", start)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_offline_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The block as written, but on a free port: 8765 may be taken on a shared machine."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = block("### Try it with no account")
    assert "8765" in script
    port = free_port()
    script = script.replace("8765", str(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "IMGGEN_"))}
    # `python3` and `imggen` are the ones installed with this interpreter
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["IMGGEN_CONFIG"] = str(tmp_path / "config.toml")  # a fresh machine: no config file
    proc = subprocess.Popen(
        [bash, "-e", "-c", script],  # every command must succeed
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its background gateway too, to end whatever is left
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"http://127.0.0.1:{port}/v1"  # the gateway's address, first
    assert lines[1:4] == [str(tmp_path / n) for n in ("fox.png", "sunset-1.png", "sunset-2.png")]
    for name in ("fox.png", "sunset-1.png", "sunset-2.png"):
        assert imagefile.sniff((tmp_path / name).read_bytes()[:64]) == "image/png"
    assert "Authorization: Bearer <redacted>" in out  # the dry run
    assert "error" not in err
    with socket.socket() as s:  # `kill %1` stopped the gateway
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_install_starts_from_a_clone_with_or_without_pipx() -> None:
    install = README[README.index("## Install") : README.index("## Quick start")]
    assert "git clone" in install and "\ncd imggen\n" in install
    assert "pipx install ." in install
    assert "python3 -m venv .venv" in install and "python -m pip install ." in install


def test_quick_start_needs_nothing_but_imggen() -> None:
    quick = README[README.index("## Quick start") : README.index("## Help")]
    assert "convert " not in quick and "magick" not in quick  # no ImageMagick
    for profile in re.findall(r"-p (\w+)", quick):  # a profile named is a preset (or made here)
        assert profile in ("knox",) or f"--preset {profile}" in quick


def test_completion_install_makes_its_folders_and_sets_up_zsh() -> None:
    steps = block("## Shell completion")
    made = set(re.findall(r"^mkdir -p (\S+)$", steps, re.M))
    copies = re.findall(r"^cp completions/imggen\.(\w+) (\S+)$", steps, re.M)
    assert sorted(shell for shell, _ in copies) == ["bash", "fish", "zsh"]
    for _, target in copies:
        assert target.rsplit("/", 1)[0] in made, target
    zsh = block("zsh finds completion functions")
    assert zsh.splitlines() == ["fpath=(~/.zfunc $fpath)", "autoload -Uz compinit && compinit"]
