"""Checking values where they were written (flag, profile, manifest) and the one walk of
precedence over those layers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imggen.errors import ImggenError, UsageError
from imggen.options.parsers import Invalid, deep_merge
from imggen.options.table import OPTIONS, canonical


@dataclass(frozen=True)
class Problem:
    """A value that failed its option's check, said with where it came from."""

    option: str
    label: str  # "--size", "profile knox (size)", "assets.toml:12 (size)"
    value: str | None  # the value as typed, for a scalar; None for tables and lists
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        shown = f" {self.value}" if self.value is not None else ""
        return f"{self.label}{shown}: {self.message}"

    def error(self, cls: type[ImggenError] = UsageError) -> ImggenError:
        return cls(str(self), hint=self.hint)


_ALL = frozenset(OPTIONS)  # check() runs for every job of a manifest


def check(
    raw: Mapping[str, Any], label: Callable[[str], str], *, names: Iterable[str] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Canonical values of the options in `raw` (None values skipped) and a Problem for each
    that fails its check. `label(name)` says where the values came from. Raises KeyError for
    a key that is no option (or not one of `names`): the caller knows which keys it takes."""
    allowed = _ALL if names is None else set(names)
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        if value is None:
            continue
        name = key if key in OPTIONS else canonical(key)
        if name not in allowed:
            raise KeyError(key)
        try:
            out[name] = OPTIONS[name].check(value)
        except Invalid as exc:
            scalar = isinstance(value, str | int | float)
            problems.append(
                Problem(name, label(name), repr(value) if scalar else None, exc.message, exc.hint)
            )
    return out, problems


def check_one(name: str, value: Any, label: str) -> Any:
    """The canonical value; raises UsageError naming `label`."""
    values, problems = check({name: value}, lambda _: label, names=[name])
    if problems:
        raise problems[0].error()
    return values[name]


@dataclass(frozen=True)
class Layer:
    """Checked values from one place, and how to name that place for an option."""

    values: Mapping[str, Any]
    label: Callable[[str], str]


def flag_layer(values: Mapping[str, Any]) -> Layer:
    return Layer(values, lambda name: OPTIONS[name].flag)


@dataclass(frozen=True)
class Values:
    """The merged options of one job, and where each came from."""

    values: Mapping[str, Any]
    origins: Mapping[str, str]

    def get(self, name: str) -> Any:
        return self.values.get(name, OPTIONS[name].default)

    def lands(self, where: str) -> dict[str, Any]:
        """The values landing in one place (JOB, RUN), defaults included."""
        got = self.values.get
        return {n: got(n, default) for n, default in _landing(where)}


@functools.cache
def _landing(where: str) -> tuple[tuple[str, Any], ...]:
    """(name, default) of the options landing in one place: a batch asks 10,000 times."""
    return tuple((n, o.default) for n, o in OPTIONS.items() if o.lands == where)


def merge(layers: Sequence[Layer]) -> Values:
    """Walk the layers highest first: the first that sets an option wins; `params` merge deeply,
    a higher layer's keys winning."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer in layers:
        for name, value in layer.values.items():
            if name == "params" and "params" in values:
                values[name] = deep_merge(value, values[name])
                continue
            if name not in values:
                values[name] = value
                origins[name] = layer.label(name)
    return Values(values, origins)
