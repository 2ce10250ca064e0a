"""Helpers for the dialect tests: the seed-shaped reply fixtures in tests/fixtures/ and
Gateways resolved from the built-in presets, as `Settings.gateway()` would give them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from imggen import sizes
from imggen.dialects import Dialect
from imggen.dialects.presets import PRESETS
from imggen.job import Gateway, HttpCall, Job
from imggen.profiles.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The tiny PNGs the fixtures carry instead of real images: imggen.testing.make_png(1, 1)
# and make_png(2, 1, color=(0, 0, 255)), base64-encoded.
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGM4EaABAAMkAUEdGZ/EAAAAAElFTkSuQmCC"
)
PNG_2X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGNgYPgPRAAFAgH/"
    "wSuWnwAAAABJRU5ErkJggg=="
)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    """A JSON reply fixture, parsed."""
    return json.loads(fixture_bytes(name))


def sse_events(name: str) -> list[Any]:
    """The JSON data of each event in an .sse fixture (comments and [DONE] left out)."""
    events = []
    for block in fixture_bytes(name).decode().split("\n\n"):
        data = "\n".join(
            line[len("data: ") :] for line in block.splitlines() if line.startswith("data: ")
        )
        if data and data != "[DONE]":
            events.append(json.loads(data))
    return events


def settings(preset: str, model: str) -> Settings:
    return Settings(
        profile=preset,
        base_url="https://gw.example/v1",
        model=model,
        api_key="unused-in-dialect-tests",
        preset=PRESETS[preset],
    )


def gateway(preset: str, model: str, **overrides: Any) -> Gateway:
    """The Gateway a profile on `preset` gets for `model`, with fields overridden."""
    gw = settings(preset, model).gateway()
    return dataclasses.replace(gw, **overrides) if overrides else gw


def request(call: HttpCall) -> dict[str, Any]:
    """A JSON call as a literal dict."""
    return {"method": call.method, "path": call.path, "json": call.json}


def build(dialect: Dialect, job: Job, gw: Gateway, *, stream: bool = False) -> list[HttpCall]:
    """The dialect's calls for a job, checked and its sizes resolved first as core.prepare
    does."""
    from imggen.dialects import check_carried

    check_carried(job, dataclasses.replace(gw, dialect=dialect.name))
    res = sizes.resolve(gw.size_rule, gw.model, job.aspect, job.size)
    return dialect.build(job, gw, res, stream=stream)
