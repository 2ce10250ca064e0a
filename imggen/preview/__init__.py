"""--preview: each saved image drawn on stderr when stderr is a terminal, never on stdout.

The protocol comes from the environment (detect.py): the kitty graphics protocol, iTerm2's
inline images, sixel, else coloured half-blocks. kitty and iTerm2 take the PNG or JPEG bytes as
they are; sixel, half-blocks and a row of thumbnails (-n > 1) need the pixels, which Pillow
decodes when the optional extra `imggen[preview]` is installed (imported only here)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import IO

from imggen.preview import draw
from imggen.preview.detect import choose

__all__ = ["choose", "show"]

MAX_ROWS = 24  # a preview never takes more of the terminal's height than this
NO_PILLOW = "install imggen[preview] (Pillow) to preview here"


def show(
    paths: Sequence[str],
    err: IO[str],
    environ: Mapping[str, str],
    *,
    isatty: bool,
    size: tuple[int, int] | None = None,
) -> str | None:
    """Draw the images on `err`, fitted to the terminal (`size`: columns, rows; asked of the
    terminal when None). Nothing unless `isatty`. A note for the user when it could not
    draw (no Pillow where the protocol needs pixels, an unreadable file), else None."""
    files = [p for p in paths if p != "-"]
    if not isatty or not files:
        return None
    cols, rows = size or _terminal_size(err)
    box = (max(8, cols - 1), max(4, min(MAX_ROWS, rows // 2)))
    how = choose(environ)
    pil = draw.pillow()
    try:
        if pil is None:
            if how.protocol in ("sixel", "blocks"):
                return NO_PILLOW
            out = draw.raw_row(files, how, box)  # kitty / iTerm2 take the file bytes as they are
        else:
            out = draw.pixels_row(pil, files, how, box)
    except (OSError, ValueError) as exc:
        return f"preview skipped: {exc}"
    err.write(out)
    err.flush()
    return None


def _terminal_size(err: IO[str]) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(err.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    # a pseudo-terminal nobody sized says 0x0
    return size.columns or 80, size.lines or 24
