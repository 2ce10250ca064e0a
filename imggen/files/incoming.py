"""One image on its way from the reply to its file, in one pass: sniffed from its first bytes,
checked (a PNG chunk by chunk, CRCs and order; other types by their ends), given its provenance
on the way (PNG text chunks after IHDR, a JPEG APP1 or WebP XMP chunk: files/embed.py) unless
it carries Content Credentials, hashed and counted as it is written to a temp file in the
output folder. Nothing is copied or read back afterwards, save for an image whose credentials
show up only after the marker went in; save.Landing renames the file into place."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from imggen.errors import GatewayFailed, ImggenError
from imggen.files import embed, imagefile, streamcheck, svg
from imggen.files.imagefile import looks_like_html
from imggen.files.provenance import Marks
from imggen.limits import MiB

if TYPE_CHECKING:
    from imggen.files.save import Landing

__all__ = ["Incoming", "png_chunks"]

_PIECE = 1 << 20
# Bytes are gathered and written (and hashed) this many at a time: a reply arrives in ~64 KiB
# reads, each decoded in two or three pieces; 256 KiB writes take a 4096x4096 image from ~3,800
# write() calls to ~200 (measured: 1 MiB gains no more, and holds more).
_BATCH = 1 << 18
_WRITEBACK = 8 << 20  # written bytes handed to the disk in pieces of this size

# a write that fails for want of room: the image can go on being written on another disk
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

_UNKNOWN = 0  # fewer than _SNIFF bytes so far
_IMAGE = 1
_TEXT = 2  # a long JSON text spilled (not an image): written as it comes
_NOT_IMAGE = 3  # decoded bytes that are no image: counted, not written
_FAILED = 4
_SNIFF = 16


def png_chunks(text: Mapping[str, str]) -> bytes:
    """The PNG text chunks for provenance's keys, as imagefile.text_chunk makes them."""
    return b"".join(imagefile.text_chunk(key, value) for key, value in text.items())


class Incoming:
    """One image being written; a file-like sink (write, close) for the spill and download
    code. What is wrong with the image waits for Landing.land(); only a size over the cap
    stops the reply at once (GatewayFailed from write())."""

    def __init__(self, landing: Landing, path: Path, fd: int) -> None:
        self.key = path  # as Landing knows it, whatever disk the bytes end up on
        self.path = path
        self._fd: int | None = fd
        self._landing = landing
        self._state = _UNKNOWN
        self._head = bytearray()
        self._pending = bytearray()
        self._png: streamcheck.PngStream | None = None
        self._tail: streamcheck.TailCheck | svg.SvgCheck | None = None
        self._editor: embed.JpegStream | embed.WebpStream | None = None
        self.mime: str | None = None
        self.index: int | None = None  # the provenance index this image was written with
        self.marks = Marks("off", {}, b"", "")  # what it carries, at its provenance level
        self.kept = False  # written as it came, for its Content Credentials (Landing._restore)
        self.signed = False  # with imggen's own Content Credentials (Landing._sign)
        self.received = 0
        self.written = 0
        self._synced = 0  # bytes before this offset were handed to the disk (_write_back)
        self.sha = hashlib.sha256()
        self.error: ImggenError | None = None
        self.closed = False

    # the file-like side ------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self.received += n
        cap = self._landing.limits.download_cap
        if self.received > cap and self._state != _TEXT:
            size = f"{cap // MiB} MiB" if cap >= MiB else f"{cap:,}-byte"
            self._fail(GatewayFailed(f"the gateway sent an image over the {size} cap"))
            self._close_fd(unlink=True)
            assert self.error is not None
            raise self.error
        state = self._state
        if state == _FAILED or not n:
            return n
        if state == _UNKNOWN:
            self._head += data
            if len(self._head) < _SNIFF:
                return n
            data, self._head = bytes(self._head), bytearray(self._head[:64])
            self.begin(data)
            state = self._state
        try:
            if state == _IMAGE:
                if self._png is not None:
                    self._png.feed(data)
                else:
                    assert self._tail is not None
                    self._tail.feed(data)
                    if self._editor is not None:
                        self._editor.feed(data)
                    else:
                        self._out(data)
            elif state == _TEXT:
                self._out(data)
        except streamcheck.BadImage as exc:
            self._fail(_bad(exc))
            self._close_fd(unlink=True)
        return n

    def expect_text(self) -> None:
        """What follows is a JSON text value, not an image: write it as it comes."""
        if self._state == _UNKNOWN and not self._head:
            self._state = _TEXT

    def close(self) -> None:
        """No more bytes: check that the image is whole. The file stays open for land()."""
        if self.closed:
            return
        self.closed = True
        if self._state == _UNKNOWN:
            self.begin(bytes(self._head))
        try:
            if self._state == _IMAGE:
                if self._png is not None:
                    self._png.finish()
                elif self._tail is not None and not self._tail.complete():
                    raise streamcheck.BadImage("the image ends early", truncated=True)
                if self._editor is not None:
                    self._editor.finish()
            self._flush()
        except streamcheck.BadImage as exc:
            self._fail(_bad(exc))
        if self._state in (_TEXT, _NOT_IMAGE, _FAILED):
            self._close_fd(unlink=self._state == _FAILED)

    def abort(self) -> None:
        """The source failed: this image will not be landed; its index is given back."""
        self.closed = True
        if self._state != _FAILED:
            self._fail(GatewayFailed("the image was cut off"))
        self._close_fd(unlink=True)
        self._landing.forget(self)

    def discard(self) -> None:
        self.abort()

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    # what land() needs ------------------------------------------------------------------

    @property
    def head(self) -> bytes:
        return bytes(self._head[:64])

    @property
    def pixels(self) -> tuple[int, int] | None:
        if self._png is not None:
            return self._png.pixels
        if self._fd is None:
            return None
        with os.fdopen(os.dup(self._fd), "rb") as f:  # a header read, not the image
            return imagefile.dimensions(f)

    def problem(self) -> ImggenError | None:
        """Why this cannot be landed as an image, or None."""
        if not self.closed:
            self.close()
        if self.error is not None:
            return self.error
        if self._state != _IMAGE:
            what = "text" if self._state == _TEXT else _describe(self.head)
            return GatewayFailed(f"the gateway sent {what} where an image should be")
        return None

    def finish_file(self, mode: int) -> int:
        """fsync and close the file, ready to be renamed; returns its size."""
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fchmod(fd, mode)  # mkstemp makes 0600; a saved image follows the umask
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.written

    def read_back(self, out: Callable[[bytes], object]) -> None:
        """Hand the written bytes to `out` (stdout, or a rewrite), from the open file."""
        assert self._fd is not None
        offset = 0
        while piece := os.pread(self._fd, _PIECE, offset):
            out(piece)
            offset += len(piece)

    def begin(self, head: bytes, index: int | None = None, *, kept: bool = False) -> None:
        """Sniff the image from its first bytes and take its provenance: the next free index,
        or `index` (a rewrite). `kept`: write it as it comes (its Content Credentials)."""
        mime = self.mime or imagefile.sniff(head[:64]) or _svg(head[:64])
        if mime is None:
            self._state = _NOT_IMAGE
            return
        self.mime = mime
        self._state = _IMAGE
        self.kept = kept
        self.index, self.marks = self._landing.bind(self, index)
        text = {} if kept else self.marks.png
        if mime == "image/png":
            self._png = streamcheck.PngStream(self._out, png_chunks(text), drop=text)
            return
        if mime == svg.MIME:  # checked whole at the end; its record goes in the sidecar
            self._tail = svg.SvgCheck()
            return
        self._tail = streamcheck.TailCheck(mime)
        packet = b"" if kept else self.marks.xmp
        if mime == "image/jpeg" and packet:
            self._editor = embed.JpegStream(self._out, packet)
        elif mime == "image/webp" and packet:
            self._editor = embed.WebpStream(self._out, packet)

    @property
    def credentials(self) -> bool:
        """Whether the image carries Content Credentials (and so nothing of imggen's)."""
        what = self._png or self._editor
        return self.kept or bool(what and (what.credentials or what.late_credentials))

    @property
    def needs_restore(self) -> bool:
        """Content Credentials found after imggen's marker went in: Landing._restore writes
        the image again as it came (read_original)."""
        what = self._png or self._editor
        return not self.kept and bool(what and what.late_credentials)

    def read_original(self, out: Callable[[bytes], object]) -> None:
        """Hand `out` the bytes as they came, before imggen's marker went in (the edits
        undone), from the open file."""
        what = self._png or self._editor
        assert self._fd is not None and what is not None
        offset = 0
        for at, added, original in sorted(what.edits, key=lambda e: e[0]):
            self._copy(offset, at, out)
            out(original)
            offset = at + added
        self._copy(offset, None, out)

    def _copy(self, start: int, end: int | None, out: Callable[[bytes], object]) -> None:
        assert self._fd is not None
        while end is None or start < end:
            size = _PIECE if end is None else min(_PIECE, end - start)
            piece = os.pread(self._fd, size, start)
            if not piece:
                return
            out(piece)
            start += len(piece)

    def close_fd(self) -> None:
        self._close_fd(unlink=False)

    # inside -------------------------------------------------------------------------------

    def _out(self, piece: bytes | bytearray | memoryview) -> None:
        pending = self._pending
        if not pending and len(piece) >= _BATCH:
            self._write(piece)
            return
        pending += piece
        if len(pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, bytearray()
            self._write(pending)

    def _write(self, piece: bytes | bytearray | memoryview) -> None:
        if self._fd is None:
            return
        view = memoryview(piece)
        done = 0
        while done < len(view):
            try:
                done += os.write(self._fd, view[done:])
            except OSError as exc:
                if exc.errno not in _FULL or not self._move_elsewhere():
                    raise
        self.written += done
        self.sha.update(view)
        if self.written - self._synced >= _WRITEBACK:
            self._write_back()

    def _move_elsewhere(self) -> bool:
        """The output's disk is full (or its quota, or the file size limit, is reached) while
        the image arrives: go on writing it in the system's temp folder, where it can be kept
        if it cannot be saved. False when there is no other place, or that one failed too."""
        assert self._fd is not None
        opened = self._landing.elsewhere(self.path)
        if opened is None:
            return False
        path, fd = opened
        try:
            offset = 0
            while piece := os.pread(self._fd, _PIECE, offset):
                offset += os.write(fd, piece)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            return False
        self._close_fd(unlink=True)  # gives the full disk its space back
        self._fd, self.path, self._synced = fd, path, 0
        return True

    def _write_back(self) -> None:
        """Start writing what is in the page cache to disk now, while the rest arrives, so that
        the fsync before the rename has little left to wait for (measured on a 50 MB image:
        fsync ~22 ms -> ~5 ms). Pages being written stay cached; only clean ones are dropped."""
        assert self._fd is not None
        with contextlib.suppress(OSError, AttributeError):  # not every OS has posix_fadvise
            os.posix_fadvise(
                self._fd, self._synced, self.written - self._synced, os.POSIX_FADV_DONTNEED
            )
        self._synced = self.written

    def _fail(self, error: ImggenError) -> None:
        if self.error is None:
            self.error = error
        self._state = _FAILED
        self._pending = bytearray()

    def _close_fd(self, *, unlink: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if unlink:
            self.path.unlink(missing_ok=True)


def _svg(head: bytes) -> str | None:
    return svg.MIME if svg.sniff(head) else None


def _bad(exc: streamcheck.BadImage) -> GatewayFailed:
    if exc.truncated:
        return GatewayFailed("the gateway sent a truncated image", hint="try again")
    if str(exc).startswith("the gateway sent"):
        return GatewayFailed(str(exc), hint="try again")
    return GatewayFailed(f"the gateway sent a malformed PNG: {exc}", hint="try again")


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
