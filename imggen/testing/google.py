"""Google's Gemini API and Vertex AI as the fake gateway serves them: `models/M:generateContent`,
`:streamGenerateContent?alt=sse` and `GET .../v1beta/models`, the key checked Google's way
(x-goog-api-key or ?key= on the Gemini API, a Bearer token on Vertex's projects/... path),
Google's error shape, and a safety refusal (gw.refuse_safety).

Sources: googleapis/python-genai google/genai/types.py (GenerateContentResponse, Candidate,
FinishReason, ImageConfig); https://ai.google.dev/gemini-api/docs/troubleshooting (error
statuses); the 400 API_KEY_INVALID body as quoted in continuedev/continue#8516; the 404
wording as quoted in google/adk-python#200; https://ai.google.dev/api/models (models.list:
name, displayName, supportedGenerationMethods)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from imggen.testing.protocol import Abort, Fault, HTTPError, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

MODELS = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview")
ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
EXTENDED = ("1:4", "4:1", "1:8", "8:1")  # 3.1 Flash Image only
SSE_PIECE = 4096
SIDE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


def google_error(status: int, code: str, message: str, **extra: Any) -> HTTPError:
    return HTTPError(
        json_reply(status, {"error": {"code": status, "message": message, "status": code, **extra}})
    )


def check_key(gw: FakeGateway, rec: Recorded) -> None:
    """Vertex (a projects/... path): Authorization Bearer; the Gemini API: x-goog-api-key or
    the key query parameter."""
    if gw.api_key is None:
        return
    if "/projects/" in rec.path:
        scheme, _, token = rec.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != gw.api_key:
            raise google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        return
    key = rec.headers.get("x-goog-api-key") or rec.query.get("key")
    if not key:
        raise google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers "
            "without established identity). Please use API Key or other form of API consumer "
            "identity to call this API.",
        )
    if key != gw.api_key:
        raise google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            details=[
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        )


def generate(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    check_key(gw, rec)
    model, _, method = path.rsplit("/", 1)[-1].partition(":")
    if model not in MODELS:
        raise google_error(
            404,
            "NOT_FOUND",
            f"models/{model} is not found for API version v1beta, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their "
            "supported methods.",
        )
    body = rec.json
    contents = body.get("contents") if isinstance(body, dict) else None
    if not isinstance(contents, list) or not contents:
        raise google_error(
            400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
        )
    config = body.get("generationConfig") or {}
    image = config.get("imageConfig") or {}
    aspect = image.get("aspectRatio", "1:1")
    takes = ASPECTS + (EXTENDED if model.startswith("gemini-3.1") else ())
    if aspect not in takes:
        raise google_error(400, "INVALID_ARGUMENT", f"Unsupported aspect ratio: {aspect}")
    tier = image.get("imageSize", "1K")
    if tier not in SIDE or (model.startswith("gemini-2.5") and "imageSize" in image):
        raise google_error(400, "INVALID_ARGUMENT", f"Unsupported image size: {tier}")
    if not gw.sleep(gw.latency):
        raise Abort
    width, height = _pixels(model, aspect, tier)
    chunks = _chunks(gw, width, height, fault)
    if method == "streamGenerateContent":
        return _sse(chunks)
    return json_reply(200, _merged(chunks))


def _pixels(model: str, aspect: str, tier: str) -> tuple[int, int]:
    """Google's published pixels for the aspect and tier (imggen's tables), else computed."""
    from imggen.sizes import RULES

    rule = "gemini-2.5" if model.startswith("gemini-2.5") else "gemini-3"
    found = RULES[rule].table.get((aspect, tier))
    if found:
        return found
    a, b = (int(x) for x in aspect.split(":"))
    side = SIDE[tier]
    return (side, max(1, side * b // a)) if a >= b else (max(1, side * a // b), side)


def _chunks(gw: FakeGateway, width: int, height: int, fault: Fault | None) -> list[dict[str, Any]]:
    """The reply as stream chunks: words, the image, then the finish and usage."""
    usage = {"promptTokenCount": 9, "candidatesTokenCount": 1290, "totalTokenCount": 1299}
    if gw.refuse_safety:
        stop = {
            "finishReason": "IMAGE_SAFETY",
            "finishMessage": "The image was blocked for safety.",
            "index": 0,
        }
        return [{"candidates": [stop], "usageMetadata": usage}]
    words = {"content": {"role": "model", "parts": [{"text": "Here is your image."}]}, "index": 0}
    found = gw.images(1, width, height, fault, raw_b64=True)
    parts = [{"inlineData": {"mimeType": "image/png", "data": b64}} for b64 in found]
    picture = {"content": {"role": "model", "parts": parts}, "index": 0}
    end = {"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": 0}
    return [
        {"candidates": [words]},
        {"candidates": [picture]},
        {"candidates": [end], "usageMetadata": usage, "modelVersion": "fake"},
    ]


def _merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    parts: list[Any] = []
    last: dict[str, Any] = {}
    for chunk in chunks:
        for cand in chunk["candidates"]:
            parts += cand.get("content", {}).get("parts", [])
            last = cand
    cand = {k: v for k, v in last.items() if k != "content"}
    if parts:
        cand["content"] = {"role": "model", "parts": parts}
    out: dict[str, Any] = {"candidates": [cand]}
    out.update({k: v for k, v in chunks[-1].items() if k != "candidates"})
    return out


def _sse(chunks: list[dict[str, Any]]) -> Reply:
    pieces: list[bytes] = []
    for chunk in chunks:
        raw = b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
        pieces.extend(raw[i : i + SSE_PIECE] for i in range(0, len(raw), SSE_PIECE))
    return Reply(200, {"Content-Type": "text/event-stream"}, pieces=pieces)


def models(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    check_key(gw, rec)
    listed = [
        {
            "name": f"models/{m}",
            "displayName": m,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for m in (*MODELS, "gemini-2.5-flash", "text-embedding-004")
    ]
    listed[-1]["supportedGenerationMethods"] = ["embedContent"]
    return json_reply(200, {"models": listed})


def no_listing(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """Vertex AI lists publisher models in its Model Garden, not under a project's path."""
    check_key(gw, rec)
    raise google_error(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
