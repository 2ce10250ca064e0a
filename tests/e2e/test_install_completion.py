"""issue 25: --install-completion with a .bashrc it cannot write is one clean error (it was a
raw Typer traceback), and it never writes its script through a link it did not make."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import imggen_exe
from tests.e2e import subprocess_env


def _install(home: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env({"HOME": str(home), "SHELL": "/bin/bash"})
    return subprocess.run(
        [*imggen_exe(), "--install-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bashrc_that_cannot_be_written_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / ".bashrc").mkdir()  # unwritable as a file even for root, as read-only is not
    done = _install(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: cannot install the completion script:" in done.stderr
    assert ".bashrc: Is a directory" in done.stderr and "--show-completion bash" in done.stderr


def test_the_script_is_never_written_through_a_link(tmp_path: Path) -> None:
    (tmp_path / ".bash_completions").mkdir()
    target = tmp_path / "elsewhere.sh"
    target.write_text("keep\n")
    (tmp_path / ".bash_completions" / "imggen.sh").symlink_to(target)
    done = _install(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "is a symbolic link" in done.stderr
    assert target.read_text() == "keep\n" and not (tmp_path / ".bashrc").exists()


def test_an_ordinary_home_gets_the_script(tmp_path: Path) -> None:
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".bash_completions" / "imggen.sh").read_text().strip()
