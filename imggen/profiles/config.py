"""The config file: where it lives, reading it (tomllib), and changing it in place (tomlkit:
comments and layout survive; atomic, mode 0600, written through a symlink to its target)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imggen.errors import ConfigError

FILE_NAME = "config.toml"
SIZE_CAP = 1024 * 1024  # a config file is a few KB; more is not one (IMGGEN_CONFIG=/dev/zero)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """IMGGEN_CONFIG if set, else config.toml in the platform's user config dir."""
    environ = os.environ if environ is None else environ
    if environ.get("IMGGEN_CONFIG"):
        return Path(environ["IMGGEN_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("imggen", appauthor=False)) / FILE_NAME


def load(path: Path) -> dict[str, Any]:
    """The parsed file, or {} when it does not exist. Raises ConfigError on bad TOML."""
    text = _read(path)
    return {} if text is None else _parse(path, text)


def load_document(path: Path) -> Any:
    """The file as a tomlkit document, to change in place and save(): its comments, order and
    layout survive. An empty document when the file does not exist. Raises ConfigError."""
    import tomlkit

    text = _read(path)
    if text is None:
        return tomlkit.document()
    _parse(path, text)  # tomllib's messages name the line; and `profiles` must be tables
    return tomlkit.parse(text)


def _read(path: Path) -> str | None:
    """The file's text; None when it does not exist. Only a regular file, and a small one, is
    read: a FIFO would block and /dev/zero would never end."""
    from imggen.files import bounded

    try:
        raw = bounded.read(path, SIZE_CAP)
    except FileNotFoundError:
        return None
    except bounded.NotRegular as exc:
        raise ConfigError(f"config file {path} is {exc.kind}, not a regular file") from None
    except bounded.TooLarge:
        raise ConfigError(
            f"config file {path} is over {SIZE_CAP // 1024} KiB; a config file is a few KB",
            hint="check IMGGEN_CONFIG: it may point at the wrong file",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            hint="fix it by hand, or move it away and run `imggen config init`",
        ) from exc


def _parse(path: Path, text: str) -> dict[str, Any]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
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
    """Write `data` (a load_document() as changed, or a plain mapping) atomically with mode
    0600: a temp file beside the real file, then a rename over it. A symlink (a config kept
    with the dotfiles) is written through to its target and stays a link.

    Raises ConfigError (exit 3) naming the path when it cannot be written."""
    import tomlkit

    text = tomlkit.dumps(data)
    real = Path(os.path.realpath(path))
    shown = f"{path} (a link to {real})" if os.path.islink(path) else str(path)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml.tmp", dir=real.parent)
    except OSError as exc:
        from imggen.files.targets import file_in_the_way

        blocker = file_in_the_way(real.parent)
        why = f"{blocker} is a file, not a folder" if blocker else exc.strerror
        raise ConfigError(
            f"cannot write the config file {shown}: {why}",
            hint="check the folder's permissions, or point IMGGEN_CONFIG at a writable file",
        ) from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write the config file {shown}: {exc.strerror}",
            hint="nothing was changed; free some space or check the folder's permissions",
        ) from None
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
    """Set a dotted key, making the tables on the way (a tomlkit document stays one)."""
    parts = _split(key)
    node = data
    for part in parts[:-1]:
        if part not in node:
            node[part] = {}
        child = node[part]  # read back: a tomlkit container turns the {} into a Table
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


def split_key(key: str) -> list[str]:
    """A dotted key's parts, read as TOML reads a key: a part holding a dot is quoted,
    profiles.work.models."gemini-2.5-flash-image".like (or 'single' quotes). A key TOML
    cannot read is split at its dots."""
    import tomllib

    if '"' in key or "'" in key:
        try:
            node: Any = tomllib.loads(f"{key} = 0")
        except tomllib.TOMLDecodeError:
            raise ConfigError(
                f"bad key {key!r}: quote a part that holds a dot whole, as TOML does: "
                'profiles.work.models."gemini-2.5-flash-image".like'
            ) from None
        parts = []
        while isinstance(node, dict) and len(node) == 1:
            part, node = next(iter(node.items()))
            parts.append(part)
        return parts
    return key.split(".")


def _split(key: str) -> list[str]:
    parts = split_key(key)
    if not key or any(not p for p in parts):
        raise ConfigError(f"bad key {key!r}: use dotted names like profiles.NAME.model")
    return parts
