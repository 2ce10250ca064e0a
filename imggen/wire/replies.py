"""Reply bodies to values: a JSON body or an SSE stream, fed as byte chunks. Big base64 strings
are spilled to disk as they arrive (jsonstream), and streams are read in linear time (sse).
What the values mean is the dialect's business, reached through the ReplyParser protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from imggen.errors import GatewayFailed
from imggen.job import Reply
from imggen.limits import Limits, MiB
from imggen.wire.jsonstream import JsonStreamParser, Truncated
from imggen.wire.spill import SpillFactory
from imggen.wire.sse import Comment, Data, Dispatch, SseParser
from imggen.wire.status import event_error, looks_like_html


class ReplyParser(Protocol):
    """What reading a reply needs of a dialect; imggen.dialects satisfy it structurally."""

    def parse(self, body: Any) -> Reply:
        """The images, text and usage of a whole (non-streamed) reply."""
        ...

    def parse_event(self, body: Any) -> Reply:
        """What one stream event adds; links in text are looked for once, at the end."""
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
    `[DONE]`).

    Sets delivered[0] once a data event arrives (from then on it is not retried). Raises
    StreamNotStarted (safe to retry) or GatewayFailed / GatewayRefused.
    """
    sse = SseParser()
    reply = Reply()
    parser: JsonStreamParser | None = None
    pending = b""
    done = False
    blobs: list[Any] = []

    def start() -> None:
        nonlocal parser, pending, done
        if pending.lstrip().startswith(b"[DONE]"):
            done = True
        else:
            # the generation is under way (and likely billed): from here on a broken
            # stream is reported, not retried (SPEC "Reliability")
            delivered[0] = True
            parser = JsonStreamParser(spill, limits=limits)
            parser.feed(pending)
        pending = b""

    def finish(event: str | None = None) -> None:
        nonlocal parser, pending, done
        if parser is None and pending:
            start()
        if parser is not None:
            value = parser.close()
            blobs.extend(parser.blobs)
            parser = None
            if isinstance(value, dict):
                # OpenAI's image streams name each event twice, in an `event:` line and the
                # JSON's `type`; OpenRouter's send the JSON alone: the JSON is read, and an
                # event line fills in a missing type
                if event and "type" not in value:
                    value["type"] = event
                if value.get("error") or value.get("type") == "error":
                    raise event_error(value, redact)
            reply.extend(dialect.parse_event(value))
            # a stream without [DONE] (Gemini's) says in an event that it is over
            ends = getattr(dialect, "final", None)
            if ends is not None and ends(value):
                done = True
            if len(reply.text) > limits.json_text_cap:  # words in many small deltas
                cap = limits.json_text_cap // MiB or 1
                raise GatewayFailed(f"the gateway's stream sent over {cap} MiB of text")
        pending = b""

    last_data = time.monotonic()
    try:
        for chunk in capped(chunks, limits.reply_cap):
            if time.monotonic() - last_data > event_gap:
                raise GatewayFailed(
                    f"the gateway's stream sent no event for {event_gap:.0f} s, only keep-alives",
                    hint="try again later, or use --no-stream",
                )
            for item in sse.feed(chunk):
                if isinstance(item, Data):
                    last_data = time.monotonic()
                    if parser is not None:
                        parser.feed(item.chunk)
                    elif not done:
                        pending += item.chunk
                        if len(pending) >= 8:
                            start()
                elif isinstance(item, Dispatch):
                    finish(item.event)
                elif isinstance(item, Comment):
                    pass  # keep-alive (": OPENROUTER PROCESSING")
        sse.close()
        if sse.truncated:
            # the last event lacks its blank line: keep it if it is whole (a final
            # "data: [DONE]" often comes that way), else the stream was cut off
            try:
                finish()
            except Truncated as exc:
                raise GatewayFailed(
                    "the gateway's stream was cut off in the middle of an event",
                    hint="try again, or use --no-stream",
                ) from exc
    except BaseException:
        if parser is not None:
            parser.abort()
        for blob in blobs + (parser.blobs if parser else []):
            blob.discard()
        raise
    if not reply.images and reply.text and getattr(dialect, "final", None) is None:
        # Image links split across deltas (seeds 000/004 put them in the text) show only in the
        # joined text: read it as the one message a whole chat reply would have held.
        text, reply.text = reply.text, ""
        reply.extend(dialect.parse({"choices": [{"delta": {"content": text}}]}))
    if not reply.images and not done and not delivered[0]:
        # nothing was generated yet, so asking again costs nothing
        raise StreamNotStarted("the gateway's stream ended before any event arrived")
    if not reply.images and not done:
        raise GatewayFailed(
            "the gateway's stream ended before the image arrived (no [DONE])",
            hint="try again, or use --no-stream",
        )
    return reply
