"""What a run produced: saved images, text, usage, retries, warnings and the error if any; the
one document --json prints and batch results record."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imggen.errors import ImggenError
from imggen.job import SavedImage

if TYPE_CHECKING:  # prices is imported once the images are in (issue 26)
    from imggen.prices import Estimate


@dataclass
class Outcome:
    """What a run produced, for paths on stdout, --json, and batch results."""

    profile: str
    model: str
    dialect: str
    saved: list[SavedImage] = field(default_factory=list)
    text: str = ""
    usage: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    resent: int = 0  # retried generations that may have been billed twice
    shapes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # the warnings about ignored sizes
    requested: dict[str, Any] = field(default_factory=dict)
    error: ImggenError | None = None
    partials: list[str] = field(default_factory=list)  # --save-partials files: not results
    cost: float | None = None  # the sum of the gateway's usage.cost, where it reports one
    cost_unusable: str = ""  # a reported cost that cannot be counted (NaN, -1, "inf"), as text
    currency: str | None = None  # of `cost`: what the gateway documents (OpenRouter: USD)
    estimate: Estimate | None = None  # imggen's list-price estimate of the images saved
    # job providers: each job's id, provider, poll URL and last state (--no-wait prints them)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0  # the polls made waiting on them

    def check(self) -> Outcome:
        """Raise the error, if the run had one."""
        if self.error is not None:
            raise self.error
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "paths": [s.path for s in self.saved],
            "images": [
                {
                    "path": s.path,
                    "mime": s.mime,
                    "bytes": s.bytes,
                    "width": s.pixels[0] if s.pixels else None,
                    "height": s.pixels[1] if s.pixels else None,
                    "sha256": s.sha256,
                    "content_credentials": s.credentials,
                    "signed": s.signed,
                    "sidecar": s.sidecar,
                }
                for s in self.saved
            ],
            "profile": self.profile,
            "model": self.model,
            "dialect": self.dialect,
            "requested": self.requested,
            "text": self.text,
            "usage": self.usage,
            "cost": self.cost,
            "currency": self.currency,
            "estimate": self.estimate.as_json() if self.estimate else None,
            "retries": self.retries,
            "response_shapes": self.shapes,
            "warnings": self.warnings,
            "partials": self.partials,
            "error": None if self.error is None else self.error.as_json(),
            **({"jobs": self.jobs} if self.jobs else {}),
        }


def usable(value: Any) -> float | None:
    """A reported cost as a number to count, or None when it is none (NaN, inf, negative, a
    string that is not a number, a bool, a list)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def usage_cost(
    usage: list[dict[str, Any]], currency: str | None
) -> tuple[float | None, str | None, str]:
    """The cost the gateway reported across a run's replies (usage.cost, as OpenRouter sends),
    its currency (the usage's own `currency` where it names one, else the gateway's), and the
    first reported cost that cannot be counted (NaN, inf, negative, junk) as text, else ""."""
    costs: list[float] = []
    unusable = ""
    for u in usage:
        if "cost" not in u or u["cost"] is None:
            continue
        value = usable(u["cost"])
        if value is None:
            unusable = unusable or json.dumps(u["cost"], default=str)[:40]
        else:
            costs.append(value)
    if not costs:
        return None, None, unusable
    named = {u["currency"] for u in usage if isinstance(u.get("currency"), str)}
    return round(sum(costs), 10), named.pop() if len(named) == 1 else currency, unusable


def failed(error: ImggenError) -> dict[str, Any]:
    """The --json document of a command that failed before it could run."""
    return {"paths": [], "images": [], "error": error.as_json()}
