"""Gemini-style chat (Turing's gemini models, seed 002): camelCase `imageConfig`, images in
content parts (2.5) or at choice level `choices[*].images` (3.x)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import (
    Reading,
    check_format,
    deep_merge,
    extract,
    fan_out,
    image_parts,
    refuse,
    user_content,
)
from imggen.job import Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class GeminiDialect(Reading):
    name: str = "gemini"
    can_stream: bool = True
    no_stream_why: str = ""
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    # seed 002: imageConfig (aspectRatio, imageSize, imageOutputOptions), seed, content parts
    takes: frozenset[str] = frozenset(
        {"aspect", "size", "format", "quality", "seed", "refs", "inputs"}
    )

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        config: dict[str, Any] = {}
        if res.aspect:
            config["aspectRatio"] = res.aspect
        if res.tier:
            config["imageSize"] = res.tier
        options: dict[str, Any] = {}
        fmt = check_format(job, gw)
        if fmt:
            options["mimeType"] = MIME[fmt]
        if job.quality is not None:
            # seed 002: imageOutputOptions.compressionQuality, a number (95 in its example)
            if not job.quality.isdigit() or not 0 <= int(job.quality) <= 100:
                raise refuse(job, "quality", gw, "a compression quality 0-100")
            options["compressionQuality"] = int(job.quality)
        if options:
            config["imageOutputOptions"] = options
        body: dict[str, Any] = {
            "model": gw.model,
            "messages": self._messages(job),
            "modalities": ["text", "image"],
        }
        if config:
            body["imageConfig"] = config
        if job.seed is not None:
            body["seed"] = job.seed
        body["stream"] = stream
        deep_merge(body, job.params)
        call = HttpCall("POST", "/chat/completions", json=body, stream=stream)
        return fan_out(job.count, call)

    def _messages(self, job: Job) -> list[dict[str, Any]]:
        # seed 002 "多轮含图片": an edit passes the earlier image as the assistant's turn. When
        # imggen made the input it knows the prompt behind it, so the turn is rebuilt faithfully.
        if len(job.inputs) == 1 and job.inputs[0].prompt and not job.refs:
            earlier = job.inputs[0]
            return [
                {"role": "user", "content": [{"type": "text", "text": earlier.prompt}]},
                {"role": "assistant", "content": image_parts([earlier])},
                {"role": "user", "content": [{"type": "text", "text": job.prompt}]},
            ]
        return [{"role": "user", "content": user_content(job, [*job.inputs, *job.refs])}]

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


GEMINI = GeminiDialect()
