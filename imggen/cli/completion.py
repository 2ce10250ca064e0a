"""Shell-completion sources: profile names from the config file, model ids from the catalog.

No network and no heavy imports: this runs on every TAB press.
"""

from __future__ import annotations

import os


def profiles() -> list[str]:
    from imggen import config
    from imggen.presets import PRESETS

    try:
        data = config.load(config.config_path(os.environ))
    except Exception:  # a broken config must not break TAB
        data = {}
    names = list(data.get("profiles", {}))
    return names + [p for p in PRESETS if p not in names]


def models(profile: str | None) -> list[str]:
    from imggen import config
    from imggen.presets import PRESETS

    try:
        data = config.load(config.config_path(os.environ))
    except Exception:
        data = {}
    name = profile or os.environ.get("IMGGEN_PROFILE") or data.get("default_profile")
    prof = data.get("profiles", {}).get(name or "", {})
    preset = PRESETS.get(str(prof.get("preset") or name or ""))
    if preset is None:
        return sorted({m.id for p in PRESETS.values() for m in p.models})
    return [m.id for m in preset.models]
