"""One module per API style; the registry maps a profile's `dialect` value to it."""

from __future__ import annotations

from imggen.dialects.azure import AZURE
from imggen.dialects.base import Dialect, asked, refused
from imggen.dialects.chat import OPENROUTER, TRINITY, XTY
from imggen.dialects.gemini import GEMINI
from imggen.dialects.google import GOOGLE
from imggen.dialects.images import IMAGES
from imggen.dialects.jobs import DIALECTS as JOB_DIALECTS
from imggen.dialects.openrouter_images import OPENROUTER_IMAGES
from imggen.dialects.vendors import RECRAFT, TOGETHER, XAI
from imggen.job import FilePart, Gateway, HttpCall, Job

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (OPENROUTER, TRINITY, XTY, GEMINI, IMAGES, OPENROUTER_IMAGES)
    + (GOOGLE, AZURE, TOGETHER, XAI, RECRAFT)
}
DIALECTS.update(JOB_DIALECTS)  # fal, replicate, bfl ...: one module each in dialects/jobs/


def check_carried(job: Job, gw: Gateway) -> None:
    """Refuse (exit 2) any option the user set that the gateway's dialect has no field for,
    naming it, the model, and the dialects that would carry it. Raises UsageError."""
    dialect = DIALECTS[gw.dialect]
    for name in asked(job):
        if name in dialect.takes:
            continue
        able = [d.name for d in DIALECTS.values() if name in d.takes]
        raise refused(job.said(name), gw, hint=_carry_hint(name, able))


def _carry_hint(name: str, able: list[str]) -> str:
    special = {
        "mask": "describe the area to change in the prompt instead",
        "refs": "use `imggen edit IMAGE... PROMPT` to make an image from others",
        "partials": "drop --partials; partial renders come from the images APIs only",
    }
    where = f"; models on the {', '.join(able)} dialect{'s' if len(able) > 1 else ''} take it"
    return special.get(name, "drop it") + (where if able else "")


__all__ = ["DIALECTS", "Dialect", "FilePart", "HttpCall", "check_carried"]
