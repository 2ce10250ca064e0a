"""The images API: POST images/generations (JSON) and images/edits (multipart), as Turing
serves them (shared/seeds/002_b08cd22946c7f3fa.txt), gpt-image-2's size rules enforced."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from imggen.testing.protocol import (
    Abort,
    Fault,
    Recorded,
    Reply,
    as_int,
    bad_request,
    json_reply,
    parse_wxh,
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

# 002_b08cd22946c7f3fa.txt: images/generations response example.
IMAGES_USAGE = {
    "input_tokens": 50,
    "output_tokens": 1568,
    "total_tokens": 1618,
    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
}


def check_gpt_image_2(width: int, height: int) -> None:
    """002_b08cd22946c7f3fa.txt: gpt-image-2 size constraints, enforced with a 4xx."""
    problems = []
    if width % 16 or height % 16:
        problems.append("both sides must be multiples of 16")
    if max(width, height) > 3840:
        problems.append("the long side must be <= 3840")
    if max(width / height, height / width) > 3:
        problems.append("the aspect ratio must be <= 3:1")
    if not 655_360 <= width * height <= 8_294_400:
        problems.append("total pixels must be between 655,360 and 8,294,400")
    if problems:
        raise bad_request(f"Invalid size {width}x{height}: " + "; ".join(problems), "invalid_size")


def generations(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = rec.json
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object body")
    return images_reply(gw, body, fault, "generations")


def edits(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    # 002_b08cd22946c7f3fa.txt: multipart, image or repeated image[], optional mask.
    if rec.form is None:
        raise bad_request("images/edits expects multipart/form-data")
    fields = {name: values[-1] for name, values in rec.form.items()}
    if str(fields.get("model", "")).startswith("doubao-seedream"):
        # 002_b08cd22946c7f3fa.txt: Seedream does not support /images/edits.
        raise bad_request(
            "doubao-seedream models do not support /images/edits", "unsupported_model"
        )
    if not any(part.name in ("image", "image[]") for part in rec.files):
        raise bad_request("image is required (field 'image' or repeated 'image[]')")
    return images_reply(gw, fields, fault, "edits")


def images_reply(gw: FakeGateway, body: dict[str, Any], fault: Fault | None, route: str) -> Reply:
    model = str(body.get("model") or "")
    count = as_int(body.get("n"), 1)
    if count < 1:
        raise bad_request("n must be >= 1")
    wxh = parse_wxh(body.get("size"))
    if model.startswith("turing/gpt-image-2"):
        if wxh is not None:
            check_gpt_image_2(*wxh)
        if body.get("background") == "transparent" and body.get("output_format", "png") != "png":
            raise bad_request("background=transparent requires output_format=png")
    width, height = wxh or (1024, 1024)
    # 002_b08cd22946c7f3fa.txt: Seedream turns n into sequential_image_generation, and still
    # returns n images: nothing special to do here.
    if not gw.sleep(gw.latency):
        raise Abort
    as_url = body.get("response_format") == "url" and route == "generations"
    images = gw.images(count, width, height, fault, as_url=as_url, raw_b64=not as_url)
    key = "url" if as_url else "b64_json"
    return json_reply(
        200,
        {
            "created": int(time.time()),
            "data": [{key: item} for item in images],
            "usage": gw.usage(IMAGES_USAGE, len(images)),
        },
    )
