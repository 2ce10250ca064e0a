"""The images API: POST images/generations (JSON) and images/edits (multipart), as Turing
serves them (shared/seeds/002_b08cd22946c7f3fa.txt), gpt-image-2's size rules enforced; as
OpenAI serves them (openai_images: per-model rules, streams); and behind a LiteLLM-style proxy
(gw.aliases, gw.drops: shared/references/litellm-proxy.md)."""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Any

from imggen.testing import openai_images
from imggen.testing.pictures import image_size_of
from imggen.testing.protocol import (
    Abort,
    Fault,
    HTTPError,
    Look,
    Recorded,
    Reply,
    as_int,
    bad_request,
    error_reply,
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
    return images_reply(gw, body, fault, "generations", 0)


def _inputs(rec: Recorded) -> tuple[bytes | None, int]:
    """The first input image's bytes and how many were given; 400 for a mask whose size is
    not the first image's (OpenAI: "mask must be the same size as the image")."""
    images = rec.uploads.get("image", []) + rec.uploads.get("image[]", [])
    first = images[0] if images else None
    masks = rec.uploads.get("mask", [])
    if first is not None and masks:
        try:
            _, image_w, image_h = image_size_of(first)
            _, mask_w, mask_h = image_size_of(masks[0])
        except (ValueError, IndexError, struct.error):
            return first, len(images)  # a format this cannot read: not judged
        if (image_w, image_h) != (mask_w, mask_h):
            raise bad_request(
                f"Invalid mask: its size ({mask_w}x{mask_h}) must match the image's "
                f"({image_w}x{image_h})",
                "invalid_image_size",
            )
    return first, len(images)


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
    given = sum(part.name in ("image", "image[]") for part in rec.files)
    if not given:
        raise bad_request("image is required (field 'image' or repeated 'image[]')")
    source, _ = _inputs(rec)
    return images_reply(gw, fields, fault, "edits", given, source)


def _checked(body: dict[str, Any], model: str) -> tuple[int, tuple[int, int]]:
    """The images asked for and their pixels, refused as the gateway refuses them."""
    count = as_int(body.get("n"), 1)
    # shared/seeds/002_b08cd22946c7f3fa.txt: n is 1-10; Seedream makes up to 15 in turn
    top = 15 if "seedream" in model else 10
    if not 1 <= count <= top:
        raise bad_request(f"n must be 1-{top}, not {count}", "invalid_value")
    if not 0 <= as_int(body.get("partial_images"), 0) <= 3:
        raise bad_request("partial_images must be 0-3", "invalid_value")
    wxh = parse_wxh(body.get("size"))
    if model.startswith("turing/gpt-image-2"):
        if wxh is not None:
            check_gpt_image_2(*wxh)
        if body.get("background") == "transparent" and body.get("output_format", "png") != "png":
            raise bad_request("background=transparent requires output_format=png")
    return count, wxh or (1024, 1024)


def images_reply(
    gw: FakeGateway,
    body: dict[str, Any],
    fault: Fault | None,
    route: str,
    inputs: int,
    source: bytes | None = None,
) -> Reply:
    model = str(body.get("model") or "")
    if model in gw.aliases:  # a proxy: the alias stands for a model it knows
        model = gw.aliases[model]
        body = {k: v for k, v in body.items() if k not in gw.drops} | {"model": model}
    if not gw.knows(model):
        # OpenAI: 400 invalid_value on param "model"
        raise HTTPError(
            error_reply(
                400,
                f"Invalid value: '{model}'. The model does not exist or is not an image model.",
                "invalid_request_error",
                "invalid_value",
                param="model",
            )
        )
    openai_images.check(body, route, inputs)
    count, (width, height) = _checked(body, model)
    # 002_b08cd22946c7f3fa.txt: Seedream turns n into sequential_image_generation, and still
    # returns n images: nothing special to do here.
    if not gw.sleep(gw.latency):
        raise Abort
    fmt = (
        body.get("output_format") if body.get("output_format") in ("png", "jpeg", "webp") else None
    )
    alpha = body.get("background") == "transparent"
    look = Look(str(body.get("prompt") or ""), body.get("seed"), source)
    if body.get("stream") in (True, "true"):
        return openai_images.stream_reply(
            gw,
            body,
            fault,
            route,
            (width, height),
            gw.usage(IMAGES_USAGE, 1),
            event_lines=True,
            done=False,
            fmt=fmt,
            alpha=alpha,
            look=look,
        )
    # dall-e answers with URLs unless asked for b64_json (OpenAI)
    dalle = str(openai_images.model_name(model)).startswith("dall-e")
    wants = body.get("response_format") or ("url" if dalle else None)
    as_url = wants == "url" and (route == "generations" or dalle)
    images = gw.images(
        count,
        width,
        height,
        fault,
        as_url=as_url,
        raw_b64=not as_url,
        fmt=fmt,
        alpha=alpha,
        look=look,
    )
    key = "url" if as_url else "b64_json"
    reply: dict[str, Any] = {"created": int(time.time()), "data": [{key: i} for i in images]}
    if not dalle:  # gpt-image models say what they made (OpenAI's ImagesResponse)
        reply |= {
            "background": "transparent" if alpha else "opaque",
            "output_format": fmt or "png",
            "quality": body.get("quality") if body.get("quality") not in (None, "auto") else "high",
            "size": f"{width}x{height}",
        }
    reply["usage"] = gw.usage(IMAGES_USAGE, len(images))
    return json_reply(200, reply)
