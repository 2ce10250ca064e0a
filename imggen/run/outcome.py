"""What a run produced: saved images, text, usage, retries, warnings and the error if any; the
one document --json prints and batch results record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imggen.errors import ImggenError
from imggen.job import SavedImage


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
    currency: str | None = None  # of `cost`: what the gateway documents (OpenRouter: USD)
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
            "retries": self.retries,
            "response_shapes": self.shapes,
            "warnings": self.warnings,
            "partials": self.partials,
            "error": None if self.error is None else self.error.as_json(),
            **({"jobs": self.jobs} if self.jobs else {}),
        }


def usage_cost(
    usage: list[dict[str, Any]], currency: str | None
) -> tuple[float | None, str | None]:
    """The cost the gateway reported across a run's replies (usage.cost, as OpenRouter sends)
    and its currency: the usage's own `currency` where it names one, else the gateway's."""
    costs = []
    for u in usage:
        value = u.get("cost")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            costs.append(float(value))
    if not costs:
        return None, None
    named = {u["currency"] for u in usage if isinstance(u.get("currency"), str)}
    return round(sum(costs), 10), named.pop() if len(named) == 1 else currency


def failed(error: ImggenError) -> dict[str, Any]:
    """The --json document of a command that failed before it could run."""
    return {"paths": [], "images": [], "error": error.as_json()}
