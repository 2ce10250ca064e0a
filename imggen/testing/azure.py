"""Azure OpenAI as the fake gateway serves it: the classic route
`/openai/deployments/DEP/images/{generations,edits}?api-version=...` and the v1 route
`/openai/v1/images/...` (the body's model names the deployment); the key in an `api-key`
header; Azure's answers for a missing api-version, an unknown deployment and the content
filter (gw.refuse_safety). The deployments are gw.deployments (name -> model behind it).

Sources: Azure/azure-rest-api-specs .../inference/stable/2024-10-21/inference.yaml (routes,
api-key); the 404 "Resource not found" and DeploymentNotFound texts as quoted in
Significant-Gravitas/AutoGPT#4023 and chatboxai/chatbox#646; the 401 text as quoted in
microsoft/chat-copilot#738; the content-filter body's shape (innererror.content_filter_result)
from learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imggen.testing import images_api
from imggen.testing.protocol import Fault, HTTPError, Recorded, Reply, json_reply

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway


def _error(http: int, code: str, message: str, **extra: Any) -> HTTPError:
    return HTTPError(json_reply(http, {"error": {"code": code, "message": message, **extra}}))


def route(gw: FakeGateway, rec: Recorded, path: str, fault: Fault | None) -> Reply:
    if gw.api_key is not None and rec.headers.get("api-key") != gw.api_key:
        raise _error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
            "to provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
        )
    classic = "/openai/deployments/" in path
    if classic and not rec.query.get("api-version"):
        raise _error(404, "404", "Resource not found")
    edits = path.endswith("/images/edits")
    if classic:
        deployment = path.split("/openai/deployments/", 1)[1].split("/", 1)[0]
    elif edits and rec.form is not None:
        deployment = (rec.form.get("model") or [""])[-1]
    else:
        deployment = str((rec.json or {}).get("model") or "") if isinstance(rec.json, dict) else ""
    if deployment not in gw.deployments:
        raise _error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
        )
    if gw.refuse_safety:
        filtered = {"filtered": True, "severity": "medium"}
        calm = {"filtered": False, "severity": "safe"}
        raise _error(
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy.",
            param="prompt",
            status=400,
            innererror={
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"hate": calm, "sexual": calm, "violence": filtered},
            },
        )
    model = gw.deployments[deployment]
    if edits:
        if rec.form is None:
            raise _error(400, "invalid_request_error", "images/edits expects multipart/form-data")
        fields = {name: values[-1] for name, values in rec.form.items()} | {"model": model}
        given = sum(part.name in ("image", "image[]") for part in rec.files)
        return images_api.images_reply(gw, fields, fault, "edits", given)
    body = dict(rec.json) if isinstance(rec.json, dict) else {}
    return images_api.images_reply(gw, body | {"model": model}, fault, "generations", 0)
