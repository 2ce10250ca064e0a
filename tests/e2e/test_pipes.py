"""imggen in a shell pipeline whose reader leaves early (`imggen ... | head -1`): it stops
quietly, with the status a shell reports for a writer SIGPIPE ended, and no "internal error"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import SENTINEL_KEY, imggen_exe


def test_a_reader_that_leaves_early_gets_no_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "IMGGEN_BASE_URL": "http://127.0.0.1:9/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
    }
    read, write = os.pipe()
    os.close(read)  # the reader is gone before imggen writes its first line
    child = subprocess.run(
        [*imggen_exe(), "generate", "a red fox", "--dry-run"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    os.close(write)
    assert child.returncode == 141, child.stderr.decode()
    assert b"internal error" not in child.stderr
    assert b"Traceback" not in child.stderr
    assert SENTINEL_KEY.encode() not in child.stderr
