"""How a key is sent: the one place that turns a key into a header or a query parameter.

Data, as httpx's ``Auth`` is a small object per scheme: a preset names its way (OpenAI-style
gateways a Bearer token, Azure OpenAI an ``api-key`` header, Google's Gemini API
``x-goog-api-key``, Black Forest Labs ``x-key``, fal ``Authorization: Key …``), and a profile
may override it with ``auth``. Sources: shared/references/providers-beyond-openai.md.

The key goes only where the API client sends it (the profile's base URL): downloads and
redirects never carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

# The spellings a profile's `auth` may take besides header:NAME and query:NAME.
NAMED = {
    "bearer": ("header", "Authorization", "Bearer"),
    "api-key": ("header", "api-key", ""),
    "x-goog-api-key": ("header", "x-goog-api-key", ""),
    "x-key": ("header", "x-key", ""),
    "key": ("header", "Authorization", "Key"),
}
CHOICES = (*NAMED, "header:NAME", "query:NAME")
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Auth:
    """One way of sending a key: in a header (with an optional scheme word before it) or in
    a query parameter."""

    spec: str  # as written: "bearer", "header:X-Api-Token", "query:key"
    place: str  # "header" | "query"
    name: str  # the header's or the query parameter's name
    scheme: str = ""  # "Bearer", "Key": the word before the key in the header

    def headers(self, key: str) -> dict[str, str]:
        if self.place != "header" or not key:
            return {}
        return {self.name: f"{self.scheme} {key}" if self.scheme else key}

    def url(self, url: str, key: str) -> str:
        """The URL the key travels in, for query-parameter auth; else the URL as it is."""
        if self.place != "query" or not key:
            return url
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}{quote(self.name, safe='')}={quote(key, safe='')}"

    def shown_headers(self) -> dict[str, str]:
        """The headers as --dry-run shows them, the key redacted."""
        return self.headers(REDACTED)

    def shown_url(self, url: str) -> str:
        return self.url(url, REDACTED) if self.place == "query" else url

    def describe(self) -> str:
        """In words, for `config show` and `doctor`: "Authorization: Bearer", "x-goog-api-key
        header", "query parameter key"."""
        if self.place == "query":
            return f"query parameter {self.name}"
        if self.scheme:
            return f"{self.name}: {self.scheme}"
        return f"{self.name} header"


def parse(spec: str) -> Auth:
    """An Auth from a profile's or preset's `auth` value. Raises ValueError saying what it
    accepts."""
    text = str(spec).strip()
    if text.lower() in NAMED:
        place, name, scheme = NAMED[text.lower()]
        return Auth(text.lower(), place, name, scheme)
    kind, sep, name = text.partition(":")
    if sep and kind.lower() in ("header", "query") and _token(name):
        return Auth(text, kind.lower(), name)
    raise ValueError(f"auth {text!r} is not a way imggen knows to send a key; it takes " + _said())


def _said() -> str:
    return ", ".join(CHOICES)


def _token(name: str) -> bool:
    """A header or parameter name: visible ASCII without separators."""
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)


BEARER = parse("bearer")


def same_site(base: str, url: str) -> bool:
    """`url` is on the base URL's host, or on a sibling of it under the same parent domain
    (api.bfl.ai's polling URLs are on api.us1.bfl.ai: shared/references/
    providers-beyond-openai.md section 5), over the same scheme."""
    from urllib.parse import urlsplit

    a, b = urlsplit(base), urlsplit(url)
    if a.scheme.lower() != b.scheme.lower():
        return False
    ha, hb = (a.hostname or "").lower(), (b.hostname or "").lower()
    if ha == hb:
        return a.port == b.port
    parent = ha.split(".", 1)[1] if ha.count(".") >= 2 else ""
    return bool(parent) and not ha.replace(".", "").isdigit() and hb.endswith("." + parent)
