"""POST chat/completions in every chat dialect the seeds describe: OpenRouter style (Knox,
OpenRoute, Trinity), Trinity's URL replies, XTY's extra_body and markdown links, and Gemini's
camelCase imageConfig; JSON or SSE."""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from imggen.testing.protocol import (
    NO_IMAGE_TEXT,
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
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

MAX_CHOICES = 10  # n: images (XTY: choices) one request may ask for
# Usage block of every successful chat reply.
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 1290, "total_tokens": 1300}
SSE_KEEPALIVE = b": OPENROUTER PROCESSING\n\n"  # 001/003: OpenRouter-style keep-alive comment
SSE_PIECE = 64 * 1024  # the image event goes out in pieces of this size
# 000_aa690c4b979c8ccf.txt: image_config keys only Trinity knows; Trinity refuses stream:true.
TRINITY_ONLY_KEYS = (
    "output_format",
    "output_image_format",
    "reference_images",
    "person_generation",
)

# 002_b08cd22946c7f3fa.txt "Gemini 2.5 Flash Image" table; 004_dc1c18c6c71477df.txt has the same
# table. One size per aspect ratio whatever the tier.
GEMINI_25_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# 002_b08cd22946c7f3fa.txt "Gemini 3 Pro Image / Gemini 3.1 Flash Image" table, 1K column;
# 2K and 4K are exactly 2x and 4x, 512 is half of 1K.
GEMINI_3_1K_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
# OpenRouter names the 512 tier "0.5K" (shared/references/openrouter-image-api.md)
TIER_SCALE = {"512": 0.5, "0.5K": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}


def chat_pixels(aspect: Any, tier: Any, *, gemini25_table: bool) -> tuple[int, int]:
    """Pixel size for a Gemini-family aspect ratio and tier (defaults 1:1, 1K)."""
    aspect = str(aspect or "1:1").strip()
    tier = str(tier or "1K").strip().upper()
    if tier not in TIER_SCALE:
        raise bad_request(f"invalid image_size {tier!r}; expected one of 512, 1K, 2K, 4K")
    table = GEMINI_25_SIZES if gemini25_table else GEMINI_3_1K_SIZES
    if aspect in table:
        width, height = table[aspect]
    else:
        match = re.fullmatch(r"(\d+):(\d+)", aspect)
        if not match or not int(match[1]) or not int(match[2]):
            raise bad_request(f"invalid aspect_ratio {aspect!r}")
        # Not in the seed tables: about a megapixel, sides multiples of 16.
        ratio = int(match[1]) / int(match[2])
        width = max(16, round(math.sqrt(1024 * 1024 * ratio) / 16) * 16)
        height = max(16, round(math.sqrt(1024 * 1024 / ratio) / 16) * 16)
    if gemini25_table:
        return width, height  # one size per aspect ratio regardless of tier
    scale = TIER_SCALE[tier]
    return max(1, round(width * scale)), max(1, round(height * scale))


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = rec.json
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object body")
    model = str(body.get("model") or "")
    if not gw.knows(model):
        raise HTTPError(
            error_reply(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        )
    stream = body.get("stream") is True
    count = as_int(body.get("n"), 1)
    if not 1 <= count <= MAX_CHOICES:
        raise bad_request(f"n must be 1-{MAX_CHOICES}, not {count}", "invalid_value")
    shape, size, mime_label = _shape(body, model, stream)
    if not gw.sleep(gw.latency):
        raise Abort
    as_url = shape in ("xty", "trinity_url")
    images = gw.images(
        count,
        *size,
        fault,
        as_url=as_url,
        mime_label=mime_label,
        look=Look(prompt_of(body), body.get("seed")),
    )
    no_image_text = (fault.body or NO_IMAGE_TEXT) if fault and fault.kind == "no_image" else None
    usage = gw.usage(CHAT_USAGE, len(images))
    base = {
        "id": f"gen-{secrets.token_hex(8)}",
        "model": model,
        "created": int(time.time()),
    }
    if stream:
        truncated = fault is not None and fault.kind == "truncate_sse"
        return sse_reply(base, shape, images, no_image_text, truncated, usage)
    return json_reply(
        200,
        {
            **base,
            "object": "chat.completion",
            "choices": chat_choices(shape, images, no_image_text),
            "usage": usage,
        },
    )


def _shape(
    body: dict[str, Any], model: str, stream: bool
) -> tuple[str, tuple[int, int], str | None]:
    """Which seed's chat style the body speaks, the pixels it asks for, and the mime type a
    Gemini-style body names."""
    image_config = body.get("image_config")
    image_config = image_config if isinstance(image_config, dict) else None
    extra = body.get("extra_body")
    google = extra.get("google") if isinstance(extra, dict) else None
    xty_config = google.get("image_config") if isinstance(google, dict) else None
    camel = body.get("imageConfig")
    mime_label: str | None = None

    if stream and image_config and any(k in image_config for k in TRINITY_ONLY_KEYS):
        # 000_aa690c4b979c8ccf.txt: image requests must not stream.
        raise HTTPError(
            error_reply(
                400,
                "stream=true is not supported for image generation",
                "invalid_request",
                "invalid_request",
            )
        )
    if isinstance(xty_config, dict):
        # 004_dc1c18c6c71477df.txt: options in extra_body.google.image_config, n choices,
        # images as markdown links to URLs that expire after an hour; single size table.
        shape = "xty"
        size = chat_pixels(
            xty_config.get("aspect_ratio"), xty_config.get("image_size"), gemini25_table=True
        )
    elif isinstance(camel, dict):
        # 002_b08cd22946c7f3fa.txt: Turing Gemini, camelCase imageConfig.
        shape = "gemini25" if "2.5" in model else "gemini3"
        size = chat_pixels(
            camel.get("aspectRatio"), camel.get("imageSize"), gemini25_table="2.5" in model
        )
        options = camel.get("imageOutputOptions")
        if isinstance(options, dict) and isinstance(options.get("mimeType"), str):
            mime_label = options["mimeType"]
    else:
        # 000 (Trinity url / base64), 001 Knox, 003 OpenRoute: image_config snake_case.
        config = image_config or {}
        shape = "trinity_url" if config.get("output_format") == "url" else "openrouter"
        size = chat_pixels(
            config.get("aspect_ratio"), config.get("image_size"), gemini25_table="2.5" in model
        )
    return shape, size, mime_label


def prompt_of(body: dict[str, Any]) -> str:
    """The last user message's text (a string, or its text parts)."""
    messages = body.get("messages")
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text") for p in content if isinstance(p, dict)]
            return " ".join(t for t in texts if isinstance(t, str))
    return ""


# ---- response ------------------------------------------------------------------------------


def chat_choices(shape: str, images: list[str], no_image_text: str | None) -> list[dict[str, Any]]:
    def choice(index: int, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"index": index, "message": message, **extra, "finish_reason": "stop"}

    if no_image_text is not None:
        return [choice(0, {"role": "assistant", "content": no_image_text})]
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    if shape == "xty":
        # 004_dc1c18c6c71477df.txt: one choice per image, the image inside the text.
        return [
            choice(i, {"role": "assistant", "content": f"这是第 {i + 1} 张图片:![image]({url})"})
            for i, url in enumerate(images)
        ]
    if shape == "gemini25":
        # 002_b08cd22946c7f3fa.txt: gemini-2.5-flash-image puts the image in content parts.
        content: list[dict[str, Any]] = [{"type": "text", "text": "Here's your image!"}]
        content += [
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}} for url in images
        ]
        return [choice(0, {"role": "assistant", "content": content})]
    if shape == "gemini3":
        # 002_b08cd22946c7f3fa.txt: Gemini 3.x puts images at choice level, content empty.
        return [choice(0, {"role": "assistant", "content": []}, images=parts)]
    # 000 (Trinity), 001 (Knox), 003 (OpenRoute): message.images.
    text = "已为你生成图片。" if shape == "trinity_url" else "I've generated an image for you."
    return [choice(0, {"role": "assistant", "content": text, "images": parts})]


def sse_reply(
    base: dict[str, Any],
    shape: str,
    images: list[str],
    no_image_text: str | None,
    truncated: bool,
    usage: dict[str, Any],
) -> Reply:
    """SSE stream per 001/003 (delta.images) and 002 (Gemini content parts / delta.images)."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

    def delta(payload: dict[str, Any], index: int = 0) -> bytes:
        return event([{"index": index, "delta": payload, "finish_reason": None}])

    pieces = [SSE_KEEPALIVE, delta({"role": "assistant", "content": ""})]
    if not truncated:
        pieces.append(delta({"content": "Here is"}))
        image_events: list[bytes] = []
        parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
        if no_image_text is not None:
            image_events.append(delta({"content": no_image_text}))
        elif shape == "gemini25":
            image_events.append(delta({"content": parts}))
        elif shape == "gemini3":
            image_events.append(delta({"content": [], "images": parts}))
        elif shape == "xty":
            image_events += [
                delta({"content": f"这是第 {i + 1} 张图片:![image]({url})"}, i)
                for i, url in enumerate(images)
            ]
        else:
            image_events.append(delta({"images": parts}))
        for data in image_events:
            # Several writes, so the client sees the event split mid-line.
            pieces += [data[i : i + SSE_PIECE] for i in range(0, len(data), SSE_PIECE)]
        pieces.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=usage))
        pieces.append(b"data: [DONE]\n\n")
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    return Reply(200, headers, pieces=pieces)
