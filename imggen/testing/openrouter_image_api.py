"""OpenRouter's Image API (shared/references/openrouter-image-api.md): GET /images/models with
per-model capability descriptors, and POST /images checked against them (an absent key is an
unsupported parameter), answered with `data[].b64_json` + `media_type` and `usage.cost`, or
streamed as data-only events ending in [DONE]."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from imggen.testing import openai_images
from imggen.testing.chat import chat_pixels
from imggen.testing.protocol import (
    Abort,
    Fault,
    Look,
    Recorded,
    Reply,
    as_int,
    bad_request,
    json_reply,
    parse_wxh,
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

_ENUM = "enum"
_TIERS = {"type": _ENUM, "values": ["1K", "2K", "4K"]}
_ASPECTS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9"]

DEFAULT_IMAGE_MODELS: list[dict[str, Any]] = [
    {
        "id": "openai/gpt-image-1",
        "name": "OpenAI: GPT Image 1",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
        "supported_parameters": {
            "n": {"type": "range", "min": 1, "max": 10},
            "size": {"type": _ENUM, "values": ["1024x1024", "1536x1024", "1024x1536", "auto"]},
            "quality": {"type": _ENUM, "values": ["auto", "low", "medium", "high"]},
            "output_format": {"type": _ENUM, "values": ["png", "jpeg", "webp"]},
            "background": {"type": _ENUM, "values": ["auto", "transparent", "opaque"]},
            "output_compression": {"type": "range", "min": 0, "max": 100},
            "partial_images": {"type": "range", "min": 0, "max": 3},
            "stream": {"type": "boolean"},
            "input_references": {"type": "array"},
        },
        "supports_streaming": True,
    },
    {
        "id": "black-forest-labs/flux.2-pro",
        "name": "Black Forest Labs: FLUX.2 Pro",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
        "supported_parameters": {
            "resolution": _TIERS,
            "aspect_ratio": {"type": _ENUM, "values": [*_ASPECTS, "1:4", "4:1"]},
            "seed": {"type": "range", "min": 0, "max": 4294967295},
            "output_format": {"type": _ENUM, "values": ["png", "jpeg"]},
            "input_references": {"type": "array"},
        },
        "supports_streaming": False,
    },
]
# usage of one image, with its cost in USD
USAGE = {"prompt_tokens": 12, "completion_tokens": 1024, "total_tokens": 1036, "cost": 0.04}
_FREE = ("model", "prompt", "provider")  # fields every model takes


def _usage(gw: FakeGateway, images: int) -> dict[str, Any]:
    """The Image API always reports its cost: --cost (gw.cost) per image, else USAGE's."""
    each = gw.cost if gw.cost is not None else float(USAGE["cost"])
    return {**USAGE, "cost": round(each * images, 10)}


def models_route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    return json_reply(200, {"data": gw.image_models})


def _check(value: Any, descriptor: Any, key: str) -> None:
    kind = descriptor.get("type") if isinstance(descriptor, dict) else None
    if kind == _ENUM and str(value) not in [str(v) for v in descriptor.get("values", [])]:
        raise bad_request(f"{key}: '{value}' is not one of {descriptor['values']}")
    if kind == "range":
        low, high = descriptor.get("min"), descriptor.get("max")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"{key} must be a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad_request(f"{key} must be {low}-{high}")
    if kind == "boolean" and not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false")


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = rec.json
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object body")
    model = str(body.get("model") or "")
    entry = next((m for m in gw.image_models if m.get("id") == model), None)
    if entry is None:
        raise bad_request(f"{model} is not an Image API model", "model_not_found")
    params = entry.get("supported_parameters") or {}
    for key, value in body.items():
        if key in _FREE:
            continue
        if key not in params:
            raise bad_request(f"{model} does not support the parameter '{key}'", "unsupported")
        _check(value, params[key], key)
    count = as_int(body.get("n"), 1)
    size = parse_wxh(body.get("size")) or chat_pixels(
        body.get("aspect_ratio"), body.get("resolution") or body.get("size"), gemini25_table=False
    )
    fmt = (
        body.get("output_format") if body.get("output_format") in ("png", "jpeg", "webp") else None
    )
    alpha = body.get("background") == "transparent"
    look = Look(str(body.get("prompt") or ""), body.get("seed"))
    if not gw.sleep(gw.latency):
        raise Abort
    if body.get("stream") is True:
        return openai_images.stream_reply(
            gw,
            body,
            fault,
            "generations",
            size,
            _usage(gw, 1),
            event_lines=False,
            done=True,
            fmt=fmt,
            alpha=alpha,
            look=look,
        )
    images = gw.images(count, *size, fault, raw_b64=True, fmt=fmt, alpha=alpha, look=look)
    media = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[fmt or "png"]
    usage = _usage(gw, max(1, count))
    return json_reply(
        200,
        {
            "created": int(time.time()),
            "data": [{"b64_json": b64, "media_type": media} for b64 in images],
            "usage": usage,
        },
    )
