"""Routes of the providers with their own paths, matched before the suffix table of
routes.py: Google (Gemini API, its batch mode and File API, Vertex AI), Azure OpenAI's two
routes, and Together, xAI and Recraft under their own prefixes. Each handler checks the key its
provider's way."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imggen.testing import azure, google, google_batch, google_files, vendors

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

Handler = Callable[["FakeGateway", Any, str, Any], Any]

PERSONAS: tuple[tuple[re.Pattern[str], tuple[str, str, Handler]], ...] = (
    (
        re.compile(r".*/models/[^/:]+:(generateContent|streamGenerateContent)$"),
        ("google", "POST", google.generate),
    ),
    (re.compile(r".*/v1beta/models$"), ("google_models", "GET", google.models)),
    (
        re.compile(r".*/v1beta/models/[^/:]+:batchGenerateContent$"),
        ("google_batch", "POST", google_batch.create),
    ),
    (
        re.compile(r".*/v1beta/batches/[^/:]+(:cancel)?$"),
        ("google_batches", "*", google_batch.route),
    ),
    (re.compile(r".*/upload/v1beta/files$"), ("google_upload", "*", google_files.upload)),
    (
        re.compile(r".*/download/v1beta/files/[^/:]+:download$"),
        ("google_download", "GET", google_files.download),
    ),
    (re.compile(r".*/v1beta/files/[^/:]+$"), ("google_file", "*", google_files.route)),
    (re.compile(r".*/publishers/google/models$"), ("vertex_models", "GET", google.no_listing)),
    (
        re.compile(r".*/openai/deployments/[^/]+/images/(generations|edits)$"),
        ("azure", "POST", azure.route),
    ),
    (re.compile(r".*/openai/v1/images/(generations|edits)$"), ("azure", "POST", azure.route)),
    (re.compile(r".*/together/v1/images/generations$"), ("together", "POST", vendors.together)),
    (re.compile(r".*/xai/v1/images/(generations|edits)$"), ("xai", "POST", vendors.xai)),
    (re.compile(r".*/recraft/v1/images/generations$"), ("recraft", "POST", vendors.recraft)),
    (
        re.compile(r".*/recraft/v1/images/imageToImage$"),
        ("recraft_i2i", "POST", vendors.recraft_i2i),
    ),
    (
        re.compile(r".*/recraft/v1/images/inpaint$"),
        ("recraft_inpaint", "POST", vendors.recraft_inpaint),
    ),
    (re.compile(r".*/together/v1/models$"), ("together_models", "GET", vendors.together_models)),
    (re.compile(r".*/xai/v1/models$"), ("xai_models", "GET", vendors.xai_models)),
    (re.compile(r".*/recraft/v1/models$"), ("recraft_models", "GET", vendors.recraft_models)),
)
# These check the key themselves, each its provider's way.
OWN_AUTH = frozenset(route for _, (route, _, _) in PERSONAS)


def persona_of(path: str) -> tuple[str, str, Handler] | None:
    for pattern, found in PERSONAS:
        if pattern.match(path):
            return found
    return None
