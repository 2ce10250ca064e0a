"""issue 25: --install-completion with a .bashrc it cannot write is one clean error (it was a
raw Typer traceback), and it never writes its script through a link it did not make."""

from __future__ import annotations

import subprocess
import sys
import time
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


def test_the_shell_named_after_the_flag_is_the_one_installed(tmp_path: Path) -> None:
    # the tests run under bash (or under no shell at all): fish is installed because it was named
    env = subprocess_env({"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    done = subprocess.run(
        [*imggen_exe(), "--install-completion", "fish"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fish completion installed" in done.stdout
    assert (tmp_path / ".config/fish/completions/imggen.fish").read_text().strip()
    assert not (tmp_path / ".bashrc").exists()


def test_with_no_shell_found_it_takes_shell_from_the_environment(tmp_path: Path) -> None:
    # a detached child (its parent exits first) has no shell among its ancestors, as under a
    # Dockerfile RUN line or a CI runner: SHELL then says which script to install
    env = subprocess_env({"HOME": str(tmp_path), "SHELL": "/usr/bin/zsh"})
    out = tmp_path / "out.txt"
    out.write_text("")
    launcher = (
        "import subprocess, sys\n"
        f"subprocess.Popen(sys.argv[1:], stdout=open({str(out)!r}, 'w'),"
        " stderr=subprocess.STDOUT, start_new_session=True)\n"
    )
    subprocess.run(
        [sys.executable, "-c", launcher, *imggen_exe(), "--install-completion"],
        env=env,
        timeout=60,
        check=True,
    )
    for _ in range(600):  # the detached child: at most 60 s
        said = out.read_text()
        if "installed" in said or "not supported" in said:
            break
        time.sleep(0.1)
    assert "zsh completion installed" in out.read_text(), out.read_text()
    assert (tmp_path / ".zfunc" / "_imggen").read_text().strip()
