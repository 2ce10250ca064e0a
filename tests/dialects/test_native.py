"""The native providers' dialects: Google's generateContent (Gemini API, Vertex AI), Azure
OpenAI's two routes, Together, xAI and Recraft; and what each refuses before sending."""

from __future__ import annotations

import pytest

from imggen.dialects import DIALECTS
from imggen.dialects.azure import is_v1
from imggen.dialects.google import GOOGLE, read
from imggen.errors import ContentFiltered, InputError, UsageError
from imggen.job import ImageInput, Job
from imggen.testing import make_png
from tests.dialects import build, gateway, request

PNG = make_png(4, 4)


def image(name: str = "in.png") -> ImageInput:
    return ImageInput(name, data=PNG, mime="image/png")


def test_google_generate_body_and_path() -> None:
    gw = gateway("gemini", "gemini-3-pro-image-preview")
    (call,) = build(GOOGLE, Job("a fox", aspect="16:9", size="4K", seed=3), gw)
    assert request(call) == {
        "method": "POST",
        "path": "/models/gemini-3-pro-image-preview:generateContent",
        "json": {
            "contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"},
                "seed": 3,
            },
        },
    }


def test_google_stream_path_count_and_2_5_sends_no_image_size() -> None:
    gw = gateway("gemini", "gemini-2.5-flash-image")
    calls = build(GOOGLE, Job("x", aspect="3:2", size="1K", count=3), gw, stream=True)
    assert len(calls) == 3
    assert calls[0].path == "/models/gemini-2.5-flash-image:streamGenerateContent?alt=sse"
    assert calls[0].json is not None
    assert calls[0].json["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"}


def test_google_edit_inputs_and_refs_are_inline_data() -> None:
    gw = gateway("gemini", "gemini-3-pro-image-preview")
    (call,) = build(GOOGLE, Job("blue", inputs=(image(),), refs=(image("r.png"),)), gw)
    assert call.json is not None
    parts = call.json["contents"][0]["parts"]
    assert [sorted(p) for p in parts] == [["text"], ["inlineData"], ["inlineData"]]
    assert parts[1]["inlineData"]["mimeType"] == "image/png"


def test_dry_run_shows_inline_data_by_size() -> None:
    from imggen.wire.auth import parse

    big = ImageInput("big.png", data=PNG * 20, mime="image/png")
    gw = gateway("gemini", "gemini-3-pro-image-preview")
    (call,) = build(GOOGLE, Job("blue", inputs=(big,)), gw)
    shown = call.describe("https://g.example/v1beta", parse("x-goog-api-key"))
    data = shown["json"]["contents"][0]["parts"][1]["inlineData"]["data"]
    assert data.startswith("<") and data.endswith(" base64 characters>")
    assert shown["headers"]["x-goog-api-key"] == "<redacted>"


@pytest.mark.parametrize(
    ("job", "said"),
    [
        (Job("x", format="png"), "--format png"),
        (Job("x", quality="high"), "--quality high"),
        (Job("x", background="transparent"), "--background transparent"),
        (Job("x", partials=2), "--partials 2"),
    ],
)
def test_google_refuses_what_it_cannot_carry(job: Job, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        build(GOOGLE, job, gateway("gemini", "gemini-3-pro-image-preview"))


def test_google_refuses_mask_and_url_inputs() -> None:
    gw = gateway("gemini", "gemini-3-pro-image-preview")
    with pytest.raises(UsageError, match="--mask"):
        build(GOOGLE, Job("x", inputs=(image(),), mask=image("m.png")), gw)
    url = ImageInput("https://x.example/a.png", url="https://x.example/a.png")
    with pytest.raises(InputError, match="not URLs"):
        build(GOOGLE, Job("x", refs=(url,)), gw)


def test_google_reply_images_words_usage_and_thought_previews() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "thinking", "thought": True},
                        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}, "thought": True},
                        {"text": "Here it is."},
                        {"inlineData": {"mimeType": "image/png", "data": "BBBB"}},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"totalTokenCount": 9},
    }
    reply = read(body)
    assert [p.value for p in reply.images] == ["BBBB"]
    assert [p.value for p in reply.partials] == ["AAAA"]
    assert reply.text == "Here it is." and reply.usage == {"totalTokenCount": 9}
    assert GOOGLE.final(body) and not GOOGLE.final({"candidates": [{"content": {}}]})


@pytest.mark.parametrize("reason", ["SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT"])
def test_google_safety_stops_are_refusals(reason: str) -> None:
    with pytest.raises(ContentFiltered, match=f"refused for safety \\(finishReason {reason}\\)"):
        read({"candidates": [{"finishReason": reason}]})
    with pytest.raises(ContentFiltered, match=reason):
        read({"promptFeedback": {"blockReason": reason}})


def test_azure_routes_by_base_url() -> None:
    azure = DIALECTS["azure"]
    for base, path in (
        ("https://r.openai.azure.com/openai", "/deployments/my%20dep/images/generations"),
        ("https://r.openai.azure.com", "/openai/deployments/my%20dep/images/generations"),
    ):
        gw = gateway("azure", "my dep", base_url=base, api_version="2025-04-01-preview")
        (call,) = build(azure, Job("x"), gw)
        assert call.path == f"{path}?api-version=2025-04-01-preview"
    gw = gateway("azure", "dep", base_url="https://r.openai.azure.com/openai/v1")
    (call,) = build(azure, Job("x"), gw)
    assert call.path == "/images/generations" and is_v1(gw.base_url)


def test_together_xai_recraft_bodies() -> None:
    (t,) = build(
        DIALECTS["together"],
        Job("x", aspect="1:1", size="512", seed=1),
        gateway("together", "black-forest-labs/FLUX.1-schnell"),
    )
    assert t.json is not None
    assert (t.json["width"], t.json["height"], t.json["seed"]) == (512, 512, 1)
    calls = build(
        DIALECTS["xai"],
        Job("x", aspect="9:20", size="2K", count=12),
        gateway("xai", "grok-imagine-image"),
    )
    assert [c.images for c in calls] == [10, 2]
    assert calls[0].json is not None
    assert (calls[0].json["aspect_ratio"], calls[0].json["resolution"]) == ("9:20", "2k")
    (r,) = build(
        DIALECTS["recraft"], Job("x", size="1707x1024"), gateway("recraft", "recraftv3_vector")
    )
    assert r.json is not None and r.json["size"] == "1707x1024"


@pytest.mark.parametrize(
    ("preset", "model", "job"),
    [
        (
            "together",
            "black-forest-labs/FLUX.1-kontext-pro",
            Job("x", inputs=(image(),), mask=image("m.png")),
        ),
        ("xai", "grok-imagine-image", Job("x", seed=1)),
        ("xai", "grok-imagine-image", Job("x", inputs=(image(),), mask=image("m.png"))),
        ("recraft", "recraftv3", Job("x", format="png")),
    ],
)
def test_vendors_refuse_what_they_cannot_carry(preset: str, model: str, job: Job) -> None:
    with pytest.raises(UsageError, match="can take"):
        build(DIALECTS[preset], job, gateway(preset, model))


def test_together_edit_sends_image_url_or_reference_images() -> None:
    kontext = gateway("together", "black-forest-labs/FLUX.1-kontext-pro")
    assert kontext.can_edit
    (call,) = build(DIALECTS["together"], Job("x", inputs=(image(),)), kontext)
    assert call.path == "/images/generations" and call.json is not None
    assert call.json["image_url"].startswith("data:image/png;base64,")
    assert "width" not in call.json  # Kontext keeps the input's size unless asked
    url = ImageInput("https://img.example/a.png", url="https://img.example/a.png")
    (call,) = build(DIALECTS["together"], Job("x", inputs=(url,)), kontext)
    assert call.json is not None and call.json["image_url"] == "https://img.example/a.png"
    flux2 = gateway("together", "black-forest-labs/FLUX.2-dev")
    (call,) = build(DIALECTS["together"], Job("x", inputs=(image(), url)), flux2)
    assert call.json is not None and len(call.json["reference_images"]) == 2
    with pytest.raises(UsageError, match="one image per request"):
        build(DIALECTS["together"], Job("x", inputs=(image(), url)), kontext)
    schnell = gateway("together", "black-forest-labs/FLUX.1-schnell")
    assert not schnell.can_edit and "Kontext" in schnell.no_edit_why


def rgba_mask(width: int, height: int) -> bytes:
    """An RGBA PNG, transparent in its left half: the area to repaint."""
    import struct
    import zlib

    half = width // 2
    row = b"\x00" + b"\x00\x00\x00\x00" * half + b"\x00\x00\x00\xff" * (width - half)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    idat = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_recraft_edit_with_a_mask_is_inpaint_with_a_black_and_white_mask() -> None:
    from imggen.files.maskpng import rows

    src = ImageInput("in.png", data=make_png(256, 256), mime="image/png", pixels=(256, 256))
    mask = ImageInput("m.png", data=rgba_mask(256, 256), mime="image/png", pixels=(256, 256))
    gw = gateway("recraft", "recraftv3")
    (call,) = build(DIALECTS["recraft"], Job("a bicycle", inputs=(src,), mask=mask), gw)
    assert call.path == "/images/inpaint" and dict(call.form)["prompt"] == "a bicycle"
    assert "strength" not in dict(call.form)
    image_part, mask_part = call.files
    assert (image_part.field, mask_part.field) == ("image", "mask")
    first = next(rows(mask_part.data, 256, 256, 1))
    assert first == b"\xff" * 128 + b"\x00" * 128
    (plain,) = build(DIALECTS["recraft"], Job("x", inputs=(src,), params={"strength": 0.4}), gw)
    assert plain.path == "/images/imageToImage" and dict(plain.form)["strength"] == "0.4"


def test_recraft_refuses_before_sending_what_recraft_refuses() -> None:
    gw = gateway("recraft", "recraftv3")
    small = ImageInput("s.png", data=make_png(64, 64), mime="image/png", pixels=(64, 64))
    with pytest.raises(UsageError, match="sides of 256-4096"):
        build(DIALECTS["recraft"], Job("x", inputs=(small,), params={"strength": 1}), gw)
    src = ImageInput("in.png", data=make_png(256, 256), mime="image/png", pixels=(256, 256))
    with pytest.raises(UsageError, match="strength") as refused:
        build(DIALECTS["recraft"], Job("x", inputs=(src,)), gw)
    assert "--mask" in (refused.value.hint or "")
