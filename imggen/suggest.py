"""Did-you-mean: the closest known name to a mistyped one (profiles, presets, models, config
keys), for the messages that refuse it. Pure and light: difflib only, imported when needed."""

from __future__ import annotations

from collections.abc import Iterable

CUTOFF = 0.75  # "opnerouter" -> "openrouter" (0.9); "work" -> "knox" (0.5) is no suggestion


def closest(word: str, known: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The known name `word` most likely meant, or None. Case-insensitive; the known name is
    returned as it is spelled."""
    import difflib

    names = {name.lower(): name for name in known if name and name != word}
    starting = [key for key in names if len(word) >= 2 and key.startswith(word.lower())]
    if len(starting) == 1:  # "gen" -> "generate": a prefix of one name only
        return names[starting[0]]
    found = difflib.get_close_matches(word.lower(), list(names), n=1, cutoff=cutoff)
    return names[found[0]] if found else None


def did_you_mean(word: str, known: Iterable[str], *, cutoff: float = CUTOFF) -> str:
    """ " (did you mean 'openrouter'?)", to append to a message; "" when nothing is close."""
    found = closest(word, known, cutoff=cutoff)
    return f" (did you mean {found!r}?)" if found else ""
