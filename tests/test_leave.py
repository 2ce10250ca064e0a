"""The console script leaves without Python's interpreter teardown (cli.run): what a normal
exit does for the user must still happen, in a real child process each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The child runs cli.run() with cli.main replaced by BODY (a command's work, then its exit).
CHILD = """
import atexit, sys, threading, time
from pathlib import Path
import imggen.cli as cli
out = Path(sys.argv[1])

def main():
{body}

cli.main = main
cli.run()
"""


def child(
    body: str, tmp_path: Path, stdout: int = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    code = CHILD.format(body="\n".join("    " + line for line in body.strip().splitlines()))
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},  # stdout buffered
        timeout=60,
        check=False,
    )


def test_exit_functions_run_and_a_large_stdout_arrives_whole(tmp_path: Path) -> None:
    done = child(
        """
atexit.register(lambda: out.write_text("exit functions ran"))
sys.stdout.write("x" * 3_000_000)  # more than any pipe buffer: flushed before leaving
sys.stderr.write("warning: kept\\n")
""",
        tmp_path,
    )
    assert done.returncode == 0
    assert done.stdout == b"x" * 3_000_000
    assert done.stderr == b"warning: kept\n"
    assert (tmp_path / "out").read_text() == "exit functions ran"


def test_the_exit_code_is_kept(tmp_path: Path) -> None:
    done = child('print("partial")\nraise SystemExit(4)', tmp_path)
    assert (done.returncode, done.stdout) == (4, b"partial\n")


def test_a_message_exit_is_python_s(tmp_path: Path) -> None:
    done = child('raise SystemExit("error: said by Python")', tmp_path)
    assert done.returncode == 1
    assert done.stderr == b"error: said by Python\n"


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    """A non-daemon thread still at work: Python's usual exit, which waits for it."""
    done = child(
        """
def late():
    time.sleep(0.3)
    out.write_text("thread finished")
threading.Thread(target=late).start()
""",
        tmp_path,
    )
    assert done.returncode == 0
    assert (tmp_path / "out").read_text() == "thread finished"


def test_a_closed_stdout_is_python_s_to_report(tmp_path: Path) -> None:
    """The flush fails (the reader left): no os._exit, Python reports it as it always has."""
    r, w = os.pipe()
    os.close(r)
    try:
        done = child('sys.stdout.write("x")', tmp_path, stdout=w)
    finally:
        os.close(w)
    assert done.returncode == 120  # Python's code for a failed flush at exit
    assert b"BrokenPipeError" in done.stderr


def test_a_profiler_gets_to_write_its_figures(tmp_path: Path) -> None:
    """`python -m cProfile -o FILE imggen ...` writes FILE after run() returns."""
    script = tmp_path / "imggen"
    script.write_text("from imggen.cli import run\nrun()\n")
    figures = tmp_path / "figures.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(figures), str(script), "--version"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert figures.stat().st_size > 0
