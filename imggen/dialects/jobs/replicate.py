"""Replicate's predictions (api.replicate.com/v1): POST /models/OWNER/NAME/predictions (or
POST /predictions with a `version` for OWNER/NAME:VERSION) -> 201, a prediction {id, status,
output, error, urls{get, cancel}}; GET urls.get until status succeeded, failed or canceled
(starting and processing before); output a URL or a list of URLs; POST urls.cancel. The key
goes the preset's way (auth "bearer"; wire/auth.py sends it).

Sources (shared/references/providers-beyond-openai.md section 4): replicate/replicate-python
tests/cassettes (recorded real exchanges), replicate/cog-flux predict.py (aspect_ratio,
num_outputs, output_format webp|jpg|png, megapixels), replicate.com model API pages
(flux-kontext-pro input_image, flux-2-pro input_images). Input images: data URIs under 1 MB,
larger ones uploaded first (POST /v1/files) and passed by the File's URL."""

from __future__ import annotations

from typing import Any

from imggen.dialects.base import deep_merge, payload, refuse
from imggen.dialects.jobs.base import (
    JobDialect,
    fixed,
    images_of,
    inline,
    no_ticket,
    placeholder,
    submit_call,
    text,
)
from imggen.dialects.presetdata import ModelInfo, Preset
from imggen.errors import GatewayFailed
from imggen.job import Cadence, FilePart, Gateway, HttpCall, Job, JobState, Reply, Ticket
from imggen.sizes import Resolved

# cog-flux's ASPECT_RATIOS
_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_FORMAT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


class Replicate(JobDialect):
    name = "replicate"
    # "All other endpoints [than creating predictions] you can call at 3000 requests per
    # minute", 429 {"detail": "Request was throttled. Your rate limit resets in ~30s."} beyond
    # (replicate.com/docs/topics/predictions/rate-limits): polls keep to 40 a second over all
    # jobs, a fifth under the limit, leaving room for other clients of the same key; a job's
    # gap grows to 5 s (Black Forest Labs' client's longest), so a result waits little.
    cadence = Cadence(first=1.0, least=0.5, most=5.0, factor=1.5, rate=40.0, jitter=0.2)
    formats = ("png", "jpeg", "webp")
    takes = frozenset({"aspect", "size", "format", "seed", "refs", "inputs"})  # and -n

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]:
        fixed(job, gw, ("quality", "background", "mask", "partials"))
        model, _, version = gw.model.partition(":")
        inputs: dict[str, Any] = {"prompt": job.prompt}
        if res.aspect:
            if res.aspect not in _ASPECTS:
                raise refuse(job, "aspect", gw, ", ".join(_ASPECTS))
            inputs["aspect_ratio"] = res.aspect
        if res.pixels:
            raise refuse(job, "size", gw, "--aspect with --size 512 or 1K")
        if res.tier:
            if res.tier not in ("512", "1K"):
                raise refuse(job, "size", gw, "512 or 1K (megapixels 0.25 or 1)")
            inputs["megapixels"] = "0.25" if res.tier == "512" else "1"
        inputs["output_format"] = _FORMAT[job.format or "png"]  # imggen's files are .png by default
        images = images_of(job)
        shown, uploads = _inputs(images)
        if len(images) == 1:
            inputs["input_image"] = shown[0]
        elif images:
            inputs["input_images"] = shown
        deep_merge(inputs, job.params)  # --param: the model's own input fields, as given
        calls = []
        for i in range(max(1, job.count)):  # one prediction an image: pro models make one
            body = dict(inputs)
            if job.seed is not None:
                body["seed"] = job.seed + i
            if version:
                doc, path = {"version": version, "input": body}, "/predictions"
            else:
                doc, path = {"input": body}, f"/models/{model.strip('/')}/predictions"
            calls.append(submit_call(path, doc, uploads=uploads))
        return calls

    def upload(self, part: FilePart) -> HttpCall:
        # POST /v1/files, multipart `content` (replicate/replicate-python file.py,
        # Files.create): the File's urls.get is what a prediction takes as the input
        file = FilePart("content", part.filename, part.content_type, part.data)
        return HttpCall("POST", "/files", files=(file,))

    def uploaded(self, body: Any) -> str:
        urls = body.get("urls") if isinstance(body, dict) else None
        url = text(urls.get("get")) if isinstance(urls, dict) else ""
        if not url:
            raise GatewayFailed(f"Replicate stored the input but named no URL: {str(body)[:200]}")
        return url

    def accepted(self, body: Any) -> Ticket:
        if not isinstance(body, dict) or not text(body.get("id")):
            raise no_ticket(body, "Replicate")
        found = body.get("urls")
        urls: dict[str, Any] = found if isinstance(found, dict) else {}
        get = text(urls.get("get"))
        if not get:
            raise no_ticket(body, "Replicate")
        return Ticket(body["id"], get, cancel=text(urls.get("cancel")))

    def read(self, body: Any) -> JobState:
        status = text(body.get("status")) if isinstance(body, dict) else ""
        if status == "succeeded":
            return JobState("done", reply=self.parse(body))
        if status == "failed":
            error = str(body.get("error") or "the prediction failed")[:500]
            refused = "nsfw" in error.lower() or "sensitive" in error.lower()
            return JobState("failed", error=error, refused=refused)
        if status in ("canceled", "cancelled", "aborted"):
            return JobState("cancelled")
        return JobState("queued" if status == "starting" else "running")

    def cancel(self, ticket: Ticket) -> HttpCall | None:
        return HttpCall("POST", ticket.cancel) if ticket.cancel else None

    def parse(self, body: Any) -> Reply:
        reply = Reply()
        output = body.get("output") if isinstance(body, dict) else None
        for value in output if isinstance(output, list) else [output]:
            if isinstance(value, str):
                payload(value, "output", reply)
        return reply


# "Create a data URI ... only recommended if the file is less than 1MB"; larger files go up
# through the files API (replicate.com/docs/topics/predictions/input-files)
INLINE_MAX = 1_000_000


def _inputs(images: list[Any]) -> tuple[list[str], tuple[FilePart, ...]]:
    """Each input as the body shows it (a URL as given, a data URI under 1 MB, else the
    placeholder of an upload) and the uploads to make first."""
    shown, uploads = [], []
    for img in images:
        if img.url or len(img.data) < INLINE_MAX:
            shown.append(inline(img))
            continue
        name = placeholder(img)
        shown.append(name)
        uploads.append(FilePart(name, img.name, img.mime or "application/octet-stream", img.data))
    return shown, tuple(uploads)


DIALECT = Replicate()

PRESET = Preset(
    name="replicate",
    base_url="https://api.replicate.com/v1",
    dialect="replicate",
    key_env="REPLICATE_API_TOKEN",
    models_api=False,
    no_models_api_why="Replicate's model listing is not filtered to image models",
    models=(
        ModelInfo(
            "black-forest-labs/flux-schnell", "replicate", "flux", can_stream=False, can_edit=False
        ),
        ModelInfo(
            "black-forest-labs/flux-dev", "replicate", "flux", can_stream=False, can_edit=False
        ),
        ModelInfo(
            "black-forest-labs/flux-1.1-pro", "replicate", "flux", can_stream=False, can_edit=False
        ),
        ModelInfo("black-forest-labs/flux-kontext-pro", "replicate", "flux", can_stream=False),
    ),
    note="-m OWNER/NAME runs a model's latest version; OWNER/NAME:VERSION a given one",
)
