"""How images land: scratch files, magic-byte and completeness checks, temp file + rename,
with their provenance (PNG iTXt chunk or a sidecar JSON)."""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, cast

from imggen.errors import FileExists, GatewayFailed
from imggen.files import imagefile
from imggen.files.provenance import png_text, sidecar
from imggen.files.targets import EXTS, Target
from imggen.job import SavedImage
from imggen.wire.status import looks_like_html


class Scratch:
    """The temp files of one run, named .imggen-*.part; all removed at the end unless moved
    into place, so Ctrl-C, timeouts and crashes leave nothing partial behind."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()
        # Every name carries this run's token, so cleanup() also finds a file whose creation
        # a signal cut short before it was recorded.
        self._prefix = f".imggen-{secrets.token_hex(4)}-"
        self._dirs: set[Path] = set()
        self._closed = False

    def new(self, directory: Path) -> tuple[Path, BinaryIO]:
        with self._lock:  # held across mkstemp: no file appears after cleanup() has run
            if self._closed:
                raise GatewayFailed("cancelled: this run has ended")
            self._dirs.add(directory)
            fd, name = tempfile.mkstemp(prefix=self._prefix, suffix=".part", dir=directory)
            path = Path(name)
            self._paths.add(path)
        return path, os.fdopen(fd, "wb")

    def factory(self, directory: Path) -> Any:
        return lambda: self.new(directory)

    def release(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def cleanup(self) -> None:
        with self._lock:
            self._closed = True
            paths, self._paths = self._paths, set()
        for path in paths:
            path.unlink(missing_ok=True)
        for folder in self._dirs:
            for stray in folder.glob(f"{self._prefix}*.part"):
                stray.unlink(missing_ok=True)


def decode_base64(text: str, scratch: Scratch, directory: Path) -> Path:
    """Strictly decode a (small) base64 image into a scratch file. Raises GatewayFailed."""
    clean = re.sub(r"\s+", "", text)
    try:
        data = binascii.a2b_base64(clean, strict_mode=True) if clean else b""
    except (binascii.Error, ValueError) as exc:
        raise GatewayFailed(
            "the gateway sent invalid base64 image data", hint="try again; nothing was saved"
        ) from exc
    path, out = scratch.new(directory)
    with out:
        out.write(data)
    return path


def save(
    src: Path,
    target: Target,
    *,
    provenance: Mapping[str, Any],
    force: bool,
    scratch: Scratch,
    stdout: BinaryIO | None = None,
    warn: Any = None,
) -> SavedImage:
    """Check that `src` is a whole image and move it into place with its provenance.

    Raises GatewayFailed (not an image, truncated) or FileExists.
    """
    with src.open("rb") as f:
        head = f.read(64)
    mime = imagefile.sniff(head)
    if mime is None:
        raise GatewayFailed(f"the gateway sent {_describe(head)} where an image should be")
    if not imagefile.is_complete(src, mime):
        raise GatewayFailed("the gateway sent a truncated image", hint="try again")
    pixels = imagefile.dimensions(src)
    record = json.dumps(dict(provenance), ensure_ascii=False, sort_keys=True)
    if target.path is None:
        assert stdout is not None
        _write_image(src, mime, png_text(provenance), stdout)
        stdout.flush()
        return SavedImage("-", mime, src.stat().st_size, pixels, _sha256(src))

    final = _final_path(target, mime, warn)
    tmp, out = scratch.new(final.parent)
    os.chmod(tmp, _file_mode())  # mkstemp makes 0600; a saved image follows the umask
    # --json's bytes and sha256 describe the file as saved (with its provenance chunk),
    # hashed on the way out rather than read back
    hashed = _Hashing(out)
    with out:
        _write_image(src, mime, png_text(provenance), cast(BinaryIO, hashed))
        out.flush()
        os.fsync(out.fileno())
    size, sha = hashed.size, hashed.digest.hexdigest()
    _place(tmp, final, force=force and not target.unique, scratch=scratch)
    if mime != "image/png":
        # only once the image is in place: a sidecar must never describe another image
        _writesidecar(final, record, scratch=scratch)
    return SavedImage(str(final), mime, size, pixels, sha)


class _Hashing:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._out.write(data)


def _write_image(src: Path, mime: str, text: Mapping[str, str], out: BinaryIO) -> None:
    """Copy the image in 1 MiB pieces; a PNG gets its provenance as iTXt chunks.

    Raises GatewayFailed for a PNG whose chunks are not in order.
    """
    if mime == "image/png":
        try:
            imagefile.copy_with_png_text(src, out, text)
        except ValueError as exc:  # e.g. no IHDR first: a broken PNG, not a bug of ours
            raise GatewayFailed("the gateway sent a malformed PNG", hint="try again") from exc
        return
    with src.open("rb") as f:
        while block := f.read(1 << 20):
            out.write(block)


def _final_path(target: Target, mime: str, warn: Any) -> Path:
    assert target.path is not None
    real_ext = imagefile.MIME_EXT.get(mime, ".img")
    path = target.path
    if target.exact:
        if EXTS.get(path.suffix.lower()) != EXTS.get(real_ext):
            if warn:
                warn(f"{path} holds {mime} data, not what its extension says")
    else:
        path = path.with_suffix(real_ext)
    if target.unique:
        stem, n = path.stem, 2
        while path.exists() or sidecar(path).exists():
            path = path.with_name(f"{stem}-{n}{path.suffix}")
            n += 1
    return path


def _place(tmp: Path, final: Path, *, force: bool, scratch: Scratch) -> None:
    """Rename into place; without force, atomically refuse to replace an existing file."""
    if force:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise FileExists(
                f"{final} appeared while generating; not overwritten", hint="pass --force"
            ) from None
        except OSError:  # a filesystem without hard links
            if final.exists():
                raise FileExists(f"{final} exists; not overwritten", hint="pass --force") from None
            os.replace(tmp, final)
        tmp.unlink(missing_ok=True)
    scratch.release(tmp)


def _file_mode() -> int:
    """0666 less the process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _writesidecar(final: Path, record: str, *, scratch: Scratch) -> None:
    tmp, out = scratch.new(final.parent)
    os.chmod(tmp, _file_mode())
    with out:
        out.write(record.encode() + b"\n")
    _place(tmp, sidecar(final), force=True, scratch=scratch)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _describe(head: bytes) -> str:
    text = head.lstrip()[:16].lower()
    if looks_like_html(head):
        return "an HTML page"
    if text.startswith(b"<"):
        return "an XML/HTML document"
    if text.startswith((b"{", b"[")):
        return "JSON"
    if not head:
        return "nothing (0 bytes)"
    return "data that is not PNG, JPEG, WEBP or GIF"
