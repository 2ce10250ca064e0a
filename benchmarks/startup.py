"""Start-up figures (issue 8): median wall time of `imggen --version`, `imggen --help` and one
TAB completion, next to a bare `python -c pass`, measured in the same run.

    python benchmarks/startup.py [--runs 21]

Targets on a 2-core machine: --version within 3x bare Python; --help and completion <= 150 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median seconds over `runs` runs, after one warm-up."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent)) or "imggen"
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "IMGGEN_CONFIG": os.path.join(tmp, "config.toml")}
    # As installed: pip ships imggen's bytecode; an editable checkout must be allowed to cache
    # its own (some machines set PYTHONDONTWRITEBYTECODE), and measure() warms it up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    complete_env = {
        **env,
        "_IMGGEN_COMPLETE": "complete_bash",
        "COMP_WORDS": "imggen generate -m ",
        "COMP_CWORD": "3",
    }
    bare = measure([sys.executable, "-c", "pass"], env, args.runs)
    rows = [
        ("python -c pass", bare, ""),
        (
            "imggen --version",
            measure([exe, "--version"], env, args.runs),
            f"<= {3 * bare * 1000:.0f} ms (3x bare)",
        ),
        ("imggen --help", measure([exe, "--help"], env, args.runs), "<= 150 ms"),
        ("imggen TAB (-m)", measure([exe], complete_env, args.runs), "<= 150 ms"),
    ]
    print(f"{'command':<20} {'median':>9} {'x bare':>7}  target")
    for name, seconds, target in rows:
        print(f"{name:<20} {seconds * 1000:>7.1f}ms {seconds / bare:>6.1f}x  {target}")
    print(f"({args.runs} runs each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
