"""A 5x7 bitmap font and the layout of a placeholder's words: what the fake gateway draws into
its images (the prompt's first words, the size, the seed), as rows of colour runs every image
format here can encode without touching each pixel in Python."""

from __future__ import annotations

from dataclasses import dataclass

# Each glyph: 7 rows of 5 bits, the leftmost pixel the highest bit.
GLYPHS: dict[str, tuple[int, ...]] = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "A": (14, 17, 17, 31, 17, 17, 17),
    "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14),
    "D": (30, 17, 17, 17, 17, 17, 30),
    "E": (31, 16, 16, 30, 16, 16, 31),
    "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15),
    "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14),
    "J": (7, 2, 2, 2, 2, 18, 12),
    "K": (17, 18, 20, 24, 20, 18, 17),
    "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17),
    "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14),
    "P": (30, 17, 17, 30, 16, 16, 16),
    "Q": (14, 17, 17, 17, 21, 18, 13),
    "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30),
    "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14),
    "V": (17, 17, 17, 17, 17, 10, 4),
    "W": (17, 17, 17, 21, 21, 21, 10),
    "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 10, 4, 4, 4, 4),
    "Z": (31, 1, 2, 4, 8, 16, 31),
    "0": (14, 17, 19, 21, 25, 17, 14),
    "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2),
    "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14),
    "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12),
    ".": (0, 0, 0, 0, 0, 12, 12),
    ",": (0, 0, 0, 0, 12, 4, 8),
    ":": (0, 12, 12, 0, 12, 12, 0),
    "-": (0, 0, 0, 31, 0, 0, 0),
    "'": (4, 4, 8, 0, 0, 0, 0),
    "!": (4, 4, 4, 4, 4, 0, 4),
    "?": (14, 17, 1, 2, 4, 0, 4),
    "/": (0, 1, 2, 4, 8, 16, 0),
    "#": (10, 10, 31, 10, 31, 10, 10),
}
CELL_W, CELL_H = 6, 8  # a glyph and the space after it
MAX_CHARS = 18  # of a line
Runs = tuple[tuple[int, int], ...]  # (colour index: 0 background, 1 ink; length in pixels)


@dataclass(frozen=True)
class Layout:
    """An image as rows: each (runs across the width, how many pixel rows repeat it)."""

    width: int
    height: int
    rows: tuple[tuple[Runs, int], ...]


def clean(text: str) -> str:
    """``text`` in the font's characters: upper case, others shown as '?'."""
    return "".join(c if c in GLYPHS else "?" for c in " ".join(text.split()).upper())


def caption(prompt: str, width: int, height: int, seed: object) -> list[str]:
    """The lines a placeholder shows: the prompt's first words, the size, the seed."""
    words, first = clean(prompt[: MAX_CHARS * 8]).split(), ""
    for word in words:
        if len(first) + len(word) + 1 > MAX_CHARS and first:
            break
        first = f"{first} {word}".strip()[:MAX_CHARS]
    lines = [first] if first else []
    lines.append(f"{width}X{height}")
    lines.append(clean(f"seed {seed}")[:MAX_CHARS] if seed is not None else "NO SEED")
    return lines


def _line_runs(bits: list[bool], x0: int, scale: int, width: int) -> Runs:
    runs: list[list[int]] = [[0, x0]] if x0 else []
    for ink in bits:
        colour = int(ink)
        if runs and runs[-1][0] == colour:
            runs[-1][1] += scale
        else:
            runs.append([colour, scale])
    used = sum(n for _, n in runs)
    if used < width:
        runs.append([0, width - used])
    out: list[tuple[int, int]] = []
    left = width
    for colour, length in runs:  # clipped to the width
        take = min(length, left)
        if take > 0:
            if out and out[-1][0] == colour:
                out[-1] = (colour, out[-1][1] + take)
            else:
                out.append((colour, take))
        left -= take
    return tuple(out)


def layout(width: int, height: int, lines: list[str], grid: int = 1) -> Layout:
    """``lines`` centred in a width x height image as large as fits (90%), each font pixel a
    square of a multiple of ``grid`` pixels placed on the grid (JPEG's 8x8 blocks)."""
    cols = max((len(line) for line in lines), default=0)
    if not cols:
        return Layout(width, height, ((((0, width),), height),))
    text_w, text_h = cols * CELL_W - 1, len(lines) * CELL_H - 1
    scale = int(min(width * 0.9 / text_w, height * 0.9 / text_h))
    scale = max(grid, scale // grid * grid)
    x0 = max(0, (width - text_w * scale) // 2) // grid * grid
    y0 = max(0, (height - text_h * scale) // 2) // grid * grid
    rows: list[tuple[Runs, int]] = []

    def add(runs: Runs, count: int) -> None:
        count = min(count, height - sum(n for _, n in rows))
        if count <= 0:
            return
        if rows and rows[-1][0] == runs:
            rows[-1] = (runs, rows[-1][1] + count)
        else:
            rows.append((runs, count))

    blank: Runs = ((0, width),)
    add(blank, y0)
    for line in lines:
        padded = line.center(cols)
        for r in range(CELL_H):
            bits: list[bool] = []
            for char in padded:
                glyph = GLYPHS[char][r] if r < 7 else 0
                bits += [bool(glyph >> (4 - c) & 1) for c in range(5)] + [False]
            add(_line_runs(bits[:text_w], x0, scale, width), scale)
    add(blank, height)
    return Layout(width, height, tuple(rows))
