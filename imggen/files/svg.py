"""SVG as an image type (Recraft's `*_vector` models answer SVG): recognised by its first
bytes, checked whole before it is saved: UTF-8, well-formed XML whose root is <svg>, under a
size cap, and with no DOCTYPE or ENTITY declaration at all, so no entity is ever expanded
(no "billion laughs", no external entity). The check refuses declarations before the parser
sees the text; xml.etree then reads an entity-free document (only XML's predefined entities
and character references remain, which expand to one character each)."""

from __future__ import annotations

import re

from imggen.files.streamcheck import BadImage

MIME = "image/svg+xml"
CAP = 16 << 20  # an SVG is text held in memory while it is checked: 16 MiB at most
_SVG_NS = "{http://www.w3.org/2000/svg}svg"
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ATTLIST|ELEMENT)", re.IGNORECASE)
_START = (b"<?xml", b"<svg", b"<!doctype svg")
_ELEMENT = re.compile(rb"<([a-z_][\w:.-]*)")  # an element's start tag (not <? or <!)


def sniff(head: bytes) -> bool:
    """Whether the first bytes may start an SVG document (checked whole by `problem`): <svg,
    or an XML declaration whose first element, where the head reaches it, is <svg> (an
    object store's <Error> page is not)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not text.startswith(_START):
        return False
    first = _ELEMENT.search(text, 1)
    return first is None or first.group(1).rsplit(b":", 1)[-1] == b"svg"


def problem(data: bytes) -> str | None:
    """Why `data` is not an SVG imggen saves, or None."""
    import xml.etree.ElementTree as ET

    if len(data) > CAP:
        return f"it is over the {CAP >> 20} MiB SVG cap"
    if _DECLARATION.search(data):
        return "it declares a DOCTYPE or entities, which imggen refuses in SVG files"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    try:
        root = ET.fromstring(data)  # noqa: S314 - declarations were refused above
    except ET.ParseError as exc:
        return f"it is not well-formed XML ({exc})"
    if root.tag not in (_SVG_NS, "svg"):
        return f"its root element is <{root.tag.rsplit('}', 1)[-1]}>, not <svg>"
    return None


_LENGTH = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(px)?\s*$")


def pixels(data: bytes) -> tuple[int, int] | None:
    """The size an SVG declares: its root's width and height in px (or unitless), else its
    viewBox; None for a file `problem` refuses or one that says neither."""
    import xml.etree.ElementTree as ET

    if problem(data) is not None:
        return None
    root = ET.fromstring(data)  # noqa: S314 - checked by problem(): no declarations
    w, h = (_LENGTH.match(root.get(k, "")) for k in ("width", "height"))
    if w and h:
        return round(float(w.group(1))), round(float(h.group(1)))
    box = root.get("viewBox", "").replace(",", " ").split()
    try:
        bw, bh = float(box[2]), float(box[3])
    except (IndexError, ValueError):
        return None
    return (round(bw), round(bh)) if bw > 0 and bh > 0 else None


class SvgCheck:
    """The SVG streaming past, held (up to CAP) and checked when it ends: the TailCheck
    interface Incoming uses."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if len(self._data) + len(data) > CAP:
            raise BadImage(f"the SVG is over the {CAP >> 20} MiB cap")
        self._data += data

    def complete(self) -> bool:
        """True when whole and safe; raises BadImage saying what is wrong otherwise."""
        why = problem(bytes(self._data))
        if why is not None:
            raise BadImage(f"the gateway sent an SVG imggen will not save: {why}")
        return True
