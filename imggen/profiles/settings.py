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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imggen import options, suggest
from imggen.dialects import DIALECTS
from imggen.dialects.caps import GENERIC
from imggen.dialects.presets import (
    PRESETS,
    ModelInfo,
    Preset,
    infer_dialect,
    infer_size_rule,
    known,
)
from imggen.dialects.rules import CAPS, openai_name
from imggen.errors import ConfigError, NoModel
from imggen.job import Gateway
from imggen.limits import Limits
from imggen.profiles import config, keys
from imggen.profiles.aliases import profile_models
from imggen.profiles.modelcache import IMAGE_API, Learned, Listed

SETTING_KEYS = (
    "preset",
    "dialect",
    "base_url",
    "model",
    "api_key_env",
    "api_key_cmd",
    "api_key",
    "models",
)
IMAGES_STYLE = ("images", IMAGE_API)  # dialects whose fields Caps describe
# Every key a profile may hold: where the gateway is, and defaults for the image options.
PROFILE_KEYS = (*SETTING_KEYS, *options.PROFILE_OPTIONS)
ENV_PROFILE = "env"  # the profile name of an environment-only run


@dataclass(frozen=True)
class Settings:
    profile: str
    base_url: str
    model: str
    api_key: str = field(repr=False)
    key_from: keys.KeyFrom | None = None  # None: no key was needed (a dry run)
    preset: Preset | None = None
    dialect: str | None = None  # explicit (env or profile); None: per model, from the preset
    config_file: Path | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)  # checked option defaults
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # profile models
    learned: Learned | None = None  # what the gateway's listings said (modelcache)

    @property
    def key_source(self) -> str:
        """Where the key came from, as `config show` and `doctor` say it; "" for no key."""
        return self.key_from.source if self.key_from else ""

    def auth_hint(self) -> str:
        """What to check after the gateway rejected the key: the key's real source."""
        if self.key_from is None:
            return "check the key: `imggen config show` says where it comes from"
        fix = self.key_from.fix
        also = (
            f"; unset it to use profile {self.profile!r}'s own key"
            if fix == "$IMGGEN_API_KEY" and self.profile != ENV_PROFILE
            else ""
        )
        return f"check the key: it came from {fix}{also}"

    def layer(self) -> options.Layer:
        """The profile's option defaults as a precedence layer."""
        return options.Layer(self.defaults, lambda key: f"profile {self.profile} ({key})")

    def gateway(self, model: str | None = None) -> Gateway:
        """The Gateway for a model (default: the settings' model), dialect and rules resolved.

        The model's rules come from the profile's table for it (`like`), else the preset's
        catalog, else what the gateway's listing said, else its name."""
        model = model or self.model
        alias = self.aliases.get(model, {})
        listed = self.learned.models.get(model) if self.learned else None
        info = known(alias["like"]) if alias.get("like") else None
        info = info or (self.preset.find(model) if self.preset else None)
        dialect = self._dialect(model, alias, info, listed)
        style = DIALECTS[dialect]
        caps = None
        if dialect == IMAGE_API:
            caps = listed.caps if listed and listed.caps else GENERIC
            rule = "any"  # its descriptors decide, not the name
        else:
            rule = info.size_rule if info else infer_size_rule(model)
        if dialect == "images":
            name = (info.caps if info else None) or openai_name(info.id if info else model)
            caps = CAPS[name] if name else GENERIC
        stream, edit = _abilities(info, caps, rule)
        preset = self.preset
        return Gateway(
            profile=self.profile,
            base_url=self.base_url,
            model=model,
            dialect=dialect,
            size_rule=rule,
            preset=preset.name if preset else None,
            # the dialect's rule first, then the model's
            can_stream=style.can_stream and stream,
            no_stream_why=style.no_stream_why or (info.no_stream_why if info else ""),
            can_edit=edit,
            no_edit_why=(caps.no_edit_why if caps else "") or (info.no_edit_why if info else ""),
            image_only=(info.image_only if info else False)
            or bool(listed and listed.outputs == ("image",)),
            formats=_formats(caps, info, style.formats),
            caps=caps,
            stream_default=dialect not in IMAGES_STYLE,
            tier_names=preset.tier_names if preset else (),
            currency=preset.currency if preset else None,
            stream_usage=preset.stream_usage if preset else True,
        )

    def _chat(self, dialect: str | None) -> str | None:
        """A listing's "chat" (LiteLLM's model groups: a chat deployment) as the preset's
        chat dialect."""
        if dialect != "chat":
            return dialect
        own = self.preset.dialect if self.preset else None
        return own if own and own not in IMAGES_STYLE else "openrouter"

    def _dialect(
        self, model: str, alias: Mapping[str, str], info: ModelInfo | None, listed: Listed | None
    ) -> str:
        """IMGGEN_DIALECT > the profile's table for the model > the profile's dialect > the
        gateway's listing > the catalog (or `like`) > the preset's per-model rule > the name."""
        from_env = self.dialect if self.sources.get("dialect") == "IMGGEN_DIALECT" else None
        choices = (
            from_env,
            alias.get("dialect"),
            self.dialect,
            self._chat(listed.dialect) if listed else None,
            info.dialect if info else None,
        )
        found = next((d for d in choices if d), None)
        if found:
            return found
        if self.preset:
            return next(
                (d for needle, d in self.preset.model_dialects if needle in model.lower()),
                self.preset.dialect,
            )
        return infer_dialect(model)


def _abilities(info: ModelInfo | None, caps: Any, rule: str) -> tuple[bool, bool]:
    """(can stream, can edit): the model's rules where imggen has them, else its catalog entry."""
    if caps is not None and caps.checked:
        return caps.stream, caps.edit
    if info is not None:
        return info.can_stream, info.can_edit
    return True, rule != "seedream"


def _formats(caps: Any, info: ModelInfo | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if caps is not None and caps.checked:
        found = caps.fields.get("output_format")
        return tuple(v for v in found.values if v in ("png", "jpeg", "webp")) if found else ()
    return info.formats if info else default


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
    limits: Limits = Limits(),
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
    fault = base_url_problem(str(base_url)) if base_url else None
    if fault:
        raise ConfigError(
            f"base_url {shown_url(str(base_url))!r} ({sources['base_url']}) {fault}",
            hint="for example https://gateway.example/v1; the key goes in api_key_env, "
            "api_key_cmd or api_key",
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

    key, key_from = "", None
    if need_key:
        key, key_from = keys.api_key(
            name, prof, preset, environ, path=path, cmd_timeout=limits.key_cmd_timeout
        )
    sources["api_key"] = key_from.source if key_from else ""
    defaults = profile_defaults(name, prof)
    aliases = profile_models(name, prof)  # checked: a bad table is exit 3
    warnings: tuple[str, ...] = ()
    if (
        key_from
        and key_from.source == "config file (api_key)"
        and name in config.insecure_inline_key(path, data)
    ):
        warnings = (
            f"{path} holds the inline api_key of profile {name!r} and others can read it: "
            f"chmod 600 {path}, or move the key to api_key_env",
        )
    return Settings(
        profile=name,
        base_url=str(base_url).rstrip("/"),
        model=str(model),
        api_key=key,
        key_from=key_from,
        preset=preset,
        dialect=str(dialect) if dialect else None,
        config_file=path,
        defaults=defaults,
        sources=sources,
        warnings=warnings,
        aliases=aliases,
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


def base_url_problem(url: str) -> str | None:
    """Why a base URL cannot be used, in words that do not quote it; None when it can.

    Credentials in it (user:password@) would replace the Bearer key and show wherever the URL
    is shown (-v, doctor, config show); a query string or fragment would end up in the middle
    of every API path appended to it."""
    if not url.startswith(("http://", "https://")):
        return "must start with https:// or http://"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return "holds credentials (user:password@); imggen sends the key as a Bearer header"
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
