"""The option table: one path from the user to the wire for generate, batch, profiles, manifests
and `config set`, and errors that say where a value came from."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from imggen import options
from imggen.job import Job
from imggen.profiles import settings
from imggen.run import core
from tests.conftest import SENTINEL_KEY, MockGateway, Result, b64_png

Run = Callable[..., Result]

KNOX = "google/gemini-3-pro-image-preview"
PROFILES = {
    "default_profile": "k",
    "profiles": {
        "k": {
            "preset": "knox",
            "base_url": "https://knox.test/v1",
            "model": KNOX,
            "api_key_env": "KNOX_API_KEY",
            "stream": False,
            "params": {"provider": {"only": ["google-ai-studio"]}},
        },
        "t": {
            "preset": "turing",
            "base_url": "https://turing.test/api/v1",
            "model": "turing/gpt-image-2",
            "api_key_env": "KNOX_API_KEY",
            "quality": "ultra",
        },
    },
}


def chat_reply() -> dict[str, Any]:
    url = f"data:image/png;base64,{b64_png()}"
    return {"choices": [{"message": {"images": [{"image_url": {"url": url}}]}}]}


@pytest.fixture
def profiles(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    return write_config(PROFILES)


def test_param_merges_deeply_into_the_profiles_params(
    profiles: Path, run: Run, gateway: MockGateway
) -> None:
    gateway.queue(chat_reply())
    r = run("generate", "a fox", "-o", "a.png", "--param", "provider.sort=price")
    assert r.exit_code == 0, r.stderr
    assert gateway.bodies()[0]["provider"] == {"only": ["google-ai-studio"], "sort": "price"}


@pytest.mark.parametrize(
    ("flags", "job"),
    [
        (
            ["-a", "16:9", "-s", "2K", "--param", "provider.sort=price", "--seed", "7"],
            {"aspect": "16:9", "size": "2K", "params": {"provider": {"sort": "price"}}, "seed": 7},
        ),
        (["-n", "2", "--param", "temperature=0.5"], {"n": 2, "params": {"temperature": 0.5}}),
    ],
)
def test_generate_and_batch_send_the_same_body(
    profiles: Path,
    run: Run,
    gateway: MockGateway,
    tmp_path: Path,
    flags: list[str],
    job: dict[str, Any],
) -> None:
    gateway.queue(*[chat_reply() for _ in range(4)])
    r = run("generate", "a fox", "-o", "a.png", *flags)
    assert r.exit_code == 0, r.stderr
    via_generate = gateway.bodies()
    gateway.requests.clear()
    manifest = tmp_path / "assets.toml"
    manifest.write_text(tomli_w.dumps({"jobs": [{"prompt": "a fox", "output": "b.png", **job}]}))
    r = run("batch", str(manifest), "-j", "1")
    assert r.exit_code == 0, r.stderr
    assert gateway.bodies() == via_generate
    assert via_generate[0]["provider"]["only"] == ["google-ai-studio"]


def test_batch_flags_sit_under_the_manifest_and_over_the_profile(
    profiles: Path, run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(chat_reply(), chat_reply())
    manifest = tmp_path / "assets.toml"
    manifest.write_text(
        tomli_w.dumps(
            {
                "defaults": {"aspect": "4:3"},
                "jobs": [
                    {"prompt": "one", "output": "1.png", "aspect": "1:1"},
                    {"prompt": "two", "output": "2.png"},
                ],
            }
        )
    )
    r = run("batch", str(manifest), "-j", "1", "-a", "16:9", "-s", "2K")
    assert r.exit_code == 0, r.stderr
    configs = [b["image_config"] for b in gateway.bodies()]
    assert configs == [
        {"aspect_ratio": "1:1", "image_size": "2K"},  # the job, then the flag
        {"aspect_ratio": "4:3", "image_size": "2K"},  # [defaults], then the flag
    ]


def test_config_set_refuses_a_bad_size_before_writing(profiles: Path, run: Run) -> None:
    before = profiles.read_bytes()
    r = run("config", "set", "profiles.k.size", "9K")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: profile k (size) '9K': not a size; give a tier (512, 1K, 2K, 4K), pixels WxH "
        "or auto"
    )
    assert profiles.read_bytes() == before


def test_config_set_stores_the_canonical_value(profiles: Path, run: Run) -> None:
    assert run("config", "set", "profiles.k.size", "2k").exit_code == 0
    assert run("config", "set", "profiles.k.format", "JPG").exit_code == 0
    assert run("config", "get", "profiles.k.size").stdout == "2K\n"
    assert run("config", "get", "profiles.k.format").stdout == "jpeg\n"


def test_a_bad_profile_default_names_the_profile_not_a_flag(
    profiles: Path, run: Run, gateway: MockGateway
) -> None:
    data = json.loads(json.dumps(PROFILES))
    data["profiles"]["k"]["size"] = "9K"
    profiles.write_text(tomli_w.dumps(data))
    r = run("generate", "a fox")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == [
        "error: profile k (size) '9K': not a size; give a tier (512, 1K, 2K, 4K), pixels WxH or "
        "auto",
        "hint: fix it with `imggen config set profiles.k.size VALUE`; for example 2K or 1536x1024",
    ]
    assert gateway.requests == []


def test_a_refusal_names_the_profile_a_value_came_from(
    profiles: Path, run: Run, gateway: MockGateway
) -> None:
    r = run("generate", "a fox", "-p", "t")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "error: profile t (quality) ultra is not something turing/gpt-image-2 (images dialect) "
        "can take; it accepts low, medium, high, auto"
    )
    r = run("generate", "a fox", "-p", "t", "--quality", "best")
    assert r.stderr.splitlines()[0].startswith("error: --quality best is not something")
    assert gateway.requests == []


def test_a_size_refusal_names_the_profile(profiles: Path, run: Run) -> None:
    run("config", "set", "profiles.t.quality", "high")
    run("config", "set", "profiles.t.size", "512")
    r = run("generate", "a fox", "-p", "t")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0].endswith("; set by profile t (size)")


def test_a_manifest_refusal_names_its_line(
    profiles: Path, run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    manifest = tmp_path / "assets.toml"
    manifest.write_text('[[jobs]]\nprompt = "x"\noutput = "x.png"\nprofile = "t"\n')
    r = run("batch", str(manifest))
    assert r.exit_code == 2
    assert (
        f"{manifest}:1 [[jobs]] #1: profile t (quality) ultra is not something "
        "turing/gpt-image-2 (images dialect) can take" in r.stderr
    )


# -- the table is the one description ------------------------------------------------------


def test_job_fields_are_the_options_landing_in_a_job() -> None:
    fields = {f.name for f in dataclasses.fields(Job)} - {"prompt", "origins"}
    landing = {o.name for o in options.OPTIONS.values() if o.lands in (options.JOB, options.INPUT)}
    assert fields == landing - {"prompt"}


def test_run_options_are_the_options_landing_in_a_run() -> None:
    # cwd and made_by (the batch job running) are where a run happens, set by its caller
    fields = {f.name for f in dataclasses.fields(core.RunOptions)} - {"cwd", "made_by"}
    assert fields == {o.name for o in options.OPTIONS.values() if o.lands == options.RUN}


def test_every_profile_option_is_a_profile_key() -> None:
    assert set(options.PROFILE_OPTIONS) <= set(settings.PROFILE_KEYS)


@pytest.mark.parametrize("opt", list(options.OPTIONS.values()), ids=list(options.OPTIONS))
def test_every_valued_flag_has_a_placeholder_and_help(opt: options.Option) -> None:
    assert opt.help.endswith(".")
    if opt.flags and opt.kind is not bool:
        assert opt.metavar, f"{opt.name} needs a placeholder"


def test_digest_follows_the_table(tmp_path: Path) -> None:
    from imggen.files.provenance import job_digest

    s = settings.Settings("k", "https://x.test/v1", KNOX, api_key="")
    gw = s.gateway()
    base = Job("a fox")
    for name in options.DIGEST:
        if name == "params":
            changed = dataclasses.replace(base, params={"x": 1})
        else:
            value = {"count": 2, "seed": 3}.get(name, "1:1" if name == "aspect" else "x")
            changed = dataclasses.replace(base, **{name: value})
        assert job_digest(changed, gw) != job_digest(base, gw), name
    assert job_digest(dataclasses.replace(base, stream=True), gw) == job_digest(base, gw)
