"""The checks of `imggen doctor`: config, reachability, key, models API, and one small real
generation showing the gateway's response shape, its streaming and whether it kept the size."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imggen import models as listing
from imggen import sizes
from imggen.console import UI
from imggen.env import Env
from imggen.errors import (
    AuthFailed,
    ConfigError,
    ContentFiltered,
    GatewayFailed,
    GatewayRefused,
    ImggenError,
    NotAnApi,
)
from imggen.job import Job
from imggen.profiles import modelcache, settings
from imggen.run import core
from imggen.run.outcome import Outcome

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
CHECKS = ("config", "reachable", "key", "models_api")
GENERATION_CHECKS = ("generation", "response_shape", "streaming", "size")
PROMPT = "a small red circle on a plain white background"
PROBE_TIMEOUT = 30.0
# What each response shape is, for the report (dialects/base.py names the shapes; the
# gateway documents in shared/seeds/ say which gateway uses which).
SHAPES = {
    "message.images": "OpenRouter-style chat: images beside the message",
    "delta.images": "OpenRouter-style chat, streamed",
    "choices[].images": "images at choice level (Gemini 3.x style)",
    "message.content": "images in content parts (Gemini 2.5 style)",
    "delta.content": "images in streamed content parts",
    "data[].b64_json": "images API, base64",
    "data[].url": "images API, links to download",
    "candidates[].content.parts[].inlineData": "Google's generateContent, base64 parts",
    "delta.candidates[].content.parts[].inlineData": "Google's streamGenerateContent (SSE)",
}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    exit_code: int = 0
    hint: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"check": data.pop("name"), **data, "status": self.status.lower()}


@dataclass
class Report:
    """Every check in CHECKS order, plus what was learnt on the way."""

    profile: str | None = None
    model: str | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def set(
        self, name: str, status: str, detail: str, code: int = 0, hint: str | None = None
    ) -> None:
        self.checks[name] = Check(name, status, detail, code if status == FAIL else 0, hint)

    def fail(self, name: str, exc: ImggenError) -> None:
        self.set(name, FAIL, exc.message, int(exc.exit_code), exc.hint)

    def rows(self) -> list[Check]:
        why = "not reached: an earlier check failed"
        return [self.checks.get(n) or Check(n, SKIP, why) for n in CHECKS + GENERATION_CHECKS]

    @property
    def exit_code(self) -> int:
        """That of the first failing check, 0 when none failed."""
        return next((c.exit_code for c in self.rows() if c.status == FAIL), 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "model": self.model,
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "checks": [c.as_json() for c in self.rows()],
            **self.facts,
        }


def pick_request(rule: str) -> tuple[str | None, str | None]:
    """A cheap request that still tests the size: 16:9 (or the model's first non-square
    aspect) at its smallest tier."""
    r = sizes.RULES[rule]
    if r.open:
        return "16:9", "1K"  # seed 000: 1K is Trinity's standard tier; 512 is XTY's (seed 004)
    aspect = "16:9" if "16:9" in r.aspects else next((a for a in r.aspects if a != "1:1"), None)
    return aspect, r.tiers[0] if r.tiers else None


def run(
    profile: str | None,
    model: str | None,
    env: Env,
    ui: UI,
    *,
    consent: Callable[[str], bool],
    timeout: float | None = None,
) -> Report:
    """Run the checks in order; later ones are skipped once one makes them pointless.
    `consent(question)` says whether to spend one image on the generation checks."""
    report = Report(profile=profile, model=model)
    try:
        s = settings.resolve(profile=profile, model=model, environ=env.environ, need_key=False)
    except ConfigError as exc:
        report.fail("config", exc)
        return report
    report.profile, report.model = s.profile, s.model
    gw = s.gateway()
    key_error: ConfigError | None = None
    try:
        s = settings.resolve(profile=profile, model=model, environ=env.environ)
    except ConfigError as exc:
        key_error = exc
    try:  # the gateway's model listing picks the dialect, as generate's does
        s = modelcache.learn(s, env, offline=key_error is not None)
        gw = s.gateway()
    except AuthFailed:
        pass  # the probe reports the key
    for warning in s.warnings:
        ui.warn(warning)
    _config(report, s, gw.dialect, key_error)
    if key_error is not None:
        for name in ("reachable", "key", "models_api"):
            report.set(name, SKIP, "not checked without a key")
        return report
    if not _probe(report, s, env, ui):
        return report
    _generate(report, s, env, ui, consent, timeout)
    return report


def _config(
    report: Report, s: settings.Settings, dialect: str, key_error: Exception | None
) -> None:
    src = s.sources
    preset = s.preset.name if s.preset else None
    report.facts["config"] = {
        "file": src.get("config_file"),
        "profile": src.get("profile"),
        "preset": preset,
        "base_url": s.base_url,
        "base_url_from": src.get("base_url"),
        "model": s.model,
        "model_from": src.get("model"),
        "dialect": dialect,
        "key_from": s.key_source or None,  # where the key came from; never the key
        "auth": s.auth.spec,
    }
    text = (
        f"profile {src.get('profile')}; file {src.get('config_file')}; preset {preset or 'none'}; "
        f"{s.base_url} ({src.get('base_url')}); model {s.model} ({src.get('model')}, "
        f"{dialect} dialect)"
    )
    if isinstance(key_error, ImggenError):
        report.set("config", FAIL, f"{key_error.message}; {text}", 3, key_error.hint)
    else:
        report.set("config", OK, f"{text}; key from {s.key_source}, sent as {s.auth.describe()}")


def _answered(exc: GatewayFailed) -> bool:
    """Whether the gateway answered at all (an HTTP status, a page, bad JSON)."""
    return exc.status is not None


def _probe(report: Report, s: settings.Settings, env: Env, ui: UI) -> bool:
    """reachable, key and models_api from one GET of the models path; False: stop here."""
    has_api = listing.has_models_api(s)
    path = listing.models_path(s)
    opts = core.RunOptions(timeout=PROBE_TIMEOUT, retries=1)
    host = s.base_url
    no_key_check = "not checked without --generate: the gateway has no models API to ask"
    try:
        with core.make_client(s, env, ui, opts, read_timeout=PROBE_TIMEOUT) as client:
            body = client.get_json(path)
    except NotAnApi as exc:
        if has_api:  # a website answered where the API lists its models: nothing more to ask
            report.fail("reachable", exc)
            return False
        report.set("reachable", OK, f"{host} answered GET {path}")
        report.set("key", SKIP, no_key_check)
        report.set("models_api", OK, f"absent ({exc.message}); {_no_api(s)}")
        return True
    except AuthFailed as exc:
        report.set("reachable", OK, f"{host} answered GET {path}")
        if has_api:  # the hint names where the key came from
            report.fail("key", AuthFailed(exc.message, hint=s.auth_hint(), status=exc.status))
            report.set("models_api", SKIP, "not checked: it needs an accepted key")
            return False
        report.set("key", SKIP, no_key_check)
        report.set("models_api", OK, _no_api(s))
        return True
    except GatewayRefused as exc:
        report.set("reachable", OK, f"{host} answered GET {path}")
        report.set("key", SKIP, no_key_check)
        status = WARN if has_api else OK
        report.set("models_api", status, f"absent ({exc.message}); {_no_api(s)}")
        return True
    except GatewayFailed as exc:
        if not _answered(exc):
            report.fail("reachable", exc)
            return False
        report.set("reachable", OK, f"{host} answered GET {path}")
        report.set("key", SKIP, "not checked: the models API failed")
        report.fail("models_api", exc)
        return True
    report.set("reachable", OK, f"{host} answered GET {path}")
    report.set("key", OK, f"accepted by GET {path}; it came from the {s.key_source}")
    entries = listing.entries(body)
    mods = {str(e["id"]): listing.output_modalities(e) for e in entries}
    # counted as `imggen models` counts them: LiteLLM's model groups, OpenRouter's Image API
    makes = [listing.makes_images(s, e, mods[str(e["id"])]) for e in entries]
    images = sum(1 for m in makes if m)
    extra = len(listing.image_api_only(s, set(mods)))
    text = f"GET {path}: {len(entries)} models"
    if not any(m is not None for m in makes) and not extra:
        text += " without output modalities; `imggen models` shows the built-in catalog"
    else:
        text += f", {images} with image output"
        if extra:
            text += f", and {extra} more in the image models list: {images + extra} image models"
    if entries and s.model not in mods:
        report.set("models_api", WARN, f"{text}; the profile's model {s.model} is not listed")
    else:
        report.set("models_api", OK, text)
    return True


def _no_api(s: settings.Settings) -> str:
    why = s.preset.no_models_api_why if s.preset and not s.preset.models_api else ""
    return f"{why or 'no models API'}; `imggen models` shows the built-in catalog"


def _generate(
    report: Report,
    s: settings.Settings,
    env: Env,
    ui: UI,
    consent: Callable[[str], bool],
    timeout: float | None,
) -> None:
    gw = s.gateway()
    aspect, tier = pick_request(gw.size_rule)
    job = Job(prompt=PROMPT, aspect=aspect, size=tier)
    asked = " ".join(x for x in (aspect, tier) if x) or "default size"
    report.facts["request"] = {"model": gw.model, "aspect": aspect, "size": tier}
    question = f"Generate one {asked} image with {gw.model} to test the rest? It is billed."
    if not consent(question):
        why = "skipped: it costs one image; run `imggen doctor --generate` to spend it"
        for name in GENERATION_CHECKS:
            report.set(name, SKIP, why if name == "generation" else "skipped: needs the generation")
        return
    with tempfile.TemporaryDirectory(prefix="imggen-doctor-") as tmp:
        opts = core.RunOptions(
            output=str(Path(tmp) / "doctor.png"),
            force=True,
            timeout=timeout,
            retries=1,
            cwd=Path(tmp),
            log=False,  # a probe image in a temporary folder is no part of the history
        )
        started = time.monotonic()
        try:
            plan = core.prepare(s, job, opts)
            report.facts["request"]["stream"] = plan.stream
            stream_error: ImggenError | None = None
            try:
                outcome = core.run(s, job, env, ui, opts, plan=plan).check()
            except (GatewayFailed, GatewayRefused) as exc:
                if not plan.stream or isinstance(exc, ContentFiltered) or exc.delivered:
                    raise  # a stream that had delivered was likely billed: no second image
                stream_error = exc  # try once unstreamed: is it the stream or the gateway?
                job = dataclasses.replace(job, stream=False)
                plan = core.prepare(s, job, opts)
                outcome = core.run(s, job, env, ui, opts, plan=plan).check()
        except AuthFailed as exc:
            report.fail("key" if report.checks["key"].status == SKIP else "generation", exc)
            return
        except ImggenError as exc:
            report.fail("generation", exc)
            return
        seconds = time.monotonic() - started
    _results(report, s, plan, outcome, seconds, stream_error)


def _results(
    report: Report,
    s: settings.Settings,
    plan: core.Plan,
    outcome: Outcome,
    seconds: float,
    stream_error: ImggenError | None,
) -> None:
    if report.checks["key"].status == SKIP:
        report.set("key", OK, f"accepted by the generation; it came from the {s.key_source}")
    saved = outcome.saved[0]
    px = f"{saved.pixels[0]}x{saved.pixels[1]} " if saved.pixels else ""
    retried = f", {outcome.retries} retried" if outcome.retries else ""
    cost = f", cost {outcome.cost:g} {outcome.currency or ''}".rstrip() if outcome.cost else ""
    report.set(
        "generation",
        OK,
        f"{px}{saved.mime}, {saved.bytes:,} bytes in {seconds:.1f} s{retried}{cost}",
    )
    report.facts["cost"] = outcome.cost
    report.facts["currency"] = outcome.currency
    report.facts["response_shapes"] = list(outcome.shapes)
    report.facts["received"] = {
        "width": saved.pixels[0] if saved.pixels else None,
        "height": saved.pixels[1] if saved.pixels else None,
        "mime": saved.mime,
        "bytes": saved.bytes,
    }
    report.facts["warnings"] = [w for w in outcome.warnings if w not in outcome.mismatches]
    shapes = "; ".join(f"{sh}: {_shape_note(sh)}" for sh in outcome.shapes) or "none recorded"
    report.set("response_shape", OK, shapes)
    streamed = any(
        sh.startswith(("delta.", "image_generation.", "image_edit.")) for sh in outcome.shapes
    )
    report.facts["stream"] = streamed
    if stream_error is not None:
        report.set(
            "streaming",
            FAIL,
            f"the streamed request failed ({stream_error.message}); "
            "the same request unstreamed worked",
            int(stream_error.exit_code),
            f"use --no-stream, or `imggen config set profiles.{s.profile}.stream false`",
        )
    elif not plan.stream and plan.gateway.can_stream:
        report.set("streaming", SKIP, "not asked: this model streams with --stream or --partials")
    elif not plan.stream:
        why = f" ({plan.gateway.no_stream_why})" if plan.gateway.no_stream_why else ""
        report.set("streaming", SKIP, f"not offered on the {plan.gateway.dialect} dialect{why}")
    elif streamed:
        report.set("streaming", OK, "the image arrived over SSE")
    else:
        report.set("streaming", WARN, "asked for a stream; the gateway answered with one JSON body")
    report.set("size", *_size_verdict(plan.requested, plan.gateway.size_rule, saved.pixels))


def _shape_note(shape: str) -> str:
    if " (" in shape:  # dialects/base.py scan_text: "message.content (markdown image in text)"
        return "image links inside the reply text"
    return SHAPES.get(shape, "a shape imggen does not know by name")


def _size_verdict(res: sizes.Resolved, rule: str, got: tuple[int, int] | None) -> tuple[str, str]:
    asked = " ".join(x for x in (res.aspect, res.tier) if x)
    if got is None:
        return WARN, f"asked {asked}; the image's pixel size could not be read"
    w, h = got
    if res.pixels:
        text = f"asked {asked} = {res.pixels[0]}x{res.pixels[1]}; got {w}x{h}"
    elif res.aspect:
        text = f"asked {asked} (no exact pixels are published for it); got {w}x{h}"
    else:
        return SKIP, f"nothing asked; got {w}x{h}"
    honoured = sizes.mismatch(res, rule, got) is None
    return (OK, f"{text}: honoured") if honoured else (WARN, f"{text}: not honoured")
