"""OpenRouter-style chat (Knox seed 001, OpenRoute seed 003): request bodies and replies."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import SizeRefused, UsageError
from imggen.job import ImageInput, Job, Payload
from imggen.wire.jsonstream import Blob, parse_bytes
from tests.conftest import SENTINEL_KEY, png_bytes
from tests.dialects import PNG_1X1, build, fixture, fixture_bytes, gateway, request, sse_events

OPENROUTER = DIALECTS["openrouter"]
GEMINI_3 = "google/gemini-3-pro-image-preview"
GEMINI_25 = "google/gemini-2.5-flash-image"


def full_job(**changes: Any) -> Job:
    fields: dict[str, Any] = {
        "prompt": "Generate a beautiful sunset over mountains",
        "aspect": "16:9",
        "size": "2K",
        "seed": 42,
        "params": {"temperature": 0.4, "provider": {"order": ["google"]}},
    }
    fields.update(changes)
    return Job(**fields)


def test_build_puts_aspect_and_tier_in_image_config() -> None:
    calls = build(OPENROUTER, full_job(), gateway("knox", GEMINI_3), stream=False)

    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/chat/completions",
            "json": {
                "model": GEMINI_3,
                "messages": [
                    {"role": "user", "content": "Generate a beautiful sunset over mountains"}
                ],
                "modalities": ["image", "text"],
                "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
                "seed": 42,
                "temperature": 0.4,
                "provider": {"order": ["google"]},
            },
        }
    ]
    assert calls[0].stream is False
    assert calls[0].images == 1


def test_image_only_model_asks_for_the_image_modality_alone() -> None:
    job = Job("a red fox")
    (call,) = build(OPENROUTER, job, gateway("knox", GEMINI_25, image_only=True), stream=False)

    assert call.json == {
        "model": GEMINI_25,
        "messages": [{"role": "user", "content": "a red fox"}],
        "modalities": ["image"],
    }


def test_stream_sets_stream_true_in_body_and_call() -> None:
    (call,) = build(OPENROUTER, Job("a red fox"), gateway("openroute", GEMINI_25), stream=True)

    # a seed gateway gets the body its document shows
    assert call.json == {
        "model": GEMINI_25,
        "messages": [{"role": "user", "content": "a red fox"}],
        "modalities": ["image", "text"],
        "stream": True,
    }
    assert call.stream is True


def test_stream_asks_for_usage_on_openrouter() -> None:
    (call,) = build(OPENROUTER, Job("a red fox"), gateway("openrouter", GEMINI_25), stream=True)

    # usage comes in a stream only when asked (OpenRouter, LiteLLM)
    assert call.json == {
        "model": GEMINI_25,
        "messages": [{"role": "user", "content": "a red fox"}],
        "modalities": ["image", "text"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert call.stream is True


def test_count_fans_out_into_identical_single_image_calls() -> None:
    calls = build(OPENROUTER, full_job(count=3), gateway("knox", GEMINI_3), stream=True)

    assert len(calls) == 3
    assert calls[0] == calls[1] == calls[2]
    assert "n" not in (calls[0].json or {})
    assert [c.images for c in calls] == [1, 1, 1]


def test_param_nests_into_image_config_and_wins() -> None:
    job = full_job(params={"image_config": {"image_size": "4K", "person_generation": "allow"}})
    (call,) = build(OPENROUTER, job, gateway("knox", GEMINI_3), stream=False)

    assert call.json is not None
    assert call.json["image_config"] == {
        "aspect_ratio": "16:9",
        "image_size": "4K",
        "person_generation": "allow",
    }


def test_references_and_inputs_go_as_image_url_parts() -> None:
    local = ImageInput("cat.png", data=png_bytes(1, 1), mime="image/png")
    remote = ImageInput("https://img.example/dog.jpg", url="https://img.example/dog.jpg")
    job = Job("put the cat next to the dog", inputs=(local,), refs=(remote,))
    (call,) = build(OPENROUTER, job, gateway("knox", GEMINI_25), stream=False)

    assert call.json is not None
    assert call.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "put the cat next to the dog"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}},
                {"type": "image_url", "image_url": {"url": "https://img.example/dog.jpg"}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("job", "named"),
    [
        (Job("x", quality="high"), f"--quality high is not something {GEMINI_3}"),
        (
            Job("x", background="transparent"),
            f"--background transparent is not something {GEMINI_3}",
        ),
        (Job("x", format="jpeg"), f"--format jpeg is not something {GEMINI_3}"),
        (
            Job(
                "x",
                inputs=(ImageInput("a.png", data=png_bytes(), mime="image/png"),),
                mask=ImageInput("m.png", data=png_bytes(), mime="image/png"),
            ),
            f"--mask m.png is not something {GEMINI_3} (openrouter dialect) can take",
        ),
    ],
)
def test_options_the_chat_style_lacks_are_refused(job: Job, named: str) -> None:
    with pytest.raises(UsageError) as info:
        build(OPENROUTER, job, gateway("knox", GEMINI_3), stream=False)

    assert info.value.message.startswith(named)


def test_unknown_aspect_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(SizeRefused) as info:
        build(OPENROUTER, Job("x", aspect="7:5"), gateway("knox", GEMINI_3), stream=False)

    assert info.value.message == (
        f"{GEMINI_3} cannot make aspect 7:5; it accepts: "
        "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9"
    )


def test_tier_the_model_lacks_is_refused() -> None:
    with pytest.raises(SizeRefused) as info:
        build(OPENROUTER, Job("x", size="4K"), gateway("knox", GEMINI_25), stream=False)

    assert info.value.message == f"{GEMINI_25} has no 4K tier; it accepts: 1K"


# -- refused before any request, through the CLI -------------------------------------------


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (
            ["--quality", "high"],
            f"--quality high is not something {GEMINI_25} (openrouter dialect) can take",
        ),
        (["--aspect", "5:3"], f"{GEMINI_25} cannot make aspect 5:3"),
        (["--size", "2K"], f"{GEMINI_25} has no 2K tier; it accepts: 1K"),
    ],
)
def test_cli_refuses_before_any_request(
    run: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], first_line: str
) -> None:
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    result = run("generate", "a fox", "-p", "knox", "-o", "fox.png", *args)

    assert result.exit_code == 2
    assert first_line in result.stderr.splitlines()[0]
    assert gateway.requests == []
    assert not Path("fox.png").exists()


# -- replies ----------------------------------------------------------------------------------


def test_parse_finds_data_url_in_message_images() -> None:
    reply = OPENROUTER.parse(fixture("knox_reply.json"))

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == "I've generated a beautiful sunset image for you."
    assert reply.usage == {"prompt_tokens": 9, "completion_tokens": 1299, "total_tokens": 1308}
    assert reply.shapes == ["message.images"]


def test_parse_finds_https_url_in_message_images() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "",
                    "images": [
                        {"type": "image_url", "image_url": {"url": "https://cdn.example/a.png"}},
                        {"type": "image_url", "image_url": "https://cdn.example/b.png"},
                    ],
                }
            }
        ]
    }
    reply = OPENROUTER.parse(body)

    assert reply.images == [
        Payload("url", "https://cdn.example/a.png"),
        Payload("url", "https://cdn.example/b.png"),
    ]


def test_parse_event_reads_delta_images_of_the_stream_fixture() -> None:
    events = sse_events("knox_stream.sse")
    parts = [OPENROUTER.parse_event(e) for e in events]

    assert [len(p.images) for p in parts] == [0, 1, 0, 0]
    assert parts[1].images == [Payload("base64", PNG_1X1, "image/png")]
    assert parts[1].shapes == ["delta.images"]
    assert parts[0].text == "Here is your futuristic city."
    assert parts[3].usage == {"prompt_tokens": 8, "completion_tokens": 1300, "total_tokens": 1308}


@pytest.fixture
def spill(tmp_path: Path) -> Any:
    counter = itertools.count()

    def new() -> tuple[Path, BinaryIO]:
        path = tmp_path / f"spill-{next(counter)}.bin"
        return path, path.open("wb")

    return new


def test_parse_takes_spilled_blobs_as_images_and_text(spill: Any) -> None:
    # threshold 32: the data URL and the sentence both spill; keys ("completion_tokens") do not
    body = parse_bytes(fixture_bytes("knox_reply.json"), spill, threshold=32)
    reply = OPENROUTER.parse(body)

    assert [(p.kind, p.mime) for p in reply.images] == [("blob", "image/png")]
    blob = reply.images[0].value
    assert isinstance(blob, Blob)
    assert blob.path.read_bytes() == base64.b64decode(PNG_1X1)
    assert reply.text == "I've generated a beautiful sunset image for you."
    assert reply.usage == {"prompt_tokens": 9, "completion_tokens": 1299, "total_tokens": 1308}


def test_markdown_link_around_a_spilled_data_url_leaves_only_the_words(spill: Any) -> None:
    text = f"Here you go ![sunset](data:image/png;base64,{PNG_1X1}) enjoy"
    raw = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
    reply = OPENROUTER.parse(parse_bytes(raw, spill, threshold=32))

    assert [(p.kind, p.mime) for p in reply.images] == [("blob", "image/png")]
    assert reply.text == "Here you go  enjoy"
    assert OPENROUTER.parse({"choices": [{"message": {"content": text}}]}).text == (
        "Here you go  enjoy"
    )


# -- OpenRouter's chat route: pixels, tiers, image-only models ------------------------------


def test_chat_route_sends_pixels_as_their_aspect_and_tier() -> None:
    gw = gateway("openrouter", "openai/gpt-image-1")
    (call,) = build(OPENROUTER, Job("x", size="1536x1024"), gw)
    # never dropped: 1536x1024 is gpt-image-1's 3:2 size
    assert call.json is not None
    assert call.json["image_config"] == {"aspect_ratio": "3:2", "image_size": "1K"}


def test_chat_route_refuses_pixels_it_cannot_name() -> None:
    gw = gateway("openrouter", "some/unknown-image-model")
    with pytest.raises(UsageError, match="takes an aspect ratio and a size tier, not pixels"):
        build(OPENROUTER, Job("x", size="1000x700"), gw)


def test_chat_route_names_512_as_0_5k_and_takes_extended_ratios() -> None:
    gw = gateway("openrouter", "google/gemini-3.1-flash-image-preview")
    (call,) = build(OPENROUTER, Job("x", aspect="8:1", size="512"), gw)
    assert call.json is not None
    assert call.json["image_config"] == {"aspect_ratio": "8:1", "image_size": "0.5K"}


def test_image_only_model_from_the_listing_asks_for_the_image_modality_alone() -> None:
    import dataclasses
    import time

    from imggen.profiles.modelcache import Learned, Listed
    from tests.dialects import settings

    flux = "black-forest-labs/flux.2-pro"
    listing = {flux: Listed(flux, outputs=("image",))}  # a models API entry: image output only
    s = dataclasses.replace(
        settings("openrouter", flux), learned=Learned("https://gw.test", time.time(), listing)
    )
    (call,) = build(OPENROUTER, Job("x"), s.gateway())
    assert call.json is not None and call.json["modalities"] == ["image"]
