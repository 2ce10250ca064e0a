"""`imggen config path|show|init|get|set|unset|use|profiles` end to end through CliRunner."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SENTINEL_KEY, Result

Run = Callable[..., Result]

TWO = {
    "default_profile": "t",
    "profiles": {
        "t": {
            "preset": "turing",
            "base_url": "https://t.example/api/v1",
            "model": "turing/gpt-image-2",
            "api_key_env": "TURING_API_KEY",
        },
        "k": {"preset": "knox", "api_key": SENTINEL_KEY},
    },
}


def read(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


# -- path -----------------------------------------------------------------------------------


def test_path_prints_imggen_config(run: Run, clean_environ: Path) -> None:
    r = run("config", "path")
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"{clean_environ}\n", "")


# -- show -----------------------------------------------------------------------------------


def test_show_redacts_inline_keys(run: Run, write_config: Callable[..., Path]) -> None:
    write_config(TWO)
    r = run("config", "show")
    assert r.exit_code == 0
    assert SENTINEL_KEY not in r.stdout + r.stderr
    assert tomllib.loads(r.stdout)["profiles"]["k"] == {"preset": "knox", "api_key": "<redacted>"}
    assert r.stderr == ""


def test_show_json_redacts_inline_keys(run: Run, write_config: Callable[..., Path]) -> None:
    write_config(TWO)
    r = run("config", "show", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {
        "default_profile": "t",
        "profiles": {
            "t": TWO["profiles"]["t"],
            "k": {"preset": "knox", "api_key": "<redacted>"},
        },
    }


def test_show_warns_when_others_can_read_an_inline_key(
    run: Run, write_config: Callable[..., Path]
) -> None:
    path = write_config(TWO)
    path.chmod(0o644)
    r = run("config", "show")
    assert r.exit_code == 0
    assert r.stderr == (
        f"warning: {path} holds an inline api_key (profile k) and others can read it: "
        f"chmod 600 {path}, or use api_key_env\n"
    )
    assert SENTINEL_KEY not in r.stdout + r.stderr


def test_show_without_a_file(run: Run, clean_environ: Path) -> None:
    r = run("config", "show")
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == (
        f"no config at {clean_environ}; create one with `imggen config init --preset NAME`\n"
    )
    assert run("config", "show", "--json").stdout == "{}\n"


def test_show_of_malformed_toml_is_exit_3_naming_the_file(run: Run, clean_environ: Path) -> None:
    clean_environ.parent.mkdir(parents=True)
    clean_environ.write_text("[profiles\n")
    r = run("config", "show")
    assert r.exit_code == 3
    assert r.stderr.startswith(f"error: config file {clean_environ} is not valid TOML: ")
    assert "Traceback" not in r.stderr


# -- init -----------------------------------------------------------------------------------


def test_init_with_preset(run: Run, clean_environ: Path) -> None:
    r = run("config", "init", "--preset", "turing")
    assert (r.exit_code, r.stdout) == (0, f"{clean_environ}\n")
    assert r.stderr == "profile 'turing' (turing) saved; the key is read from $TURING_API_KEY\n"
    assert read(clean_environ) == {
        "profiles": {
            "turing": {
                "preset": "turing",
                "model": "turing/gpt-image-2",
                "api_key_env": "TURING_API_KEY",
            }
        },
        "default_profile": "turing",
    }
    assert clean_environ.stat().st_mode & 0o777 == 0o600


def test_init_with_name_and_options(run: Run, clean_environ: Path) -> None:
    r = run(
        "config", "init", "work", "--preset", "knox", "-m", "google/gemini-3-pro-image-preview",
        "--base-url", "https://knox.example/v1", "--api-key-env", "WORK_KEY",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert read(clean_environ)["profiles"]["work"] == {
        "preset": "knox",
        "base_url": "https://knox.example/v1",
        "model": "google/gemini-3-pro-image-preview",
        "api_key_env": "WORK_KEY",
    }


def test_init_no_default_keeps_the_current_default(
    run: Run, write_config: Callable[..., Path]
) -> None:
    path = write_config(TWO)
    assert run("config", "init", "x", "--preset", "xty", "--no-default").exit_code == 0
    data = read(path)
    assert (data["default_profile"], sorted(data["profiles"])) == ("t", ["k", "t", "x"])


def test_init_without_preset_off_a_terminal_is_exit_2(run: Run, clean_environ: Path) -> None:
    r = run("config", "init")
    assert r.exit_code == 2
    assert r.stderr == (
        "error: config init needs --preset NAME when not at a terminal\n"
        "hint: presets: trinity, knox, turing, openroute, xty, openrouter, openai, litellm, "
        "gemini, vertex, azure, together, xai, recraft, bfl, fal, replicate\n"
    )
    assert not clean_environ.exists()


def test_init_trinity_needs_base_url(run: Run, clean_environ: Path) -> None:
    r = run("config", "init", "--preset", "trinity")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: the trinity preset has no public base URL (Trinity publishes no public address)"
    )
    assert not clean_environ.exists()
    r = run("config", "init", "--preset", "trinity", "--base-url", "https://trinity.example/v1")
    assert r.exit_code == 0
    assert read(clean_environ)["profiles"]["trinity"] == {
        "preset": "trinity",
        "base_url": "https://trinity.example/v1",
        "model": "hunyuan-image",
        "api_key_env": "TRINITY_API_KEY",
    }


def test_init_unknown_preset_is_exit_2(run: Run) -> None:
    r = run("config", "init", "--preset", "nope")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "error: unknown preset 'nope'"


def test_init_refuses_to_replace_without_force(run: Run, write_config: Callable[..., Path]) -> None:
    path = write_config(TWO)
    r = run("config", "init", "t", "--preset", "knox")
    assert r.exit_code == 2
    assert r.stderr == f"error: profile 't' exists in {path}\nhint: pass --force to replace it\n"
    assert read(path) == TWO
    r = run("config", "init", "t", "--preset", "knox", "--force")
    assert r.exit_code == 0
    assert read(path)["profiles"]["t"] == {
        "preset": "knox",
        "model": "google/gemini-2.5-flash-image",
        "api_key_env": "KNOX_API_KEY",
    }
    assert read(path)["profiles"]["k"] == TWO["profiles"]["k"]


# -- set / get / unset ------------------------------------------------------------------------


def test_set_get_unset_dotted_keys(run: Run, write_config: Callable[..., Path]) -> None:
    path = write_config(TWO)
    assert run("config", "set", "profiles.t.count", "3").exit_code == 0
    assert (
        run("config", "set", "profiles.t.params.image_config.aspect_ratio", "16:9").exit_code == 0
    )
    assert run("config", "set", "profiles.t.stream", "false").exit_code == 0
    assert read(path)["profiles"]["t"] == {
        **TWO["profiles"]["t"],
        "count": 3,
        "stream": False,
        "params": {"image_config": {"aspect_ratio": "16:9"}},
    }
    assert path.stat().st_mode & 0o777 == 0o600
    assert run("config", "get", "profiles.t.count").stdout == "3\n"
    assert run("config", "get", "profiles.t.stream").stdout == "false\n"
    assert run("config", "get", "profiles.t.model").stdout == "turing/gpt-image-2\n"
    assert run("config", "get", "profiles.t.params").stdout == (
        '[image_config]\naspect_ratio = "16:9"\n'
    )
    assert run("config", "unset", "profiles.t.params.image_config.aspect_ratio").exit_code == 0
    assert "params" not in read(path)["profiles"]["t"]


def test_set_creates_the_file(run: Run, clean_environ: Path) -> None:
    r = run("config", "set", "profiles.x.base_url", "https://x.example/v1")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert read(clean_environ) == {"profiles": {"x": {"base_url": "https://x.example/v1"}}}


def test_set_api_key_cmd_takes_an_argv_list(run: Run, clean_environ: Path) -> None:
    r = run("config", "set", "profiles.x.api_key_cmd", '["pass", "show", "imggen"]')
    assert r.exit_code == 0
    assert read(clean_environ)["profiles"]["x"]["api_key_cmd"] == ["pass", "show", "imggen"]
    r = run("config", "set", "profiles.x.api_key_cmd", "pass show imggen")
    assert r.exit_code == 2
    assert r.stderr == ('error: api_key_cmd is an argv list, e.g. \'["pass", "show", "imggen"]\'\n')


def test_set_inline_key_warns_and_get_redacts(run: Run, clean_environ: Path) -> None:
    r = run("config", "set", "profiles.x.api_key", SENTINEL_KEY)
    assert r.exit_code == 0
    assert r.stderr == (
        "warning: the key is stored in plain text; api_key_env or api_key_cmd keep it out of "
        "files\n"
    )
    assert run("config", "get", "profiles.x.api_key").stdout == "<redacted>\n"
    shown = run("config", "get", "profiles.x")
    assert shown.stdout == 'api_key = "<redacted>"\n'
    assert SENTINEL_KEY not in shown.stdout + shown.stderr
    everything = run("config", "get", "profiles")
    assert everything.stdout == '[x]\napi_key = "<redacted>"\n'


@pytest.mark.parametrize(
    ("key", "value", "stderr"),
    [
        (
            "profiles.t.modle",
            "x",
            "error: unknown profile key 'modle' (did you mean 'model'?)\n"
            "hint: profile keys: preset, dialect, base_url, model, api_key_env, api_key_cmd, "
            "api_key, auth, api_version, models, aspect, size, count, output, format, quality, "
            "background, seed, stream, partials, save_partials, params, provenance, timeout, "
            "retries, log, preview, jobs, confirm_above "
            "(and params.*, models.ALIAS.dialect, models.ALIAS.like)\n",
        ),
        (
            "profiles.t.model.x",
            "x",
            "error: unknown profile key 'model.x' (did you mean 'models'?)\n"
            "hint: profile keys: preset, dialect, base_url, model, api_key_env, api_key_cmd, "
            "api_key, auth, api_version, models, aspect, size, count, output, format, quality, "
            "background, seed, stream, partials, save_partials, params, provenance, timeout, "
            "retries, log, preview, jobs, confirm_above "
            "(and params.*, models.ALIAS.dialect, models.ALIAS.like)\n",
        ),
        (
            "colour",
            "red",
            "error: unknown key 'colour'\nhint: keys: default_profile, profiles.NAME.KEY\n",
        ),
        ("profiles", "x", "error: unknown key 'profiles'\n"
         "hint: keys: default_profile, profiles.NAME.KEY\n"),
        ("default_profile", "3", "error: default_profile must be a profile name\n"),
    ],
)  # fmt: skip
def test_set_refuses_unknown_keys(
    run: Run, write_config: Callable[..., Path], key: str, value: str, stderr: str
) -> None:
    path = write_config(TWO)
    r = run("config", "set", key, value)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", stderr)
    assert read(path) == TWO


def test_set_null_is_refused_not_a_crash(run: Run, write_config: Callable[..., Path]) -> None:
    path = write_config(TWO)
    r = run("config", "set", "profiles.t.params.x", "null")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: TOML has no null: to remove profiles.t.params.x use `imggen config unset`"
    )
    assert read(path) == TWO


def test_get_and_unset_of_a_missing_key_are_exit_2(
    run: Run, write_config: Callable[..., Path]
) -> None:
    path = write_config(TWO)
    for command in ("get", "unset"):
        r = run("config", command, "profiles.t.seed")
        assert (r.exit_code, r.stderr) == (2, f"error: profiles.t.seed is not set in {path}\n")


def test_unset_last_key_drops_profile_and_its_default(
    run: Run, write_config: Callable[..., Path]
) -> None:
    path = write_config({"default_profile": "x", "profiles": {"x": {"model": "m"}, "y": {}}})
    assert run("config", "unset", "profiles.x.model").exit_code == 0
    assert read(path) == {"profiles": {"y": {}}}


# -- use / profiles ---------------------------------------------------------------------------


def test_use_sets_the_default(run: Run, write_config: Callable[..., Path]) -> None:
    path = write_config(TWO)
    r = run("config", "use", "k")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert read(path)["default_profile"] == "k"


def test_use_unknown_profile_is_exit_3(run: Run, write_config: Callable[..., Path]) -> None:
    path = write_config(TWO)
    r = run("config", "use", "nope")
    assert r.exit_code == 3
    assert r.stderr == (
        f"error: no profile 'nope' in {path} (profiles: k, t)\n"
        "hint: create it: imggen config init nope --preset NAME\n"
    )


def test_profiles_is_tsv_off_a_terminal(run: Run, write_config: Callable[..., Path]) -> None:
    write_config(TWO)
    r = run("config", "profiles")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        "\tprofile\tpreset\tmodel\tbase_url",
        "*\tt\tturing\tturing/gpt-image-2\thttps://t.example/api/v1",
        "\tk\tknox\t\t",
    ]


def test_profiles_json(run: Run, write_config: Callable[..., Path]) -> None:
    write_config(TWO)
    r = run("config", "profiles", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == [
        {
            "name": "t",
            "default": True,
            "preset": "turing",
            "model": "turing/gpt-image-2",
            "base_url": "https://t.example/api/v1",
        },
        {"name": "k", "default": False, "preset": "knox", "model": "", "base_url": ""},
    ]
    assert SENTINEL_KEY not in r.stdout


def test_profiles_without_any(run: Run, clean_environ: Path) -> None:
    r = run("config", "profiles")
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == (
        f"no profiles in {clean_environ}; create one with `imggen config init --preset NAME`\n"
    )
    assert run("config", "profiles", "--json").stdout == "[]\n"


def test_set_refuses_a_mistyped_default(run, write_config) -> None:
    write_config({"profiles": {"t": {"preset": "turing"}}})
    r = run("config", "set", "profiles.t.timeout", "soon")
    assert r.exit_code == 2
    assert r.stderr == "error: profile t (timeout) 'soon': must be a number of seconds above 0\n"


# -- in place, through links, and what cannot be written or stored -----------------------------

HAND_WRITTEN = """# imggen: my gateways (kept in git with my dotfiles)
default_profile = "t"

[profiles.t]
preset   = "turing"            # the work gateway
base_url = "https://t.example/api/v1"
api_key_env = "TURING_API_KEY"
"""


def test_set_and_unset_keep_comments_and_layout(run: Run, clean_environ: Path) -> None:
    clean_environ.parent.mkdir(parents=True)
    clean_environ.write_text(HAND_WRITTEN)
    assert run("config", "set", "profiles.t.model", "turing/gpt-image-2").exit_code == 0
    assert clean_environ.read_text() == HAND_WRITTEN + 'model = "turing/gpt-image-2"\n'
    assert run("config", "unset", "profiles.t.model").exit_code == 0
    assert clean_environ.read_text() == HAND_WRITTEN


def test_set_through_a_symlink_keeps_the_link(
    run: Run, clean_environ: Path, tmp_path: Path
) -> None:
    target = tmp_path / "dotfiles" / "imggen.toml"
    target.parent.mkdir()
    target.write_text(HAND_WRITTEN)
    clean_environ.parent.mkdir(parents=True)
    clean_environ.symlink_to(target)

    for args in (("set", "profiles.t.size", "2K"), ("init", "k", "--preset", "knox")):
        r = run("config", *args)
        assert r.exit_code == 0, r.stderr

    assert clean_environ.is_symlink() and clean_environ.resolve() == target
    text = target.read_text()
    assert text.startswith(HAND_WRITTEN.replace('"t"', '"k"', 1) + 'size = "2K"\n\n[profiles.k]\n')
    assert read(target)["profiles"]["k"]["api_key_env"] == "KNOX_API_KEY"
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "command", [("set", "profiles.t.size", "2K"), ("init", "--preset", "knox")]
)
def test_an_unwritable_config_is_exit_3_naming_the_path(
    run: Run, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    path = "/proc/imggen-test/config.toml"  # root may write anywhere, but not there
    monkeypatch.setenv("IMGGEN_CONFIG", path)
    r = run("config", *command)
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == (
        f"error: cannot write the config file {path}: No such file or directory"
    )


def test_a_config_under_a_file_is_exit_3_naming_the_path(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("")
    path = tmp_path / "blocker" / "config.toml"
    monkeypatch.setenv("IMGGEN_CONFIG", str(path))
    r = run("config", "set", "profiles.t.size", "2K")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == f"error: cannot read config file {path}: Not a directory"


def test_a_key_with_a_line_break_is_refused_unechoed(run: Run, clean_environ: Path) -> None:
    r = run("config", "set", "profiles.x.api_key", SENTINEL_KEY + "\n")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: profile x (api_key): the key ends with a line break; keys are printable ASCII "
        "without spaces"
    )
    assert SENTINEL_KEY not in r.stderr and not clean_environ.exists()


def test_a_key_pasted_as_api_key_env_is_refused_unechoed(run: Run, clean_environ: Path) -> None:
    r = run("config", "set", "profiles.x.api_key_env", SENTINEL_KEY)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: profile x (api_key_env): not the name of an environment variable "
        "(letters, digits and _)"
    )
    assert SENTINEL_KEY not in r.stderr


def test_base_url_credentials_are_refused_and_redacted(
    run: Run, write_config: Callable[..., Path]
) -> None:
    r = run("config", "set", "profiles.x.base_url", "https://me:hunter2@gw.test/v1")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: profile x (base_url) 'https://gw.test/v1': holds credentials (user:password@); "
        "imggen sends the key separately"
    )
    # one written by hand is shown redacted, and refused when used
    write_config({"profiles": {"x": {"base_url": "https://me:hunter2@gw.test/v1?token=t0k"}}})
    for args in (("show",), ("show", "--json"), ("get", "profiles.x.base_url"), ("profiles",)):
        shown = run("config", *args)
        assert "hunter2" not in shown.stdout + shown.stderr and "t0k" not in shown.stdout
    assert run("config", "get", "profiles.x.base_url").stdout == (
        "https://<redacted>@gw.test/v1?<redacted>\n"
    )


def test_a_model_table_whose_name_has_a_dot_is_addressed_with_toml_quotes(
    run: Run, clean_environ: Path
) -> None:
    """`profiles.work.models.gemini-2.5-flash-image.like` splits at every dot: the table
    cannot be named unless its part is quoted, as TOML quotes it."""
    assert (
        run("config", "init", "work", "--preset", "litellm", "--base-url", "http://h/v1").exit_code
        == 0
    )
    key = 'profiles.work.models."gemini-2.5-flash-image"'
    r = run("config", "set", f"{key}.like", "gpt-image-1")
    assert r.exit_code == 0, r.stderr
    assert run("config", "set", f"{key}.dialect", "images").exit_code == 0
    assert read(clean_environ)["profiles"]["work"]["models"]["gemini-2.5-flash-image"] == {
        "like": "gpt-image-1",
        "dialect": "images",
    }
    got = run("config", "get", f"{key}.like")
    assert (got.exit_code, got.stdout) == (0, "gpt-image-1\n")
    single = run("config", "get", "profiles.work.models.'gemini-2.5-flash-image'.dialect")
    assert single.stdout == "images\n"
    assert run("config", "unset", f"{key}.like").exit_code == 0
    bad = run("config", "set", 'profiles.work.models."gemini.like', "x")
    assert bad.exit_code == 3 and "quote a part that holds a dot" in bad.stderr
