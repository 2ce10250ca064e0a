"""Waiting on 1,000 jobs in one process (issue 26): the poll scheduler (imggen.wire.polls)
driving a bounded pool of 16 polls at a time against a simulated job provider, on a fake clock.
Each job takes 5 to 120 s; the provider allows 50 polls a second over all jobs and answers 429
past that. Prints polls per job, how late each finished job was collected, 429s, and the peak
RSS of this process (the scheduler's own state for 1,000 jobs).

    python benchmarks/polls.py [--jobs 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import random
import resource
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imggen.wire.polls import Cadence, Polls  # noqa: E402

CADENCE = Cadence(first=1.0, least=1.0, most=15.0, factor=1.5, rate=50.0)
LATENCY = 0.05  # seconds a poll takes
WORKERS = 16


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(jobs: int, seed: int = 7) -> dict[str, Any]:
    """Run the scheduler over `jobs` simulated jobs; the figures of the run."""
    rng = random.Random(seed)
    clock = Clock()
    polls = Polls(CADENCE, clock=clock)
    ends = {k: rng.uniform(5, 120) for k in range(jobs)}
    for k in ends:
        polls.add(k)
    events: list[tuple[float, int, int]] = []  # (when, order, job or -1 for a wake-up)
    order = 0
    busy, collected, limited, wake = 0, {}, 0, -1.0
    bucket, stamp = 1.0, 0.0  # the provider's own limit: 50 a second, a second's worth at once
    while polls.waiting:
        while busy < WORKERS:
            due = polls.take()
            if due is None:
                break
            if isinstance(due, float):
                if not clock.now < wake <= clock.now + due:  # one wake-up pending at most
                    wake = clock.now + due
                    order += 1
                    heapq.heappush(events, (wake, order, -1))
                break
            assert isinstance(due, int)
            busy += 1
            order += 1
            heapq.heappush(events, (clock.now + LATENCY, order, due))
        if not events:
            break
        clock.now, _, job = heapq.heappop(events)
        if job < 0:
            continue
        busy -= 1
        bucket = min(CADENCE.rate or 1.0, bucket + (clock.now - stamp) * (CADENCE.rate or 1.0))
        stamp = clock.now
        if bucket < 1:
            limited += 1
            polls.limited(job, wait=1.0)
        elif clock.now >= ends[job]:
            bucket -= 1
            collected[job] = clock.now
            polls.finished(job)
        else:
            bucket -= 1
            polls.pending(job)
    counts = list(polls.counts.values())
    late = [collected[k] - ends[k] for k in collected]
    return {
        "finished": len(collected),
        "per_job_mean": statistics.mean(counts),
        "per_job_max": max(counts),
        "late_mean": statistics.mean(late),
        "late_max": max(late),
        "limited": limited,
        "seconds": clock.now,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    s = simulate(args.jobs, args.seed)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.jobs} jobs of 5-120 s, {WORKERS} polls at a time, provider limit "
        f"{CADENCE.rate:.0f} polls/s, gaps {CADENCE.first:.0f} s growing x{CADENCE.factor} to "
        f"{CADENCE.most:.0f} s"
    )
    print(f"finished and collected   {s['finished']} in {s['seconds']:.1f} s (simulated)")
    print(f"polls per job            mean {s['per_job_mean']:.1f}, max {s['per_job_max']}")
    print(f"collected after the end  mean {s['late_mean']:.1f} s, max {s['late_max']:.1f} s")
    print(f"429s on polls            {s['limited']}")
    print(f"peak RSS of this process {rss:.1f} MiB")
    return 0 if s["finished"] == args.jobs else 1


if __name__ == "__main__":
    raise SystemExit(main())
