"""`imggen config path|show|init|get|set|unset|use|profiles`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from imggen.cli.config_keys import redact, redact_url
from imggen.cli.help import Command, Group
from imggen.cli.options import completer

app = typer.Typer(
    cls=Group,
    help="Read and change the config file (profiles, keys, defaults).",
    epilog="""
        imggen config init --preset openrouter          # a profile, made the default
        imggen config set profiles.openrouter.size 2K   # a default for -s
        imggen config show                              # the file, keys redacted
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


def _preset_names() -> str:
    from imggen.dialects.presets import PRESETS

    return ", ".join(PRESETS)


PRESET_NAMES = _preset_names()


def _env(ctx: typer.Context) -> Any:
    from imggen.env import Env

    return ctx.obj if isinstance(ctx.obj, Env) else Env()


def _path(env: Any) -> Any:
    from imggen.profiles import config

    return config.config_path(env.environ)


def _load(env: Any) -> tuple[Any, dict[str, Any]]:
    from imggen.profiles import config

    path = _path(env)
    return path, config.load(path)


def _edit(env: Any) -> tuple[Any, Any]:
    """The file as a document to change in place (comments and layout kept) and save."""
    from imggen.profiles import config

    path = _path(env)
    return path, config.load_document(path)


def _warn_inline(env: Any, path: Any, data: dict[str, Any]) -> None:
    from imggen.console import UI
    from imggen.profiles import config

    for name in config.insecure_inline_key(path, data):
        UI(env).warn(
            f"{path} holds an inline api_key (profile {name}) and others can read it: "
            f"chmod 600 {path}, or use api_key_env"
        )


@app.command(
    "path",
    cls=Command,
    epilog="""
        imggen config path
        IMGGEN_CONFIG=ci/imggen.toml imggen config path
    """,
)
def path_cmd(ctx: typer.Context) -> None:
    """Print where the config file is.

    IMGGEN_CONFIG, when set, names it instead of the platform's user config folder."""
    env = _env(ctx)
    env.out.write(f"{_path(env)}\n")


@app.command(
    "show",
    cls=Command,
    epilog="""
        imggen config show
        imggen config show --json
    """,
)
def show(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Print the config file, keys redacted."""
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


@app.command(
    "get",
    cls=Command,
    epilog="""
        imggen config get default_profile
        imggen config get profiles.work.model
        imggen config get profiles.work          # the whole profile, as TOML
    """,
)
def get(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Dotted key.", autocompletion=completer("keys_set"))
    ],
) -> None:
    """Print one value, named by its dotted key.

    A table prints as TOML; an inline api_key is redacted."""
    from imggen.cli.config_keys import near
    from imggen.errors import UsageError
    from imggen.profiles import config

    env = _env(ctx)
    path, data = _load(env)
    try:
        value = config.get_dotted(data, key)
    except KeyError:
        raise UsageError(f"{key} is not set in {path}{near(data, key)}") from None
    last = config.split_key(key)[-1]
    value = redact({last: value})[last]
    if isinstance(value, dict):
        import tomli_w

        env.out.write(tomli_w.dumps(value))
    elif isinstance(value, str):
        env.out.write(value + "\n")
    else:
        env.out.write(json.dumps(value) + "\n")


@app.command(
    "set",
    cls=Command,
    epilog="""
        imggen config set profiles.work.model turing/gpt-image-2
        imggen config set profiles.work.api_key_cmd '["pass", "show", "turing"]'
        imggen config set default_profile work
    """,
)
def set_cmd(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="default_profile, or profiles.NAME.KEY (dotted).",
            autocompletion=completer("keys"),
        ),
    ],
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help="The value; TOML/JSON literals are parsed.",
            autocompletion=completer("values"),
        ),
    ],
) -> None:
    """Set one value and save the file.

    The value is checked as imggen will read it, so a typo is refused now, not at the next
    run. The file is written atomically, mode 0600."""
    from imggen.cli.config_keys import has_null, validate_key
    from imggen.console import UI
    from imggen.profiles import config

    env = _env(ctx)
    path, data = _edit(env)
    parsed = config.parse_value(value)
    if has_null(parsed):  # tomli-w cannot write None: refuse rather than crash
        from imggen.errors import UsageError

        raise UsageError(f"TOML has no null: to remove {key} use `imggen config unset`")
    config.set_dotted(data, key, validate_key(key, parsed, data))
    config.save(path, data)
    if key.endswith(".api_key"):
        UI(env).warn(
            "the key is stored in plain text; api_key_env or api_key_cmd keep it out of files"
        )


@app.command(
    "unset",
    cls=Command,
    epilog="""
        imggen config unset profiles.work.size
        imggen config unset profiles.work          # the whole profile
    """,
)
def unset(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Dotted key.", autocompletion=completer("keys_set"))
    ],
) -> None:
    """Remove one value, and the tables it leaves empty."""
    from imggen.cli.config_keys import near
    from imggen.errors import UsageError
    from imggen.profiles import config

    env = _env(ctx)
    path, data = _edit(env)
    try:
        config.unset_dotted(data, key)
    except KeyError:
        raise UsageError(f"{key} is not set in {path}{near(data, key)}") from None
    if data.get("default_profile") and data["default_profile"] not in data.get("profiles", {}):
        from imggen.dialects.presets import PRESETS

        if data["default_profile"] not in PRESETS:
            del data["default_profile"]
    config.save(path, data)


@app.command(
    "use",
    cls=Command,
    epilog="""
        imggen config use work
        imggen config profiles        # * marks the default
    """,
)
def use(
    ctx: typer.Context,
    profile: Annotated[
        str,
        typer.Argument(
            metavar="PROFILE", help="Profile name.", autocompletion=completer("configured")
        ),
    ],
) -> None:
    """Make PROFILE the default.

    -p PROFILE and IMGGEN_PROFILE still choose another for one run."""
    from imggen.errors import ConfigError
    from imggen.profiles import config

    env = _env(ctx)
    path, data = _edit(env)
    if profile not in data.get("profiles", {}):
        from imggen import suggest

        known = ", ".join(sorted(data.get("profiles", {}))) or "none"
        guess = suggest.closest(profile, data.get("profiles", {}))
        raise ConfigError(
            f"no profile {profile!r} in {path} "
            + (f"(did you mean {guess!r}?)" if guess else f"(profiles: {known})"),
            hint=f"create it: imggen config init {profile} --preset NAME",
        )
    data["default_profile"] = profile
    config.save(path, data)


@app.command(
    "profiles",
    cls=Command,
    epilog="""
        imggen config profiles
        imggen config profiles --json
    """,
)
def profiles(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """List the profiles; * marks the default."""
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
                "base_url": redact_url(prof.get("base_url", "")),
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


PRESET_OPTION = typer.Option(
    "--preset",
    metavar="PRESET",
    help="A built-in gateway: " + PRESET_NAMES + ".",
    autocompletion=completer("presets"),
)


@app.command(
    "init",
    cls=Command,
    epilog="""
        imggen config init --preset openrouter      # key from $OPENROUTER_API_KEY
        imggen config init work --preset turing --base-url https://gw.example/v1
        imggen config init home --preset knox --no-default    # keep the default as is
    """,
)
def init(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Profile name [the preset's name].")
    ] = None,
    preset: Annotated[str | None, PRESET_OPTION] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="The gateway's API root [the preset's]."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("-m", "--model", metavar="MODEL", help="Default model.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env", metavar="VAR", help="Variable holding the key [the preset's]."
        ),
    ] = None,
    make_default: Annotated[
        bool, typer.Option("--default/--no-default", help="Make it the default profile.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile.")] = False,
) -> None:
    """Create a profile from a preset.

    At a terminal, asks for the preset when --preset is missing. The key is not stored: the
    profile names the environment variable that holds it."""
    from imggen.console import UI
    from imggen.dialects.presets import PRESETS
    from imggen.errors import UsageError
    from imggen.profiles import config

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
        from imggen.suggest import did_you_mean

        raise UsageError(
            f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)}",
            hint=f"presets: {', '.join(PRESETS)}",
        )
    p = PRESETS[preset]
    name = name or preset
    path, data = _edit(env)
    if "profiles" not in data:
        data["profiles"] = {}
    profiles_ = data["profiles"]  # read back: the document turns {} into a table
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
    came = _key_from(prof, p, api_key_env)
    profiles_[name] = prof
    if make_default or "default_profile" not in data:
        data["default_profile"] = name
    config.save(path, data)
    env.out.write(f"{path}\n")
    ui.info(f"profile {name!r} ({preset}) saved; the key is read from {came}")
    if p.note:
        ui.info(p.note.replace("NAME", name))


def _key_from(prof: dict[str, Any], p: Any, api_key_env: str | None) -> str:
    """Say in the new profile where its key comes from: the variable, or (Vertex AI) the
    command that prints a short-lived token. Returns that place in words."""
    if p.key_cmd and not api_key_env:
        prof["api_key_cmd"] = list(p.key_cmd)
        return f"the output of `{' '.join(p.key_cmd)}`"
    prof["api_key_env"] = api_key_env or p.key_env
    return f"${prof['api_key_env']}"
