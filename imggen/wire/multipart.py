"""multipart/form-data bodies for images/edits (seed 002), as chunks with a known length so
large uploads can show progress. Pure: no I/O."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from imggen.job import HttpCall


def multipart(
    call: HttpCall, on_bytes: Callable[[int, int | None], None]
) -> tuple[Iterator[bytes], str, int]:
    """A multipart/form-data body as chunks, with its content type and length (so large
    uploads can show progress)."""
    boundary = os.urandom(16).hex()
    pieces: list[bytes] = []
    for name, value in call.form:
        pieces.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_q(name)}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for part in call.files:
        pieces.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_q(part.field)}"; '
                f'filename="{_q(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n'
            ).encode()
        )
        pieces.append(part.data)
        pieces.append(b"\r\n")
    pieces.append(f"--{boundary}--\r\n".encode())
    total = sum(len(p) for p in pieces)

    def chunks() -> Iterator[bytes]:
        step = 256 * 1024
        for piece in pieces:
            for i in range(0, len(piece), step):
                block = piece[i : i + step]
                on_bytes(len(block), total)
                yield block

    return chunks(), f"multipart/form-data; boundary={boundary}", total


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")
