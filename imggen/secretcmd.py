"""A command that prints a secret (an API key, a signing key or certificate): run in a session
and process group of its own, without a terminal or stdin (which may hold the prompt), its
output capped and never shown; on timeout, too much output or an interrupt, the whole group is
killed, grandchildren included."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Printed:
    """What the command printed, and how it ended: `why` is "timeout" or "too much" when it
    was stopped early (then `code` is None), else "" with its exit code."""

    out: bytes
    why: str
    code: int | None


def run(cmd: Sequence[str], *, timeout: float, cap: int) -> Printed:
    """Run `cmd` and read what it prints. Raises OSError when it cannot be started."""
    proc = subprocess.Popen(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    finished = False
    try:
        out, why = _read_output(proc, timeout, cap)
        code = None if why else proc.wait()
        finished = not why
    finally:
        _stop(proc, kill=not finished)
    return Printed(out, why, code)


def _read_output(proc: subprocess.Popen[bytes], timeout: float, cap: int) -> tuple[bytes, str]:
    """Its stdout until EOF, or until it has exited and its pipe stays quiet (a background
    grandchild may hold the pipe open for ever); "timeout" or "too much" say why it stopped
    early."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    out = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(out), "timeout"
            if sel.select(min(left, 0.1)):
                data = os.read(fd, 65536)
                if not data:
                    return bytes(out), ""
                out += data
                if len(out) > cap:
                    return bytes(out), "too much"
            elif proc.poll() is not None:
                return bytes(out), ""


def _stop(proc: subprocess.Popen[bytes], *, kill: bool) -> None:
    """Close the pipe; unless the command finished, kill its whole process group first (a
    timeout, too much output, an interrupt): the group outlives its leader while any
    grandchild is in it. A command that finished leaves its group to itself."""
    if kill:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass  # the group is gone already
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
