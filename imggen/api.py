"""imggen as a library, for build scripts and notebooks:

    import imggen
    result = imggen.generate("a red fox", profile="work", size="2K", output="fox.png")
    result.paths  # [PosixPath('fox.png')]

The same option table, settings and checks as the command line (an option here is named as
in a profile: size, aspect, count, quality, seed, params, ...); failures raise the
imggen.errors classes, whose `exit_code` is the command line's; nothing is written to the
terminal unless `progress=True` (progress and notes on stderr) or `preview=True`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import options
from imggen.errors import UsageError

__all__ = ["Image", "Result", "edit", "generate"]

# what a caller may pass: the table's options that generate or edit take, by name
_TAKES = {
    o.name
    for o in options.OPTIONS.values()
    if o.lands in (options.JOB, options.RUN) and o.commands & {options.GENERATE, options.EDIT}
} | {"refs", "mask"}


@dataclass(frozen=True)
class Image:
    """One saved image."""

    path: Path  # Path("-") when written to stdout
    mime: str
    bytes: int
    pixels: tuple[int, int] | None
    sha256: str


@dataclass(frozen=True)
class Result:
    """What a call made: the images saved, and the same record `--json` prints (model,
    requested size, usage, cost, estimate, warnings, ...)."""

    images: list[Image]
    record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [i.path for i in self.images]

    @property
    def cost(self) -> float | None:
        """The cost the gateway reported, where it did."""
        value = self.record.get("cost")
        return float(value) if isinstance(value, int | float) else None


def generate(
    prompt: str,
    *,
    profile: str | None = None,
    model: str | None = None,
    progress: bool = False,
    environ: Mapping[str, str] | None = None,
    **opts: Any,
) -> Result:
    """Make images from a prompt. Raises imggen.errors.ImggenError (its subclasses carry the
    exit code class: UsageError 2, ConfigError 3, GatewayRefused 4, ...); a failure after some
    images were saved carries them as `error.result`."""
    return _make(prompt, [], profile, model, progress, environ, opts, command="generate")


def edit(
    images: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    prompt: str,
    *,
    profile: str | None = None,
    model: str | None = None,
    progress: bool = False,
    environ: Mapping[str, str] | None = None,
    **opts: Any,
) -> Result:
    """Edit or combine images (files or URLs); `mask=` a PNG whose transparent pixels are
    repainted. Raises as generate() does."""
    given = [images] if isinstance(images, str | os.PathLike) else list(images)
    names = [os.fspath(i) for i in given]
    return _make(prompt, names, profile, model, progress, environ, opts, command="edit")


def _make(
    prompt: str,
    images: list[str],
    profile: str | None,
    model: str | None,
    progress: bool,
    environ: Mapping[str, str] | None,
    opts: dict[str, Any],
    *,
    command: str,
) -> Result:
    from imggen.console import UI
    from imggen.env import Env
    from imggen.profiles import modelcache, settings
    from imggen.run import core, inputs

    unknown = sorted(set(opts) - _TAKES)
    if unknown:
        raise UsageError(
            f"imggen.{command}() got unknown option{'s' if len(unknown) > 1 else ''} "
            + ", ".join(unknown),
            hint="it takes: " + ", ".join(sorted(_TAKES)),
        )
    if "refs" in opts and isinstance(opts["refs"], str | os.PathLike):
        opts["refs"] = [opts["refs"]]
    raw = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in opts.items()}
    if raw.get("refs"):
        raw["refs"] = [os.fspath(r) for r in raw["refs"]]
    values, problems = options.check(raw, lambda name: f"{name}=")
    if problems:
        raise problems[0].error()
    env = Env(environ=dict(os.environ if environ is None else environ), stdin_isatty=True)
    ui = UI(env, quiet=not progress)
    s = settings.resolve(profile=profile, model=model, environ=env.environ, limits=env.limits)
    s = modelcache.learn(s, env)
    for warning in s.warnings:
        ui.warn(warning)
    merged = options.merge([options.Layer(values, lambda name: f"{name}="), s.layer()])
    text = inputs.read_prompt(prompt, images, inputs.Stdin(env), command=command)
    cap = env.limits.input_cap
    loaded = [inputs.load(src, max_bytes=cap) for src in images]
    refs = [inputs.load(r, what="reference image", max_bytes=cap) for r in merged.get("refs") or []]
    mask = None
    if merged.get("mask"):
        mask = inputs.load(merged.get("mask"), what="mask", max_bytes=cap)
        inputs.check_mask(mask, loaded[0])
    run_opts = core.RunOptions.of(merged, cwd=Path.cwd())
    job = core.make_job(text, merged, refs=refs, inputs=loaded, mask=mask)
    outcome = core.run(s, job, env, ui, run_opts)
    for warning in outcome.warnings:
        ui.warn(warning)
    result = Result(
        [Image(Path(i.path), i.mime, i.bytes, i.pixels, i.sha256) for i in outcome.saved],
        outcome.as_json(),
    )
    if run_opts.preview and outcome.saved:
        import sys

        from imggen import preview

        preview.show(
            [i.path for i in outcome.saved], sys.stderr, env.environ, isatty=sys.stderr.isatty()
        )
    if outcome.error is not None:
        outcome.error.result = result  # type: ignore[attr-defined]
        raise outcome.error
    return result
