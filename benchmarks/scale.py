"""Batch at scale (issue 26): a manifest of 1,000 and of 10,000 jobs, planned (`--dry-run`), run
against the offline gateway at -j 16, resumed (every job skipped), and its gallery written with
`--report`; each step's wall time and the installed `imggen`'s peak RSS (os.wait4).

    python benchmarks/scale.py [--sizes 1000,10000] [-j 16]

The gateway runs in its own process (its memory is not counted) with 64x64 images, so the
figures are imggen's own. Bytecode is cached (in a temporary PYTHONPYCACHEPREFIX, warmed by
one small run first), as an installed package has it: PYTHONDONTWRITEBYTECODE would otherwise
make every step compile imggen again. Run it with another install's Python (its `imggen`
beside it) for a baseline: the report step imports the same install.

Targets: 10,000 jobs plan in under 2 s; run and resume with peak RSS under 128 MiB at both
sizes; the gallery of 10,000 jobs in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "bench-key"
SERVER = r"""
import sys
from imggen.testing import FakeGateway
gw = FakeGateway(api_key=sys.argv[1])
gw.honour_size = False  # 64x64 whatever was asked: imggen's cost, not the gateway's PNGs
with gw:
    print(gw.base_url, flush=True)
    for line in sys.stdin:  # "reset" forgets the recorded requests; EOF stops it
        gw.requests.clear()
"""


def imggen() -> list[str]:
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "imggen"]


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit code, stderr tail) of one imggen run.
    CPU time (user + system) is the figure that holds on a busy shared machine."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, code, err[-400:]


def environment(here: Path, base: str, pycache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        IMGGEN_CONFIG=str(here / "none.toml"),
        IMGGEN_BASE_URL=base,
        IMGGEN_API_KEY=KEY,
        IMGGEN_MODEL="google/gemini-2.5-flash-image",
        IMGGEN_NO_LOG="1",
        PYTHONPYCACHEPREFIX=pycache,
    )
    return env


def warm(base: str, pycache: str) -> None:
    """One small plan and run, unmeasured: the bytecode of every module a step imports."""
    with tempfile.TemporaryDirectory(prefix="imggen-scale-warm-") as folder:
        here = Path(folder)
        (here / "m.jsonl").write_text(json.dumps({"prompt": "warm", "output": "w.png"}) + "\n")
        env = environment(here, base, pycache)
        for argv in (["--dry-run"], ["--report", "g.html", "-q"]):
            subprocess.run(
                [*imggen(), "batch", "m.jsonl", *argv],
                env=env,
                cwd=here,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000", help="manifest sizes, comma-separated")
    ap.add_argument("-j", type=int, default=16, dest="workers")
    ap.add_argument(
        "--steps",
        default="plan,run,resume,report",
        help="which steps (resume and report: after run)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="run the plan step this many times")
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, KEY], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdin is not None
    base = server.stdout.readline().decode().strip()
    ok = True
    pycache = tempfile.TemporaryDirectory(prefix="imggen-scale-pyc-")
    warm(base, pycache.name)
    print(f"{'jobs':>6} {'step':<10}{'wall s':>8}{'CPU s':>8}{'peak RSS MiB':>14}  exit")
    try:
        for count in (int(n) for n in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="imggen-scale-") as folder:
                here = Path(folder)
                (here / "m.jsonl").write_text(
                    "".join(
                        json.dumps({"prompt": f"tile {i}", "output": f"out/{i:05d}.png"}) + "\n"
                        for i in range(count)
                    )
                )
                env = environment(here, base, pycache.name)
                j = str(args.workers)
                wanted = args.steps.split(",")
                steps = [("plan", ["batch", "m.jsonl", "--dry-run"])] * args.repeat
                steps += [
                    ("run", ["batch", "m.jsonl", "-j", j, "-q"]),
                    ("resume", ["batch", "m.jsonl", "-j", j, "-q"]),
                ]
                for name, argv in [(n, a) for n, a in steps if n in wanted]:
                    wall, cpu, rss, code, err = timed([*imggen(), *argv], env, here)
                    print(f"{count:>6} {name:<10}{wall:>8.2f}{cpu:>8.2f}{rss:>14.1f}  {code}")
                    if code:
                        print(err, file=sys.stderr)
                    ok = ok and code == 0 and rss < 128
                    if name == "plan" and count >= 10_000:
                        ok = ok and min(wall, cpu) < 2.0
                    server.stdin.write(b"reset\n")
                    server.stdin.flush()
                if "report" in wanted:
                    ok = report(count, here, env) and ok
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        pycache.cleanup()
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


def report(count: int, here: Path, env: dict[str, str]) -> bool:
    """The gallery of the resumed run (every job skipped), rendered and written in-process:
    its wall time and how many pages it made."""
    try:  # the install whose `imggen` the steps ran, not this checkout's source
        import imggen  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import io

    from imggen.batch import manifest
    from imggen.batch import plan as tasks
    from imggen.batch import report as gallery
    from imggen.batch import run as batch
    from imggen.console import UI
    from imggen.env import Env

    quiet = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=env, stderr_isatty=False)
    m = manifest.load(here / "m.jsonl")
    summary = batch.run_many(tasks.build(m, quiet), quiet, UI(quiet, quiet=True), jobs=16)
    began, cpu = time.perf_counter(), time.process_time()
    pages = len(gallery.write(here / "g.html", summary, m.path, None))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(f"{count:>6} {'report':<10}{wall:>8.2f}{cpu:>8.2f}{'':>14}  {pages} page(s)")
    return min(wall, cpu) < 2.0


if __name__ == "__main__":
    raise SystemExit(main())
