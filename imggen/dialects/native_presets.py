"""The presets of providers with their own APIs: Google's Gemini API and Vertex AI, Azure
OpenAI, Together, xAI and Recraft (sources in each dialect's module docstring)."""

from __future__ import annotations

from imggen.dialects.azure import API_VERSION
from imggen.dialects.presetdata import ModelInfo, Preset

_GOOGLE_EDIT = "Gemini edits by instruction: the images go in as parts of the prompt"


def _gemini(mid: str, rule: str) -> ModelInfo:
    return ModelInfo(mid, "google", rule, formats=())


def _vendor(mid: str, dialect: str, why: str, *, edit_why: str = "") -> ModelInfo:
    return ModelInfo(
        mid,
        dialect,
        dialect,  # its size rule (imggen/vendor_sizes.py)
        can_stream=False,
        can_edit=not edit_why,
        formats=(),
        no_stream_why=why,
        no_edit_why=edit_why,
    )


# Together's image models (https://docs.together.ai/docs/images-overview): which take an input
# image, and in which field (dialects/vendors.py, together_images)
_TOGETHER_NO_EDIT = "it takes no input image on Together; the FLUX.1 Kontext and FLUX.2 models do"
_TOGETHER_MODELS = (
    *(
        _vendor(m, "together", "Together's images API does not stream", edit_why=_TOGETHER_NO_EDIT)
        for m in (
            "black-forest-labs/FLUX.1-schnell",
            "black-forest-labs/FLUX.1.1-pro",
            "black-forest-labs/FLUX.1-dev",
        )
    ),
    *(
        _vendor(m, "together", "Together's images API does not stream")
        for m in (
            "black-forest-labs/FLUX.1-kontext-pro",
            "black-forest-labs/FLUX.1-kontext-max",
            "black-forest-labs/FLUX.1-kontext-dev",
            "black-forest-labs/FLUX.2-pro",
            "black-forest-labs/FLUX.2-flex",
            "black-forest-labs/FLUX.2-dev",
        )
    ),
)

# python-genai types.py ImageConfig: 2.5 Flash Image is 1K only; 3 Pro Image 1K/2K/4K;
# 3.1 Flash Image adds 512 and the 1:4, 4:1, 1:8, 8:1 ratios (Vertex's model pages).
_GEMINI_MODELS = (
    _gemini("gemini-2.5-flash-image", "gemini-2.5"),
    _gemini("gemini-3-pro-image-preview", "gemini-3"),
    _gemini("gemini-3.1-flash-image-preview", "gemini-3.1-extended"),
)
_VERTEX_BASE = (
    "https://LOCATION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/LOCATION/"
    "publishers/google"
)

NATIVE_PRESETS: tuple[Preset, ...] = (
    # https://ai.google.dev/api : base https://generativelanguage.googleapis.com/v1beta,
    # key in x-goog-api-key; python-genai reads GEMINI_API_KEY, else GOOGLE_API_KEY
    Preset(
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        "google",
        "GEMINI_API_KEY",
        models_query="pageSize=1000",
        models=_GEMINI_MODELS,
        auth="x-goog-api-key",
        also_env=("GOOGLE_API_KEY",),
        one_dialect=True,
    ),
    # Vertex AI: an OAuth access token (about an hour), sent as auth "bearer"; its publisher
    # models listing is not under the generateContent path
    Preset(
        "vertex",
        None,
        "google",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        models_api=False,
        models=_GEMINI_MODELS,
        no_models_api_why="Vertex AI lists Google's models in its Model Garden, not under "
        "this base URL",
        no_base_url_why=f"Vertex AI's address names your project and location: {_VERTEX_BASE}",
        key_cmd=("gcloud", "auth", "print-access-token"),
        one_dialect=True,
        note="the token comes from `gcloud auth print-access-token` (api_key_cmd); "
        "imggen fetches it again once when it expires mid-run",
    ),
    # Azure OpenAI: no public host (each resource has its own); the model is the deployment
    Preset(
        "azure",
        None,
        "azure",
        "AZURE_OPENAI_API_KEY",
        models_api=False,
        no_models_api_why="Azure OpenAI deployments cannot be listed with a data-plane key "
        "(the Azure management API lists them); showing the profile's own model tables",
        no_base_url_why="each Azure OpenAI resource has its own address: "
        "https://RESOURCE.openai.azure.com/openai (or .../openai/v1)",
        auth="api-key",
        api_version=API_VERSION,
        one_dialect=True,
        note="-m names your deployment; tell imggen which model it is with "
        "`imggen config set profiles.NAME.models.DEPLOYMENT.like gpt-image-1`",
    ),
    Preset(
        "together",
        "https://api.together.xyz/v1",
        "together",
        "TOGETHER_API_KEY",
        models=_TOGETHER_MODELS,
        note="edits go to the FLUX.1 Kontext and FLUX.2 models: "
        "imggen edit IMAGE PROMPT -m black-forest-labs/FLUX.1-kontext-pro",
        one_dialect=True,
    ),
    Preset(
        "xai",
        "https://api.x.ai/v1",
        "xai",
        "XAI_API_KEY",
        models=tuple(
            ModelInfo(
                m,
                "xai",
                "xai",
                can_stream=False,
                formats=(),
                no_stream_why="xAI's images API does not stream",
            )
            for m in ("grok-imagine-image", "grok-imagine-image-quality")
        ),
        one_dialect=True,
    ),
    Preset(
        "recraft",
        "https://external.api.recraft.ai/v1",
        "recraft",
        "RECRAFT_API_TOKEN",
        models_api=False,
        no_models_api_why="Recraft has no models API",
        models=tuple(
            ModelInfo(
                m,
                "recraft",
                "recraft",
                can_stream=False,
                formats=(),
                no_stream_why="Recraft's API does not stream",
            )
            for m in ("recraftv3", "recraftv3_vector", "recraftv4", "recraftv4_vector")
        ),
        note="an edit needs a strength (imggen edit IMAGE PROMPT --param strength=0.5), or a "
        "mask to repaint part of it (--mask MASK.png, transparent where to repaint)",
        one_dialect=True,
    ),
)
