"""What a built-in gateway is, as data: a Preset and its models' ModelInfo. Apart from
presets.py so that job providers' modules (dialects/jobs/) can declare their own preset."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelInfo:
    """What the gateway's documents say one model can do, and why not where it cannot."""

    id: str
    dialect: str
    size_rule: str
    can_stream: bool = True
    can_edit: bool = True
    image_only: bool = False
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    no_stream_why: str = ""  # shown when --stream is refused
    no_edit_why: str = ""  # shown when `edit` is refused
    caps: str | None = None  # its field rules on an images-style API: a key of rules.CAPS


@dataclass(frozen=True)
class Preset:
    name: str
    base_url: str | None  # None: the seed names no public host; the profile must set one
    dialect: str  # the dialect for models the catalog does not know
    key_env: str  # the environment variable `config init` suggests for the key
    models_api: bool = True
    models_query: str = ""  # query string for the models API, e.g. output_modalities=image
    models: tuple[ModelInfo, ...] = ()
    no_models_api_why: str = ""  # said where the models API would be asked
    no_base_url_why: str = ""  # said when a profile of this preset lacks base_url
    model_dialects: tuple[tuple[str, str], ...] = field(default=())  # (substring, dialect)
    # Listings read at run time (cached a day per profile): the Image API's capability
    # descriptors (OpenRouter) and the models API's `mode` (LiteLLM) choose dialect and rules.
    image_api: str = ""  # path of the image models list, e.g. /images/models
    learns: bool = False  # generate reads the listings (from the cache, or asks once a day)
    tier_names: tuple[tuple[str, str], ...] = ()  # ("512", "0.5K"): the gateway's tier names
    currency: str | None = None  # of the usage.cost the gateway reports
    note: str = ""  # what `config init --preset` says about the set-up
    # chat streams ask for usage with stream_options.include_usage (OpenAI-style gateways
    # stream it only when asked); off where the gateway's document names no such field
    stream_usage: bool = False
    auth: str = "bearer"  # how the key is sent: a spelling wire.auth.parse takes
    also_env: tuple[str, ...] = ()  # other variables the key is read from (GOOGLE_API_KEY)
    key_cmd: tuple[str, ...] = ()  # the api_key_cmd `config init` writes (Vertex's token)
    api_version: str = ""  # Azure's api-version when the profile names none
    # the gateway speaks one API style whatever the model: a `like` borrows rules, not dialect
    one_dialect: bool = False

    @property
    def default_model(self) -> str | None:
        return self.models[0].id if self.models else None

    def find(self, model: str) -> ModelInfo | None:
        for info in self.models:
            if info.id == model:
                return info
        return None
