"""OpenAI's images API, model by model (GPT image models, chatgpt-image-latest, DALL-E): what
each takes is sent, what it cannot take is refused before any request, naming what it takes;
streamed image events are read with or without `event:` lines."""

from __future__ import annotations

import base64

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import ImggenError, InputError, SizeRefused, UsageError
from imggen.job import ImageInput, Job
from imggen.run import core
from tests.conftest import png_bytes
from tests.dialects import build, gateway, settings

IMAGES = DIALECTS["images"]


def body(model: str, job: Job, *, stream: bool = False) -> list[dict[str, object]]:
    return [
        c.json or dict(c.form) for c in build(IMAGES, job, gateway("openai", model), stream=stream)
    ]


def refusal(model: str, job: Job) -> str:
    with pytest.raises((UsageError, SizeRefused, InputError)) as caught:
        build(IMAGES, job, gateway("openai", model))
    err: ImggenError = caught.value
    assert int(err.exit_code) == 2
    return err.message


def test_dall_e_3_aspect_becomes_its_size_and_n_fans_out() -> None:
    sent = body("dall-e-3", Job("a fox", aspect="16:9", count=2, quality="hd"))
    # one request per image: dall-e-3 takes n=1 only
    assert (
        sent == [{"model": "dall-e-3", "prompt": "a fox", "size": "1792x1024", "quality": "hd"}] * 2
    )


@pytest.mark.parametrize(
    ("model", "job", "accepts"),
    [
        ("dall-e-3", Job("x", quality="high"), "it accepts standard, hd"),
        ("dall-e-3", Job("x", format="png"), "the model picks the format"),
        ("dall-e-3", Job("x", background="transparent"), "can take"),
        ("dall-e-2", Job("x", quality="hd"), "it accepts standard"),
        ("gpt-image-1", Job("x", params={"style": "vivid"}), "--param style=vivid"),
        ("gpt-image-1", Job("x", params={"response_format": "url"}), "response_format"),
        ("dall-e-2", Job("x", params={"style": "vivid"}), "style"),
        ("gpt-image-1", Job("x", format="jpeg", background="transparent"), "PNG or WEBP"),
    ],
)
def test_what_a_model_cannot_take_is_refused(model: str, job: Job, accepts: str) -> None:
    assert accepts in refusal(model, job)


def test_dall_e_sizes_are_checked() -> None:
    assert "1024x1024, 1792x1024, 1024x1792" in refusal("dall-e-3", Job("x", size="512x512"))
    assert "256x256" in refusal("dall-e-2", Job("x", size="1536x1024"))


def test_transparent_webp_and_compression_are_valid_on_gpt_image() -> None:
    job = Job("x", background="transparent", format="webp", params={"output_compression": 70})
    (sent,) = body("gpt-image-1.5", job)
    assert sent["background"] == "transparent"
    assert sent["output_format"] == "webp"
    assert sent["output_compression"] == 70


def test_compression_beside_png_is_refused() -> None:
    # OpenAI's schema: output_compression only with jpeg or webp, and PNG is the default
    for job in (
        Job("x", params={"output_compression": 50}),
        Job("x", format="png", params={"output_compression": 70}),
    ):
        assert "applies to jpeg or webp only" in refusal("gpt-image-1", job)
    message = refusal("gpt-image-1", Job("x", format="png", params={"output_compression": 70}))
    assert "applies to jpeg or webp only" in message


def test_stream_sends_partial_images_one_image_a_request() -> None:
    sent = body("gpt-image-1", Job("x", count=2, partials=2), stream=True)
    assert (
        sent == [{"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 2}] * 2
    )


def test_dall_e_cannot_stream() -> None:
    s = settings("openai", "dall-e-3")
    with pytest.raises(UsageError, match="cannot stream"):
        core.prepare(s, Job("x", stream=True), core.RunOptions())


def test_chatgpt_image_latest_only_edits() -> None:
    assert "cannot make an image from a prompt alone" in refusal("chatgpt-image-latest", Job("x"))


def _png(w: int, h: int, name: str = "in.png") -> ImageInput:
    data = png_bytes(w, h)
    return ImageInput(name, data=data, mime="image/png", pixels=(w, h))


def test_dall_e_3_edit_is_refused_before_sending() -> None:
    s = settings("openai", "dall-e-3")
    with pytest.raises(UsageError, match="cannot edit"):
        core.prepare(s, Job("x", inputs=(_png(8, 8),)), core.RunOptions())


def test_dall_e_2_edits_one_square_png() -> None:
    assert "per request; 2 were given" in refusal(
        "dall-e-2", Job("x", inputs=(_png(8, 8), _png(8, 8, "b.png")))
    )
    assert "not square" in refusal("dall-e-2", Job("x", inputs=(_png(8, 4),)))
    (sent,) = body("dall-e-2", Job("x", inputs=(_png(8, 8),)))
    assert sent["model"] == "dall-e-2"


def test_at_most_16_edit_inputs() -> None:
    inputs = tuple(_png(8, 8, f"{i}.png") for i in range(17))
    assert "at most 16 images" in refusal("gpt-image-1", Job("x", inputs=inputs))


def test_input_fidelity_not_on_mini() -> None:
    job = Job("x", inputs=(_png(8, 8),), params={"input_fidelity": "high"})
    assert "input_fidelity" in refusal("gpt-image-1-mini", job)
    (sent,) = body("gpt-image-1", job)
    assert sent["input_fidelity"] == "high"


def test_the_openai_preset_lists_todays_models() -> None:
    from imggen.dialects.presets import PRESETS

    assert [m.id for m in PRESETS["openai"].models] == [
        "gpt-image-1",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "gpt-image-2",
        "chatgpt-image-latest",
        "dall-e-3",
        "dall-e-2",
    ]


def test_stream_events_partial_then_completed() -> None:
    partial = {"type": "image_edit.partial_image", "b64_json": "AAAA"}
    done = {"type": "image_edit.completed", "b64_json": "BBBB", "usage": {"total_tokens": 3}}
    first = IMAGES.parse_event(partial)
    assert first.images == [] and len(first.partials) == 1  # a preview, never a result
    last = IMAGES.parse_event(done)
    assert len(last.images) == 1 and last.usage == {"total_tokens": 3}


def test_a_proxys_null_padded_reply_with_a_data_url_is_read() -> None:
    # LiteLLM pads absent fields with null and may put a data: URL in data[].url
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes(4, 4)).decode()
    reply = IMAGES.parse(
        {
            "created": 1,
            "background": None,
            "data": [{"b64_json": None, "revised_prompt": None, "url": data_url}],
            "output_format": None,
            "usage": {"total_tokens": 3, "output_tokens_details": None},
        }
    )
    assert [p.kind for p in reply.images] == ["base64"]
    assert reply.usage == {"total_tokens": 3, "output_tokens_details": None}


def test_what_is_sent_is_what_the_published_rules_take_and_nothing_valid_is_refused() -> None:
    """Every generate option combination on every OpenAI model, against the fake gateway's
    encoding of the published rules: no request imggen sends would be rejected, and imggen
    refuses no request the rules accept (gpt-image-2's minimum of 655,360 pixels is Turing's
    rule only: OpenAI states none)."""
    import itertools

    from imggen.testing import openai_images
    from imggen.testing.protocol import HTTPError

    def accepted(body: dict[str, object]) -> bool:
        try:
            openai_images.check(body, "generations", 0)
        except HTTPError:
            return False
        return True

    sizes = [None, "1024x1024", "1536x1024", "1792x1024", "512x512", "2048x1152", "auto"]
    grid = itertools.product(
        openai_images.MODELS,
        sizes,
        [None, "low", "high", "hd", "standard"],
        [None, "png", "jpeg", "webp"],
        [None, "transparent", "opaque"],
        [1, 2],
    )
    refused_valid = []
    for model, size, quality, fmt, background, n in grid:
        job = Job("x", size=size, quality=quality, format=fmt, background=background, count=n)
        asked = {"size": size, "quality": quality, "output_format": fmt, "background": background}
        naive = {"model": model, "prompt": "x", "n": n} | {k: v for k, v in asked.items() if v}
        try:
            plan = core.prepare(settings("openai", model), job, core.RunOptions())
        except ImggenError:
            if accepted(naive):
                refused_valid.append((model, size))
            continue
        assert all(accepted(dict(c.json or {})) for c in plan.calls), (model, job)
    assert refused_valid == []
