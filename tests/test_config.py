"""config: where the file lives, atomic 0600 saves, bad TOML, dotted keys, value parsing."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import pytest

from imggen.errors import ConfigError, ExitCode
from imggen.profiles import config


def test_path_honours_imggen_config(tmp_path: Path) -> None:
    assert config.config_path({"IMGGEN_CONFIG": str(tmp_path / "c.toml")}) == tmp_path / "c.toml"


def test_path_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.config_path({"IMGGEN_CONFIG": "~/c.toml"}) == tmp_path / "c.toml"


def test_path_reads_os_environ_by_default(clean_environ: Path) -> None:
    assert config.config_path() == clean_environ


def test_path_defaults_to_platform_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_config_dir

    expected = Path(user_config_dir("imggen", appauthor=False)) / "config.toml"
    assert config.config_path({}) == expected
    assert config.config_path({"IMGGEN_CONFIG": ""}) == expected


def test_load_missing_file_is_empty(tmp_path: Path) -> None:
    assert config.load(tmp_path / "none.toml") == {}


def test_save_then_load_round_trips_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    data = {"default_profile": "t", "profiles": {"t": {"preset": "turing", "count": 2}}}
    config.save(path, data)
    assert config.load(path) == data
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_save_keeps_0600_over_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("x = 1\n")
    path.chmod(0o644)
    config.save(path, {"x": 2})
    assert path.stat().st_mode & 0o777 == 0o600
    assert config.load(path) == {"x": 2}


def test_save_is_atomic_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    config.save(path, {"x": 1})

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError) as info:
        config.save(path, {"x": 2})
    assert info.value.exit_code == 3
    assert info.value.message == f"cannot write the config file {path}: No space left on device"
    assert config.load(path) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_malformed_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.turing\nmodel = 1\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.exit_code == ExitCode.CONFIG == 3
    assert info.value.message.startswith(f"config file {path} is not valid TOML: ")
    assert info.value.hint == "fix it by hand, or move it away and run `imggen config init`"


def test_profiles_that_are_not_tables_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('profiles = "turing"\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.message == (
        f"config file {path}: `profiles` must be tables like [profiles.NAME]"
    )


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'x = "\xff"\n')
    with pytest.raises(ConfigError):
        config.load(path)


# -- dotted keys -----------------------------------------------------------------------------

DATA: dict[str, Any] = {
    "default_profile": "t",
    "profiles": {"t": {"model": "m", "params": {"a": {"b": 1}}}},
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("default_profile", "t"),
        ("profiles.t.model", "m"),
        ("profiles.t.params.a.b", 1),
        ("profiles.t.params", {"a": {"b": 1}}),
    ],
)
def test_get_dotted(key: str, value: Any) -> None:
    assert config.get_dotted(DATA, key) == value


@pytest.mark.parametrize("key", ["nope", "profiles.x.model", "profiles.t.model.deeper"])
def test_get_dotted_absent_is_key_error(key: str) -> None:
    with pytest.raises(KeyError):
        config.get_dotted(DATA, key)


@pytest.mark.parametrize("key", ["", "profiles..model", ".x", "x."])
def test_bad_dotted_keys_are_config_errors(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.get_dotted(DATA, key)
    assert info.value.message == f"bad key {key!r}: use dotted names like profiles.NAME.model"


def test_set_dotted_creates_tables() -> None:
    data: dict[str, Any] = {}
    config.set_dotted(data, "profiles.t.params.image_config.aspect_ratio", "16:9")
    config.set_dotted(data, "profiles.t.model", "m")
    assert data == {
        "profiles": {"t": {"params": {"image_config": {"aspect_ratio": "16:9"}}, "model": "m"}}
    }


def test_set_dotted_through_a_value_is_refused() -> None:
    data: dict[str, Any] = {"profiles": {"t": {"model": "m"}}}
    with pytest.raises(ConfigError) as info:
        config.set_dotted(data, "profiles.t.model.x", 1)
    assert info.value.message == "cannot set profiles.t.model.x: model is a value, not a table"


def test_unset_dotted_removes_tables_left_empty() -> None:
    data: dict[str, Any] = {
        "default_profile": "t",
        "profiles": {"t": {"params": {"a": {"b": 1}}}, "u": {"model": "m"}},
    }
    config.unset_dotted(data, "profiles.t.params.a.b")
    assert data == {"default_profile": "t", "profiles": {"u": {"model": "m"}}}
    config.unset_dotted(data, "profiles.u.model")
    assert data == {"default_profile": "t"}


def test_unset_dotted_keeps_tables_with_other_keys() -> None:
    data: dict[str, Any] = {"profiles": {"t": {"model": "m", "count": 2}}}
    config.unset_dotted(data, "profiles.t.count")
    assert data == {"profiles": {"t": {"model": "m"}}}


@pytest.mark.parametrize("key", ["nope", "profiles.x.model", "profiles.t.model.x"])
def test_unset_dotted_absent_is_key_error(key: str) -> None:
    data: dict[str, Any] = {"profiles": {"t": {"model": "m"}}}
    with pytest.raises(KeyError):
        config.unset_dotted(data, key)
    assert data == {"profiles": {"t": {"model": "m"}}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2),
        ("-1", -1),
        ("1.5", 1.5),
        ("true", True),
        ("false", False),
        ('["a", "b"]', ["a", "b"]),
        ("['pass', 'show', 'imggen']", ["pass", "show", "imggen"]),
        ("{ a = 1 }", {"a": 1}),
        ('{"a": {"b": [1, 2]}}', {"a": {"b": [1, 2]}}),  # JSON when TOML cannot read it
        ('"quoted"', "quoted"),
        ("turing/gpt-image-2", "turing/gpt-image-2"),
        ("https://gw.example/api/v1", "https://gw.example/api/v1"),
        ("16:9", "16:9"),
        ("1K", "1K"),
        ("TURING_API_KEY", "TURING_API_KEY"),
        ("hello world", "hello world"),
        ("", ""),
        ("null", None),
        ("2024-01-02", datetime.date(2024, 1, 2)),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    assert config.parse_value(text) == value


# -- insecure inline keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "profiles", "expected"),
    [
        (0o644, {"a": {"api_key": "k"}, "b": {"api_key_env": "K"}}, ["a"]),
        (0o640, {"a": {"api_key": "k"}}, ["a"]),
        (0o604, {"a": {"api_key": "k"}}, ["a"]),
        (0o600, {"a": {"api_key": "k"}}, []),
        (0o644, {"a": {"api_key_env": "K"}}, []),
        (0o644, {}, []),
    ],
)
def test_insecure_inline_key(
    tmp_path: Path, mode: int, profiles: dict[str, Any], expected: list[str]
) -> None:
    path = tmp_path / "config.toml"
    data = {"profiles": profiles}
    config.save(path, data)
    path.chmod(mode)
    assert config.insecure_inline_key(path, data) == expected


def test_insecure_inline_key_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert (
        config.insecure_inline_key(tmp_path / "none", {"profiles": {"a": {"api_key": "k"}}}) == []
    )


# -- in place: comments, layout, symlinks; files that are not config files ---------------------

COMMENTED = """# imggen, kept with my dotfiles
default_profile = "a"   # the usual one

[profiles.a]
preset = "turing"       # aligned by hand
model  = "turing/gpt-image-2"

# for experiments
[profiles.b]
preset = "knox"
"""


def test_a_document_keeps_comments_and_layout_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    doc = config.load_document(path)
    config.set_dotted(doc, "profiles.a.model", "turing/seedream-4")
    config.set_dotted(doc, "profiles.c.size", "2K")
    config.save(path, doc)
    assert (
        path.read_text()
        == COMMENTED.replace("turing/gpt-image-2", "turing/seedream-4")
        + '\n[profiles.c]\nsize = "2K"\n'
    )


def test_a_symlinked_config_is_written_through_to_its_target(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "imggen.toml"
    target.write_text(COMMENTED)
    link = tmp_path / "config" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(target)

    doc = config.load_document(link)
    config.set_dotted(doc, "default_profile", "b")
    config.save(link, doc)

    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == COMMENTED.replace('= "a"   #', '= "b"   #')
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in dotfiles.iterdir()) == ["imggen.toml"]  # no temp file left
    assert sorted(p.name for p in link.parent.iterdir()) == ["config.toml"]


def test_a_config_under_a_file_is_exit_3_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "notadir").write_text("")
    path = tmp_path / "notadir" / "config.toml"
    with pytest.raises(ConfigError) as info:
        config.save(path, {"x": 1})
    assert info.value.exit_code == 3
    assert info.value.message == (
        f"cannot write the config file {path}: {tmp_path / 'notadir'} is a file, not a folder"
    )


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_not_read_as_a_config(device: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(Path(device))
    assert info.value.message == f"config file {device} is a device, not a regular file"


def test_a_huge_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"#" * (config.SIZE_CAP + 1))
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.message == f"config file {path} is over 1024 KiB; a config file is a few KB"
