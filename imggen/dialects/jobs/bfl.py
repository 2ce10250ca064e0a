"""Black Forest Labs (api.bfl.ai/v1): POST /{model} -> {id, polling_url, cost}; GET
polling_url -> {id, status, result, progress} with status Pending, Ready (result.sample, a URL
that expires in 10 minutes), Request Moderated, Content Moderated, Error, Task not found. No
cancel. The key in an `x-key` header.

Sources (shared/references/providers-beyond-openai.md section 5): black-forest-labs/flux
src/flux/api.py; black-forest-labs/skills references/endpoints.md and polling-patterns.md
(polling URLs on regional hosts such as api.us1.bfl.ai); ComfyUI comfy_api_nodes/apis/
bfl_api.py (the status enum; width/height 256-1440 in multiples of 32 for FLUX1.1 [pro];
Kontext's aspect_ratio and input_image)."""

from __future__ import annotations

from typing import Any

from imggen.dialects.base import deep_merge, payload
from imggen.dialects.jobs.base import (
    JobDialect,
    fixed,
    images_of,
    no_ticket,
    pixels,
    raw_base64,
    submit_call,
    text,
)
from imggen.dialects.presetdata import ModelInfo, Preset
from imggen.errors import UsageError
from imggen.job import Cadence, Gateway, HttpCall, Job, JobState, Reply, Ticket
from imggen.sizes import Resolved

_MODERATED = ("Request Moderated", "Content Moderated")


class Bfl(JobDialect):
    name = "bfl"
    # Black Forest Labs' own client polls from 1 s growing x1.5 to 5 s
    # (black-forest-labs/skills references/code-examples/python-client.py, _poll); its limit
    # is on active tasks (24 at once, 6 for Kontext Max; 429 "Too many concurrent requests"
    # with retry_after, references/rate-limiting.md), with no poll rate given: 10 polls a
    # second over all jobs, and a gap never over 5 s, since results expire 10 minutes after.
    cadence = Cadence(first=1.0, least=1.0, most=5.0, factor=1.5, rate=10.0, jitter=0.2)
    formats = ("png", "jpeg")
    takes = frozenset({"aspect", "size", "format", "seed", "refs", "inputs"})  # and -n

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fixed(job, gw, ("quality", "background", "mask", "partials"))
        body: dict[str, Any] = {"prompt": job.prompt}
        kontext = "kontext" in gw.model
        if kontext or "flux-2" in gw.model:
            if res.aspect and not res.pixels and not res.tier:
                body["aspect_ratio"] = res.aspect  # Kontext: between 21:9 and 9:21
            elif (wh := pixels(res, job, gw, 16 if "flux-2" in gw.model else 32)) is not None:
                body["width"], body["height"] = wh
        elif (wh := pixels(res, job, gw, 32)) is not None:
            if not all(256 <= side <= 1440 for side in wh):
                raise UsageError(
                    f"{gw.model} makes 256 to 1440 pixels a side, not {wh[0]}x{wh[1]}",
                    hint="use --size 1K, or --size WxH within 256-1440 in multiples of 32",
                )
            body["width"], body["height"] = wh
        body["output_format"] = job.format or "png"  # imggen names files .png by default
        for k, img in enumerate(images_of(job)[:8]):  # input_image, input_image_2 ... _8
            body["input_image" if k == 0 else f"input_image_{k + 1}"] = raw_base64(img)
        deep_merge(body, job.params)  # --param: raw body fields, as given
        calls = []
        for i in range(max(1, job.count)):  # one image a request
            one = dict(body)
            if job.seed is not None:
                one["seed"] = job.seed + i
            calls.append(submit_call("/" + gw.model.strip("/"), one))
        return calls

    def accepted(self, body: Any) -> Ticket:
        if not isinstance(body, dict) or not text(body.get("id")):
            raise no_ticket(body, "Black Forest Labs")
        job_id = body["id"]
        # the polling URL names the region that holds the job; get_result on the base URL
        # is the older way, kept for replies without one
        poll = text(body.get("polling_url")) or f"/get_result?id={job_id}"
        return Ticket(job_id, poll)

    def read(self, body: Any) -> JobState:
        status = text(body.get("status")) if isinstance(body, dict) else ""
        if status == "Ready":
            return JobState("done", reply=self.parse(body))
        if status in _MODERATED:
            return JobState("failed", error=f"{status.lower()} by Black Forest Labs", refused=True)
        if status == "Error":
            details = body.get("details") or body.get("result") or "the job failed"
            return JobState("failed", error=str(details)[:500])
        if status == "Task not found":
            return JobState("failed", error="Black Forest Labs no longer knows this job")
        return JobState("running")

    def parse(self, body: Any) -> Reply:
        reply = Reply()
        result = body.get("result") if isinstance(body, dict) else None
        if isinstance(result, dict):
            payload(result.get("sample"), "result.sample", reply)
        return reply


DIALECT = Bfl()

PRESET = Preset(
    name="bfl",
    base_url="https://api.bfl.ai/v1",
    dialect="bfl",
    key_env="BFL_API_KEY",
    models_api=False,
    no_models_api_why="Black Forest Labs has no models API; the catalog lists its models",
    auth="x-key",
    models=(
        ModelInfo("flux-pro-1.1", "bfl", "flux", can_stream=False, can_edit=False),
        ModelInfo("flux-dev", "bfl", "flux", can_stream=False, can_edit=False),
        ModelInfo("flux-kontext-pro", "bfl", "flux", can_stream=False),
        ModelInfo("flux-kontext-max", "bfl", "flux", can_stream=False),
    ),
    note="results are kept 10 minutes: imggen downloads each as soon as it is ready",
)
