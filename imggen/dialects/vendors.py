"""OpenAI-style images APIs with their own fields: Together, xAI and Recraft. Each takes
`POST /images/generations` JSON and answers `data[].b64_json` or `data[].url` (base.extract);
what differs is how a size is asked for and how many images a call makes.

Wire facts, with their public sources:
- Together: `width`, `height`, `steps`, `seed`, `n`, `negative_prompt`, `response_format`
  ("base64" | "url"): https://docs.together.ai/docs/inference/images/parameters and
  https://docs.together.ai/reference/post-images-generations
- xAI: `n` 1-10, `aspect_ratio` (1:1 3:4 4:3 9:16 16:9 2:3 3:2 9:19.5 19.5:9 9:20 20:9 1:2 2:1
  auto), `resolution` 1k|2k, `response_format` url (default) | b64_json; no `size`:
  https://docs.x.ai/developers/model-capabilities/images/generation ; edits are JSON (not
  multipart) at `/images/edits`, up to 3 source images as URLs or base64 data URIs:
  https://docs.x.ai/developers/model-capabilities/images/editing
- Recraft: `Authorization: Bearer`, `size` from its list of WxH, `n` 1-6, `*_vector` models
  answer SVG; image-to-image is multipart `POST /images/imageToImage` with a required
  `strength`: https://www.recraft.ai/docs/api-reference/introduction ,
  https://www.recraft.ai/docs/api-reference/usage ,
  https://www.recraft.ai/docs/api-reference/endpoints (image sizes)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import Reading, deep_merge, extract
from imggen.errors import UsageError
from imggen.job import FilePart, Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved


def _calls(
    job: Job, fields: dict[str, Any], most: int, path: str = "/images/generations"
) -> list[HttpCall]:
    """The calls for job.count images, at most `most` a call, each with its `n`."""
    calls, left = [], job.count
    while left > 0:
        n = min(left, most)
        body = deep_merge({**fields, "n": n}, job.params)
        calls.append(HttpCall("POST", path, json=body, images=n))
        left -= n
    return calls


@dataclass(frozen=True)
class TogetherDialect(Reading):
    name: str = "together"
    can_stream: bool = False
    no_stream_why: str = "Together's images API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "seed"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if res.pixels:  # sizes.RULES["together"]: multiples of 16, tiers 512 and 1K
            fields["width"], fields["height"] = res.pixels
        if job.seed is not None:
            fields["seed"] = job.seed
        fields["response_format"] = "base64"
        return _calls(job, fields, 4)  # Together's n: 1-4

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


@dataclass(frozen=True)
class XaiDialect(Reading):
    name: str = "xai"
    can_stream: bool = False
    no_stream_why: str = "xAI's images API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "inputs"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        # sizes.RULES["xai"] has checked both: its aspect list, 1K or 2K, no pixels
        if res.aspect:
            fields["aspect_ratio"] = res.aspect
        if res.tier:
            fields["resolution"] = res.tier.lower()
        if job.inputs:
            if len(job.inputs) > 3:
                raise UsageError(
                    f"{gw.model} edits at most 3 images per request; {len(job.inputs)} given",
                    hint="pass fewer images",
                )
            shown = [{"url": img.data_url(), "type": "image_url"} for img in job.inputs]
            if len(shown) == 1:
                fields["image"] = shown[0]
            else:
                fields["images"] = shown
            return _calls(job, fields, 10, "/images/edits")
        return _calls(job, fields, 10)  # n: 1-10; replies are URLs unless asked otherwise

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


@dataclass(frozen=True)
class RecraftDialect(Reading):
    name: str = "recraft"
    can_stream: bool = False
    no_stream_why: str = "Recraft's API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "inputs"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if job.inputs:
            return self._image_to_image(job, gw, fields)
        if res.pixels:  # sizes.RULES["recraft"]: one of its WxH
            fields["size"] = f"{res.pixels[0]}x{res.pixels[1]}"
        return _calls(job, fields, 6)  # Recraft's n: 1-6

    def _image_to_image(self, job: Job, gw: Gateway, fields: dict[str, Any]) -> list[HttpCall]:
        """POST /images/imageToImage, multipart: one `image` file, `prompt`, `strength`
        (required: 0 keeps the image, 1 ignores it), `n` 1-6, `model`
        (https://www.recraft.ai/docs/api-reference/usage, "Image to image")."""
        (img, *more) = job.inputs
        if more or img.url:
            raise UsageError(
                f"{gw.model} edits one image file per request",
                hint="pass one local image file",
            )
        if job.aspect or job.size:
            raise UsageError(
                f"{job.said('aspect' if job.aspect else 'size')}: Recraft's image-to-image "
                "keeps the input's size",
                hint="drop --aspect/--size for an edit",
            )
        if "strength" not in job.params:
            raise UsageError(
                f"{gw.model} needs a strength for an edit: how far from the input to go",
                hint="pass --param strength=0.5 (0 keeps the image, 1 ignores it)",
            )
        part = FilePart("image", img.name, img.mime or "image/png", img.data)
        calls, left = [], job.count
        while left > 0:
            n = min(left, 6)
            body = deep_merge({**fields, "n": n}, job.params)
            form = tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in body.items())
            calls.append(
                HttpCall("POST", "/images/imageToImage", form=form, files=(part,), images=n)
            )
            left -= n
        return calls

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


TOGETHER = TogetherDialect()
XAI = XaiDialect()
RECRAFT = RecraftDialect()
