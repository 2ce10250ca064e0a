"""OpenRouter's Image API: the capability descriptors of GET /images/models decide what POST
/images sends and what is refused before sending; the listing is cached per profile."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from imggen.dialects import DIALECTS
from imggen.env import Env
from imggen.errors import AuthFailed, GatewayFailed, UsageError
from imggen.job import ImageInput, Job
from imggen.profiles import modelcache
from imggen.profiles.modelcache import Learned
from imggen.profiles.settings import Settings
from imggen.testing.openrouter_image_api import DEFAULT_IMAGE_MODELS
from tests.dialects import build, settings

DIALECT = DIALECTS["openrouter-images"]
GPT = "openai/gpt-image-1"
FLUX = "black-forest-labs/flux.2-pro"


def learned(s: Settings) -> Settings:
    found = modelcache.from_image_models({"data": DEFAULT_IMAGE_MODELS})
    listing = Learned(s.base_url, time.time()).with_listing("/images/models", found)
    return dataclasses.replace(s, learned=listing)


def gw(model: str) -> object:
    return learned(settings("openrouter", model)).gateway()


def test_listed_models_use_the_image_api_and_others_chat() -> None:
    s = learned(settings("openrouter", GPT))
    assert s.gateway().dialect == "openrouter-images"
    assert s.gateway("google/gemini-2.5-flash-image").dialect == "openrouter"


def test_flux_gets_aspect_resolution_seed_and_fans_out() -> None:
    job = Job("a fox", aspect="4:1", size="2K", seed=7, count=2)
    calls = build(DIALECT, job, gw(FLUX))  # type: ignore[arg-type]
    # no `n` in its descriptors: one request per image
    assert [c.json for c in calls] == [
        {"model": FLUX, "prompt": "a fox", "aspect_ratio": "4:1", "resolution": "2K", "seed": 7}
    ] * 2
    assert calls[0].path == "/images"


def test_pixels_on_a_model_without_size_are_refused() -> None:
    with pytest.raises(UsageError, match="no pixel size, only aspect_ratio and resolution"):
        build(DIALECT, Job("x", size="1024x1024"), gw(FLUX))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("job", "says"),
    [
        (Job("x", quality="high"), "--quality high"),
        (Job("x", format="webp"), "it accepts png, jpeg"),
        (Job("x", background="transparent"), "--background transparent"),
    ],
)
def test_flux_refuses_what_its_descriptors_lack(job: Job, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        build(DIALECT, job, gw(FLUX))  # type: ignore[arg-type]


def test_gpt_image_takes_size_n_and_references(tmp_path: Path) -> None:
    ref = ImageInput("ref.png", data=b"\x89PNG\r\n\x1a\nxx", mime="image/png")
    job = Job("x", size="1536x1024", count=3, refs=(ref,), format="webp")
    (call,) = build(DIALECT, job, gw(GPT))  # type: ignore[arg-type]
    assert call.json is not None
    assert call.json["size"] == "1536x1024"
    assert call.json["n"] == 3
    assert call.json["output_format"] == "webp"
    assert call.json["input_references"][0]["image_url"]["url"].startswith("data:image/png")


def test_stream_sends_partials() -> None:
    (call,) = build(DIALECT, Job("x", partials=1), gw(GPT), stream=True)  # type: ignore[arg-type]
    assert call.json == {"model": GPT, "prompt": "x", "stream": True, "partial_images": 1}
    assert call.stream


def test_cache_round_trip_and_age(tmp_path: Path) -> None:
    env = {"IMGGEN_CACHE_DIR": str(tmp_path)}
    s = learned(settings("openrouter", GPT))
    assert s.learned is not None
    modelcache.write(env, "openrouter", s.learned)
    back = modelcache.read(env, "openrouter")
    assert back is not None and back.fresh(s.base_url)
    assert not back.fresh(s.base_url, now=back.fetched + modelcache.MAX_AGE + 1)
    caps = back.models[FLUX].caps
    assert caps is not None and caps.fields["seed"].accepts(7)
    assert "size" not in caps.fields


class _Refusing:
    def get_json(self, path: str) -> object:
        raise AuthFailed("the gateway rejected the API key (HTTP 401)", status=401)


class _Down:
    def get_json(self, path: str) -> object:
        raise GatewayFailed("HTTP 503 from the gateway", status=503)


def test_a_refused_key_on_the_listing_says_where_the_key_came_from(tmp_path: Path) -> None:
    s = settings("openrouter", GPT)
    env = Env(environ={"IMGGEN_CACHE_DIR": str(tmp_path)})
    with pytest.raises(AuthFailed) as caught:
        modelcache.learn(s, env, client=_Refusing())
    assert caught.value.hint == s.auth_hint()


def test_a_listing_that_cannot_be_read_warns_and_falls_back_to_chat(tmp_path: Path) -> None:
    env = Env(environ={"IMGGEN_CACHE_DIR": str(tmp_path)})
    s = modelcache.learn(settings("openrouter", GPT), env, client=_Down())
    assert s.gateway().dialect == "openrouter"
    (warning,) = s.warnings
    assert "could not read the gateway's model list" in warning
    assert "every model goes to chat completions" in warning
    assert not list(tmp_path.rglob("*.json"))  # nothing cached: asked again next run


def test_an_aspect_becomes_the_one_size_of_that_shape_on_a_sizes_only_model() -> None:
    (call,) = build(DIALECT, Job("x", aspect="3:2"), gw(GPT))  # type: ignore[arg-type]
    assert call.json is not None and call.json["size"] == "1536x1024"
    assert "aspect_ratio" not in call.json
    (call,) = build(DIALECT, Job("x", aspect="3:2", size="1536x1024"), gw(GPT))  # type: ignore[arg-type]
    assert call.json is not None and call.json["size"] == "1536x1024"
    with pytest.raises(UsageError, match="no aspect ratio, only sizes 1024x1024, 1536x1024"):
        build(DIALECT, Job("x", aspect="16:9"), gw(GPT))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="--size 2K .* it accepts 1024x1024"):
        build(DIALECT, Job("x", size="2K"), gw(GPT))  # type: ignore[arg-type]


def _one_model(params: dict[str, object]) -> Settings:
    entry = {"id": "acme/painter", "name": "Painter", "supported_parameters": params}
    found = modelcache.from_image_models({"data": [entry]})
    s = settings("openrouter", "acme/painter")
    return dataclasses.replace(
        s, learned=Learned(s.base_url, time.time()).with_listing("/images/models", found)
    )


def test_a_boolean_descriptor_means_supported_so_a_seed_is_sent() -> None:
    """OpenRouter documents {"type": "boolean"} as "supported": --seed 7 was refused as not
    true or false."""
    s = _one_model({"seed": {"type": "boolean"}})
    (call,) = build(DIALECT, Job("x", seed=7), s.gateway())
    assert call.json is not None and call.json["seed"] == 7
    caps = s.gateway().caps
    assert caps is not None and caps.fields["seed"].as_descriptor() == {"type": "boolean"}


@pytest.mark.parametrize("bound", [float("nan"), float("inf"), float("-inf")])
def test_a_range_bound_that_is_no_number_is_ignored(bound: float) -> None:
    """A maximum of NaN or Infinity (JSON parsers take both) is no bound at all."""
    s = _one_model({"seed": {"type": "range", "min": 0, "max": bound}})
    (call,) = build(DIALECT, Job("x", seed=7), s.gateway())
    assert call.json is not None and call.json["seed"] == 7
