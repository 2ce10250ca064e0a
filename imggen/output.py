"""Where images go and how they land: -o resolution, no-clobber, scratch files, magic-byte
checks, temp file + rename, and provenance (PNG iTXt chunk or a sidecar JSON)."""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from imggen import imagefile
from imggen.errors import FileExists, GatewayFailed, InputError, UsageError
from imggen.job import SavedImage
from imggen.wire.status import looks_like_html

PROVENANCE_KEY = "imggen"
EXTS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}
FORMAT_EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}


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


@dataclass(frozen=True)
class Target:
    path: Path | None  # None: stdout
    exact: bool = False  # the user named the file with its extension
    unique: bool = False  # a generated name: pick a free one rather than refuse

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path(tempfile.gettempdir())


def slug(text: str, limit: int = 48) -> str:
    """A file-name stem from a prompt: lowercase words joined by dashes."""
    words = re.findall(r"\w+", text.lower())
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or "image"


def plan(
    output: str | None, count: int, *, prompt: str, model: str, fmt: str | None, cwd: Path
) -> list[Target]:
    """The targets for `count` images from the -o value. Raises UsageError."""
    ext = FORMAT_EXT.get(fmt or "png", ".png")
    if output == "-":
        if count != 1:
            raise UsageError("-o - writes one image to stdout; use -n 1 or a file name")
        return [Target(None)]
    if output and "{" in output:
        return [
            _from_template(output, i, count, prompt, model, ext, cwd) for i in range(1, count + 1)
        ]
    if output is None or output.endswith(("/", os.sep)) or (cwd / output).is_dir():
        folder = cwd / output if output else cwd
        stem = slug(prompt)
        if count == 1:
            return [Target(folder / f"{stem}{ext}", unique=True)]
        return [Target(folder / f"{stem}-{i}{ext}", unique=True) for i in range(1, count + 1)]
    path = cwd / output
    exact = path.suffix.lower() in EXTS
    if not exact:
        path = path.with_name(path.name + ext)
    if count == 1:
        return [Target(path, exact=exact)]
    return [
        Target(path.with_name(f"{path.stem}-{i}{path.suffix}"), exact=exact)
        for i in range(1, count + 1)
    ]


def _from_template(
    template: str, i: int, count: int, prompt: str, model: str, ext: str, cwd: Path
) -> Target:
    fields = {
        "i": i,
        "n": count,
        "slug": slug(prompt),
        "model": re.sub(r"[^\w.-]+", "-", model),
        "date": time.strftime("%Y%m%d"),
        "time": time.strftime("%H%M%S"),
    }
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UsageError(
            f"bad -o template {template!r}: {exc}",
            hint="fields: {i} {n} {slug} {model} {date} {time}",
        ) from None
    path = cwd / name
    if count > 1 and "{i}" not in template:
        path = path.with_name(f"{path.stem}-{i}{path.suffix}")
    exact = path.suffix.lower() in EXTS
    if not exact:
        path = path.with_name(path.name + ext)
    return Target(path, exact=exact)


def check_targets(targets: list[Target], *, force: bool) -> None:
    """Refuse existing files and unwritable folders before any request is sent."""
    for target in targets:
        if target.path is None or target.unique:
            continue
        if target.path.exists() and not force:
            raise FileExists(
                f"{target.path} exists; imggen never overwrites without --force",
                hint="pass --force, or choose another -o",
            )
    for folder in {t.path.parent for t in targets if t.path is not None}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create folder {folder}: {exc.strerror}") from exc
        if not os.access(folder, os.W_OK):
            raise UsageError(f"cannot write to folder {folder}")


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
        _write_image(src, mime, record, stdout)
        stdout.flush()
        return SavedImage("-", mime, src.stat().st_size, pixels, _sha256(src))

    final = _final_path(target, mime, warn)
    tmp, out = scratch.new(final.parent)
    os.chmod(tmp, _file_mode())  # mkstemp makes 0600; a saved image follows the umask
    # --json's bytes and sha256 describe the file as saved (with its provenance chunk),
    # hashed on the way out rather than read back
    hashed = _Hashing(out)
    with out:
        _write_image(src, mime, record, cast(BinaryIO, hashed))
        out.flush()
        os.fsync(out.fileno())
    size, sha = hashed.size, hashed.digest.hexdigest()
    _place(tmp, final, force=force and not target.unique, scratch=scratch)
    if mime != "image/png":
        # only once the image is in place: a sidecar must never describe another image
        _write_sidecar(final, record, scratch=scratch)
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


def _write_image(src: Path, mime: str, record: str, out: BinaryIO) -> None:
    """Copy the image in 1 MiB pieces; a PNG gets its provenance as an iTXt chunk.

    Raises GatewayFailed for a PNG whose chunks are not in order.
    """
    if mime == "image/png":
        try:
            imagefile.copy_with_png_text(src, out, {PROVENANCE_KEY: record})
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
        while path.exists() or _sidecar(path).exists():
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


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _write_sidecar(final: Path, record: str, *, scratch: Scratch) -> None:
    tmp, out = scratch.new(final.parent)
    os.chmod(tmp, _file_mode())
    with out:
        out.write(record.encode() + b"\n")
    _place(tmp, _sidecar(final), force=True, scratch=scratch)


def read_provenance(path: Path) -> dict[str, Any] | None:
    """What imggen recorded in (or beside) an image it saved; None if nothing readable.

    Where to look follows the bytes, as save() does, not the name: PNG data saved as x.jpg
    carries its record inside, WEBP data saved as x.png has a sidecar."""
    try:
        with path.open("rb") as f:
            is_png = imagefile.sniff(f.read(64)) == "image/png"
        if is_png:
            text = imagefile.read_png_text(path).get(PROVENANCE_KEY)
        else:
            text = _sidecar(path).read_text("utf-8")
    except OSError:
        return None
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_input(source: str, *, stdin: bytes | None = None, what: str = "input image") -> bytes:
    """The bytes of a local input image. Raises InputError."""
    if source == "-":
        if stdin is None:
            raise InputError("- reads an image from stdin, but stdin is not available")
        return stdin
    try:
        return Path(source).expanduser().read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {source} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {source} is a folder, not an image") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {source}: {exc.strerror}") from None


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
