"""Batch concurrency (issue 7): wall time of 64 jobs at 0.5 s gateway latency with -j 8, next
to the ideal (8 waves x 0.5 s) and to a sequential loop (-j 1), in one run, against the
in-process fake gateway.

    python benchmarks/batch_concurrency.py [--jobs 64] [--latency 0.5] [-j 8]

Target (SPEC "Quality bars"): -j 8 within a small margin of the ideal, far below sequential.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imggen.batch import manifest  # noqa: E402
from imggen.batch import plan as tasks  # noqa: E402
from imggen.batch import run as batch  # noqa: E402
from imggen.console import UI  # noqa: E402
from imggen.env import Env  # noqa: E402
from imggen.testing import FakeGateway  # noqa: E402

KEY = "bench-key"


def run(gw: FakeGateway, count: int, workers: int) -> tuple[float, int, int]:
    """(wall seconds, images saved, requests sent) of one fresh batch."""
    with tempfile.TemporaryDirectory(prefix="imggen-bench-") as folder:
        path = Path(folder) / "bench.jsonl"
        path.write_text(
            "".join(
                f'{{"prompt": "tile {i}", "output": "out/{i:03d}.png"}}\n' for i in range(count)
            )
        )
        environ = dict(os.environ)
        environ.update(
            IMGGEN_CONFIG=str(Path(folder) / "none.toml"),
            IMGGEN_BASE_URL=f"{gw.url}/v1",
            IMGGEN_API_KEY=KEY,
            IMGGEN_MODEL="google/gemini-2.5-flash-image",
        )
        env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=environ, stderr_isatty=False)
        todo = tasks.build(manifest.load(path), env)
        sent = len(gw.requests)
        began = time.perf_counter()
        summary = batch.run_many(todo, env, UI(env, quiet=True), jobs=workers)
        wall = time.perf_counter() - began
        return wall, summary.count("saved"), len(gw.requests) - sent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=64, help="jobs in the manifest")
    ap.add_argument("--latency", type=float, default=0.5, help="gateway seconds per image")
    ap.add_argument("-j", type=int, default=8, dest="workers", help="jobs at a time")
    args = ap.parse_args()
    waves = math.ceil(args.jobs / args.workers)
    ideal = waves * args.latency
    with FakeGateway(api_key=KEY, latency=args.latency) as gw:
        par, par_saved, par_sent = run(gw, args.jobs, args.workers)
        seq, seq_saved, seq_sent = run(gw, args.jobs, 1)
    print(f"{args.jobs} jobs, gateway latency {args.latency} s, in-process fake on 127.0.0.1")
    print(f"{'run':<22}{'wall s':>9}{'saved':>7}{'requests':>10}{'vs ideal':>10}")
    rows = [
        (f"-j {args.workers}", par, par_saved, par_sent),
        ("-j 1 (sequential)", seq, seq_saved, seq_sent),
    ]
    print(f"{f'ideal ({waves} waves)':<22}{ideal:>9.2f}{'':>7}{'':>10}{1.0:>9.2f}x")
    for name, wall, saved, sent in rows:
        print(f"{name:<22}{wall:>9.2f}{saved:>7}{sent:>10}{wall / ideal:>9.2f}x")
    print(f"speed-up of -j {args.workers} over sequential: {seq / par:.1f}x")
    ok = par_saved == seq_saved == args.jobs and par <= 1.5 * ideal
    print("target met" if ok else "target NOT met (-j run above 1.5x the ideal, or jobs lost)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
