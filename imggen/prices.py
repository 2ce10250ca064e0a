"""What an image should cost before it is asked for: list prices per known model, by size and
quality. An estimate, labelled as one wherever it is shown; a model the table does not know
costs "unknown", never 0.

Sources (per image, USD, checked 2026-12-07):
- OpenAI, https://openai.com/api/pricing/ and https://platform.openai.com/docs/pricing
  ("Image generation" per-image table): gpt-image-1, gpt-image-1-mini, gpt-image-1.5 by quality
  (low/medium/high) for 1024x1024 and for 1024x1536/1536x1024; dall-e-3 standard/hd for
  1024x1024 and 1024x1792/1792x1024; dall-e-2 for 256, 512 and 1024 squares. The same figures
  are republished by fal.ai's gpt-image-1 model page.
Token-priced models (gpt-image-2, Gemini images) have no per-image list price: unknown.

Batch price (`batch --provider-batch`): half the list price on both batch APIs imggen speaks.
- OpenAI, https://platform.openai.com/docs/guides/batch: "50% cost discount compared to
  synchronous APIs" (the Batch API takes /v1/images/generations: references/
  providers-beyond-openai.md section 6).
- Google, https://ai.google.dev/gemini-api/docs/batch-api: batches are processed "at 50% of
  the standard cost".
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "OpenAI's list prices of 2026-12"
BATCH_PRICE = 0.5  # of the list price, through a provider's batch API (sources above)
BATCH_BASIS = "batch price, half the list price"
SQUARE, OTHER = "square", "other"

# model -> quality -> (1024x1024, the larger sizes)
_GPT_IMAGE: dict[str, dict[str, tuple[float, float]]] = {
    "gpt-image-1": {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)},
    "gpt-image-1-mini": {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
    "gpt-image-1.5": {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)},
    "dall-e-3": {"standard": (0.04, 0.08), "hd": (0.08, 0.12)},
}
_DALL_E_2 = {256: 0.016, 512: 0.018, 1024: 0.02}
# the quality a request that names none is billed at: gpt-image's `auto` may choose high, so
# the estimate takes the upper bound; dall-e-3 defaults to standard
_DEFAULT_QUALITY = {"dall-e-3": "standard"}


@dataclass(frozen=True)
class Estimate:
    """What a number of images should cost: per image and in total, or unknown (None)."""

    per_image: float | None
    count: int
    currency: str | None = "USD"
    basis: str = ""  # "gpt-image-1, high, 1024x1024" or why it is unknown

    @property
    def total(self) -> float | None:
        return None if self.per_image is None else round(self.per_image * self.count, 6)

    @property
    def known(self) -> bool:
        return self.per_image is not None

    def shown(self) -> str:
        """ "about 0.5 USD (4 x 0.125 USD, gpt-image-1 ...)" or "unknown (why)"."""
        if self.total is None:
            return f"unknown ({self.basis})" if self.basis else "unknown"
        each = ""
        if self.count > 1:
            each = f"{self.count} x {money(self.per_image or 0)} {self.currency}, "
        return f"about {money(self.total)} {self.currency} ({each}{self.basis}; estimate)"

    def as_json(self) -> dict[str, object]:
        return {
            "per_image": self.per_image,
            "total": self.total,
            "count": self.count,
            "currency": self.currency if self.known else None,
            "basis": self.basis,
            "estimate": True,
        }


def money(amount: float) -> str:
    return f"{amount:.6f}".rstrip("0").rstrip(".") or "0"


def base_name(model: str) -> str:
    """ "openai/gpt-image-1" -> "gpt-image-1": the table knows models by their own names."""
    return model.rsplit("/", 1)[-1].lower()


def estimate(
    model: str,
    count: int,
    *,
    quality: str | None = None,
    pixels: tuple[int, int] | None = None,
    batch: bool = False,
) -> Estimate:
    """The estimate for `count` images of `model` at its list price (unknown when none), or
    with `batch` at the batch price (a provider's batch API: BATCH_PRICE of it)."""
    found = _listed(model, count, quality=quality, pixels=pixels)
    if not batch or found.per_image is None:
        return found
    return Estimate(
        round(found.per_image * BATCH_PRICE, 6), count, basis=f"{found.basis}, {BATCH_BASIS}"
    )


def batch_cost(cost: float) -> float:
    """A cost at the list price, as a batch of the same requests costs."""
    return round(cost * BATCH_PRICE, 10)


def _listed(
    model: str,
    count: int,
    *,
    quality: str | None = None,
    pixels: tuple[int, int] | None = None,
) -> Estimate:
    name = base_name(model)
    if name == "dall-e-2":
        side = max(pixels) if pixels else 1024
        price = _DALL_E_2.get(side)
        if price is None:
            return Estimate(None, count, basis=f"no list price for dall-e-2 at {side}px")
        return Estimate(price, count, basis=f"dall-e-2, {side}x{side}, {SOURCE}")
    table = _GPT_IMAGE.get(name)
    if table is None:
        return Estimate(None, count, basis=f"no list price known for {model}")
    asked = (quality or "auto").lower()
    if asked not in table:
        asked = _DEFAULT_QUALITY.get(name) or max(table, key=lambda q: table[q][1])
    square, other = table[asked]
    if pixels is None:  # size left to the model: it may choose a larger one
        return Estimate(other, count, basis=f"{name}, {asked}, any size, {SOURCE}")
    price = square if pixels[0] == pixels[1] else other
    return Estimate(price, count, basis=f"{name}, {asked}, {pixels[0]}x{pixels[1]}, {SOURCE}")


@dataclass(frozen=True)
class Sum:
    """Several estimates added up: the known part, and how many images have no known price."""

    total: float | None
    currency: str | None
    images: int
    unknown: int  # images whose price is unknown: the total leaves them out

    @classmethod
    def of(cls, estimates: list[Estimate]) -> Sum:
        known = [e for e in estimates if e.total is not None]
        currencies = {e.currency for e in known}
        return cls(
            round(sum(e.total or 0.0 for e in known), 6) if known else None,
            currencies.pop() if len(currencies) == 1 else None,
            sum(e.count for e in estimates),
            sum(e.count for e in estimates if e.total is None),
        )

    def shown(self) -> str:
        if self.total is None:
            return f"unknown ({_images(self.images)}, no list price known)" if self.images else "0"
        cur = f" {self.currency}" if self.currency else ""
        left = f", plus {_images(self.unknown)} of unknown price" if self.unknown else ""
        return f"about {money(self.total)}{cur} for {_images(self.images)}{left} (estimate)"


def _images(n: int) -> str:
    return f"{n} image{'' if n == 1 else 's'}"
