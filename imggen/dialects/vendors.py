"""OpenAI-style images APIs with their own fields: Together, xAI and Recraft. Each takes
`POST /images/generations` JSON and answers `data[].b64_json` or `data[].url` (base.extract);
what differs is how a size is asked for, how many images a call makes, and how an edit goes.

Wire facts, with their public sources:
- Together: `width`, `height`, `steps`, `seed`, `n` 1-4, `negative_prompt`, `response_format`
  "base64" | "url" (the reply's items then carry `index`, `type` and `b64_json` or `url`):
  https://docs.together.ai/reference/post-images-generations ,
  https://docs.together.ai/docs/inference/images/parameters ("keep dimensions to multiples of
  8"; no maximum is published). Edits are the same endpoint: FLUX.1 Kontext (pro/max/dev) and
  FLUX.2 pro/flex take one `image_url`, FLUX.2 models take `reference_images` (a list):
  https://docs.together.ai/docs/inference/images/reference-images . Both are documented as
  image URLs; imggen sends a local file as a base64 data URI there (as xAI documents for its
  own `url` fields), a URL as given.
- xAI: `n` 1-10, `aspect_ratio` (1:1 3:4 4:3 9:16 16:9 2:3 3:2 9:19.5 19.5:9 9:20 20:9 1:2 2:1
  auto), `resolution` 1k|2k, `response_format` url (default) | b64_json; no `size`:
  https://docs.x.ai/developers/model-capabilities/images/generation . Edits are JSON, never
  multipart ("the xAI API requires application/json"), at `POST /v1/images/edits`: one `image`
  {url} or `images` [{url}] (up to 3, mutually exclusive), each a public URL or a base64 data
  URI: https://docs.x.ai/developers/model-capabilities/images/editing ,
  .../images/multi-image-editing . The `"type": "image_url"` beside each url is what xAI's
  REST examples send (and many public clients with them).
- Recraft: `Authorization: Bearer`, `size` from its list of WxH, `n` 1-6, `*_vector` models
  answer SVG: https://www.recraft.ai/docs/api-reference/endpoints . Its edits are multipart:
  `POST /v1/images/imageToImage` (`image`, `prompt`, a required `strength` in [0, 1]) and, with
  a mask, `POST /v1/images/inpaint` (`image`, `mask`: a grayscale image of the same size, white
  to regenerate, black to keep). Input images: PNG/JPG/WEBP, sides 256-4096 px, at most 16 MP:
  https://www.recraft.ai/docs/api-reference/usage ("Image to image"),
  https://www.recraft.ai/docs/api-reference/tools/inpainting
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
    takes: frozenset[str] = frozenset({"aspect", "size", "seed", "inputs"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if res.pixels:  # sizes.RULES["together"]: multiples of 16, tiers 512 and 1K
            fields["width"], fields["height"] = res.pixels
        if job.seed is not None:
            fields["seed"] = job.seed
        if job.inputs:
            fields.update(together_images(job, gw))
        fields["response_format"] = "base64"
        return _calls(job, fields, 4)  # Together's n: 1-4

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


def together_images(job: Job, gw: Gateway) -> dict[str, Any]:
    """The input images of an edit as Together's field for the model: FLUX.2 models take
    `reference_images` (several), the Kontext models one `image_url`."""
    shown = [img.data_url() for img in job.inputs]
    if "flux.2" in gw.model.lower():
        return {"reference_images": shown}
    if len(shown) > 1:
        raise UsageError(
            f"{gw.model} edits one image per request on Together (its image_url); "
            f"{len(shown)} given",
            hint="pass one image, or use a FLUX.2 model (reference_images takes several)",
        )
    return {"image_url": shown[0]}


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


# Recraft's input images (its "Input images" limits): each side 256-4096 px, at most 16 MP
RECRAFT_SIDES = (256, 4096)
RECRAFT_PIXELS = 16 * 1024 * 1024


@dataclass(frozen=True)
class RecraftDialect(Reading):
    name: str = "recraft"
    can_stream: bool = False
    no_stream_why: str = "Recraft's API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "inputs", "mask"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if job.inputs:
            return self._edit(job, gw, fields)
        if res.pixels:  # sizes.RULES["recraft"]: one of its WxH
            fields["size"] = f"{res.pixels[0]}x{res.pixels[1]}"
        return _calls(job, fields, 6)  # Recraft's n: 1-6

    def _edit(self, job: Job, gw: Gateway, fields: dict[str, Any]) -> list[HttpCall]:
        """Multipart: with a mask POST /images/inpaint (`image`, `mask` in black and white),
        else POST /images/imageToImage (`image` and a required `strength`: 0 keeps the
        image, 1 ignores it); `prompt`, `n` 1-6, `model` in both."""
        img = _recraft_input(job, gw)
        parts = [FilePart("image", img.name, img.mime or "image/png", img.data)]
        if job.mask is not None:
            from imggen.files.maskpng import black_and_white

            # imggen's mask is transparent where to repaint; Recraft's is white there
            bw = black_and_white(job.mask.data, f"mask {job.mask.source}")
            parts.append(FilePart("mask", "mask.png", "image/png", bw))
            path = "/images/inpaint"
        else:
            if "strength" not in job.params:
                raise UsageError(
                    f"{gw.model} needs a strength for an edit without a mask: how far from the "
                    "input to go",
                    hint="pass --param strength=0.5 (0 keeps the image, 1 ignores it), "
                    "or --mask to repaint only part of it",
                )
            path = "/images/imageToImage"
        calls, left = [], job.count
        while left > 0:
            n = min(left, 6)
            body = deep_merge({**fields, "n": n}, job.params)
            form = tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in body.items())
            calls.append(HttpCall("POST", path, form=form, files=tuple(parts), images=n))
            left -= n
        return calls

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


def _recraft_input(job: Job, gw: Gateway) -> Any:
    """The one local image a Recraft edit sends, refused before sending where Recraft would
    refuse it."""
    (img, *more) = job.inputs
    if more or img.url:
        raise UsageError(
            f"{gw.model} edits one image file per request", hint="pass one local image file"
        )
    if job.aspect or job.size:
        raise UsageError(
            f"{job.said('aspect' if job.aspect else 'size')}: Recraft's edits keep the input's "
            "size",
            hint="drop --aspect/--size for an edit",
        )
    if img.pixels:
        (w, h), (low, high) = img.pixels, RECRAFT_SIDES
        if not (low <= w <= high and low <= h <= high) or w * h > RECRAFT_PIXELS:
            raise UsageError(
                f"{img.source} is {w}x{h}; Recraft edits images with sides of {low}-{high} px "
                "and at most 16 megapixels",
                hint="resize the image first",
            )
    return img


TOGETHER = TogetherDialect()
XAI = XaiDialect()
RECRAFT = RecraftDialect()
