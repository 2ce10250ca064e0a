"""The API key: where a profile's key comes from, the check it passes before it is used (a key is
sent as a header, so it must be printable ASCII without spaces), and api_key_cmd, run in a
process group of its own. A key is never shown: not in a message, not in a hint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imggen.dialects.presets import Preset
from imggen.errors import ConfigError

CMD_OUTPUT_CAP = 64 * 1024  # a key is one short line; more is not a key
FROM_CMD = "command (api_key_cmd)"  # a key that may be fetched again when it expires


@dataclass(frozen=True)
class KeyFrom:
    """Where a key came from: `source` as `config show` and `doctor` name it ("environment
    variable IMGGEN_API_KEY"), and `fix` as the user would correct it ("$IMGGEN_API_KEY"),
    which an auth failure's hint names."""

    source: str
    fix: str


def api_key(
    name: str,
    prof: Mapping[str, Any],
    preset: Preset | None,
    environ: Mapping[str, str],
    *,
    path: Path | None = None,
    cmd_timeout: float = 30.0,
) -> tuple[str, KeyFrom]:
    """The key and where it came from: IMGGEN_API_KEY > api_key_env > api_key_cmd > api_key >
    the preset's usual variable. Raises ConfigError (exit 3): none found, or one that cannot
    be sent (`check`)."""
    if environ.get("IMGGEN_API_KEY"):
        source = "environment variable IMGGEN_API_KEY"
        key = check(environ["IMGGEN_API_KEY"], source, fix=_env_fix("IMGGEN_API_KEY"))
        return key, KeyFrom(source, "$IMGGEN_API_KEY")
    var = prof.get("api_key_env")
    if var:
        if not is_variable_name(var):  # perhaps the key itself, pasted in the wrong place
            raise ConfigError(
                f"profile {name!r}: api_key_env is not the name of an environment variable",
                hint="api_key_env names the variable that holds the key, e.g. "
                f"`imggen config set profiles.{name}.api_key_env OPENROUTER_API_KEY`",
            )
        if environ.get(str(var)):
            source = f"environment variable {var} (api_key_env)"
            origin = f"${var} (api_key_env = {var} in profile {name!r})"
            key = check(environ[str(var)], source, fix=_env_fix(str(var)))
            return key, KeyFrom(source, origin)
        for other in preset.also_env if preset and var == preset.key_env else ():
            if environ.get(other):  # Gemini: GOOGLE_API_KEY, as Google's own SDK reads it
                source = f"environment variable {other} (instead of {var})"
                key = check(environ[other], source, fix=_env_fix(other))
                return key, KeyFrom(source, f"${other} (read because ${var} is not set)")
        raise ConfigError(
            f"profile {name!r} reads its key from ${var}, which is not set",
            hint=f"export {var}=... (or set IMGGEN_API_KEY)",
        )
    cmd = prof.get("api_key_cmd")
    if cmd:
        source = FROM_CMD
        key = run_key_cmd(name, cmd, timeout=cmd_timeout)
        origin = f"the api_key_cmd of profile {name!r} (what it prints)"
        return check(key, source, fix="make the command print the key alone"), KeyFrom(
            source, origin
        )
    if prof.get("api_key"):
        source = "config file (api_key)"
        where = f" in {path}" if path else ""
        fix = f"correct profiles.{name}.api_key{where}, or move the key to api_key_env"
        origin = f"the api_key written inline in profile {name!r} of the config file"
        return check(str(prof["api_key"]), source, fix=fix), KeyFrom(source, origin)
    for var in (preset.key_env, *preset.also_env) if preset else ():
        if environ.get(var):
            assert preset is not None
            source = f"environment variable {var} (preset)"
            origin = f"${var} (the variable the {preset.name} preset reads)"
            key = check(environ[var], source, fix=_env_fix(var))
            return key, KeyFrom(source, origin)
    if preset and preset.key_cmd:  # Vertex AI: gcloud prints a short-lived token
        key = run_key_cmd(name, list(preset.key_cmd), timeout=cmd_timeout)
        origin = f"the {preset.name} preset's command `{' '.join(preset.key_cmd)}`"
        return check(key, FROM_CMD, fix="make the command print the key alone"), KeyFrom(
            FROM_CMD, origin
        )
    hint_var = preset.key_env if preset else "IMGGEN_API_KEY"
    raise ConfigError(
        f"no API key for profile {name!r}",
        hint=f"export {hint_var}=..., or run `imggen config set profiles.{name}.api_key_env VAR`",
    )


def is_variable_name(value: Any) -> bool:
    """A portable environment variable name: letters, digits and _, not starting with a
    digit."""
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) is not None


def problem(key: str) -> str | None:
    """What makes `key` unsendable in a header, in words that never quote it; None when
    it is printable ASCII without spaces (RFC 7230 header text, and what every gateway issues).

    A pasted key often carries a line break or a no-break space: sent, it either fails inside
    the HTTP library with the whole header in its message, or reaches the gateway mangled."""
    for i, ch in enumerate(key):
        if "!" <= ch <= "~":
            continue
        if ch in "\r\n":
            what = "a line break"
        elif ch in " \t":
            what = "a space" if ch == " " else "a tab"
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            what = f"a control character (U+{ord(ch):04X})"
        else:
            what = f"a non-ASCII character (U+{ord(ch):04X})"
        if len(key) == 1:
            return f"is only {what}"
        if not key[i:].strip():  # only whitespace from here: "sk-...\r\n"
            return f"ends with {what}"
        if i == 0:
            return f"starts with {what}"
        return f"has {what} at character {i + 1} of {len(key)}"
    return None


def check(key: str, source: str, *, fix: str) -> str:
    """The key, if it can be sent. Raises ConfigError (exit 3) naming the source and the fault,
    never the key."""
    fault = problem(key)
    if fault is None:
        return key
    raise ConfigError(
        f"the API key from {source} {fault}; keys are printable ASCII without spaces, and "
        "imggen will not send this one",
        hint=fix,
    )


def _env_fix(var: str) -> str:
    return f"set {var} again to the key alone (no line break, space or quotes)"


def run_key_cmd(name: str, cmd: Any, *, timeout: float) -> str:
    """The key an api_key_cmd prints (surrounding whitespace stripped, as `$(cmd)` does).

    It runs in a session and process group of its own, without a terminal or stdin (which may
    hold the prompt); on timeout the whole group is killed, grandchildren included. Its output
    and stderr are never shown: they may hold the key. Raises ConfigError (exit 3)."""
    if isinstance(cmd, str):
        import shlex

        cmd = shlex.split(cmd)
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise ConfigError(f"profile {name!r}: api_key_cmd must be a list of strings (an argv)")
    label = f"profile {name!r}: api_key_cmd {cmd[0]!r}"
    from imggen import secretcmd  # its subprocess machinery only where a profile runs one

    try:
        printed = secretcmd.run(cmd, timeout=timeout, cap=CMD_OUTPUT_CAP)
    except OSError as exc:
        raise ConfigError(f"{label} could not run ({type(exc).__name__})") from None
    if printed.why == "timeout":
        raise ConfigError(
            f"{label} did not finish within {timeout:g} s; imggen stopped it and every "
            "process it started",
            hint="run it yourself to see why; if it waits for a passphrase, unlock your "
            "keyring or agent first (imggen runs it without a terminal)",
        )
    if printed.why == "too much":
        raise ConfigError(
            f"{label} printed more than {CMD_OUTPUT_CAP // 1024} KiB; a key is one line",
            hint="make the command print the key alone",
        )
    out, code = printed.out, printed.code
    key = out.decode("utf-8", "replace").strip()
    if code != 0 or not key:
        raise ConfigError(
            f"{label} exited {code} without printing a key",
            hint="run the command yourself to see why; imggen never shows its output, "
            "which may hold the key",
        )
    return key
