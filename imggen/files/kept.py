"""When a write fails after the image arrived: say what the world did (a full disk, a name too
long, a closed stdout), never "a bug", and keep the paid-for image under a visible name."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from imggen.errors import DiskFull, ImggenError, NameTooLong, WriteFailed

__all__ = ["os_error", "rescue"]


def os_error(exc: OSError, path: Path, *, kept: Path | None = None) -> ImggenError:
    """What the world did to a write, said as such: a full disk, a name too long, a folder that
    refuses files; `kept` names where the received image was put."""
    where = f"; the image is kept as {kept}" if kept else ""
    hint = "move it into place once fixed" if kept else None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(
            f"no space left to write {path}{where}",
            hint=f"free some space on that disk, then {hint}" if hint else "free some space",
        )
    if exc.errno == errno.ENAMETOOLONG:
        return NameTooLong(f"the name {path.name!r} is too long for its folder{where}", hint=hint)
    reason = exc.strerror or type(exc).__name__
    return WriteFailed(f"could not write {path}: {reason}{where}", hint=hint)


def _shared(src: Path, final: Path) -> bool:
    """Whether `src` lies in a folder others may write in: the system's temp folder (where an
    image moves when the output disk fills), or anywhere but the output's own folder."""
    try:
        here = os.path.realpath(src.parent)
        return here != os.path.realpath(final.parent) or here == os.path.realpath(
            tempfile.gettempdir()
        )
    except OSError:
        return True


def rescue(src: Path, final: Path, release: Callable[[Path], None]) -> Path | None:
    """Give the received image (temp file `src`) a visible name beside it, so a failed write
    does not lose it: a hard link or a rename, which need no room for the bytes; `release`
    tells the run's scratch files that `src` is no longer theirs to remove. None when even
    that fails. In a shared folder ($TMPDIR) the name cannot be guessed ahead (another user
    could lay a link there) and the file is the user's alone (0600)."""
    shared = _shared(src, final)
    if shared:
        names = [f"{final.stem}.unsaved-{secrets.token_hex(8)}{final.suffix}" for _ in range(9)]
        names += [f"imggen-unsaved-{secrets.token_hex(8)}{final.suffix}" for _ in range(9)]
    else:
        names = [f"{final.stem}.unsaved-{n}{final.suffix}" for n in range(1, 10)]
        names += [f"imggen-unsaved-{n}{final.suffix}" for n in range(1, 10)]  # too long a stem
    for name in names:
        kept = src.with_name(name)
        if kept.exists() or kept.is_symlink():
            continue
        try:
            os.link(src, kept)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                continue
            try:  # no hard links on this filesystem
                os.rename(src, kept)
            except OSError:
                return None
        release(src)
        if shared:
            with contextlib.suppress(OSError):
                os.chmod(kept, 0o600)  # a link shares the file: this also covers `src`
        return kept
    return None
