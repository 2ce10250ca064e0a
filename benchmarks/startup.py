"""Start-up figures (issue 8): median wall time of `imggen --version`, `imggen --help` and one
TAB completion, next to a bare `python -c pass`, measured in the same run.

    python benchmarks/startup.py [--runs 21] [--also OTHER/bin/imggen ...]

--also times another install (say main's, as "before") in the same run, its rows after these.

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


def measure(commands: list[tuple[list[str], dict[str, str]]], runs: int) -> list[float]:
    """Median seconds of each command over `runs` runs, after one warm-up, the commands taking
    turns so that each sees the same machine."""
    times: list[list[float]] = [[] for _ in commands]
    for i in range(runs + 1):
        for (argv, env), got in zip(commands, times, strict=True):
            start = time.perf_counter()
            subprocess.run(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )
            if i:
                got.append(time.perf_counter() - start)
    return [statistics.median(got) for got in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--also", action="append", default=[], metavar="IMGGEN", help="another install to time"
    )
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
    names = ["python -c pass"]
    commands = [([sys.executable, "-c", "pass"], env)]
    for i, imggen in enumerate([exe, *args.also]):
        tag = "" if not i else f" [{i}]"
        names += [f"imggen --version{tag}", f"imggen --help{tag}", f"imggen TAB (-m){tag}"]
        commands += [
            ([imggen, "--version"], env),
            ([imggen, "--help"], env),
            ([imggen], complete_env),
        ]
    medians = measure(commands, args.runs)
    bare = medians[0]
    targets = {"--version": f"<= {3 * bare * 1000:.0f} ms (3x bare)", "--help": "<= 150 ms"}
    rows = [
        (name, seconds, next((t for k, t in targets.items() if k in name), "<= 150 ms"))
        for name, seconds in zip(names, medians, strict=True)
    ]
    rows[0] = (names[0], bare, "")
    print(f"{'command':<20} {'median':>9} {'x bare':>7}  target")
    for name, seconds, target in rows:
        print(f"{name:<20} {seconds * 1000:>7.1f}ms {seconds / bare:>6.1f}x  {target}")
    print(f"({args.runs} runs each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    for i, imggen in enumerate(args.also, 1):
        print(f"[{i}] {imggen}")


if __name__ == "__main__":
    main()
