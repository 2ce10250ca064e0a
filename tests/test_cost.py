"""usage_cost(): what a run cost, from the usage the gateway sent with each reply."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from imggen.run.outcome import usage_cost
from imggen.testing import FakeGateway
from tests.conftest import SENTINEL_KEY

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.mark.parametrize(
    ("usage", "currency", "expected"),
    [
        ([], "USD", (None, None, "")),
        ([{"total_tokens": 10}], "USD", (None, None, "")),  # no cost reported: none invented
        ([{"cost": 0.04}], "USD", (0.04, "USD", "")),
        ([{"cost": 0.1}, {"cost": 0.2}], None, (0.3, None, "")),  # not 0.30000000000000004
        ([{"cost": "0.011"}, {"cost": 1}], "USD", (1.011, "USD", "")),  # strings and ints count
        ([{"cost": "n/a"}, {"cost": True}, {"cost": 0.5}], None, (0.5, None, '"n/a"')),
        ([{"cost": 2, "currency": "EUR"}], "USD", (2.0, "EUR", "")),  # the reply's own wins
        ([{"cost": 1, "currency": "EUR"}, {"cost": 1, "currency": "GBP"}], "USD", (2.0, "USD", "")),
        # what cannot be counted is named, never summed: NaN, infinities, negatives
        ([{"cost": float("nan")}], "USD", (None, None, "NaN")),
        ([{"cost": "-inf"}, {"cost": 0.5}], "USD", (0.5, "USD", '"-inf"')),
        ([{"cost": -0.04}], "USD", (None, None, "-0.04")),
        ([{"cost": float("inf")}], "USD", (None, None, "Infinity")),
    ],
)
def test_usage_cost(
    usage: list[dict[str, Any]],
    currency: str | None,
    expected: tuple[float | None, str | None, str],
) -> None:
    assert usage_cost(usage, currency) == expected


def test_generate_json_reports_the_fake_gateways_cost(fake: FakeGateway, cli: Cli) -> None:
    # The fake sends usage.cost per image as OpenRouter does, when told a price.
    fake.cost = 0.025
    env = {
        "IMGGEN_BASE_URL": f"{fake.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "google/gemini-2.5-flash-image",
    }
    r = cli("generate", "a fox", "-n", "2", "-o", "fox.png", "--json", env=env)
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(r.stdout)
    assert (doc["cost"], doc["currency"]) == (0.05, None)
    assert [u["cost"] for u in doc["usage"]] == [0.025, 0.025]
