"""fal's queue (queue.fal.run): POST /{model} -> {request_id, status_url, response_url,
cancel_url, queue_position}; GET status_url -> IN_QUEUE (queue_position), IN_PROGRESS,
COMPLETED; GET response_url -> {images: [{url, width, height, content_type}]}; PUT cancel_url.
The key as `Authorization: Key …`.

Sources (shared/references/providers-beyond-openai.md section 3): fal-ai/fal-js
libs/client/src/queue.ts and types/common.ts (the queue's shapes), docs.fal.ai/model-endpoints/
queue (status and result URLs carry owner/alias only), fal.ai/docs/model-api-reference/
image-generation-api/flux-dev (inputs prompt, image_size, num_images, seed, output_format;
output images[].url), the image_size presets (square_hd, landscape_16_9, ...)."""

from __future__ import annotations

from typing import Any

from imggen.dialects.base import deep_merge, payload
from imggen.dialects.jobs.base import (
    JobDialect,
    count,
    fixed,
    images_of,
    inline,
    no_ticket,
    pixels,
    submit_call,
    text,
)
from imggen.dialects.presetdata import ModelInfo, Preset
from imggen.job import Cadence, Gateway, HttpCall, Job, JobState, Reply, Ticket
from imggen.sizes import Resolved

# --aspect with the 1K tier (or no --size) as fal's named sizes; anything else as pixels
_NAMED = {
    ("1:1", "1K"): "square_hd",
    ("1:1", "512"): "square",
    ("3:4", "1K"): "portrait_4_3",
    ("9:16", "1K"): "portrait_16_9",
    ("4:3", "1K"): "landscape_4_3",
    ("16:9", "1K"): "landscape_16_9",
}


class Fal(JobDialect):
    name = "fal"
    # fal limits how many requests *run* at once, not how often one asks: "Requests are never
    # rejected due to concurrency limits" and queued ones do not count
    # (docs.fal.ai/documentation/model-apis/concurrency-limits); its own client polls every
    # 0.5 s by default (fal-ai/fal-js queue.ts, DEFAULT_POLL_INTERVAL), one loop a job. No
    # poll rate is documented: imggen keeps to 0.5 s at the least per job and 50 polls a
    # second over all of them (Replicate's documented 3,000 a minute, as a yardstick), gaps
    # growing to 5 s (as Black Forest Labs' client's), and a 429's Retry-After honoured.
    cadence = Cadence(first=1.0, least=0.5, most=5.0, factor=1.5, rate=50.0, jitter=0.2)
    formats = ("png", "jpeg")
    takes = frozenset({"aspect", "size", "format", "seed", "refs", "inputs"})  # and -n

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fixed(job, gw, ("quality", "background", "mask", "partials"))
        body: dict[str, Any] = {"prompt": job.prompt, "num_images": job.count}
        named = _NAMED.get((res.aspect or "", res.tier or "1K")) if not res.pixels else None
        if named:
            body["image_size"] = named
        elif (wh := pixels(res, job, gw, 8)) is not None:
            body["image_size"] = {"width": wh[0], "height": wh[1]}
        if job.seed is not None:
            body["seed"] = job.seed
        body["output_format"] = job.format or "png"  # imggen names files .png by default
        images = images_of(job)  # fal takes data URIs wherever it takes a URL
        if len(images) == 1:
            body["image_url"] = inline(images[0])
        elif images:
            body["image_urls"] = [inline(i) for i in images]
        deep_merge(body, job.params)  # --param: raw body fields, as given
        return [submit_call("/" + gw.model.strip("/"), body, images=job.count)]

    def accepted(self, body: Any) -> Ticket:
        if not isinstance(body, dict) or not text(body.get("request_id")):
            raise no_ticket(body, "fal")
        return Ticket(
            body["request_id"],
            text(body.get("status_url")),
            result=text(body.get("response_url")),
            cancel=text(body.get("cancel_url")),
            position=count(body.get("queue_position")),
        )

    def read(self, body: Any) -> JobState:
        status = text(body.get("status")) if isinstance(body, dict) else ""
        if status == "IN_QUEUE":
            return JobState("queued", position=count(body.get("queue_position")))
        if status == "IN_PROGRESS":
            return JobState("running")
        if status == "COMPLETED":
            error = body.get("error")
            if error:
                refused = "content_policy" in text(body.get("error_type"))
                return JobState("failed", error=str(error)[:500], refused=refused)
            return JobState("done")
        if status in ("CANCELLED", "CANCELED"):
            return JobState("cancelled")
        return JobState("running")

    def watch(self, ticket: Ticket) -> HttpCall | None:
        # GET .../requests/{id}/status/stream: each status as an SSE event, closed after
        # COMPLETED (fal.ai/docs/inference-api/queue/status-stream). fal's own client still
        # polls by default "until status streaming is stable and faster" (fal-js queue.ts):
        # imggen follows the stream for a single job's wait only, falling back to polls if
        # it breaks, since a stream holds a connection (and a thread here) per job.
        path = ticket.poll.split("?", 1)[0]
        return HttpCall("GET", path + "/stream") if path.endswith("/status") else None

    def cancel(self, ticket: Ticket) -> HttpCall | None:
        return HttpCall("PUT", ticket.cancel) if ticket.cancel else None

    def parse(self, body: Any) -> Reply:
        reply = Reply()
        for img in body.get("images") or [] if isinstance(body, dict) else []:
            if isinstance(img, dict):
                payload(img.get("url"), "images[].url", reply)
        return reply


DIALECT = Fal()

PRESET = Preset(
    name="fal",
    base_url="https://queue.fal.run",
    dialect="fal",
    key_env="FAL_KEY",
    models_api=False,
    no_models_api_why="fal has no models API imggen can read; the catalog lists a few",
    auth="key",
    models=(
        ModelInfo("fal-ai/flux/dev", "fal", "any", can_stream=False, can_edit=False),
        ModelInfo("fal-ai/flux/schnell", "fal", "any", can_stream=False, can_edit=False),
        ModelInfo("fal-ai/flux-pro/v1.1", "fal", "any", can_stream=False, can_edit=False),
        ModelInfo("fal-ai/flux-pro/kontext", "fal", "any", can_stream=False),
        ModelInfo("fal-ai/nano-banana/edit", "fal", "any", can_stream=False),
    ),
    note="any fal model id works as -m (fal-ai/flux-pro/v1.1, ...); the key goes as "
    "Authorization: Key",
)
