"""GET /models: an OpenRouter-style listing (output modalities, filtered by the
`output_modalities` query), or a 404 where the gateway has none (Trinity)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from imggen.testing.protocol import Fault, HTTPError, Recorded, Reply, error_reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "id": "google/gemini-2.5-flash-image",
        "name": "Google: Gemini 2.5 Flash Image",
        "architecture": {
            "input_modalities": ["text", "image"],
            "output_modalities": ["image", "text"],
        },
        "output_modalities": ["image", "text"],
    },
    {
        "id": "google/gemini-3-pro-image-preview",
        "name": "Google: Gemini 3 Pro Image Preview",
        "architecture": {
            "input_modalities": ["text", "image"],
            "output_modalities": ["image", "text"],
        },
        "output_modalities": ["image", "text"],
    },
    {
        "id": "openai/gpt-4o",
        "name": "OpenAI: GPT-4o",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
        "output_modalities": ["text"],
    },
]


def output_modalities(model: dict[str, Any]) -> list[str]:
    mods = model.get("output_modalities")
    if not isinstance(mods, list):
        arch = model.get("architecture") or {}
        mods = arch.get("output_modalities") if isinstance(arch, dict) else None
    return [str(m) for m in mods or []]


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    if not gw.models_endpoint:
        # 000_aa690c4b979c8ccf.txt: Trinity has no public GET /v1/models.
        raise HTTPError(
            error_reply(404, f"Not found: {path}", "invalid_request_error", "not_found")
        )
    models = [listed(m) for m in gw.models]
    wanted = rec.query.get("output_modalities", "")
    if wanted and wanted != "all":
        # 001/003: models carry output_modalities; OpenRouter filters on the query parameter.
        needed = {m.strip() for m in wanted.split(",") if m.strip()}
        models = [m for m in models if needed <= set(output_modalities(m))]
    return json_reply(200, {"object": "list", "data": models})


def model_groups(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """LiteLLM's GET /model_group/info: the groups and their real modes, where the fake plays
    a LiteLLM proxy (--alias); a 404 elsewhere. Its /models lists aliases without a mode, as
    the real proxy does (shared/references/litellm-proxy.md)."""
    if gw.model_groups is None:
        raise HTTPError(
            error_reply(404, f"Not found: {path}", "invalid_request_error", "not_found")
        )
    return json_reply(200, {"data": gw.model_groups})


def litellm_alias(gw: FakeGateway, name: str, model: str, mode: str = "image_generation") -> None:
    """Serve `name` as a LiteLLM alias of `model`: listed in /models with no `mode` (the real
    proxy gives aliases none), and in /model_group/info with its deployment's `mode`."""
    gw.aliases[name] = model
    gw.models.append({"id": name, "object": "model", "created": 1677610602, "owned_by": "openai"})
    groups = gw.model_groups if gw.model_groups is not None else []
    groups.append({"model_group": name, "mode": mode, "providers": ["openai"]})
    gw.model_groups = groups


# when the fake's models were "created" (OpenAI lists a Unix time per model)
CREATED = 1_700_000_000


def listed(model: dict[str, Any]) -> dict[str, Any]:
    """A listing entry with the fields OpenAI's Model object requires (object, created,
    owned_by) where the entry does not set them."""
    model_id = str(model.get("id", ""))
    owner = model_id.split("/", 1)[0] if "/" in model_id else "system"
    return {"object": "model", "created": CREATED, "owned_by": owner, **model}


def retrieve(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    """GET /models/{id} (the openai SDK's models.retrieve); ids may hold a slash."""
    wanted = unquote(path.split("/models/", 1)[1])  # the openai SDK sends "/" as %2F
    found = next((m for m in gw.models if str(m.get("id")) == wanted), None)
    if not gw.models_endpoint or found is None:
        raise HTTPError(
            json_reply(
                404,
                {
                    "error": {
                        "message": f"The model '{wanted}' does not exist",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                },
            )
        )
    return json_reply(200, listed(found))
