"""Google's Gemini API natively, and the same models on Vertex AI: `generateContent`.

Wire facts, with their public sources:
- `POST {base}/models/{model}:generateContent`; streamed, `:streamGenerateContent?alt=sse`
  gives `data: {GenerateContentResponse}` lines and no [DONE]: googleapis/python-genai
  google/genai/_api_client.py (the SSE reader), models.py (the two methods);
  https://ai.google.dev/api/generate-content
- Request `contents[].parts[]` (`text`, `inlineData{mimeType, data}`), `generationConfig`
  {`responseModalities` ["TEXT", "IMAGE"], `imageConfig` {`aspectRatio`, `imageSize`}, `seed`}:
  python-genai google/genai/types.py (Part, Blob, GenerationConfig, ImageConfig, Modality);
  https://ai.google.dev/gemini-api/docs/image-generation
- Reply `candidates[].content.parts[]` (`text`, `inlineData`, `thought`), `finishReason`,
  `promptFeedback.blockReason`, `usageMetadata`: types.py (GenerateContentResponse, Candidate,
  FinishReason, BlockedReason); the FinishReason values below are its enum's.
- Vertex AI serves the same body at `https://LOCATION-aiplatform.googleapis.com/v1/projects/
  PROJECT/locations/LOCATION/publishers/google/models/MODEL:generateContent`:
  https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from imggen.dialects.base import Reading, deep_merge, fan_out, payload
from imggen.errors import ContentFiltered, InputError
from imggen.job import Gateway, HttpCall, ImageInput, Job, Reply
from imggen.sizes import Resolved

# types.py FinishReason / BlockedReason: the provider stopped for safety or policy.
SAFETY_STOPS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
SHAPE = "candidates[].content.parts[].inlineData"
STREAMED = f"delta.{SHAPE}"  # as streamed (doctor tells the two apart by the delta. prefix)


@dataclass(frozen=True)
class GoogleDialect(Reading):
    name: str = "google"
    can_stream: bool = True
    no_stream_why: str = ""
    formats: tuple[str, ...] = ()  # the Gemini API has no output format field
    takes: frozenset[str] = frozenset({"aspect", "size", "seed", "refs", "inputs"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        parts: list[dict[str, Any]] = [{"text": job.prompt}]
        parts += [_inline(img, gw) for img in (*job.inputs, *job.refs)]
        config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        image: dict[str, Any] = {}
        if res.aspect:
            image["aspectRatio"] = res.aspect
        # Gemini 2.5 Flash Image has one size (1K) and no imageSize in Google's guide: the
        # tier is checked (sizes.RULES) and not sent
        if res.tier and gw.size_rule != "gemini-2.5":
            image["imageSize"] = res.tier
        if image:
            config["imageConfig"] = image
        if job.seed is not None:
            config["seed"] = job.seed
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": config,
        }
        deep_merge(body, job.params)
        model = quote(gw.model.removeprefix("models/"), safe="-._~")
        # one image a call: Gemini's image models give one candidate (sent in parallel)
        path = (
            f"/models/{model}:streamGenerateContent?alt=sse"
            if stream
            else f"/models/{model}:generateContent"
        )
        return fan_out(job.count, HttpCall("POST", path, json=body, stream=stream))

    def parse(self, body: Any) -> Reply:
        return read(body)

    def parse_event(self, body: Any) -> Reply:
        return read(body, STREAMED)

    def parse_text(self, text: str) -> Reply:
        return Reply(text=text)  # Gemini's images come as parts, never as links in words

    def final(self, body: Any) -> bool:
        """Whether a stream event ends the answer (a candidate's finishReason): Gemini's
        streams send no [DONE]."""
        return any(c.get("finishReason") for c in _candidates(body))


def _inline(img: ImageInput, gw: Gateway) -> dict[str, Any]:
    if img.url:
        # inlineData carries bytes; fileData takes only Files API / Cloud Storage URIs
        raise InputError(
            f"{img.source}: {gw.model} takes input images as files here, not URLs",
            hint="download the image first and pass the file",
        )
    b64 = img.data_url().split(",", 1)[1]
    return {"inlineData": {"mimeType": img.mime or "image/png", "data": b64}}


def _candidates(body: Any) -> list[Mapping[str, Any]]:
    found = body.get("candidates") if isinstance(body, Mapping) else None
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def read(body: Any, shape: str = SHAPE) -> Reply:
    """The images, words and usage of one GenerateContentResponse (whole, or a stream chunk).
    Raises ContentFiltered (exit 4) where Google stopped for safety without an image."""
    reply = Reply()
    if not isinstance(body, Mapping):
        return reply
    feedback = body.get("promptFeedback")
    if isinstance(feedback, Mapping) and feedback.get("blockReason"):
        raise _refused(str(feedback["blockReason"]), feedback.get("blockReasonMessage"))
    stops = []
    for cand in _candidates(body):
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, Mapping):
                _part(part, reply, shape)
        if cand.get("finishReason"):
            stops.append((str(cand["finishReason"]), cand.get("finishMessage")))
    for reason, message in stops:
        if reason in SAFETY_STOPS and not reply.images:
            raise _refused(reason, message)
    if isinstance(body.get("usageMetadata"), Mapping):
        reply.usage = dict(body["usageMetadata"])
    return reply


def _part(part: Mapping[str, Any], reply: Reply, shape: str) -> None:
    inline = part.get("inlineData", part.get("inline_data"))
    if isinstance(inline, Mapping):
        if part.get("thought"):  # Gemini 3's interim "thinking" images: previews, not results
            draft = Reply()
            payload(inline.get("data"), shape, draft)
            reply.partials.extend(draft.images)
        else:
            payload(inline.get("data"), shape, reply)
    elif isinstance(part.get("text"), str) and not part.get("thought"):
        reply.text += part["text"]


def _refused(reason: str, message: Any) -> ContentFiltered:
    said = f": {message}" if isinstance(message, str) and message else ""
    return ContentFiltered(
        f"the provider refused for safety (finishReason {reason}){said}",
        hint="rephrase the prompt; safety refusals are not retried",
    )


GOOGLE = GoogleDialect()
