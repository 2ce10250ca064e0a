"""What `imggen generate` and `imggen edit` do once their flags are parsed: prepare, run or show,
then paths or JSON on stdout. Knows no Typer, so that cli/fast.py can run a plain `generate`
without importing it (cli/generate.py declares the commands for Typer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imggen.cli.flags import Flags, checked


def make(
    env: Any,
    flags: Flags,
    prompt: str | None,
    images: list[str],
    *,
    command: str,
    record: Any = None,
) -> None:
    """Prepare, then run or show; with --json, stdout gets one document whatever happens.
    `record`: option values of an image's record (`imggen again`), under the flags."""
    from imggen.console import UI
    from imggen.errors import ImggenError
    from imggen.run import core
    from imggen.run.outcome import failed

    ui = UI(env, quiet=flags["quiet"], verbose=flags["verbose"])
    try:
        s, job, opts = _request(env, ui, flags, prompt, images, command=command, record=record)
        plan = core.prepare(s, job, opts)
    except ImggenError as exc:
        if flags["json"]:
            _write_json(env, failed(exc))
        raise
    ui.debug(
        f"model {plan.gateway.model}, dialect {plan.gateway.dialect}, size rule "
        f"{plan.gateway.size_rule}, {len(plan.calls)} request(s), stream {plan.stream}"
    )
    if flags["dry_run"]:
        _print_dry_run(env, plan, job, opts, s, flags["json"])
        return
    _confirm(env, ui, plan, job, opts, yes=flags["yes"])

    def show(saved: Any) -> None:
        if not flags["json"] and saved.path != "-":
            env.out.write(saved.path + "\n")
            env.out.flush()

    outcome = core.run(s, job, env, ui, opts, plan=plan, on_saved=show)
    if opts.no_wait and not flags["json"]:  # one job id a line, for the step that collects
        env.out.write("".join(f"{j['id']}\n" for j in outcome.jobs))
        env.out.flush()
    if outcome.saved or outcome.error is None:  # a total failure is its error line alone
        _report(ui, outcome, as_json=flags["json"])
    if opts.preview and outcome.saved:
        from imggen import preview

        paths = [saved.path for saved in outcome.saved]
        note = preview.show(paths, env.err, env.environ, isatty=bool(env.stderr_isatty))
        if note:
            ui.info(note)
    if flags["json"]:
        _write_json(env, outcome.as_json())
    outcome.check()


def _request(
    env: Any,
    ui: Any,
    flags: Flags,
    prompt: str | None,
    images: list[str],
    *,
    command: str,
    record: Any = None,
) -> tuple[Any, Any, Any]:
    """Settings, the Job and how to run it, from the flags, the profile and the files named.
    Raises UsageError (exit 2) and ConfigError (exit 3) before anything is sent."""
    from imggen import options
    from imggen.profiles import modelcache, settings
    from imggen.run import core, inputs

    given = checked(flags)
    s = settings.resolve(
        profile=flags["profile"],
        model=flags["model"],
        environ=env.environ,
        need_key=not flags["dry_run"],
        limits=env.limits,
    )
    # what the gateway's model listings say (cached a day); a dry run only reads the cache
    s = modelcache.learn(s, env, offline=flags["dry_run"])
    for warning in s.warnings:
        ui.warn(warning)
    modelcache.check_served(s)  # a mistyped model the gateway's listing would catch
    ui.debug(
        f"profile {s.profile} ({s.sources.get('profile')}), base URL {s.base_url}, "
        f"key from {s.key_source or 'nowhere (dry run)'}"
    )
    values = options.merge([given, *([record] if record else []), s.layer()])
    stdin = inputs.Stdin(env)
    text = inputs.read_prompt(prompt, images, stdin, command=command)
    cap = env.limits.input_cap
    loaded = [inputs.load(src, stdin=stdin, max_bytes=cap) for src in images]
    refs = [
        inputs.load(src, what="reference image", max_bytes=cap) for src in values.get("refs") or []
    ]
    mask = None
    if values.get("mask"):
        mask = inputs.load(values.get("mask"), what="mask", max_bytes=cap)
        inputs.check_mask(mask, loaded[0])
    opts = core.RunOptions.of(values, cwd=Path.cwd())
    if opts.output == "-" and flags["json"] and not flags["dry_run"]:
        from imggen.errors import UsageError

        # both would go to stdout: image bytes followed by JSON is neither an image nor JSON
        raise UsageError(
            "-o - and --json both write to stdout", hint="save to a file with -o, or drop --json"
        )
    return s, core.make_job(text, values, refs=refs, inputs=loaded, mask=mask), opts


def _report(ui: Any, outcome: Any, *, as_json: bool) -> None:
    from imggen.errors import NoImage

    for warning in outcome.warnings:
        ui.warn(warning)
    if outcome.text and not as_json and not isinstance(outcome.error, NoImage):
        ui.info(f"{outcome.model} said: {outcome.text[:2000]}")
    if outcome.resent:
        ui.info(
            f"{outcome.resent} generation{'s were' if outcome.resent > 1 else ' was'} retried "
            "after reaching the gateway: it may have billed both tries"
        )
    for saved in outcome.saved:
        if saved.credentials:
            where = f"; imggen's record is in {saved.path}.json" if saved.sidecar else ""
            name = "the image on stdout" if saved.path == "-" else saved.path
            ui.info(
                f"{name} carries the provider's Content Credentials: saved byte for byte, "
                f"nothing added{where}"
            )
        if not as_json:
            ui.saved(saved.path, saved.pixels, saved.bytes)


def _write_json(env: Any, doc: dict[str, Any]) -> None:
    from imggen.console import safe_json

    env.out.write(safe_json(json.dumps(doc, ensure_ascii=False)) + "\n")


def _print_dry_run(env: Any, plan: Any, job: Any, opts: Any, settings: Any, as_json: bool) -> None:
    from imggen.run import record

    calls = [c.describe(settings.base_url, settings.auth) for c in plan.calls]
    guess = record.estimate(plan, job)
    if as_json:
        doc = {
            "model": plan.gateway.model,
            "dialect": plan.gateway.dialect,
            "stream": plan.stream,
            "images": job.count,
            "requests": calls,
            "outputs": [str(t.path) if t.path else "-" for t in plan.targets],
            "estimate": guess.as_json(),
        }
        from imggen.console import safe_json

        env.out.write(safe_json(json.dumps(doc, ensure_ascii=False, indent=2)) + "\n")
        return
    same = len(calls) > 1 and all(c == calls[0] for c in calls)
    if len(calls) > 1:
        each = plan.calls[0].images
        how = (
            f"sent {len(calls)} times, {each} image{'s' if each > 1 else ''} each"
            if same
            else (f"in {len(calls)} requests")
        )
        env.out.write(f"# {job.count} images {how}, at most {min(len(calls), opts.jobs)} at once\n")
    for i, call in enumerate(calls[:1] if same else calls):
        if i:
            env.out.write("\n")
        for f in call.get("uploads", []):  # large inputs a job provider takes uploaded first
            env.out.write(
                f"# uploaded first: {f['filename']} ({f['bytes']:,} bytes) -> {f['field']}\n"
            )
        env.out.write(f"{call['method']} {call['url']}\n")
        for k, v in call["headers"].items():
            env.out.write(f"{k}: {v}\n")
        env.out.write("\n")
        if "json" in call:
            from imggen.console import safe_json

            env.out.write(safe_json(json.dumps(call["json"], ensure_ascii=False, indent=2)) + "\n")
            continue
        for k, v in call["form"].items():
            env.out.write(f"{k}={v}\n")
        for f in call["files"]:
            env.out.write(
                f"{f['field']}=@{f['filename']} ({f['content_type']}, {f['bytes']:,} bytes)\n"
            )
    env.err.write(f"cost: {guess.shown()}\n")  # stdout stays the request alone


def _confirm(env: Any, ui: Any, plan: Any, job: Any, opts: Any, *, yes: bool) -> None:
    """Above confirm_above images, ask once on a terminal (default no); elsewhere --yes is
    required. The question shows the estimate."""
    from imggen.errors import UsageError
    from imggen.run import record

    if yes or job.count <= opts.confirm_above:
        return
    guess = record.estimate(plan, job).shown()
    what = (
        f"{job.count} images of {plan.gateway.model} in {len(plan.calls)} request(s); cost {guess}"
    )
    if env.stdin_isatty and env.stderr_isatty:
        env.err.write(f"{what}. Go on? [y/N] ")
        env.err.flush()
        answer = env.inp.readline().strip().lower()
        if answer in ("y", "yes"):
            return
        raise UsageError("not confirmed; nothing was sent")
    raise UsageError(
        f"{what}: more than {opts.confirm_above} at once needs confirming",
        hint="pass --yes, or raise confirm_above in the profile",
    )
