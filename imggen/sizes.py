"""Aspect x tier -> pixel tables, the size rules of each model family, and their refusals.
Pure, no I/O: every ``SizeRefused`` names what was asked and what the model accepts."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from imggen.errors import SizeRefused

# The aspect ratios of the Gemini tables (seeds 002_b08cd22946c7f3fa.txt, 004_dc1c18c6c71477df.txt).
ASPECTS: tuple[str, ...] = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# The extended ratios gemini-3.1-flash-image takes (OpenRouter's image generation guide).
EXTENDED: tuple[str, ...] = ("1:4", "4:1", "1:8", "8:1")
# image_size values, seed 004_dc1c18c6c71477df.txt (gemini-3.1-flash-image-preview: 512/1K/2K/4K).
TIERS: tuple[str, ...] = ("512", "1K", "2K", "4K")

Pixels = tuple[int, int]
Table = Mapping[tuple[str, str], Pixels]


@dataclass(frozen=True)
class SizeRule:
    """What sizes one model family accepts."""

    name: str
    aspects: tuple[str, ...]  # () means any W:H
    tiers: tuple[str, ...]
    table: Table  # (aspect, tier) -> (w, h)
    free_pixels: bool  # the API takes WxH (images API)
    sizes: tuple[Pixels, ...] = ()  # when set, the only WxH the model makes
    auto: bool = True  # takes size "auto" (free_pixels rules)

    @property
    def open(self) -> bool:
        """Any aspect and pixels, passed through (its tiers still checked): no table."""
        return not self.table and not self.sizes


@dataclass(frozen=True)
class Resolved:
    """A size request made concrete for one model."""

    aspect: str | None
    tier: str | None
    pixels: Pixels | None


# Gemini 2.5 Flash Image, 1K only: seed 002_b08cd22946c7f3fa.txt (same table in seed 004's XTY doc).
_GEMINI_25: dict[tuple[str, str], Pixels] = {
    (a, "1K"): px
    for a, px in zip(
        ASPECTS,
        [(1024, 1024), (832, 1248), (1248, 832), (864, 1184), (1184, 864)]
        + [(896, 1152), (1152, 896), (768, 1344), (1344, 768), (1536, 672)],
        strict=True,
    )
}

# Gemini 3 Pro Image / 3.1 Flash Image, 1K/2K/4K: seed 002_b08cd22946c7f3fa.txt.
_GEMINI_3_ROWS: dict[str, tuple[Pixels, Pixels, Pixels]] = {
    "1:1": ((1024, 1024), (2048, 2048), (4096, 4096)),
    "2:3": ((848, 1264), (1696, 2528), (3392, 5056)),
    "3:2": ((1264, 848), (2528, 1696), (5056, 3392)),
    "3:4": ((896, 1200), (1792, 2400), (3584, 4800)),
    "4:3": ((1200, 896), (2400, 1792), (4800, 3584)),
    "4:5": ((928, 1152), (1856, 2304), (3712, 4608)),
    "5:4": ((1152, 928), (2304, 1856), (4608, 3712)),
    "9:16": ((768, 1376), (1536, 2752), (3072, 5504)),
    "16:9": ((1376, 768), (2752, 1536), (5504, 3072)),
    "21:9": ((1584, 672), (3168, 1344), (6336, 2688)),
}
_GEMINI_3: dict[tuple[str, str], Pixels] = {
    (a, t): px
    for a, row in _GEMINI_3_ROWS.items()
    for t, px in zip(("1K", "2K", "4K"), row, strict=True)
}

# gpt-image-2 constraints, seed 002_b08cd22946c7f3fa.txt ("约束(强制校验)").
_G2_STEP = 16
_G2_LONG = 3840
_G2_RATIO = 3
_G2_MIN = 655_360
_G2_MAX = 8_294_400
G2_OPENAI = "gpt-image-2-openai"  # the same rules without the floor: OpenAI states none
G2_RULES = ("gpt-image-2", G2_OPENAI)
# gpt-image-1's only sizes, seed 002_b08cd22946c7f3fa.txt ("1024x1024 / 1024x1536 / 1536x1024").
_GPT1: dict[tuple[str, str], Pixels] = {
    ("1:1", "1K"): (1024, 1024),
    ("3:2", "1K"): (1536, 1024),
    ("2:3", "1K"): (1024, 1536),
}
# DALL-E's only sizes (OpenAI's images API: CreateImageRequest.size).
_DALLE3: dict[tuple[str, str], Pixels] = {
    ("1:1", "1K"): (1024, 1024),
    ("16:9", "1K"): (1792, 1024),
    ("9:16", "1K"): (1024, 1792),
}
_DALLE2: dict[tuple[str, str], Pixels] = {("1:1", "512"): (512, 512), ("1:1", "1K"): (1024, 1024)}
# Seedream: seed 002 documents no size rule; only a sanity range per side.
_SEED_MIN, _SEED_MAX = 64, 8192


def _ratio(aspect: str) -> tuple[int, int]:
    a, b = aspect.split(":")
    return int(a), int(b)


def _g2_problem(w: int, h: int, *, floor: bool = True) -> str | None:
    """Why gpt-image-2 refuses WxH (every broken rule), or None when it takes it; `floor`:
    the pixel minimum, Turing's rule (seed 002) that OpenAI states none of."""
    problems = []
    if w % _G2_STEP or h % _G2_STEP:
        problems.append(f"both sides must be multiples of {_G2_STEP}")
    if max(w, h) > _G2_LONG:
        problems.append(f"the long side must be at most {_G2_LONG} px")
    if max(w, h) > _G2_RATIO * min(w, h):
        problems.append(f"the long side may be at most {_G2_RATIO}x the short side")
    if floor and w * h < _G2_MIN:
        problems.append(f"it needs at least {_G2_MIN:,} pixels, this is {w * h:,}")
    if w * h > _G2_MAX:
        problems.append(f"it allows at most {_G2_MAX:,} pixels, this is {w * h:,}")
    return "; ".join(problems) or None


def _g2_fit(aspect: str, w: int, h: int) -> Pixels:
    """The gemini-3 entry if gpt-image-2 takes it, else the largest size at exactly `aspect`
    within the caps, each side rounded down to a multiple of 16 (16:9 -> 3840x2160)."""
    if _g2_problem(w, h) is None:
        return w, h
    a, b = _ratio(aspect)
    k = min(_G2_LONG / max(a, b), math.sqrt(_G2_MAX / (a * b)))
    return (
        int(a * k / _G2_STEP + 1e-9) * _G2_STEP,
        int(b * k / _G2_STEP + 1e-9) * _G2_STEP,
    )


def _g2_suggest(w: int, h: int, *, floor: bool = True) -> Pixels | None:
    """A valid gpt-image-2 size close in shape and area to WxH, for hints."""
    r = min(max(w / h, 1 / _G2_RATIO), _G2_RATIO)
    area = min(max(w * h, _G2_MIN if floor else _G2_STEP * _G2_STEP), _G2_MAX)
    sh = math.sqrt(area / r)
    sw = sh * r
    shrink = min(1.0, _G2_LONG / max(sw, sh))
    sw, sh = sw * shrink, sh * shrink
    found: list[tuple[float, Pixels]] = []
    for cw in (math.floor(sw / 16) * 16, math.ceil(sw / 16) * 16):
        for ch in (math.floor(sh / 16) * 16, math.ceil(sh / 16) * 16):
            if cw > 0 and ch > 0 and _g2_problem(cw, ch) is None:
                found.append((abs(math.log(cw / ch / r)) + abs(math.log(cw * ch / area)), (cw, ch)))
    return min(found)[1] if found else None


_GPT2: dict[tuple[str, str], Pixels] = {(a, t): _g2_fit(a, *px) for (a, t), px in _GEMINI_3.items()}

RULES: dict[str, SizeRule] = {
    r.name: r
    for r in (
        SizeRule("gemini-2.5", ASPECTS, ("1K",), MappingProxyType(_GEMINI_25), False),
        SizeRule("gemini-3", ASPECTS, ("1K", "2K", "4K"), MappingProxyType(_GEMINI_3), False),
        # Same table plus 512 (seed 004; the seeds give no pixels for it).
        SizeRule("gemini-3.1", ASPECTS, TIERS, MappingProxyType(_GEMINI_3), False),
        # As OpenRouter serves it: also the extended ratios, which have no published pixels
        # (shared/references/openrouter-image-api.md); seed 004 does not name them for XTY.
        SizeRule(
            "gemini-3.1-extended", ASPECTS + EXTENDED, TIERS, MappingProxyType(_GEMINI_3), False
        ),
        # table derived from gemini-3's under seed 002's gpt-image-2 constraints (see _g2_fit).
        SizeRule("gpt-image-2", ASPECTS, ("1K", "2K", "4K"), MappingProxyType(_GPT2), True),
        # OpenAI's own gpt-image-2: the same, without Turing's pixel floor
        # (shared/references/openai-images-api.md states none)
        SizeRule(G2_OPENAI, ASPECTS, ("1K", "2K", "4K"), MappingProxyType(_GPT2), True),
        SizeRule(
            "gpt-image-1",
            ("1:1", "3:2", "2:3"),
            ("1K",),
            MappingProxyType(_GPT1),
            True,
            sizes=tuple(_GPT1.values()),
        ),
        SizeRule(
            "dall-e-3",
            ("1:1", "16:9", "9:16"),
            ("1K",),
            MappingProxyType(_DALLE3),
            True,
            sizes=tuple(_DALLE3.values()),
            auto=False,
        ),
        SizeRule(
            "dall-e-2",
            ("1:1",),
            ("512", "1K"),
            MappingProxyType(_DALLE2),
            True,
            sizes=((256, 256), (512, 512), (1024, 1024)),
            auto=False,
        ),
        SizeRule("seedream", ASPECTS, ("1K", "2K", "4K"), MappingProxyType(_GEMINI_3), True),
        SizeRule("any", (), TIERS, MappingProxyType({}), True),
        # FLUX on Replicate (megapixels 0.25 or 1) and Black Forest Labs (sides up to 1440):
        # shared/references/providers-beyond-openai.md sections 4 and 5
        SizeRule("flux", (), ("512", "1K"), MappingProxyType({}), True, auto=False),
    )
}

_ASPECT_RE = re.compile(r"\s*([0-9]{1,5})\s*:\s*([0-9]{1,5})\s*")
_PIXELS_RE = re.compile(r"\s*([0-9]{1,5})\s*[xX×]\s*([0-9]{1,5})\s*")


def _rule(name: str) -> SizeRule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown size rule {name!r}; known: {', '.join(RULES)}") from None


def parse_aspect(text: str) -> str:
    """Normalise an aspect ratio "W:H" of positive integers ("16 : 9" -> "16:9")."""
    m = _ASPECT_RE.fullmatch(text)
    if m is None or int(m[1]) == 0 or int(m[2]) == 0:
        raise SizeRefused(
            f"cannot read aspect ratio {text!r}: give W:H with positive whole numbers",
            hint=f"for example --aspect 16:9; common ones: {', '.join(ASPECTS)}",
        )
    return f"{int(m[1])}:{int(m[2])}"


def parse_size(text: str) -> str | Pixels:
    """Read a size: a tier ("1k" -> "1K", "512"), pixels (w, h) from "WxH", or "auto"."""
    t = text.strip()
    if t.lower() == "auto":
        return "auto"
    if t.upper() in TIERS:
        return t.upper()
    m = _PIXELS_RE.fullmatch(t)
    if m is not None and int(m[1]) > 0 and int(m[2]) > 0:
        return int(m[1]), int(m[2])
    raise SizeRefused(
        f"cannot read size {text!r}: give a tier ({', '.join(TIERS)}), pixels WxH or auto",
        hint="for example --size 2K or --size 1536x1024",
    )


def _nearest(table: Table, w: int, h: int, count: int = 2) -> list[tuple[tuple[str, str], Pixels]]:
    """Table entries closest to WxH: shape first, then area."""

    def distance(item: tuple[tuple[str, str], Pixels]) -> float:
        tw, th = item[1]
        return 2 * abs(math.log((tw / th) / (w / h))) + 0.5 * abs(math.log(tw * th / (w * h)))

    return sorted(table.items(), key=distance)[:count]


def check_pixels(rule: str, model: str, w: int, h: int) -> None:
    """Refuse WxH unless `rule` lets `model` make it; raises SizeRefused."""
    r = _rule(rule)
    if w <= 0 or h <= 0:
        raise SizeRefused(f"{model} cannot make {w}x{h}: both sides must be positive")
    asked = f"{model} cannot make {w}x{h}"
    if r.name in G2_RULES:
        floor = r.name == "gpt-image-2"
        problem = _g2_problem(w, h, floor=floor)
        if problem is not None:
            fit = _g2_suggest(w, h, floor=floor)
            hint = f"try --size {fit[0]}x{fit[1]}" if fit else None
            raise SizeRefused(f"{asked}: {problem}", hint=hint)
    elif r.name == "seedream":
        if not (_SEED_MIN <= w <= _SEED_MAX and _SEED_MIN <= h <= _SEED_MAX):
            raise SizeRefused(
                f"{asked}: each side must be {_SEED_MIN}-{_SEED_MAX} px",
                hint="or give a tier such as --size 2K with --aspect",
            )
    elif r.name == "together":
        if w % 16 or h % 16:
            raise SizeRefused(f"{asked}: both sides must be multiples of 16")
    elif r.name == "xai":
        raise SizeRefused(
            f"{asked}: xAI takes an aspect ratio and a resolution, not pixels",
            hint="use --aspect W:H with --size 1K or 2K",
        )
    elif r.sizes:
        if (w, h) not in r.sizes:
            raise SizeRefused(
                f"{asked}: it accepts only {_fixed(r)}",
                hint="other sizes need gpt-image-2" if r.name == "gpt-image-1" else None,
            )
    elif not r.open and (w, h) not in r.table.values():
        nearest = _nearest(r.table, w, h)
        names = ", ".join(f"{pw}x{ph} ({a} {t})" for (a, t), (pw, ph) in nearest)
        (a, t), _ = nearest[0]
        raise SizeRefused(
            f"{asked}: its sizes are fixed per aspect and tier; nearest: {names}",
            hint=f"use --aspect {a} --size {t}",
        )


def _fixed(r: SizeRule) -> str:
    sizes = ", ".join(f"{w}x{h}" for w, h in r.sizes)
    return f"{sizes} or auto" if r.auto else sizes


def _refuse_tier(r: SizeRule, model: str, tier: str) -> SizeRefused:
    accepted = ", ".join(r.tiers)
    if r.name == "gpt-image-2" and tier == "512":
        return SizeRefused(
            f"{model} has no 512 tier: it needs at least {_G2_MIN:,} pixels; it accepts: "
            f"{accepted}",
            hint="use --size 1K, or pixels such as 1024x640",
        )
    return SizeRefused(
        f"{model} has no {tier} tier; it accepts: {accepted}", hint=f"use --size {r.tiers[0]}"
    )


def _check_agrees(model: str, aspect: str, w: int, h: int) -> None:
    a, b = _ratio(aspect)
    if abs((w * b) / (h * a) - 1) > 0.02:
        raise SizeRefused(
            f"{model} cannot make {w}x{h} at aspect {aspect}: {w}x{h} is {w / h:.3f}:1, "
            f"{aspect} is {a / b:.3f}:1",
            hint="give only one of --aspect and --size WxH, or make them agree",
        )


def resolve(rule: str, model: str, aspect: str | None, size: str | None) -> Resolved:
    """Turn --aspect/--size text into what to send and expect; raises SizeRefused."""
    r = _rule(rule)
    asp = parse_aspect(aspect) if aspect is not None else None
    sz = parse_size(size) if size is not None else None
    if asp is not None and r.aspects and asp not in r.aspects:
        raise SizeRefused(
            f"{model} cannot make aspect {asp}; it accepts: {', '.join(r.aspects)}",
            hint="leave --aspect out and give exact pixels with --size WxH"
            if r.name in G2_RULES
            else None,
        )
    if isinstance(sz, tuple):
        w, h = sz
        check_pixels(rule, model, w, h)
        if not r.free_pixels:  # a chat family: the size must be one table entry
            (t_asp, t_tier) = next(k for k, v in r.table.items() if v == (w, h))
            if asp is not None and asp != t_asp:
                want = r.table.get((asp, t_tier))
                raise SizeRefused(
                    f"{model} cannot make {w}x{h} at aspect {asp}: {w}x{h} is its {t_asp} "
                    f"{t_tier} size" + (f"; {asp} {t_tier} is {want[0]}x{want[1]}" if want else ""),
                    hint=f"use --aspect {asp} --size {t_tier}",
                )
            return Resolved(t_asp, t_tier, (w, h))
        if asp is not None:
            _check_agrees(model, asp, w, h)
        return Resolved(asp, None, (w, h))
    if sz == "auto":
        if not r.free_pixels or not r.auto:
            raise SizeRefused(
                f"{model} has no auto size; it accepts: "
                + (_fixed(r) if r.sizes else ", ".join(r.tiers)),
                hint="leave --size out to let the model choose",
            )
        return Resolved(asp, None, None)
    tier = sz
    if tier is not None and tier not in r.tiers:
        raise _refuse_tier(r, model, tier)
    if r.open or (asp is None and tier is None):
        return Resolved(asp, tier, None)
    if r.free_pixels:  # images API: send pixels; aspect defaults to 1:1, tier to 1K
        pixels = r.table[(asp or "1:1", tier or "1K")]
        check_pixels(rule, model, *pixels)
        return Resolved(asp, tier, pixels)
    if asp is None:  # chat: the model picks the shape (1:1, or an input image's; seed 004)
        return Resolved(None, tier, None)
    if tier is None and len(r.tiers) > 1:  # the gateway's default tier: not in the seeds
        return Resolved(asp, None, None)
    return Resolved(asp, tier, r.table.get((asp, tier or r.tiers[0])))


def describe(rule: str) -> str:
    """One line saying what sizes the family accepts."""
    r = _rule(rule)
    aspects = ", ".join(r.aspects)
    tiers = "/".join(r.tiers)
    if r.name in G2_RULES:
        span = f"{_G2_MIN:,}-{_G2_MAX:,}" if r.name == "gpt-image-2" else f"at most {_G2_MAX:,}"
        return (
            f"WxH in multiples of {_G2_STEP}, long side <= {_G2_LONG}, ratio <= {_G2_RATIO}:1, "
            f"{span} pixels; or {tiers} with aspect {aspects}; or auto"
        )
    if r.sizes:
        return f"{_fixed(r)} (aspect {aspects}; tier {tiers})"
    if r.name == "seedream":
        return f"WxH with sides {_SEED_MIN}-{_SEED_MAX}; or {tiers} with aspect {aspects}; or auto"
    if r.name == "any":
        return "any aspect and size; passed through unchecked"
    if r.open:
        return f"any aspect; size {tiers} or WxH"
    return f"aspect {aspects}; size {tiers} (fixed pixels per aspect and tier)"


# How far a returned image may stray from what was asked before it counts as ignored: XTY's
# 16:9 is 1344x768 while Gemini 3's is 1376x768 (seeds 002/004).
ASPECT_TOLERANCE = 0.03
AREA_TOLERANCE = 0.15


def mismatch(res: Resolved, rule: str, pixels: Pixels) -> str | None:
    """What the gateway got wrong about the size asked, or None when it honoured it (within
    the tolerances above). One judgement for generate, batch and doctor."""
    w, h = pixels
    if res.pixels:
        ew, eh = res.pixels
        ratio_off = abs((w / h) / (ew / eh) - 1)
        area_off = abs((w * h) / (ew * eh) - 1)
        if ratio_off > ASPECT_TOLERANCE or area_off > AREA_TOLERANCE:
            return f"asked for {ew}x{eh} but the gateway returned {w}x{h}"
        return None
    if res.aspect:
        aw, ah = (int(x) for x in res.aspect.split(":"))
        if abs((w / h) / (aw / ah) - 1) > ASPECT_TOLERANCE:
            return f"asked for aspect {res.aspect} but the gateway returned {w}x{h}"
    # a tier without an aspect: every aspect of a tier has about the same area (seed 002)
    square = RULES[rule].table.get(("1:1", res.tier)) if res.tier else None
    if square and abs((w * h) / (square[0] * square[1]) - 1) > AREA_TOLERANCE:
        return (
            f"asked for the {res.tier} tier (about {square[0] * square[1] / 1e6:.1f} megapixels) "
            f"but the gateway returned {w}x{h}"
        )
    return None


# Together's, xAI's and Recraft's rules (imggen/vendor_sizes.py) join the table.
from imggen.vendor_sizes import VENDOR_RULES  # noqa: E402

RULES.update(VENDOR_RULES)
