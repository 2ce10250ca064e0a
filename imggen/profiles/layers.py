"""The layers one setting is read from, each by its own function: the profile and how it was
chosen, its preset, the base URL, dialect, model, how the key is sent and the key itself
(environment > profile > preset > default; a flag, where there is one, is settings.resolve's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imggen import suggest
from imggen.dialects import DIALECTS
from imggen.dialects.presets import PRESETS, Preset
from imggen.errors import ConfigError, NoModel
from imggen.limits import Limits
from imggen.profiles import config, keys
from imggen.wire import auth as key_auth

ENV_PROFILE = "env"  # the profile name of an environment-only run


def select_profile(
    flag: str | None, environ: Mapping[str, str], data: Mapping[str, Any]
) -> tuple[str | None, str]:
    """Which profile to use, and why: flag > IMGGEN_PROFILE > default_profile > the only one."""
    if flag:
        return flag, "--profile"
    if environ.get("IMGGEN_PROFILE"):
        return environ["IMGGEN_PROFILE"], "IMGGEN_PROFILE"
    if data.get("default_profile"):
        return str(data["default_profile"]), "default_profile"
    profiles = data.get("profiles", {})
    if len(profiles) == 1:
        return next(iter(profiles)), "the only profile"
    return None, ""


def no_such_profile(name: str, why: str, path: Path, profiles: Mapping[str, Any]) -> ConfigError:
    """The error for a profile that is neither in the config file nor a preset: where its name
    came from (a flag, $IMGGEN_PROFILE, default_profile) and the name it was likely meant to be."""
    source = {
        "IMGGEN_PROFILE": " (from $IMGGEN_PROFILE)",
        "default_profile": " (default_profile)",
    }.get(why, "")
    guess = suggest.closest(name, [*profiles, *PRESETS])
    create = f"create it with `imggen config init {name} --preset NAME`"
    if guess:
        message = f"profile {name!r}{source} not found in {path} (did you mean {guess!r}?)"
        fix = {
            "IMGGEN_PROFILE": f"export IMGGEN_PROFILE={guess}",
            "default_profile": f"run `imggen config use {guess}`",
        }.get(why, f"pass -p {guess}")
        return ConfigError(message, hint=f"{fix}, or {create}")
    known = ", ".join(sorted(profiles)) or "none"
    message = f"profile {name!r}{source} not found in {path} (profiles: {known})"
    fix = {
        "IMGGEN_PROFILE": "unset IMGGEN_PROFILE or name a profile or preset in it, or ",
        "default_profile": "run `imggen config use NAME`, or ",
    }.get(why, "")
    return ConfigError(message, hint=fix + create)


@dataclass(frozen=True)
class Layers:
    """The layers below the flags: the environment, the profile, its preset."""

    name: str
    prof: Mapping[str, Any]
    preset: Preset | None
    environ: Mapping[str, str]

    def pick(self, env_var: str, key: str, preset_value: Any = None) -> tuple[Any, str]:
        """A value and the layer it came from: environment > profile > preset."""
        if self.environ.get(env_var):
            return self.environ[env_var], env_var
        if self.prof.get(key) not in (None, ""):
            return self.prof[key], f"profile {self.name}"
        if preset_value:
            return preset_value, f"preset {self.preset.name}" if self.preset else "default"
        return None, ""


def chosen_profile(
    flag: str | None, environ: Mapping[str, str], data: Mapping[str, Any], path: Path
) -> tuple[str, Mapping[str, Any], str]:
    """The profile's name, its table and how it was chosen."""
    name, why = select_profile(flag, environ, data)
    profiles: Mapping[str, Any] = data.get("profiles", {})
    if name is None:
        if not environ.get("IMGGEN_BASE_URL"):
            raise ConfigError(
                "no profile is configured",
                hint="run `imggen config init --preset NAME`, or set IMGGEN_BASE_URL, "
                "IMGGEN_API_KEY and IMGGEN_MODEL",
            )
        return ENV_PROFILE, {}, "environment only"
    if name in profiles:
        return name, profiles[name], f"{name} ({why})"
    if name in PRESETS:  # a bare preset works as a profile of its own name
        return name, {"preset": name}, f"{name} (built-in preset, not in the config file)"
    raise no_such_profile(name, why, path, profiles)


def preset_of(name: str, prof: Mapping[str, Any]) -> Preset | None:
    preset_name = prof.get("preset")
    if not preset_name:
        return None
    preset = PRESETS.get(str(preset_name))
    if preset is None:
        guess = suggest.closest(str(preset_name), PRESETS)
        raise ConfigError(
            f"profile {name!r} names an unknown preset {preset_name!r}"
            + (f" (did you mean {guess!r}?)" if guess else ""),
            hint=f"run `imggen config set profiles.{name}.preset {guess}`"
            if guess
            else f"presets: {', '.join(PRESETS)}",
        )
    return preset


def base_url_of(layers: Layers) -> tuple[Any, str]:
    preset = layers.preset
    base_url, source = layers.pick(
        "IMGGEN_BASE_URL", "base_url", preset.base_url if preset else None
    )
    fault = base_url_problem(str(base_url)) if base_url else None
    if fault:
        raise ConfigError(
            f"base_url {shown_url(str(base_url))!r} ({source}) {fault}",
            hint="for example https://gateway.example/v1; the key goes in api_key_env, "
            "api_key_cmd or api_key",
        )
    if not base_url:
        raise ConfigError(
            f"profile {layers.name!r} has no base_url"
            + (f" (the {preset.name} preset has no public default)" if preset else ""),
            hint=f"run `imggen config set profiles.{layers.name}.base_url URL` or set "
            "IMGGEN_BASE_URL",
        )
    return base_url, source


def dialect_of(layers: Layers) -> tuple[Any, str]:
    dialect, source = layers.pick("IMGGEN_DIALECT", "dialect")
    if dialect and dialect not in DIALECTS:
        raise ConfigError(
            f"unknown dialect {dialect!r} ({source})", hint=f"dialects: {', '.join(DIALECTS)}"
        )
    return dialect, source


def model_of(layers: Layers, flag: str | None, flag_source: str) -> tuple[Any, str]:
    if flag:
        return flag, flag_source
    preset = layers.preset
    model, source = layers.pick("IMGGEN_MODEL", "model", preset.default_model if preset else None)
    if not model:
        name = layers.name
        raise NoModel(
            f"no model for profile {name!r}",
            hint=f"pass -m MODEL, run `imggen config set profiles.{name}.model MODEL`, "
            "or set IMGGEN_MODEL",
        )
    return model, source


def key_of(
    layers: Layers, path: Path, limits: Limits
) -> tuple[str, keys.KeyFrom, Callable[[], str] | None]:
    """The key, where it came from, and how to fetch it again (a command's short-lived token)."""

    def fetch() -> tuple[str, keys.KeyFrom]:
        return keys.api_key(
            layers.name,
            layers.prof,
            layers.preset,
            layers.environ,
            path=path,
            cmd_timeout=limits.key_cmd_timeout,
        )

    key, key_from = fetch()
    refresh = (lambda: fetch()[0]) if key_from.source == keys.FROM_CMD else None
    return key, key_from, refresh


def key_warnings(
    name: str, key_from: keys.KeyFrom | None, path: Path, data: Mapping[str, Any]
) -> tuple[str, ...]:
    if (
        key_from
        and key_from.source == "config file (api_key)"
        and name in config.insecure_inline_key(path, data)
    ):
        return (
            f"{path} holds the inline api_key of profile {name!r} and others can read it: "
            f"chmod 600 {path}, or move the key to api_key_env",
        )
    return ()


def auth_of(name: str, prof: Mapping[str, Any], preset: Preset | None) -> tuple[key_auth.Auth, str]:
    """How the key is sent, and where that was said: the profile's `auth` > the preset's >
    wire.auth.BEARER. Raises ConfigError (exit 3) for a way imggen does not know."""
    if prof.get("auth") not in (None, ""):
        spec, source = str(prof["auth"]), f"profile {name}"
    elif preset is not None:
        spec, source = preset.auth, f"preset {preset.name}"
    else:
        return key_auth.BEARER, "default"
    try:
        return key_auth.parse(spec), source
    except ValueError as exc:
        raise ConfigError(
            f"profile {name!r}: {exc}",
            hint=f"for example `imggen config set profiles.{name}.auth api-key`",
        ) from None


def base_url_problem(url: str) -> str | None:
    """Why a base URL cannot be used, in words that do not quote it; None when it can.

    Credentials in it (user:password@) would stand beside the key and show wherever the URL
    is shown (-v, doctor, config show); a query string or fragment would end up in the middle
    of every API path appended to it."""
    if not url.startswith(("http://", "https://")):
        return "must start with https:// or http://"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return "holds credentials (user:password@); imggen sends the key separately"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "has a query string or fragment; API paths are appended to it"
    return None


def shown_url(url: str) -> str:
    """A URL as messages show it: no user:password@, no query string, no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("@")[-1].split("?")[0].split("#")[0]
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
