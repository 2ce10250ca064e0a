"""Errors that point the right way: did-you-mean for profiles, presets, catalog models,
subcommands and config keys; where a mistyped name came from; where a rejected key came from."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from imggen.errors import ConfigError
from imggen.profiles import settings
from imggen.suggest import closest, did_you_mean
from tests.conftest import SENTINEL_KEY, MockGateway, Result

Run = Callable[..., Result]

CONFIG = {
    "default_profile": "work",
    "profiles": {
        "work": {
            "preset": "openrouter",
            "model": "google/gemini-2.5-flash-image",
            "api_key_env": "WORK_KEY",
        },
        "home": {"preset": "turing", "base_url": "https://gw.test/v1", "api_key": SENTINEL_KEY},
    },
}


@pytest.mark.parametrize(
    ("word", "known", "expected"),
    [
        ("opnerouter", ["openrouter", "openai", "knox"], "openrouter"),
        ("OpenRouter", ["openrouter"], "openrouter"),
        ("gen", ["generate", "edit"], "generate"),  # a prefix of one name only
        ("genrate", ["generate", "edit", "config"], "generate"),
        ("work", ["knox", "home"], None),  # nothing close: no guess
        ("knox", ["knox"], None),  # the word itself is no suggestion
        ("o", ["openrouter", "openai"], None),
    ],
)
def test_closest(word: str, known: list[str], expected: str | None) -> None:
    assert closest(word, known) == expected


def test_did_you_mean_text() -> None:
    assert did_you_mean("modle", ["model", "size"]) == " (did you mean 'model'?)"
    assert did_you_mean("zzz", ["model"]) == ""


@pytest.mark.parametrize(
    ("profile", "environ", "message", "hint"),
    [
        (
            "opnerouter",
            {},
            "profile 'opnerouter' not found in {path} (did you mean 'openrouter'?)",
            "pass -p openrouter, or create it with `imggen config init opnerouter --preset NAME`",
        ),
        (
            "hme",
            {},
            "profile 'hme' not found in {path} (did you mean 'home'?)",
            "pass -p home, or create it with `imggen config init hme --preset NAME`",
        ),
        (
            None,
            {"IMGGEN_PROFILE": "wrok"},
            "profile 'wrok' (from $IMGGEN_PROFILE) not found in {path} (did you mean 'work'?)",
            "export IMGGEN_PROFILE=work, or create it with `imggen config init wrok --preset NAME`",
        ),
        (
            None,
            {"IMGGEN_PROFILE": "typo"},
            "profile 'typo' (from $IMGGEN_PROFILE) not found in {path} (profiles: home, work)",
            "unset IMGGEN_PROFILE or name a profile or preset in it, or create it with "
            "`imggen config init typo --preset NAME`",
        ),
    ],
)
def test_unknown_profile_says_where_and_what(
    write_config: Callable[..., Path],
    profile: str | None,
    environ: dict[str, str],
    message: str,
    hint: str,
) -> None:
    path = write_config(CONFIG)
    with pytest.raises(ConfigError) as info:
        settings.resolve(profile=profile, environ=environ, path=path)
    assert (info.value.message, info.value.hint) == (message.format(path=path), hint)


def test_default_profile_typo_is_named(write_config: Callable[..., Path]) -> None:
    path = write_config({**CONFIG, "default_profile": "hom"})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={}, path=path)
    assert info.value.message == (
        f"profile 'hom' (default_profile) not found in {path} (did you mean 'home'?)"
    )
    assert info.value.hint is not None and info.value.hint.startswith(
        "run `imggen config use home`"
    )


def test_unknown_preset_in_a_profile(write_config: Callable[..., Path]) -> None:
    path = write_config({"profiles": {"x": {"preset": "opnrouter", "api_key": "k"}}})
    with pytest.raises(ConfigError) as info:
        settings.resolve(environ={}, path=path)
    assert info.value.message == (
        "profile 'x' names an unknown preset 'opnrouter' (did you mean 'openrouter'?)"
    )
    assert info.value.hint == "run `imggen config set profiles.x.preset openrouter`"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["genrate", "a fox"],
            "error: no such command 'genrate'\nhint: did you mean 'generate'? `root --help`",
        ),
        (["modles"], "error: no such command 'modles'\nhint: did you mean 'models'?"),
        (
            ["config", "shwo"],
            "error: no such command 'shwo'\nhint: did you mean 'show'? `root config --help`",
        ),
    ],
)
def test_mistyped_subcommand(run: Run, args: list[str], expected: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    assert expected in r.stderr


CONFIG_TYPOS = {
    "config init x --preset opnerouter": "unknown preset 'opnerouter' (did you mean 'openrouter'?)",
    "config use hme": "no profile 'hme' in {path} (did you mean 'home'?)",
    "config get profiles.work.modle": "(did you mean profiles.work.model?)",
    "config unset profiles.wrk.model": "(did you mean profiles.work.model?)",
    "config set profiles.work.modle x": "unknown profile key 'modle' (did you mean 'model'?)",
    "config set profile.work.model x": "'profile.work.model' (did you mean profiles.work.model?)",
    "config set profiles.wrok.model x": "profile 'wrok' in the config file (did you mean 'work'?)",
    "config set default_profile hoem": "profile 'hoem' in the config file (did you mean 'home'?)",
    "config set profiles.work.preset knx": "profile work (preset) 'knx' (did you mean 'knox'?)",
}


@pytest.mark.parametrize("line", CONFIG_TYPOS)
def test_config_typos(run: Run, write_config: Callable[..., Path], line: str) -> None:
    path = write_config(CONFIG)
    before = path.read_text()
    r = run(*line.split())
    assert r.exit_code in (2, 3), r.stderr
    assert CONFIG_TYPOS[line].format(path=path) in r.stderr
    assert path.read_text() == before  # nothing written


def test_a_new_profile_may_start_with_base_url(run: Run, write_config: Callable[..., Path]) -> None:
    write_config(CONFIG)
    r = run("config", "set", "profiles.wrk.base_url", "https://w.example/v1")
    assert r.exit_code == 0, r.stderr


def test_refused_model_not_in_the_catalog_is_hinted(
    run: Run,
    gateway: MockGateway,
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(CONFIG)
    monkeypatch.setenv("WORK_KEY", SENTINEL_KEY)
    gateway.queue(httpx.Response(400, json={"error": {"message": "unknown model"}}))
    r = run("generate", "a fox", "-m", "google/gemini-2.5-flash-imag", "-o", "a.png")
    assert r.exit_code == 4
    assert (
        "hint: did you mean google/gemini-2.5-flash-image? (google/gemini-2.5-flash-imag is not "
        "in imggen's openrouter catalog; it came from -m; `imggen models -p work` lists the "
        "gateway's)"
    ) in r.stderr


KEY_SOURCES = {
    "IMGGEN_API_KEY": (
        {"IMGGEN_API_KEY": SENTINEL_KEY},
        "work",
        "check the key: it came from $IMGGEN_API_KEY; unset it to use profile 'work''s own key",
    ),
    "api_key_env": (
        {"WORK_KEY": SENTINEL_KEY},
        "work",
        "check the key: it came from $WORK_KEY (api_key_env = WORK_KEY in profile 'work')",
    ),
    "inline": (
        {},
        "home",
        "check the key: it came from the api_key written inline in profile 'home' of the "
        "config file",
    ),
    "preset variable": (
        {"OPENROUTER_API_KEY": SENTINEL_KEY},
        "openrouter",
        "check the key: it came from $OPENROUTER_API_KEY (the variable the openrouter preset "
        "reads)",
    ),
}


@pytest.mark.parametrize("source", KEY_SOURCES)
def test_rejected_key_names_its_real_source(
    run: Run,
    gateway: MockGateway,
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    environ, profile, hint = KEY_SOURCES[source]
    write_config(CONFIG)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    gateway.queue(httpx.Response(401, json={"error": {"message": "invalid key"}}))
    r = run("generate", "a fox", "-p", profile, "-o", "a.png")
    assert r.exit_code == 3
    assert f"hint: {hint}\n" in r.stderr
    assert SENTINEL_KEY not in r.stderr + r.stdout


def test_rejected_key_from_a_command(
    run: Run, gateway: MockGateway, write_config: Callable[..., Path]
) -> None:
    cmd = [sys.executable, "-c", f"print({SENTINEL_KEY!r})"]
    write_config({"profiles": {"cmd": {"preset": "openrouter", "api_key_cmd": cmd}}})
    gateway.queue(httpx.Response(403, json={"error": {"message": "forbidden"}}))
    r = run("models", "-p", "cmd")
    assert r.exit_code == 3
    assert "hint: check the key: it came from the api_key_cmd of profile 'cmd'" in r.stderr
    assert SENTINEL_KEY not in r.stderr + r.stdout


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["edit", "fox.png"], 'hint: imggen edit photo.png "make the sky stormy"'),
        (["generate"], 'hint: imggen generate "a red fox"'),
    ],
)
def test_a_missing_prompt_is_hinted_with_the_command_typed(
    run: Run,
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    example: str,
) -> None:
    write_config(CONFIG)
    monkeypatch.setenv("WORK_KEY", SENTINEL_KEY)
    r = run(*args, input="")  # stdin piped, and empty
    assert r.exit_code == 2
    assert "error: no prompt given" in r.stderr and example in r.stderr
