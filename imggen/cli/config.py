"""`imggen config path|show|init|get|set|unset|use|profiles`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Read and change the config file (profiles, keys, defaults).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

REDACTED = "<redacted>"


def _preset_names() -> str:
    from imggen.dialects.presets import PRESETS

    return ", ".join(PRESETS)


PRESET_NAMES = _preset_names()


def _env(ctx: typer.Context) -> Any:
    from imggen.env import Env

    return ctx.obj if isinstance(ctx.obj, Env) else Env()


def _path(env: Any) -> Any:
    from imggen import config

    return config.config_path(env.environ)


def _load(env: Any) -> tuple[Any, dict[str, Any]]:
    from imggen import config

    path = _path(env)
    return path, config.load(path)


def redact(data: Any) -> Any:
    """A copy with every inline key replaced, for show/get."""
    if isinstance(data, dict):
        return {k: REDACTED if k == "api_key" else redact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def _warn_inline(env: Any, path: Any, data: dict[str, Any]) -> None:
    from imggen import config
    from imggen.console import UI

    for name in config.insecure_inline_key(path, data):
        UI(env).warn(
            f"{path} holds an inline api_key (profile {name}) and others can read it: "
            f"chmod 600 {path}, or use api_key_env"
        )


@app.command("path")
def path_cmd(ctx: typer.Context) -> None:
    """Print where the config file is (IMGGEN_CONFIG overrides)."""
    env = _env(ctx)
    env.out.write(f"{_path(env)}\n")


@app.command("show")
def show(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Print the config file with keys redacted."""
    import tomli_w

    env = _env(ctx)
    path, data = _load(env)
    _warn_inline(env, path, data)
    if not data:
        from imggen.console import UI

        UI(env).info(f"no config at {path}; create one with `imggen config init --preset NAME`")
        if json_out:
            env.out.write("{}\n")
        return
    clean = redact(data)
    env.out.write(json.dumps(clean, indent=2) + "\n" if json_out else tomli_w.dumps(clean))


@app.command("get")
def get(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Dotted key.")]) -> None:
    """Print one value (dotted key, e.g. profiles.turing.model)."""
    from imggen import config
    from imggen.errors import UsageError

    env = _env(ctx)
    path, data = _load(env)
    try:
        value = config.get_dotted(data, key)
    except KeyError:
        raise UsageError(f"{key} is not set in {path}") from None
    value = redact({key.rsplit(".", 1)[-1]: value})[key.rsplit(".", 1)[-1]]
    if isinstance(value, dict):
        import tomli_w

        env.out.write(tomli_w.dumps(value))
    elif isinstance(value, str):
        env.out.write(value + "\n")
    else:
        env.out.write(json.dumps(value) + "\n")


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. profiles.turing.model.")],
    value: Annotated[str, typer.Argument(help="Value; TOML/JSON literals are parsed.")],
) -> None:
    """Set one value and save (atomically, mode 0600)."""
    from imggen import config
    from imggen.console import UI

    env = _env(ctx)
    path, data = _load(env)
    parsed = config.parse_value(value)
    if _has_null(parsed):  # tomli-w cannot write None: refuse rather than crash
        from imggen.errors import UsageError

        raise UsageError(f"TOML has no null: to remove {key} use `imggen config unset`")
    config.set_dotted(data, key, validate_key(key, parsed))
    config.save(path, data)
    if key.endswith(".api_key"):
        UI(env).warn(
            "the key is stored in plain text; api_key_env or api_key_cmd keep it out of files"
        )


@app.command("unset")
def unset(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Dotted key.")]) -> None:
    """Remove one value (and tables left empty)."""
    from imggen import config
    from imggen.errors import UsageError

    env = _env(ctx)
    path, data = _load(env)
    try:
        config.unset_dotted(data, key)
    except KeyError:
        raise UsageError(f"{key} is not set in {path}") from None
    if data.get("default_profile") and data["default_profile"] not in data.get("profiles", {}):
        from imggen.dialects.presets import PRESETS

        if data["default_profile"] not in PRESETS:
            del data["default_profile"]
    config.save(path, data)


@app.command("use")
def use(ctx: typer.Context, profile: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Make PROFILE the default."""
    from imggen import config
    from imggen.errors import ConfigError

    env = _env(ctx)
    path, data = _load(env)
    if profile not in data.get("profiles", {}):
        known = ", ".join(sorted(data.get("profiles", {}))) or "none"
        raise ConfigError(
            f"no profile {profile!r} in {path} (profiles: {known})",
            hint=f"create it: imggen config init {profile} --preset NAME",
        )
    data["default_profile"] = profile
    config.save(path, data)


@app.command("profiles")
def profiles(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """List profiles; * marks the default."""
    from imggen.console import UI

    env = _env(ctx)
    path, data = _load(env)
    default = data.get("default_profile")
    rows = []
    for name, prof in data.get("profiles", {}).items():
        rows.append(
            {
                "name": name,
                "default": name == default,
                "preset": prof.get("preset", ""),
                "model": prof.get("model", ""),
                "base_url": prof.get("base_url", ""),
            }
        )
    if json_out:
        env.out.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        UI(env).info(f"no profiles in {path}; create one with `imggen config init --preset NAME`")
        return
    UI(env).table(
        "",
        ["", "profile", "preset", "model", "base_url"],
        [
            ["*" if r["default"] else "", r["name"], r["preset"], r["model"], r["base_url"]]
            for r in rows
        ],
        out=env.out,
    )


@app.command("init")
def init(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Profile name [the preset's name].")] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset", metavar="PRESET", help="A built-in gateway: " + PRESET_NAMES + "."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Override the preset's URL.")
    ] = None,
    model: Annotated[str | None, typer.Option("-m", "--model", help="Default model.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Variable holding the key [the preset's].")
    ] = None,
    make_default: Annotated[
        bool, typer.Option("--default/--no-default", help="Make it the default profile.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile.")] = False,
) -> None:
    """Create a profile from a preset (asks on a terminal when --preset is missing)."""
    from imggen import config
    from imggen.console import UI
    from imggen.dialects.presets import PRESETS
    from imggen.errors import UsageError

    env = _env(ctx)
    ui = UI(env)
    if preset is None:
        if not (env.stdin_isatty and env.stderr_isatty):
            raise UsageError(
                "config init needs --preset NAME when not at a terminal",
                hint=f"presets: {', '.join(PRESETS)}",
            )
        preset = typer.prompt(f"Preset ({', '.join(PRESETS)})", default="openrouter", err=True)
        if base_url is None and PRESETS.get(preset) and PRESETS[preset].base_url is None:
            base_url = typer.prompt("Base URL of the gateway", err=True)
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}", hint=f"presets: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    name = name or preset
    path, data = _load(env)
    profiles_ = data.setdefault("profiles", {})
    if name in profiles_ and not force:
        raise UsageError(f"profile {name!r} exists in {path}", hint="pass --force to replace it")
    prof: dict[str, Any] = {"preset": preset}
    if base_url or p.base_url is None:
        if not base_url:
            raise UsageError(
                f"the {preset} preset has no public base URL "
                f"({p.no_base_url_why or 'none is published'})",
                hint=f"pass --base-url, e.g. imggen config init --preset {preset} --base-url URL",
            )
        prof["base_url"] = base_url
    if model or p.default_model:
        prof["model"] = model or p.default_model
    prof["api_key_env"] = api_key_env or p.key_env
    profiles_[name] = prof
    if make_default or "default_profile" not in data:
        data["default_profile"] = name
    config.save(path, data)
    env.out.write(f"{path}\n")
    ui.info(f"profile {name!r} ({preset}) saved; the key is read from ${prof['api_key_env']}")
    if p.note:
        ui.info(p.note.replace("NAME", name))


def _has_null(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return value is None


def validate_key(key: str, value: Any) -> Any:
    """The value to store at `key`, checked as imggen will read it (profile options by the
    option table), so a typo or a bad value is refused when it is typed (exit 2)."""
    from imggen import options
    from imggen.dialects import DIALECTS
    from imggen.dialects.presets import PRESETS
    from imggen.errors import UsageError
    from imggen.settings import PROFILE_KEYS, alias_problem

    parts = key.split(".")
    if parts == ["default_profile"]:
        if not isinstance(value, str):
            raise UsageError("default_profile must be a profile name")
        return value
    if len(parts) < 3 or parts[0] != "profiles":
        raise UsageError(f"unknown key {key!r}", hint="keys: default_profile, profiles.NAME.KEY")
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
            f"unknown profile key {'.'.join(parts[2:])!r}",
            hint=f"profile keys: {', '.join(PROFILE_KEYS)} "
            "(and params.*, models.ALIAS.dialect, models.ALIAS.like)",
        )
    if field in options.OPTIONS:
        return options.check_one(field, value, label)
    choices: list[str] | None = {"preset": list(PRESETS), "dialect": list(DIALECTS)}.get(field)
    if choices is not None and value not in choices:
        raise UsageError(f"{label} {value!r}: choose one of {', '.join(choices)}")
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
