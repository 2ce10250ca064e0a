"""What a gateway's model listings say, per profile: OpenRouter's image models list (capability
descriptors, output modalities) and a models API's `mode` (LiteLLM). Generate reads them to
pick dialect and rules; they are cached a day under the user cache dir (IMGGEN_CACHE_DIR
overrides it), so a run asks at most once a day, and `imggen models --refresh` asks at once."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imggen.dialects.caps import Caps, Field
from imggen.errors import AuthFailed, GatewayFailed, GatewayRefused, NotAnApi

if TYPE_CHECKING:
    from imggen.env import Env
    from imggen.profiles.settings import Settings

CACHE_ENV = "IMGGEN_CACHE_DIR"
MAX_AGE = 24 * 3600.0  # a day: OpenRouter adds models and parameters, rarely faster
FORMAT = 1  # the cache file's layout
IMAGE_MODES = ("image_generation", "image_edit")  # LiteLLM's model_info.mode
# LiteLLM's model groups (at the proxy's root, beside /v1): each group's real `mode`, from its
# deployment; /v1/models fills `mode` from a price table by public name, and none for aliases
# (shared/references/litellm-proxy.md)
GROUP_INFO = "/model_group/info"
# listings that name every model a gateway serves (not OpenRouter's image models list, which
# names only its Image API's): a model missing from them is not served there
FULL_LISTINGS = ("/models", GROUP_INFO)
IMAGE_API = "openrouter-images"  # the dialect of the models an image models list names
ASK_TIMEOUT = 60.0
SOURCE = "OpenRouter's image models list"


@dataclass(frozen=True)
class Listed:
    """What the listings said of one model."""

    id: str
    name: str = ""
    image_api: bool = False  # named by the image models list: generated through POST /images
    caps: Caps | None = None  # its capability descriptors there
    outputs: tuple[str, ...] | None = None  # output modalities, where a listing says
    mode: str | None = None  # LiteLLM: image_generation, image_edit, chat, ...
    from_groups: bool = False  # `mode` came from LiteLLM's model groups: the deployment's own

    @property
    def dialect(self) -> str | None:
        """The dialect the listing implies, or None when it implies none."""
        if self.image_api:
            return IMAGE_API
        if self.mode in IMAGE_MODES:
            return "images"
        if self.mode == "chat":  # LiteLLM: a chat deployment, whatever its name suggests
            return "chat" if self.from_groups else None
        return None

    @property
    def image_output(self) -> bool | None:
        if self.image_api or self.mode in IMAGE_MODES:
            return True
        if self.outputs is not None:
            return "image" in self.outputs
        return False if self.mode else None

    def merged(self, other: Listed) -> Listed:
        """This entry completed by another listing's word on the same model."""
        return Listed(
            self.id,
            self.name or other.name,
            self.image_api or other.image_api,
            self.caps or other.caps,
            self.outputs if self.outputs is not None else other.outputs,
            # the model groups' word on a mode outranks a price table's guess by name
            self.mode if self.from_groups or not other.from_groups else other.mode,
            self.from_groups or other.from_groups,
        )


@dataclass(frozen=True)
class Learned:
    """The listings of one profile's gateway, as fetched at `fetched`."""

    base_url: str
    fetched: float
    models: Mapping[str, Listed] = field(default_factory=dict)
    asked: tuple[str, ...] = ()  # the paths that answered, e.g. ("/images/models",)

    def fresh(self, base_url: str, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.fetched
        return self.base_url == base_url and 0 <= age < MAX_AGE

    def with_listing(self, path: str, found: Mapping[str, Listed]) -> Learned:
        models = dict(self.models)
        for mid, entry in found.items():
            models[mid] = entry.merged(models[mid]) if mid in models else entry
        asked = tuple(dict.fromkeys((*self.asked, path)))
        return dataclasses.replace(self, models=models, asked=asked)


# -- reading listings -------------------------------------------------------------------------


def _entries(body: Any) -> list[Mapping[str, Any]]:
    items = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        return []
    return [e for e in items if isinstance(e, Mapping) and isinstance(e.get("id"), str)]


def _outputs(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    mods = entry.get("output_modalities")
    if not isinstance(mods, list):
        arch = entry.get("architecture")
        mods = arch.get("output_modalities") if isinstance(arch, Mapping) else None
    return tuple(str(m) for m in mods) if isinstance(mods, list) else None


def from_image_models(body: Any) -> dict[str, Listed]:
    """OpenRouter's GET /images/models: every entry is an Image API model; its
    supported_parameters are the fields it takes (an absent key: unsupported)."""
    found = {}
    for entry in _entries(body):
        mid = str(entry["id"])
        params = entry.get("supported_parameters")
        fields = (
            {str(k): Field.from_descriptor(v) for k, v in params.items()}
            if isinstance(params, Mapping)
            else {}
        )
        arch = entry.get("architecture")
        inputs = arch.get("input_modalities") if isinstance(arch, Mapping) else None
        takes_images = "input_references" in fields or (
            isinstance(inputs, list) and "image" in inputs
        )
        caps = Caps(
            mid,
            SOURCE,
            fields,
            stream=entry.get("supports_streaming") is True,
            edit=takes_images,
            no_edit_why="" if takes_images else "its entry takes no input images",
        )
        found[mid] = Listed(mid, str(entry.get("name") or ""), True, caps, _outputs(entry))
    return found


def from_models(body: Any) -> dict[str, Listed]:
    """A models API listing: output modalities (OpenRouter style) and LiteLLM's `mode`."""
    found = {}
    for entry in _entries(body):
        mid = str(entry["id"])
        mode = entry.get("mode")
        found[mid] = Listed(
            mid,
            str(entry.get("name") or ""),
            outputs=_outputs(entry),
            mode=str(mode) if isinstance(mode, str) and mode else None,
        )
    return found


def from_model_groups(body: Any) -> dict[str, Listed]:
    """LiteLLM's GET /model_group/info: {"data": [{"model_group", "mode", "providers", ...}]},
    one per model name or alias the proxy serves, with its deployment's real mode."""
    items = body.get("data") if isinstance(body, Mapping) else body
    found = {}
    for entry in items if isinstance(items, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("model_group"), str):
            continue
        mid, mode = entry["model_group"], entry.get("mode")
        ok = isinstance(mode, str) and bool(mode)
        found[mid] = Listed(mid, mode=str(mode) if ok else None, from_groups=ok)
    return found


# -- the cache file ---------------------------------------------------------------------------


def cache_dir(environ: Mapping[str, str]) -> Path:
    """IMGGEN_CACHE_DIR if set, else the platform's user cache dir for imggen."""
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("imggen", appauthor=False))


def cache_path(environ: Mapping[str, str], profile: str) -> Path:
    safe = re.sub(r"[^\w.-]+", "_", profile) or "_"
    return cache_dir(environ) / "models" / f"{safe}.json"


def read(environ: Mapping[str, str], profile: str) -> Learned | None:
    """The cached listings of a profile, or None when absent or unreadable (a cache: a bad
    file is asked again, never an error)."""
    try:
        doc = json.loads(cache_path(environ, profile).read_text("utf-8"))
        if doc.get("format") != FORMAT:
            return None
        models = {}
        for mid, raw in doc["models"].items():
            caps = None
            if raw.get("fields") is not None:
                fields = {k: Field.from_descriptor(v) for k, v in raw["fields"].items()}
                caps = Caps(
                    mid,
                    SOURCE,
                    fields,
                    stream=bool(raw.get("stream")),
                    edit=bool(raw.get("edit")),
                    no_edit_why="" if raw.get("edit") else "its entry takes no input images",
                )
            outputs = raw.get("outputs")
            models[mid] = Listed(
                mid,
                str(raw.get("name") or ""),
                bool(raw.get("image_api")),
                caps,
                tuple(outputs) if isinstance(outputs, list) else None,
                raw.get("mode"),
                bool(raw.get("from_groups")),
            )
        return Learned(str(doc["base_url"]), float(doc["fetched"]), models, tuple(doc["asked"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write(environ: Mapping[str, str], profile: str, learned: Learned) -> None:
    """Store the listings (temp file + rename). Best effort: a cache that cannot be written
    only means asking again next time."""
    doc = {
        "format": FORMAT,
        "base_url": learned.base_url,
        "fetched": learned.fetched,
        "asked": list(learned.asked),
        "models": {mid: _record(m) for mid, m in learned.models.items()},
    }
    path = cache_path(environ, profile)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".models-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        return


def _record(m: Listed) -> dict[str, Any]:
    return {
        "name": m.name,
        "image_api": m.image_api,
        "fields": None
        if m.caps is None
        else {k: v.as_descriptor() for k, v in m.caps.fields.items()},
        "stream": m.caps.stream if m.caps else None,
        "edit": m.caps.edit if m.caps else None,
        "outputs": list(m.outputs) if m.outputs is not None else None,
        "mode": m.mode,
        "from_groups": m.from_groups,
    }


# -- learning ---------------------------------------------------------------------------------


def paths(s: Settings) -> list[str]:
    """What a profile's preset learns from: its image models list, else its models API."""
    if s.preset is None or not s.preset.learns:
        return []
    if s.preset.image_api:
        return [s.preset.image_api]
    return ["/models", GROUP_INFO] if s.preset.name == "litellm" else ["/models"]


def ask(s: Settings, client: Any, asked: list[str]) -> Learned:
    """Read the listings `asked` from the gateway. A listing it refuses (no such endpoint) is
    recorded as empty: the answer is kept a day too. Raises AuthFailed and GatewayFailed."""
    learned = Learned(s.base_url, time.time())
    for path in asked:
        try:
            body = client.get_json(path, root=True) if path == GROUP_INFO else client.get_json(path)
        except (GatewayRefused, NotAnApi):  # no such listing here (a 404, a web page)
            learned = learned.with_listing(path, {})
            continue
        except AuthFailed:
            if path != GROUP_INFO:
                raise
            continue  # a proxy that keeps its model groups from this key: /models alone
        if path == GROUP_INFO:
            found = from_model_groups(body)
        elif path == _image_api(s):
            found = from_image_models(body)
        else:
            found = from_models(body)
        learned = learned.with_listing(path, found)
    return learned


def check_served(s: Settings) -> None:
    """Refuse (UsageError, exit 2) before anything is sent a model the gateway's own full list
    (read a day at most ago) does not name: a typo would otherwise be sent as typed and paid
    for or refused there. A model the profile names in a table of its own is sent as is."""
    learned = s.learned
    if learned is None or not learned.models or s.model in s.aliases:
        return
    if not any(path in learned.asked for path in FULL_LISTINGS) or s.model in learned.models:
        return
    from imggen.errors import UsageError
    from imggen.suggest import did_you_mean

    origin = s.sources.get("model")
    said = f" ({origin})" if origin else ""
    raise UsageError(
        f"model {s.model!r}{said} is not among the {len(learned.models)} models "
        f"{s.base_url} lists{did_you_mean(s.model, learned.models)}",
        hint="`imggen models --all` lists them (--refresh reads the list again); to send a "
        f'name as typed, give it a table: [profiles.{s.profile}.models."{s.model}"]',
    )


def _image_api(s: Settings) -> str:
    return s.preset.image_api if s.preset else ""


def learn(
    s: Settings, env: Env, *, refresh: bool = False, offline: bool = False, client: Any = None
) -> Settings:
    """Settings that know what the gateway's listings say: the cache when fresh; else asked
    (not `offline`, and a key at hand) and cached. A listing that cannot be read leaves an
    older cache, or nothing, in use, with a warning. Raises AuthFailed (the key is refused)."""
    wanted = paths(s)
    if not wanted and not refresh:
        return s
    cached = read(env.environ, s.profile)
    if cached is not None and cached.base_url != s.base_url:
        cached = None
    if cached is not None and cached.fresh(s.base_url) and not refresh:
        return dataclasses.replace(s, learned=cached)
    if offline or not s.api_key:
        if cached is None and _image_api(s):
            return _warned(s, None, "not cached yet, and this run sends nothing")
        return dataclasses.replace(s, learned=cached)
    own = client is None
    client = client or _client(s, env)
    try:
        learned = ask(s, client, wanted)
    except AuthFailed as exc:  # named where the key came from, as a refused generation is
        raise AuthFailed(exc.message, hint=s.auth_hint(), status=exc.status) from None
    except GatewayFailed as exc:
        return _warned(s, cached, exc.message)
    finally:
        if own:
            client.close()
    write(env.environ, s.profile, learned)
    return dataclasses.replace(s, learned=learned)


def record(s: Settings, env: Env, path: str, body: Any) -> Settings:
    """Add a models API listing that `imggen models` read anyway to the profile's cache."""
    base = s.learned or Learned(s.base_url, time.time())
    learned = base.with_listing(path.split("?", 1)[0], from_models(body))
    write(env.environ, s.profile, learned)
    return dataclasses.replace(s, learned=learned)


def _warned(s: Settings, cached: Learned | None, why: str) -> Settings:
    """Settings using `cached` (or no listing), with a warning saying what that means."""
    path = _image_api(s) or "/models"
    if cached is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(cached.fetched))
        then = f"using the list read {when}"
    elif _image_api(s):
        then = "every model goes to chat completions"
    else:
        then = "models the profile does not describe are taken by their names"
    warning = (
        f"could not read the gateway's model list (GET {path}: {why}); {then}; "
        f"`imggen models -p {s.profile} --refresh` reads it again"
    )
    return dataclasses.replace(s, learned=cached, warnings=(*s.warnings, warning))


def _client(s: Settings, env: Env) -> Any:
    from imggen.wire.client import Client

    return Client(
        **s.connection(),
        retries=1,
        read_timeout=ASK_TIMEOUT,
        deadline=time.monotonic() + ASK_TIMEOUT,
        transport=env.transport,
        limits=env.limits,
    )
