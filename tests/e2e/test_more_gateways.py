"""The installed imggen against the loopback fake speaking OpenAI's images API (DALL-E rules,
streamed partial images), OpenRouter's Image API (descriptors, cost, cached listing) and a
LiteLLM-style proxy with aliases that drops format and background."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.testing import FakeGateway, Fault, Recorded, make_png
from imggen.testing.images_api import IMAGES_USAGE
from imggen.testing.models import litellm_alias
from tests.e2e import (
    RUN_TIMEOUT,
    as_json,
    init_profile,
    key_env,
    leftovers,
    lines,
    paths_of,
    png_size,
)

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
FLUX = "black-forest-labs/flux.2-pro"


def posts(fake: FakeGateway) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "POST"]


# -- OpenAI ----------------------------------------------------------------------------------


def test_dall_e_3_aspect_fans_out_and_urls_are_downloaded(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "openai")
    done = cli(
        "generate", "a fox", "-m", "dall-e-3", "-a", "16:9", "-n", "2", "--quality", "hd",
        "-o", "fox.png", "--json", env=key_env("openai"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    # dall-e-3 makes one image a request
    assert [r.json for r in posts(fake)] == [
        {"model": "dall-e-3", "prompt": "a fox", "size": "1792x1024", "quality": "hd"}
    ] * 2
    assert len(paths_of(fake, "/files/")) == 2
    doc = as_json(done.stdout)
    assert [(i["width"], i["height"]) for i in doc["images"]] == [(1792, 1024)] * 2
    assert doc["response_shapes"] == ["data[].url"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("-m", "dall-e-3", "--format", "png"), "the model picks the format"),
        (("-m", "dall-e-3", "--quality", "high"), "it accepts standard, hd"),
        (("-m", "dall-e-2", "-s", "1536x1024"), "256x256, 512x512, 1024x1024"),
        (("-m", "gpt-image-1", "--format", "jpeg", "--background", "transparent"), "PNG or WEBP"),
        (("-m", "dall-e-3", "--stream"), "cannot stream"),
        (("-m", "gpt-image-1", "--partials", "4"), "--partials"),
    ],
)
def test_what_a_model_cannot_take_is_exit_2_and_sends_nothing(
    fake: FakeGateway, cli: Cli, args: tuple[str, ...], says: str
) -> None:
    init_profile(cli, fake, "openai")
    done = cli("generate", "x", *args, env=key_env("openai"), timeout=RUN_TIMEOUT)
    assert done.returncode == 2
    assert says in done.stderr.decode()
    assert fake.requests == []


def test_stream_saves_the_final_image_and_partials_beside_it(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "openai")
    done = cli(
        "generate", "a fox", "-m", "gpt-image-1", "-s", "1536x1024", "--partials", "2",
        "--save-partials", "-o", "out/fox.png", "--json",
        env=key_env("openai"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.json == {
        "model": "gpt-image-1",
        "prompt": "a fox",
        "size": "1536x1024",
        "stream": True,
        "partial_images": 2,
    }
    doc = as_json(done.stdout)
    out = tmp_path / "out"
    assert doc["paths"] == [str(out / "fox.png")]  # partials are never results
    assert doc["partials"] == [str(out / f"fox.partial-{k}.png") for k in (1, 2)]
    assert leftovers(out) == ["fox.partial-1.png", "fox.partial-2.png", "fox.png"]
    assert png_size(out / "fox.png") == (1536, 1024)
    assert doc["usage"] == [IMAGES_USAGE]
    # each file carries its own record: the image is image 1, the previews say which they are
    from imggen.files.provenance import read_provenance

    assert read_provenance(out / "fox.png")["index"] == 1
    for k in (1, 2):
        record = read_provenance(out / f"fox.partial-{k}.png")
        assert (record["index"], record["partial"]) == (1, k)


def test_an_error_event_is_exit_5_with_the_gateways_message(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "openai")
    fake.faults.append(Fault("stream_error", body="upstream exploded"))
    done = cli(
        "generate", "x", "-m", "gpt-image-1", "--stream", "-o", "out/x.png",
        env=key_env("openai"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 5
    assert "upstream exploded" in lines(done.stderr)[0]
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_edit_streams_image_edit_events(fake: FakeGateway, cli: Cli, tmp_path: Path) -> None:
    init_profile(cli, fake, "openai")
    (tmp_path / "in.png").write_bytes(make_png(16, 16))
    done = cli(
        "edit", "in.png", "make it blue", "-m", "gpt-image-1.5", "--partials", "1",
        "-o", "out.png", env=key_env("openai"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.path.endswith("/images/edits")
    assert req.form is not None and req.form["stream"] == ["true"]
    assert (tmp_path / "out.png").exists()


# -- OpenRouter's Image API -----------------------------------------------------------------


def test_image_api_model_by_descriptors_with_cost_and_a_cached_listing(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "openrouter")
    args = ("generate", "a fox", "-m", FLUX, "-a", "4:1", "-s", "2K", "-n", "2", "--json")
    done = cli(*args, "-o", "a.png", env=key_env("openrouter"), timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr.decode()
    # no `n` in its descriptors: one request per image, each billed
    assert [r.json for r in posts(fake)] == [
        {"model": FLUX, "prompt": "a fox", "aspect_ratio": "4:1", "resolution": "2K"}
    ] * 2
    doc = as_json(done.stdout)
    assert (doc["dialect"], doc["cost"], doc["currency"]) == ("openrouter-images", 0.08, "USD")
    # the listing is read once a day: the next run asks for it no more
    again = cli(*args, "-o", "b.png", env=key_env("openrouter"), timeout=RUN_TIMEOUT)
    assert again.returncode == 0, again.stderr.decode()
    assert len(paths_of(fake, "/api/v1/images/models")) == 1
    listed = cli("models", "--refresh", "--json", env=key_env("openrouter"), timeout=RUN_TIMEOUT)
    assert listed.returncode == 0, listed.stderr.decode()
    assert len(paths_of(fake, "/api/v1/images/models")) == 2
    flux = next(m for m in as_json(listed.stdout)["models"] if m["id"] == FLUX)
    assert flux["dialect"] == "openrouter-images"
    assert "size" not in flux["parameters"]


def test_image_api_refuses_pixels_a_model_cannot_take(fake: FakeGateway, cli: Cli) -> None:
    init_profile(cli, fake, "openrouter")
    done = cli(
        "generate", "x", "-m", FLUX, "-s", "1024x1024", env=key_env("openrouter"),
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "only aspect_ratio and resolution" in done.stderr.decode()
    assert posts(fake) == []


def test_image_api_stream_is_data_only_and_ends_with_done(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "openrouter")
    done = cli(
        "generate", "x", "-m", "openai/gpt-image-1", "--partials", "1", "-o", "g.png", "--json",
        env=key_env("openrouter"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.json == {
        "model": "openai/gpt-image-1",
        "prompt": "x",
        "stream": True,
        "partial_images": 1,
    }
    assert as_json(done.stdout)["cost"] == 0.04


def test_chat_route_names_the_512_tier_as_openrouter_does(fake: FakeGateway, cli: Cli) -> None:
    init_profile(cli, fake, "openrouter")
    done = cli(
        "generate", "x", "-m", "google/gemini-3.1-flash-image-preview", "-a", "1:4", "-s", "512",
        "-o", "c.png", env=key_env("openrouter"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.json["image_config"] == {"aspect_ratio": "1:4", "image_size": "0.5K"}
    assert req.json["stream_options"] == {"include_usage": True}


# -- A LiteLLM-style proxy with aliases -----------------------------------------------------


def _litellm(fake: FakeGateway, cli: Cli) -> None:
    fake.drops = ("output_format", "background", "output_compression", "moderation")
    fake.models = [{"id": "company-chat", "object": "model", "owned_by": "x", "mode": "chat"}]
    fake.model_groups = [{"model_group": "company-chat", "mode": "chat", "providers": ["x"]}]
    litellm_alias(fake, "company-image", "gpt-image-1")  # no mode in /models, as the real one
    init_profile(cli, fake, "litellm", name="work")
    for key, value in (("like", "gpt-image-1"), ("dialect", "images")):
        done = cli("config", "set", f"profiles.work.models.company-image.{key}", value)
        assert done.returncode == 0, done.stderr.decode()


def test_alias_borrows_a_models_rules_and_dropped_options_are_warned(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    _litellm(fake, cli)
    done = cli(
        "generate", "x", "-p", "work", "-m", "company-image", "-a", "3:2", "--format", "webp",
        "--background", "transparent", "-o", "w.webp", "--json",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.json is not None and req.json["size"] == "1536x1024"  # gpt-image-1's 3:2
    warnings = as_json(done.stdout)["warnings"]
    assert any("did not honour the format asked" in w for w in warnings)
    assert any("no transparency" in w for w in warnings)
    assert "warning:" in done.stderr.decode()


def test_models_reads_litellm_modes(fake: FakeGateway, cli: Cli) -> None:
    _litellm(fake, cli)
    fake.models.append({"id": "other-image", "object": "model", "mode": "image_edit"})
    done = cli("models", "-p", "work", "--json", env=key_env("litellm"), timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr.decode()
    found = {m["id"]: m["dialect"] for m in as_json(done.stdout)["models"]}
    # the chat deployment is left out; image deployments are images-dialect models
    assert found == {"company-image": "images", "other-image": "images"}


def test_litellm_aliases_are_classified_from_the_model_groups(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    """/v1/models gives an alias no mode and guesses a chat deployment's from its public name
    (gemini-2.5-flash-image as image_generation: sent to the images endpoint, exit 6);
    /model_group/info says what each deployment really is."""
    fake.models = [{"id": "gemini-2.5-flash-image", "object": "model", "mode": "image_generation"}]
    fake.model_groups = [{"model_group": "gemini-2.5-flash-image", "mode": "chat"}]
    litellm_alias(fake, "team-image", "gpt-image-1")
    init_profile(cli, fake, "litellm", name="work")
    listed = cli("models", "-p", "work", "--json", env=key_env("litellm"), timeout=RUN_TIMEOUT)
    assert listed.returncode == 0, listed.stderr.decode()
    found = {m["id"]: m["dialect"] for m in as_json(listed.stdout)["models"]}
    assert found == {"team-image": "images"}  # the alias shows; the chat deployment does not
    done = cli(
        "generate", "x", "-p", "work", "-m", "gemini-2.5-flash-image", "-o", "a.png",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert [r.path for r in fake.requests if r.method == "POST"] == ["/v1/chat/completions"]


def test_litellm_sends_seedream_to_the_images_endpoint(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    init_profile(cli, fake, "litellm", name="work")
    done = cli(
        "generate", "x", "-p", "work", "-m", "seedream-4-0", "--dry-run", "--json",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert as_json(done.stdout)["requests"][0]["url"].endswith("/images/generations")


def test_a_mistyped_model_the_cached_list_would_catch_is_refused_before_sending(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    _litellm(fake, cli)
    listed = cli("models", "-p", "work", "--refresh", env=key_env("litellm"), timeout=RUN_TIMEOUT)
    assert listed.returncode == 0, listed.stderr.decode()
    done = cli(
        "generate", "x", "-p", "work", "-m", "company-imgae", "-o", "a.png",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "'company-imgae' (--model) is not among the" in err
    assert "did you mean 'company-image'?" in err
    assert not [r for r in fake.requests if r.method == "POST"]
    # a model the profile names in a table of its own is sent as typed
    for key, value in (("like", "gpt-image-1"), ("dialect", "images")):
        cli("config", "set", f"profiles.work.models.company-imgae.{key}", value)
    sent = cli(
        "generate", "x", "-p", "work", "-m", "company-imgae", "-o", "a.png",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert [r for r in fake.requests if r.method == "POST"], sent.stderr.decode()


def test_litellm_chat_stream_asks_for_usage(fake: FakeGateway, cli: Cli) -> None:
    _litellm(fake, cli)
    fake.models.append({"id": "company-gemini", "object": "model", "owned_by": "x"})
    fake.known_models.add("company-gemini")  # a chat deployment the proxy serves
    done = cli(
        "generate", "x", "-p", "work", "-m", "company-gemini", "-o", "c.png", "--json",
        env=key_env("litellm"), timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    (req,) = posts(fake)
    assert req.json is not None and req.json["stream_options"] == {"include_usage": True}
    assert as_json(done.stdout)["usage"]


def test_doctor_reports_the_cost_of_its_image(fake: FakeGateway, cli: Cli) -> None:
    init_profile(cli, fake, "openrouter")
    done = cli(
        "doctor", "-m", FLUX, "--generate", "--json", env=key_env("openrouter"),
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    doc = as_json(done.stdout)
    assert (doc["cost"], doc["currency"]) == (0.04, "USD")
    assert [r.json for r in posts(fake)][0]["model"] == FLUX
