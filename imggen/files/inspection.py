"""What a saved image says about itself: format and pixel size, the IPTC AI marker in its XMP,
imggen's record (inside or in the sidecar), and its Content Credentials: present, and, with
c2pa-python installed (`imggen[c2pa]`), valid or tampered and who signed. `imggen inspect`,
`imggen again` and the history read files through here."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from imggen.errors import UsageError
from imggen.files import imagefile, xmp
from imggen.files.provenance import read_png_record, sidecar

_XMP_CAP = 4 << 20  # an XMP packet larger than this is not read


@dataclass
class Found:
    """What one file holds (the raw findings inspect reports)."""

    path: str
    mime: str
    pixels: tuple[int, int] | None = None
    marker: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    record_in: str | None = None  # "file" or the sidecar's path
    credentials: bool = False
    c2pa: dict[str, Any] | None = None  # the validator's verdict, where c2pa-python is there

    @property
    def ai_generated(self) -> bool:
        source = self.marker.get("digital_source_type", "")
        return source.endswith(("trainedAlgorithmicMedia", "TrainedAlgorithmicMedia"))

    @property
    def known(self) -> bool:
        """Whether imggen (or any tool) left anything it can read here."""
        return bool(self.marker or self.record or self.credentials)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mime": self.mime,
            "width": self.pixels[0] if self.pixels else None,
            "height": self.pixels[1] if self.pixels else None,
            "ai_generated": self.ai_generated,
            "digital_source_type": self.marker.get("digital_source_type"),
            "ai_system": self.marker.get("ai_system"),
            "marker_in": self.marker.get("from", "XMP") if self.marker else None,
            "record": self.record,
            "record_in": self.record_in,
            "content_credentials": self.credentials,
            "c2pa": self.c2pa,
        }


def inspect(path: Path, *, validate: bool = True) -> Found:
    """Read what `path` says about itself. Raises UsageError (exit 2) when it cannot be read
    or is no image."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
            mime = imagefile.sniff(head)
            if mime is None:
                raise UsageError(f"{path} is not a PNG, JPEG, WEBP or GIF image")
            found = Found(str(path), mime, imagefile.dimensions(f))
            packet, found.credentials = _scan(f, mime)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if packet:
        found.marker = xmp.read(packet)
    if mime == "image/png":
        found.record = read_png_record(imagefile.read_png_text(path))
        found.record_in = "file" if found.record else None
    if found.record is None:
        found.record = _sidecar(path)
        found.record_in = str(sidecar(path)) if found.record else None
    if found.credentials and validate:
        found.c2pa = validation(path, mime)
        if not found.marker and found.c2pa and found.c2pa.get("digital_source_type"):
            # a signed image carries its marker in the credentials: say so, where from
            found.marker = {
                k: str(found.c2pa[k])
                for k in ("digital_source_type", "ai_system")
                if k in found.c2pa
            }
            found.marker["from"] = "Content Credentials"
    return found


def _sidecar(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(sidecar(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _scan(f: BinaryIO, mime: str) -> tuple[bytes | None, bool]:
    """(the XMP packet, whether Content Credentials are there), walking the file's structure
    without reading its image data."""
    if mime == "image/png":
        return _scan_png(f)
    if mime == "image/jpeg":
        return _scan_jpeg(f)
    if mime == "image/webp":
        return _scan_webp(f)
    return None, False


def _scan_png(f: BinaryIO) -> tuple[bytes | None, bool]:
    f.seek(8)
    packet, signed = None, False
    while len(header := f.read(8)) == 8:
        (length,) = struct.unpack(">I", header[:4])
        kind = header[4:]
        if kind == b"caBX":
            signed = True
        if kind == b"IEND":
            break
        f.seek(length + 4, 1)
    text = imagefile.read_png_text(f).get(xmp.PNG_KEYWORD)
    if text:
        packet = text.encode()
    return packet, signed


def _scan_jpeg(f: BinaryIO) -> tuple[bytes | None, bool]:
    f.seek(2)
    packet, signed = None, False
    while len(marker := f.read(2)) == 2 and marker[0] == 0xFF:
        if marker[1] in (0xDA, 0xD9):  # the header ends at the first scan
            break
        raw = f.read(2)
        if len(raw) < 2:
            break
        (length,) = struct.unpack(">H", raw)
        body = f.read(max(0, length - 2))
        if marker[1] == 0xEB and body.startswith(b"JP"):
            signed = True
        if marker[1] == 0xE1 and body.startswith(xmp.JPEG_SIGNATURE) and packet is None:
            packet = body[len(xmp.JPEG_SIGNATURE) :]
    return packet, signed


def _scan_webp(f: BinaryIO) -> tuple[bytes | None, bool]:
    f.seek(12)
    packet, signed = None, False
    while len(header := f.read(8)) == 8:
        kind = header[:4]
        (length,) = struct.unpack("<I", header[4:])
        if kind == b"C2PA":
            signed = True
        if kind == b"XMP " and length <= _XMP_CAP and packet is None:
            packet = f.read(length)
            f.seek(length & 1, 1)
            continue
        f.seek(length + (length & 1), 1)
    return packet, signed


def validation(path: Path, mime: str) -> dict[str, Any] | None:
    """c2pa-python's verdict on the file's Content Credentials: state (valid / tampered /
    unreadable), trusted, the signer, the failure codes. None without c2pa-python."""
    try:
        import c2pa
    except ImportError:
        return None
    try:
        with path.open("rb") as f, c2pa.Reader(mime, f) as reader:
            doc = json.loads(reader.json())
    except (c2pa.C2paError, OSError, ValueError) as exc:
        return {"state": "unreadable", "why": str(exc)[:300]}
    codes = [s.get("code", "") for s in doc.get("validation_status") or []]
    failures = [c for c in codes if c != "signingCredential.untrusted"]
    active = (doc.get("manifests") or {}).get(doc.get("active_manifest") or "", {})
    info = active.get("signature_info") or {}
    signer = ", ".join(str(info[k]) for k in ("common_name", "issuer") if info.get(k))
    verdict = {
        "state": "tampered" if failures else "valid",
        "trusted": doc.get("validation_state") == "Trusted",
        "signer": signer or None,
        "signed_at": info.get("time"),
        "codes": codes,
    }
    return verdict | _made_by(active)


def _made_by(manifest: dict[str, Any]) -> dict[str, str]:
    """The source type and model a manifest's actions name (c2pa.actions, v1 or v2)."""
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            source = action.get("digitalSourceType")
            if isinstance(source, str) and source:
                agent = action.get("softwareAgent")
                name = agent.get("name") if isinstance(agent, dict) else agent
                made = {"digital_source_type": source}
                return made | ({"ai_system": name} if isinstance(name, str) and name else {})
    return {}
