"""The option table: every generate/edit option once, with its command-line form, its parser,
where else it may be set (profile, manifest) and whether it enters the request digest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from imggen.options import parsers as p

IMAGE = "Image options"
RUN_PANEL = "Run options"

GENERATE, EDIT, BATCH, MODELS, DOCTOR = "generate", "edit", "batch", "models", "doctor"
MAKERS = frozenset({GENERATE, EDIT, BATCH})

# Where a value lands once merged.
JOB = "job"  # a field of job.Job: what to make
INPUT = "input"  # the prompt and the files to read (refs, inputs, mask)
RUN = "run"  # a field of core.RunOptions: how to run it
SETTINGS = "settings"  # chooses the gateway (profile, model): settings.py resolves it
CLI = "cli"  # how the command reports (--json, -q, ...): never stored anywhere


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


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "profile",
            ("-p", "--profile"),
            "Profile from the config file, or a preset name.",
            str,
            p.text,
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
            p.text,
            metavar="MODEL",
            lands=SETTINGS,
            panel="",
            commands=MAKERS | {DOCTOR},
            profile=False,  # a profile's `model` is settings', not an option default
            complete="models",
        ),
        Option(
            "prompt", (), "The prompt.", str, p.prompt, lands=INPUT, profile=False, per_job=True
        ),
        Option(
            "aspect",
            ("-a", "--aspect"),
            "Aspect ratio, e.g. 16:9.",
            str,
            p.aspect,
            metavar="W:H",
            digest=True,
            complete="aspects",
        ),
        Option(
            "size",
            ("-s", "--size"),
            "Tier 512/1K/2K/4K, pixels WxH, or auto.",
            str,
            p.size,
            metavar="SIZE",
            digest=True,
            complete="sizes",
        ),
        Option(
            "count",
            ("-n", "--count"),
            "Number of images.",
            int,
            p.whole(1),
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
            p.text,
            metavar="FILE",
            lands=RUN,
            commands=frozenset({GENERATE, EDIT}),
            per_job=True,
        ),
        Option(
            "format",
            ("--format",),
            "png, jpeg or webp.",
            str,
            p.format_,
            metavar="FORMAT",
            digest=True,
            complete="formats",
        ),
        Option(
            "quality",
            ("--quality",),
            "low/medium/high/auto (hd/standard on dall-e-3), or 0-100.",
            str,
            p.quality,
            metavar="QUALITY",
            digest=True,
            complete="qualities",
        ),
        Option(
            "background",
            ("--background",),
            "transparent, opaque or auto.",
            str,
            p.text,
            metavar="BACKGROUND",
            digest=True,
            complete="backgrounds",
        ),
        Option("seed", ("--seed",), "Seed.", int, p.whole(None), metavar="N", digest=True),
        Option(
            "refs",
            ("-r", "--ref"),
            "Reference image file or URL (repeatable).",
            list,
            p.files,
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
            p.files,
            lands=INPUT,
            profile=False,
        ),
        Option(
            "mask",
            ("--mask",),
            "PNG mask; transparent pixels are repainted.",
            str,
            p.text,
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
            p.flag,
            panel=RUN_PANEL,
            negative="--no-stream",
            tristate=True,
        ),
        Option(
            "partials",
            ("--partials",),
            "Partial renders to stream before the image, 0-3 (GPT image models).",
            int,
            p.whole(0, 3),
            metavar="N",
            panel=RUN_PANEL,
        ),
        Option(
            "save_partials",
            ("--save-partials",),
            "Also save the partial renders, as NAME.partial-K.png.",
            bool,
            p.flag,
            lands=RUN,
            panel=RUN_PANEL,
            default=False,
        ),
        Option(
            "params",
            ("--param",),
            "Extra body field (repeatable; dotted keys nest; JSON values parsed).",
            list,
            p.params,
            metavar="KEY=VALUE",
            digest=True,
            default=MappingProxyType({}),
        ),
        Option(
            "provenance",
            ("--provenance",),
            "What each image records: full (prompt, model, parameters + the AI marker), "
            "minimal (AI marker and model), off [full].",
            str,
            p.provenance,
            metavar="LEVEL",
            lands=RUN,
            panel=RUN_PANEL,
            default="full",
            complete="provenance",
        ),
        Option(
            "timeout",
            ("--timeout",),
            "Seconds the whole command may take.",
            float,
            p.seconds,
            metavar="SECONDS",
            lands=RUN,
            panel=RUN_PANEL,
            commands=MAKERS | {DOCTOR},
            helps={BATCH: "Seconds each job may take.", DOCTOR: "Seconds the test image may take."},
        ),
        Option(
            "no_wait",
            ("--no-wait",),
            "Job providers (fal, Replicate, Black Forest Labs): submit, record and print the "
            "job ids; collect later with `imggen jobs wait` or the same command again.",
            bool,
            lands=RUN,
            panel=RUN_PANEL,
            profile=False,
            manifest=False,
            default=False,
            helps={BATCH: "Job providers: submit every job and exit; a later run collects."},
        ),
        Option(
            "retries",
            ("--retries",),
            "Retries on 408/409/429/5xx and network errors [2].",
            int,
            p.whole(0),
            metavar="N",
            lands=RUN,
            panel=RUN_PANEL,
            default=2,
        ),
        Option(
            "force",
            ("--force",),
            "Overwrite existing files.",
            bool,
            lands=RUN,
            panel=RUN_PANEL,
            profile=False,
            manifest=False,
            default=False,
            helps={BATCH: "Regenerate every job, overwriting its files."},
        ),
        # -- issue 24: history, preview, confirmation, parallel requests --
        Option(
            "log",
            ("--log",),
            "Record saved images in the local history (default; `imggen log` lists it).",
            bool,
            p.flag,
            lands=RUN,
            panel=RUN_PANEL,
            negative="--no-log",
            tristate=True,
            manifest=False,
        ),
        Option(
            "preview",
            ("--preview",),
            "Show each saved image in the terminal (on stderr, when it is a terminal).",
            bool,
            p.flag,
            lands=RUN,
            panel=RUN_PANEL,
            commands=frozenset({GENERATE, EDIT}),
            manifest=False,
            default=False,
        ),
        Option(
            "jobs",
            ("-j", "--jobs"),
            "Requests sent at once when -n needs several [4].",
            int,
            p.whole(1),
            metavar="N",
            lands=RUN,
            panel=RUN_PANEL,
            commands=frozenset({GENERATE, EDIT}),
            manifest=False,
            default=4,
        ),
        Option(
            "confirm_above",
            (),
            "Ask before making more images than this at once (--yes answers).",
            int,
            p.whole(0),
            lands=RUN,
            manifest=False,
            default=10,
        ),
        Option(
            "yes",
            ("-y", "--yes"),
            "Answer yes to the question asked before many images (-n above confirm_above).",
            bool,
            lands=CLI,
            panel=RUN_PANEL,
            commands=frozenset({GENERATE, EDIT}),
            profile=False,
            manifest=False,
            default=False,
        ),
        Option(
            "json",
            ("--json",),
            "Print one JSON document on stdout.",
            bool,
            lands=CLI,
            panel=RUN_PANEL,
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
            panel=RUN_PANEL,
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
            panel=RUN_PANEL,
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
            panel=RUN_PANEL,
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
