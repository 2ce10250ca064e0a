"""Shell-completion sources: profile names from the config file, model ids from the catalog,
and the values of the image options. Each takes the command's parameters parsed so far.

No network and no heavy imports: this runs on every TAB press.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any


def _config() -> dict[str, Any]:
    from imggen.profiles import config

    try:
        return config.load(config.config_path(os.environ))
    except Exception:  # a broken config must not break TAB
        return {}


Choice = str | tuple[str, str]  # a value, or (value, what it is) that zsh and fish show


def profiles(params: Mapping[str, Any] | None = None) -> list[Choice]:
    """The configured profiles first, then the built-in presets, each said to be which."""
    from imggen.dialects.presets import PRESETS

    configured = _config().get("profiles", {})
    found: list[Choice] = [
        (name, f"profile ({prof.get('preset') or 'no preset'})")
        for name, prof in configured.items()
        if isinstance(prof, dict)
    ]
    return found + [(p, "built-in preset") for p in PRESETS if p not in configured]


def configured(params: Mapping[str, Any] | None = None) -> list[Choice]:
    """The profiles of the config file only (`config use`)."""
    return [p for p in profiles(params) if isinstance(p, tuple) and p[1].startswith("profile")]


def presets(params: Mapping[str, Any] | None = None) -> list[Choice]:
    from imggen.dialects.presets import PRESETS

    return [(p, "built-in preset") for p in PRESETS]


def models(params: Mapping[str, Any] | None = None) -> list[Choice]:
    from imggen.dialects.presets import PRESETS

    preset = _preset(params)
    if preset is None:
        return sorted({m.id for p in PRESETS.values() for m in p.models})
    return [m.id for m in preset.models]


def _preset(params: Mapping[str, Any] | None) -> Any:
    from imggen.dialects.presets import PRESETS

    data = _config()
    profile = (params or {}).get("profile")
    name = profile or os.environ.get("IMGGEN_PROFILE") or data.get("default_profile")
    prof = data.get("profiles", {}).get(name or "", {})
    return PRESETS.get(str(prof.get("preset") or name or ""))


def _rule_and_formats(params: Mapping[str, Any] | None) -> tuple[Any, tuple[str, ...] | None]:
    """The size rule and formats of the model the command line (or its profile) names, or
    (None, None) when it names none imggen can tell."""
    from imggen import sizes
    from imggen.profiles import settings

    params = params or {}
    try:
        s = settings.resolve(
            profile=params.get("profile"),
            model=params.get("model"),
            environ=dict(os.environ),
            need_key=False,
        )
        gw = s.gateway()
    except Exception:  # no profile, no model: TAB still offers every value
        return None, None
    return sizes.RULES[gw.size_rule], gw.formats


def aspects(params: Mapping[str, Any] | None = None) -> list[Choice]:
    from imggen.sizes import ASPECTS

    rule, _ = _rule_and_formats(params)
    return list(rule.aspects if rule is not None and rule.aspects else ASPECTS)


def sizes(params: Mapping[str, Any] | None = None) -> list[Choice]:
    from imggen.sizes import TIERS

    rule, _ = _rule_and_formats(params)
    if rule is None:
        return [*TIERS, "auto"]
    found: list[Choice] = list(rule.tiers)
    if rule.name == "gpt-image-1":  # fixed pixel sizes
        found += [f"{w}x{h}" for w, h in rule.table.values()]
    return found + (["auto"] if rule.free_pixels else [])


def formats(params: Mapping[str, Any] | None = None) -> list[Choice]:
    from imggen.options import FORMATS

    _, known = _rule_and_formats(params)
    return list(known or FORMATS)


def qualities(params: Mapping[str, Any] | None = None) -> list[Choice]:
    return ["low", "medium", "high", "auto", "hd", "standard"]


def backgrounds(params: Mapping[str, Any] | None = None) -> list[Choice]:
    return ["transparent", "opaque", "auto"]


def provenance(params: Mapping[str, Any] | None = None) -> list[Choice]:
    return [
        ("full", "prompt, model, parameters and the AI marker"),
        ("minimal", "the AI marker and the model"),
        ("off", "nothing"),
    ]


# -- config get|set|unset -----------------------------------------------------------------


def keys_set(params: Mapping[str, Any] | None = None) -> list[Choice]:
    """Every dotted key the config file holds (`config get|unset`), tables included."""
    found: list[Choice] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            found.append(prefix + key)
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")

    walk(_config(), "")
    return found


def keys(params: Mapping[str, Any] | None = None) -> list[Choice]:
    """The keys `config set` takes: default_profile, and every key of every profile."""
    from imggen.profiles.settings import PROFILE_KEYS

    found: list[Choice] = [("default_profile", "the profile used without -p")]
    for name in _config().get("profiles", {}):
        found += [f"profiles.{name}.{key}" for key in PROFILE_KEYS]
    return found


def values(params: Mapping[str, Any] | None = None) -> list[Choice]:
    """The values `config set KEY` may take, where they are a known list."""
    from imggen.dialects import DIALECTS

    key = str((params or {}).get("key") or "")
    field = key.rsplit(".", 1)[-1]
    parts = key.split(".")
    profile = {"profile": parts[1]} if len(parts) == 3 and parts[0] == "profiles" else {}
    sources: dict[str, Callable[[Mapping[str, Any]], list[Choice]]] = {
        "default_profile": configured,
        "preset": presets,
        "dialect": lambda _: list(DIALECTS),
        "model": models,
        "aspect": aspects,
        "size": sizes,
        "format": formats,
        "quality": qualities,
        "background": backgrounds,
        "provenance": provenance,
        "stream": lambda _: ["true", "false"],
    }
    source = sources.get(field)
    return source(profile) if source else []
