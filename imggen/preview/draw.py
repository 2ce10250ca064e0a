"""The escapes that draw an image: kitty graphics (PNG as is, in 4096-byte base64 chunks),
iTerm2's inline images (any file as is), sixel and half-blocks (decoded by Pillow); a row of
thumbnails for several images; tmux passthrough wrapping."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imggen.preview.detect import How

ESC = "\x1b"
ST = ESC + "\\"
CHUNK = 4096  # kitty: base64 bytes per escape
CELL = (8, 16)  # pixels of a character cell assumed for sixel (small: never wider than the box)
VIRTUAL = (10, 20)  # the cell aspect used to lay out images the terminal scales itself
GAP = 1  # columns between thumbnails
SIXEL_COLOURS = 64


def pillow() -> Any:
    """PIL.Image, or None when the optional extra is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def passthrough(seq: str, how: How) -> str:
    """The escape wrapped for tmux (`ESC Ptmux; ... ESC \\`, inner ESCs doubled) when needed."""
    if not how.tmux:
        return seq
    return f"{ESC}Ptmux;" + seq.replace(ESC, ESC + ESC) + ST


def kitty(png: bytes, cols: int, how: How) -> str:
    """a=T (transmit and show), f=100 (PNG), c= columns (the height follows the aspect), q=2
    (no replies to read back)."""
    data = base64.b64encode(png).decode()
    parts = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [""]
    out = []
    for i, part in enumerate(parts):
        more = 1 if i < len(parts) - 1 else 0
        keys = f"a=T,f=100,c={cols},q=2,m={more}" if i == 0 else f"m={more}"
        out.append(passthrough(f"{ESC}_G{keys};{part}{ST}", how))
    return "".join(out)


def iterm(data: bytes, cols: int, how: How) -> str:
    b64 = base64.b64encode(data).decode()
    head = f"{ESC}]1337;File=inline=1;size={len(data)};width={cols};preserveAspectRatio=1:"
    return passthrough(head + b64 + "\a", how)


def fit(size: tuple[int, int], box: tuple[int, int], cell: tuple[int, int]) -> tuple[int, int]:
    """Columns and rows an image of `size` pixels takes to fit `box` (columns, rows) whole."""
    w, h = size
    cols = min(box[0], max(1, int(box[1] * cell[1] * w / (h * cell[0]))))
    rows = max(1, math.ceil(cols * cell[0] * h / (w * cell[1])))
    return cols, rows


def raw_row(files: Sequence[str], how: How, box: tuple[int, int]) -> str:
    """Without Pillow: kitty draws PNGs side by side (the cursor ends right of each image, so
    it goes back up to draw the next beside it); iTerm2 draws any file, one under the other."""
    from imggen.files import imagefile

    if how.protocol not in ("kitty", "iterm"):
        raise ValueError(f"{how.protocol} needs Pillow")
    width = max(4, (box[0] - GAP * (len(files) - 1)) // len(files))
    out = []
    for k, name in enumerate(files):
        path = Path(name)
        data = path.read_bytes()
        if how.protocol == "kitty" and imagefile.sniff(data[:16]) != "image/png":
            raise ValueError(f"{path.name} is not a PNG; kitty needs Pillow to show it")
        size = imagefile.dimensions(path) or (1, 1)
        cols, rows = fit(size, (width, box[1]), VIRTUAL)
        if how.protocol == "iterm":
            out.append(iterm(data, cols, how) + "\n")
            continue
        out.append(kitty(data, cols, how))
        last = k == len(files) - 1
        out.append("\n" if last else (f"{ESC}[{rows - 1}A" if rows > 1 else "") + " " * GAP)
    return "".join(out)


def pixels_row(pil: Any, files: Sequence[str], how: How, box: tuple[int, int]) -> str:
    """With Pillow: the images as one row of thumbnails, drawn with the protocol chosen."""
    images = [_opened(pil, f) for f in files]
    cell = (1, 2) if how.protocol == "blocks" else (CELL if how.protocol == "sixel" else VIRTUAL)
    gaps = GAP * (len(images) - 1)
    max_w, max_h = (box[0] - gaps) * cell[0], box[1] * cell[1]
    ratio = sum(im.width / im.height for im in images)
    height = max(2, min(max_h, int(max_w / ratio)))
    if how.protocol != "blocks":  # the terminal scales these: never send more than there is
        height = min(height, max(im.height for im in images))
    thumbs = [im.resize((max(1, int(height * im.width / im.height)), height)) for im in images]
    if how.protocol == "blocks":
        return _blocks_row(thumbs)
    gap = GAP * cell[0]
    strip = pil.new("RGB", (sum(t.width for t in thumbs) + gap * (len(thumbs) - 1), height))
    x = 0
    for t in thumbs:
        strip.paste(t, (x, 0))
        x += t.width + gap
    if how.protocol == "sixel":
        return passthrough(sixel(strip), how) + "\n"
    import io

    buf = io.BytesIO()
    strip.save(buf, "PNG")
    cols = min(box[0], math.ceil(strip.width / cell[0]))
    draw = kitty if how.protocol == "kitty" else iterm
    return draw(buf.getvalue(), cols, how) + "\n"


def _opened(pil: Any, name: str) -> Any:
    im = pil.open(name)
    im.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced scale, enough for a preview
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        flat = pil.new("RGB", im.size, (0, 0, 0))
        flat.paste(im, mask=im.getchannel("A"))
        return flat
    return im.convert("RGB")


def _blocks_row(thumbs: Sequence[Any]) -> str:
    """Half-blocks: one cell shows two pixels, the upper as the ▀'s colour, the lower as the
    background; thumbnails side by side, each line reset at its end."""
    drawn = [blocks(t) for t in thumbs]
    rows = max(len(d) for d in drawn)
    lines = []
    for r in range(rows):
        cells = [d[r] if r < len(d) else " " * t.width for d, t in zip(drawn, thumbs, strict=True)]
        lines.append((" " * GAP).join(cells))
    return "\n".join(lines) + "\n"


def blocks(im: Any) -> list[str]:
    px = im.load()
    w, h = im.size
    lines = []
    for y in range(0, h, 2):
        cells = []
        for x in range(w):
            top = px[x, y]
            bottom = px[x, y + 1] if y + 1 < h else None
            fg = f"{ESC}[38;2;{top[0]};{top[1]};{top[2]}m"
            bg = f"{ESC}[48;2;{bottom[0]};{bottom[1]};{bottom[2]}m" if bottom else f"{ESC}[49m"
            cells.append(fg + bg + "▀")
        lines.append("".join(cells) + f"{ESC}[0m")
    return lines


def sixel(im: Any) -> str:
    """DECSIXEL: the image quantised to SIXEL_COLOURS, in bands of six rows, each colour's
    run-length-encoded sixels per band."""
    pal = im.quantize(colors=SIXEL_COLOURS)
    w, h = pal.size
    palette = pal.getpalette()[: SIXEL_COLOURS * 3]
    data = pal.tobytes()
    out = [f'{ESC}P0;1;0q"1;1;{w};{h}']
    for i in range(len(palette) // 3):
        r, g, b = (round(c * 100 / 255) for c in palette[i * 3 : i * 3 + 3])
        out.append(f"#{i};2;{r};{g};{b}")
    for top in range(0, h, 6):
        bits: dict[int, bytearray] = {}
        for dy in range(min(6, h - top)):
            row = data[(top + dy) * w : (top + dy + 1) * w]
            for x, colour in enumerate(row):
                line = bits.get(colour)
                if line is None:
                    line = bits[colour] = bytearray(w)
                line[x] |= 1 << dy
        band = []
        for colour, line in bits.items():
            band.append(f"#{colour}" + _runs(line))
        out.append("$".join(band) + "-")
    out.append(ST)
    return "".join(out)


def _runs(line: bytearray) -> str:
    out = []
    x, w = 0, len(line)
    while x < w:
        v = line[x]
        n = 1
        while x + n < w and line[x + n] == v:
            n += 1
        ch = chr(63 + v)
        out.append(f"!{n}{ch}" if n > 3 else ch * n)
        x += n
    return "".join(out)
