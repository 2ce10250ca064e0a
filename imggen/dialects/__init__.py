"""One module per API style; the registry maps a profile's `dialect` value to it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from imggen.dialects.base import Dialect, asked, refused
from imggen.job import FilePart, Gateway, HttpCall, Job

# name -> (module, attribute): each module is imported when its dialect is first asked for, so
# that a run on the images API does not load the chat, Gemini, Google and vendor dialects
# before its request goes out (issue 26). The job providers' (fal, replicate, bfl ...) come
# from dialects/jobs/, one module each, after these.
_BUILT_IN: dict[str, tuple[str, str]] = {
    "openrouter": ("chat", "OPENROUTER"),
    "trinity": ("chat", "TRINITY"),
    "xty": ("chat", "XTY"),
    "gemini": ("gemini", "GEMINI"),
    "images": ("images", "IMAGES"),
    "openrouter-images": ("openrouter_images", "OPENROUTER_IMAGES"),
    "google": ("google", "GOOGLE"),
    "azure": ("azure", "AZURE"),
    "together": ("vendors", "TOGETHER"),
    "xai": ("vendors", "XAI"),
    "recraft": ("vendors", "RECRAFT"),
}


class Registry(Mapping[str, Dialect]):
    """The dialects by name, each loaded on first use (and kept: a batch asks 20,000 times)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Dialect] = {}

    def __getitem__(self, name: str) -> Dialect:
        found: Dialect | None = self._loaded.get(name)
        if found is None:
            where = _BUILT_IN.get(name)
            if where is None:
                found = _jobs()[name]
            else:
                found = getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
            self._loaded[name] = found
        return found

    def __iter__(self) -> Iterator[str]:
        yield from _BUILT_IN
        yield from _jobs()

    def __len__(self) -> int:
        return len(_BUILT_IN) + len(_jobs())

    def __contains__(self, name: object) -> bool:
        return name in _BUILT_IN or name in _jobs()


def _jobs() -> Mapping[str, Any]:
    from imggen.dialects.jobs import DIALECTS as JOB_DIALECTS

    return JOB_DIALECTS


DIALECTS: Mapping[str, Dialect] = Registry()


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
