"""The process environment as one object: stdio, terminal facts, the HTTP transport and the
limits (timeouts, caps, retry pacing): the seams tests replace."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from imggen.limits import Limits


@dataclass
class Env:
    """What a command may touch of the outside world; tests hand in their own."""

    stdin: IO[Any] | None = None
    stdout: IO[Any] | None = None
    stderr: IO[Any] | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    transport: Any = None  # an httpx transport for tests; None: the network
    stdin_isatty: bool | None = None
    stderr_isatty: bool | None = None
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin or sys.stdin)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr or sys.stderr)

    @property
    def out(self) -> IO[Any]:
        return self.stdout or sys.stdout

    @property
    def err(self) -> IO[Any]:
        return self.stderr or sys.stderr

    @property
    def inp(self) -> IO[Any]:
        return self.stdin or sys.stdin

    def out_bytes(self) -> BinaryIO:
        """stdout as a binary stream (for `-o -`) whose write() writes every byte."""
        stream = self.out
        binary: BinaryIO = getattr(stream, "buffer", None) or stream  # type: ignore[assignment]
        if isinstance(binary, io.RawIOBase):  # python -u / PYTHONUNBUFFERED: a raw FileIO
            return _WholeWrites(binary)  # type: ignore[return-value]
        return binary

    def read_stdin_bytes(self, limit: int = -1) -> bytes:
        """stdin's bytes, at most `limit` of them (all with -1)."""
        stream = self.inp
        data = getattr(stream, "buffer", stream).read(limit)
        return data if isinstance(data, bytes) else str(data).encode()

    @property
    def no_color(self) -> bool:
        return bool(self.environ.get("NO_COLOR"))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _WholeWrites:
    """A raw stream whose write() takes only what a pipe has room for and says how much
    (None: nothing, on a non-blocking one), made to write all it is given."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            done = self._raw.write(view)
            if done is None:
                import select

                select.select([], [self._raw], [], 1.0)
            view = view[done or 0 :]
        return len(data)

    def flush(self) -> None:
        self._raw.flush()
