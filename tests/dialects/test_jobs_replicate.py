"""Replicate's predictions: one prediction an image, aspect_ratio and megapixels, seed per
image, output_format, input_image(s), versions; the states of a prediction and its output URLs
(shared/references/providers-beyond-openai.md section 4)."""

from __future__ import annotations

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import UsageError
from imggen.job import ImageInput, Job
from tests.dialects import build, gateway, request

REP = DIALECTS["replicate"]
SCHNELL = "black-forest-labs/flux-schnell"


def test_one_prediction_an_image_with_its_own_seed() -> None:
    job = Job("a fox", count=2, aspect="16:9", size="512", seed=10, params={"go_fast": True})
    calls = build(REP, job, gateway("replicate", SCHNELL))
    inputs = {
        "prompt": "a fox",
        "aspect_ratio": "16:9",
        "megapixels": "0.25",
        "output_format": "png",
        "go_fast": True,
    }
    assert [request(c) for c in calls] == [
        {
            "method": "POST",
            "path": f"/models/{SCHNELL}/predictions",
            "json": {"input": {**inputs, "seed": seed}},
        }
        for seed in (10, 11)
    ]


def test_a_version_goes_to_predictions() -> None:
    (call,) = build(REP, Job("x", format="jpeg"), gateway("replicate", "me/model:abc123"))
    assert call.path == "/predictions"
    assert call.json == {"version": "abc123", "input": {"prompt": "x", "output_format": "jpg"}}


def test_inputs_and_refusals() -> None:
    img = ImageInput("a.png", data=b"\x89PNG", mime="image/png")
    gw = gateway("replicate", "black-forest-labs/flux-kontext-pro")
    (one,) = build(REP, Job("x", inputs=(img,)), gw)
    assert one.json is not None and one.json["input"]["input_image"].startswith("data:image/png")
    (two,) = build(REP, Job("x", inputs=(img, img)), gw)
    assert two.json is not None and len(two.json["input"]["input_images"]) == 2
    with pytest.raises(UsageError, match="--size 800x600"):
        build(REP, Job("x", size="800x600"), gateway("replicate", SCHNELL))
    with pytest.raises(UsageError, match="--aspect 5:3|--aspect"):
        build(REP, Job("x", aspect="2:1"), gateway("replicate", SCHNELL))


def test_prediction_states_and_output() -> None:
    pred = {
        "id": "p1",
        "status": "starting",
        "urls": {
            "get": "https://api.replicate.com/v1/predictions/p1",
            "cancel": "https://api.replicate.com/v1/predictions/p1/cancel",
        },
    }
    ticket = REP.accepted(pred)  # type: ignore[attr-defined]
    assert ticket.poll.endswith("/p1") and REP.cancel(ticket).method == "POST"  # type: ignore[attr-defined]
    read = REP.read  # type: ignore[attr-defined]
    assert read(pred).state == "queued"
    assert read({**pred, "status": "processing"}).state == "running"
    done = read({**pred, "status": "succeeded", "output": ["https://replicate.delivery/a.webp"]})
    assert done.state == "done" and done.reply.images[0].value.endswith("a.webp")
    single = read({**pred, "status": "succeeded", "output": "https://replicate.delivery/b.png"})
    assert len(single.reply.images) == 1
    assert read({**pred, "status": "failed", "error": "NSFW content detected"}).refused
    assert read({**pred, "status": "canceled"}).state == "cancelled"
