"""OpenRouter-style chat completions with `modalities`, and its Trinity and XTY variants.

One class; the variants are data (which body key holds the image options, whether `n` is
native, whether streaming is allowed, how references and the format travel), read from seeds
000 (Trinity), 001/003 (Knox, OpenRoute) and 004 (XTY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imggen import sizes
from imggen.dialects.base import (
    Reading,
    check_format,
    deep_merge,
    extract,
    fan_out,
    needs_url,
    refuse,
    user_content,
)
from imggen.errors import UsageError
from imggen.job import Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

ALL_FORMATS = ("png", "jpeg", "webp")


@dataclass(frozen=True)
class ChatDialect(Reading):
    name: str
    config_path: tuple[str, ...] = ("image_config",)
    native_n: bool = False  # seed 004 (XTY): `n` gives one choice per image
    can_stream: bool = True
    no_stream_why: str = ""
    # seed 000 (Trinity): reference images go in image_config.reference_images as URLs, and
    # the format in image_config.output_image_format (png or jpeg)
    refs_as_urls: bool = False
    format_key: str | None = None
    formats: tuple[str, ...] = ALL_FORMATS

    @property
    def takes(self) -> frozenset[str]:
        # no chat gateway has fields for quality, background, a mask or partial renders
        both = {"aspect", "size", "seed", "refs", "inputs"}
        return frozenset(both | {"format"} if self.format_key else both)

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fmt = check_format(job, gw)
        res = _as_ratio_and_tier(job, gw, res)
        config: dict[str, Any] = {}
        if res.aspect:
            config["aspect_ratio"] = res.aspect
        if res.tier:
            # the gateway's own name for a tier: OpenRouter calls the 512 tier "0.5K"
            config["image_size"] = dict(gw.tier_names).get(res.tier, res.tier)
        images = [*job.inputs, *job.refs]
        if self.refs_as_urls:
            refs = []
            for img in images:
                if not img.url:
                    raise needs_url(img.source, gw)
                refs.append({"type": "url", "url": img.url})
            if refs:
                config["reference_images"] = refs
            images = []
        if fmt and self.format_key:
            config[self.format_key] = fmt
        elif fmt:
            raise refuse(job, "format", gw, "none: the gateway picks the format (PNG)")
        body: dict[str, Any] = {
            "model": gw.model,
            "messages": [{"role": "user", "content": user_content(job, images)}],
            "modalities": ["image"] if gw.image_only else ["image", "text"],
        }
        if config:
            node = body
            for key in self.config_path[:-1]:
                node = node.setdefault(key, {})
            node[self.config_path[-1]] = config
        if job.seed is not None:
            body["seed"] = job.seed
        if self.native_n and job.count > 1:
            body["n"] = job.count
        if stream:
            body["stream"] = True
            if gw.stream_usage:
                # OpenAI-style gateways (OpenRouter, LiteLLM) stream usage only when asked
                body["stream_options"] = {"include_usage": True}
        deep_merge(body, job.params)
        path = "/chat/completions"
        if self.native_n:
            return [HttpCall("POST", path, json=body, stream=stream, images=job.count)]
        return fan_out(job.count, HttpCall("POST", path, json=body, stream=stream))

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


def _as_ratio_and_tier(job: Job, gw: Gateway, res: Resolved) -> Resolved:
    """Chat completions take an aspect ratio and a tier, not pixels: a --size WxH is sent as
    the table entry it is, or refused, never dropped."""
    # pixels the user typed; a tier's pixels come from the table with the tier itself
    if not res.pixels or res.tier or not job.size:
        return res
    if not isinstance(sizes.parse_size(job.size), tuple):
        return res
    for (aspect, tier), pixels in sizes.RULES[gw.size_rule].table.items():
        if pixels == res.pixels:
            return Resolved(aspect, tier, res.pixels)
    w, h = res.pixels
    raise UsageError(
        f"{job.said('size')}: {gw.model} on chat completions takes an aspect ratio and a size "
        f"tier, not pixels, and {w}x{h} is no entry imggen knows of its table",
        hint="use --aspect W:H with --size 1K/2K/4K",
    )


OPENROUTER = ChatDialect("openrouter")
# seed 000: stream:true is refused for image requests; output_image_format is png or jpeg
TRINITY = ChatDialect(
    "trinity",
    can_stream=False,
    no_stream_why="this gateway refuses stream:true for image requests",
    refs_as_urls=True,
    format_key="output_image_format",
    formats=("png", "jpeg"),
)
# seed 004: options in a literal extra_body.google.image_config; n gives one choice an image
XTY = ChatDialect(
    "xty",
    config_path=("extra_body", "google", "image_config"),
    native_n=True,
    can_stream=False,
    no_stream_why="this gateway answers image requests in one reply, without a stream",
)
