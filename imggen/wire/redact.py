"""The key taken out of every gateway text before anyone sees it: replies, usage, error bodies,
stream events, retry lines, the models listing, errors' messages and hints."""

from __future__ import annotations

import copy
import re
from typing import Any

from imggen.errors import ImggenError

MASK = "***"


def text(value: str, key: str) -> str:
    """`value` without the key. A short key (a test key such as "k") is taken out only where it
    stands alone, not out of every word holding it."""
    if not key or key not in value:
        return value
    if len(key) >= 8:
        return value.replace(key, MASK)
    return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", MASK, value)


def value(parsed: Any, key: str) -> Any:
    """A parsed JSON value with the key taken out of every string in it."""
    if isinstance(parsed, str):
        return text(parsed, key)
    if isinstance(parsed, dict):
        return {text(str(k), key): value(v, key) for k, v in parsed.items()}
    if isinstance(parsed, list):
        return [value(v, key) for v in parsed]
    return parsed


def error(exc: ImggenError, key: str) -> ImggenError:
    """An error with the key taken out of its message, hint and text (a copy, or itself when
    there was nothing to take out)."""
    message = text(exc.message, key)
    hint = text(exc.hint, key) if exc.hint else exc.hint
    said = getattr(exc, "text", "")
    if (message, hint) == (exc.message, exc.hint) and text(said, key) == said:
        return exc
    clean = copy.copy(exc)
    clean.message, clean.hint, clean.args = message, hint, (message,)
    if said:
        clean.text = text(said, key)  # type: ignore[attr-defined]
    return clean
