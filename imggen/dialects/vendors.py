"""OpenAI-style images APIs with their own fields: Together, xAI and Recraft. Each takes
`POST /images/generations` JSON and answers `data[].b64_json` or `data[].url` (base.extract);
what differs is how a size is asked for and how many images a call makes.

Wire facts, with their public sources:
- Together: `width`, `height`, `steps`, `seed`, `n`, `negative_prompt`, `response_format`
  ("base64" | "url"): https://docs.together.ai/docs/inference/images/parameters and
  https://docs.together.ai/reference/post-images-generations
- xAI: `n` 1-10, `aspect_ratio` (1:1 3:4 4:3 9:16 16:9 2:3 3:2 9:19.5 19.5:9 9:20 20:9 1:2 2:1
  auto), `resolution` 1k|2k, `response_format` url (default) | b64_json; no `size`:
  https://docs.x.ai/developers/model-capabilities/images/generation
- Recraft: `Authorization: Bearer`, `size` from its list of WxH, `n` 1-6, `*_vector` models
  answer SVG: https://www.recraft.ai/docs/api-reference/introduction ,
  https://www.recraft.ai/docs/api-reference/endpoints (image sizes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import deep_merge, extract, refuse_untaken, refused
from imggen.errors import UsageError
from imggen.job import Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

TIER_SIDE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}
XAI_ASPECTS = ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:20", "20:9", "1:2", "2:1")
# Recraft's image sizes by the aspect each is (its endpoint reference lists them as WxH).
RECRAFT_SIZES = {
    "1:1": (1024, 1024),
    "4:3": (1365, 1024),
    "3:4": (1024, 1365),
    "3:2": (1536, 1024),
    "2:3": (1024, 1536),
    "16:9": (1820, 1024),
    "9:16": (1024, 1820),
    "2:1": (2048, 1024),
    "1:2": (1024, 2048),
    "7:5": (1434, 1024),
    "5:7": (1024, 1434),
    "5:4": (1280, 1024),
    "4:5": (1024, 1280),
    "5:3": (1707, 1024),
    "3:5": (1024, 1707),
}


def pixels_for(aspect: str, tier: str, step: int = 16) -> tuple[int, int]:
    """W x H of about tier x tier pixels at `aspect`, each side a multiple of `step`."""
    a, b = (int(x) for x in aspect.split(":"))
    area = TIER_SIDE[tier] ** 2
    w = math.sqrt(area * a / b)
    return max(step, round(w / step) * step), max(step, round(area / w / step) * step)


def _calls(job: Job, fields: dict[str, Any], most: int) -> list[HttpCall]:
    """The calls for job.count images, at most `most` a call, each with its `n`."""
    calls, left = [], job.count
    while left > 0:
        n = min(left, most)
        body = deep_merge({**fields, "n": n}, job.params)
        calls.append(HttpCall("POST", "/images/generations", json=body, images=n))
        left -= n
    return calls


@dataclass(frozen=True)
class TogetherDialect:
    name: str = "together"
    can_stream: bool = False
    no_stream_why: str = "Together's images API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "count", "seed"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        refuse_untaken(job, gw, self.takes)
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if res.pixels:
            fields["width"], fields["height"] = res.pixels
        elif res.aspect or res.tier:
            if (res.tier or "1K") not in ("512", "1K"):
                raise refused(job.said("size"), gw, "512 or 1K tiers, or --size WxH")
            w, h = pixels_for(res.aspect or "1:1", res.tier or "1K")
            fields["width"], fields["height"] = w, h
        if job.seed is not None:
            fields["seed"] = job.seed
        fields["response_format"] = "base64"
        return _calls(job, fields, 4)  # Together's n: 1-4

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


@dataclass(frozen=True)
class XaiDialect:
    name: str = "xai"
    can_stream: bool = False
    no_stream_why: str = "xAI's images API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "count"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        refuse_untaken(job, gw, self.takes)
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if res.pixels:
            raise UsageError(
                f"{job.said('size')}: xAI takes an aspect ratio and a resolution, not pixels",
                hint="use --aspect W:H and --size 1K or 2K",
            )
        if res.aspect:
            if res.aspect not in XAI_ASPECTS:
                raise refused(job.said("aspect"), gw, ", ".join(XAI_ASPECTS))
            fields["aspect_ratio"] = res.aspect
        if res.tier:
            if res.tier not in ("1K", "2K"):
                raise refused(job.said("size"), gw, "1K or 2K")
            fields["resolution"] = res.tier.lower()
        return _calls(job, fields, 10)  # n: 1-10; replies are URLs unless asked otherwise

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


@dataclass(frozen=True)
class RecraftDialect:
    name: str = "recraft"
    can_stream: bool = False
    no_stream_why: str = "Recraft's API does not stream"
    formats: tuple[str, ...] = ()
    takes: frozenset[str] = frozenset({"aspect", "size", "count"})

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        refuse_untaken(job, gw, self.takes)
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        sizes = {f"{w}x{h}" for w, h in RECRAFT_SIZES.values()}
        if res.pixels:
            size = f"{res.pixels[0]}x{res.pixels[1]}"
            if size not in sizes:
                raise refused(job.said("size"), gw, ", ".join(sorted(sizes)))
            fields["size"] = size
        elif res.aspect or res.tier:
            if res.tier not in (None, "1K"):
                raise refused(job.said("size"), gw, "1K (or one of its WxH sizes)")
            found = RECRAFT_SIZES.get(res.aspect or "1:1")
            if found is None:
                raise refused(job.said("aspect"), gw, ", ".join(RECRAFT_SIZES))
            fields["size"] = f"{found[0]}x{found[1]}"
        return _calls(job, fields, 6)  # Recraft's n: 1-6

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


TOGETHER = TogetherDialect()
XAI = XaiDialect()
RECRAFT = RecraftDialect()
