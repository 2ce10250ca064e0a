"""The keys `imggen config set|get|unset` take, checked as imggen will read them, so a typo or
a bad value is refused when it is typed, with the key or name it was likely meant to be."""

from __future__ import annotations

from typing import Any


def has_null(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(has_null(v) for v in value)
    return value is None


def near(data: dict[str, Any], key: str) -> str:
    """ " (did you mean profiles.work.model?)" for a key that is not set, when one close to it is:
    the first part that is missing, corrected among its siblings."""
    from imggen.suggest import closest

    node: Any = data
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            return ""
        if part not in node:
            guess = closest(part, node)
            if guess is None:
                return ""
            near = ".".join([*parts[:i], guess, *parts[i + 1 :]])
            return f" (did you mean {near}?)"
        node = node[part]
    return ""


def validate_key(key: str, value: Any, data: dict[str, Any] | None = None) -> Any:
    """The value to store at `key`, checked as imggen will read it (profile options by the
    option table), so a typo or a bad value is refused when it is typed (exit 2). `data`, the
    file as it is, lets a new profile's name be checked against the existing ones."""
    from imggen import options
    from imggen.dialects import DIALECTS
    from imggen.dialects.presets import PRESETS
    from imggen.errors import UsageError
    from imggen.settings import PROFILE_KEYS
    from imggen.suggest import closest, did_you_mean

    profiles: dict[str, Any] = (data or {}).get("profiles", {})
    parts = key.split(".")
    if parts == ["default_profile"]:
        if not isinstance(value, str):
            raise UsageError("default_profile must be a profile name")
        if data is not None and value not in profiles and value not in PRESETS:
            guess = closest(value, [*profiles, *PRESETS])
            known = ", ".join(profiles) or "none"
            raise UsageError(
                f"no profile {value!r} in the config file "
                + (f"(did you mean {guess!r}?)" if guess else f"(profiles: {known})"),
                hint=f"create it first: imggen config init {value} --preset NAME",
            )
        return value
    if len(parts) < 3 or parts[0] != "profiles":
        near = closest(parts[0], ["profiles", "default_profile"])
        better = ".".join(["profiles", *parts[1:]]) if near == "profiles" else near
        raise UsageError(
            f"unknown key {key!r}" + (f" (did you mean {better}?)" if better else ""),
            hint="keys: default_profile, profiles.NAME.KEY",
        )
    name, field = parts[1], parts[2]
    label = f"profile {name} ({field})"
    if field == "params":
        return value if len(parts) > 3 else options.check_one("params", value, label)
    if len(parts) > 3 or field not in PROFILE_KEYS:
        raise UsageError(
            f"unknown profile key {'.'.join(parts[2:])!r}{did_you_mean(field, PROFILE_KEYS)}",
            hint=f"profile keys: {', '.join(PROFILE_KEYS)} (and params.*)",
        )
    guess = closest(name, profiles)
    # A new profile starts with what says where the gateway is; any other key set on a name
    # no profile has is, more likely than not, a typo of one that exists.
    if data is not None and name not in profiles and guess and field not in STARTS_A_PROFILE:
        raise UsageError(
            f"no profile {name!r} in the config file (did you mean {guess!r}?)",
            hint=f"to start a new profile: imggen config init {name} --preset NAME",
        )
    if field in options.OPTIONS:
        return options.check_one(field, value, label)
    choices: list[str] | None = {"preset": list(PRESETS), "dialect": list(DIALECTS)}.get(field)
    if choices is not None and value not in choices:
        raise UsageError(
            f"{label} {value!r}{did_you_mean(str(value), choices)}: "
            f"choose one of {', '.join(choices)}"
        )
    if field == "api_key_cmd" and not (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    ):
        raise UsageError('api_key_cmd is an argv list, e.g. \'["pass", "show", "imggen"]\'')
    if field == "base_url" and not str(value).startswith(("https://", "http://")):
        raise UsageError(
            f"{label} {value!r}: must start with https:// or http://",
            hint="for example https://gateway.example/v1",
        )
    if field != "api_key_cmd" and not isinstance(value, str):
        raise UsageError(f"{label}: must be a string, not {value!r}")
    return value


STARTS_A_PROFILE = ("preset", "dialect", "base_url")
