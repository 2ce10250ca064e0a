"""How images land: each is written once, as it arrives, into a temp file in its output folder
(incoming.Incoming: checked, provenance in, hashed), optionally signed ([c2pa]), then renamed
into place, with a sidecar JSON where the image cannot carry its record (JPEG/WEBP/GIF, or an
image whose Content Credentials must stay intact). Saving needs no more free space than the
image itself.

Scratch owns the temp files of a run; Landing hands out the Incoming files images are written
to (a spill factory) and moves them into place.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from imggen.errors import (
    FileExists,
    GatewayFailed,
    WriteFailed,
)
from imggen.files import imagefile
from imggen.files.incoming import Incoming
from imggen.files.kept import os_error, rescue
from imggen.files.provenance import Marks, marks, sidecar
from imggen.files.scratch import Scratch
from imggen.files.targets import EXTS, Target
from imggen.job import SavedImage
from imggen.limits import Limits

_PIECE = 1 << 20


class Landing:
    """Where the images of one run land: hands out Incoming files (as a spill factory), gives
    each image its provenance index as it starts, and moves each into place with land().
    Thread-safe: the calls of `-n` fan-out write at once."""

    def __init__(
        self,
        targets: list[Target],
        *,
        record: Callable[[int], Mapping[str, Any]],
        scratch: Scratch,
        limits: Limits = Limits(),
        force: bool = False,
        level: str = "full",
        signer: Any = None,
    ) -> None:
        self.targets = targets
        self.level = level
        self._signer = signer  # files.signing.Signer: imggen's own Content Credentials
        self.limits = limits
        self._record = record
        self._scratch = scratch
        self._force = force
        self.spool = targets[0].directory
        self._lock = threading.Lock()
        self._sinks: dict[Path, Incoming] = {}
        self._taken: set[int] = set()

    def open(self) -> tuple[Path, Incoming]:
        """A new Incoming in the output folder (SpillFactory's shape)."""
        path, fd = self._scratch.new_fd(self.spool)
        sink = Incoming(self, path, fd)
        with self._lock:
            self._sinks[path] = sink
        return path, sink

    def decode_base64(self, text: str) -> Path:
        """Strictly decode a (small) base64 image into an Incoming. Raises GatewayFailed."""
        from imggen.wire.spill import b64decode

        clean = re.sub(r"\s+", "", text)
        try:
            data = b64decode(clean.encode("ascii")) if clean else b""
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            raise GatewayFailed(
                "the gateway sent invalid base64 image data", hint="try again; nothing was saved"
            ) from exc
        path, sink = self.open()
        with sink:
            sink.write(data)
        return path

    def target_of(self, index: int | None) -> Target | None:
        if index is None or not 1 <= index <= len(self.targets):
            return None
        return self.targets[index - 1]

    def assign(self, paths: list[Path]) -> tuple[list[tuple[Path, int | None]], list[Path]]:
        """Which target each received file goes to: (path, index) in target order, index None
        for what cannot be landed (land() raises why), and the images beyond the count."""
        count = len(self.targets)
        good: list[Incoming] = []
        bad: list[tuple[Path, int | None]] = []
        for path in paths:
            sink = self._sinks.get(path)
            if sink is None or sink.problem() is not None:
                bad.append((path, None))
            else:
                good.append(sink)
        chosen: dict[int, Incoming] = {}
        for sink in good:  # each keeps the index it was written with where it can
            if sink.index is not None and sink.index <= count and sink.index not in chosen:
                chosen[sink.index] = sink
        free = [i for i in range(1, count + 1) if i not in chosen]
        extra: list[Path] = []
        for sink in good:
            if sink in chosen.values():
                continue
            if free:
                chosen[free.pop(0)] = sink
            else:
                extra.append(sink.key)
        placed: list[tuple[Path, int | None]] = [(chosen[i].key, i) for i in sorted(chosen)]
        return placed + bad, extra

    def land(
        self,
        path: Path,
        index: int | None,
        *,
        stdout: BinaryIO | None = None,
        warn: Callable[[str], object] | None = None,
    ) -> SavedImage:
        """Move image `path` (as open() named it) into target `index`. Raises GatewayFailed (not
        a whole image) or FileExists."""
        sink = self._sinks.get(path)
        if sink is None:
            raise GatewayFailed("the gateway sent nothing where an image should be")
        problem = sink.problem()
        if problem is not None:
            raise problem
        target = self.target_of(index)
        assert index is not None and target is not None
        if sink.needs_restore:
            sink = self._restore(sink)
        if sink.index != index:
            sink = self._rewrite(sink, index)
        if self._signer is not None and target.path is not None and not sink.credentials:
            sink = self._sign(sink, warn)
        mime = sink.mime
        assert mime is not None
        pixels = sink.pixels
        if target.path is None:
            assert stdout is not None
            self._to_stdout(sink, stdout)
            return SavedImage(
                "-", mime, sink.written, pixels, sink.sha.hexdigest(), sink.credentials
            )
        credentials = sink.credentials and not sink.signed
        final = _final_path(target, mime, warn)
        force = self._force and not target.unique
        try:
            size = sink.finish_file(_file_mode())
            self._place(sink.path, final, force=force)
        except OSError as exc:
            # The image arrived (and was paid for): keep it under a name, which needs no room.
            kept = rescue(sink.path, final, self._scratch.release)
            raise os_error(exc, final, kept=kept) from None
        record = sink.marks.sidecar(mime, credentials=credentials)
        if record:
            # only once the image is in place: a sidecar must never describe another image
            try:
                _write_sidecar(final, record, scratch=self._scratch)
            except OSError as exc:
                error = os_error(exc, sidecar(final))
                error.message = f"{final} is saved, but not its record: {error.message}"
                raise error from None
        return SavedImage(
            str(final),
            mime,
            size,
            pixels,
            sink.sha.hexdigest(),
            credentials,
            bool(record),
            sink.signed,
        )

    def _to_stdout(self, sink: Incoming, stdout: BinaryIO) -> None:
        try:
            sink.read_back(stdout.write)
            stdout.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # the reader stopped reading (`| head`): its choice
                raise WriteFailed("stdout was closed before the whole image was written") from None
            named = sink.path.with_name(
                "imggen-stdout" + imagefile.MIME_EXT.get(sink.mime or "", ".img")
            )
            kept = rescue(sink.path, named, self._scratch.release)
            raise os_error(exc, Path("stdout"), kept=kept) from None

    def _place(self, src: Path, final: Path, *, force: bool) -> None:
        try:
            _place(src, final, force=force, scratch=self._scratch)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # this target's folder is on another filesystem than the first one's, where the
            # image was written: a copy there, then the rename (rare: templates across mounts);
            # src stays until the copy is in place, for rescue() should that fail
            copy = self._copy_to(src, final.parent)
            try:
                _place(copy, final, force=force, scratch=self._scratch)
            finally:
                copy.unlink(missing_ok=True)
                self._scratch.release(copy)
            src.unlink(missing_ok=True)
            self._scratch.release(src)

    def elsewhere(self, path: Path) -> tuple[Path, int] | None:
        """A temp file, open for writing, for image `path` (being written in the output folder,
        whose disk filled) in the system's temp folder; None when that is the same folder or
        cannot take a file."""
        folder = Path(tempfile.gettempdir())
        try:
            if folder.resolve() == path.parent.resolve():
                return None
            return self._scratch.new_fd(folder)
        except (OSError, GatewayFailed):
            return None

    def preview(self, path: Path) -> Path:
        """`path` holds a partial render, not an image of the run: its index is given back
        (the final image is to have it); save() gives the file its own record."""
        sink = self._sinks.get(path)
        if sink is not None:
            self.forget(sink)
        return path

    def discard(self, path: Path) -> None:
        sink = self._sinks.get(path)
        if sink is not None:
            sink.discard()
        else:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close every file still open (the run is over); Scratch removes them."""
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            sink.close_fd()

    # for Incoming ---------------------------------------------------------------------------

    def bind(self, sink: Incoming, index: int | None = None) -> tuple[int, Marks]:
        """An index for an image that starts (the lowest not taken, past the count for an
        image too many, or `index`), and what it carries at the run's provenance level."""
        with self._lock:
            if index is None:
                index = 1
                while index in self._taken:
                    index += 1
            self._taken.add(index)
        return index, marks(self._record(index), self.level)

    def forget(self, sink: Incoming) -> None:
        with self._lock:
            if sink.index is not None:
                self._taken.discard(sink.index)
                sink.index = None

    def _copy_to(self, src: Path, folder: Path) -> Path:
        tmp, out = self._scratch.new(folder)
        with out, src.open("rb") as f:
            while block := f.read(_PIECE):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _file_mode())
        return tmp

    def _rewrite(self, sink: Incoming, index: int) -> Incoming:
        """The image was written with another index (an image before it failed): write it
        again with the record of `index`. Rare; a copy."""
        path, fresh = self.open()
        fresh.mime = sink.mime
        fresh.begin(sink.head, index, kept=sink.kept)
        sink.read_back(fresh.write)
        return self._swap(sink, fresh)

    def _restore(self, sink: Incoming) -> Incoming:
        """The image's Content Credentials came after imggen's marker went in (a caBX chunk
        after the image data, a WebP's C2PA chunk at its end): write it again as it came.
        A copy, for these only."""
        path, fresh = self.open()
        fresh.mime = sink.mime
        fresh.begin(sink.head, sink.index, kept=True)
        sink.read_original(fresh.write)
        return self._swap(sink, fresh)

    def _sign(self, sink: Incoming, warn: Callable[[str], object] | None) -> Incoming:
        """imggen's own Content Credentials, signed over the image as written (its record in
        already). A signing that fails leaves the image unsigned, said in a warning."""
        import json

        from imggen.errors import ConfigError

        signed, fd = self._scratch.new_fd(self.spool)
        os.close(fd)
        try:
            assert sink.mime is not None
            record = json.loads(sink.marks.record or "{}")
            self._signer.sign(sink.path, signed, sink.mime, record)
            path, fresh = self.open()
            fresh.mime = sink.mime
            fresh.begin(sink.head, sink.index, kept=True)
            fresh.signed = True
            with signed.open("rb") as f:
                while block := f.read(_PIECE):
                    fresh.write(block)
        except ConfigError as exc:
            if warn:
                warn(f"the image is saved unsigned: {exc.message}")
            return sink
        finally:
            signed.unlink(missing_ok=True)
            self._scratch.release(signed)
        return self._swap(sink, fresh)

    def _swap(self, sink: Incoming, fresh: Incoming) -> Incoming:
        fresh.close()
        sink.discard()
        if fresh.index is not None:
            with self._lock:  # the same index, given back by discard()
                self._taken.add(fresh.index)
        problem = fresh.problem()
        if problem is not None:
            raise problem
        return fresh


# -- a file already on disk (tests, partial renders) ------------------------------------------


def save(
    src: Path,
    target: Target,
    *,
    provenance: Mapping[str, Any],
    force: bool,
    scratch: Scratch,
    stdout: BinaryIO | None = None,
    warn: Any = None,
    level: str = "full",
) -> SavedImage:
    """Check that the image in file `src` is whole and write it into place with its provenance
    (a copy; images from a gateway land in one pass through Landing instead).

    Raises GatewayFailed (not an image, truncated, malformed) or FileExists.
    """
    landing = Landing(
        [target], record=lambda index: provenance, scratch=scratch, force=force, level=level
    )
    path, sink = landing.open()
    try:
        with sink, src.open("rb") as f:
            while block := f.read(_PIECE):
                sink.write(block)
        return landing.land(path, 1, stdout=stdout, warn=warn)
    finally:
        landing.close()
        path.unlink(missing_ok=True)
        scratch.release(path)


def _final_path(target: Target, mime: str, warn: Any) -> Path:
    from imggen.files import imagefile

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


def _write_sidecar(final: Path, record: str, *, scratch: Scratch) -> None:
    tmp, out = scratch.new(final.parent)
    os.chmod(tmp, _file_mode())
    with out:
        out.write(record.encode() + b"\n")
    _place(tmp, sidecar(final), force=True, scratch=scratch)
