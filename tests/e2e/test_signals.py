"""Ctrl-C and CI cancellation (SPEC exit codes 130/143): SIGINT or SIGTERM at any moment of a
run ends the installed imggen within seconds, with one stderr line and no partial or temp file.
Each test starts imggen in the background, waits until the fake has recorded its request,
then signals it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from imggen.testing import FakeGateway, Fault
from tests.e2e import (
    PROMPT_EXIT,
    complete_png,
    env_only,
    interrupt,
    leftovers,
    lines,
    paths_of,
    png_size,
    start,
    temp_files,
    wait_for,
)

SIGNALS = {signal.SIGINT: (130, "SIGINT"), signal.SIGTERM: (143, "SIGTERM")}
KNOX = ("knox", "google/gemini-3-pro-image-preview")
# phase -> (preset and model, extra args, faults, requests recorded before the signal)
PHASES = {
    # the gateway is thinking: nothing at all comes back for a minute
    "waiting": (KNOX, ("--no-stream",), [Fault("stall", seconds=60)], "/v1/chat", 1),
    # headers sent, the SSE body trickles in 16 bytes every 20 ms
    "streaming": (KNOX, (), [Fault("slow", seconds=0.02)], "/v1/chat", 1),
    # seed 004: the reply was a link, and its host is silent
    "downloading": (
        ("xty", None),
        ("-a", "16:9"),
        [Fault("stall", seconds=60, path="/files/")],
        "/files/",
        1,
    ),
    # -n 3 on a chat gateway is three requests in parallel worker threads
    "waiting-n3": (KNOX, ("-n", "3", "--no-stream"), [Fault("stall", seconds=60)] * 3, "/v1/", 3),
    "streaming-n3": (KNOX, ("-n", "3"), [Fault("slow", seconds=0.02)] * 3, "/v1/", 3),
}


@pytest.mark.parametrize("signum", SIGNALS, ids=[name for _, name in SIGNALS.values()])
@pytest.mark.parametrize(
    ("target", "args", "faults", "prefix", "requests"), PHASES.values(), ids=PHASES
)
def test_signal_ends_the_run_promptly_leaving_nothing(
    signum: signal.Signals,
    target: tuple[str, str | None],
    args: tuple[str, ...],
    faults: list[Fault],
    prefix: str,
    requests: int,
    fake: FakeGateway,
    tmp_path: Path,
) -> None:
    preset, model = target
    fake.faults.extend(faults)
    proc = start(
        ["generate", "a red fox", "-o", "out/fox.png", *args],
        env_only(fake, preset, model),
        tmp_path,
    )
    try:
        wait_for(lambda: len(paths_of(fake, prefix)) >= requests)
        time.sleep(0.3)  # into the phase: headers read, a few bytes in
        ended = interrupt(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)

    code, name = SIGNALS[signum]
    assert ended.returncode == code, ended.stderr.decode()
    assert ended.seconds < PROMPT_EXIT
    assert lines(ended.stderr) == [
        f"error: interrupted by {name}; nothing partial was left on disk"
    ]
    assert ended.stdout == b""
    assert leftovers(tmp_path / "out") == []  # the folder was made before the request
    assert temp_files(tmp_path) == []


def test_signal_at_any_moment_of_a_large_image_leaves_only_whole_files(
    fake: FakeGateway, tmp_path: Path
) -> None:
    """A 2048x2048 noise PNG (~17 MB of base64 over SSE): signals land while it streams, is
    decoded to a temp file, checked, copied with its provenance, and renamed. Whatever the
    moment, the folder holds either nothing or the whole image, never a temp file."""
    fake.noise = True
    env = env_only(fake, *KNOX)
    args = ["generate", "noise", "-s", "2K", "-o", "out/noise.png", "--force"]

    def launch() -> tuple[subprocess.Popen[bytes], float]:
        fake.requests.clear()
        proc = start(args, env, tmp_path)
        wait_for(lambda: len(fake.requests) >= 1)
        return proc, time.monotonic()

    # how long a whole run takes from its request on, on this machine right now
    proc, asked = launch()
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    span = time.monotonic() - asked
    assert png_size(tmp_path / "out" / "noise.png") == (2048, 2048)

    outcomes = []
    for i, fraction in enumerate((0.0, 0.35, 0.5, 0.57, 0.64, 0.71, 0.8, 0.95)):
        (tmp_path / "out" / "noise.png").unlink(missing_ok=True)
        signum = (signal.SIGINT, signal.SIGTERM)[i % 2]
        proc, asked = launch()
        try:
            time.sleep(max(0.0, asked + fraction * span - time.monotonic()))
            if proc.poll() is None:
                ended = interrupt(proc, signum)
                code, err = ended.returncode, ended.stderr
            else:
                code, err = proc.returncode, proc.communicate()[1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)

        # -signum: the signal came as Python was already exiting with every file in place
        # (it has put the default handlers back by then); a shell shows 128+n all the same
        assert code in (0, SIGNALS[signum][0], -signum), err.decode()
        assert temp_files(tmp_path) == []
        saved = leftovers(tmp_path / "out")
        assert saved in ([], ["noise.png"])
        if code == 0:
            assert saved == ["noise.png"]
        if saved:
            path = tmp_path / "out" / "noise.png"
            assert complete_png(path) and png_size(path) == (2048, 2048)
        outcomes.append(code)
    assert outcomes[0] == SIGNALS[signal.SIGINT][0]  # sent as the request went out
