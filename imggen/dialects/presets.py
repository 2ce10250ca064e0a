"""Built-in gateways as data: base URL, dialect per model, quirks and why-not texts, and a
model catalog (drawn from the gateway documents in shared/seeds/)."""

from __future__ import annotations

from imggen.dialects.presetdata import ModelInfo, Preset
from imggen.dialects.rules import CAPS, OPENAI_MODELS, openai_name

__all__ = ["PRESETS", "ModelInfo", "Preset", "infer_size_rule", "known", "known_names"]


def infer_size_rule(model: str) -> str:
    """The sizes rule for a model no catalog lists, from its name."""
    m = model.lower()
    for needle, rule in (
        ("gemini-2.5", "gemini-2.5"),
        ("gemini-3.1", "gemini-3.1"),
        ("gemini-3", "gemini-3"),
        # Turing's catalog names its own rule (with a pixel floor); elsewhere OpenAI's
        ("gpt-image-2", "gpt-image-2-openai"),
        ("gpt-image-1", "gpt-image-1"),
        ("chatgpt-image", "gpt-image-1"),
        ("dall-e-3", "dall-e-3"),
        ("dall-e-2", "dall-e-2"),
        ("seedream", "seedream"),
    ):
        if needle in m:
            return rule
    return "any"


def infer_dialect(model: str) -> str:
    """The dialect for a model when neither profile nor preset says: images API or chat."""
    m = model.lower()
    if any(s in m for s in ("gpt-image", "dall-e", "seedream", "chatgpt-image")):
        return "images"
    return "openrouter"


def _gemini(mid: str, dialect: str, rule: str, *, stream: bool = True) -> ModelInfo:
    return ModelInfo(mid, dialect, rule, can_stream=stream)


def _turing(mid: str, rule: str) -> ModelInfo:
    # seed 002: gpt-image on Turing (Azure) has its own field rules, and no stream
    return ModelInfo(
        mid,
        "images",
        rule,
        False,
        formats=_PNG_JPEG,
        no_stream_why="Turing's images API does not stream",
        caps="turing-gpt-image",
    )


def _openai(mid: str) -> ModelInfo:
    """An OpenAI model as its rules say: sizes, streaming, editing, formats."""
    caps = CAPS[mid]
    fmt = caps.fields.get("output_format")
    return ModelInfo(
        mid,
        "images",
        infer_size_rule(mid),
        can_stream=caps.stream,
        can_edit=caps.edit,
        formats=fmt.values if fmt else (),
        no_edit_why=caps.no_edit_why,
        no_stream_why="" if caps.stream else "OpenAI streams only its GPT image models",
        caps=mid,
    )


# Azure's gpt-image does not take webp (seed 002: "Azure 暂不支持 webp").
_PNG_JPEG = ("png", "jpeg")

from imggen.dialects.native_presets import NATIVE_PRESETS  # noqa: E402

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # seed 000: chat completions with image_config; stream refused for images; no models API;
        # the document names no public host, so a profile must give base_url.
        Preset(
            "trinity",
            None,
            "trinity",
            "TRINITY_API_KEY",
            models_api=False,
            models=(ModelInfo("hunyuan-image", "trinity", "any", formats=_PNG_JPEG),),
            no_models_api_why="Trinity has no models API",
            no_base_url_why="Trinity publishes no public address",
        ),
        # seed 001: OpenRouter style, SSE with delta.images, base64 data URLs
        Preset(
            "knox",
            "https://api.knox.chat/v1",
            "openrouter",
            "KNOX_API_KEY",
            models_query="output_modalities=image",
            models=(
                _gemini("google/gemini-2.5-flash-image", "openrouter", "gemini-2.5"),
                _gemini("google/gemini-2.5-flash-image-preview", "openrouter", "gemini-2.5"),
                _gemini("google/gemini-3-pro-image-preview", "openrouter", "gemini-3"),
            ),
        ),
        # seed 002: images API for gpt-image and Seedream, Gemini-style chat for gemini models
        Preset(
            "turing",
            "https://live-turing.cn.llm.tcljd.com/api/v1",
            "images",
            "TURING_API_KEY",
            models=(
                _turing("turing/gpt-image-2", "gpt-image-2"),
                _turing("turing/gpt-image-1", "gpt-image-1"),
                # seed 002: Seedream has no /images/edits
                ModelInfo(
                    "doubao-seedream-4-5-251128",
                    "images",
                    "seedream",
                    False,
                    can_edit=False,
                    formats=_PNG_JPEG,
                    no_edit_why="Seedream models have no image edit endpoint on Turing",
                    caps="seedream",
                ),
                _gemini("turing/gemini-3-pro-image", "gemini", "gemini-3"),
                _gemini("turing/gemini-3.1-flash-image", "gemini", "gemini-3"),
                _gemini("turing/gemini-3.1-flash-lite-image", "gemini", "gemini-3"),
                _gemini("turing/gemini-2.5-flash-image", "gemini", "gemini-2.5"),
            ),
            model_dialects=(("gemini", "gemini"),),
        ),
        # seed 003: OpenRouter style with SSE
        Preset(
            "openroute",
            "https://openroute.cn/api/v1",
            "openrouter",
            "OPENROUTE_API_KEY",
            models_query="output_modalities=image",
            models=(_gemini("google/gemini-2.5-flash-image-preview", "openrouter", "gemini-2.5"),),
        ),
        # seed 004: n gives one choice per image; options in extra_body.google.image_config
        Preset(
            "xty",
            "https://api.xty.app/v1",
            "xty",
            "XTY_API_KEY",
            models=(
                ModelInfo("gemini-3.1-flash-image-preview", "xty", "gemini-3.1", False),
                ModelInfo("gemini-3-pro-image-preview", "xty", "gemini-3", False),
            ),
        ),
        # OpenRouter: its Image API (POST /images) for the models GET /images/models lists,
        # chat completions for the others (shared/references/openrouter-image-api.md)
        Preset(
            "openrouter",
            "https://openrouter.ai/api/v1",
            "openrouter",
            "OPENROUTER_API_KEY",
            models_query="output_modalities=image",
            models=(
                _gemini("google/gemini-2.5-flash-image", "openrouter", "gemini-2.5"),
                _gemini("google/gemini-3-pro-image-preview", "openrouter", "gemini-3"),
                _gemini(
                    "google/gemini-3.1-flash-image-preview", "openrouter", "gemini-3.1-extended"
                ),
            ),
            image_api="/images/models",
            learns=True,
            tier_names=(("512", "0.5K"),),
            currency="USD",
            stream_usage=True,
        ),
        # OpenAI's images API (shared/references/openai-images-api.md)
        Preset(
            "openai",
            "https://api.openai.com/v1",
            "images",
            "OPENAI_API_KEY",
            models=tuple(
                _openai(m)
                for m in (
                    "gpt-image-1",
                    "gpt-image-1.5",
                    "gpt-image-1-mini",
                    "gpt-image-2",
                    "chatgpt-image-latest",
                    "dall-e-3",
                    "dall-e-2",
                )
            ),
        ),
        # A LiteLLM proxy (shared/references/litellm-proxy.md): aliases that say nothing of the
        # model behind them; its models API marks image deployments with `mode`.
        Preset(
            "litellm",
            None,
            "openrouter",
            "LITELLM_API_KEY",
            models=(),
            no_base_url_why="a LiteLLM proxy runs wherever you host it",
            # Seedream, as on the gateways that serve it, is an images API model (LiteLLM routes
            # it to its images endpoint); its chat route refuses it
            model_dialects=(("gpt-image", "images"), ("dall-e", "images"), ("seedream", "images")),
            learns=True,
            stream_usage=True,
            note=(
                "name each alias in the profile: [profiles.NAME.models.ALIAS] with "
                'dialect = "images" and like = "gpt-image-1" (a model it behaves like)'
            ),
        ),
        *NATIVE_PRESETS,
    )
}

# The job providers' presets, each declared in its own module (dialects/jobs/).
from imggen.dialects.jobs import PRESETS as _JOB_PRESETS  # noqa: E402

PRESETS.update(_JOB_PRESETS)


def known(model: str) -> ModelInfo | None:
    """A model imggen knows the rules of, for a profile alias's `like`: an OpenAI model, or a
    catalog entry (by id, or by its name without the provider: "gemini-2.5-flash-image")."""
    name = openai_name(model)
    if name is not None:
        return _openai(name)
    low = model.lower()
    entries = [m for p in PRESETS.values() for m in p.models]
    for info in entries:
        if info.id.lower() == low:
            return info
    return next((m for m in entries if m.id.lower().rsplit("/", 1)[-1] == low), None)


def known_names() -> list[str]:
    """What `like` may name, for messages."""
    names = dict.fromkeys([*OPENAI_MODELS, *(m.id for p in PRESETS.values() for m in p.models)])
    return list(names)
