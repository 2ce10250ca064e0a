"""Start-up stays light (issue 8): what --version, --help and TAB import, and shipped
completion scripts that match the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "rich",
    "tomli_w",
    "pydantic",
    "markdown_it",
    "pygments",
    "imggen.wire.client",
    "imggen.run.core",
    "imggen.console",
    "imggen.wire.jsonstream",
    "pybase64",  # imported when an image arrives, not before
    "sqlite3",  # the history: imported when an image is saved or `imggen log` runs
    "PIL",  # --preview's decoder, imported only when a preview is drawn
    "imggen.preview",
    "imggen.api",
}


def imported(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Top-level names of the modules `imggen ARGV` imports, from python -X importtime."""
    code = "import sys; from imggen.cli import main; sys.argv = ['imggen', *sys.argv[1:]]; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name)
            names.add(name.split(".")[0])
    return names


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["generate", "--help"], ["edit", "--help"], ["config", "--help"]],
)
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    assert imported(argv) & HEAVY == set()


def test_version_imports_not_even_typer() -> None:
    names = imported(["--version"])
    assert "typer" not in names
    assert names & HEAVY == set()


def test_completion_request_imports_nothing_heavy(config_file: Path) -> None:
    env = {
        "_IMGGEN_COMPLETE": "complete_bash",
        "COMP_WORDS": "imggen generate -m ",
        "COMP_CWORD": "3",
    }
    names = imported([], env)
    assert names & HEAVY == set()
    assert "typer" not in names  # a value of a generate option: answered without Typer (tab.py)


def complete(words: str, cword: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "imggen"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "_IMGGEN_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        },
        timeout=60,
        check=False,
    )
    return done.stdout.split()


def test_profile_completion_offers_config_profiles_then_presets(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(
        tomli_w.dumps({"profiles": {"work": {"preset": "turing"}, "home": {"preset": "knox"}}})
    )
    got = complete("imggen generate -p ", 3)
    assert got[:2] == ["work", "home"]
    assert "openrouter" in got
    assert complete("imggen generate -p wo", 3) == ["work"]


def test_model_completion_follows_the_chosen_profile_without_network(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(tomli_w.dumps({"profiles": {"work": {"preset": "turing"}}}))
    got = complete("imggen generate -p work -m turing/gpt", 5)
    assert got == ["turing/gpt-image-2", "turing/gpt-image-1"]
    assert complete("imggen generate -p xty -m ", 5) == [
        "gemini-3.1-flash-image-preview",
        "gemini-3-pro-image-preview",
    ]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shipped_completion_scripts_are_up_to_date(shell: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "imggen", "--show-completion", shell],
        capture_output=True,
        text=True,
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shipped = (ROOT / "completions" / f"imggen.{shell}").read_text()
    assert done.stdout == shipped, "run completions/regenerate.sh"


def test_install_completion_zsh_installs_the_script_that_completes_on_the_first_tab(
    tmp_path: Path,
) -> None:
    """Typer's own zsh script registered its function on the first TAB of a new shell and
    completed nothing then; --install-completion zsh now writes the shipped script."""
    done = subprocess.run(
        [sys.executable, "-m", "imggen", "--install-completion", "zsh"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1",
        },
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    installed = (tmp_path / ".zfunc" / "_imggen").read_text()
    shipped = (ROOT / "completions" / "imggen.zsh").read_text()
    assert installed.strip() == shipped.strip()
    assert "loadautofunc" in installed


def test_root_help_table_matches_each_commands_own_help() -> None:
    """Root --help lists commands from a table so it need not import them; keep it true."""
    from imggen.cli.app import COMMANDS, load_command

    for name, (_, _, summary) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert (command.help or "").strip().split("\n\n")[0].replace("\n", " ") == summary


def test_root_help_imports_no_command_module() -> None:
    names = imported(["--help"])
    assert {"imggen.cli.generate", "imggen.cli.batch", "imggen.cli.config"} & names == set()


def test_a_run_off_a_terminal_never_imports_rich(config_file: Path) -> None:
    """Progress is switched off, not faked, off a TTY: rich stays unloaded (a closed
    loopback port makes the run fail fast after progress would have started)."""
    env = {
        "IMGGEN_BASE_URL": "http://127.0.0.1:9/v1",
        "IMGGEN_API_KEY": "k",
        "IMGGEN_MODEL": "some/model",
    }
    names = imported(["generate", "a fox", "--retries", "0", "-o", "fox.png"], env)
    assert "imggen.wire.client" in names
    assert "rich" not in names


# What a generate on the images API does not need before its request goes out (issue 26): Typer
# (cli/fast.py parses a plain command line), the other dialects, the SSE parser, the api_key_cmd
# runner; the price table, the history and the base64 decoder come once the bytes are in.
NOT_BEFORE_SENDING = {
    "typer",
    "click",
    "rich",
    "pygments",
    "subprocess",
    "imggen.cli.app",
    "imggen.cli.generate",
    "imggen.dialects.chat",
    "imggen.dialects.gemini",
    "imggen.dialects.google",
    "imggen.dialects.vendors",
    "imggen.dialects.openrouter_images",
    "imggen.wire.sse",
    "imggen.wire.polls",
    "imggen.secretcmd",
    "imggen.prices",
    "imggen.history",
    "sqlite3",
    "pybase64",
    "imggen.preview",
    "imggen.batch",
    "imggen.run.jobs",
    "imggen.api",
}

AT_FIRST_CONNECT = """
import os, socket, sys
def connect(self, address):  # the request is about to go out: what is loaded by now
    sys.stdout.write("\\n".join(sorted(sys.modules)))
    sys.stdout.flush()
    os._exit(0)
socket.socket.connect = connect
sys.argv = ["imggen", *sys.argv[1:]]
from imggen.cli import main
main()
"""


def loaded_when_sending(argv: list[str], env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", AT_FIRST_CONNECT, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_generate_sends_before_importing_what_the_send_does_not_need(
    config_file: Path, tmp_path: Path
) -> None:
    env = {
        "IMGGEN_BASE_URL": "http://127.0.0.1:9/v1",
        "IMGGEN_API_KEY": "k",
        "IMGGEN_MODEL": "turing/gpt-image-2",
    }
    names = loaded_when_sending(["generate", "a fox", "-o", str(tmp_path / "fox.png")], env)
    assert {"imggen.cli.fast", "imggen.wire.client", "imggen.dialects.images"} <= names
    assert names & NOT_BEFORE_SENDING == set()


def test_a_generate_that_needs_typer_still_sends(config_file: Path, tmp_path: Path) -> None:
    """A command line the fast path leaves to Typer (bundled short flags) runs as before."""
    env = {
        "IMGGEN_BASE_URL": "http://127.0.0.1:9/v1",
        "IMGGEN_API_KEY": "k",
        "IMGGEN_MODEL": "turing/gpt-image-2",
    }
    names = loaded_when_sending(["generate", "a fox", "-qv", "-o", str(tmp_path / "f.png")], env)
    assert {"typer", "imggen.cli.app", "imggen.wire.client"} <= names
