"""What the user hands in: the prompt (maybe from stdin), and input, mask and reference images,
read and sniffed by their bytes and checked before any request.

stdin can be read once: the prompt or one image may come from it, never both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imggen.errors import InputError, UsageError
from imggen.files import bounded, imagefile
from imggen.files.provenance import read_png_record
from imggen.job import ImageInput

ACCEPTED = ("image/png", "image/jpeg", "image/webp")
ONCE = "stdin can be read once: only one of PROMPT and IMAGE may be -"
PROMPT_CAP = 1024 * 1024  # gateways take a few thousand characters; `< /dev/zero` never ends


class Stdin:
    """Standard input, which one thing (the prompt or one image) may read."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self._used = False

    @property
    def piped(self) -> bool:
        return not self._env.stdin_isatty

    def read(self, limit: int) -> bytes:
        """Up to limit + 1 bytes: one more than allowed says there was too much."""
        if self._used:
            raise UsageError(ONCE)
        self._used = True
        data: bytes = self._env.read_stdin_bytes(limit + 1)
        return data


def split_edit_args(args: Sequence[str], stdin: Stdin) -> tuple[list[str], str]:
    """`edit IMAGE... PROMPT`: the images and the prompt; with one argument and a piped stdin,
    the argument is the image and stdin the prompt. Raises UsageError."""
    if len(args) >= 2:
        _prompt_last(args)
        return list(args[:-1]), args[-1]
    if len(args) == 1 and stdin.piped and args[0] != "-":
        return list(args), "-"
    raise UsageError(
        "edit needs at least one image and a prompt: imggen edit IMAGE... PROMPT",
        hint="or pipe the prompt: echo 'make it blue' | imggen edit in.png",
    )


def _prompt_last(args: Sequence[str]) -> None:
    """`edit "make it blue" photo.png`: the last argument is a file and an earlier one is not
    (nor a URL, nor -): the prompt came first. Raises UsageError saying it goes last."""
    import os
    import shlex

    def is_file(arg: str) -> bool:
        return arg == "-" or "://" in arg or arg.startswith("data:") or os.path.isfile(arg)

    strays = [a for a in args[:-1] if not is_file(a)]
    if not strays or args[-1] == "-" or not os.path.isfile(args[-1]):
        return
    images = [a for a in args if a not in strays]
    fixed = " ".join(shlex.quote(a) for a in [*images, " ".join(strays)])
    raise UsageError(
        f"the prompt comes last: {strays[0]!r} is not a file, and {args[-1]!r} is",
        hint=f"imggen edit IMAGE... PROMPT: imggen edit {fixed}",
    )


def read_prompt(prompt: str | None, images: Sequence[str], stdin: Stdin, *, command: str) -> str:
    """The prompt: as given, or from stdin for `-` (or none with a piped stdin).
    Raises UsageError when there is none, or when stdin is asked for twice."""
    if prompt is None and stdin.piped:
        prompt = "-"
    if [prompt, *images].count("-") > 1:
        raise UsageError(ONCE)
    if prompt == "-":
        raw = stdin.read(PROMPT_CAP)
        if len(raw) > PROMPT_CAP:
            raise UsageError(
                f"the prompt on stdin is over {PROMPT_CAP // 1024} KiB; a prompt is text",
                hint="pipe the prompt's text, or pass the image as IMAGE",
            )
        prompt = raw.decode("utf-8", "replace").strip()
    if not prompt:
        example = (
            'imggen edit photo.png "make the sky stormy"'
            if command == "edit"
            else 'imggen generate "a red fox"'
        )
        raise UsageError("no prompt given", hint=f"{example} (or pipe it on stdin)")
    return prompt


def read_input(
    source: str, *, stdin: Stdin | None = None, what: str = "input image", max_bytes: int
) -> bytes:
    """The bytes of a local input image, or of stdin for `-`: a regular file only, its size
    checked before it is read, never more than `max_bytes` read. Raises InputError."""
    if source == "-":
        if stdin is None:
            raise InputError(f"{what} cannot be - (stdin) here")
        data = stdin.read(max_bytes)
        if len(data) > max_bytes:
            raise InputError(
                f"{what} on stdin is over {_size(max_bytes)}; gateways take at most that"
            )
        return data
    try:
        return bounded.read(Path(source).expanduser(), max_bytes)
    except FileNotFoundError:
        raise InputError(f"{what} {source} does not exist") from None
    except bounded.NotRegular as exc:
        pipe = " (pass - to read stdin)" if exc.kind != "a folder" else ""
        raise InputError(f"{what} {source} is {exc.kind}, not an image file{pipe}") from None
    except bounded.TooLarge as exc:
        raise InputError(
            f"{what} {source} is {_size(exc.size)}; gateways take at most {_size(max_bytes)}"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {source}: {exc.strerror}") from None


def load(
    source: str,
    *,
    stdin: Stdin | None = None,
    what: str = "input image",
    max_bytes: int,
) -> ImageInput:
    """An ImageInput from a path, `-` (stdin) or an http(s) URL. Raises InputError (exit 2)."""
    if source.startswith(("http://", "https://")):
        return ImageInput(source=source, url=source)
    if source.startswith("data:"):
        raise InputError(f"{what}: pass a file or an http(s) URL, not a data: URL")
    data = read_input(source, stdin=stdin, what=what, max_bytes=max_bytes)
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


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _inspect(data: bytes) -> tuple[tuple[int, int] | None, str | None]:
    """Pixel size, and the prompt imggen recorded if it made this image."""
    import io

    pixels = imagefile.dimensions(io.BytesIO(data))
    record = None
    if data[:4] == b"\x89PNG":
        record = read_png_record(imagefile.read_png_text(io.BytesIO(data)))
    prompt = (record or {}).get("prompt")
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
