"""What every dialect shares: the Dialect protocol, body helpers, finding images in replies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from imggen.errors import GatewayFailed, InputError, UsageError
from imggen.job import Gateway, HttpCall, Job, Payload, Reply
from imggen.sizes import Resolved

# The options a user may set that a request must carry or refuse (the prompt and the count
# always travel; streaming is decided by streaming.decide from can_stream). Each dialect names
# those it has a field for in `takes`: anything else the user set is refused before sending,
# never dropped (what --param passes raw is the user's own).
CARRIED = (
    "aspect",
    "size",
    "format",
    "quality",
    "background",
    "seed",
    "refs",
    "inputs",
    "mask",
    "partials",
)


class Dialect(Protocol):
    """One API style. `build` is called only after dialects.check_carried has refused every
    option the user set that is not in `takes`: it need not refuse those again."""

    @property
    def name(self) -> str: ...

    @property
    def takes(self) -> frozenset[str]: ...

    @property
    def can_stream(self) -> bool: ...

    @property
    def no_stream_why(self) -> str: ...

    @property
    def formats(self) -> tuple[str, ...]: ...

    def build(self, job: Job, gw: Gateway, res: Resolved, *, stream: bool) -> list[HttpCall]: ...

    def parse(self, body: Any) -> Reply: ...

    def parse_event(self, body: Any) -> Reply: ...

    def parse_text(self, text: str) -> Reply: ...

    def final(self, body: Any) -> bool: ...


class Reading:
    """What reading a reply asks of a dialect beyond parse and parse_event, where most
    dialects agree: the joined text of a stream is scanned for image links (seeds 000/004 put
    them there), and a stream ends with [DONE] or the connection, not with an event."""

    def parse_text(self, text: str) -> Reply:
        return text_reply(text)

    def final(self, body: Any) -> bool:
        return False


def asked(job: Job) -> list[str]:
    """The CARRIED options this job sets."""
    return [name for name in CARRIED if getattr(job, name) not in (None, (), "")]


def deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge --param values into a body: tables merge, anything else replaces."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value
    return target


def refuse(job: Job, option: str, gw: Gateway, accepts: str = "") -> UsageError:
    """A refusal naming the value as the user gave it (flag, profile or manifest line) and what
    the model accepts instead."""
    return refused(job.said(option), gw, accepts)


def refused(
    said: str,
    gw: Gateway,
    accepts: str = "",
    *,
    hint: str = "drop the option, or pass a raw body field with --param KEY=VALUE",
) -> UsageError:
    """A value (as `said`) the model cannot take, and what it accepts instead."""
    detail = f"; it accepts {accepts}" if accepts else ""
    return UsageError(
        f"{said} is not something {gw.model} ({gw.dialect} dialect) can take{detail}", hint=hint
    )


def check_format(job: Job, gw: Gateway) -> str | None:
    if job.format and job.format not in gw.formats:
        raise refuse(job, "format", gw, ", ".join(gw.formats))
    return job.format


def image_parts(images: Iterable[Any]) -> list[dict[str, Any]]:
    """Input images as chat content parts: data URLs for files, URLs as given."""
    return [{"type": "image_url", "image_url": {"url": img.data_url()}} for img in images]


def user_content(job: Job, images: Sequence[Any]) -> str | list[dict[str, Any]]:
    if not images:
        return job.prompt
    return [{"type": "text", "text": job.prompt}, *image_parts(images)]


def fan_out(count: int, call: HttpCall) -> list[HttpCall]:
    """One call per image, for gateways that give one image a call (sent in parallel)."""
    return [call] * max(count, 1)


# Finding images in replies -------------------------------------------------------------

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
# No whitespace in the base64 run: "data:...;base64,AAAA enjoy" must not swallow the word.
_DATA_URL = re.compile(r"data:(image/[\w.+-]+);base64,([A-Za-z0-9+/]+={0,2})")
# A markdown image link around a data URL that jsonstream spilled (Blob.prefix / .suffix).
_MD_OPEN = re.compile(r"!\[[^\]]*\]\(\s*<?$")
_MD_CLOSE = re.compile(r"^>?\s*\)")
# ASCII only: seed 000 replies are Chinese, and "…/a.png。" must not take the "。" along.
_BARE_URL = re.compile(r"https?://[\w\-.~:/?#\[@!$&*+,;=%]+", re.ASCII)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def payload(value: Any, shape: str, reply: Reply) -> None:
    """Add one image value (URL, data URL, raw base64, or spilled Blob) to the reply."""
    if value is None or value == "":
        return
    if isinstance(value, Mapping):  # {"url": ...} nested one more level
        value = value.get("url") or value.get("b64_json")
        if value is None:
            return
    if not isinstance(value, str) and not hasattr(value, "discard"):
        # a number, a list, a table, true: the gateway's fault, never "a bug in imggen"
        what = "a list" if isinstance(value, list) else f"a {type(value).__name__}"
        what = "a table" if isinstance(value, Mapping) else what
        raise GatewayFailed(
            f"the gateway sent a malformed reply: its image ({shape}) is {what}, not text",
            hint="the gateway broke its own format; try again, or another model",
        )
    if not isinstance(value, str):  # a jsonstream.Blob
        if getattr(value, "kind", "") == "text":
            text = value.path.read_text("utf-8", "replace")
            value.discard()
            scan_text(text, shape, reply)
            return
        reply.images.append(Payload("blob", value, getattr(value, "mime", None)))
        prefix, suffix = getattr(value, "prefix", ""), getattr(value, "suffix", "")
        if _MD_OPEN.search(prefix) and _MD_CLOSE.match(suffix):  # the link was the image
            prefix, suffix = _MD_OPEN.sub("", prefix), _MD_CLOSE.sub("", suffix, count=1)
        reply.text += prefix + suffix
    elif value.startswith("data:"):
        head, _, data = value.partition(",")
        mime = head[5:].split(";", 1)[0] or None
        reply.images.append(Payload("base64", data, mime))
    elif _SCHEME.match(value):  # any scheme, so the client refuses ftp:, file: by name
        reply.images.append(Payload("url", value))
    else:
        reply.images.append(Payload("base64", value))
    if shape not in reply.shapes:
        reply.shapes.append(shape)


def scan_text(text: str, shape: str, reply: Reply) -> None:
    """Images inside a text reply: markdown image links, data URLs, then bare URLs (seed 000
    says to look in message.content when images is empty; seed 004 puts links there)."""
    found = [m.group(1) for m in _MD_IMAGE.finditer(text)]
    kind = "markdown image"
    if not found:
        found = [m.group(0) for m in _DATA_URL.finditer(text)]
        kind = "data URL"
    if not found:
        found = [u.rstrip(".,;:!?") for u in _BARE_URL.findall(text)]
        kind = "URL"
    for value in found:
        payload(value, f"{shape} ({kind} in text)", reply)
    # the links were images, not words: keep only the words around them
    cleaned = _MD_IMAGE.sub("", text) if found and kind == "markdown image" else text
    if "data:" in cleaned:
        cleaned = _DATA_URL.sub("", cleaned)
    reply.text += cleaned


def text_reply(text: str) -> Reply:
    """The images in a stream's joined text, and its words (seeds 000/004 put links there)."""
    reply = Reply()
    scan_text(text, "delta.content", reply)
    return reply


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def extract(body: Any, *, scan: bool = True) -> Reply:
    """Every image a chat or images-API reply holds, wherever the seeds put it.

    ``scan`` looks for links inside text content; streams scan the joined text at the end.
    """
    reply = Reply()
    if not isinstance(body, Mapping):
        return reply
    for item in _items(body.get("data")):  # images API (seed 002)
        if isinstance(item, Mapping):
            if item.get("b64_json"):
                payload(item["b64_json"], "data[].b64_json", reply)
            elif item.get("url"):
                payload(item["url"], "data[].url", reply)
            if item.get("revised_prompt"):
                reply.text += str(item["revised_prompt"])
    for choice in _items(body.get("choices")):
        if not isinstance(choice, Mapping):
            continue
        for img in _items(choice.get("images")):  # seed 002: Gemini 3.x, choice level
            payload(_image_value(img), "choices[].images", reply)
        for where in ("message", "delta"):
            msg = choice.get(where)
            if not isinstance(msg, Mapping):
                continue
            for img in _items(msg.get("images")):  # seeds 000/001/003
                payload(_image_value(img), f"{where}.images", reply)
            if where == "message" and reply.text and not reply.text.endswith("\n"):
                reply.text += "\n"  # seed 004: one choice per image, each with its own words
            _content(msg.get("content"), f"{where}.content", reply, scan=scan)
    if isinstance(body.get("usage"), Mapping):
        reply.usage = dict(body["usage"])
    return reply


def _image_value(img: Any) -> Any:
    if isinstance(img, Mapping):
        inner = img.get("image_url", img.get("url", img.get("b64_json")))
        if isinstance(inner, Mapping):
            return inner.get("url")
        return inner
    return img


def _content(content: Any, shape: str, reply: Reply, *, scan: bool) -> None:
    if isinstance(content, str):
        if scan:
            scan_text(content, shape, reply)
        else:
            reply.text += content
    elif isinstance(content, list):  # seed 002: Gemini 2.5 content parts
        for part in content:
            if not isinstance(part, Mapping):
                continue
            if part.get("type") == "text" or "text" in part:
                _content(part.get("text"), shape, reply, scan=scan)
            elif "image_url" in part:
                payload(_image_value(part), f"{shape}[] image_url", reply)
            elif isinstance(part.get("inline_data"), Mapping):  # Gemini's native part
                payload(part["inline_data"].get("data"), f"{shape}[] inline_data", reply)
    elif content is not None and not isinstance(content, (int, float, bool)):
        payload(content, shape, reply)  # a spilled Blob: a huge text or data URL


def needs_url(source: str, gw: Gateway) -> InputError:
    # seed 000: image_config.reference_images[].type is always "url"
    return InputError(
        f"{source}: {gw.model} takes reference images as http(s) URLs only; this gateway has "
        "no way to upload a file",
        hint="upload the image somewhere reachable and pass its https:// URL",
    )


def image_event(body: Any) -> Reply | None:
    """A streamed image event (OpenAI's images API, OpenRouter's Image API): a partial render,
    which is never a result, or the completed image with its usage. None for other events.

    The event's name is read from the JSON `type` (the SSE reader fills it in from an
    `event:` line when the JSON lacks it)."""
    kind = body.get("type") if isinstance(body, Mapping) else None
    if not isinstance(kind, str) or not kind.startswith(("image_generation.", "image_edit.")):
        return None
    reply = Reply()
    if kind.endswith(".partial_image"):
        payload(body.get("b64_json") or body.get("url"), kind, reply)
        return Reply(partials=reply.images)
    if kind.endswith(".completed"):
        payload(body.get("b64_json") or body.get("url"), kind, reply)
        if isinstance(body.get("usage"), Mapping):
            reply.usage = dict(body["usage"])
    return reply


# What a Job may carry, by the names of its fields (a dialect's `takes`).
