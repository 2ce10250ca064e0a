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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import options
from imggen.dialects import DIALECTS
from imggen.dialects.caps import GENERIC
from imggen.dialects.presets import (
    ModelInfo,
    Preset,
    infer_dialect,
    infer_size_rule,
    known,
)
from imggen.dialects.rules import CAPS, openai_name
from imggen.errors import ConfigError
from imggen.job import Gateway
from imggen.limits import Limits
from imggen.profiles import config, keys
from imggen.profiles import layers as layers_mod
from imggen.profiles.aliases import profile_models
from imggen.profiles.layers import ENV_PROFILE
from imggen.profiles.modelcache import IMAGE_API, Learned, Listed
from imggen.sizes import RULES
from imggen.wire import auth as key_auth

SETTING_KEYS = (
    "preset",
    "dialect",
    "base_url",
    "model",
    "api_key_env",
    "api_key_cmd",
    "api_key",
    "auth",
    "api_version",
    "models",
)
IMAGES_STYLE = ("images", IMAGE_API, "azure")  # dialects whose fields Caps describe
# Every key a profile may hold: where the gateway is, and defaults for the image options.
PROFILE_KEYS = (*SETTING_KEYS, *options.PROFILE_OPTIONS)


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
    auth: key_auth.Auth = key_auth.BEARER  # how the key is sent (profile > preset > Bearer)
    api_version: str = ""  # Azure's api-version (profile > preset)
    # fetches the key again (api_key_cmd: a short-lived token); None where it cannot change
    refresh: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    # gateway()'s answers by model: a batch of 10,000 jobs asks for the same one each time
    _gateways: dict[str, Gateway] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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

    def connection(self) -> dict[str, Any]:
        """Where the API client sends calls and how it sends the key: the wire.client.Client
        arguments every command passes the same way."""
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "auth": self.auth,
            "refresh": self.refresh,
        }

    def layer(self) -> options.Layer:
        """The profile's option defaults as a precedence layer."""
        return options.Layer(self.defaults, lambda key: f"profile {self.profile} ({key})")

    def gateway(self, model: str | None = None) -> Gateway:
        """The Gateway for a model (default: the settings' model), dialect and rules resolved.

        The model's rules come from the profile's table for it (`like`), else the preset's
        catalog, else what the gateway's listing said, else its name."""
        model = model or self.model
        made = self._gateways.get(model)
        if made is None:
            made = self._gateways[model] = self._gateway(model)
        return made

    def _gateway(self, model: str) -> Gateway:
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
            if info is None and dialect in RULES:  # together, xai, recraft: one rule each
                rule = dialect
        if dialect in ("images", "azure"):
            name = (info.caps if info else None) or openai_name(info.id if info else model)
            caps = CAPS[name] if name else GENERIC
        stream, edit = _abilities(info, caps, rule)
        takes = getattr(style, "takes", None)  # what the dialect can carry at all
        no_edit = (
            ""
            if takes is None or "inputs" in takes
            else f"the {dialect} dialect takes no input images"
        )
        edit = edit and not no_edit
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
            no_edit_why=(caps.no_edit_why if caps else "")
            or (info.no_edit_why if info else "")
            or no_edit,
            image_only=(info.image_only if info else False)
            or bool(listed and listed.outputs == ("image",)),
            formats=_formats(caps, info, style.formats),
            caps=caps,
            stream_default=dialect not in IMAGES_STYLE,
            tier_names=preset.tier_names if preset else (),
            currency=preset.currency if preset else None,
            stream_usage=preset.stream_usage if preset else True,
            api_version=self.api_version or (preset.api_version if preset else ""),
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
        # a gateway with one API style (Azure, Google): `like` borrows rules, not the style
        borrowed = not (self.preset and self.preset.one_dialect)
        choices = (
            from_env,
            alias.get("dialect"),
            self.dialect,
            self._chat(listed.dialect) if listed and borrowed else None,
            info.dialect if info and borrowed else None,
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
    manifest line). Each value is read by its own function, layer by layer (flag > environment
    > profile > preset > default). Raises ConfigError (exit 3) naming the fix."""
    path = path or config.config_path(environ)
    data = config.load(path)
    sources: dict[str, str] = {"config_file": str(path) if path.exists() else "(none)"}
    name, prof, sources["profile"] = layers_mod.chosen_profile(profile, environ, data, path)
    preset = layers_mod.preset_of(name, prof)
    layers = layers_mod.Layers(name, prof, preset, environ)
    base_url, sources["base_url"] = layers_mod.base_url_of(layers)
    dialect, sources["dialect"] = layers_mod.dialect_of(layers)
    model, sources["model"] = layers_mod.model_of(layers, model, model_source)
    way, sources["auth"] = layers_mod.auth_of(name, prof, preset)
    key, key_from, refresh = "", None, None
    if need_key:
        key, key_from, refresh = layers_mod.key_of(layers, path, limits)
    sources["api_key"] = key_from.source if key_from else ""
    defaults = profile_defaults(name, prof)
    aliases = profile_models(name, prof)  # checked: a bad table is exit 3
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
        warnings=layers_mod.key_warnings(name, key_from, path, data),
        aliases=aliases,
        auth=way,
        refresh=refresh,
        api_version=str(prof.get("api_version") or ""),
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
