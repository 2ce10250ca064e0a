"""Azure OpenAI: OpenAI's images API under a resource's own routes, the model named by the
deployment. The body and the per-model rules are the images dialect's (a profile's `like`
borrows a known model's); only where the call goes differs.

Wire facts, with their public sources:
- Classic route `{endpoint}/openai/deployments/{deployment-id}/images/generations` (and
  `/images/edits`, multipart) with a required `api-version` query:
  Azure/azure-rest-api-specs specification/cognitiveservices/data-plane/AzureOpenAI/inference/
  stable/2024-10-21/inference.yaml (ImageGenerations_Create; servers `https://{endpoint}/openai`),
  preview/2025-04-01-preview/examples/image_edits.json (the gpt-image-1 edit example).
- The v1 route `{endpoint}/openai/v1/images/generations`: the model field names the
  deployment; the v1 API "removes the need for dated api-version parameters" (opt-in since
  August 2025): https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
- The key in an `api-key` header (securitySchemes apiKey in inference.yaml): the preset's `auth`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from imggen.dialects.base import Reading
from imggen.dialects.images import IMAGES
from imggen.job import Gateway, HttpCall, Job, Reply
from imggen.sizes import Resolved

# The api-version the classic route gets when the profile names none: the first that serves
# gpt-image-1 generations and edits (preview/2025-04-01-preview in azure-rest-api-specs), and
# the one Azure's image how-to still names for them (re-checked 2026-12):
# https://learn.microsoft.com/azure/ai-services/openai/how-to/dall-e ("For example,
# 2025-04-01-preview"). Newer features move to the v1 route rather than new dated versions.
API_VERSION = "2025-04-01-preview"


def is_v1(base_url: str) -> bool:
    """Whether a base URL is the /openai/v1 route (else the classic deployments route)."""
    return urlsplit(base_url).path.rstrip("/").endswith("/openai/v1")


@dataclass(frozen=True)
class AzureDialect(Reading):
    name: str = "azure"
    can_stream: bool = True  # the deployed model's rules say (like = "gpt-image-1")
    no_stream_why: str = ""
    formats: tuple[str, ...] = ("png", "jpeg")  # Azure's gpt-image takes no webp (seed 002)
    takes: frozenset[str] = frozenset(
        {"size", "aspect", "format", "quality", "background", "seed", "inputs", "mask"}
        | {"partials"}
    )

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        calls = IMAGES.build(job, gw, res, stream=stream)
        return [self._routed(call, gw) for call in calls]

    def _routed(self, call: HttpCall, gw: Gateway) -> HttpCall:
        if is_v1(gw.base_url):
            return call  # /openai/v1/images/...: the body's model names the deployment
        root = "" if urlsplit(gw.base_url).path.rstrip("/").endswith("/openai") else "/openai"
        version = quote(gw.api_version or API_VERSION, safe="-._~")
        deployment = quote(gw.model, safe="-._~")
        path = f"{root}/deployments/{deployment}{call.path}?api-version={version}"
        return dataclasses.replace(call, path=path)

    def parse(self, body: Any) -> Reply:
        return IMAGES.parse(body)

    def parse_event(self, body: Any) -> Reply:
        return IMAGES.parse_event(body)


AZURE = AzureDialect()
