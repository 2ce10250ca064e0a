"""One module per API style; the registry maps a profile's `dialect` value to it."""

from __future__ import annotations

from imggen.dialects.base import Dialect
from imggen.dialects.chat import OPENROUTER, TRINITY, XTY
from imggen.dialects.gemini import GEMINI
from imggen.dialects.images import IMAGES
from imggen.dialects.jobs import DIALECTS as JOB_DIALECTS
from imggen.dialects.openrouter_images import OPENROUTER_IMAGES
from imggen.job import FilePart, HttpCall

DIALECTS: dict[str, Dialect] = {
    d.name: d for d in (OPENROUTER, TRINITY, XTY, GEMINI, IMAGES, OPENROUTER_IMAGES)
}
DIALECTS.update(JOB_DIALECTS)  # fal, replicate, bfl ...: one module each in dialects/jobs/

__all__ = ["DIALECTS", "Dialect", "FilePart", "HttpCall"]
