"""Every generate/edit option, described once, and the one walk of precedence over them.

An `Option` says how the option is typed on the command line (flags, placeholder, help), how
any value of it is read and checked (`parse`, the same for a flag, a profile default, a
manifest job and `config set`), where else it may be set, and whether it enters the request
digest and provenance. `generate`, `edit`, `batch`, profile defaults, `config set`, manifests
and provenance all read `OPTIONS`. Pure: no I/O.

Precedence is walked once, in `merge()`: the first layer that sets a value wins, and `params`
tables merge deeply. The layers, highest first:

- generate/edit: flag > profile default > built-in default (the environment chooses only the
  profile, base URL, key, model and dialect: see settings.py);
- batch: manifest job > manifest ``[defaults]`` > batch flag > profile default > built-in default.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from imggen import sizes
from imggen.errors import ImggenError, UsageError

IMAGE = "Image options"
RUN = "Run options"

GENERATE, EDIT, BATCH, MODELS, DOCTOR = "generate", "edit", "batch", "models", "doctor"
MAKERS = frozenset({GENERATE, EDIT, BATCH})
FORMATS = ("png", "jpeg", "webp")

# Where a value lands once merged.
JOB = "job"  # a field of job.Job: what to make
INPUT = "input"  # the prompt and the files to read (refs, inputs, mask)
RUN_ = "run"  # a field of core.RunOptions: how to run it
SETTINGS = "settings"  # chooses the gateway (profile, model): settings.py resolves it
CLI = "cli"  # how the command reports (--json, -q, ...): never stored anywhere


class Invalid(UsageError):
    """A value an option cannot take, before anyone said where it came from."""


@dataclass(frozen=True)
class Option:
    """One option: its command-line form, its parser, and where else it may be set."""

    name: str  # the key in Job / RunOptions, profiles and manifests
    flags: tuple[str, ...]  # ("-s", "--size"); () for manifest-only keys such as prompt
    help: str
    kind: type  # the command-line type: str, int, float, bool or list (repeatable str)
    parse: Callable[[Any], Any] | None = None  # raw value -> canonical; raises Invalid
    metavar: str | None = None
    lands: str = JOB
    panel: str = IMAGE
    commands: frozenset[str] = MAKERS
    profile: bool = True  # a profile may hold a default for it
    manifest: bool = True  # a manifest job (or [defaults]) may set it
    per_job: bool = False  # every manifest job must set it; [defaults] may not
    digest: bool = False  # part of the request digest and the provenance record
    default: Any = None  # the built-in default
    aliases: tuple[str, ...] = ()  # other names a manifest may use ("n" for count)
    negative: str | None = None  # "--no-stream" for a flag pair
    tristate: bool = False  # a flag pair whose absence means "let the gateway decide"
    complete: str | None = None  # the completion source cli/completion.py offers for it
    helps: Mapping[str, str] = field(default_factory=dict)  # per-command help wording

    @property
    def flag(self) -> str:
        """The long flag, as messages name the option."""
        return next((f for f in self.flags if f.startswith("--")), self.flags[0])

    def help_for(self, command: str) -> str:
        return self.helps.get(command, self.help)

    def check(self, raw: Any) -> Any:
        """The canonical value of `raw`; raises Invalid saying what the option accepts."""
        return raw if self.parse is None else self.parse(raw)


# -- parsers: each takes a value as a flag, TOML, JSON or `config set` gives it ---------------


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float) or not str(raw).strip():
        raise Invalid("must be a non-empty string")
    return str(raw).strip()


def _prompt(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("must be a non-empty string")
    return raw


def _whole(least: int | None, most: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
        if not ok or (least is not None and raw < least) or (most is not None and raw > most):
            span = (
                f" from {least} to {most}"
                if least is not None and most is not None
                else f" of at least {least}"
                if least is not None
                else ""
            )
            raise Invalid(f"must be a whole number{span}")
        return int(raw)

    return parse


def _seconds(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise Invalid("must be a number of seconds above 0")
    return float(raw)


def _flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise Invalid("must be true or false")
    return raw


def _aspect(raw: Any) -> str:
    try:
        return sizes.parse_aspect(_text(raw))
    except ImggenError:
        raise Invalid(
            "not an aspect ratio; give W:H with positive whole numbers",
            hint=f"for example 16:9; common ones: {', '.join(sizes.ASPECTS)}",
        ) from None


def _size(raw: Any) -> str:
    try:
        parsed = sizes.parse_size(_text(raw))
    except ImggenError:
        raise Invalid(
            f"not a size; give a tier ({', '.join(sizes.TIERS)}), pixels WxH or auto",
            hint="for example 2K or 1536x1024",
        ) from None
    return parsed if isinstance(parsed, str) else f"{parsed[0]}x{parsed[1]}"


def _format(raw: Any) -> str:
    low = _text(raw).lower()
    low = "jpeg" if low == "jpg" else low
    if low not in FORMATS:
        raise Invalid(f"choose one of {', '.join(FORMATS)}")
    return low


def _quality(raw: Any) -> str:
    # a word (low/medium/high/auto, hd) or a compression number; the model decides (dialects)
    return _text(raw)


def _files(raw: Any) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(
        isinstance(i, str) and i.strip() for i in items
    ):
        raise Invalid("must be a file/URL or a list of them")
    return [i.strip() for i in items]


def _params(raw: Any) -> dict[str, Any]:
    """A table of body fields, or --param's KEY=VALUE items: dotted keys nest, values are
    JSON where they parse."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, list | tuple):
        raise Invalid("must be a table of body fields")
    out: dict[str, Any] = {}
    for item in raw:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise Invalid(f"{item!r} is not KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        nested: dict[str, Any] = {}
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        try:
            out = deep_merge(out, nested, strict=True)
        except ValueError as exc:
            raise Invalid(f"{item!r}: {exc}") from None
    return out


def deep_merge(
    base: Mapping[str, Any], over: Mapping[str, Any], *, strict: bool = False
) -> dict[str, Any]:
    """`over` merged into a copy of `base`: tables merge, anything else replaces. With strict,
    a table meeting a plain value is an error (two --param items that disagree)."""
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        if isinstance(value, Mapping) and isinstance(mine, Mapping):
            out[key] = deep_merge(mine, value, strict=strict)
        elif strict and key in out and (isinstance(value, Mapping) or isinstance(mine, Mapping)):
            raise ValueError(
                f"{key} is already {'a table' if isinstance(mine, Mapping) else 'a value'}"
            )
        else:
            out[key] = value
    return out


# -- the table ------------------------------------------------------------------------------

OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "profile",
            ("-p", "--profile"),
            "Profile from the config file, or a preset name.",
            str,
            _text,
            metavar="PROFILE",
            lands=SETTINGS,
            panel="",
            commands=MAKERS | {MODELS, DOCTOR},
            profile=False,
            complete="profiles",
        ),
        Option(
            "model",
            ("-m", "--model"),
            "Model id (`imggen models` lists them).",
            str,
            _text,
            metavar="MODEL",
            lands=SETTINGS,
            panel="",
            commands=MAKERS | {DOCTOR},
            profile=False,  # a profile's `model` is settings', not an option default
            complete="models",
        ),
        Option("prompt", (), "The prompt.", str, _prompt, lands=INPUT, profile=False, per_job=True),
        Option(
            "aspect",
            ("-a", "--aspect"),
            "Aspect ratio, e.g. 16:9.",
            str,
            _aspect,
            metavar="W:H",
            digest=True,
            complete="aspects",
        ),
        Option(
            "size",
            ("-s", "--size"),
            "Tier 512/1K/2K/4K, pixels WxH, or auto.",
            str,
            _size,
            metavar="SIZE",
            digest=True,
            complete="sizes",
        ),
        Option(
            "count",
            ("-n", "--count"),
            "Number of images.",
            int,
            _whole(1),
            metavar="N",
            digest=True,
            default=1,
            aliases=("n",),
        ),
        Option(
            "output",
            ("-o", "--output"),
            "File, folder, template ({i} {n} {slug} {model} {date} {time}) or - for stdout.",
            str,
            _text,
            metavar="FILE",
            lands=RUN_,
            commands=frozenset({GENERATE, EDIT}),
            per_job=True,
        ),
        Option(
            "format",
            ("--format",),
            "png, jpeg or webp.",
            str,
            _format,
            metavar="FORMAT",
            digest=True,
            complete="formats",
        ),
        Option(
            "quality",
            ("--quality",),
            "low/medium/high/auto (hd/standard on dall-e-3), or 0-100.",
            str,
            _quality,
            metavar="QUALITY",
            digest=True,
            complete="qualities",
        ),
        Option(
            "background",
            ("--background",),
            "transparent, opaque or auto.",
            str,
            _text,
            metavar="BACKGROUND",
            digest=True,
            complete="backgrounds",
        ),
        Option("seed", ("--seed",), "Seed.", int, _whole(None), metavar="N", digest=True),
        Option(
            "refs",
            ("-r", "--ref"),
            "Reference image file or URL (repeatable).",
            list,
            _files,
            metavar="FILE|URL",
            commands=frozenset({GENERATE, EDIT}),
            lands=INPUT,
            profile=False,
        ),
        Option(
            "inputs",
            (),
            "Images to edit.",
            list,
            _files,
            lands=INPUT,
            profile=False,
        ),
        Option(
            "mask",
            ("--mask",),
            "PNG mask; transparent pixels are repainted.",
            str,
            _text,
            metavar="FILE",
            commands=frozenset({EDIT}),
            lands=INPUT,
            profile=False,
        ),
        Option(
            "stream",
            ("--stream",),
            "Stream the reply (default: where the gateway allows it).",
            bool,
            _flag,
            panel=RUN,
            negative="--no-stream",
            tristate=True,
        ),
        Option(
            "params",
            ("--param",),
            "Extra body field (repeatable; dotted keys nest; JSON values parsed).",
            list,
            _params,
            metavar="KEY=VALUE",
            digest=True,
            default=MappingProxyType({}),
        ),
        Option(
            "timeout",
            ("--timeout",),
            "Seconds the whole command may take.",
            float,
            _seconds,
            metavar="SECONDS",
            lands=RUN_,
            panel=RUN,
            commands=MAKERS | {DOCTOR},
            helps={BATCH: "Seconds each job may take.", DOCTOR: "Seconds the test image may take."},
        ),
        Option(
            "retries",
            ("--retries",),
            "Retries on 408/409/429/5xx and network errors [2].",
            int,
            _whole(0),
            metavar="N",
            lands=RUN_,
            panel=RUN,
            default=2,
        ),
        Option(
            "force",
            ("--force",),
            "Overwrite existing files.",
            bool,
            lands=RUN_,
            panel=RUN,
            profile=False,
            manifest=False,
            default=False,
            helps={BATCH: "Regenerate every job, overwriting its files."},
        ),
        Option(
            "json",
            ("--json",),
            "Print one JSON document on stdout.",
            bool,
            lands=CLI,
            panel=RUN,
            commands=MAKERS | {MODELS, DOCTOR},
            profile=False,
            manifest=False,
            default=False,
        ),
        Option(
            "dry_run",
            ("--dry-run",),
            "Print the request (key redacted); send nothing.",
            bool,
            lands=CLI,
            panel=RUN,
            profile=False,
            manifest=False,
            default=False,
            helps={BATCH: "List what would run and what would be skipped, and why; send nothing."},
        ),
        Option(
            "quiet",
            ("-q", "--quiet"),
            "No progress or notes.",
            bool,
            lands=CLI,
            panel=RUN,
            commands=MAKERS | {MODELS, DOCTOR},
            profile=False,
            manifest=False,
            default=False,
        ),
        Option(
            "verbose",
            ("-v", "--verbose"),
            "More detail; tracebacks for bugs.",
            bool,
            lands=CLI,
            panel=RUN,
            commands=MAKERS | {MODELS, DOCTOR},
            profile=False,
            manifest=False,
            default=False,
        ),
    )
}

PROFILE_OPTIONS = tuple(o.name for o in OPTIONS.values() if o.profile)
PER_JOB = tuple(o.name for o in OPTIONS.values() if o.per_job)
MANIFEST_KEYS = PER_JOB + tuple(
    key for o in OPTIONS.values() if o.manifest and not o.per_job for key in (o.name, *o.aliases)
)
DIGEST = tuple(o.name for o in OPTIONS.values() if o.digest)


def for_command(command: str) -> list[Option]:
    """The options a command takes on its command line, in table order."""
    return [o for o in OPTIONS.values() if o.flags and command in o.commands]


def canonical(key: str) -> str:
    """The option a manifest key names ("n" -> "count")."""
    for o in OPTIONS.values():
        if key == o.name or key in o.aliases:
            return o.name
    raise KeyError(key)


# -- checking and merging layers --------------------------------------------------------------


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


def check(
    raw: Mapping[str, Any], label: Callable[[str], str], *, names: Iterable[str] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Canonical values of the options in `raw` (None values skipped) and a Problem for each
    that fails its check. `label(name)` says where the values came from. Raises KeyError for
    a key that is no option (or not one of `names`): the caller knows which keys it takes."""
    allowed = set(OPTIONS) if names is None else set(names)
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
        """The values landing in one place (JOB, RUN_), defaults included."""
        return {n: self.get(n) for n, o in OPTIONS.items() if o.lands == where}


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
