"""`imggen models`: the gateway's models API filtered to image output, the catalog fallback
(Trinity, no endpoint, no modality fields), TSV/JSON output, and that the catalog agrees with
the validation generate and edit do before sending."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from imggen import models, sizes
from imggen.dialects.presets import PRESETS
from imggen.env import Env
from imggen.errors import SizeRefused
from imggen.job import Job
from imggen.profiles import settings
from imggen.run import core
from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY, MockGateway, Result

Invoke = Callable[..., Result]
ALL_ASPECTS = "1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9"
HEADER = "MODEL\tDIALECT\tSIZES\tASPECTS\tSTREAM\tEDIT\tNOTE"
# Where each preset's models path lives on the fake (it dispatches on the path suffix).
BASE_PATH = {"turing": "/api/v1", "openroute": "/api/v1", "openrouter": "/api/v1"}


def image_model(mid: str) -> dict[str, Any]:
    """An OpenRouter-style listing entry (seeds 001/003: models carry output_modalities)."""
    return {"id": mid, "name": mid, "architecture": {"output_modalities": ["image", "text"]}}


def text_model(mid: str) -> dict[str, Any]:
    return {"id": mid, "output_modalities": ["text"]}


@pytest.fixture
def loop(fake: FakeGateway) -> Invoke:
    """imggen through CliRunner, really talking to the loopback fake gateway."""
    from imggen.cli.app import app

    def invoke(*args: str, **environ: str) -> Result:
        env = Env(
            environ={**os.environ, **environ},
            transport=None,
            stdin_isatty=False,
            stderr_isatty=False,
        )
        r = CliRunner().invoke(app, list(args), obj=env, catch_exceptions=True)
        assert SENTINEL_KEY not in r.stdout + r.stderr
        return Result(r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception)

    return invoke


def base_url(gw: FakeGateway, preset: str) -> str:
    return gw.url + BASE_PATH.get(preset, "/v1")


def key_env(preset: str) -> dict[str, str]:
    return {PRESETS[preset].key_env: SENTINEL_KEY}


def test_knox_lists_only_image_models_from_the_gateway(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("models", "-p", "knox", IMGGEN_BASE_URL=f"{fake.url}/v1", **key_env("knox"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        HEADER,
        f"google/gemini-2.5-flash-image\topenrouter\t1K\t{ALL_ASPECTS}\tyes\tyes\tprofile default",
        f"google/gemini-3-pro-image-preview\topenrouter\t1K/2K/4K\t{ALL_ASPECTS}\tyes\tyes\t",
    ]
    assert r.stderr == (
        f"knox: the gateway's models API (GET {fake.url}/v1/models?output_modalities=image)\n"
    )
    (req,) = fake.requests
    assert (req.method, req.path, req.query) == (
        "GET",
        "/v1/models",
        {"output_modalities": "image"},
    )
    assert req.headers["authorization"] == f"Bearer {SENTINEL_KEY}"


def test_all_keeps_text_models_and_drops_the_filter_query(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("models", "-p", "knox", "--all", IMGGEN_BASE_URL=f"{fake.url}/v1", **key_env("knox"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1] == (
        "openai/gpt-4o\topenrouter\tany\tany\tyes\tyes\tno image output; not in the catalog"
    )
    assert fake.requests[0].query == {}


def test_json_describes_each_model_as_generate_sees_it(loop: Invoke, fake: FakeGateway) -> None:
    fake.models = [image_model("google/gemini-3-pro-image-preview")]
    r = loop("models", "-p", "knox", "--json", IMGGEN_BASE_URL=f"{fake.url}/v1", **key_env("knox"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {k: doc[k] for k in ("profile", "preset", "source")} == {
        "profile": "knox",
        "preset": "knox",
        "source": "gateway",
    }
    (m,) = doc["models"]
    pixels = m.pop("pixels")
    assert m == {
        "id": "google/gemini-3-pro-image-preview",
        "name": "google/gemini-3-pro-image-preview",
        "default": False,
        "dialect": "openrouter",
        "image_output": True,
        "output_modalities": ["image", "text"],
        "in_catalog": True,
        "listed": True,
        "size_rule": "gemini-3",
        "sizes": f"aspect {ALL_ASPECTS.replace(' ', ', ')}; size 1K/2K/4K "
        "(fixed pixels per aspect and tier)",
        "aspects": ALL_ASPECTS.split(),
        "tiers": ["1K", "2K", "4K"],
        "stream": True,
        "edit": True,
        "formats": ["png", "jpeg", "webp"],
        "parameters": None,
    }
    # seed 002's Gemini 3 table
    assert pixels["16:9"] == {"1K": "1376x768", "2K": "2752x1536", "4K": "5504x3072"}
    assert r.stderr == ""


# Google's listing has its own shape and key header: tests/e2e/test_native_providers.py
@pytest.mark.parametrize(
    "preset", [p for p in PRESETS if PRESETS[p].models_api and PRESETS[p].dialect != "google"]
)
def test_each_preset_lists_its_gateways_image_models(
    loop: Invoke, fake: FakeGateway, preset: str
) -> None:
    catalog = [m.id for m in PRESETS[preset].models]
    fake.models = [text_model("some/chat-model"), *map(image_model, catalog)]
    fake.image_models = []  # OpenRouter's Image API lists nothing here
    url = base_url(fake, preset)
    r = loop("models", "-p", preset, "--json", IMGGEN_BASE_URL=url, **key_env(preset))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "gateway"
    assert [m["id"] for m in doc["models"]] == catalog
    for m in doc["models"]:
        info = PRESETS[preset].find(m["id"])
        assert info is not None
        assert (m["dialect"], m["size_rule"], m["edit"]) == (
            info.dialect,
            info.size_rule,
            info.can_edit,
        )
    # besides the models API: OpenRouter's image models list, LiteLLM's model groups
    side = ("/images/models", "/model_group/info")
    # (LiteLLM's is read twice the first time: for the model cache, then for the listing)
    asked = [r for r in fake.requests if not r.path.endswith(side)]
    assert len(asked) == (2 if preset == "litellm" else 1), [r.path for r in fake.requests]
    req = asked[-1]
    query = PRESETS[preset].models_query
    assert req.path == BASE_PATH.get(preset, "/v1") + "/models"
    assert req.query == (dict([query.split("=")]) if query else {})


def test_trinity_lists_the_catalog_without_a_request_or_a_key(
    loop: Invoke, fake: FakeGateway
) -> None:
    r = loop("models", "-p", "trinity", IMGGEN_BASE_URL=f"{fake.url}/v1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        HEADER,
        "hunyuan-image\ttrinity\tany\tany\tno\tyes\tprofile default",
    ]
    assert r.stderr == ("trinity: built-in catalog: Trinity has no models API\n")
    assert fake.requests == []


def test_missing_models_endpoint_falls_back_to_the_catalog(loop: Invoke, fake: FakeGateway) -> None:
    fake.models_endpoint = False
    r = loop("models", "-p", "knox", "--json", IMGGEN_BASE_URL=f"{fake.url}/v1", **key_env("knox"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "catalog"
    assert doc["detail"] == (
        f"built-in catalog: the gateway has no models API (GET {fake.url}/v1/models"
        "?output_modalities=image: the gateway refused the request (HTTP 404): "
        "Not found: /v1/models (not_found))"
    )
    assert [(m["id"], m["listed"]) for m in doc["models"]] == [
        ("google/gemini-2.5-flash-image", None),
        ("google/gemini-2.5-flash-image-preview", None),
        ("google/gemini-3-pro-image-preview", None),
    ]


def test_listing_without_modalities_uses_the_catalog_marking_what_is_listed(
    loop: Invoke, fake: FakeGateway
) -> None:
    fake.models = [{"id": "gemini-3-pro-image-preview"}, {"id": "gpt-4o"}]
    url = f"{fake.url}/v1"
    r = loop("models", "-p", "xty", "--json", IMGGEN_BASE_URL=url, **key_env("xty"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["detail"] == (
        f"built-in catalog: GET {url}/models listed 2 models without output modalities"
    )
    assert [(m["id"], m["listed"], m["image_output"]) for m in doc["models"]] == [
        ("gemini-3.1-flash-image-preview", False, True),
        ("gemini-3-pro-image-preview", True, True),
    ]
    r = loop("models", "-p", "xty", "--all", IMGGEN_BASE_URL=url, **key_env("xty"))
    assert r.stdout.splitlines()[-1] == (
        "gpt-4o\txty\tany\tany\tno\tyes\toutput modalities unknown; not in the catalog"
    )


def test_catalog_flag_sends_nothing_and_needs_no_key(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("models", "-p", "turing", "--catalog", IMGGEN_BASE_URL=f"{fake.url}/api/v1")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1:4] == [
        f"turing/gpt-image-2\timages\t1K/2K/4K or WxH\t{ALL_ASPECTS}\tno\tyes\tprofile default",
        "turing/gpt-image-1\timages\t1024x1024, 1536x1024, 1024x1536\t1:1 3:2 2:3\tno\tyes\t",
        f"doubao-seedream-4-5-251128\timages\t1K/2K/4K or WxH\t{ALL_ASPECTS}\tno\tno\t",
    ]
    assert lines[4] == f"turing/gemini-3-pro-image\tgemini\t1K/2K/4K\t{ALL_ASPECTS}\tyes\tyes\t"
    assert r.stderr == "turing: built-in catalog: the gateway was not asked (--catalog)\n"
    assert fake.requests == []


def test_wrong_key_is_exit_3(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("models", "-p", "knox", IMGGEN_BASE_URL=f"{fake.url}/v1", KNOX_API_KEY="sk-wrong")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == (
        "error: the gateway rejected the API key (HTTP 401): Incorrect API key provided. "
        "(invalid_api_key)"
    )
    assert r.stdout == ""


def test_no_key_is_exit_3_before_any_request(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("models", "-p", "knox", IMGGEN_BASE_URL=f"{fake.url}/v1")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == "error: no API key for profile 'knox'"
    assert fake.requests == []


def test_environment_only_profile_without_a_model_still_lists(
    loop: Invoke, fake: FakeGateway
) -> None:
    r = loop("models", IMGGEN_BASE_URL=f"{fake.url}/v1", IMGGEN_API_KEY=SENTINEL_KEY)
    assert r.exit_code == 0, r.stderr
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == [
        "MODEL",
        "google/gemini-2.5-flash-image",
        "google/gemini-3-pro-image-preview",
    ]
    assert fake.requests[0].query == {}  # no preset: no filter query known


def test_gateway_filtering_to_nothing_says_so(loop: Invoke, fake: FakeGateway) -> None:
    fake.models = [text_model("a"), text_model("b")]
    fake.image_models = []
    r = loop("models", "-p", "openrouter", IMGGEN_BASE_URL=f"{fake.url}/api/v1",
             OPENROUTER_API_KEY=SENTINEL_KEY)  # fmt: skip
    assert r.exit_code == 0
    assert r.stdout == ""
    assert r.stderr.splitlines()[-1] == (
        "the gateway lists no models with image output; --all lists every model"
    )


# -- MockTransport: reply shapes and failures ------------------------------------------------

KNOX = {"profiles": {"k": {"preset": "knox", "base_url": "https://knox.test/v1"}}}


def test_bare_list_reply_is_read(
    run: Invoke, gateway: MockGateway, write_config: Callable[..., Path], monkeypatch: Any
) -> None:
    write_config(KNOX)
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    gateway.queue(httpx.Response(200, json=[image_model("google/gemini-2.5-flash-image")]))
    r = run("models")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("google/gemini-2.5-flash-image\topenrouter\t1K\t")
    assert str(gateway.requests[0].url) == "https://knox.test/v1/models?output_modalities=image"


@pytest.mark.parametrize(
    ("reply", "first_line"),
    [
        (
            httpx.Response(503, json={"error": {"message": "busy"}}),
            "error: HTTP 503 from the gateway: busy",
        ),
    ],
)
def test_gateway_failure_is_exit_5(
    run: Invoke,
    gateway: MockGateway,
    write_config: Callable[..., Path],
    monkeypatch: Any,
    reply: httpx.Response,
    first_line: str,
) -> None:
    write_config(KNOX)
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    gateway.queue(reply, reply)  # one retry
    r = run("models")
    assert r.exit_code == 5
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("error")] == [first_line]


# -- the catalog agrees with generate's validation -------------------------------------------


@pytest.mark.parametrize("preset", [name for name, p in PRESETS.items() if p.models])
def test_every_advertised_aspect_and_tier_passes_generate_validation(
    preset: str, tmp_path: Path
) -> None:
    opts = core.RunOptions(output=str(tmp_path / "x.png"), cwd=tmp_path)
    for r in models.catalog(settings.resolve(profile=preset, environ=_env(preset))):
        s = settings.resolve(profile=preset, model=r.id, environ=_env(preset))
        caps = s.gateway().caps
        if caps is not None and not caps.generate:
            continue  # an edit-only model (chatgpt-image-latest): its own test covers it
        for aspect in r.rule.aspects or ("16:9",):
            for tier in r.rule.tiers:
                plan = core.prepare(s, Job("x", aspect=aspect, size=tier), opts)
                assert plan.gateway.size_rule == r.size_rule
                assert plan.gateway.dialect == r.dialect
                # the images APIs stream only when asked (partial renders)
                assert plan.stream == (r.stream and plan.gateway.stream_default)
        # and the pixels the JSON advertises are accepted as --aspect A --size WxH
        for aspect, tiers in models.pixel_table(r.size_rule).items():
            for px in tiers.values():
                plan = core.prepare(s, Job("x", aspect=aspect, size=px), opts)
                assert plan.requested.pixels == tuple(int(v) for v in px.split("x"))


def _env(preset: str) -> dict[str, str]:
    return {"IMGGEN_BASE_URL": "https://gw.test/v1", PRESETS[preset].key_env: "k"}


@pytest.mark.parametrize(
    ("preset", "model", "tier"),
    [
        ("knox", "google/gemini-2.5-flash-image", "2K"),
        ("xty", "gemini-3-pro-image-preview", "512"),
        ("turing", "turing/gpt-image-2", "512"),
    ],
)
def test_a_tier_the_catalog_does_not_advertise_is_refused(
    preset: str, model: str, tier: str
) -> None:
    s = settings.resolve(profile=preset, model=model, environ=_env(preset))
    r = models.row(s, model)
    assert tier not in r.rule.tiers
    with pytest.raises(SizeRefused):
        sizes.resolve(r.size_rule, model, "16:9", tier)


def test_a_page_instead_of_a_listing_falls_back_to_the_catalog(
    run: Invoke, gateway: MockGateway, write_config: Callable[..., Path], monkeypatch: Any
) -> None:
    """A 200 that is no listing (an HTML page) means no models API here: show the catalog
    and say why, rather than fail."""
    write_config(KNOX)
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    gateway.queue(httpx.Response(200, text="<html><body>hi</body></html>"))
    r = run("models")
    assert r.exit_code == 0, r.stderr
    assert "google/gemini-2.5-flash-image" in r.stdout
    assert "with an HTML page instead of JSON" in r.stderr
    assert len(gateway.requests) == 1


def test_a_status_line_shows_while_the_model_list_is_read(
    run: Invoke, gateway: MockGateway, write_config: Callable[..., Path], monkeypatch: Any
) -> None:
    """A slow listing showed nothing at all on a terminal."""
    from imggen.console import UI

    shown: list[str] = []
    monkeypatch.setattr(UI, "start_progress", lambda self, label: shown.append(label))
    write_config(KNOX)
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    gateway.queue(httpx.Response(200, json={"data": []}))
    r = run("models")
    assert r.exit_code == 0, r.stderr
    assert len(shown) == 1 and "reading the model list from" in shown[0]
