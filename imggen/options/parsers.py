"""How any value of an option is read and checked, whether a flag, TOML, JSON or `config set`
gave it: each parser returns the canonical value or raises Invalid saying what is accepted."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from imggen import sizes
from imggen.errors import ImggenError, UsageError

FORMATS = ("png", "jpeg", "webp")


class Invalid(UsageError):
    """A value an option cannot take, before anyone said where it came from."""


def text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float) or not str(raw).strip():
        raise Invalid("must be a non-empty string")
    return str(raw).strip()


def prompt(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("must be a non-empty string")
    return raw


def whole(least: int | None, most: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
        if not ok or (least is not None and raw < least) or (most is not None and raw > most):
            span = (
                f" from {least} to {most}"
                if least is not None and most is not None
                else f" of at least {least}"
                if least is not None
                else ""
            )
            raise Invalid(f"must be a whole number{span}")
        return int(raw)

    return parse


def seconds(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise Invalid("must be a number of seconds above 0")
    return float(raw)


def flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise Invalid("must be true or false")
    return raw


def aspect(raw: Any) -> str:
    try:
        return sizes.parse_aspect(text(raw))
    except ImggenError:
        raise Invalid(
            "not an aspect ratio; give W:H with positive whole numbers",
            hint=f"for example 16:9; common ones: {', '.join(sizes.ASPECTS)}",
        ) from None


def size(raw: Any) -> str:
    try:
        parsed = sizes.parse_size(text(raw))
    except ImggenError:
        raise Invalid(
            f"not a size; give a tier ({', '.join(sizes.TIERS)}), pixels WxH or auto",
            hint="for example 2K or 1536x1024",
        ) from None
    return parsed if isinstance(parsed, str) else f"{parsed[0]}x{parsed[1]}"


def format_(raw: Any) -> str:
    low = text(raw).lower()
    low = "jpeg" if low == "jpg" else low
    if low not in FORMATS:
        raise Invalid(f"choose one of {', '.join(FORMATS)}")
    return low


PROVENANCE_LEVELS = ("full", "minimal", "off")


def provenance(raw: Any) -> str:
    low = text(raw).lower()
    if low not in PROVENANCE_LEVELS:
        raise Invalid(f"choose one of {', '.join(PROVENANCE_LEVELS)}")
    return low


def quality(raw: Any) -> str:
    # a word (low/medium/high/auto, hd) or a compression number; the model decides (dialects)
    return text(raw)


def files(raw: Any) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(
        isinstance(i, str) and i.strip() for i in items
    ):
        raise Invalid("must be a file/URL or a list of them")
    return [i.strip() for i in items]


def params(raw: Any) -> dict[str, Any]:
    """A table of body fields, or --param's KEY=VALUE items: dotted keys nest, values are
    JSON where they parse."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, list | tuple):
        raise Invalid("must be a table of body fields")
    out: dict[str, Any] = {}
    for item in raw:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise Invalid(f"{item!r} is not KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        nested: dict[str, Any] = {}
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        try:
            out = deep_merge(out, nested, strict=True)
        except ValueError as exc:
            raise Invalid(f"{item!r}: {exc}") from None
    return out


def deep_merge(
    base: Mapping[str, Any], over: Mapping[str, Any], *, strict: bool = False
) -> dict[str, Any]:
    """`over` merged into a copy of `base`: tables merge, anything else replaces. With strict,
    a table meeting a plain value is an error (two --param items that disagree)."""
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        if isinstance(value, Mapping) and isinstance(mine, Mapping):
            out[key] = deep_merge(mine, value, strict=strict)
        elif strict and key in out and (isinstance(value, Mapping) or isinstance(mine, Mapping)):
            raise ValueError(
                f"{key} is already {'a table' if isinstance(mine, Mapping) else 'a value'}"
            )
        else:
            out[key] = value
    return out
