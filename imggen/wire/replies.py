"""Reply bodies to values: a JSON body or an SSE stream, fed as byte chunks. Big base64 strings
are spilled to disk as they arrive (jsonstream), and streams are read in linear time (sse).
What the values mean is the dialect's business, reached through the ReplyParser protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from imggen.errors import GatewayFailed
from imggen.files.imagefile import looks_like_html
from imggen.job import Reply
from imggen.limits import Limits, MiB
from imggen.wire.jsonstream import JsonStreamParser, Truncated, loads
from imggen.wire.spill import SpillFactory
from imggen.wire.status import event_error


class ReplyParser(Protocol):
    """What reading a reply needs of a dialect; imggen.dialects satisfy it structurally."""

    def parse(self, body: Any) -> Reply:
        """The images, text and usage of a whole (non-streamed) reply."""
        ...

    def parse_event(self, body: Any) -> Reply:
        """What one stream event adds; links in text are looked for once, at the end."""
        ...

    def parse_text(self, text: str) -> Reply:
        """The images a stream's joined text holds (links split across events)."""
        ...

    def final(self, body: Any) -> bool:
        """Whether this event ends the stream (Gemini's streams send no [DONE])."""
        ...


class StreamNotStarted(GatewayFailed):
    """The stream ended before any event: nothing was generated, so asking again is safe."""


def capped(chunks: Iterable[bytes], cap: int) -> Iterator[bytes]:
    """The body's chunks (as decompressed) until they pass `cap` bytes: then GatewayFailed."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise GatewayFailed(
                f"the gateway's reply is over {cap // MiB or 1} MiB (as decompressed); "
                "nothing was saved",
                hint="the gateway is misbehaving; try again later",
            )
        yield chunk


def read_json(
    chunks: Iterable[bytes], status: int, spill: SpillFactory, *, limits: Limits = Limits()
) -> Any:
    """The JSON value of a whole body, its big strings spilled to disk as Blobs.

    Raises GatewayFailed for an HTML page, malformed JSON or a body over the caps.
    """
    parser = JsonStreamParser(spill, limits=limits)
    first = b""
    try:
        for chunk in capped(chunks, limits.reply_cap):
            if len(first) < 512:
                first += chunk[: 512 - len(first)]
                if looks_like_html(first):
                    raise GatewayFailed(
                        f"the gateway answered HTTP {status} with an HTML page instead of JSON",
                        hint="check base_url: it may point at a website, not the API",
                    )
            parser.feed(chunk)
        try:
            return parser.close()
        except Truncated as exc:
            # HTTP framing said the body was whole (a short one fails in httpx), so the
            # JSON itself is broken: not a network fault, and not retried
            raise GatewayFailed(
                f"the gateway sent malformed JSON (HTTP {status}): "
                f"{exc.message.split(': ', 1)[-1]}",
                hint="the gateway is misbehaving; try again later",
            ) from exc
    except BaseException:
        parser.abort()
        for blob in parser.blobs:
            blob.discard()
        raise


def read_sse(
    chunks: Iterable[bytes],
    dialect: ReplyParser,
    spill: SpillFactory,
    delivered: list[bool],
    *,
    event_gap: float,
    redact: Callable[[str], str],
    limits: Limits = Limits(),
) -> Reply:
    """The images, text and usage of an SSE stream, event by event (seeds 001-003; the images
    APIs' `image_generation.*` / `image_edit.*` events, with or without `event:` lines and
    `[DONE]`). Each event's JSON goes to the dialect as it is.

    Sets delivered[0] once a data event arrives (from then on it is not retried). Raises
    StreamNotStarted (safe to retry) or GatewayFailed / GatewayRefused.
    """
    reader = _EventReader(dialect, spill, delivered, redact=redact, limits=limits)
    try:
        reader.read(chunks, event_gap)
    except BaseException:
        reader.abort()
        raise
    return reader.result()


class _EventReader:
    """One stream's events, each parsed as it arrives (its big strings spilled to disk) and
    handed to the dialect."""

    def __init__(
        self,
        dialect: ReplyParser,
        spill: SpillFactory,
        delivered: list[bool],
        *,
        redact: Callable[[str], str],
        limits: Limits,
    ) -> None:
        self.dialect, self.spill, self.delivered = dialect, spill, delivered
        self.redact, self.limits = redact, limits
        self.reply = Reply()
        self.parser: JsonStreamParser | None = None
        self.pending = b""  # the first bytes of an event: is it "[DONE]"?
        self.done = False
        self.blobs: list[Any] = []

    def read(self, chunks: Iterable[bytes], event_gap: float) -> None:
        from imggen.wire.sse import Comment, Data, Dispatch, SseParser  # streams only (issue 26)

        sse = SseParser()
        last_data = time.monotonic()
        for chunk in capped(chunks, self.limits.reply_cap):
            if time.monotonic() - last_data > event_gap:
                raise GatewayFailed(
                    f"the gateway's stream sent no event for {event_gap:.0f} s, only keep-alives",
                    hint="try again later, or use --no-stream",
                )
            for item in sse.feed(chunk):
                if isinstance(item, Data):
                    last_data = time.monotonic()
                    self.data(item.chunk)
                elif isinstance(item, Dispatch):
                    self.finish(item.event)
                elif isinstance(item, Comment):
                    pass  # keep-alive (": OPENROUTER PROCESSING")
        sse.close()
        if sse.truncated:
            # the last event lacks its blank line: keep it if it is whole (a final
            # "data: [DONE]" often comes that way), else the stream was cut off
            try:
                self.finish()
            except Truncated as exc:
                raise GatewayFailed(
                    "the gateway's stream was cut off in the middle of an event",
                    hint="try again, or use --no-stream",
                ) from exc

    def data(self, chunk: bytes) -> None:
        if self.parser is not None:
            self.parser.feed(chunk)
        elif not self.done:
            self.pending += chunk
            if len(self.pending) >= 8:
                self.start()

    def start(self) -> None:
        if self.pending.lstrip().startswith(b"[DONE]"):
            self.done = True
        else:
            # the generation is under way (and likely billed): from here on a broken
            # stream is reported, not retried (SPEC "Reliability")
            self.delivered[0] = True
            self.parser = JsonStreamParser(self.spill, limits=self.limits)
            self.parser.feed(self.pending)
        self.pending = b""

    def finish(self, event: str | None = None) -> None:
        if self.parser is None and self.pending:
            self.start()
        if self.parser is not None:
            value = self.parser.close()
            self.blobs.extend(self.parser.blobs)
            self.parser = None
            if isinstance(value, dict):
                # OpenAI's image streams name each event twice, in an `event:` line and the
                # JSON's `type`; OpenRouter's send the JSON alone: the JSON is read, and an
                # event line fills in a missing type
                if event and "type" not in value:
                    value["type"] = event
                if value.get("error") or value.get("type") == "error":
                    raise event_error(value, self.redact)
            self.reply.extend(self.dialect.parse_event(value))
            if self.dialect.final(value):
                self.done = True
            if len(self.reply.text) > self.limits.json_text_cap:  # words in many small deltas
                cap = self.limits.json_text_cap // MiB or 1
                raise GatewayFailed(f"the gateway's stream sent over {cap} MiB of text")
        self.pending = b""

    def abort(self) -> None:
        if self.parser is not None:
            self.parser.abort()
        for blob in self.blobs + (self.parser.blobs if self.parser else []):
            blob.discard()

    def result(self) -> Reply:
        reply = self.reply
        if not reply.images and reply.text:
            # Image links split across events (seeds 000/004 put them in the text) show only
            # in the joined text: the dialect reads it once, whole.
            text, reply.text = reply.text, ""
            reply.extend(self.dialect.parse_text(text))
        if not reply.images and not self.done and not self.delivered[0]:
            # nothing was generated yet, so asking again costs nothing
            raise StreamNotStarted("the gateway's stream ended before any event arrived")
        if not reply.images and not self.done:
            raise GatewayFailed(
                "the gateway's stream ended before the image arrived (no [DONE])",
                hint="try again, or use --no-stream",
            )
        return reply


def parse_small(raw: bytes, status: int) -> Any:
    """A small JSON body. Raises GatewayFailed carrying the HTTP status: it did answer."""
    if looks_like_html(raw[:512]):
        raise GatewayFailed(
            f"the gateway answered HTTP {status} with an HTML page instead of JSON",
            hint="check base_url: it may point at a website, not the API",
            status=status,
        )
    try:
        return loads(raw)  # nesting deeper than Limits.json_depth is a ValueError too
    except ValueError:
        raise GatewayFailed(
            f"the gateway sent malformed JSON (HTTP {status})", status=status
        ) from None
