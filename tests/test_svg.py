"""SVG as an image type: recognised, checked whole (well-formed, <svg> root, capped) and never
expanded: any DOCTYPE or ENTITY is refused before a parser sees the text."""

from __future__ import annotations

import pytest

from imggen.files import svg
from imggen.files.streamcheck import BadImage

GOOD = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'


def test_sniff() -> None:
    assert svg.sniff(GOOD[:16]) and svg.sniff(b"\xef\xbb\xbf  <svg xmlns=") and svg.sniff(b"<SVG ")
    assert not svg.sniff(b"<html><body>") and not svg.sniff(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (GOOD, None),
        (b"<svg/>", None),
        (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "x">]><svg>&a;</svg>', "DOCTYPE"),
        (b'<!DOCTYPE svg SYSTEM "file:///etc/passwd"><svg/>', "DOCTYPE"),
        (b'<svg><!ENTITY x SYSTEM "http://evil/">', "DOCTYPE"),
        (b"<svg><g></svg>", "not well-formed"),
        (b'<?xml version="1.0"?><html/>', "<html>, not <svg>"),
        (b"<svg>\xff\xfe</svg>", "not UTF-8"),
        (b"<svg>" + b" " * (svg.CAP + 1) + b"</svg>", "cap"),
    ],
)
def test_problem(data: bytes, why: str | None) -> None:
    found = svg.problem(data)
    assert (found is None) if why is None else (found is not None and why in found)


def test_billion_laughs_is_refused_without_expansion() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
            for i in range(1, 10)
        )
        + b"]><svg>&lol9;</svg>"
    )
    assert "DOCTYPE" in (svg.problem(laughs) or "")


def test_streamed_check() -> None:
    check = svg.SvgCheck()
    check.feed(GOOD[:10])
    check.feed(GOOD[10:])
    assert check.complete()
    bad = svg.SvgCheck()
    bad.feed(b"<svg><!DOCTYPE x>")
    with pytest.raises(BadImage, match="will not save"):
        bad.complete()


def test_sniff_looks_at_the_first_element() -> None:
    assert not svg.sniff(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied')
    assert svg.sniff(b'<?xml version="1.0"?><!-- made by x --><svg:svg xmlns:svg="')
    assert svg.sniff(b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>')  # not yet known


def test_pixels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from imggen.files.imagefile import dimensions

    assert svg.pixels(GOOD) == (4, 4)
    assert svg.pixels(b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1820 1024"/>') == (
        1820,
        1024,
    )
    assert svg.pixels(b'<svg width="50%" height="10em"/>') is None
    assert svg.pixels(b"<!DOCTYPE svg><svg width='1' height='1'/>") is None
    path = tmp_path / "a.svg"
    path.write_bytes(GOOD)
    assert dimensions(path) == (4, 4)
