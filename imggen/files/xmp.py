"""The standard machine-readable AI marker: an XMP packet with IPTC's DigitalSourceType (and
IPTC 2025.1's AISystemUsed), built for PNG iTXt, JPEG APP1 and WebP `XMP ` chunks, and read
back from any XMP packet (shared/references/provenance-standards.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_CODES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = _CODES + "trainedAlgorithmicMedia"  # made by a generative model
COMPOSITE = _CODES + "compositeWithTrainedAlgorithmicMedia"  # an edit made with one
PNG_KEYWORD = "XML:com.adobe.xmp"  # the iTXt keyword the XMP specification gives PNG
JPEG_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"  # an APP1 segment holding XMP
_MAX_JPEG_PACKET = 65535 - 2 - len(JPEG_SIGNATURE)

# the packet wrapper's id is fixed by the XMP specification
_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_TAIL = '<?xpacket end="w"?>'


def packet(source: str, model: str, tool: str, *, padding: int = 0) -> bytes:
    """An XMP packet (UTF-8) saying the image is `source` (TRAINED or COMPOSITE), made by
    `model` with `tool`; `padding` more bytes of whitespace inside the wrapper, as XMP allows
    (a WebP chunk grows to the size announced before it was written)."""
    body = (
        _HEAD
        + f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{escape(tool, _QUOTE)}">\n'
        + ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        + '  <rdf:Description rdf:about=""\n'
        + f'    xmlns:Iptc4xmpExt="{IPTC_EXT}"\n'
        + '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
        + f"   <Iptc4xmpExt:DigitalSourceType>{source}</Iptc4xmpExt:DigitalSourceType>\n"
        + f"   <Iptc4xmpExt:AISystemUsed>{escape(model)}</Iptc4xmpExt:AISystemUsed>\n"
        + f"   <xmp:CreatorTool>{escape(tool)}</xmp:CreatorTool>\n"
        + "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    ).encode()
    pad = (b" " * 99 + b"\n") * (padding // 100) + b" " * (padding % 100)  # lines of spaces
    return body + pad + _TAIL.encode()


_QUOTE = {'"': "&quot;"}


def escape(data: str, entities: Mapping[str, str] | None = None) -> str:
    """xml.sax.saxutils.escape, whose module imports urllib.request (and with it http.client
    and email: a twentieth of a second) for every command that plans an image."""
    data = data.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for char, entity in (entities or {}).items():
        data = data.replace(char, entity)
    return data


def jpeg_segment(xmp: bytes) -> bytes:
    """The APP1 segment that carries `xmp` in a JPEG. Raises ValueError past 64 KiB."""
    if len(xmp) > _MAX_JPEG_PACKET:
        raise ValueError("XMP packet too large for one JPEG segment")
    size = 2 + len(JPEG_SIGNATURE) + len(xmp)
    return b"\xff\xe1" + size.to_bytes(2, "big") + JPEG_SIGNATURE + xmp


def webp_chunk(xmp: bytes) -> bytes:
    """The `XMP ` RIFF chunk that carries `xmp` in a WebP (padded to an even size)."""
    return b"XMP " + len(xmp).to_bytes(4, "little") + xmp + (b"\x00" if len(xmp) % 2 else b"")


_FIELD = r"[\w.-]+:{name}(?:\s*=\s*\"([^\"]*)\"|[^>]*>\s*([^<]*)<)"


def _field(text: str, name: str) -> str | None:
    match = re.search(_FIELD.format(name=name), text)
    if match is None:
        return None
    value = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
    return _unescape(value) or None


def _unescape(value: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
        value = value.replace(entity, char)
    return value.replace("&amp;", "&")


def read(xmp: bytes | str) -> dict[str, str]:
    """The AI marker an XMP packet carries: digital_source_type, ai_system (where set)."""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    found = {
        "digital_source_type": _field(text, "DigitalSourceType"),
        "ai_system": _field(text, "AISystemUsed"),
        "creator_tool": _field(text, "CreatorTool"),
    }
    return {k: v for k, v in found.items() if v}
