"""OpenRouter-style chat completions with `modalities`, and its Trinity and XTY variants.

One class; the variants are data (which body key holds the image options, whether `n` is
native, whether streaming is allowed), read from seeds 000 (Trinity), 001/003 (Knox,
OpenRoute) and 004 (XTY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imggen import sizes
from imggen.dialects.base import (
    check_format,
    deep_merge,
    extract,
    fan_out,
    refuse,
    trinity_needs_url,
    user_content,
)
from imggen.job import Gateway, HttpCall, Job, Reply


@dataclass(frozen=True)
class ChatDialect:
    name: str
    config_path: tuple[str, ...] = ("image_config",)
    native_n: bool = False  # seed 004 (XTY): `n` gives one choice per image
    can_stream: bool = True  # seed 000 (Trinity): stream:true is refused for images
    trinity: bool = False  # seed 000: output_image_format, reference_images
    formats_field: bool = False

    def build(self, job: Job, gw: Gateway, *, stream: bool) -> list[HttpCall]:
        res = sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
        if job.quality is not None:
            raise refuse("--quality", gw)
        if job.background is not None:
            raise refuse("--background", gw)
        if job.mask is not None:  # no chat seed has a mask field: never drop it silently
            raise refuse("--mask", gw)
        fmt = check_format(job, gw)
        config: dict[str, Any] = {}
        if res.aspect:
            config["aspect_ratio"] = res.aspect
        if res.tier:
            config["image_size"] = res.tier
        images = [*job.inputs, *job.refs]
        if self.trinity:
            # seed 000: reference images go in image_config.reference_images, URLs only
            refs = []
            for img in images:
                if not img.url:
                    raise trinity_needs_url(img.source)
                refs.append({"type": "url", "url": img.url})
            if refs:
                config["reference_images"] = refs
            if fmt:
                config["output_image_format"] = fmt
            images = []
        elif fmt:
            raise refuse(f"--format {fmt}", gw, "none: the gateway picks the format (PNG)")
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
        deep_merge(body, job.params)
        path = "/chat/completions"
        if self.native_n:
            return [HttpCall("POST", path, json=body, stream=stream, images=job.count)]
        return fan_out(job.count, HttpCall("POST", path, json=body, stream=stream))

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


OPENROUTER = ChatDialect("openrouter")
TRINITY = ChatDialect("trinity", can_stream=False, trinity=True)
XTY = ChatDialect(
    "xty", config_path=("extra_body", "google", "image_config"), native_n=True, can_stream=False
)
