"""Which module answers which path: the fake gateway's personas (each a path prefix, a route
table, how its key is sent and how it says no), and the download routes (/files/, /redirect/)
it serves itself. A new gateway family is one module and one Persona here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imggen.testing import (
    batch_api,
    chat,
    images_api,
    jobs,
    jobs_bfl,
    jobs_fal,
    jobs_replicate,
    models,
    openrouter_image_api,
)
from imggen.testing.personas import persona_of
from imggen.testing.protocol import Fault, HTTPError, Recorded, Reply, error_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway


def _files(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    name = path[len("/files/") :]
    entry = gw.file(name)
    if entry is None:
        raise HTTPError(error_reply(404, f"No such file: {name}", code="not_found"))
    data, content_type = entry
    if fault and fault.kind == "truncated_image":
        data = data[: len(data) // 2]
    return Reply(200, {"Content-Type": content_type}, data)


def _redirect(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    name = path[len("/redirect/") :]
    return Reply(302, {"Location": gw.file_url(name), "Content-Type": "text/plain"}, b"")


Route = Callable[["FakeGateway", Recorded, str, "Fault | None"], Reply]
# (route name, method, handler); the name is what faults and streaming checks match on
Entry = tuple[str, str, Route]


def bearer_key(headers: dict[str, str]) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header; None when there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def openai_unauthorized(sent: str | None) -> Reply:
    """OpenAI's 401s (the key itself is never echoed)."""
    if sent is None:
        return error_reply(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
        )
    return error_reply(
        401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
    )


def scheme_key(scheme: str) -> Callable[[dict[str, str]], str | None]:
    """The key of an ``Authorization: SCHEME KEY`` header (fal: ``Key``)."""

    def key_of(headers: dict[str, str]) -> str | None:
        said, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if said.lower() == scheme.lower() and token.strip() else None

    return key_of


def header_key(name: str) -> Callable[[dict[str, str]], str | None]:
    """The key of a header of its own (Black Forest Labs: ``x-key``)."""
    return lambda headers: headers.get(name, "").strip() or None


def job_unauthorized(sent: str | None) -> Reply:
    """The job providers' 401 (each words it its own way; the status is what clients read)."""
    return error_reply(401, "Unauthorized: missing or invalid key", code="unauthorized")


@dataclass(frozen=True)
class Persona:
    """One gateway family: where its API lives, its routes (exact paths below the prefix; a
    key ending in "/" matches any path below it), how a request carries its key, and the 401
    it answers without a (right) key."""

    name: str
    prefix: str
    routes: dict[str, Entry]
    key_of: Callable[[dict[str, str]], str | None]
    unauthorized: Callable[[str | None], Reply]

    def entry(self, rest: str) -> Entry | None:
        found = self.routes.get(rest)
        if found is not None:
            return found
        for key, value in self.routes.items():
            if key.endswith("/") and rest.startswith(key) and len(rest) > len(key):
                return value
        return None


# OpenAI's API and those shaped on it: images API, chat completions, OpenRouter's Image API.
OPENAI_ROUTES: dict[str, Entry] = {
    "/chat/completions": ("chat", "POST", chat.route),
    "/images/generations": ("generations", "POST", images_api.generations),
    "/images/edits": ("edits", "POST", images_api.edits),
    "/images/models": ("image_models", "GET", openrouter_image_api.models_route),
    "/images": ("image_api", "POST", openrouter_image_api.route),
    "/models": ("models", "GET", models.route),
    "/models/": ("model", "GET", models.retrieve),
}

# The seeds' paths (shared/seeds/README.md): OpenAI, Trinity, Knox and XTY serve {root}/v1;
# Turing, OpenRoute and OpenRouter serve {root}/api/v1; a LiteLLM proxy answers
# /model_group/info beside its /v1; the job providers live under prefixes of their own, each
# route checking the method itself. Longest prefix first; the root last.
PERSONAS: list[Persona] = [
    Persona("openrouter", "/api/v1", OPENAI_ROUTES, bearer_key, openai_unauthorized),
    Persona("openai", "/v1", OPENAI_ROUTES, bearer_key, openai_unauthorized),
    Persona(
        "fal", jobs_fal.PREFIX.rstrip("/"), {"/": ("fal", "*", jobs_fal.route)},
        scheme_key("Key"), job_unauthorized,
    ),
    Persona(
        "replicate", jobs_replicate.PREFIX.rstrip("/"),
        {"/": ("replicate", "*", jobs_replicate.route)}, bearer_key, job_unauthorized,
    ),
    Persona(
        "bfl", jobs_bfl.PREFIX.rstrip("/"), {"/": ("bfl", "*", jobs_bfl.route)},
        header_key("x-key"), job_unauthorized,
    ),
    Persona(
        "litellm", "", {"/model_group/info": ("model_groups", "GET", models.model_groups)},
        bearer_key, openai_unauthorized,
    ),
]  # fmt: skip
_DOWNLOADS: dict[str, Entry] = {
    "/files/": ("files", "GET", _files),
    "/redirect/": ("redirect", "GET", _redirect),
    "/jobfiles/": ("files", "GET", jobs.files_route),  # job results: expiring URLs
    "/__imggen/jobs": ("job_counts", "GET", jobs.counts_route),
}


def route_of(path: str) -> tuple[Persona | None, str, str, Route | None]:
    """(persona, route name, method, handler) for a path; the persona is None for downloads,
    which take no key, and the handler None when no route matches."""
    for prefix, (name, method, handler) in _DOWNLOADS.items():
        if path.startswith(prefix):
            return None, name, method, handler
    own = persona_of(path)  # Google, Azure, Together, xAI, Recraft: each checks its own key
    if own is not None:
        return None, *own
    for persona in PERSONAS:
        if path.startswith(persona.prefix + "/"):
            rest = path[len(persona.prefix) :]
            batch = batch_api.route_for(rest) if persona.routes is OPENAI_ROUTES else None
            found = batch or persona.entry(rest)  # OpenAI's Batch API: /files, /batches/{id}
            if found is not None:
                return persona, *found
            return persona, "unknown", "", None
    return PERSONAS[-1], "unknown", "", None
