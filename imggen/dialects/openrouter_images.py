"""OpenRouter's Image API: `POST /images` as JSON, for the models `GET /images/models` lists.

What each model takes is its capability descriptors there (a Caps read by modelcache.py): a
field the descriptors do not name is one the model does not take, and is refused before
sending. References and edit inputs go in `input_references`; a model without `n` gets one
request per image. Source: shared/references/openrouter-image-api.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import Reading, deep_merge, extract, image_event, refuse, refused
from imggen.dialects.caps import (
    GENERIC,
    Caps,
    Field,
    check_params,
    check_value,
    stream_fields,
)
from imggen.errors import UsageError
from imggen.job import Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

PATH = "/images"


@dataclass(frozen=True)
class OpenRouterImagesDialect(Reading):
    name: str = "openrouter-images"
    can_stream: bool = True  # where the model's entry says supports_streaming
    no_stream_why: str = ""
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    # each model's capability descriptors then say which of these it takes
    takes: frozenset[str] = frozenset(
        {"aspect", "size", "format", "quality", "background", "seed", "refs", "inputs", "partials"}
    )

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        caps = gw.caps or GENERIC
        body: dict[str, Any] = {"model": gw.model, "prompt": job.prompt}
        body.update(_size_fields(job, gw, caps, res))
        if job.quality is not None:
            body["quality"] = check_value(job, gw, caps, "quality", "quality", edit=False)
        if job.format is not None:
            body["output_format"] = check_value(
                job, gw, caps, "format", "output_format", edit=False
            )
        if job.background is not None:
            body["background"] = _background(job, gw, caps)
        if job.seed is not None:
            body["seed"] = check_value(job, gw, caps, "seed", "seed", edit=False)
        images = [*job.inputs, *job.refs]
        if images:
            if caps.takes("input_references") is None:
                raise UsageError(
                    f"{gw.model} takes no input images on OpenRouter's Image API "
                    f"({caps.source} names no input_references)",
                    hint="use a model that takes references (`imggen models` shows which)",
                )
            body["input_references"] = [
                {"type": "image_url", "image_url": {"url": img.data_url()}} for img in images
            ]
        check_params(job, gw, caps, edit=False)
        if stream:
            body.update(stream_fields(job, gw, caps, edit=False))
        # a model whose descriptors name no `n` makes one image a request: fan out
        per_call = 1 if stream else caps.max_n
        calls = []
        left = job.count
        while left > 0:
            n = min(left, per_call)
            sent = {**body, "n": n} if n > 1 else dict(body)
            calls.append(
                HttpCall("POST", PATH, json=deep_merge(sent, job.params), stream=stream, images=n)
            )
            left -= n
        return calls

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return image_event(body) or extract(body, scan=False)


def _size_fields(job: Job, gw: Gateway, caps: Caps, res: Resolved) -> dict[str, Any]:
    """aspect_ratio, resolution (the tier) and size, each only where the model's descriptors
    name it; an aspect ratio becomes the one size of that shape where the model takes sizes
    only. A value it does not take is refused, never dropped."""
    sizes = caps.takes("size")
    if job.size and job.size.lower() == "auto":  # the model's own choice, where it has one
        if sizes is None or not sizes.accepts("auto"):
            raise refuse(job, "size", gw, sizes.describe() if sizes else "no size at all")
        return {"size": "auto"}
    if res.pixels and not res.tier:  # WxH as typed: the pixels say the aspect too
        w, h = res.pixels
        if sizes is None or not sizes.accepts(f"{w}x{h}"):
            accepts = sizes.describe() if sizes else _without_pixels(caps)
            raise refused(
                job.said("size"), gw, accepts, hint="use --aspect W:H with --size 1K/2K/4K"
            )
        return {"size": f"{w}x{h}"}
    fields: dict[str, Any] = {}
    if res.aspect and caps.takes("aspect_ratio") is None and sizes is not None:
        shaped = _shaped(sizes, res.aspect)
        if shaped is None:
            raise refuse(job, "aspect", gw, f"no aspect ratio, only sizes {sizes.describe()}")
        fields["size"] = shaped
    elif res.aspect:
        fields["aspect_ratio"] = check_value(job, gw, caps, "aspect", "aspect_ratio", edit=False)
    if res.tier:
        found = caps.takes("resolution")
        if found is not None and found.accepts(res.tier):
            fields["resolution"] = res.tier
        elif "size" not in fields and sizes is not None and sizes.accepts(res.tier):
            fields["size"] = res.tier
        else:
            takes = found or sizes
            raise refuse(job, "size", gw, takes.describe() if takes else "no size tier")
    return fields


def _shaped(sizes: Field, aspect: str) -> str | None:
    """The one WxH among a size enum's values with the shape of `aspect`, or None."""
    a, _, b = aspect.partition(":")
    want = int(a) / int(b)
    found = []
    for value in sizes.values if sizes.kind == "enum" else ():
        w, _, h = value.partition("x")
        if w.isdigit() and h.isdigit() and int(h) and abs(int(w) / int(h) / want - 1) < 0.02:
            found.append(value)
    return found[0] if len(found) == 1 else None


def _without_pixels(caps: Caps) -> str:
    named = [k for k in ("aspect_ratio", "resolution") if caps.takes(k) is not None]
    return "no pixel size, only " + " and ".join(named) if named else "no size at all"


def _background(job: Job, gw: Gateway, caps: Caps) -> str:
    value: str = check_value(job, gw, caps, "background", "background", edit=False)
    if value == "transparent" and (job.format or "png") not in caps.transparent:
        raise UsageError(
            f"{job.said('background')} needs PNG or WEBP, not {job.said('format')}",
            hint="use --format png (or drop --format)",
        )
    return value


OPENROUTER_IMAGES = OpenRouterImagesDialect()
