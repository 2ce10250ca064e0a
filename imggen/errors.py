"""The exit codes of SPEC.md and the exception tree that carries them.

    ImggenError                 1  a bug; also the base class
    ├── UsageError              2  bad flag value, unreadable input, refused size, file exists
    │   ├── SizeRefused
    │   ├── InputError
    │   ├── FileExists
    │   └── NameTooLong            an output name the filesystem cannot hold
    ├── ConfigError             3  no profile, no key, bad TOML
    │   ├── NoModel                no model given or configured
    │   └── AuthFailed             401 / 403 from the gateway
    ├── GatewayRefused          4  content filter, invalid request, unknown model
    │   └── ContentFiltered        never retried, whatever its status
    ├── GatewayFailed           5  5xx, 429, timeouts, broken streams, bad image data
    │   ├── DeadlineExceeded       --timeout ran out
    │   └── LinkExpired            an image URL that no longer serves an image
    ├── NoImage                 6  the gateway answered without an image
    ├── WriteFailed             7  the image arrived but could not be written (I/O, permission)
    │   └── DiskFull               no space left (ENOSPC, EDQUOT)
    └── Interrupted          130/143  SIGINT / SIGTERM

Every message says what happened; ``hint`` says what to do about it.
"""

from __future__ import annotations

import copy
import enum
from typing import Any, Self


class ExitCode(enum.IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    REFUSED = 4
    FAILED = 5
    NO_IMAGE = 6
    WRITE = 7
    BUDGET = 8  # batch --max-cost reached: jobs left unstarted, the next run resumes them
    SIGINT = 130
    SIGTERM = 143


class ImggenError(Exception):
    """Base of every error imggen reports to a user as one line."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status  # the HTTP status the gateway answered with, if it answered one
        self.delivered = delivered  # a stream had started delivering: the image was likely billed

    def as_delivered(self) -> Self:
        """This error marked as raised after a stream began delivering: a copy (the same
        class, message and hint), or itself when it is marked already."""
        if self.delivered:
            return self
        marked = copy.copy(self)
        marked.delivered = True
        return marked

    def as_json(self) -> dict[str, Any]:
        """The error as --json, batch results and doctor report it."""
        return {
            "class": type(self).__name__,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }


class UsageError(ImggenError):
    exit_code = ExitCode.USAGE


class SizeRefused(UsageError):
    """A size, aspect or option the model cannot take; raised before any request."""


class InputError(UsageError):
    """An input image, mask or manifest that cannot be used."""


class FileExists(UsageError):
    """An output file exists and --force was not given."""


class NameTooLong(UsageError):
    """ENAMETOOLONG: a file or folder name longer than the filesystem takes."""


class ConfigError(ImggenError):
    exit_code = ExitCode.CONFIG


class NoModel(ConfigError):
    """The profile names no model and none was given."""


class NotAnApi(ConfigError):
    """base_url answers with web pages (an HTML 404, a 501 for POST): a website or a plain
    web server, not the gateway's API. Not retried: no later try will find an API there."""


class AuthFailed(ConfigError):
    """The gateway rejected the key (401/403)."""


class GatewayRefused(ImggenError):
    exit_code = ExitCode.REFUSED


class ContentFiltered(GatewayRefused):
    """A content-filter refusal (seed 002: code contentFilter); never retried."""


class GatewayFailed(ImggenError):
    exit_code = ExitCode.FAILED


class DeadlineExceeded(GatewayFailed):
    """--timeout ran out; never retried."""


class LinkExpired(GatewayFailed):
    """An image URL answered 403/404/410 or a page instead of an image."""


class NoImage(ImggenError):
    """The gateway answered, but with no image; ``text`` is what it said instead."""

    exit_code = ExitCode.NO_IMAGE

    def __init__(self, message: str, *, text: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.text = text


class WriteFailed(ImggenError):
    """The image arrived (and was likely paid for) but could not be written where asked."""

    exit_code = ExitCode.WRITE


class DiskFull(WriteFailed):
    """ENOSPC or EDQUOT while writing."""


class Interrupted(ImggenError):
    """SIGINT or SIGTERM arrived; ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int = 2) -> None:
        name = "SIGTERM" if signum == 15 else "SIGINT"
        super().__init__(f"interrupted by {name}; nothing partial was left on disk")
        self.exit_code = ExitCode.SIGTERM if signum == 15 else ExitCode.SIGINT
