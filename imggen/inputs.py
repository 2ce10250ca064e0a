"""Input, mask and reference images: read, sniffed by their bytes, checked before any request."""

from __future__ import annotations

import hashlib

from imggen import imagefile, output
from imggen.errors import InputError
from imggen.job import ImageInput

MAX_BYTES = 50 * 1024 * 1024  # seed 002: 单文件不超过 50 MB
ACCEPTED = ("image/png", "image/jpeg", "image/webp")


def load(source: str, *, stdin: bytes | None = None, what: str = "input image") -> ImageInput:
    """An ImageInput from a path, `-` (stdin) or an http(s) URL. Raises InputError (exit 2)."""
    if source.startswith(("http://", "https://")):
        return ImageInput(source=source, url=source)
    if source.startswith("data:"):
        raise InputError(f"{what}: pass a file or an http(s) URL, not a data: URL")
    data = output.read_input(source, stdin=stdin, what=what)
    if len(data) > MAX_BYTES:
        raise InputError(
            f"{what} {source} is {len(data) / 1e6:.1f} MB; gateways take at most 50 MB"
        )
    mime = imagefile.sniff(data[:64])
    if mime not in ACCEPTED:
        raise InputError(
            f"{what} {source} is not a PNG, JPEG or WEBP image (judged by its bytes, not its name)"
        )
    pixels, prompt = _inspect(data)
    return ImageInput(
        source=source,
        data=data,
        mime=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        pixels=pixels,
        prompt=prompt,
    )


def _inspect(data: bytes) -> tuple[tuple[int, int] | None, str | None]:
    """Pixel size, and the prompt imggen recorded if it made this image."""
    import io
    import json

    pixels = imagefile.dimensions(io.BytesIO(data))
    text = None
    if data[:4] == b"\x89PNG":
        text = imagefile.read_png_text(io.BytesIO(data)).get(output.PROVENANCE_KEY)
    prompt = None
    if text:
        try:
            prompt = json.loads(text).get("prompt")
        except (ValueError, AttributeError):
            prompt = None
    return pixels, prompt if isinstance(prompt, str) else None


def check_mask(mask: ImageInput, image: ImageInput) -> None:
    """seed 002: the mask must be a PNG; transparent pixels mark what to repaint, so it needs
    an alpha channel, and it must match the image's pixel size."""
    if mask.url:
        raise InputError("--mask must be a local PNG file, not a URL")
    if mask.mime != "image/png":
        raise InputError(f"mask {mask.source} must be a PNG (it is {mask.mime})")
    if not png_has_alpha(mask.data):
        raise InputError(
            f"mask {mask.source} has no alpha channel; transparent pixels mark what to repaint",
            hint="save the mask as RGBA PNG with the area to change made transparent",
        )
    if image.pixels and mask.pixels and image.pixels != mask.pixels:
        raise InputError(
            f"mask {mask.source} is {mask.pixels[0]}x{mask.pixels[1]} but the image "
            f"{image.source} is {image.pixels[0]}x{image.pixels[1]}; they must match"
        )


def png_has_alpha(data: bytes) -> bool:
    """Colour type 4 or 6 (alpha), or a tRNS chunk before IDAT."""
    if len(data) < 26:
        return False
    if data[25] in (4, 6):
        return True
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        pos += 12 + length
    return False
