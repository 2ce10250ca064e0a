"""Together, xAI and Recraft as the fake gateway serves them, each under its own path
prefix (`/together/v1`, `/xai/v1`, `/recraft/v1`: point base_url there): the OpenAI-style
`images/generations` with each one's fields checked, Bearer keys, Recraft's `*_vector`
models answering SVG; and their edits the way each documents them: Together's `image_url` /
`reference_images` on the generations endpoint, xAI's JSON `/images/edits`, Recraft's
multipart `imageToImage` and `inpaint` (a black-and-white mask of the image's size).
Sources: the module docstring of imggen/dialects/vendors.py."""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import time
from typing import TYPE_CHECKING, Any

from imggen.files import imagefile
from imggen.testing.protocol import (
    Abort,
    Fault,
    HTTPError,
    Recorded,
    Reply,
    error_reply,
    json_reply,
)

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

XAI_ASPECTS = (
    "1:1",
    "3:4",
    "4:3",
    "9:16",
    "16:9",
    "2:3",
    "3:2",
    "9:20",
    "20:9",
    "1:2",
    "2:1",
    "auto",
)
RECRAFT_SIZES = (
    "1024x1024 1365x1024 1024x1365 1536x1024 1024x1536 1820x1024 1024x1820 1024x2048 "
    "2048x1024 1434x1024 1024x1434 1024x1280 1280x1024 1024x1707 1707x1024"
).split()
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'width="%d" height="%d" viewBox="0 0 %d %d"><rect width="100%%" height="100%%" '
    b'fill="#c85028"/><circle cx="50%%" cy="50%%" r="25%%" fill="#fff"/></svg>\n'
)


def _refuse(status: int, message: str) -> HTTPError:
    return HTTPError(error_reply(status, message, "invalid_request_error"))


def _body(gw: FakeGateway, rec: Recorded) -> dict[str, Any]:
    scheme, _, token = rec.headers.get("authorization", "").partition(" ")
    if gw.api_key is not None and (scheme.lower() != "bearer" or token.strip() != gw.api_key):
        raise HTTPError(
            error_reply(401, "Invalid API key", "invalid_request_error", "invalid_api_key")
        )
    if not isinstance(rec.json, dict) or not rec.json.get("prompt"):
        raise _refuse(400, "prompt is required")
    if gw.refuse_safety:
        raise HTTPError(
            error_reply(
                400,
                "Your request was rejected by the safety system.",
                code="content_policy_violation",
            )
        )
    if not gw.sleep(gw.latency):
        raise Abort
    return rec.json


def _count(body: dict[str, Any], most: int) -> int:
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= most:
        raise _refuse(400, f"n must be an integer from 1 to {most}")
    return n


def _reply(images: list[dict[str, str]]) -> Reply:
    return json_reply(200, {"created": int(time.time()), "data": images})


# Together's models that take an input image, and in which field (reference-images page)
TOGETHER_IMAGE_URL = re.compile(r"(?i)kontext|flux\.2-(pro|flex)")
TOGETHER_REFERENCES = re.compile(r"(?i)flux\.2|gemini")


def together(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = _body(gw, rec)
    if "size" in body:
        raise _refuse(400, "size is not a parameter here: use width and height")
    width, height = int(body.get("width", 1024)), int(body.get("height", 1024))
    if width % 8 or height % 8 or not (64 <= width <= 1792 and 64 <= height <= 1792):
        raise _refuse(400, "width and height must be multiples of 8 between 64 and 1792")
    model = str(body.get("model", ""))
    if "image_url" in body:
        if not TOGETHER_IMAGE_URL.search(model):
            raise _refuse(400, f"image_url is not supported by model {model}")
        _check_image_ref(body["image_url"], "image_url")
    if "reference_images" in body:
        refs = body["reference_images"]
        if not TOGETHER_REFERENCES.search(model):
            raise _refuse(400, f"reference_images is not supported by model {model}")
        if not isinstance(refs, list) or not refs:
            raise _refuse(400, "reference_images must be a non-empty list of image URLs")
        for ref in refs:
            _check_image_ref(ref, "reference_images")
    n = _count(body, 4)
    url = body.get("response_format") != "base64"
    found = gw.images(n, width, height, fault, as_url=url, raw_b64=not url)
    kind = "url" if url else "b64_json"
    return json_reply(
        200,
        {
            "id": f"img-{int(time.time() * 1000)}",
            "model": model,
            "object": "list",
            "data": [{"index": i, kind: item, "type": kind} for i, item in enumerate(found)],
        },
    )


def _check_image_ref(value: Any, name: str) -> None:
    """An image given by reference: an http(s) URL, or a data URI whose base64 is an image."""
    text = value if isinstance(value, str) else ""
    if text.startswith(("https://", "http://")):
        return
    head, _, data = text.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        raise _refuse(400, f"{name} must be an image URL or a base64 data URI")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(400, f"{name}: invalid base64 image data") from None
    if imagefile.sniff(raw[:32]) is None:
        raise _refuse(400, f"{name}: the data is not an image")


def xai(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = _body(gw, rec)
    if "size" in body:
        raise _refuse(400, "Argument not supported: size")
    aspect = body.get("aspect_ratio", "1:1")
    if aspect not in XAI_ASPECTS:
        raise _refuse(400, f"Invalid aspect_ratio {aspect}")
    side = {"1k": 1024, "2k": 2048}.get(body.get("resolution", "1k"))
    if side is None:
        raise _refuse(400, "resolution must be 1k or 2k")
    a, b = (int(x) for x in (aspect if aspect != "auto" else "1:1").split(":"))
    width, height = (side, side * b // a) if a >= b else (side * a // b, side)
    if path.endswith("/edits"):
        # xAI edits are JSON: `image` {url} or `images` [{url}] (up to 3, not both), never
        # multipart; each url a public URL or a base64 data URI
        if "image" in body and "images" in body:
            raise _refuse(400, "image and images are mutually exclusive")
        given = [body["image"]] if isinstance(body.get("image"), dict) else body.get("images")
        if not isinstance(given, list) or not 1 <= len(given) <= 3:
            raise _refuse(400, "image (or images, up to 3) is required for an edit")
        for one in given:
            _check_image_ref(one.get("url") if isinstance(one, dict) else None, "image.url")
    n = _count(body, 10)
    b64 = body.get("response_format") == "b64_json"
    found = gw.images(n, width, height, fault, as_url=not b64, raw_b64=b64)
    return _reply([{"b64_json" if b64 else "url": item} for item in found])


def recraft_i2i(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """Recraft's image-to-image: multipart, one `image`, a required `strength` in [0, 1]."""
    fields, size = _recraft_edit(gw, rec)
    try:
        strength = float(fields.get("strength", ""))
    except ValueError:
        raise _refuse(400, "strength is required: a number from 0 to 1") from None
    if not 0 <= strength <= 1:
        raise _refuse(400, "strength must be from 0 to 1")
    if not gw.sleep(gw.latency):
        raise Abort
    body: dict[str, Any] = {**fields, "n": _form_n(fields), "size": size}
    return _recraft_reply(gw, body, fault)


def recraft_inpaint(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """Recraft's inpaint: multipart `image` and `mask`, the mask a grayscale image of exactly
    the image's size whose every pixel is white (regenerate) or black (keep)."""
    fields, size = _recraft_edit(gw, rec)
    masks = rec.uploads.get("mask", [])
    if len(masks) != 1:
        raise _refuse(400, "mask is required (multipart/form-data)")
    _check_black_and_white(masks[0], size)
    if not gw.sleep(gw.latency):
        raise Abort
    body: dict[str, Any] = {**fields, "n": _form_n(fields), "size": size}
    return _recraft_reply(gw, body, fault)


def _recraft_edit(gw: FakeGateway, rec: Recorded) -> tuple[dict[str, str], str]:
    """The key, the form's fields and its one `image` (PNG/JPG/WEBP, sides 256-4096 px, at
    most 16 MP): the fields, and the image's size as WxH."""
    _key(gw, rec)
    images = rec.uploads.get("image", [])
    if rec.form is None or len(images) != 1:
        raise _refuse(400, "image is required (multipart/form-data)")
    fields = {k: v[-1] for k, v in rec.form.items()}
    if not fields.get("prompt"):
        raise _refuse(400, "prompt is required")
    data = images[0]
    if imagefile.sniff(data[:32]) not in ("image/png", "image/jpeg", "image/webp"):
        raise _refuse(400, "image must be PNG, JPG or WEBP")
    found = imagefile.dimensions(io.BytesIO(data))
    if found is None:
        raise _refuse(400, "image could not be read")
    w, h = found
    if not (256 <= w <= 4096 and 256 <= h <= 4096) or w * h > 16 * 1024 * 1024:
        raise _refuse(400, f"image is {w}x{h}: sides must be 256-4096 px, at most 16 MP")
    return fields, f"{w}x{h}"


def _check_black_and_white(data: bytes, size: str) -> None:
    from imggen.files.maskpng import rows

    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise _refuse(400, "mask must be a grayscale PNG")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if f"{width}x{height}" != size:
        raise _refuse(400, f"mask is {width}x{height}; it must be the image's size, {size}")
    if (depth, colour) != (8, 0):
        raise _refuse(400, "mask must be an 8-bit grayscale image")
    try:
        if any(row.strip(b"\x00\xff") for row in rows(data, width, height, 1)):
            raise _refuse(400, "every mask pixel must be black (0) or white (255)")
    except ValueError:
        raise _refuse(400, "mask could not be read") from None


def _form_n(fields: dict[str, str]) -> int:
    try:
        return int(fields.get("n", "1"))
    except ValueError:
        raise _refuse(400, "n must be an integer from 1 to 6") from None


def recraft(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    body = _body(gw, rec)
    if body.get("size", "1024x1024") not in RECRAFT_SIZES:
        raise _refuse(400, f"Invalid size {body.get('size')}")
    return _recraft_reply(gw, body, fault)


def _recraft_reply(gw: FakeGateway, body: dict[str, Any], fault: Fault | None) -> Reply:
    size = str(body.get("size", "1024x1024"))
    n = _count(body, 6)
    width, height = (int(x) for x in size.split("x"))
    b64 = body.get("response_format") == "b64_json"
    if str(body.get("model", "")).endswith("_vector"):
        data = SVG % (width, height, width, height)
        out = []
        for _ in range(n):
            if b64:
                out.append({"b64_json": base64.b64encode(data).decode()})
            else:
                out.append({"url": gw.file_url(gw.put_file(data, "image/svg+xml", "svg"))})
        return _reply(out)
    found = gw.images(n, width, height, fault, as_url=not b64, raw_b64=b64)
    return _reply([{"b64_json" if b64 else "url": item} for item in found])


def together_models(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """Together's GET /v1/models: a bare list whose `type` says what each model makes
    (https://docs.together.ai/reference/models-1)."""
    _key(gw, rec)
    listed = [
        {"id": "black-forest-labs/FLUX.1-schnell", "object": "model", "type": "image"},
        {"id": "black-forest-labs/FLUX.1-dev", "object": "model", "type": "image"},
        {"id": "black-forest-labs/FLUX.1-kontext-pro", "object": "model", "type": "image"},
        {"id": "black-forest-labs/FLUX.2-pro", "object": "model", "type": "image"},
        {"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "type": "chat"},
    ]
    return json_reply(200, listed)


def xai_models(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """xAI's GET /v1/models: OpenAI's list shape, nothing said about output."""
    _key(gw, rec)
    ids = ("grok-4", "grok-imagine-image", "grok-imagine-image-quality")
    return json_reply(
        200,
        {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "xai"} for m in ids]},
    )


def _key(gw: FakeGateway, rec: Recorded) -> None:
    scheme, _, token = rec.headers.get("authorization", "").partition(" ")
    if gw.api_key is not None and (scheme.lower() != "bearer" or token.strip() != gw.api_key):
        raise HTTPError(
            error_reply(401, "Invalid API key", "invalid_request_error", "invalid_api_key")
        )


def recraft_models(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """Recraft has no models API."""
    _key(gw, rec)
    raise HTTPError(error_reply(404, "Not found", "invalid_request_error", "not_found"))
