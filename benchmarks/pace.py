"""Batch at the gateway's pace (issue 26): a manifest of 60 jobs at -j 16 against the offline
gateway limited to 600 requests a minute, once with OpenAI's x-ratelimit-* headers, once with
Retry-After only, once with bare 429s; each run's wall time next to the floor the limit allows
(60 requests at 10 a second: 6 s, plus one request's latency) and its count of 429s.

    python benchmarks/pace.py [--jobs 60] [--limit 600/min] [--latency 0.3] [-j 16]

Targets: with headers within 1.1x of the floor and at most 2 429s; without headers within 1.3x
of the floor for what was left after the first 429.
"""

from __future__ import annotations

import argparse
import io
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
from imggen.testing.ratelimit import RateLimit, parse  # noqa: E402

KEY = "bench-key"


class Watched(RateLimit):
    """The gateway's limit, noting when it first refused and how many it had let through."""

    first_refusal: float | None = None
    taken_before: int = 0

    def take(self) -> dict[str, str]:
        try:
            return super().take()
        except Exception:
            if self.first_refusal is None:
                self.first_refusal, self.taken_before = time.monotonic(), self.taken
            raise


def run(count: int, workers: int, limit: str, style: str, latency: float) -> dict[str, float]:
    """One fresh batch against a fresh gateway: wall time, 429s, saved, and the first 429."""
    with (
        FakeGateway(api_key=KEY, latency=latency) as gw,
        tempfile.TemporaryDirectory(prefix="imggen-pace-") as folder,
    ):
        gw.rate_limit = watched = Watched(*parse(limit), style=style)
        path = Path(folder) / "pace.jsonl"
        path.write_text(
            "".join(
                f'{{"prompt": "tile {i}", "output": "out/{i:03d}.png"}}\n' for i in range(count)
            )
        )
        environ = dict(os.environ)
        environ.update(
            IMGGEN_CONFIG=str(Path(folder) / "none.toml"),
            IMGGEN_BASE_URL=gw.base_url,
            IMGGEN_API_KEY=KEY,
            IMGGEN_MODEL="google/gemini-2.5-flash-image",
        )
        env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=environ, stderr_isatty=False)
        todo = tasks.build(manifest.load(path), env)
        began = time.monotonic()
        summary = batch.run_many(todo, env, UI(env, quiet=True), jobs=workers)
        ended = time.monotonic()
        return {
            "wall": ended - began,
            "refused": watched.refused,
            "saved": summary.count("saved"),
            "after": ended - watched.first_refusal if watched.first_refusal else 0.0,
            "left": count - watched.taken_before,
            "rate": watched.rate,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=60, help="jobs in the manifest")
    ap.add_argument("--limit", default="600/min", help="the gateway's rate limit")
    ap.add_argument("--latency", type=float, default=0.3, help="gateway seconds per image")
    ap.add_argument("-j", type=int, default=16, dest="workers", help="jobs at a time")
    args = ap.parse_args()
    n, period = parse(args.limit)
    floor = args.jobs / (n / period) + args.latency
    print(
        f"{args.jobs} jobs at -j {args.workers}, gateway limit {args.limit}, latency "
        f"{args.latency} s: floor {floor:.2f} s"
    )
    print(
        f"{'gateway says':<14}{'wall s':>8}{'/ floor':>9}{'429s':>6}{'saved':>7}"
        "  after the first 429"
    )
    ok = True
    for style in ("openai", "retry-after", "none"):
        r = run(args.jobs, args.workers, args.limit, style, args.latency)
        ratio = r["wall"] / floor
        after = ""
        if r["after"]:
            after_floor = r["left"] / r["rate"] + args.latency
            after = f"{r['after'] / after_floor:.2f}x of {after_floor:.1f} s"
        print(
            f"{style:<14}{r['wall']:>8.2f}{ratio:>8.2f}x{r['refused']:>6}{r['saved']:>7}  {after}"
        )
        if style == "openai":
            ok = ok and ratio <= 1.1 and r["refused"] <= 2
        elif r["after"]:
            ok = ok and r["after"] / (r["left"] / r["rate"] + args.latency) <= 1.3
        ok = ok and r["saved"] == args.jobs
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
