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
    from imggen.profiles.config import split_key
    from imggen.suggest import closest

    node: Any = data
    parts = split_key(key)
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
    from imggen.profiles.aliases import alias_problem
    from imggen.profiles.config import split_key
    from imggen.profiles.settings import PROFILE_KEYS
    from imggen.suggest import closest, did_you_mean

    profiles: dict[str, Any] = (data or {}).get("profiles", {})
    parts = split_key(key)
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
    if field == "models" and len(parts) == 5:  # profiles.NAME.models.ALIAS.dialect|like
        problem = alias_problem(parts[4], value)
        if problem:
            raise UsageError(f"{key} {value!r}: {problem}")
        return value
    if len(parts) > 3 or field not in PROFILE_KEYS or field == "models":
        raise UsageError(
            f"unknown profile key {'.'.join(parts[2:])!r}{did_you_mean(field, PROFILE_KEYS)}",
            hint=f"profile keys: {', '.join(PROFILE_KEYS)} "
            "(and params.*, models.ALIAS.dialect, models.ALIAS.like)",
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
    if field == "auth":
        from imggen.wire.auth import parse

        try:
            return parse(str(value)).spec
        except ValueError as exc:
            raise UsageError(f"{label}: {exc}") from None
    if field == "api_key_cmd" and not (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    ):
        raise UsageError('api_key_cmd is an argv list, e.g. \'["pass", "show", "imggen"]\'')
    if field == "api_version":
        value = _api_version(value, label)
    _check_text(field, value, label)
    return value


def _api_version(value: Any, label: str) -> str:
    """Azure's api-version as text: 2025-06-01 reads as a TOML date."""
    from imggen.errors import UsageError

    text = str(value)
    if not text or not all(c.isalnum() or c in "-._" for c in text):
        raise UsageError(f"{label} {text!r}: an api-version such as 2025-04-01-preview")
    return text


def _check_text(field: str, value: Any, label: str) -> None:
    """The checks of a profile's text keys: a usable base_url, an api_key_env that names a
    variable, an api_key that can be sent; never quoting a key or a URL's credentials."""
    from imggen.errors import UsageError
    from imggen.profiles import keys
    from imggen.profiles.layers import base_url_problem, shown_url

    fault = base_url_problem(str(value)) if field == "base_url" else None
    if fault:
        raise UsageError(
            f"{label} {shown_url(str(value))!r}: {fault}",
            hint="for example https://gateway.example/v1; the key goes in api_key_env, "
            "api_key_cmd or api_key",
        )
    if field != "api_key_cmd" and not isinstance(value, str):
        shown = REDACTED if field == "api_key" else repr(value)
        raise UsageError(f"{label}: must be a string, not {shown}")
    if field == "api_key_env" and not keys.is_variable_name(value):
        raise UsageError(
            f"{label}: not the name of an environment variable (letters, digits and _)",
            hint="api_key_env names the variable that holds the key, e.g. OPENROUTER_API_KEY",
        )
    if field == "api_key" and keys.problem(value):
        raise UsageError(
            f"{label}: the key {keys.problem(value)}; keys are printable ASCII without spaces",
            hint="paste the key alone, without quotes or a line break",
        )


STARTS_A_PROFILE = ("preset", "dialect", "base_url")


REDACTED = "<redacted>"


def redact(data: Any) -> Any:
    """A copy with every inline key (and any credentials in a base_url) replaced, for show,
    get and profiles."""
    if isinstance(data, dict):
        return {k: _redact_item(k, v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def _redact_item(key: str, value: Any) -> Any:
    if key == "api_key":
        return REDACTED
    if key == "base_url" and isinstance(value, str):
        return redact_url(value)
    return redact(value)


def redact_url(url: str) -> str:
    """user:password@ and a query string replaced, as `config show` prints a base_url."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment and REDACTED))
