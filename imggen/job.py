"""Frozen data that crosses layers: what to make (Job), where (Gateway), the request a dialect
wants sent (HttpCall), what came back (Reply)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from imggen.dialects.caps import Caps
    from imggen.wire.auth import Auth


@dataclass(frozen=True)
class ImageInput:
    """An input, mask or reference image: a local file's bytes, or a URL passed as given."""

    source: str  # what the user typed: a path, "-" or a URL
    url: str | None = None  # set for http(s) references
    data: bytes = field(default=b"", repr=False)  # the file's bytes (empty for URLs)
    mime: str | None = None
    sha256: str | None = None
    pixels: tuple[int, int] | None = None
    prompt: str | None = None  # the prompt that made it, when imggen made it (provenance)

    @property
    def name(self) -> str:
        if self.url:
            # the path's last part: a signed link's query string is no name
            return urlsplit(self.url).path.rsplit("/", 1)[-1] or "image"
        if self.source == "-":
            return "stdin" + {"image/jpeg": ".jpg", "image/webp": ".webp"}.get(
                self.mime or "", ".png"
            )
        return self.source.replace("\\", "/").rsplit("/", 1)[-1]

    def data_url(self) -> str:
        """The image as a data: URL (or its URL when it is a remote reference)."""
        return self.url or self._inline

    @functools.cached_property
    def _inline(self) -> str:
        # built once and shared by every request that sends this image (batch, -n)
        import base64

        return f"data:{self.mime or 'image/png'};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True)
class Job:
    """One user request: a prompt and options, independent of any gateway.

    The option fields are those of options.OPTIONS that land in a job; `origins` says where
    each value came from ("--size", "profile knox (size)", "assets.toml:12 (size)") so a
    refusal can name it.
    """

    prompt: str
    count: int = 1
    aspect: str | None = None
    size: str | None = None
    format: str | None = None
    quality: str | None = None
    background: str | None = None
    seed: int | None = None
    refs: tuple[ImageInput, ...] = ()
    inputs: tuple[ImageInput, ...] = ()  # non-empty for `edit`
    mask: ImageInput | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # --param, nested already
    stream: bool | None = None  # None: stream where the gateway allows it
    partials: int | None = None  # partial renders to stream first (0-3), where the model can
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_edit(self) -> bool:
        return bool(self.inputs)

    def said(self, name: str) -> str:
        """An option as the user gave it, for messages: "--quality hd",
        "profile knox (quality) hd"."""
        value = getattr(self, name)
        label = self.origins.get(name) or _FLAGS.get(name, f"--{name}")
        if isinstance(value, ImageInput):
            value = value.source
        elif isinstance(value, tuple):  # images: as the user named them
            value = " ".join(getattr(v, "source", str(v)) for v in value)
        return f"{label} {value}" if value is not None else label


_FLAGS = {"refs": "--ref", "count": "-n", "inputs": "images"}


@dataclass(frozen=True)
class Gateway:
    """Where a Job goes and how that gateway behaves: resolved from settings and presets."""

    profile: str
    base_url: str
    model: str
    dialect: str  # a key of dialects.DIALECTS
    size_rule: str = "any"  # a key of sizes.RULES
    preset: str | None = None
    can_stream: bool = True
    no_stream_why: str = ""  # the gateway's reason, said when --stream is refused
    can_edit: bool = True
    no_edit_why: str = ""  # likewise for `edit`
    image_only: bool = False  # modalities ["image"] instead of ["image", "text"]
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    caps: Caps | None = None  # field by field, what the model takes (images-style APIs)
    stream_default: bool = True  # stream when neither --stream nor --no-stream is given
    tier_names: tuple[tuple[str, str], ...] = ()  # ("512", "0.5K"): the gateway's tier names
    currency: str | None = None  # of the usage.cost the gateway reports
    stream_usage: bool = True  # a chat stream asks for usage (stream_options.include_usage)
    api_version: str = ""  # Azure OpenAI's api-version query value (the classic route)


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart body."""

    field: str
    filename: str
    content_type: str
    data: bytes = dataclasses.field(repr=False)


@dataclass(frozen=True)
class HttpCall:
    """One request a dialect wants sent; the wire client joins ``path`` to the gateway's
    base URL."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    form: tuple[tuple[str, str], ...] = ()  # multipart text fields, in order
    files: tuple[FilePart, ...] = ()
    stream: bool = False
    images: int = 1  # how many images this call should bring back
    # The third kind of call, besides one round trip and a stream: a job (submit, poll,
    # collect). A job dialect's submit calls say so; run/jobs.py sends them once and waits.
    job: bool = False

    @property
    def accept(self) -> str:
        """What the call reads back: an event stream only where it asked for one (an OpenAPI
        mock answers as asked)."""
        return "text/event-stream" if self.stream else "application/json"

    def describe(self, base_url: str, auth: Auth) -> dict[str, Any]:
        """The request as --dry-run shows it: key redacted, multipart files as name and size."""
        url = auth.shown_url(base_url.rstrip("/") + self.path)
        headers = auth.shown_headers()
        headers["Accept"] = self.accept
        out: dict[str, Any] = {"method": self.method, "url": url, "headers": headers}
        files = [
            {"field": f.field, "filename": f.filename, "content_type": f.content_type}
            | {"bytes": len(f.data)}
            for f in self.files
        ]
        if self.job and self.json is not None and files:  # inputs a job uploads first
            out["uploads"] = files
        if (self.files or self.form) and "uploads" not in out:
            headers["Content-Type"] = "multipart/form-data"
            out["form"] = dict(self.form)
            out["files"] = files
        else:
            headers["Content-Type"] = "application/json"
            out["json"] = _shorten_data_urls(self.json)
        return out


@dataclass(frozen=True)
class Ticket:
    """A job a provider accepted: what to record before waiting, and where to ask about it.
    URLs are absolute (a provider's own status, result and cancel URLs)."""

    id: str
    poll: str
    result: str = ""  # where the finished job's output is read, when not in the poll reply
    cancel: str = ""
    position: int | None = None  # the queue position the submit reply gave


@dataclass(frozen=True)
class Cadence:
    """How often one job provider lets a job be polled (wire/polls.py keeps to it). Seconds
    throughout; ``rate``: polls a second over all its jobs (None: no limit); ``jitter``: each
    gap is longer by up to this fraction (at random), so jobs in step drift apart."""

    first: float = 1.0
    least: float = 1.0
    most: float = 30.0
    factor: float = 1.5
    rate: float | None = None
    jitter: float = 0.0

    def bounded(self, first: float | None, most: float | None) -> Cadence:
        """This cadence with its first gap and its longest no longer than given (a user's or a
        test's Limits.poll_first / poll_cap); ``least`` only comes down with ``first``."""
        c = self
        if first is not None:
            c = dataclasses.replace(c, first=min(c.first, first), least=min(c.least, first))
        if most is not None:
            c = dataclasses.replace(c, most=max(c.least, min(c.most, most)))
        return c


@dataclass(frozen=True)
class JobState:
    """What one poll said: queued (with a position), running, done (its reply, or a result
    still to fetch), failed or cancelled (with the provider's words)."""

    state: str  # "queued" | "running" | "done" | "failed" | "cancelled"
    position: int | None = None
    reply: Reply | None = None  # set when the poll reply held the output
    error: str = ""
    refused: bool = False  # failed because the provider refused the content (exit 4)

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Payload:
    """One image as the gateway gave it: an http(s) URL, base64 text, or a spilled Blob."""

    kind: str  # "url" | "base64" | "blob"
    value: Any  # str for url/base64, wire.jsonstream.Blob for blob
    mime: str | None = None


@dataclass
class Reply:
    """What one call returned: images, any text, usage, and where the images were found."""

    images: list[Payload] = field(default_factory=list)
    text: str = ""
    usage: dict[str, Any] | None = None
    shapes: list[str] = field(default_factory=list)  # e.g. "message.images", "data[].b64_json"
    partials: list[Payload] = field(default_factory=list)  # streamed previews, never results

    def extend(self, other: Reply) -> None:
        self.images.extend(other.images)
        self.partials.extend(other.partials)
        self.text += other.text
        if other.usage:
            self.usage = other.usage
        for shape in other.shapes:
            if shape not in self.shapes:
                self.shapes.append(shape)


@dataclass(frozen=True)
class SavedImage:
    path: str  # "-" for stdout
    mime: str
    bytes: int
    pixels: tuple[int, int] | None
    sha256: str
    credentials: bool = False  # it came with Content Credentials: saved byte for byte
    sidecar: bool = False  # its record is in NAME.EXT.json beside it
    signed: bool = False  # imggen signed its own Content Credentials into it ([c2pa])
    job: str = ""  # the provider's job it came from, as PROVIDER:ID (job providers)


def _shorten_data_urls(value: Any) -> Any:
    """Input images inlined as data URLs are shown by size, not as megabytes of base64."""
    if isinstance(value, dict):
        if "mimeType" in value and isinstance(value.get("data"), str) and len(value["data"]) > 200:
            # Gemini's inlineData part: raw base64 beside its type
            return {**value, "data": f"<{len(value['data'])} base64 characters>"}
        return {k: _shorten_data_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten_data_urls(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > 200:
        head = value.split(",", 1)[0]
        return f"{head},<{len(value) - len(head) - 1} base64 characters>"
    return value
