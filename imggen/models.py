"""Which image models a profile offers: the gateway's models API filtered to image output, or
the built-in catalog drawn from the seeds where the gateway has no such API."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from imggen import sizes
from imggen.errors import GatewayFailed, GatewayRefused, NotAnApi
from imggen.profiles import modelcache
from imggen.profiles.modelcache import IMAGE_MODES
from imggen.profiles.settings import Settings

MODELS_PATH = "/models"
GATEWAY = "gateway"
CATALOG = "catalog"


class JsonGetter(Protocol):
    """What listing needs of a client.Client: one authenticated GET returning JSON."""

    def get_json(self, path: str, *, root: bool = False) -> Any: ...


@dataclass(frozen=True)
class ModelRow:
    """One model as generate would treat it: dialect, size rule and abilities come from
    Settings.gateway(), so what `models` shows is what generate and edit validate against."""

    id: str
    dialect: str
    size_rule: str
    stream: bool
    edit: bool
    formats: tuple[str, ...]
    in_catalog: bool
    default: bool = False  # the profile's model
    image_output: bool | None = None  # None: the source did not say
    output_modalities: tuple[str, ...] | None = None
    listed: bool | None = None  # named by the gateway's listing; None: not asked
    name: str = ""
    parameters: Mapping[str, Any] | None = None  # field -> descriptor, where imggen knows them

    @property
    def rule(self) -> sizes.SizeRule:
        return sizes.RULES[self.size_rule]

    def size_text(self) -> str:
        """The sizes column: tiers, fixed pixel sizes, or "any"."""
        r = self.rule
        if r.name == "any":
            return "any"
        if r.open:
            return "/".join(r.tiers) + " or WxH"
        if r.sizes:
            return ", ".join(f"{w}x{h}" for w, h in r.sizes)
        return "/".join(r.tiers) + (" or WxH" if r.free_pixels else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name or None,
            "default": self.default,
            "dialect": self.dialect,
            "image_output": self.image_output,
            "output_modalities": (
                list(self.output_modalities) if self.output_modalities is not None else None
            ),
            "in_catalog": self.in_catalog,
            "listed": self.listed,
            "size_rule": self.size_rule,
            "sizes": sizes.describe(self.size_rule),
            "aspects": list(self.rule.aspects),
            "tiers": list(self.rule.tiers),
            "pixels": pixel_table(self.size_rule),
            "stream": self.stream,
            "edit": self.edit,
            "formats": list(self.formats),
            "parameters": None if self.parameters is None else dict(self.parameters),
        }


@dataclass(frozen=True)
class Listing:
    """The models of one profile and where the list came from."""

    profile: str
    preset: str | None
    source: str  # GATEWAY or CATALOG
    detail: str  # which URL was asked, or why the catalog was used
    models: tuple[ModelRow, ...]
    total: int = 0  # entries the gateway listed before filtering (0: not asked)

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "preset": self.preset,
            "source": self.source,
            "detail": self.detail,
            "models": [m.as_json() for m in self.models],
        }


def pixel_table(rule: str) -> dict[str, dict[str, str]]:
    """aspect -> tier -> "WxH" for a size rule (empty where the seeds give no pixels)."""
    out: dict[str, dict[str, str]] = {}
    for (aspect, tier), (w, h) in sizes.RULES[rule].table.items():
        out.setdefault(aspect, {})[tier] = f"{w}x{h}"
    return out


def has_models_api(settings: Settings) -> bool:
    """Whether to ask the gateway: every preset but Trinity (seed 000: no GET /v1/models);
    a profile without a preset is asked, and falls back when the gateway says 404."""
    return settings.preset is None or settings.preset.models_api


def models_path(settings: Settings, *, all_models: bool = False) -> str:
    """The models API path, with the preset's filter query (OpenRouter style, seeds 001/003)
    unless every model is wanted."""
    query = settings.preset.models_query if settings.preset else ""
    return f"{MODELS_PATH}?{query}" if query and not all_models else MODELS_PATH


def row(settings: Settings, model: str, **extra: Any) -> ModelRow:
    """A model as generate would see it on this profile."""
    gw = settings.gateway(model)
    known = settings.preset is not None and settings.preset.find(model) is not None
    caps = gw.caps
    if caps is not None and caps.checked:
        extra.setdefault(
            "parameters", {k: v.as_descriptor() for k, v in sorted(caps.fields.items())}
        )
    return ModelRow(
        id=model,
        dialect=gw.dialect,
        size_rule=gw.size_rule,
        stream=gw.can_stream,
        edit=gw.can_edit,
        formats=gw.formats,
        in_catalog=known,
        default=model == settings.model,
        **extra,
    )


def catalog(settings: Settings, listed: Sequence[str] | None = None) -> list[ModelRow]:
    """The built-in catalog of the profile's preset; without a preset, the profile's model."""
    ids = [m.id for m in settings.preset.models] if settings.preset else []
    # the profile's own model tables first (Azure's deployments: no listing can name them)
    ids = list(dict.fromkeys([*settings.aliases, *ids]))
    if not ids and settings.model:
        ids = [settings.model]
    seen = set(listed) if listed is not None else None
    return [
        row(settings, mid, image_output=True, listed=None if seen is None else mid in seen)
        for mid in ids
    ]


def output_modalities(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    """An entry's output modalities (top level, or OpenRouter's architecture block), or None
    when it says nothing about them."""
    mods = entry.get("output_modalities")
    if not isinstance(mods, list):
        arch = entry.get("architecture")
        mods = arch.get("output_modalities") if isinstance(arch, Mapping) else None
    if not isinstance(mods, list):
        return None
    return tuple(str(m) for m in mods)


def entries(body: Any) -> list[Mapping[str, Any]]:
    """The model entries of a models API reply: OpenAI's {"data": [...]} or a bare list."""
    if isinstance(body, Mapping) and isinstance(body.get("models"), list) and "data" not in body:
        return [_google(e) for e in body["models"] if isinstance(e, Mapping) and e.get("name")]
    items = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        return []
    found = [e for e in items if isinstance(e, Mapping) and isinstance(e.get("id"), str)]
    if isinstance(body, list):  # Together's bare list: `type` says what a model makes
        found = [_typed(e) for e in found]
    return found


def _typed(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Together models entry (https://docs.together.ai/reference/models-1: type "image",
    "chat", "language", ...) with its output modalities said the way imggen reads them."""
    kind = entry.get("type")
    if not isinstance(kind, str) or output_modalities(entry) is not None:
        return entry
    return {**entry, "output_modalities": ["image"] if kind == "image" else ["text"]}


def _google(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A Gemini API models.list entry (https://ai.google.dev/api/models: name "models/ID",
    displayName, supportedGenerationMethods) as an OpenAI-style one. Google lists no output
    modalities: a model makes images when it serves generateContent and its name says image
    (Google names every image model so: gemini-2.5-flash-image, gemini-3-pro-image-preview)."""
    mid = str(entry["name"]).removeprefix("models/")
    methods = entry.get("supportedGenerationMethods")
    generates = isinstance(methods, list) and "generateContent" in methods
    image = generates and "image" in mid.lower()
    out = ["image", "text"] if image else ["text"]
    return {"id": mid, "name": entry.get("displayName") or "", "output_modalities": out}


def listing(settings: Settings, client: JsonGetter | None, *, all_models: bool = False) -> Listing:
    """The profile's image models: asked of the gateway when it has a models API and a client
    is given, else the catalog. Raises AuthFailed and GatewayFailed; a 4xx other than 401/403
    (no such endpoint) falls back to the catalog."""
    preset = settings.preset.name if settings.preset else None

    def from_catalog(why: str, listed: Sequence[str] | None = None) -> Listing:
        rows = catalog(settings, listed)
        return Listing(settings.profile, preset, CATALOG, f"built-in catalog: {why}", tuple(rows))

    if not has_models_api(settings):
        why = settings.preset.no_models_api_why if settings.preset else ""
        return from_catalog(why or f"the {preset} gateway has no models API")
    if client is None:
        return from_catalog("the gateway was not asked (--catalog)")
    path = models_path(settings, all_models=all_models)
    url = settings.base_url + path
    try:
        body = client.get_json(path)
    except (GatewayRefused, GatewayFailed, NotAnApi) as exc:
        # a refusal, or a page that is no listing: no models API here. A 5xx or a network
        # failure is the gateway failing, and says so (exit 5).
        answered = isinstance(exc, GatewayRefused | NotAnApi) or (exc.status or 0) in range(
            200, 300
        )
        if not answered:
            raise
        return from_catalog(f"the gateway has no models API (GET {url}: {exc.message})")
    items = entries(body)
    settings = _with_modes(settings, body)
    mods = {str(e["id"]): output_modalities(e) for e in items}
    makes = {str(e["id"]): makes_images(settings, e, mods[str(e["id"])]) for e in items}
    if items and not any(m is not None for m in makes.values()):
        found = from_catalog(
            f"GET {url} listed {len(items)} models without output modalities", list(mods)
        )
        if not all_models:
            return found
        known = {r.id for r in found.models}
        extra = [row(settings, mid, listed=True) for mid in mods if mid not in known]
        return Listing(
            found.profile, preset, CATALOG, found.detail, found.models + tuple(extra), len(mods)
        )
    rows = []
    for entry in items:
        mid = str(entry["id"])
        out = mods[mid]
        image = makes[mid]
        name = str(entry.get("name") or "")
        r = row(settings, mid, image_output=image, output_modalities=out, listed=True, name=name)
        if all_models or image or (image is None and r.in_catalog):
            rows.append(r)
    rows += _image_api_rows(settings, {r.id for r in rows})
    detail = f"the gateway's models API (GET {url})"
    return Listing(settings.profile, preset, GATEWAY, detail, tuple(rows), len(items))


def _makes_images(entry: Mapping[str, Any], out: tuple[str, ...] | None) -> bool | None:
    """Whether a listed model makes images: LiteLLM's `mode` (image_generation, image_edit)
    where the entry has one, else its output modalities; None when it says neither."""
    mode = entry.get("mode")
    if isinstance(mode, str) and mode:
        return mode in IMAGE_MODES
    return None if out is None else "image" in out


def makes_images(
    settings: Settings, entry: Mapping[str, Any], out: tuple[str, ...] | None
) -> bool | None:
    """Whether a listed model makes images: what LiteLLM's model groups said of it where they
    did (its deployment's real mode: aliases have none in /models), else its entry."""
    learned = settings.learned.models.get(str(entry["id"])) if settings.learned else None
    if learned is not None and learned.from_groups:
        return learned.image_output
    return _makes_images(entry, out)


def _with_modes(settings: Settings, body: Any) -> Settings:
    """Settings that know the modes a LiteLLM listing gives (image_generation deployments are
    images-dialect models), as generate learns them; the model groups' modes, where learned,
    outrank them."""
    found = modelcache.from_models(body)
    if not any(m.mode for m in found.values()):
        return settings
    base = settings.learned or modelcache.Learned(settings.base_url, time.time())
    return dataclasses.replace(settings, learned=base.with_listing(MODELS_PATH, found))


def image_api_only(settings: Settings, shown: set[str]) -> list[str]:
    """The models only the image models list names (OpenRouter's Image API), not in `shown`."""
    learned = settings.learned
    if learned is None:
        return []
    return [mid for mid, m in learned.models.items() if m.image_api and mid not in shown]


def _image_api_rows(settings: Settings, shown: set[str]) -> list[ModelRow]:
    """The models the gateway's image models list names (OpenRouter's Image API) that its
    models API left out."""
    learned = settings.learned
    if learned is None:
        return []
    return [
        row(settings, mid, image_output=True, listed=True, name=m.name)
        for mid, m in learned.models.items()
        if m.image_api and mid not in shown
    ]
