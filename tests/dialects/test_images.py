"""The images API (Turing gpt-image and Seedream, seed 002; OpenAI): generations as JSON,
edits as multipart, sizes checked before any request, data[] replies and error bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import InputError, SizeRefused, UsageError
from imggen.job import FilePart, ImageInput, Job, Payload
from imggen.run import core
from imggen.wire.status import error_text, is_content_filter
from tests.conftest import SENTINEL_KEY, png_bytes
from tests.dialects import PNG_1X1, PNG_2X1, build, fixture, gateway, request, settings

IMAGES = DIALECTS["images"]
GPT2 = "turing/gpt-image-2"
SEEDREAM = "doubao-seedream-4-5-251128"
PROMPT = "a close-up of a bear walking through a misty forest at dawn"


def test_generations_body_with_size_from_aspect_and_tier() -> None:
    job = Job(PROMPT, aspect="16:9", size="4K", quality="high", background="opaque", format="png")
    calls = build(IMAGES, job, gateway("turing", GPT2), stream=False)

    # seed 002 "4K 与任意分辨率": 3840x2160 is gpt-image-2's 4K landscape
    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/images/generations",
            "json": {
                "model": GPT2,
                "prompt": PROMPT,
                "size": "3840x2160",
                "quality": "high",
                "background": "opaque",
                "output_format": "png",
                "n": 1,
            },
        }
    ]


def test_transparent_png_and_params_pass_through() -> None:
    job = Job(
        "a single red maple leaf, isolated",
        size="1024x1024",
        background="transparent",
        params={"moderation": "low"},
    )
    (call,) = build(IMAGES, job, gateway("turing", GPT2), stream=False)

    assert call.json == {
        "model": GPT2,
        "prompt": "a single red maple leaf, isolated",
        "size": "1024x1024",
        "background": "transparent",
        "n": 1,
        "moderation": "low",
    }


def test_count_above_ten_is_split_into_calls_of_at_most_ten() -> None:
    calls = build(IMAGES, Job(PROMPT, count=23), gateway("turing", GPT2), stream=False)

    assert [(c.json or {})["n"] for c in calls] == [10, 10, 3]
    assert [c.images for c in calls] == [10, 10, 3]


def test_seedream_takes_seed_and_n() -> None:
    # seed 002: Seedream's n becomes sequential_image_generation on the gateway's side
    calls = build(
        IMAGES,
        Job(PROMPT, count=3, aspect="1:1", size="2K", seed=11),
        gateway("turing", SEEDREAM),
        stream=False,
    )

    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/images/generations",
            "json": {"model": SEEDREAM, "prompt": PROMPT, "size": "2048x2048", "seed": 11, "n": 3},
        }
    ]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            Job("x", background="transparent", format="jpeg"),
            "--background transparent needs PNG, not --format jpeg",
        ),
        (Job("x", seed=1), f"--seed 1 is not something {GPT2} (images dialect) can take"),
        (
            Job("x", format="webp"),
            f"--format webp is not something {GPT2} (images dialect) can take; "
            "it accepts png, jpeg",
        ),
        (
            Job("x", quality="ultra"),
            f"--quality ultra is not something {GPT2} (images dialect) can take; "
            "it accepts low, medium, high, auto",
        ),
    ],
)
def test_values_gpt_image_cannot_take_are_refused(job: Job, message: str) -> None:
    with pytest.raises(UsageError) as info:
        build(IMAGES, job, gateway("turing", GPT2), stream=False)

    assert info.value.message == message


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("1000x1000", "both sides must be multiples of 16"),
        ("3856x1664", "the long side must be at most 3840 px"),
        ("2400x768", "the long side may be at most 3x the short side"),
        ("768x768", "it needs at least 655,360 pixels, this is 589,824"),
        ("3840x2400", "it allows at most 8,294,400 pixels, this is 9,216,000"),
    ],
)
def test_gpt_image_2_size_rules_of_seed_002(size: str, problem: str) -> None:
    with pytest.raises(SizeRefused) as info:
        build(IMAGES, Job("x", size=size), gateway("turing", GPT2), stream=False)

    assert info.value.message == f"{GPT2} cannot make {size}: {problem}"
    assert info.value.hint is not None and info.value.hint.startswith("try --size ")


def test_gpt_image_2_refuses_an_aspect_outside_its_table_and_the_512_tier() -> None:
    with pytest.raises(SizeRefused) as info:
        build(IMAGES, Job("x", aspect="5:3"), gateway("turing", GPT2), stream=False)
    assert info.value.message.startswith(f"{GPT2} cannot make aspect 5:3; it accepts: 1:1, ")

    with pytest.raises(SizeRefused) as info:
        build(IMAGES, Job("x", size="512"), gateway("turing", GPT2), stream=False)
    assert info.value.message.startswith(f"{GPT2} has no 512 tier")


def test_references_are_refused_on_generations() -> None:
    ref = ImageInput("https://img.example/a.png", url="https://img.example/a.png")
    with pytest.raises(UsageError) as info:
        build(IMAGES, Job("x", refs=(ref,)), gateway("turing", GPT2), stream=False)

    assert info.value.message == (
        f"--ref https://img.example/a.png is not something {GPT2} (images dialect) can take"
    )
    assert info.value.hint is not None and "imggen edit IMAGE... PROMPT" in info.value.hint


# -- edits: multipart -----------------------------------------------------------------------


def image(name: str, width: int = 1) -> ImageInput:
    return ImageInput(name, data=png_bytes(width, 1), mime="image/png")


def test_edit_with_one_input_and_mask_uses_image_and_mask_fields() -> None:
    job = Job(
        "在透明区域添加一只橘猫",
        inputs=(image("input.png"),),
        mask=image("mask.png", 2),
        size="1024x1024",
        quality="high",
        params={"input_fidelity": "high"},
    )
    (call,) = build(IMAGES, job, gateway("turing", GPT2), stream=False)

    assert (call.method, call.path, call.json) == ("POST", "/images/edits", None)
    assert call.form == (
        ("model", GPT2),
        ("prompt", "在透明区域添加一只橘猫"),
        ("size", "1024x1024"),
        ("quality", "high"),
        ("n", "1"),
        ("input_fidelity", "high"),
    )
    assert call.files == (
        FilePart("image", "input.png", "image/png", png_bytes(1, 1)),
        FilePart("mask", "mask.png", "image/png", png_bytes(2, 1)),
    )


def test_edit_with_several_inputs_repeats_image_brackets() -> None:
    inputs = (image("item1.png"), image("item2.png"), image("item3.png"))
    (call,) = build(
        IMAGES, Job("a gift basket", inputs=inputs, count=2), gateway("turing", GPT2), stream=False
    )

    assert [(f.field, f.filename) for f in call.files] == [
        ("image[]", "item1.png"),
        ("image[]", "item2.png"),
        ("image[]", "item3.png"),
    ]
    assert call.form == (("model", GPT2), ("prompt", "a gift basket"), ("n", "2"))
    assert call.images == 2


def test_edit_form_values_that_are_not_text_go_as_json() -> None:
    job = Job(
        "x",
        inputs=(image("a.png"),),
        format="jpeg",
        params={"output_compression": 80, "extra": {"k": 1}},
    )
    (call,) = build(IMAGES, job, gateway("turing", GPT2), stream=False)

    assert call.form[-2:] == (("output_compression", "80"), ("extra", '{"k": 1}'))


def test_edit_of_a_url_input_is_refused() -> None:
    url = ImageInput("https://img.example/a.png", url="https://img.example/a.png")
    with pytest.raises(InputError) as info:
        build(IMAGES, Job("x", inputs=(url,)), gateway("turing", GPT2), stream=False)

    assert info.value.message == "images/edits uploads files; a URL cannot be an input here"


def test_seedream_edit_refused_naming_models_that_can(tmp_path: Path) -> None:
    # seed 002: Seedream has no /images/edits
    job = Job("x", inputs=(image("a.png"),))
    with pytest.raises(UsageError) as info:
        core.prepare(settings("turing", SEEDREAM), job, core.RunOptions(cwd=tmp_path))

    assert info.value.message.startswith(f"{SEEDREAM} cannot edit images")
    assert info.value.hint is not None
    assert info.value.hint.startswith("use a model that can: turing/gpt-image-2, ")
    assert SEEDREAM not in info.value.hint


# -- refused before any request, through the CLI -------------------------------------------


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["--size", "1000x1000"], f"{GPT2} cannot make 1000x1000: both sides must be"),
        (["--format", "webp"], f"--format webp is not something {GPT2}"),
        (["--background", "transparent", "--format", "jpeg"], "--background transparent needs"),
        (["--aspect", "7:5"], f"{GPT2} cannot make aspect 7:5"),
        (["-m", SEEDREAM, "--size", "512"], f"{SEEDREAM} has no 512 tier"),
    ],
)
def test_cli_refuses_before_any_request(
    run: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], first_line: str
) -> None:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    result = run("generate", "a bear", "-p", "turing", "-o", "bear.png", *args)

    assert result.exit_code == 2
    assert first_line in result.stderr.splitlines()[0]
    assert gateway.requests == []


def test_cli_seedream_edit_refused_before_any_request(
    run: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    Path("a.png").write_bytes(png_bytes())
    result = run("edit", "a.png", "make it blue", "-p", "turing", "-m", SEEDREAM, "-o", "b.png")

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {SEEDREAM} cannot edit images")
    assert lines[1].startswith("hint: use a model that can: turing/gpt-image-2, ")
    assert gateway.requests == []


# -- replies ----------------------------------------------------------------------------------


def test_parse_data_b64_json_with_usage() -> None:
    reply = IMAGES.parse(fixture("images_b64.json"))

    assert reply.images == [Payload("base64", PNG_1X1), Payload("base64", PNG_2X1)]
    assert reply.usage == {
        "input_tokens": 50,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
        "output_tokens": 1568,
        "total_tokens": 1618,
    }
    assert reply.text == ""
    assert reply.shapes == ["data[].b64_json"]


def test_parse_data_url_with_revised_prompt_as_text() -> None:
    reply = IMAGES.parse(fixture("openai_url.json"))

    assert reply.images == [
        Payload(
            "url",
            "https://oaidalleapiprodscus.blob.core.windows.net/private/img-abc.png"
            "?se=2025-01-01&sig=x",
        )
    ]
    assert reply.text == "A red fox in the snow."
    assert reply.shapes == ["data[].url"]


def test_seed_002_prompt_filter_is_a_content_filter() -> None:
    body = fixture("turing_content_filter.json")

    assert is_content_filter(body) is True
    assert error_text(body, 400) == (
        "The prompt was blocked by content moderation. (contentFilter)"
    )


def test_seed_002_filtered_output_image_is_a_content_filter() -> None:
    body = fixture("turing_image_filtered.json")

    assert is_content_filter(body) is True
    assert error_text(body, 400) == (
        "Generated image was filtered by the output moderation. Please try a different prompt. "
        "(invalid_request_error)"
    )


def test_unknown_model_on_images_api_refuses_to_guess_pixels() -> None:
    from imggen.dialects.images import IMAGES
    from imggen.errors import UsageError
    from imggen.job import Gateway, Job

    gw = Gateway(profile="p", base_url="https://gw.test/v1", model="dall-e-3", dialect="images")
    with pytest.raises(UsageError, match="cannot turn --aspect/--size tier into WxH"):
        build(IMAGES, Job(prompt="x", aspect="16:9", size="2K"), gw, stream=False)
    (call,) = build(IMAGES, Job(prompt="x", size="1792x1024"), gw, stream=False)
    assert call.json["size"] == "1792x1024"
