"""Shell-completion sources: profile names from the config file, model ids from the catalog,
and the values of the image options. Each takes the command's parameters parsed so far.

No network and no heavy imports: this runs on every TAB press.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def _config() -> dict[str, Any]:
    from imggen import config

    try:
        return config.load(config.config_path(os.environ))
    except Exception:  # a broken config must not break TAB
        return {}


def profiles(params: Mapping[str, Any] | None = None) -> list[str]:
    from imggen.dialects.presets import PRESETS

    names = list(_config().get("profiles", {}))
    return names + [p for p in PRESETS if p not in names]


def models(params: Mapping[str, Any] | None = None) -> list[str]:
    from imggen.dialects.presets import PRESETS

    data = _config()
    profile = (params or {}).get("profile")
    name = profile or os.environ.get("IMGGEN_PROFILE") or data.get("default_profile")
    prof = data.get("profiles", {}).get(name or "", {})
    preset = PRESETS.get(str(prof.get("preset") or name or ""))
    if preset is None:
        return sorted({m.id for p in PRESETS.values() for m in p.models})
    return [m.id for m in preset.models]


def aspects(params: Mapping[str, Any] | None = None) -> list[str]:
    from imggen.sizes import ASPECTS

    return list(ASPECTS)


def sizes(params: Mapping[str, Any] | None = None) -> list[str]:
    from imggen.sizes import TIERS

    return [*TIERS, "auto"]


def formats(params: Mapping[str, Any] | None = None) -> list[str]:
    from imggen.options import FORMATS

    return list(FORMATS)


def qualities(params: Mapping[str, Any] | None = None) -> list[str]:
    return ["low", "medium", "high", "auto", "hd", "standard"]


def backgrounds(params: Mapping[str, Any] | None = None) -> list[str]:
    return ["transparent", "opaque", "auto"]
