"""Every dialect x every option a user may set: the request carries it, or imggen refuses it
before sending. An option that changes nothing in the request and raises nothing was dropped
silently, and fails here (the way --partials vanished on chat completions and -s auto on
OpenRouter's Image API)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from imggen import sizes
from imggen.dialects import DIALECTS, check_carried
from imggen.dialects.base import CARRIED
from imggen.dialects.caps import GENERIC
from imggen.dialects.rules import CAPS
from imggen.errors import ImggenError
from imggen.job import Gateway, ImageInput, Job
from imggen.run import streaming
from tests.conftest import png_bytes

PNG = png_bytes(4, 4)
FILE = ImageInput("in.png", data=PNG, mime="image/png", pixels=(4, 4))
MASK = ImageInput("mask.png", data=PNG, mime="image/png", pixels=(4, 4))
URL = ImageInput("https://img.example/ref.png", url="https://img.example/ref.png")

# a model of each dialect, with the rules imggen has for it
MODELS: dict[str, dict[str, Any]] = {
    "openrouter": {"model": "google/gemini-2.5-flash-image", "size_rule": "gemini-2.5"},
    "trinity": {"model": "gemini-2.5-flash-image", "size_rule": "gemini-2.5"},
    "xty": {"model": "gemini-3-pro-image-preview", "size_rule": "gemini-3"},
    "gemini": {"model": "gemini-3-pro-image-preview", "size_rule": "gemini-3"},
    "images": {"model": "gpt-image-1", "size_rule": "gpt-image-1", "caps": CAPS["gpt-image-1"]},
    "openrouter-images": {"model": "some/model", "size_rule": "any", "caps": GENERIC},
    "google": {"model": "gemini-3-pro-image-preview", "size_rule": "gemini-3"},
    "azure": {"model": "my-images", "size_rule": "gpt-image-1", "caps": CAPS["gpt-image-1"]},
    "together": {"model": "black-forest-labs/FLUX.1-schnell", "size_rule": "together"},
    "xai": {"model": "grok-imagine-image", "size_rule": "xai"},
    "recraft": {"model": "recraftv3", "size_rule": "recraft"},
    "bfl": {"model": "flux-kontext-pro", "size_rule": "flux"},
    "fal": {"model": "fal-ai/flux-pro/kontext", "size_rule": "any"},
    "replicate": {"model": "black-forest-labs/flux-kontext-pro", "size_rule": "flux"},
}

# each option, with the values a user would try
VALUES: dict[str, list[Any]] = {
    "aspect": ["16:9"],
    "size": ["1024x1024", "1K", "auto"],
    "format": ["jpeg", "webp"],
    "quality": ["high", "80"],
    "background": ["transparent", "opaque"],
    "seed": [7],
    "refs": [(URL,), (FILE,)],
    "inputs": [(FILE,)],
    "mask": [MASK],
    "partials": [2],
}


def gateway(dialect: str) -> Gateway:
    style = DIALECTS[dialect]
    facts = MODELS[dialect]  # a new dialect names a model of its own here
    return Gateway(
        profile="t", base_url="https://gw.example/v1", dialect=dialect, formats=style.formats,
        can_stream=style.can_stream, **facts,
    )  # fmt: skip


def sent(job: Job, gw: Gateway) -> list[Any]:
    """What the calls would put on the wire (path, JSON body, form fields, file parts)."""
    check_carried(job, gw)
    res = sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
    stream = streaming.decide(job, gw, save_partials=False, output=None)
    calls = DIALECTS[gw.dialect].build(job, gw, res, stream=stream)
    return [(c.path, c.json, c.form, [(f.field, f.filename) for f in c.files]) for c in calls]


def cases() -> list[Any]:
    return [
        pytest.param(d, name, value, id=f"{d}-{name}-{value!r}"[:60])
        for d in DIALECTS
        for name in CARRIED
        for value in VALUES[name]
    ]


def test_every_option_has_values_to_try() -> None:
    assert set(VALUES) == set(CARRIED)


@pytest.mark.parametrize(("dialect", "name", "value"), cases())
def test_an_option_is_carried_or_refused_never_dropped(dialect: str, name: str, value: Any) -> None:
    gw = gateway(dialect)
    base = Job("a red fox")
    if name == "mask":  # a mask goes with an edit (of a URL where files cannot travel)
        base = dataclasses.replace(base, inputs=(URL if dialect == "trinity" else FILE,))
    if name == "partials":  # partial renders come in a stream
        if not gw.can_stream:
            pytest.skip(f"{dialect} never streams: --partials is refused by the stream check")
        base = dataclasses.replace(base, stream=True)
    try:
        before = sent(base, gw)
    except ImggenError:
        pytest.skip(f"{gw.model} cannot make the job without {name} either")
    job = dataclasses.replace(base, **{name: value})
    try:
        after = sent(job, gw)
    except ImggenError as exc:
        assert int(exc.exit_code) == 2, exc
        return  # refused before sending: said, not dropped
    assert after != before, f"{dialect} dropped {name}={value!r} without a word"


def test_every_dialect_declares_what_it_takes() -> None:
    for style in DIALECTS.values():
        assert style.takes <= set(CARRIED), style.name
