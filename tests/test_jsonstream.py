"""Tests for imggen.wire.jsonstream (and its spill decoder): equal to json.loads, spilling,
base64, time and memory bounds."""

from __future__ import annotations

import base64
import io
import itertools
import json
import pathlib
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

from imggen.errors import GatewayFailed
from imggen.wire.jsonstream import Blob, JsonStreamParser, parse_bytes
from imggen.wire.sse import Data, SseParser

Factory = Callable[[], tuple[pathlib.Path, BinaryIO]]


@pytest.fixture
def spill(tmp_path: pathlib.Path) -> Factory:
    counter = itertools.count()

    def new() -> tuple[pathlib.Path, BinaryIO]:
        path = tmp_path / f"spill-{next(counter)}.bin"
        return path, path.open("wb")

    return new


def image(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def feed_all(parser: JsonStreamParser, chunks: Iterator[bytes] | list[bytes]) -> Any:
    for chunk in chunks:
        parser.feed(chunk)
    return parser.close()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def parse(doc: bytes, spill: Factory, threshold: int = 64 * 1024, size: int = 0) -> Any:
    parser = JsonStreamParser(spill, threshold)
    return feed_all(parser, chunked(doc, size) if size else [doc])


def plain(value: Any) -> Any:
    """The value with each Blob replaced by the text or bytes its file holds."""
    if isinstance(value, Blob):
        data = value.path.read_bytes()
        assert len(data) == value.size
        assert data[:64] == value.head
        return data.decode() if value.kind == "text" else data
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


SMALL_DOCS = [
    b'{"data":[{"b64_json":"QUJD","revised_prompt":"a cat"}],"created":1700000000}',
    b'  [1, -2.5e3, 0, true, false, null, "", {}, [], {"a": {"b": [null]}}]  ',
    b'"just a string"',
    b"42",
    b"null",
    rb'{"q\"k": "a\\\"b\\\\", "e": "\\\\\\\"\"", "u": "\u00e9\ud83d\ude00\u2028", "s": "\/"}',
    '{"utf8": "h\u00e9llo \u4e16\u754c \U0001f600"}'.encode(),
    b'{"esc": "\\b\\f\\n\\r\\t\\"\\\\\\/", "x": [1,2,{"y":"}{]["}]}',
]


@pytest.mark.parametrize("doc", SMALL_DOCS)
def test_small_documents_equal_json_loads_at_every_split(doc: bytes, spill: Factory) -> None:
    expected = json.loads(doc)
    assert parse(doc, spill) == expected
    assert parse(doc, spill, size=1) == expected
    for i in range(len(doc) + 1):
        assert feed_all(JsonStreamParser(spill), [doc[:i], doc[i:]]) == expected, i


SPILL_DOCS = [
    rb'{"t": "a cat on a mat, \u00e9\/ \\ \n end", "n": 1, "b": "QUJDREVGR0hJSktMTU5PUA=="}',
    rb'["\\\\\\\"\"\\ quotes and backslashes \\\"", "short"]',
    rb'{"s": "surrogates \ud83d\ude00\uD83D\uDE00 \u2028 \u0000 and \/\/\/ slashes"}',
    '{"u": "raw utf-8 h\u00e9llo \u4e16\u754c \U0001f600 text"}'.encode(),
]


@pytest.mark.parametrize("doc", SPILL_DOCS)
def test_spilled_strings_equal_json_loads_at_every_split(doc: bytes, spill: Factory) -> None:
    expected = json.loads(doc)
    if isinstance(expected, dict) and "b" in expected:
        expected["b"] = base64.b64decode(expected["b"])
    ways = [[doc], chunked(doc, 1)] + [[doc[:i], doc[i:]] for i in range(len(doc) + 1)]
    ways += [[doc[:i], doc[i : i + 3], doc[i + 3 :]] for i in range(len(doc))]
    for chunks in ways:
        parser = JsonStreamParser(spill, threshold=12)
        value = feed_all(parser, chunks)
        assert parser.blobs
        assert plain(value) == expected, chunks


def test_short_strings_stay_in_memory(spill: Factory) -> None:
    parser = JsonStreamParser(spill, threshold=10)
    assert feed_all(parser, [b'["0123456789", "x"]']) == ["0123456789", "x"]
    assert parser.blobs == []


@pytest.mark.parametrize("size", [7, 4096, 65536, 0])
def test_one_megabyte_data_url(spill: Factory, size: int) -> None:
    png = b"\x89PNG\r\n\x1a\n" + image(1024 * 1024)
    doc = b'{"data":[{"url":"data:image/png;base64,' + b64(png) + b'"}]}'
    parser = JsonStreamParser(spill)
    value = feed_all(parser, chunked(doc, size) if size else [doc])
    blob = value["data"][0]["url"]
    assert isinstance(blob, Blob)
    assert (blob.kind, blob.mime, blob.size, blob.prefix, blob.suffix) == (
        "base64",
        "image/png",
        len(png),
        "",
        "",
    )
    assert blob.head == png[:64]
    assert blob.path.read_bytes() == png
    assert parser.blobs == [blob]


def test_data_url_with_parameters_and_no_mime(spill: Factory) -> None:
    raw = image(100_000)
    doc = b'["data:image/svg+xml;charset=utf-8;base64,' + b64(raw)
    doc += b'", "data:;base64,' + b64(raw) + b'"]'
    first, second = parse(doc, spill)
    assert first.mime == "image/svg+xml"
    assert second.mime is None
    assert first.path.read_bytes() == second.path.read_bytes() == raw


def test_two_b64_json_images(spill: Factory) -> None:
    one, two = image(200_000, 1), image(300_000, 2)
    doc = (
        b'{"created": 1, "data": [{"b64_json": "' + b64(one) + b'", "revised_prompt": "a"},'
        b' {"b64_json": "' + b64(two) + b'"}], "usage": {"total_tokens": 5}}'
    )
    parser = JsonStreamParser(spill)
    value = feed_all(parser, chunked(doc, 65536))
    blobs = [item["b64_json"] for item in value["data"]]
    assert all(isinstance(b, Blob) and b.kind == "base64" and b.mime is None for b in blobs)
    assert [b.path.read_bytes() for b in blobs] == [one, two]
    assert parser.blobs == blobs
    assert value["data"][0]["revised_prompt"] == "a"
    assert value["usage"] == {"total_tokens": 5}


def test_escaped_slashes_split_at_every_offset_around_an_escape(spill: Factory) -> None:
    raw = image(30_000, 3)
    encoded = b64(raw)
    doc = b'{"b64_json":"' + encoded.replace(b"/", b"\\/") + b'"}'
    escapes = [i for i in range(len(doc)) if doc[i] == 0x5C]
    assert len(escapes) > 300
    # One escape inside the part seen before spilling, some in the spilled stream.
    for at in [escapes[3], escapes[len(escapes) // 2], escapes[-2]]:
        for cut in range(at - 3, at + 4):
            chunks = (
                [doc[:2000], doc[2000:cut], doc[cut:]] if cut > 2000 else [doc[:cut], doc[cut:]]
            )
            value = feed_all(JsonStreamParser(spill, threshold=1024), chunks)
            assert value["b64_json"].path.read_bytes() == raw, cut
    assert parse(doc, spill, threshold=1024, size=1)["b64_json"].path.read_bytes() == raw


def test_escaped_slashes_fed_byte_by_byte(spill: Factory) -> None:
    raw = image(6_000, 4)
    doc = b'"data:image\\/webp;base64,' + b64(raw).replace(b"/", b"\\/") + b'"'
    blob = parse(doc, spill, threshold=100, size=1)
    assert blob.mime == "image/webp"
    assert blob.path.read_bytes() == raw


def test_markdown_embedded_data_url(spill: Factory) -> None:
    raw = image(150_000, 5)
    content = "Here is your image: ![image](data:image/png;base64," + b64(raw).decode()
    content += ') Enjoy \u00e9 "it"!'
    doc = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
    for size in [1000, 65536, 0]:
        value = parse(doc.encode(), spill, size=size)
        blob = value["choices"][0]["message"]["content"]
        assert (blob.kind, blob.mime) == ("base64", "image/png")
        assert blob.prefix == "Here is your image: ![image]("
        assert blob.suffix == ') Enjoy \u00e9 "it"!'
        assert blob.path.read_bytes() == raw


def test_embedded_data_url_keeps_4_kib_of_suffix(spill: Factory) -> None:
    raw = image(90_000, 6)
    content = "![x](data:image/jpeg;base64," + b64(raw).decode() + ")" + "z" * 10_000
    blob = parse(json.dumps(content).encode(), spill, size=4096)
    assert blob.mime == "image/jpeg"
    assert blob.suffix == (")" + "z" * 10_000)[:4096]
    assert blob.path.read_bytes() == raw


def test_embedded_run_with_bad_length_fails(spill: Factory) -> None:
    content = "![x](data:image/png;base64," + b64(image(90_000))[:-1].decode() + ")"
    with pytest.raises(GatewayFailed, match="not a multiple of 4"):
        parse(json.dumps(content).encode(), spill)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_line_wrapped_base64(spill: Factory, newline: str) -> None:
    raw = image(200_000, 7)
    wrapped = base64.encodebytes(raw).decode().replace("\n", newline)  # 76-character lines
    doc = json.dumps({"b64_json": wrapped}).encode()
    assert b"\\n" in doc
    for size in [4096, 4097, 0]:
        blob = parse(doc, spill, size=size)["b64_json"]
        assert blob.kind == "base64"
        assert blob.path.read_bytes() == raw


def _broken(encoded: bytes, at: int, replacement: bytes) -> bytes:
    return encoded[:at] + replacement + encoded[at + len(replacement) :]


ENCODED = b64(image(120_000, 8))
INVALID_BASE64 = {
    "bad char early": _broken(ENCODED, 300, b"!"),
    "bad char late": _broken(ENCODED, 100_000, b"*"),
    "url-safe": _broken(ENCODED, 100_000, b"-"),
    "padding in the middle": _broken(ENCODED, 100_000, b"AA=="),
    "padding mid quad": _broken(ENCODED, 100_000, b"A=AA"),
    "excess padding": ENCODED + b"====",
    "bad length": ENCODED[:-1],
    "data after padding": b64(b"xy") + ENCODED,
    "unicode escape": _broken(ENCODED, 100_000, b"\\u00e9"),
}


@pytest.mark.parametrize("name", list(INVALID_BASE64))
@pytest.mark.parametrize("url", [False, True])
def test_invalid_base64_fails(spill: Factory, name: str, url: bool) -> None:
    body = (b"data:image/png;base64," if url else b"") + INVALID_BASE64[name]
    doc = b'{"data": [{"b64_json": "' + body + b'"}]}'
    parser = JsonStreamParser(spill)
    with pytest.raises(GatewayFailed, match="invalid base64 image data") as caught:
        feed_all(parser, chunked(doc, 4096))
    assert len(caught.value.message) < 160
    assert parser.blobs
    parser.blobs[0].discard()
    parser.blobs[0].discard()
    assert not parser.blobs[0].path.exists()
    with pytest.raises(GatewayFailed):  # the parser stays failed
        parser.close()


def test_non_base64_in_the_first_256_characters_means_text(spill: Factory) -> None:
    blob = parse(b'"' + _broken(ENCODED, 10, b"!") + b'"', spill)
    assert blob.kind == "text"
    assert blob.path.read_bytes() == _broken(ENCODED, 10, b"!")


def test_url_safe_base64_is_named(spill: Factory) -> None:
    with pytest.raises(GatewayFailed, match="URL-safe"):
        parse(b'"' + INVALID_BASE64["url-safe"] + b'"', spill)


@pytest.mark.parametrize(
    "doc",
    [
        b"",
        b"   ",
        b'{"data": [',
        b'{"data": [{"b64_json": "QUJD',
        b'{"a": tr',
        b'{"a": 1',
        b'{"data": [{"b64_json": "' + ENCODED[:80_000],
        b'{"data": [{"b64_json": "' + ENCODED + b'"}',
    ],
)
def test_truncated_document_fails(spill: Factory, doc: bytes) -> None:
    with pytest.raises(GatewayFailed, match="cut off|empty"):
        parse(doc, spill, size=4096)


@pytest.mark.parametrize(
    "doc",
    [
        b'{"a": 1,,}',
        b'{"a": 1} x',
        b"[1, 2]]",
        b"{'a': 1}",
        b'["' + b"x" * 1000 + b'" "' + b"y" * 1000 + b'"]',
        b'["caf\xff"]',
        b'["' + ENCODED + b'" ' + b"junk" * 1000 + b"]",
    ],
)
def test_malformed_json_fails_with_a_short_message(spill: Factory, doc: bytes) -> None:
    with pytest.raises(GatewayFailed, match="malformed JSON") as caught:
        parse(doc, spill)
    assert len(caught.value.message) < 160


@pytest.mark.parametrize(
    "bad",
    [b"\\x", b"\\u12G4", b"\\", b"raw\nline", b"\x00"],
    ids=["escape", "unicode", "lone-backslash", "raw-newline", "nul"],
)
def test_malformed_spilled_string_fails(spill: Factory, bad: bytes) -> None:
    text = b"some words, " * 10_000
    doc = b'["' + text + bad + text + b'"]'
    with pytest.raises(GatewayFailed, match="malformed JSON"):
        parse(doc, spill, size=4096)


def test_long_text_spills_as_text(spill: Factory) -> None:
    text = 'The quick brown fox \u00e9\u4e16\U0001f600 "jumps" \\ over\n\t' * 5000
    doc = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
    assert b"\\ud83d\\ude00" in doc
    for size in [7, 4095, 0]:
        blob = parse(doc, spill, size=size)["choices"][0]["message"]["content"]
        assert (blob.kind, blob.mime) == ("text", None)
        assert blob.path.read_bytes() == text.encode()
        assert blob.size == len(text.encode())


def test_raw_utf8_text_spills_unchanged(spill: Factory) -> None:
    text = "h\u00e9llo w\u00f6rld \u4e16\u754c " * 10_000
    doc = json.dumps(text, ensure_ascii=False).encode()
    blob = parse(doc, spill, size=4093)
    assert blob.kind == "text"
    assert blob.path.read_text(encoding="utf-8") == text


def test_invalid_utf8_in_spilled_text_fails(spill: Factory) -> None:
    with pytest.raises(GatewayFailed, match="UTF-8"):
        parse(b'"' + b"words " * 20_000 + b"\xc3(" + b'"', spill)


def test_lone_surrogate_in_spilled_text_becomes_replacement(spill: Factory) -> None:
    blob = parse(b'"' + b"words " * 20 + b'\\ud800 x"', spill, threshold=10)
    assert blob.path.read_text(encoding="utf-8").endswith("\ufffd x")


def test_huge_object_key_fails(spill: Factory) -> None:
    with pytest.raises(GatewayFailed, match="key"):
        parse(b'{"' + b"k " * 100 + b'": 1}', spill, threshold=10)


def test_parse_bytes_discards_spill_files_on_error(spill: Factory, tmp_path: pathlib.Path) -> None:
    doc = b'[{"b64_json": "' + ENCODED + b'"}, {"b64_json": "' + ENCODED + b'!"}]'
    with pytest.raises(GatewayFailed):
        parse_bytes(doc, spill)
    assert list(tmp_path.iterdir()) == []
    value = parse_bytes(b'{"b64_json": "' + ENCODED + b'"}', spill)
    assert value["b64_json"].path.read_bytes() == base64.b64decode(ENCODED)


def test_disk_errors_close_the_spill_file_and_stop_the_parser(tmp_path: pathlib.Path) -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    sinks: list[Full] = []

    def new() -> tuple[pathlib.Path, BinaryIO]:
        sinks.append(Full())
        return tmp_path / "full", sinks[-1]

    parser = JsonStreamParser(new)
    with pytest.raises(OSError):
        parser.feed(b'["' + ENCODED + b'"]')
    assert sinks[0].closed
    assert len(parser.blobs) == 1
    with pytest.raises(ValueError):
        parser.close()


def test_close_twice_returns_the_same_value(spill: Factory) -> None:
    parser = JsonStreamParser(spill)
    parser.feed(b"[1]")
    assert parser.close() == [1]
    assert parser.close() == [1]
    with pytest.raises(ValueError):
        parser.feed(b"2")


@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "escaped-slashes"])
def test_eight_megabyte_sse_event_is_linear(spill: Factory, escaped: bool) -> None:
    """Quadratic buffering would take minutes here; a linear reader takes well under a second."""
    raw = image(6 * 1024 * 1024, 9)  # 8 MiB of base64
    encoded = b64(raw).replace(b"/", b"\\/") if escaped else b64(raw)
    body = b'{"type":"image","data":[{"url":"data:image/png;base64,' + encoded + b'"}]}'
    stream = b"event: done\ndata: " + body + b"\n\n"
    sse = SseParser()
    parser = JsonStreamParser(spill)
    started = time.perf_counter()
    for i in range(0, len(stream), 4096):
        for part in sse.feed(stream[i : i + 4096]):
            if isinstance(part, Data):
                parser.feed(part.chunk)
    sse.close()
    value = parser.close()
    assert time.perf_counter() - started < 3.0
    assert sse.events == 1
    assert value["data"][0]["url"].path.read_bytes() == raw


def test_memory_stays_bounded_for_a_20_megabyte_data_url(spill: Factory) -> None:
    raw = image(15 * 1024 * 1024, 10)
    doc = b'{"data":[{"url":"data:image/png;base64,' + b64(raw) + b'"}]}'
    assert len(doc) > 20_000_000
    tracemalloc.start()
    try:
        parser = JsonStreamParser(spill)
        for i in range(0, len(doc), 65536):
            parser.feed(doc[i : i + 65536])
        value = parser.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak
    blob = value["data"][0]["url"]
    assert blob.size == len(raw)
    assert blob.path.read_bytes() == raw


def test_whitespace_outside_strings_is_not_held(spill: Factory) -> None:
    from imggen.limits import Limits

    parser = JsonStreamParser(spill, limits=Limits(json_cap=1024))
    parser.feed(b'{"a": "  keep  ",')
    for _ in range(64):
        parser.feed(b" \t\r\n" * 16384)  # 4 MiB of whitespace against a 1 KiB cap
    parser.feed(b'"b": [1, 2]}')
    assert parser.close() == {"a": "  keep  ", "b": [1, 2]}


def test_structure_over_the_cap_is_refused(spill: Factory) -> None:
    from imggen.limits import Limits

    parser = JsonStreamParser(spill, limits=Limits(json_cap=1024))
    with pytest.raises(GatewayFailed, match="MiB of JSON besides its images"):
        parser.feed(b"[" + b"0," * 1000 + b"0]")


@pytest.mark.parametrize("depth", [257, 100_000])
def test_deep_nesting_is_malformed_json_not_a_recursion_error(spill: Factory, depth: int) -> None:
    with pytest.raises(GatewayFailed, match="nested deeper than 256 levels"):
        parse(b"[" * depth + b"]" * depth, spill)
    assert parse(b"[" * 256 + b"]" * 256, spill) is not None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"AA==",
        b"AAA=",
        b"QUJD",
        b"AA==AAAA",
        b"AAA",
        b"AA=A",
        b"AAAA\n",
        b" AAA",
        b"A===",
        b"QU*D",
        base64.b64encode(image(100_000)),
    ],
)
def test_the_fast_decoder_is_as_strict_as_the_standard_library(data: bytes) -> None:
    from imggen.wire.spill import decoder

    results = []
    for simd in (True, False):
        try:
            results.append(decoder(simd)(data))
        except ValueError:
            results.append("refused")
    assert results[0] == results[1]


def test_many_small_values_are_refused_before_they_are_parsed(spill: Factory) -> None:
    from imggen.limits import Limits

    parser = JsonStreamParser(spill, limits=Limits(json_values=1000))
    with pytest.raises(GatewayFailed, match="over 1,000 JSON values besides its images"):
        parser.feed(b"[" + b"[]," * 1001 + b"[]]")
    ok = JsonStreamParser(spill, limits=Limits(json_values=1000))
    ok.feed(b'{"a": "' + b"x," * 5000 + b'", "b": [1, 2]}')  # commas inside strings do not count
    assert ok.close()["b"] == [1, 2]
