"""fal's queue: the submit body (image_size, num_images, seed, output_format, image_url(s) as
data URIs, --param), the ticket of a submit reply, the states of a status reply, the images of
a result (shared/references/providers-beyond-openai.md section 3)."""

from __future__ import annotations

import pytest

from imggen.dialects import DIALECTS
from imggen.errors import GatewayFailed, UsageError
from imggen.job import ImageInput, Job
from tests.dialects import build, gateway, request

FAL = DIALECTS["fal"]
DEV = "fal-ai/flux/dev"


def test_submit_body_translates_the_options() -> None:
    job = Job("a red fox", count=3, aspect="16:9", seed=7, format="jpeg", params={"steps": 4})
    (call,) = build(FAL, job, gateway("fal", DEV))
    assert request(call) == {
        "method": "POST",
        "path": "/fal-ai/flux/dev",
        "json": {
            "prompt": "a red fox",
            "num_images": 3,
            "image_size": "landscape_16_9",
            "seed": 7,
            "output_format": "jpeg",
            "steps": 4,
        },
    }
    assert call.job and call.images == 3


@pytest.mark.parametrize(
    ("aspect", "size", "sent"),
    [
        ("1:1", None, "square_hd"),
        ("1:1", "512", "square"),
        ("9:16", "1K", "portrait_16_9"),
        ("3:2", "2K", {"width": 2048, "height": 1368}),
        (None, "800x600", {"width": 800, "height": 600}),
    ],
)
def test_image_size_named_or_pixels(aspect: str | None, size: str | None, sent: object) -> None:
    (call,) = build(FAL, Job("x", aspect=aspect, size=size), gateway("fal", DEV))
    assert call.json is not None and call.json["image_size"] == sent


def test_input_images_go_as_data_uris() -> None:
    one = ImageInput("a.png", data=b"\x89PNG", mime="image/png")
    two = ImageInput("https://x.test/b.png", url="https://x.test/b.png")
    gw = gateway("fal", "fal-ai/nano-banana/edit")
    (single,) = build(FAL, Job("x", inputs=(one,)), gw)
    assert single.json is not None and single.json["image_url"] == "data:image/png;base64,iVBORw=="
    (both,) = build(FAL, Job("x", inputs=(one,), refs=(two,)), gw)
    assert both.json is not None
    assert both.json["image_urls"] == ["data:image/png;base64,iVBORw==", "https://x.test/b.png"]


@pytest.mark.parametrize("option", ["quality", "background"])
def test_what_fal_cannot_carry_is_refused(option: str) -> None:
    with pytest.raises(UsageError, match=f"--{option}"):
        build(FAL, Job("x", **{option: "high"}), gateway("fal", DEV))  # type: ignore[arg-type]


def test_ticket_states_and_result() -> None:
    base = "https://queue.fal.run/fal-ai/flux/requests/r1"
    ticket = FAL.accepted(  # type: ignore[attr-defined]
        {
            "status": "IN_QUEUE",
            "request_id": "r1",
            "status_url": base + "/status",
            "response_url": base,
            "cancel_url": base + "/cancel",
            "queue_position": 3,
        }
    )
    assert (ticket.id, ticket.poll, ticket.result, ticket.position) == (
        "r1",
        base + "/status",
        base,
        3,
    )
    read = FAL.read  # type: ignore[attr-defined]
    assert read({"status": "IN_QUEUE", "queue_position": 2}).position == 2
    assert read({"status": "IN_PROGRESS"}).state == "running"
    assert read({"status": "COMPLETED"}).state == "done"
    failed = read({"status": "COMPLETED", "error": "bad", "error_type": "content_policy_violation"})
    assert failed.state == "failed" and failed.refused
    assert FAL.result(ticket).path == base  # type: ignore[attr-defined]
    assert FAL.cancel(ticket).method == "PUT"  # type: ignore[attr-defined]
    reply = FAL.parse({"images": [{"url": "https://v3.fal.media/a.png"}]})
    assert [p.value for p in reply.images] == ["https://v3.fal.media/a.png"]
    with pytest.raises(GatewayFailed, match="named no job"):
        FAL.accepted({"status": "IN_QUEUE"})  # type: ignore[attr-defined]
