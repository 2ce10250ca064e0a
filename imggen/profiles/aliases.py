"""A profile's per-model tables, for gateways that name models with aliases (a LiteLLM proxy's
`company-image`): `[profiles.NAME.models.ALIAS]` with `dialect` (which API style to speak) and
`like` (a model imggen knows whose sizes and capabilities the alias borrows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imggen.dialects import DIALECTS
from imggen.dialects.presets import known, known_names
from imggen.errors import ConfigError

ALIAS_KEYS = ("dialect", "like")  # [profiles.NAME.models.ALIAS]


def profile_models(name: str, prof: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A profile's per-model tables ([profiles.NAME.models.ALIAS] with dialect and like),
    checked: a bad one is a config error (exit 3) naming the key and the fix."""
    tables = prof.get("models", {})
    where = f"profiles.{name}.models"
    if not isinstance(tables, Mapping) or not all(isinstance(t, Mapping) for t in tables.values()):
        raise ConfigError(
            f"profile {name!r}: `models` must hold one table per model, like "
            f"[{where}.company-image]",
            hint=f'imggen config set {where}.company-image.like "gpt-image-1"',
        )
    out = {}
    for alias, table in tables.items():
        for key, value in table.items():
            problem = alias_problem(key, value)
            if problem:
                raise ConfigError(
                    f"profile {name!r}: {where}.{alias}.{key}: {problem}",
                    hint=f"fix it with `imggen config set {where}.{alias}.{key} VALUE`",
                )
        out[str(alias)] = {k: str(v) for k, v in table.items()}
    return out


def alias_problem(key: str, value: Any) -> str | None:
    """What is wrong with one key of a profile's model table, or None."""
    if key not in ALIAS_KEYS:
        return f"unknown key; a model table holds {' and '.join(ALIAS_KEYS)}"
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    from imggen.suggest import closest, did_you_mean

    if key == "dialect" and value not in DIALECTS:
        return f"unknown dialect {value!r}{did_you_mean(value, DIALECTS)}; dialects: " + ", ".join(
            DIALECTS
        )
    if key == "like" and known(value) is None:
        guess = closest(value, known_names())
        if guess:
            return f"{value!r} is not a model imggen knows the rules of (did you mean {guess!r}?)"
        return f"{value!r} is not a model imggen knows the rules of; for example " + ", ".join(
            known_names()[:12]
        )
    return None
