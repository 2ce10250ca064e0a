"""Which module answers which path: the route table of the fake gateway, and the download
routes (/files/, /redirect/) it serves itself. A new gateway family is one module and one
line here."""

from __future__ import annotations

from collections.abc import Callable
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
    with gw._lock:
        entry = gw.files.get(name)
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

# path suffix -> (route name, method, handler); /files/ and /redirect/ are matched by prefix.
# A new gateway family is one module and one line here.
ROUTES: dict[str, tuple[str, str, Route]] = {
    "/chat/completions": ("chat", "POST", chat.route),
    "/images/generations": ("generations", "POST", images_api.generations),
    "/images/edits": ("edits", "POST", images_api.edits),
    # OpenRouter's Image API; its list before the models API, whose suffix it shares
    "/images/models": ("image_models", "GET", openrouter_image_api.models_route),
    "/images": ("image_api", "POST", openrouter_image_api.route),
    "/models": ("models", "GET", models.route),
    "/model_group/info": ("model_groups", "GET", models.model_groups),
}
_DOWNLOADS: dict[str, tuple[str, str, Route]] = {
    "/files/": ("files", "GET", _files),
    "/redirect/": ("redirect", "GET", _redirect),
    "/jobfiles/": ("files", "GET", jobs.files_route),  # job results: expiring URLs
    # job providers, each under its own prefix (any method: the persona checks it)
    jobs_fal.PREFIX: ("fal", "*", jobs_fal.route),
    jobs_replicate.PREFIX: ("replicate", "*", jobs_replicate.route),
    jobs_bfl.PREFIX: ("bfl", "*", jobs_bfl.route),
    "/__imggen/jobs": ("job_counts", "GET", jobs.counts_route),
}


def route_of(path: str) -> tuple[str, str, Route | None]:
    """(route name, method, handler) for a path; ("unknown", "", None) when none matches."""
    for prefix, found in _DOWNLOADS.items():
        if path.startswith(prefix):
            return found
    own = persona_of(path)  # Google, Azure, Together, xAI, Recraft (testing/personas.py)
    if own is not None:
        return own
    batch = batch_api.route_for(path)  # OpenAI's Batch API: /files, /batches/{id}, ...
    if batch is not None:
        return batch
    for suffix, found in ROUTES.items():
        if path.endswith(suffix):
            return found
    return "unknown", "", None
