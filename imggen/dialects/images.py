"""The OpenAI images API (OpenAI itself; Turing's gpt-image and Seedream per seed 002; proxies
such as LiteLLM): `images/generations` as JSON, `images/edits` as multipart/form-data, streamed
partial renders where the model has them. What each model takes is its Caps (rules.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imggen.dialects.base import (
    Reading,
    check_format,
    deep_merge,
    extract,
    image_event,
    refuse,
)
from imggen.dialects.caps import GENERIC, Caps, check_params, check_value, stream_fields
from imggen.errors import InputError, UsageError
from imggen.job import FilePart, Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved


@dataclass(frozen=True)
class ImagesDialect(Reading):
    name: str = "images"
    can_stream: bool = True  # the GPT image models; each model's Caps say
    no_stream_why: str = ""
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    # each model's Caps then say which values (and whether it takes the field at all)
    takes: frozenset[str] = frozenset(
        {"aspect", "size", "format", "quality", "background", "seed", "inputs", "mask", "partials"}
    )

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        caps = gw.caps or GENERIC
        edit = job.is_edit
        if not edit and not caps.generate:
            raise UsageError(
                f"{gw.model} cannot make an image from a prompt alone ({caps.no_generate_why})",
                hint="use `imggen edit IMAGE... PROMPT`, or another model",
            )
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
                hint="pass --size WxH (for example 1024x1024), or drop --aspect; for an alias, "
                "name the model it behaves like in the profile (models.ALIAS.like)",
            )
        if job.quality is not None:
            fields["quality"] = check_value(job, gw, caps, "quality", "quality", edit=edit)
        fmt = _format(job, gw, caps, edit)
        if job.background is not None:
            fields["background"] = _background(job, gw, caps, fmt, edit)
        if fmt:
            fields["output_format"] = fmt
        if job.seed is not None:
            fields["seed"] = check_value(job, gw, caps, "seed", "seed", edit=edit)
        check_params(job, gw, caps, edit=edit)
        _compression(job, gw, caps)
        if stream:
            fields.update(stream_fields(job, gw, caps, edit=edit))
        # one image a request when streaming (OpenAI documents no n with a stream) or when the
        # model takes one at a time (dall-e-3): imggen sends them in parallel
        per_call = 1 if stream else caps.max_n
        if edit:
            return self._edit(job, gw, caps, fields, per_call)
        return _calls(job, fields, per_call, lambda body, n: _json_call(body, n, stream))

    def _edit(
        self, job: Job, gw: Gateway, caps: Caps, fields: dict[str, Any], per_call: int
    ) -> list[HttpCall]:
        # core.prepare has refused models that cannot edit (dall-e-3, Seedream)
        if any(img.url for img in job.inputs):
            raise InputError(
                "images/edits uploads files; a URL cannot be an input here",
                hint="download the image first and pass the file",
            )
        _check_inputs(job, gw, caps)
        # seed 002: one input is `image`, several are repeated `image[]`
        name = "image" if len(job.inputs) == 1 else "image[]"
        files = [FilePart(name, i.name, i.mime or "image/png", i.data) for i in job.inputs]
        if job.mask is not None:
            files.append(FilePart("mask", job.mask.name, "image/png", job.mask.data))
        stream = bool(fields.get("stream"))

        def call(body: dict[str, Any], n: int) -> HttpCall:
            form = tuple((k, _form_value(v)) for k, v in body.items())
            return HttpCall(
                "POST", "/images/edits", form=form, files=tuple(files), stream=stream, images=n
            )

        return _calls(job, fields, per_call, call)

    def parse(self, body: Any) -> Reply:
        return extract(body)

    def parse_event(self, body: Any) -> Reply:
        return image_event(body) or extract(body, scan=False)


def _calls(job: Job, fields: dict[str, Any], per_call: int, make: Any) -> list[HttpCall]:
    """The requests for job.count images, at most `per_call` each; `n` is sent where a
    request may ask for more than one."""
    calls = []
    left = job.count
    while left > 0:
        n = min(left, per_call)
        body = {**fields, "n": n} if per_call > 1 else dict(fields)
        calls.append(make(deep_merge(body, job.params), n))
        left -= n
    return calls


def _json_call(body: dict[str, Any], n: int, stream: bool) -> HttpCall:
    return HttpCall("POST", "/images/generations", json=body, stream=stream, images=n)


def _format(job: Job, gw: Gateway, caps: Caps, edit: bool) -> str | None:
    if not caps.checked:
        return check_format(job, gw)
    if job.format is None:
        return None
    found = caps.takes("output_format", edit=edit)
    if found is None:
        raise refuse(job, "format", gw, "none: the model picks the format (PNG)")
    if not found.accepts(job.format):
        raise refuse(job, "format", gw, found.describe())
    return job.format


def _background(job: Job, gw: Gateway, caps: Caps, fmt: str | None, edit: bool) -> str:
    value: str = check_value(job, gw, caps, "background", "background", edit=edit)
    # transparency needs a format with alpha: png (seed 002), or webp too (OpenAI)
    if value == "transparent" and (fmt or "png") not in caps.transparent:
        takes = " or ".join(f.upper() for f in caps.transparent)
        raise UsageError(
            f"{job.said('background')} needs {takes}, not {job.said('format')}",
            hint="use --format png (or drop --format)",
        )
    return value


def _compression(job: Job, gw: Gateway, caps: Caps) -> None:
    """output_compression applies to jpeg (and webp on OpenAI) only: refused beside a format
    it cannot apply to, or with no --format at all (the default is PNG, which OpenAI's schema
    does not allow it with), rather than silently ignored."""
    if "output_compression" not in job.params or not caps.checked:
        return
    if job.format in caps.compression:
        return
    label = job.origins.get("params") or "--param"
    value = job.params["output_compression"]
    takes = " or ".join(caps.compression)
    given = job.said("format") if job.format else "no --format (PNG by default)"
    raise UsageError(
        f"{label} output_compression={value} applies to {takes} only, not {given} ({caps.source})",
        hint=f"add --format {caps.compression[0]}, or drop output_compression",
    )


def _check_inputs(job: Job, gw: Gateway, caps: Caps) -> None:
    """The edit inputs the model takes: how many, and for dall-e-2 one square PNG."""
    given = len(job.inputs)
    if caps.max_inputs is not None and given > caps.max_inputs:
        many = "one image" if caps.max_inputs == 1 else f"at most {caps.max_inputs} images"
        raise UsageError(
            f"{gw.model} edits {many} per request; {given} were given ({caps.source})",
            hint="pass fewer images",
        )
    limit = caps.square_png_under
    if limit is None:
        return
    for img in job.inputs:
        problems = []
        if img.mime != "image/png":
            problems.append(f"it is {img.mime or 'not a PNG'}")
        if img.pixels and img.pixels[0] != img.pixels[1]:
            problems.append(f"it is {img.pixels[0]}x{img.pixels[1]}, not square")
        if len(img.data) >= limit:
            problems.append(f"it is {len(img.data):,} bytes, not under {limit:,}")
        if problems:
            raise InputError(
                f"{img.source}: {gw.model} edits one square PNG under {limit // (1 << 20)} MB; "
                + "; ".join(problems),
                hint="convert or crop the image, or use a GPT image model",
            )


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


IMAGES = ImagesDialect()
