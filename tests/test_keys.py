"""Keys are checked where they are read (exit 3 naming the source, never the key), api_key_cmd
runs in a process group of its own and is killed whole on timeout, and a base_url carrying
credentials is refused without being echoed."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.errors import ConfigError, ExitCode
from imggen.limits import Limits
from imggen.profiles import keys, settings

KEY = "sk-test-abcdef0123456789"
PY = sys.executable


@pytest.mark.parametrize(
    ("key", "fault"),
    [
        (KEY + "\n", "ends with a line break"),
        (KEY + "\r\n", "ends with a line break"),
        ("sk-a\r\nb", "has a line break at character 5 of 7"),
        (" " + KEY, "starts with a space"),
        ("sk-test abc", "has a space at character 8 of 11"),
        (KEY + "\t", "ends with a tab"),
        ("sk-\x00abc", "has a control character (U+0000) at character 4 of 7"),
        ("sk-\u00a0abc", "has a non-ASCII character (U+00A0) at character 4 of 7"),
        ("sk-ключ", "has a non-ASCII character (U+043A) at character 4 of 7"),
        ("\n", "is only a line break"),
    ],
)
def test_unsendable_keys_are_named_by_their_fault(key: str, fault: str) -> None:
    assert keys.problem(key) == fault


def test_a_printable_ascii_key_passes() -> None:
    assert keys.problem(KEY) is None
    assert keys.problem('sk-"quoted"!~') is None


SOURCES = {
    "IMGGEN_API_KEY": (
        {},
        {"IMGGEN_API_KEY": KEY + "\n"},
        "the API key from environment variable IMGGEN_API_KEY ends with a line break",
        "set IMGGEN_API_KEY again to the key alone (no line break, space or quotes)",
    ),
    "api_key_env": (
        {"api_key_env": "MY_KEY"},
        {"MY_KEY": "sk-\u00e9t\u00e9"},
        "the API key from environment variable MY_KEY (api_key_env) has a non-ASCII "
        "character (U+00E9) at character 4 of 6",
        "set MY_KEY again to the key alone (no line break, space or quotes)",
    ),
    "api_key": (
        {"api_key": "sk-a b"},
        {},
        "the API key from config file (api_key) has a space at character 5 of 6",
        "correct profiles.p.api_key in {path}, or move the key to api_key_env",
    ),
    "api_key_cmd": (
        {"api_key_cmd": [PY, "-c", "print('sk-a\\tb')"]},
        {},
        "the API key from command (api_key_cmd) has a tab at character 5 of 6",
        "make the command print the key alone",
    ),
    "preset variable": (
        {},
        {"KNOX_API_KEY": KEY + "\r"},
        "the API key from environment variable KNOX_API_KEY (preset) ends with a line break",
        "set KNOX_API_KEY again to the key alone (no line break, space or quotes)",
    ),
}


@pytest.mark.parametrize(("prof", "environ", "message", "hint"), SOURCES.values(), ids=SOURCES)
def test_a_bad_key_is_a_config_error_naming_its_source(
    write_config: Callable[..., Path],
    prof: dict[str, object],
    environ: dict[str, str],
    message: str,
    hint: str,
) -> None:
    path = write_config({"profiles": {"p": {"preset": "knox", **prof}}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ=environ, path=path)
    assert info.value.exit_code == ExitCode.CONFIG
    assert info.value.message == (
        f"{message}; keys are printable ASCII without spaces, and imggen will not send this one"
    )
    assert info.value.hint == hint.format(path=path)


def test_key_cmd_output_is_stripped_as_the_shell_does() -> None:
    cmd = [PY, "-c", f"print('  {KEY}  ')"]
    assert keys.run_key_cmd("p", cmd, timeout=10) == KEY


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return True


def test_key_cmd_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 30 & echo $! > {pidfile}; sleep 30"
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        keys.run_key_cmd("p", ["sh", "-c", script], timeout=0.5)
    assert time.monotonic() - started < 5
    assert info.value.message == (
        "profile 'p': api_key_cmd 'sh' did not finish within 0.5 s; imggen stopped it and "
        "every process it started"
    )
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild)


def test_key_cmd_that_leaves_a_background_child_returns_at_once(tmp_path: Path) -> None:
    """The child prints the key and exits; a grandchild holding the pipe must not hold imggen
    until the timeout."""
    pidfile = tmp_path / "bg.pid"
    script = f"sleep 30 & echo $! > {pidfile}; echo {KEY}"
    started = time.monotonic()
    try:
        assert keys.run_key_cmd("p", ["sh", "-c", script], timeout=20) == KEY
        assert time.monotonic() - started < 5
    finally:
        os.kill(int(pidfile.read_text()), 9)


def test_key_cmd_printing_without_end_is_stopped() -> None:
    with pytest.raises(ConfigError) as info:
        keys.run_key_cmd("p", ["yes"], timeout=10)
    assert info.value.message == (
        "profile 'p': api_key_cmd 'yes' printed more than 64 KiB; a key is one line"
    )


def test_key_cmd_reads_no_stdin() -> None:
    cmd = [PY, "-c", "import sys; print('k-' + str(len(sys.stdin.read())))"]
    assert keys.run_key_cmd("p", cmd, timeout=10) == "k-0"


def test_key_cmd_timeout_comes_from_the_limits(write_config: Callable[..., Path]) -> None:
    cmd = [PY, "-c", "import time; time.sleep(30)"]
    path = write_config({"profiles": {"p": {"preset": "knox", "api_key_cmd": cmd}}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={}, path=path, limits=Limits(key_cmd_timeout=0.2))
    assert "did not finish within 0.2 s" in info.value.message


# -- base_url ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://alice:hunter2@gw.test/v1",
            "base_url 'https://gw.test/v1' (IMGGEN_BASE_URL) holds credentials "
            "(user:password@); imggen sends the key separately",
        ),
        (
            "https://sk-secret@gw.test/v1",
            "base_url 'https://gw.test/v1' (IMGGEN_BASE_URL) holds credentials "
            "(user:password@); imggen sends the key separately",
        ),
        (
            "https://gw.test/v1?key=sk-secret",
            "base_url 'https://gw.test/v1' (IMGGEN_BASE_URL) has a query string or fragment; "
            "API paths are appended to it",
        ),
    ],
)
def test_base_url_with_credentials_is_refused_unechoed(url: str, message: str) -> None:
    environ = {"IMGGEN_BASE_URL": url, "IMGGEN_API_KEY": KEY, "IMGGEN_MODEL": "m"}
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ=environ, path=Path("/nonexistent/config.toml"))
    assert info.value.message == message
    for secret in ("hunter2", "sk-secret", "alice"):
        assert secret not in f"{info.value.message} {info.value.hint}"
