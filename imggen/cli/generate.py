"""`imggen generate` and `imggen edit`: options -> Job -> core.run(); paths or JSON on stdout."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from imggen.cli import options as o


def generate(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt; - or none with piped stdin reads stdin.")
    ] = None,
    profile: o.Profile = None,
    model: o.Model = None,
    aspect: o.Aspect = None,
    size: o.Size = None,
    count: o.Count = None,
    output: o.Output = None,
    format: o.Format = None,
    quality: o.Quality = None,
    background: o.Background = None,
    seed: o.Seed = None,
    ref: o.Ref = None,
    stream: o.Stream = None,
    param: o.Param = None,
    json_out: o.Json = False,
    dry_run: o.DryRun = False,
    force: o.Force = False,
    timeout: o.Timeout = None,
    retries: o.Retries = None,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Make images from a prompt (plus optional reference images)."""
    _run(ctx, locals(), images=[], mask=None)


def edit(
    ctx: typer.Context,
    args: Annotated[
        list[str],
        typer.Argument(
            help="IMAGE... PROMPT: input files or URLs (- for stdin), then the prompt.",
            metavar="IMAGE... PROMPT",
        ),
    ],
    mask: Annotated[
        str | None,
        typer.Option(
            "--mask", help="PNG mask; transparent pixels are repainted.", rich_help_panel=o.IMAGE
        ),
    ] = None,
    profile: o.Profile = None,
    model: o.Model = None,
    aspect: o.Aspect = None,
    size: o.Size = None,
    count: o.Count = None,
    output: o.Output = None,
    format: o.Format = None,
    quality: o.Quality = None,
    background: o.Background = None,
    seed: o.Seed = None,
    ref: o.Ref = None,
    stream: o.Stream = None,
    param: o.Param = None,
    json_out: o.Json = False,
    dry_run: o.DryRun = False,
    force: o.Force = False,
    timeout: o.Timeout = None,
    retries: o.Retries = None,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Edit or combine images: IMAGE... PROMPT, with an optional --mask."""
    from imggen.env import Env
    from imggen.errors import UsageError

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    if len(args) >= 2:
        images, prompt = args[:-1], args[-1]
    elif len(args) == 1 and not env.stdin_isatty and args[0] != "-":
        images, prompt = args, "-"
    else:
        raise UsageError(
            "edit needs at least one image and a prompt: imggen edit IMAGE... PROMPT",
            hint="or pipe the prompt: echo 'make it blue' | imggen edit in.png",
        )
    params = dict(locals_without(locals(), "args", "images", "mask", "env"))
    params["prompt"] = prompt
    _run(ctx, params, images=images, mask=mask)


def locals_without(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in names}


def _run(ctx: typer.Context, a: dict[str, Any], *, images: list[str], mask: str | None) -> None:
    """With --json, stdout gets one document whatever happens, errors included."""
    from imggen.errors import ImggenError

    try:
        _make(ctx, a, images=images, mask=mask)
    except ImggenError as exc:
        if a["json_out"] and not getattr(exc, "json_reported", False):
            from imggen.env import Env

            env = ctx.obj if isinstance(ctx.obj, Env) else Env()
            doc = {
                "paths": [],
                "images": [],
                "error": {
                    "class": type(exc).__name__,
                    "message": exc.message,
                    "exit_code": int(exc.exit_code),
                },
            }
            env.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        raise


def _make(ctx: typer.Context, a: dict[str, Any], *, images: list[str], mask: str | None) -> None:
    from imggen import core, inputs, settings
    from imggen.console import UI
    from imggen.env import Env
    from imggen.errors import ImggenError, UsageError
    from imggen.job import Job

    env = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ui = UI(env, quiet=a["quiet"], verbose=a["verbose"])
    s = settings.resolve(
        profile=a["profile"], model=a["model"], environ=env.environ, need_key=not a["dry_run"]
    )
    for warning in s.warnings:
        ui.warn(warning)
    ui.debug(
        f"profile {s.profile} ({s.sources.get('profile')}), base URL {s.base_url}, "
        f"key from {s.key_source or 'nowhere (dry run)'}"
    )
    d = dict(s.defaults)
    stdin_used = [False]

    def stdin_bytes() -> bytes:
        if stdin_used[0]:
            raise UsageError("stdin can be read once: only one of PROMPT and IMAGE may be -")
        stdin_used[0] = True
        return env.read_stdin_bytes()

    prompt = a["prompt"]
    if prompt is None and not env.stdin_isatty:
        prompt = "-"
    if [prompt, *images].count("-") > 1:
        raise UsageError("stdin can be read once: only one of PROMPT and IMAGE may be -")
    if prompt == "-":
        prompt = stdin_bytes().decode("utf-8", "replace").strip()
    if not prompt:
        raise UsageError(
            "no prompt given", hint='imggen generate "a red fox" (or pipe it on stdin)'
        )

    loaded = [inputs.load(src, stdin=stdin_bytes() if src == "-" else None) for src in images]
    refs = [inputs.load(src, what="reference image") for src in a["ref"] or []]
    mask_input = None
    if mask:
        mask_input = inputs.load(mask, what="mask")
        inputs.check_mask(mask_input, loaded[0])

    count = o.pick(a["count"], d, "count", 1)
    if not isinstance(count, int) or count < 1:
        raise UsageError(f"-n must be a whole number of at least 1, not {count!r}")
    fmt = o.check_choice(o.pick(a["format"], d, "format"), "--format", ("png", "jpeg", "webp"))
    params = dict(d.get("params") or {})
    params.update(o.parse_params(a["param"]))
    job = Job(
        prompt=prompt,
        count=count,
        aspect=_aspect(o.pick(a["aspect"], d, "aspect")),
        size=_size(o.pick(a["size"], d, "size")),
        format=fmt,
        quality=_str(o.pick(a["quality"], d, "quality")),
        background=_str(o.pick(a["background"], d, "background")),
        seed=o.pick(a["seed"], d, "seed"),
        refs=tuple(refs),
        inputs=tuple(loaded),
        mask=mask_input,
        params=params,
        stream=o.pick(a["stream"], d, "stream"),
    )
    retries = o.pick(a["retries"], d, "retries", 2)
    if not isinstance(retries, int) or retries < 0:
        raise UsageError(f"--retries must be 0 or more, not {retries!r}")
    timeout = o.pick(a["timeout"], d, "timeout")
    if timeout is not None and float(timeout) <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    opts = core.Options(
        output=o.pick(a["output"], d, "output"),
        force=a["force"],
        timeout=float(timeout) if timeout else None,
        retries=retries,
        cwd=o.cwd(),
    )
    if opts.output == "-" and a["json_out"] and not a["dry_run"]:
        # both would go to stdout: image bytes followed by JSON is neither an image nor JSON
        raise UsageError(
            "-o - and --json both write to stdout", hint="save to a file with -o, or drop --json"
        )
    plan = core.prepare(s, job, opts)
    ui.debug(
        f"model {plan.gateway.model}, dialect {plan.gateway.dialect}, size rule "
        f"{plan.gateway.size_rule}, {len(plan.calls)} request(s), stream {plan.stream}"
    )
    if a["dry_run"]:
        _print_dry_run(env, plan, s.base_url, a["json_out"])
        return

    def show(saved: Any) -> None:
        if not a["json_out"] and saved.path != "-":
            env.out.write(saved.path + "\n")
            env.out.flush()

    try:
        outcome = core.run(s, job, env, ui, opts, plan=plan, on_saved=show)
    except ImggenError as exc:
        if a["json_out"]:
            failed = exc.outcome or core.Outcome(
                s.profile, plan.gateway.model, plan.gateway.dialect, retries=exc.retries
            )
            failed.error = exc
            env.out.write(json.dumps(failed.as_json(), ensure_ascii=False) + "\n")
            exc.json_reported = True  # type: ignore[attr-defined]
        raise
    for warning in outcome.warnings:
        ui.warn(warning)
    if outcome.text and not a["json_out"]:
        ui.info(f"{outcome.model} said: {outcome.text[:2000]}")
    if outcome.retries:
        ui.info(
            f"{outcome.retries} retr{'y' if outcome.retries == 1 else 'ies'}: "
            "the gateway may bill retried generations"
        )
    if a["json_out"]:
        env.out.write(json.dumps(outcome.as_json(), ensure_ascii=False) + "\n")
    if outcome.error is not None:
        outcome.error.json_reported = a["json_out"]  # type: ignore[attr-defined]
        raise outcome.error


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _aspect(value: Any) -> str | None:
    from imggen import sizes

    return None if value is None else sizes.parse_aspect(str(value))


def _size(value: Any) -> str | None:
    from imggen import sizes

    if value is None:
        return None
    parsed = sizes.parse_size(str(value))
    return parsed if isinstance(parsed, str) else f"{parsed[0]}x{parsed[1]}"


def _print_dry_run(env: Any, plan: Any, base_url: str, as_json: bool) -> None:
    calls = [c.describe(base_url) for c in plan.calls]
    if as_json:
        doc = {
            "model": plan.gateway.model,
            "dialect": plan.gateway.dialect,
            "stream": plan.stream,
            "requests": calls,
            "outputs": [str(t.path) if t.path else "-" for t in plan.targets],
        }
        env.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    same = len(calls) > 1 and all(c == calls[0] for c in calls)
    shown = calls[:1] if same else calls
    for i, call in enumerate(shown):
        if i:
            env.out.write("\n")
        if same:
            env.out.write(f"# sent {len(calls)} times in parallel, one image each\n")
        env.out.write(f"{call['method']} {call['url']}\n")
        for k, v in call["headers"].items():
            env.out.write(f"{k}: {v}\n")
        env.out.write("\n")
        if "json" in call:
            env.out.write(json.dumps(call["json"], ensure_ascii=False, indent=2) + "\n")
        else:
            for k, v in call["form"].items():
                env.out.write(f"{k}={v}\n")
            for f in call["files"]:
                env.out.write(
                    f"{f['field']}=@{f['filename']} ({f['content_type']}, {f['bytes']:,} bytes)\n"
                )
