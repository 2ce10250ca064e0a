"""XTY chat (seed 004): a literal `extra_body.google.image_config` key, `n` in the body
(one choice per image), and images as markdown links in each choice's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import SizeRefused, UsageError
from imggen.job import Job, Payload
from imggen.run import core
from imggen.wire.status import error_text, is_content_filter
from tests.dialects import build, fixture, gateway, request, settings

XTY = DIALECTS["xty"]
FLASH = "gemini-3.1-flash-image-preview"
PRO = "gemini-3-pro-image-preview"
PROMPT = "一只可爱的橙色小猫坐在彩虹桥上,卡通风格,明亮的色彩,高质量,详细"


def test_build_is_one_call_with_n_and_literal_extra_body() -> None:
    job = Job(PROMPT, count=2, aspect="16:9", size="2K", seed=9, params={"user": "ci"})
    calls = build(XTY, job, gateway("xty", FLASH), stream=False)

    # seed 004's curl example: extra_body is a body key sent as is, not an SDK argument
    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": "/chat/completions",
            "json": {
                "model": FLASH,
                "messages": [{"role": "user", "content": PROMPT}],
                "modalities": ["image", "text"],
                "extra_body": {
                    "google": {"image_config": {"aspect_ratio": "16:9", "image_size": "2K"}}
                },
                "seed": 9,
                "n": 2,
                "user": "ci",
            },
        }
    ]
    assert calls[0].images == 2
    assert calls[0].stream is False


def test_one_image_sends_no_n() -> None:
    (call,) = build(XTY, Job(PROMPT), gateway("xty", FLASH), stream=False)

    assert call.json == {
        "model": FLASH,
        "messages": [{"role": "user", "content": PROMPT}],
        "modalities": ["image", "text"],
    }
    assert call.images == 1


def test_512_tier_only_on_flash() -> None:
    # seed 004: gemini-3.1-flash-image-preview takes 512/1K/2K/4K, gemini-3-pro 1K/2K/4K
    (call,) = build(XTY, Job(PROMPT, size="512"), gateway("xty", FLASH), stream=False)
    assert call.json is not None
    assert call.json["extra_body"] == {"google": {"image_config": {"image_size": "512"}}}

    with pytest.raises(SizeRefused) as info:
        build(XTY, Job(PROMPT, size="512"), gateway("xty", PRO), stream=False)
    assert info.value.message == f"{PRO} has no 512 tier; it accepts: 1K, 2K, 4K"


def test_stream_flag_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        core.prepare(settings("xty", FLASH), Job("x", stream=True), core.RunOptions(cwd=tmp_path))

    assert info.value.message == (
        f"{FLASH} cannot stream (this gateway answers image requests in one reply, without a "
        "stream)"
    )


# -- replies ----------------------------------------------------------------------------------


def test_parse_takes_one_markdown_image_per_choice() -> None:
    reply = XTY.parse(fixture("xty_reply.json"))

    assert reply.images == [
        Payload("url", "https://files.xty.app/images/gemini-1704067200000-0.png"),
        Payload("url", "https://files.xty.app/images/gemini-1704067200000-1.png"),
    ]
    assert reply.text == "这是第 1 张图片:\n\n这是第 2 张图片:\n\n"
    assert reply.usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert reply.shapes == ["message.content (markdown image in text)"]


def test_markdown_link_in_angle_brackets() -> None:
    body = {"choices": [{"message": {"content": "![图](<https://files.xty.app/a.png>)"}}]}

    assert XTY.parse(body).images == [Payload("url", "https://files.xty.app/a.png")]


def test_error_body_of_seed_004() -> None:
    body = fixture("xty_error.json")

    assert error_text(body, 400) == "请求失败 (invalid_request_error)"
    assert is_content_filter(body) is False


def test_texts_of_several_choices_stay_separate_lines() -> None:
    from imggen.dialects.base import extract

    body = {
        "choices": [
            {"index": 0, "message": {"content": "first ![a](https://cdn.test/1.png)"}},
            {"index": 1, "message": {"content": "second ![b](https://cdn.test/2.png)"}},
        ]
    }
    reply = extract(body)
    assert [p.value for p in reply.images] == ["https://cdn.test/1.png", "https://cdn.test/2.png"]
    assert reply.text.split("\n") == ["first ", "second "]
