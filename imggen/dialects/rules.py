"""Per-model rules of the images API as Caps: OpenAI's published models (from its OpenAPI
document, shared/references/openai-images-api.md) and Turing's (shared/seeds/002_*.txt)."""

from __future__ import annotations

from types import MappingProxyType

from imggen.dialects.caps import ANY, BOOLEAN, Caps, Field, enum, span

MiB = 1024 * 1024
OPENAI = "OpenAI's images API"
TURING = "Turing's images API"

# The GPT image models (gpt-image-1, -1-mini, -1.5, -2, chatgpt-image-latest): openapi.yaml
# CreateImageRequest / CreateImageEditRequest.
_GPT: dict[str, Field] = {
    "n": span(1, 10),
    "quality": enum("low", "medium", "high", "auto"),
    "output_format": enum("png", "jpeg", "webp"),
    "output_compression": span(0, 100),
    "background": enum("transparent", "opaque", "auto"),
    "moderation": enum("low", "auto"),  # generations only: the edit form has no such field
    "stream": BOOLEAN,
    "partial_images": span(0, 3),
    "input_fidelity": enum("low", "high"),  # edits only; not on gpt-image-1-mini
}
_GPT_MINI = {k: v for k, v in _GPT.items() if k != "input_fidelity"}


def _gpt(name: str, fields: dict[str, Field], **extra: object) -> Caps:
    return Caps(
        name,
        OPENAI,
        MappingProxyType(fields),
        stream=True,
        max_inputs=16,
        generate_only=("moderation",),
        edit_only=("input_fidelity",),
        **extra,  # type: ignore[arg-type]
    )


CAPS: dict[str, Caps] = {
    c.name: c
    for c in (
        _gpt("gpt-image-1", _GPT),
        _gpt("gpt-image-1-mini", _GPT_MINI),
        _gpt("gpt-image-1.5", _GPT),
        _gpt("gpt-image-2", _GPT),
        # OpenAI lists it among the edit models only
        _gpt(
            "chatgpt-image-latest",
            _GPT,
            generate=False,
            no_generate_why="OpenAI offers it for edits only",
        ),
        Caps(
            "dall-e-3",
            OPENAI,
            MappingProxyType(
                {
                    "n": span(1, 1),  # one image a request: imggen sends one request per image
                    "quality": enum("standard", "hd"),
                    "style": enum("vivid", "natural"),
                    "response_format": enum("url", "b64_json"),
                }
            ),
            edit=False,
            no_edit_why="OpenAI's dall-e-3 cannot edit images",
        ),
        Caps(
            "dall-e-2",
            OPENAI,
            MappingProxyType(
                {
                    "n": span(1, 10),
                    "quality": enum("standard"),
                    "response_format": enum("url", "b64_json"),
                }
            ),
            max_inputs=1,
            square_png_under=4 * MiB,
        ),
        # seed 002: quality, output_format png/jpeg ("Azure 暂不支持 webp"), compression for
        # jpeg only, transparent only with png, moderation; input_fidelity on edits
        Caps(
            "turing-gpt-image",
            TURING,
            MappingProxyType(
                {
                    "n": span(1, 10),
                    "quality": enum("low", "medium", "high", "auto"),
                    "output_format": enum("png", "jpeg"),
                    "output_compression": span(0, 100),
                    "background": enum("transparent", "opaque", "auto"),
                    "moderation": enum("auto", "low"),
                    "input_fidelity": enum("low", "high"),
                }
            ),
            max_inputs=16,
            transparent=("png",),
            compression=("jpeg",),
            edit_only=("input_fidelity",),
        ),
        # seed 002: Seedream takes a seed, and n (sequential generation on the gateway's side);
        # the document names no other field, so the rest passes as given
        Caps(
            "seedream",
            TURING,
            MappingProxyType(
                {
                    "n": span(1, 10),
                    "seed": span(None, None),
                    "output_format": enum("png", "jpeg"),
                    "quality": ANY,
                    "background": ANY,
                    "response_format": enum("url", "b64_json"),
                }
            ),
            transparent=("png",),
            edit=False,
            no_edit_why="Seedream models have no image edit endpoint on Turing",
        ),
    )
}

# OpenAI model names, most specific first: "openai/gpt-image-1-mini" is gpt-image-1-mini.
OPENAI_MODELS = (
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-1",
    "gpt-image-2",
    "chatgpt-image-latest",
    "dall-e-3",
    "dall-e-2",
)


def openai_name(model: str) -> str | None:
    """The OpenAI model a name stands for ("openai/dall-e-3" -> "dall-e-3"), or None."""
    base = model.lower().rsplit("/", 1)[-1]
    return next((name for name in OPENAI_MODELS if base.startswith(name)), None)
