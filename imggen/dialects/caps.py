"""What one model takes on an images-style API, field by field, and the one check of a Job's
values against it. OpenAI's per-model rules (rules.py) and OpenRouter's `/images/models`
descriptors are both this data: a field that is absent is one the model does not take. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from imggen.dialects.base import refused
from imggen.job import Gateway, Job

# Body fields imggen knows the meaning of. A --param naming one is checked against the model's
# fields like a flag; any other --param passes through unchecked (the escape hatch).
KNOWN = frozenset(
    {
        "n",
        "size",
        "resolution",
        "aspect_ratio",
        "quality",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "style",
        "response_format",
        "seed",
        "stream",
        "partial_images",
        "input_fidelity",
        "input_references",
    }
)


@dataclass(frozen=True)
class Field:
    """The values one body field takes: an enum, a numeric range, a boolean, or anything."""

    kind: str  # "enum" | "range" | "boolean" | "supported" | "any"
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    def accepts(self, value: Any) -> bool:
        if self.kind == "enum":
            return str(value) in self.values or str(value).lower() in self.values
        if self.kind == "range":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return False
            try:
                number = float(value)
            except ValueError:
                return False
            low = float("-inf") if self.low is None else self.low
            high = float("inf") if self.high is None else self.high
            return low <= number <= high
        if self.kind == "boolean":
            return isinstance(value, bool)
        return True

    def describe(self) -> str:
        """What it accepts, for messages: "standard, hd", "0-100", "true or false"."""
        if self.kind == "enum":
            return ", ".join(self.values) or "nothing"
        if self.kind == "range":
            low = "" if self.low is None else f"{self.low:g}"
            high = "" if self.high is None else f"{self.high:g}"
            if not low and not high:
                return "any number"
            return f"{low}-{high}" if low and high else f"from {low}" if low else f"up to {high}"
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "supported":
            return "any value (supported)"
        return "any value"

    @classmethod
    def from_descriptor(cls, raw: Any) -> Field:
        """OpenRouter's descriptor: {"type": "enum", "values": [...]}, {"type": "range",
        "min", "max"} or {"type": "boolean"}; any other shape takes any value."""
        if not isinstance(raw, Mapping):
            return ANY
        kind = raw.get("type")
        if kind == "enum" and isinstance(raw.get("values"), list):
            return cls("enum", tuple(str(v) for v in raw["values"]))
        if kind == "range":
            # a bound that is no finite number (NaN, Infinity: JSON parsers take both) is none
            return cls("range", low=_bound(raw.get("min")), high=_bound(raw.get("max")))
        if kind == "boolean":
            # OpenRouter: "boolean" says the parameter is supported, not that it is a flag
            # (its seed is {"type": "boolean"} and takes a number)
            return SUPPORTED
        return ANY

    def as_descriptor(self) -> dict[str, Any]:
        """The descriptor form (the cache file and `imggen models --json`)."""
        if self.kind == "enum":
            return {"type": "enum", "values": list(self.values)}
        if self.kind == "range":
            return {"type": "range", "min": self.low, "max": self.high}
        if self.kind == "supported":
            return {"type": "boolean"}  # as OpenRouter wrote it
        return {"type": self.kind}


def _bound(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def enum(*values: str) -> Field:
    return Field("enum", values)


def span(low: float | None, high: float | None) -> Field:
    return Field("range", low=low, high=high)


BOOLEAN = Field("boolean")
SUPPORTED = Field("supported")  # OpenRouter's {"type": "boolean"}: supported, any value
ANY = Field("any")


@dataclass(frozen=True)
class Caps:
    """What one model takes: its body fields (absent: refused before sending), whether it
    generates, edits and streams, and its edit-input rules. `source` says who says so."""

    name: str  # the model (family) whose rules these are: "dall-e-3", "openai/gpt-image-1"
    source: str  # "OpenAI's images API", "OpenRouter's image models list", ...
    fields: Mapping[str, Field] = field(default_factory=lambda: MappingProxyType({}))
    generate: bool = True
    edit: bool = True
    stream: bool = False
    max_inputs: int | None = None  # edit inputs (and references) per request
    square_png_under: int | None = None  # dall-e-2: one square PNG under this many bytes
    transparent: tuple[str, ...] = ("png", "webp")  # formats a transparent background takes
    compression: tuple[str, ...] = ("jpeg", "webp")  # formats output_compression applies to
    generate_only: tuple[str, ...] = ()  # fields the edit form has no place for
    edit_only: tuple[str, ...] = ()  # fields only edits take
    checked: bool = True  # False: nothing is known; values pass through unchecked
    no_edit_why: str = ""
    no_generate_why: str = ""

    def takes(self, name: str, *, edit: bool = False) -> Field | None:
        """The field, or None when the model (or this kind of request) has no such field."""
        if not self.checked:
            return ANY
        if (edit and name in self.generate_only) or (not edit and name in self.edit_only):
            return None
        return self.fields.get(name)

    @property
    def max_n(self) -> int:
        """Images one request may ask for: 1 when `n` is not a field (fan out instead)."""
        n = self.fields.get("n")
        if not self.checked:
            return 10
        if n is None or n.kind != "range":
            return 1
        return max(1, int(n.high or 1))


GENERIC = Caps("an images API model imggen does not know", "nothing", checked=False)


def check_params(job: Job, gw: Gateway, caps: Caps, *, edit: bool) -> None:
    """Refuse a --param naming a known image field the model does not take, or a value outside
    what it accepts. Unknown fields pass through: they are the escape hatch."""
    label = job.origins.get("params") or "--param"
    for key, value in job.params.items():
        if key not in KNOWN or isinstance(value, Mapping):
            continue
        found = caps.takes(key, edit=edit)
        if found is None or not found.accepts(value):
            said = f"{label} {key}={_shown(value)}"
            raise refused(said, gw, found.describe() if found else "", hint=PARAM_HINT)


def check_value(job: Job, gw: Gateway, caps: Caps, option: str, key: str, *, edit: bool) -> Any:
    """A flag's value checked against the body field it fills; returns it."""
    value = getattr(job, option)
    found = caps.takes(key, edit=edit)
    if found is None or not found.accepts(value):
        raise refused(job.said(option), gw, found.describe() if found else "")
    return value


def stream_fields(job: Job, gw: Gateway, caps: Caps, *, edit: bool) -> dict[str, Any]:
    """What a streamed images request adds to its body: `stream`, and `partial_images` when
    partial renders are asked for (checked like any value)."""
    fields: dict[str, Any] = {"stream": True}
    if job.partials is not None:
        fields["partial_images"] = check_value(
            job, gw, caps, "partials", "partial_images", edit=edit
        )
    return fields


PARAM_HINT = "drop that --param; `imggen models` shows what each model takes"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
