"""Tests for imggen.wire.sse: WHATWG parsing rules, streaming of long data lines, linear time."""

from __future__ import annotations

import time

import pytest

from imggen.wire.sse import Comment, Data, Dispatch, SseParser, SsePart


def collect(parts: list[SsePart]) -> list[tuple[str | None, bytes] | str]:
    """Events as (event, data) and comments as their text, in order."""
    out: list[tuple[str | None, bytes] | str] = []
    data = bytearray()
    for part in parts:
        if isinstance(part, Data):
            data += part.chunk
        elif isinstance(part, Dispatch):
            out.append((part.event, bytes(data)))
            data.clear()
        else:
            assert isinstance(part, Comment)
            out.append(part.text)
    return out


def run(chunks: list[bytes]) -> tuple[list[tuple[str | None, bytes] | str], SseParser]:
    parser = SseParser()
    parts: list[SsePart] = []
    for chunk in chunks:
        parts += parser.feed(chunk)
    parts += parser.close()
    return collect(parts), parser


def splits(stream: bytes) -> list[list[bytes]]:
    """The stream whole, byte by byte, and cut in two at every point."""
    ways = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    ways += [[stream[:i], stream[i:]] for i in range(len(stream) + 1)]
    return ways


WHATWG_CASES = [
    (b"data: YHOO\ndata: +2\ndata: 10\n\n", [(None, b"YHOO\n+2\n10")]),
    (
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        ["test stream", (None, b"first event"), (None, b"second event"), (None, b" third event")],
    ),
    (b"data\n\ndata\ndata\n\ndata:", [(None, b""), (None, b"\n")]),
    (b"data:test\n\ndata: test\n\n", [(None, b"test"), (None, b"test")]),
    (
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\ndata: 113411\n\n",
        [("add", b"73857293"), ("remove", b"2153"), (None, b"113411")],
    ),
    (b"event: ping\n\nretry: 10\nid: 7\n\ndata: x\n\n", [(None, b"x")]),
    (b": OPENROUTER PROCESSING\n\n:\n:no space\n", ["OPENROUTER PROCESSING", "", "no space"]),
    (b"foo: bar\nverylongfieldname: 1\ndata: a\nx\n\n", [(None, b"a")]),
    (b"data: a:b: c\n\n", [(None, b"a:b: c")]),
    (b"event\ndata: e\n\n", [(None, b"e")]),
    (b"event: x\nevent:\ndata: e\n\n", [(None, b"e")]),
    (b"\xef\xbb\xbfdata: bom\n\n", [(None, b"bom")]),
    (b"data: [DONE]\n\n", [(None, b"[DONE]")]),
]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize(("stream", "expected"), WHATWG_CASES)
def test_whatwg_examples_at_every_split(
    stream: bytes, expected: list[tuple[str | None, bytes] | str], ending: bytes
) -> None:
    stream = stream.replace(b"\n", ending)
    for chunks in splits(stream):
        got, _ = run(chunks)
        assert got == expected, chunks


def test_mixed_line_endings() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    for chunks in splits(stream):
        got, _ = run(chunks)
        assert got == [(None, b"a\nb\nc"), (None, b"d")]


def test_cr_at_chunk_end_then_lf() -> None:
    parser = SseParser()
    parts = parser.feed(b"data: a\r")
    parts += parser.feed(b"\ndata: b\r")
    parts += parser.feed(b"\n\r")
    parts += parser.feed(b"\n")
    parts += parser.close()
    assert collect(parts) == [(None, b"a\nb")]
    assert parser.events == 1
    assert not parser.truncated


def test_cr_then_empty_chunk_then_lf() -> None:
    parser = SseParser()
    parts = parser.feed(b"data: a\r") + parser.feed(b"") + parser.feed(b"\n\n")
    assert collect(parts) == [(None, b"a")]


def test_no_data_event_dispatches_nothing() -> None:
    parser = SseParser()
    assert parser.feed(b"event: ping\nid: 3\n\n: hi\n\n") == [Comment("hi")]
    assert parser.events == 0
    assert parser.feed(b"data: x\n\n") == [Data(b"x"), Dispatch(None)]
    assert parser.events == 1


def test_event_name_is_decoded_and_reset() -> None:
    parser = SseParser()
    parts = parser.feed(b"event: image_generation.completed\ndata: {}\n\ndata: 2\n\n")
    assert parts == [
        Data(b"{}"),
        Dispatch("image_generation.completed"),
        Data(b"2"),
        Dispatch(None),
    ]


def test_data_arrives_as_it_is_fed() -> None:
    parser = SseParser()
    assert parser.feed(b"da") == []
    assert parser.feed(b"ta:") == []
    assert parser.feed(b" ") == []
    assert parser.feed(b"abc") == [Data(b"abc")]
    assert parser.feed(b"def") == [Data(b"def")]
    assert parser.feed(b"\ndata: g") == [Data(b"\n"), Data(b"g")]
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n") == [Dispatch(None)]


def test_space_after_colon_split_from_value() -> None:
    parser = SseParser()
    parts = parser.feed(b"data:") + parser.feed(b" ") + parser.feed(b" x\n\n")
    assert collect(parts) == [(None, b" x")]


def test_five_megabyte_line_streams_in_pieces() -> None:
    payload = bytes(range(33, 127)) * (5 * 1024 * 1024 // 94)
    stream = b"event: done\ndata: " + payload + b"\n\n"
    parser = SseParser()
    pieces: list[bytes] = []
    parts: list[SsePart] = []
    for i in range(0, len(stream), 1024):
        got = parser.feed(stream[i : i + 1024])
        pieces += [p.chunk for p in got if isinstance(p, Data)]
        parts += got
    parts += parser.close()
    assert len(pieces) > 5000
    assert max(len(p) for p in pieces) <= 1024
    assert b"".join(pieces) == payload
    assert parts[-1] == Dispatch("done")
    assert parser.events == 1
    assert not parser.truncated


@pytest.mark.parametrize(
    ("stream", "truncated"),
    [
        (b"data: abc", True),
        (b"data: abc\n", True),
        (b"data: abc\r", True),
        (b"data: abc\n\n", False),
        (b"data: abc\n\nevent: x\n", False),
        (b"data: abc\n\n: keep-alive", False),
        (b"", False),
    ],
)
def test_truncated(stream: bytes, truncated: bool) -> None:
    parser = SseParser()
    parser.feed(stream)
    assert not parser.truncated
    parser.close()
    assert parser.truncated is truncated


def test_unfinished_line_is_not_dispatched() -> None:
    got, parser = run([b"data: a\n\ndata: b"])
    assert got == [(None, b"a")]
    assert parser.events == 1
    assert parser.truncated


def test_feed_after_close_fails() -> None:
    parser = SseParser()
    parser.close()
    assert parser.close() == []
    with pytest.raises(ValueError):
        parser.feed(b"data: x\n\n")


def test_long_comment_is_capped_and_long_field_skipped() -> None:
    parser = SseParser()
    parts = parser.feed(b": " + b"k" * 200_000 + b"\n" + b"x" * 100_000 + b": y\ndata: z\n\n")
    comment = parts[0]
    assert isinstance(comment, Comment)
    assert comment.text == "k" * (64 * 1024)
    assert parts[1:] == [Data(b"z"), Dispatch(None)]


def test_invalid_utf8_in_event_name_is_replaced() -> None:
    parser = SseParser()
    assert parser.feed(b"event: \xff\ndata: x\n\n")[-1] == Dispatch("\ufffd")


def test_eight_megabyte_line_is_linear() -> None:
    """Quadratic buffering would take minutes here; a linear parser takes milliseconds."""
    stream = b"data: " + b"A" * (8 * 1024 * 1024) + b"\n\n"
    parser = SseParser()
    total = 0
    started = time.perf_counter()
    for i in range(0, len(stream), 4096):
        for part in parser.feed(stream[i : i + 4096]):
            if isinstance(part, Data):
                total += len(part.chunk)
    parser.close()
    assert time.perf_counter() - started < 3.0
    assert total == 8 * 1024 * 1024
    assert parser.events == 1


def test_many_short_cr_lines_in_one_chunk_are_linear() -> None:
    stream = b"data: ab\r\r" * 100_000  # 1 MB, no LF anywhere
    parser = SseParser()
    started = time.perf_counter()
    parts = parser.feed(stream)
    assert time.perf_counter() - started < 3.0
    assert parser.events == 100_000
    assert len(parts) == 200_000
