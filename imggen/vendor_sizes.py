"""The size rules of Together, xAI and Recraft (sizes.RULES holds them too). Pure."""

from __future__ import annotations

import math
from types import MappingProxyType

from imggen.sizes import ASPECTS, Pixels, SizeRule

_SIDES = (("512", 512), ("1K", 1024))


# Together (FLUX: width/height, multiples of 16, about a megapixel at most: 512 and 1K
# tiers), xAI (aspect_ratio from its list, resolution 1k/2k; no pixels) and Recraft (a fixed
# list of WxH): the sources are in imggen/dialects/vendors.py.
def _about(aspect: str, side: int) -> Pixels:
    a, b = (int(x) for x in aspect.split(":"))
    w = math.sqrt(side * side * a / b)
    return round(w / 16) * 16, round(side * side / w / 16) * 16


XAI_ASPECTS = ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:20", "20:9", "1:2", "2:1")
RECRAFT: dict[tuple[str, str], Pixels] = {
    (a, "1K"): px
    for a, px in {
        "1:1": (1024, 1024), "4:3": (1365, 1024), "3:4": (1024, 1365), "3:2": (1536, 1024),
        "2:3": (1024, 1536), "16:9": (1820, 1024), "9:16": (1024, 1820), "2:1": (2048, 1024),
        "1:2": (1024, 2048), "7:5": (1434, 1024), "5:7": (1024, 1434), "5:4": (1280, 1024),
        "4:5": (1024, 1280), "5:3": (1707, 1024), "3:5": (1024, 1707),
    }.items()
}  # fmt: skip
VENDOR_RULES: dict[str, SizeRule] = {
    "together": SizeRule(
        "together",
        ASPECTS,
        ("512", "1K"),
        MappingProxyType({(a, t): _about(a, n) for a in ASPECTS for t, n in _SIDES}),
        True,
        auto=False,
    ),
    "xai": SizeRule("xai", XAI_ASPECTS, ("1K", "2K"), MappingProxyType({}), False),
    "recraft": SizeRule(
        "recraft",
        tuple(a for a, _ in RECRAFT),
        ("1K",),
        MappingProxyType(RECRAFT),
        True,
        sizes=tuple(RECRAFT.values()),
        auto=False,
    ),
}
