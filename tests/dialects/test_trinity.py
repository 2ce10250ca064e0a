"""Trinity chat (seed 000): image_config with output_image_format and URL-only
reference_images, never a stream; images as URLs, data URLs, or links inside the content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import InputError, UsageError
from imggen.job import ImageInput, Job, Payload
from imggen.run import core
from tests.conftest import png_bytes
from tests.dialects import PNG_1X1, build, fixture, gateway, request, settings

TRINITY = DIALECTS["trinity"]
MODEL = "hunyuan-image"
REF = ImageInput("https://example.com/ref.png", url="https://example.com/ref.png")


def test_build_puts_format_and_url_references_in_image_config() -> None:
    job = Job(
        "赛博朋克风格未来城市夜景",
        aspect="16:9",
        size="1K",
        format="jpeg",
        seed=3,
        refs=(REF,),
        params={"image_config": {"output_format": "url"}},
    )
    calls = build(TRINITY, job, gateway("trinity", MODEL), stream=False)

    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/chat/completions",
            "json": {
                "model": MODEL,
                "messages": [{"role": "user", "content": "赛博朋克风格未来城市夜景"}],
                "modalities": ["image", "text"],
                "image_config": {
                    "aspect_ratio": "16:9",
                    "image_size": "1K",
                    "reference_images": [{"type": "url", "url": "https://example.com/ref.png"}],
                    "output_image_format": "jpeg",
                    "output_format": "url",
                },
                "seed": 3,
            },
        }
    ]
    assert calls[0].stream is False


def test_count_fans_out_without_n() -> None:
    calls = build(TRINITY, Job("x", count=2), gateway("trinity", MODEL), stream=False)

    assert [c.json for c in calls] == [
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "modalities": ["image", "text"],
        }
    ] * 2


@pytest.mark.parametrize("field", ["refs", "inputs"])
def test_local_file_reference_refused_naming_the_url_requirement(field: str) -> None:
    local = ImageInput("sketch.png", data=png_bytes(), mime="image/png")
    job = Job("x", **{field: (local,)})

    with pytest.raises(InputError) as info:
        build(TRINITY, job, gateway("trinity", MODEL), stream=False)

    assert info.value.message == (
        "sketch.png: hunyuan-image takes reference images as http(s) URLs only; this gateway "
        "has no way to upload a file"
    )
    assert info.value.hint == "upload the image somewhere reachable and pass its https:// URL"


def test_webp_refused_naming_png_and_jpeg() -> None:
    with pytest.raises(UsageError) as info:
        build(TRINITY, Job("x", format="webp"), gateway("trinity", MODEL), stream=False)

    assert info.value.message == (
        "--format webp is not something hunyuan-image (trinity dialect) can take; "
        "it accepts png, jpeg"
    )


def test_never_streams_by_default(tmp_path: Path) -> None:
    plan = core.prepare(settings("trinity", MODEL), Job("x"), core.RunOptions(cwd=tmp_path))

    assert plan.stream is False
    assert [c.stream for c in plan.calls] == [False]
    assert "stream" not in (plan.calls[0].json or {})


def test_stream_flag_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        core.prepare(
            settings("trinity", MODEL), Job("x", stream=True), core.RunOptions(cwd=tmp_path)
        )

    assert info.value.message == (
        "hunyuan-image cannot stream (this gateway refuses stream:true for image requests)"
    )
    assert info.value.hint == "drop --stream"


# -- replies ----------------------------------------------------------------------------------


def test_parse_finds_https_url_in_message_images() -> None:
    reply = TRINITY.parse(fixture("trinity_url.json"))

    assert reply.images == [Payload("url", "https://cdn.trinity.example/gen/2f6c1e.png")]
    assert reply.text == "已为你生成图片。"
    assert reply.usage is None
    assert reply.shapes == ["message.images"]


def message(content: Any, images: Any = ()) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content, "images": images}}]}


def test_bare_url_in_content_when_images_is_empty() -> None:
    # seed 000: "若为空,再查看 message.content 是否内嵌链接或 base64"
    reply = TRINITY.parse(message("已为你生成图片:https://cdn.trinity.example/gen/a1.png。", []))

    assert reply.images == [Payload("url", "https://cdn.trinity.example/gen/a1.png")]
    assert reply.shapes == ["message.content (URL in text)"]


def test_data_url_in_content_when_images_is_empty() -> None:
    reply = TRINITY.parse(message(f"已为你生成图片 data:image/png;base64,{PNG_1X1} 请查收"))

    assert reply.images == [Payload("base64", PNG_1X1, "image/png")]
    assert reply.text == "已为你生成图片  请查收"
    assert reply.shapes == ["message.content (data URL in text)"]


def test_text_without_any_link_is_only_text() -> None:
    reply = TRINITY.parse(message("抱歉,无法生成该图片。"))

    assert reply.images == []
    assert reply.text == "抱歉,无法生成该图片。"
    assert reply.shapes == []
