"""One frozen Settings from flags, environment, profile, preset and defaults.

Every value is resolved by the same precedence (SPEC "Configuration"):

1. a command-line flag (``-p``, ``-m`` and the generate options);
2. an ``IMGGEN_*`` environment variable (``IMGGEN_PROFILE``, ``IMGGEN_BASE_URL``,
   ``IMGGEN_API_KEY``, ``IMGGEN_MODEL``, ``IMGGEN_DIALECT``);
3. the profile in the config file;
4. the profile's preset (base URL, dialect per model, the key's usual variable);
5. a built-in default.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import config, options, suggest
from imggen.dialects import DIALECTS
from imggen.dialects.presets import PRESETS, Preset, infer_dialect, infer_size_rule
from imggen.errors import ConfigError, NoModel
from imggen.job import Gateway

SETTING_KEYS = (
    "preset",
    "dialect",
    "base_url",
    "model",
    "api_key_env",
    "api_key_cmd",
    "api_key",
)
# Every key a profile may hold: where the gateway is, and defaults for the image options.
PROFILE_KEYS = (*SETTING_KEYS, *options.PROFILE_OPTIONS)
ENV_PROFILE = "env"  # the profile name of an environment-only run


@dataclass(frozen=True)
class Settings:
    profile: str
    base_url: str
    model: str
    api_key: str = field(repr=False)
    key_source: str = ""
    key_origin: str = ""  # where the key came from, as the user would fix it: "$IMGGEN_API_KEY"
    preset: Preset | None = None
    dialect: str | None = None  # explicit (env or profile); None: per model, from the preset
    config_file: Path | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)  # checked option defaults
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def auth_hint(self) -> str:
        """What to check after the gateway rejected the key: the key's real source."""
        if not self.key_origin:
            return "check the key: `imggen config show` says where it comes from"
        also = (
            f"; unset it to use profile {self.profile!r}'s own key"
            if self.key_origin == "$IMGGEN_API_KEY" and self.profile != ENV_PROFILE
            else ""
        )
        return f"check the key: it came from {self.key_origin}{also}"

    def layer(self) -> options.Layer:
        """The profile's option defaults as a precedence layer."""
        return options.Layer(self.defaults, lambda key: f"profile {self.profile} ({key})")

    def gateway(self, model: str | None = None) -> Gateway:
        """The Gateway for a model (default: the settings' model), dialect and quirks resolved."""
        model = model or self.model
        info = self.preset.find(model) if self.preset else None
        dialect = self.dialect
        if not dialect and info:
            dialect = info.dialect
        if not dialect and self.preset:
            dialect = next(
                (d for needle, d in self.preset.model_dialects if needle in model.lower()),
                self.preset.dialect,
            )
        dialect = dialect or infer_dialect(model)
        style = DIALECTS[dialect]
        rule = info.size_rule if info else infer_size_rule(model)
        return Gateway(
            profile=self.profile,
            base_url=self.base_url,
            model=model,
            dialect=dialect,
            size_rule=rule,
            preset=self.preset.name if self.preset else None,
            # the dialect's rule first, then the model's
            can_stream=style.can_stream and (info.can_stream if info else True),
            no_stream_why=style.no_stream_why or (info.no_stream_why if info else ""),
            can_edit=info.can_edit if info else rule != "seedream",
            no_edit_why=info.no_edit_why if info else "",
            image_only=info.image_only if info else False,
            formats=info.formats if info else style.formats,
        )


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


def resolve(
    *,
    profile: str | None = None,
    model: str | None = None,
    environ: Mapping[str, str],
    path: Path | None = None,
    need_key: bool = True,
    model_source: str = "--model",
) -> Settings:
    """Settings for one command; `model`, when given, came from `model_source` (a flag or a
    manifest line). Raises ConfigError (exit 3) naming the fix."""
    path = path or config.config_path(environ)
    data = config.load(path)
    name, why = select_profile(profile, environ, data)
    profiles: Mapping[str, Any] = data.get("profiles", {})
    sources: dict[str, str] = {"config_file": str(path) if path.exists() else "(none)"}

    prof: Mapping[str, Any]
    if name is None:
        if not environ.get("IMGGEN_BASE_URL"):
            raise ConfigError(
                "no profile is configured",
                hint="run `imggen config init --preset NAME`, or set IMGGEN_BASE_URL, "
                "IMGGEN_API_KEY and IMGGEN_MODEL",
            )
        name, prof = ENV_PROFILE, {}
        sources["profile"] = "environment only"
    elif name in profiles:
        prof = profiles[name]
        sources["profile"] = f"{name} ({why})"
    elif name in PRESETS:
        prof = {"preset": name}  # a bare preset works as a profile of its own name
        sources["profile"] = f"{name} (built-in preset, not in the config file)"
    else:
        raise no_such_profile(name, why, path, profiles)

    preset_name = prof.get("preset")
    preset = None
    if preset_name:
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

    def pick(env_var: str, key: str, preset_value: Any = None) -> tuple[Any, str]:
        if environ.get(env_var):
            return environ[env_var], env_var
        if prof.get(key) not in (None, ""):
            return prof[key], f"profile {name}"
        if preset_value:
            return preset_value, f"preset {preset.name}" if preset else "default"
        return None, ""

    base_url, sources["base_url"] = pick(
        "IMGGEN_BASE_URL", "base_url", preset.base_url if preset else None
    )
    if base_url and not str(base_url).startswith(("http://", "https://")):
        raise ConfigError(
            f"base_url {base_url!r} ({sources['base_url']}) must start with https:// or http://",
            hint="for example https://gateway.example/v1",
        )
    if not base_url:
        raise ConfigError(
            f"profile {name!r} has no base_url"
            + (f" (the {preset.name} preset has no public default)" if preset else ""),
            hint=f"run `imggen config set profiles.{name}.base_url URL` or set IMGGEN_BASE_URL",
        )
    dialect, sources["dialect"] = pick("IMGGEN_DIALECT", "dialect")
    if dialect and dialect not in DIALECTS:
        raise ConfigError(
            f"unknown dialect {dialect!r} ({sources['dialect']})",
            hint=f"dialects: {', '.join(DIALECTS)}",
        )
    if model:
        sources["model"] = model_source
    else:
        model, sources["model"] = pick(
            "IMGGEN_MODEL", "model", preset.default_model if preset else None
        )
    if not model:
        raise NoModel(
            f"no model for profile {name!r}",
            hint=f"pass -m MODEL, run `imggen config set profiles.{name}.model MODEL`, "
            "or set IMGGEN_MODEL",
        )

    key, key_source, key_origin = "", "", ""
    if need_key:
        key, key_source, key_origin = _api_key(name, prof, preset, environ)
    sources["api_key"] = key_source
    defaults = profile_defaults(name, prof)
    warnings: tuple[str, ...] = ()
    if key_source == "config file (api_key)" and name in config.insecure_inline_key(path, data):
        warnings = (
            f"{path} holds the inline api_key of profile {name!r} and others can read it: "
            f"chmod 600 {path}, or move the key to api_key_env",
        )
    return Settings(
        profile=name,
        base_url=str(base_url).rstrip("/"),
        model=str(model),
        api_key=key,
        key_source=key_source,
        key_origin=key_origin,
        preset=preset,
        dialect=str(dialect) if dialect else None,
        config_file=path,
        defaults=defaults,
        sources=sources,
        warnings=warnings,
    )


def profile_defaults(name: str, prof: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's option defaults, checked as any value of those options is: a bad one is a
    config error (exit 3) naming the profile and key."""
    raw = {k: prof[k] for k in options.PROFILE_OPTIONS if k in prof}
    values, problems = options.check(raw, lambda key: f"profile {name} ({key})")
    if problems:
        first = problems[0]
        raise ConfigError(
            str(first),
            hint=f"fix it with `imggen config set profiles.{name}.{first.option} VALUE`"
            + (f"; {first.hint}" if first.hint else ""),
        )
    return values


def _api_key(
    name: str, prof: Mapping[str, Any], preset: Preset | None, environ: Mapping[str, str]
) -> tuple[str, str, str]:
    """The key, where it came from, and that in the user's terms (what to fix):
    IMGGEN_API_KEY > api_key_env > api_key_cmd > api_key > the preset's usual variable."""
    if environ.get("IMGGEN_API_KEY"):
        return environ["IMGGEN_API_KEY"], "environment variable IMGGEN_API_KEY", "$IMGGEN_API_KEY"
    var = prof.get("api_key_env")
    if var:
        if environ.get(str(var)):
            origin = f"${var} (api_key_env = {var} in profile {name!r})"
            return environ[str(var)], f"environment variable {var} (api_key_env)", origin
        raise ConfigError(
            f"profile {name!r} reads its key from ${var}, which is not set",
            hint=f"export {var}=... (or set IMGGEN_API_KEY)",
        )
    cmd = prof.get("api_key_cmd")
    if cmd:
        origin = f"the api_key_cmd of profile {name!r} (what it prints)"
        return _run_key_cmd(name, cmd), "command (api_key_cmd)", origin
    if prof.get("api_key"):
        origin = f"the api_key written inline in profile {name!r} of the config file"
        return str(prof["api_key"]), "config file (api_key)", origin
    if preset and environ.get(preset.key_env):
        origin = f"${preset.key_env} (the variable the {preset.name} preset reads)"
        return environ[preset.key_env], f"environment variable {preset.key_env} (preset)", origin
    hint_var = preset.key_env if preset else "IMGGEN_API_KEY"
    raise ConfigError(
        f"no API key for profile {name!r}",
        hint=f"export {hint_var}=..., or run `imggen config set profiles.{name}.api_key_env VAR`",
    )


def _run_key_cmd(name: str, cmd: Any) -> str:
    if isinstance(cmd, str):
        import shlex

        cmd = shlex.split(cmd)
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise ConfigError(f"profile {name!r}: api_key_cmd must be a list of strings (an argv)")
    try:
        # Its output is the key: never echo it, nor its stderr, which may hold it too.
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"profile {name!r}: api_key_cmd {cmd[0]!r} could not run ({type(exc).__name__})"
        ) from None
    key = done.stdout.strip()
    if done.returncode != 0 or not key:
        raise ConfigError(
            f"profile {name!r}: api_key_cmd {cmd[0]!r} exited {done.returncode} "
            "without printing a key",
            hint="run the command yourself to see why; imggen never shows its output, "
            "which may hold the key",
        )
    return key
