"""settings: flag > IMGGEN_* env > profile > preset > default, as one table; keys and dialects."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imggen.errors import ConfigError, ExitCode
from imggen.profiles import keys, settings

KEY_CMD = [sys.executable, "-c", "print('k-from-cmd')"]

CONFIG: dict[str, Any] = {
    "default_profile": "a",
    "profiles": {
        "a": {
            "preset": "turing",
            "base_url": "https://a.example/api/v1/",
            "model": "turing/gpt-image-2",
            "api_key_env": "A_KEY",
        },
        "b": {"preset": "knox", "api_key": "k-inline-b"},
        "c": {"preset": "turing", "api_key_cmd": KEY_CMD, "api_key": "k-inline-c"},
        "d": {"preset": "turing", "api_key_env": "D_KEY", "api_key": "k-inline-d"},
        "e": {"preset": "turing"},
        "f": {"base_url": "https://f.example/v1", "model": "m", "dialect": "xty", "api_key": "k"},
        "g": {"base_url": "https://g.example/v1", "model": "some/gpt-image-x", "api_key": "k-g"},
    },
}
ONE_PROFILE = {"profiles": {"solo": {"preset": "openroute", "api_key": "k-solo"}}}
ENV = {"A_KEY": "k-a", "D_KEY": "k-d", "TURING_API_KEY": "k-turing", "KNOX_API_KEY": "k-knox"}


def observe(s: settings.Settings) -> dict[str, Any]:
    return {
        "profile": s.profile,
        "base_url": s.base_url,
        "model": s.model,
        "dialect": s.gateway().dialect,
        "key": s.api_key,
        "key_source": s.key_source,
    }


# Each row: (what it shows, config, environment, -p, -m, the fields expected)
PRECEDENCE: list[tuple[str, dict[str, Any], dict[str, str], str | None, str | None, dict]] = [
    # -- which profile
    ("default_profile", CONFIG, ENV, None, None, {"profile": "a"}),
    ("IMGGEN_PROFILE beats default_profile", CONFIG, {**ENV, "IMGGEN_PROFILE": "b"}, None, None,
     {"profile": "b"}),
    ("-p beats IMGGEN_PROFILE", CONFIG, {**ENV, "IMGGEN_PROFILE": "b"}, "d", None,
     {"profile": "d"}),
    ("the only profile", ONE_PROFILE, {}, None, None, {"profile": "solo", "key": "k-solo"}),
    ("a bare preset name", CONFIG, ENV, "knox", None,
     {"profile": "knox", "base_url": "https://api.knox.chat/v1", "key": "k-knox"}),
    # -- base_url
    ("profile base_url, trailing slash dropped", CONFIG, ENV, "a", None,
     {"base_url": "https://a.example/api/v1"}),
    ("IMGGEN_BASE_URL beats the profile", CONFIG,
     {**ENV, "IMGGEN_BASE_URL": "https://env.example/v1"}, "a", None,
     {"base_url": "https://env.example/v1"}),
    ("preset base_url when the profile has none", CONFIG, ENV, "b", None,
     {"base_url": "https://api.knox.chat/v1"}),
    # -- model
    ("profile model", CONFIG, ENV, "a", None, {"model": "turing/gpt-image-2"}),
    ("IMGGEN_MODEL beats the profile", CONFIG, {**ENV, "IMGGEN_MODEL": "turing/gpt-image-1"},
     "a", None, {"model": "turing/gpt-image-1"}),
    ("-m beats IMGGEN_MODEL", CONFIG, {**ENV, "IMGGEN_MODEL": "turing/gpt-image-1"}, "a",
     "doubao-seedream-4-5-251128", {"model": "doubao-seedream-4-5-251128"}),
    ("preset default model", CONFIG, ENV, "b", None, {"model": "google/gemini-2.5-flash-image"}),
    # -- dialect
    ("preset per model: images API", CONFIG, ENV, "a", None, {"dialect": "images"}),
    ("preset per model: gemini", CONFIG, ENV, "a", "turing/gemini-3-pro-image",
     {"dialect": "gemini"}),
    ("preset dialect", CONFIG, ENV, "b", None, {"dialect": "openrouter"}),
    ("profile dialect", CONFIG, ENV, "f", None, {"dialect": "xty"}),
    ("IMGGEN_DIALECT beats the profile", CONFIG, {**ENV, "IMGGEN_DIALECT": "trinity"}, "f", None,
     {"dialect": "trinity"}),
    ("IMGGEN_DIALECT beats the preset's choice", CONFIG, {**ENV, "IMGGEN_DIALECT": "openrouter"},
     "a", None, {"dialect": "openrouter"}),
    ("default: guessed from the model name", CONFIG, ENV, "g", None, {"dialect": "images"}),
    # -- the key
    ("api_key_env", CONFIG, ENV, "a", None,
     {"key": "k-a", "key_source": "environment variable A_KEY (api_key_env)"}),
    ("IMGGEN_API_KEY beats api_key_env", CONFIG, {**ENV, "IMGGEN_API_KEY": "k-env"}, "a", None,
     {"key": "k-env", "key_source": "environment variable IMGGEN_API_KEY"}),
    ("api_key_env beats api_key", CONFIG, ENV, "d", None,
     {"key": "k-d", "key_source": "environment variable D_KEY (api_key_env)"}),
    ("api_key_cmd beats api_key", CONFIG, ENV, "c", None,
     {"key": "k-from-cmd", "key_source": "command (api_key_cmd)"}),
    ("api_key beats the preset's variable", CONFIG, ENV, "b", None,
     {"key": "k-inline-b", "key_source": "config file (api_key)"}),
    ("the preset's variable", CONFIG, ENV, "e", None,
     {"key": "k-turing", "key_source": "environment variable TURING_API_KEY (preset)"}),
    ("IMGGEN_API_KEY beats everything", CONFIG, {**ENV, "IMGGEN_API_KEY": "k-env"}, "c", None,
     {"key": "k-env", "key_source": "environment variable IMGGEN_API_KEY"}),
    # -- environment only, no file
    ("environment only", {}, {"IMGGEN_BASE_URL": "https://env.example/api/v1",
                              "IMGGEN_API_KEY": "k-env", "IMGGEN_MODEL": "gpt-image-2"},
     None, None,
     {"profile": "env", "base_url": "https://env.example/api/v1", "model": "gpt-image-2",
      "dialect": "images", "key": "k-env", "key_source": "environment variable IMGGEN_API_KEY"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("config", "environ", "profile", "model", "expected"),
    [row[1:] for row in PRECEDENCE],
    ids=[row[0] for row in PRECEDENCE],
)
def test_precedence(
    write_config: Callable[..., Path],
    tmp_path: Path,
    config: dict[str, Any],
    environ: dict[str, str],
    profile: str | None,
    model: str | None,
    expected: dict[str, Any],
) -> None:
    path = write_config(config) if config else tmp_path / "none.toml"
    s = settings.resolve(profile=profile, model=model, environ=environ, path=path)
    got = observe(s)
    assert {k: got[k] for k in expected} == expected


def test_environment_only_run_needs_no_file(clean_environ: Path) -> None:
    environ = {
        "IMGGEN_CONFIG": str(clean_environ),
        "IMGGEN_BASE_URL": "http://127.0.0.1:9/api/v1",
        "IMGGEN_API_KEY": "k",
        "IMGGEN_MODEL": "turing/gpt-image-2",
    }
    s = settings.resolve(environ=environ)
    assert not clean_environ.exists()
    assert (s.profile, s.preset, s.dialect, dict(s.defaults)) == ("env", None, None, {})
    assert s.sources == {
        "config_file": "(none)",
        "profile": "environment only",
        "base_url": "IMGGEN_BASE_URL",
        "dialect": "",
        "model": "IMGGEN_MODEL",
        "auth": "default",
        "api_key": "environment variable IMGGEN_API_KEY",
    }


def test_bare_preset_profile_uses_its_key_variable(clean_environ: Path) -> None:
    s = settings.resolve(
        profile="turing", environ={"IMGGEN_CONFIG": str(clean_environ), "TURING_API_KEY": "k-t"}
    )
    assert observe(s) == {
        "profile": "turing",
        "base_url": "https://live-turing.cn.llm.tcljd.com/api/v1",
        "model": "turing/gpt-image-2",
        "dialect": "images",
        "key": "k-t",
        "key_source": "environment variable TURING_API_KEY (preset)",
    }


@pytest.mark.parametrize(
    ("model", "dialect", "size_rule"),
    [
        ("turing/gpt-image-2", "images", "gpt-image-2"),
        ("turing/gpt-image-1", "images", "gpt-image-1"),
        ("doubao-seedream-4-5-251128", "images", "seedream"),
        ("doubao-seedream-9-0", "images", "seedream"),  # not in the catalog
        ("turing/gemini-3-pro-image", "gemini", "gemini-3"),
        ("turing/gemini-2.5-flash-image", "gemini", "gemini-2.5"),
        ("turing/gemini-9-image", "gemini", "any"),  # not in the catalog: by name
    ],
)
def test_turing_picks_dialect_per_model(model: str, dialect: str, size_rule: str) -> None:
    s = settings.resolve(profile="turing", model=model, environ={"TURING_API_KEY": "k"})
    gw = s.gateway()
    assert (gw.dialect, gw.size_rule, gw.preset) == (dialect, size_rule, "turing")


def test_imggen_dialect_overrides_per_model_choice() -> None:
    environ = {"TURING_API_KEY": "k", "IMGGEN_DIALECT": "openrouter"}
    s = settings.resolve(profile="turing", model="turing/gemini-3-pro-image", environ=environ)
    assert (s.dialect, s.gateway().dialect, s.sources["dialect"]) == (
        "openrouter",
        "openrouter",
        "IMGGEN_DIALECT",
    )


def test_profile_defaults_are_the_option_keys(write_config: Callable[..., Path]) -> None:
    path = write_config(
        {"profiles": {"p": {"preset": "knox", "api_key": "k", "size": "2K", "count": 2,
                            "params": {"x": 1}, "api_key_env": ""}}}
    )  # fmt: skip
    s = settings.resolve(environ={}, path=path)
    assert dict(s.defaults) == {"size": "2K", "count": 2, "params": {"x": 1}}


def test_key_is_not_in_repr() -> None:
    s = settings.resolve(profile="knox", environ={"KNOX_API_KEY": "sk-secret-value"})
    assert "sk-secret-value" not in repr(s)


def test_need_key_false_skips_the_key() -> None:
    s = settings.resolve(profile="knox", environ={}, need_key=False)
    assert (s.api_key, s.key_source) == ("", "")


# -- refusals (exit 3) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "environ", "profile", "message", "hint"),
    [
        (
            {},
            {},
            None,
            "no profile is configured",
            "run `imggen config init --preset NAME`, or set IMGGEN_BASE_URL, IMGGEN_API_KEY "
            "and IMGGEN_MODEL",
        ),
        (
            CONFIG,
            ENV,
            "nope",
            "profile 'nope' not found in {path} (profiles: a, b, c, d, e, f, g)",
            "create it with `imggen config init nope --preset NAME`",
        ),
        (
            {"profiles": {"x": {"preset": "nope"}}},
            {},
            None,
            "profile 'x' names an unknown preset 'nope'",
            "presets: trinity, knox, turing, openroute, xty, openrouter, openai, litellm, gemini, "
            "vertex, azure, together, xai, recraft, bfl, fal, replicate",
        ),
        (
            {"profiles": {"x": {"preset": "trinity", "api_key": "k"}}},
            {},
            None,
            "profile 'x' has no base_url (the trinity preset has no public default)",
            "run `imggen config set profiles.x.base_url URL` or set IMGGEN_BASE_URL",
        ),
        (
            {"profiles": {"x": {"base_url": "https://x", "model": "m", "dialect": "soap"}}},
            {},
            None,
            "unknown dialect 'soap' (profile x)",
            "dialects: openrouter, trinity, xty, gemini, images, openrouter-images, google, azure, "
            "together, xai, recraft, bfl, fal, replicate",
        ),
        (
            {},
            {"IMGGEN_BASE_URL": "https://x/v1", "IMGGEN_API_KEY": "k"},
            None,
            "no model for profile 'env'",
            "pass -m MODEL, run `imggen config set profiles.env.model MODEL`, or set IMGGEN_MODEL",
        ),
        (
            CONFIG,
            {},
            "a",
            "profile 'a' reads its key from $A_KEY, which is not set",
            "export A_KEY=... (or set IMGGEN_API_KEY)",
        ),
        (
            CONFIG,
            {},
            "e",
            "no API key for profile 'e'",
            "export TURING_API_KEY=..., or run `imggen config set profiles.e.api_key_env VAR`",
        ),
    ],
)
def test_config_errors(
    write_config: Callable[..., Path],
    tmp_path: Path,
    config: dict[str, Any],
    environ: dict[str, str],
    profile: str | None,
    message: str,
    hint: str,
) -> None:
    path = write_config(config) if config else tmp_path / "none.toml"
    with pytest.raises(ConfigError) as info:
        settings.resolve(profile=profile, environ=environ, path=path)
    assert info.value.exit_code == ExitCode.CONFIG
    assert (info.value.message, info.value.hint) == (message.format(path=path), hint)


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (
            [sys.executable, "-c", "print('sk-leaked-on-failure'); raise SystemExit(1)"],
            "exited 1 without printing a key",
        ),
        ([sys.executable, "-c", "pass"], "exited 0 without printing a key"),
        (["/nonexistent/imggen-key-helper"], "could not run (FileNotFoundError)"),
    ],
)
def test_api_key_cmd_failure_never_echoes_its_output(
    write_config: Callable[..., Path], cmd: list[str], message: str
) -> None:
    path = write_config({"profiles": {"x": {"preset": "knox", "api_key_cmd": cmd}}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={}, path=path)
    assert info.value.message == f"profile 'x': api_key_cmd {cmd[0]!r} {message}"
    assert "sk-leaked" not in str(info.value) + str(info.value.hint)


def test_api_key_cmd_as_a_string_is_split() -> None:
    prof = {"api_key_cmd": f"{sys.executable} -c \"print('k2')\""}
    assert keys.api_key("x", prof, None, {}) == (
        "k2",
        keys.KeyFrom("command (api_key_cmd)", "the api_key_cmd of profile 'x' (what it prints)"),
    )


def test_api_key_cmd_of_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        keys.api_key("x", {"api_key_cmd": 3}, None, {})
    assert info.value.message == "profile 'x': api_key_cmd must be a list of strings (an argv)"


def test_unknown_dialect_names_the_registry(write_config) -> None:
    from imggen.dialects import DIALECTS

    prof = {"base_url": "https://gw.test/v1", "api_key": "k", "model": "m", "dialect": "nope"}
    write_config({"profiles": {"t": prof}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={"IMGGEN_CONFIG": os.environ["IMGGEN_CONFIG"]})
    assert info.value.hint == f"dialects: {', '.join(DIALECTS)}"


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"timeout": "abc"}, "profile t (timeout) 'abc': must be a number of seconds above 0"),
        ({"seed": "7"}, "profile t (seed) '7': must be a whole number"),
        ({"stream": "yes"}, "profile t (stream) 'yes': must be true or false"),
        ({"params": 3}, "profile t (params) 3: must be a table of body fields"),
        ({"count": True}, "profile t (count) True: must be a whole number of at least 1"),
        ({"size": "9K"}, "profile t (size) '9K': not a size; give a tier"),
        ({"base_url": "gw.test/v1"}, "base_url 'gw.test/v1' (profile t) must start with"),
    ],
)
def test_mistyped_profile_values_are_config_errors(write_config, profile, message) -> None:
    prof = {"preset": "turing", "base_url": "https://gw.test/v1", "api_key": "k", **profile}
    write_config({"profiles": {"t": prof}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={"IMGGEN_CONFIG": os.environ["IMGGEN_CONFIG"]})
    assert info.value.message.startswith(message)
    assert info.value.exit_code == 3


def test_profile_defaults_do_not_disturb_the_key(write_config, monkeypatch) -> None:
    monkeypatch.setenv("TURING_API_KEY", "the-key")
    prof = {"preset": "turing", "base_url": "https://gw.test/v1", "retries": 1, "size": "1K"}
    write_config({"profiles": {"t": prof}})
    s = settings.resolve(environ=dict(os.environ))
    assert (s.api_key, dict(s.defaults)) == ("the-key", {"retries": 1, "size": "1K"})
