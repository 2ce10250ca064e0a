"""The OpenAI images API (Turing gpt-image and Seedream per seed 002; OpenAI):
`images/generations` as JSON, `images/edits` as multipart/form-data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import check_format, deep_merge, extract, refuse
from imggen.errors import InputError, UsageError
from imggen.job import FilePart, Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

QUALITIES = ("low", "medium", "high", "auto")
BACKGROUNDS = ("transparent", "opaque", "auto")
MAX_N = 10  # seed 002: n is 1-10


@dataclass(frozen=True)
class ImagesDialect:
    name: str = "images"
    can_stream: bool = False
    no_stream_why: str = "imggen does not stream the images API yet"
    formats: tuple[str, ...] = ("png", "jpeg", "webp")

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fields: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        if res.pixels:
            fields["size"] = f"{res.pixels[0]}x{res.pixels[1]}"
        elif job.size and job.size.lower() == "auto":
            fields["size"] = "auto"
        elif res.aspect or res.tier:
            # the images API takes WxH; for a model no rule knows, a guess would be billed
            raise UsageError(
                f"imggen does not know which pixel sizes {gw.model} takes, so it cannot turn "
                "--aspect/--size tier into WxH",
                hint="pass --size WxH (for example 1024x1024), or drop --aspect",
            )
        if job.quality is not None:
            if job.quality not in QUALITIES:
                raise refuse(job, "quality", gw, ", ".join(QUALITIES))
            fields["quality"] = job.quality
        fmt = check_format(job, gw)
        if job.background is not None:
            if job.background not in BACKGROUNDS:
                raise refuse(job, "background", gw, ", ".join(BACKGROUNDS))
            # seed 002: transparent must go with output_format="png"
            if job.background == "transparent" and fmt not in (None, "png"):
                raise UsageError(
                    f"{job.said('background')} needs PNG, not {job.said('format')}",
                    hint="use --format png (or drop --format)",
                )
            fields["background"] = job.background
        if fmt:
            fields["output_format"] = fmt
        if job.seed is not None:
            if gw.size_rule != "seedream":
                raise refuse(job, "seed", gw)
            fields["seed"] = job.seed
        if job.refs:
            raise UsageError(
                f"{gw.model} takes no reference images on images/generations",
                hint="use `imggen edit IMAGE... PROMPT` to make an image from others",
            )
        if job.is_edit:
            return self._edit(job, gw, fields)
        calls = []
        left = job.count
        while left > 0:
            n = min(left, MAX_N)
            body = deep_merge({**fields, "n": n}, job.params)
            calls.append(HttpCall("POST", "/images/generations", json=body, images=n))
            left -= n
        return calls

    def _edit(self, job: Job, gw: Gateway, fields: dict[str, Any]) -> list[HttpCall]:
        # core.prepare has refused models that cannot edit (Seedream, seed 002)
        if any(img.url for img in job.inputs):
            raise InputError(
                "images/edits uploads files; a URL cannot be an input here",
                hint="download the image first and pass the file",
            )
        # seed 002: one input is `image`, several are repeated `image[]`
        name = "image" if len(job.inputs) == 1 else "image[]"
        files = [FilePart(name, i.name, i.mime or "image/png", i.data) for i in job.inputs]
        if job.mask is not None:
            files.append(FilePart("mask", job.mask.name, "image/png", job.mask.data))
        calls = []
        left = job.count
        while left > 0:
            n = min(left, MAX_N)
            merged = deep_merge({**fields, "n": n}, job.params)
            form = tuple((k, _form_value(v)) for k, v in merged.items())
            calls.append(HttpCall("POST", "/images/edits", form=form, files=tuple(files), images=n))
            left -= n
        return calls

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return extract(body, scan=False)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


IMAGES = ImagesDialect()
