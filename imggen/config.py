"""The config file: where it lives, reading it (tomllib), writing it (tomli-w, atomic, 0600)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imggen.errors import ConfigError

FILE_NAME = "config.toml"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """IMGGEN_CONFIG if set, else config.toml in the platform's user config dir."""
    environ = os.environ if environ is None else environ
    if environ.get("IMGGEN_CONFIG"):
        return Path(environ["IMGGEN_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("imggen", appauthor=False)) / FILE_NAME


def load(path: Path) -> dict[str, Any]:
    """The parsed file, or {} when it does not exist. Raises ConfigError on bad TOML."""
    import tomllib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            hint="fix it by hand, or move it away and run `imggen config init`",
        ) from exc
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(
            f"config file {path}: `profiles` must be tables like [profiles.NAME]",
            hint="see `imggen config show` and the README's Configuration section",
        )
    return data


def save(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically (temp file in the same folder, then rename) with mode 0600."""
    import tomli_w

    text = tomli_w.dumps(dict(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml.tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def insecure_inline_key(path: Path, data: Mapping[str, Any]) -> list[str]:
    """Profiles holding an inline api_key in a file that group or others can read."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return []
    return [name for name, p in data.get("profiles", {}).items() if p.get("api_key")]


# Dotted keys: "profiles.turing.model", "default_profile"


def get_dotted(data: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key. Raises KeyError when absent."""
    node: Any = data
    for part in _split(key):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = _split(key)
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {part} is a value, not a table")
        node = child
    node[parts[-1]] = value


def unset_dotted(data: dict[str, Any], key: str) -> None:
    """Remove a dotted key and any tables it leaves empty. Raises KeyError when absent."""
    parts = _split(key)
    chain: list[dict[str, Any]] = [data]
    for part in parts[:-1]:
        child = chain[-1].get(part)
        if not isinstance(child, dict):
            raise KeyError(key)
        chain.append(child)
    if parts[-1] not in chain[-1]:
        raise KeyError(key)
    del chain[-1][parts[-1]]
    for parent, part in zip(reversed(chain[:-1]), reversed(parts[:-1]), strict=True):
        if parent[part] == {}:
            del parent[part]


def parse_value(text: str) -> Any:
    """A value typed on the command line: TOML/JSON literals (2, true, ["a"]), else a string."""
    import json
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text


def _split(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"bad key {key!r}: use dotted names like profiles.NAME.model")
    return parts
