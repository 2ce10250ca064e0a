"""OpenAI's images API as its published specification describes it
(shared/references/openai-images-api.md): per-model field rules answered with a 400, and
streamed partial images (`event:` lines, no `[DONE]`). Also the streams of OpenRouter's Image
API (data-only, ending in `[DONE]`), which share the event names."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from imggen.testing.protocol import Fault, Look, Reply, as_int, bad_request, parse_wxh

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

# most specific first
MODELS = (
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-1",
    "gpt-image-2",
    "chatgpt-image-latest",
    "dall-e-3",
    "dall-e-2",
)
_GPT_FIXED = {(1024, 1024), (1536, 1024), (1024, 1536)}
FIXED_SIZES: dict[str, set[tuple[int, int]]] = {
    "dall-e-2": {(256, 256), (512, 512), (1024, 1024)},
    "dall-e-3": {(1024, 1024), (1792, 1024), (1024, 1792)},
    "gpt-image-1": _GPT_FIXED,
    "gpt-image-1-mini": _GPT_FIXED,
    "gpt-image-1.5": _GPT_FIXED,
    "chatgpt-image-latest": _GPT_FIXED,
}
GPT_ONLY = (
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "stream",
    "partial_images",
    "input_fidelity",
)
DALLE_ONLY = ("style", "response_format")
# every field OpenAI's images API takes (shared/references/openai-images-api.md); anything else
# is answered "Unknown parameter"
KNOWN_FIELDS = {
    "generations": {"model", "prompt", "n", "size", "quality", "user", *GPT_ONLY, *DALLE_ONLY},
    "edits": {
        "model", "prompt", "n", "size", "quality", "user", "image", "image[]", "mask",
        *GPT_ONLY, *DALLE_ONLY,
    },
}  # fmt: skip
MAX_N = {"dall-e-3": 1}  # every other model: 1-10
SSE_PIECE = 4096


def model_name(model: str) -> str | None:
    """The OpenAI model a request names ("gpt-image-1", "openai/dall-e-3"); None for others
    (Turing's "turing/gpt-image-2" keeps Turing's rules)."""
    base = model.removeprefix("openai/")
    if "/" in base:
        return None
    return next((m for m in MODELS if base.startswith(m)), None)


def _unknown(key: str) -> Exception:
    return bad_request(f"Unknown parameter: '{key}'.", "unknown_parameter", key)


def check(body: dict[str, Any], route: str, images: int) -> None:
    """400 for what the named OpenAI model does not take; nothing for other models."""
    name = model_name(str(body.get("model") or ""))
    if name is None:
        return
    for key in body:
        if key not in KNOWN_FIELDS[route]:
            raise _unknown(key)
    n = as_int(body.get("n"), 1)
    top = MAX_N.get(name, 10)
    if not 1 <= n <= top:
        raise bad_request(
            f"Invalid 'n': integer above maximum value. Expected a value <= {top}, but got {n} "
            "instead."
            if n > top
            else f"Invalid 'n': expected a value >= 1, but got {n}.",
            "integer_above_max_value" if n > top else "integer_below_min_value",
            "n",
        )
    wxh = parse_wxh(body.get("size"))
    size = body.get("size")
    quality = body.get("quality")
    if name.startswith("dall-e"):
        for key in GPT_ONLY:
            if key in body:
                raise _unknown(key)
        if name == "dall-e-3":
            if route == "edits":
                raise bad_request("dall-e-3 does not support image edits", "invalid_model")
            if n != 1:
                raise bad_request("dall-e-3 only supports n=1", "invalid_value")
            if quality not in (None, "standard", "hd"):
                raise bad_request(f"Invalid quality '{quality}' for dall-e-3", "invalid_value")
        else:
            if "style" in body:
                raise _unknown("style")
            if quality not in (None, "standard"):
                raise bad_request(f"Invalid quality '{quality}' for dall-e-2", "invalid_value")
            if route == "edits" and images != 1:
                raise bad_request("dall-e-2 edits take exactly one image", "invalid_value")
    else:
        for key in DALLE_ONLY:
            if key in body:
                raise _unknown(key)
        if name == "chatgpt-image-latest" and route == "generations":
            raise bad_request("chatgpt-image-latest is an edit model", "invalid_model")
        if quality not in (None, "low", "medium", "high", "auto"):
            raise bad_request(f"Invalid quality '{quality}'", "invalid_value")
        fmt = body.get("output_format") or "png"
        if body.get("background") == "transparent" and fmt not in ("png", "webp"):
            raise bad_request("transparent background requires png or webp", "invalid_value")
        if not 0 <= as_int(body.get("partial_images"), 0) <= 3:
            raise bad_request("partial_images must be 0-3", "invalid_value")
        if route == "edits" and "moderation" in body:
            raise _unknown("moderation")
        if route == "generations" and "input_fidelity" in body:
            raise _unknown("input_fidelity")
        if route == "edits" and name == "gpt-image-1-mini" and "input_fidelity" in body:
            raise bad_request("input_fidelity is not supported by gpt-image-1-mini")
        if route == "edits" and images > 16:
            raise bad_request("at most 16 images may be edited", "invalid_value")
    if name == "gpt-image-2" and wxh is not None:
        check_gpt_image_2(*wxh)
    if size not in (None, "auto") or name.startswith("dall-e") and size == "auto":
        if wxh is None or (name in FIXED_SIZES and wxh not in FIXED_SIZES[name]):
            raise bad_request(f"Invalid size '{size}' for {name}", "invalid_size")


def check_gpt_image_2(width: int, height: int) -> None:
    """OpenAI's gpt-image-2 sizes: sides multiples of 16, the long side at most 3840, at most
    3:1, at most 8,294,400 pixels (OpenAI states no floor; Turing's is in images_api)."""
    problems = []
    if width % 16 or height % 16:
        problems.append("both sides must be multiples of 16")
    if max(width, height) > 3840:
        problems.append("the long side must be <= 3840")
    if max(width / height, height / width) > 3:
        problems.append("the aspect ratio must be <= 3:1")
    if width * height > 8_294_400:
        problems.append("total pixels must be <= 8,294,400")
    if problems:
        raise bad_request(f"Invalid size {width}x{height}: " + "; ".join(problems), "invalid_size")


def stream_reply(
    gw: FakeGateway,
    body: dict[str, Any],
    fault: Fault | None,
    route: str,
    size: tuple[int, int],
    usage: dict[str, Any],
    *,
    event_lines: bool,
    done: bool,
    fmt: str | None = None,
    alpha: bool = False,
    look: Look | None = None,
) -> Reply:
    """A streamed image: `partial_images` previews, then the completed image with its usage
    (or an error event for the stream_error fault). OpenAI names each event in an `event:`
    line too and sends no [DONE]; OpenRouter sends data lines only and ends with [DONE]."""
    prefix = "image_edit" if route == "edits" else "image_generation"
    pieces: list[bytes] = []
    quality = body.get("quality")
    # what OpenAI's stream events carry besides the image (the openai SDK's types require them)
    said = {
        "created_at": int(time.time()),
        "background": "transparent" if alpha else "opaque",
        "output_format": fmt or "png",
        "quality": quality if quality in ("low", "medium", "high") else "high",
        "size": f"{size[0]}x{size[1]}",
    }

    def event(obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        head = b"event: " + str(obj["type"]).encode() + b"\n" if event_lines else b""
        raw = head + b"data: " + data + b"\n\n"
        pieces.extend(raw[i : i + SSE_PIECE] for i in range(0, len(raw), SSE_PIECE))

    for k in range(as_int(body.get("partial_images"), 0)):
        (b64,) = gw.images(1, *size, None, raw_b64=True, fmt=fmt, alpha=alpha, look=look)
        event(
            {
                "type": f"{prefix}.partial_image",
                "partial_image_index": k,
                "b64_json": b64,
                **said,
            }
        )
    if fault is not None and fault.kind == "stream_error":
        message = fault.body or "The image could not be generated"
        event({"type": "error", "error": {"message": message, "code": "server_error"}})
    else:
        (b64,) = gw.images(1, *size, fault, raw_b64=True, fmt=fmt, alpha=alpha, look=look) or [""]
        event({"type": f"{prefix}.completed", "b64_json": b64, **said, "usage": usage})
    if done:
        pieces.append(b"data: [DONE]\n\n")
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    return Reply(200, headers, pieces=pieces)
