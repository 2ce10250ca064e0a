"""The README's job providers rehearsal runs as written (in bash, against `python -m
imggen.testing`): submitted with --no-wait, collected by `imggen jobs wait`, one submission
counted by the gateway."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imggen.files import imagefile
from tests.test_readme import TIMEOUT, block, free_port


def test_job_providers_rehearsal_runs_as_written(tmp_path: Path) -> None:
    bash, curl = shutil.which("bash"), shutil.which("curl")
    if bash is None or curl is None:
        pytest.skip("bash or curl is not installed")
    port = free_port()
    script = block("Rehearse it offline").replace("8766", str(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "IMGGEN_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["IMGGEN_CONFIG"] = str(tmp_path / "config.toml")
    env["IMGGEN_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [bash, "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines[1]) == 16  # the job id --no-wait printed
    assert lines[2] == str(tmp_path / "fox.png")  # jobs wait saved it
    assert imagefile.sniff((tmp_path / "fox.png").read_bytes()[:64]) == "image/png"
    assert json.loads(lines[3])["submissions"] == {"fal": 1}
