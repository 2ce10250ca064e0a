"""Job providers: one module each (fal, replicate, bfl ...), found here by name, so adding a
provider is one module defining DIALECT and PRESET (and its tests)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def _modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{n}") for n in names if n != "base"]


PROVIDERS: list[ModuleType] = _modules()
DIALECTS: dict[str, Any] = {m.DIALECT.name: m.DIALECT for m in PROVIDERS}
PRESETS: dict[str, Any] = {m.PRESET.name: m.PRESET for m in PROVIDERS}


def is_job(dialect: Any) -> bool:
    """A dialect whose calls are jobs (submit, poll, collect)."""
    return bool(getattr(dialect, "is_job", False))
