"""One module per API style; the registry maps a profile's `dialect` value to it."""

from __future__ import annotations

from imggen.dialects.azure import AZURE
from imggen.dialects.base import Dialect
from imggen.dialects.chat import OPENROUTER, TRINITY, XTY
from imggen.dialects.gemini import GEMINI
from imggen.dialects.google import GOOGLE
from imggen.dialects.images import IMAGES
from imggen.dialects.openrouter_images import OPENROUTER_IMAGES
from imggen.dialects.vendors import RECRAFT, TOGETHER, XAI
from imggen.job import FilePart, HttpCall

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (OPENROUTER, TRINITY, XTY, GEMINI, IMAGES, OPENROUTER_IMAGES)
    + (GOOGLE, AZURE, TOGETHER, XAI, RECRAFT)
}

__all__ = ["DIALECTS", "Dialect", "FilePart", "HttpCall"]
