"""Gemini-style chat on Turing (seed 002): camelCase imageConfig, multi-turn edits, images in
content parts (2.5) or at choice level (3.x)."""

from __future__ import annotations

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import SizeRefused, UsageError
from imggen.job import ImageInput, Job, Payload
from tests.conftest import png_bytes
from tests.dialects import PNG_1X1, build, fixture, gateway, request, sse_events

GEMINI = DIALECTS["gemini"]
PRO = "turing/gemini-3-pro-image"
FLASH_25 = "turing/gemini-2.5-flash-image"
DOG = f"data:image/png;base64,{PNG_1X1}"


def test_build_uses_camel_case_image_config() -> None:
    job = Job(
        "Please draw a cute dog",
        aspect="16:9",
        size="1K",
        format="jpeg",
        quality="95",
        seed=5,
        params={"temperature": 1},
    )
    calls = build(GEMINI, job, gateway("turing", PRO), stream=False)

    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/chat/completions",
            "json": {
                "model": PRO,
                "messages": [{"role": "user", "content": "Please draw a cute dog"}],
                "modalities": ["text", "image"],
                "imageConfig": {
                    "aspectRatio": "16:9",
                    "imageSize": "1K",
                    "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 95},
                },
                "seed": 5,
                "stream": False,
                "temperature": 1,
            },
        }
    ]


def test_stream_and_count_fan_out_streaming_calls() -> None:
    calls = build(GEMINI, Job("a banana", count=2), gateway("turing", PRO), stream=True)

    assert [c.json for c in calls] == [
        {
            "model": PRO,
            "messages": [{"role": "user", "content": "a banana"}],
            "modalities": ["text", "image"],
            "stream": True,
        }
    ] * 2
    assert [c.stream for c in calls] == [True, True]


def test_follow_up_edit_becomes_user_assistant_user_turns() -> None:
    # seed 002 "多轮含图片": the earlier image is the assistant's turn
    earlier = ImageInput(
        "dog.png", data=png_bytes(1, 1), mime="image/png", prompt="Please draw me a dog"
    )
    (call,) = build(
        GEMINI, Job("Add a hat on the dog", inputs=(earlier,)), gateway("turing", PRO), stream=True
    )

    assert call.json is not None
    assert call.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Please draw me a dog"}]},
        {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": DOG}}]},
        {"role": "user", "content": [{"type": "text", "text": "Add a hat on the dog"}]},
    ]


def test_edit_of_a_foreign_image_is_one_user_turn() -> None:
    photo = ImageInput("photo.png", data=png_bytes(1, 1), mime="image/png")
    (call,) = build(GEMINI, Job("Add a hat", inputs=(photo,)), gateway("turing", PRO), stream=False)

    assert call.json is not None
    assert call.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Add a hat"},
                {"type": "image_url", "image_url": {"url": DOG}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            Job("x", quality="high"),
            f"--quality high is not something {PRO} (gemini dialect) can take; "
            "it accepts a compression quality 0-100",
        ),
        (
            Job("x", quality="101"),
            f"--quality 101 is not something {PRO} (gemini dialect) can take; "
            "it accepts a compression quality 0-100",
        ),
        (
            Job("x", background="transparent"),
            f"--background transparent is not something {PRO} (gemini dialect) can take",
        ),
        (
            Job(
                "x",
                inputs=(ImageInput("a.png", data=png_bytes(), mime="image/png"),),
                mask=ImageInput("m.png", data=png_bytes(), mime="image/png"),
            ),
            f"--mask m.png is not something {PRO} (gemini dialect) can take",
        ),
    ],
)
def test_values_gemini_cannot_take_are_refused(job: Job, message: str) -> None:
    with pytest.raises(UsageError) as info:
        build(GEMINI, job, gateway("turing", PRO), stream=False)

    assert info.value.message == message


def test_gemini_25_has_only_1k() -> None:
    with pytest.raises(SizeRefused) as info:
        build(GEMINI, Job("x", size="2K"), gateway("turing", FLASH_25), stream=False)

    assert info.value.message == f"{FLASH_25} has no 2K tier; it accepts: 1K"


def test_pixels_must_be_a_table_entry() -> None:
    (call,) = build(GEMINI, Job("x", size="2752x1536"), gateway("turing", PRO), stream=False)
    assert call.json is not None
    assert call.json["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}

    with pytest.raises(SizeRefused) as info:
        build(GEMINI, Job("x", size="1920x1080"), gateway("turing", PRO), stream=False)
    assert info.value.message.startswith(
        f"{PRO} cannot make 1920x1080: its sizes are fixed per aspect and tier; nearest: "
    )


# -- replies ----------------------------------------------------------------------------------


def test_parse_gemini_25_image_in_content_parts() -> None:
    reply = GEMINI.parse(fixture("turing_gemini25.json"))

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == "Here's your dog!"
    assert reply.usage == {"prompt_tokens": 7, "completion_tokens": 1290, "total_tokens": 1297}
    assert reply.shapes == ["message.content[] image_url"]


def test_parse_gemini_3_images_at_choice_level() -> None:
    reply = GEMINI.parse(fixture("turing_gemini3.json"))

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == ""
    assert reply.shapes == ["choices[].images"]


def test_parse_event_gemini_3_stream_raw_base64_in_delta_images() -> None:
    # seed 002 流式 Beta: {"delta": {"content": [], "images": [{... "url": "{Base64 string}"}]}}
    parts = [GEMINI.parse_event(e) for e in sse_events("turing_gemini3_stream.sse")]

    assert [p.images for p in parts] == [[], [Payload("base64", PNG_1X1)], []]
    assert parts[1].shapes == ["delta.images"]
    assert parts[2].usage == {"prompt_tokens": 7, "completion_tokens": 1210, "total_tokens": 1217}


def test_large_inline_data_part_is_an_image_not_an_internal_error(tmp_path) -> None:
    """Gemini's native inline_data part, big enough to be spilled to disk as a Blob."""
    import base64
    import json as _json
    import os as _os

    from imggen.dialects.base import extract
    from imggen.wire.jsonstream import parse_bytes

    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + _os.urandom(100_000)).decode()
    body = {
        "choices": [
            {"message": {"content": [{"inline_data": {"mime_type": "image/png", "data": data}}]}}
        ]
    }
    counter = iter(range(100))

    def spill():
        path = tmp_path / f"s{next(counter)}"
        return path, path.open("wb")

    reply = extract(parse_bytes(_json.dumps(body).encode(), spill))
    assert [p.kind for p in reply.images] == ["blob"]
    assert reply.shapes == ["message.content[] inline_data"]
