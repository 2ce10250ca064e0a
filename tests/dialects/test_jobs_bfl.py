"""Black Forest Labs: width/height in multiples of 32 (256-1440 on FLUX1.1 [pro]), Kontext's
aspect_ratio and input_image (bare base64), one request an image; the polling URL, the status
enum (shared/references/providers-beyond-openai.md section 5)."""

from __future__ import annotations

import base64

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import UsageError
from imggen.job import ImageInput, Job
from tests.dialects import build, gateway, request

BFL = DIALECTS["bfl"]


def test_width_and_height_in_multiples_of_32() -> None:
    calls = build(BFL, Job("a fox", count=2, aspect="16:9", seed=1), gateway("bfl", "flux-pro-1.1"))
    body = {"prompt": "a fox", "width": 1024, "height": 576, "output_format": "png"}
    assert [request(c) for c in calls] == [
        {"method": "POST", "path": "/flux-pro-1.1", "json": {**body, "seed": s}} for s in (1, 2)
    ]
    with pytest.raises(UsageError, match="multiples of 32"):
        build(BFL, Job("x", size="1000x700"), gateway("bfl", "flux-pro-1.1"))
    with pytest.raises(UsageError, match="256 to 1440"):
        build(BFL, Job("x", size="1600x896"), gateway("bfl", "flux-pro-1.1"))


def test_kontext_takes_aspect_ratio_and_base64_input() -> None:
    img = ImageInput("a.png", data=b"\x89PNG", mime="image/png")
    (call,) = build(BFL, Job("x", aspect="21:9", inputs=(img,)), gateway("bfl", "flux-kontext-pro"))
    assert call.json == {
        "prompt": "x",
        "aspect_ratio": "21:9",
        "output_format": "png",
        "input_image": base64.b64encode(b"\x89PNG").decode(),
    }


def test_polling_and_states() -> None:
    ticket = BFL.accepted({"id": "t1", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=t1"})  # type: ignore[attr-defined]
    assert ticket.poll == "https://api.us1.bfl.ai/v1/get_result?id=t1"
    assert BFL.accepted({"id": "t2"}).poll == "/get_result?id=t2"  # type: ignore[attr-defined]
    assert BFL.cancel(ticket) is None  # type: ignore[attr-defined]
    read = BFL.read  # type: ignore[attr-defined]
    assert read({"status": "Pending"}).state == "running"
    ready = read({"status": "Ready", "result": {"sample": "https://delivery.bfl.ai/x.png"}})
    assert ready.state == "done" and ready.reply.images[0].value.endswith("x.png")
    assert read({"status": "Content Moderated"}).refused
    assert read({"status": "Error"}).state == "failed"
    assert read({"status": "Task not found"}).state == "failed"
