"""Waiting on many jobs in one process (issues 23, 26), two ways:

1. Simulated (fast, no I/O): the poll scheduler (imggen.wire.polls) driving a bounded pool of 16
   polls at a time against a simulated provider, on a fake clock. Each job takes 5 to 120 s;
   the provider allows 50 polls a second and answers 429 past that. Polls per job, how late each
   finished job was collected, 429s, this process's peak RSS.

2. Against the offline gateway (`--gateway 200,1000`): N fal jobs submitted with
   `imggen batch --no-wait`, then collected by one `imggen jobs wait` (its peak RSS from
   os.wait4, its threads sampled from /proc, the gateway's count of requests about the jobs).
   The baseline, measured in the same run on as many fresh jobs of the same timing, is how
   fal's own client waits (`fal.subscribe`: a status poll every 0.5 s, fal-ai/fal-js queue.ts
   DEFAULT_POLL_INTERVAL) with one thread per job, as a script waiting on each job does.
   The gateway runs in its own process; its memory is not counted.

    python benchmarks/polls.py [--jobs 1000] [--seed 7] [--gateway 200,1000] [--queue 20]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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


KEY = "bench-key"
SERVER = r"""
import json, sys
from imggen.testing import FakeGateway
gw = FakeGateway(api_key=sys.argv[1])
gw.honour_size = False  # 64x64 images: imggen's cost, not the gateway's PNGs
with gw:
    print(gw.url, flush=True)
    for line in sys.stdin:  # "set FIELD VALUE" | "counts"; EOF stops it
        cmd = line.split()
        if cmd[0] == "set":
            setattr(gw.jobs, cmd[1], float(cmd[2]))
        else:
            print(json.dumps(gw.jobs.counts()), flush=True)
"""

# fal.subscribe, as a script waiting on each job in its own thread does it: submit, poll the
# status every 0.5 s until COMPLETED, read the result, download the image.
BASELINE = r"""
import json, sys, threading, time, httpx
base, key, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
headers = {"Authorization": f"Key {key}"}
client = httpx.Client(headers=headers, timeout=60, limits=httpx.Limits(max_connections=64))
subs = [client.post(base + "/fal/fal-ai/flux/schnell", json={"prompt": f"tile {i}",
        "image_size": "square"}).json() for i in range(jobs)]
print("submitted", flush=True)
sys.stdin.readline()  # the measuring process has read the counters: go
errors = []
def get(url):  # a failed request is asked again (and counted), as a careful script would
    for _ in range(20):
        try:
            return client.get(url)
        except httpx.HTTPError as exc:
            errors.append(exc)
            time.sleep(0.5)
    raise SystemExit("the gateway stopped answering")
def wait(sub):
    while get(sub["status_url"]).json()["status"] != "COMPLETED":
        time.sleep(0.5)
    url = get(sub["response_url"]).json()["images"][0]["url"]
    assert len(get(url).content) > 100  # the image (fal sends JPEG unless asked)
threads = [threading.Thread(target=wait, args=(s,)) for s in subs]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), flush=True)
"""


def imggen() -> list[str]:
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "imggen"]


class Gateway:
    """The offline gateway in its own process: its job switches and counters."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, KEY],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.out, self.inp = self.proc.stdout, self.proc.stdin
        self.url = self.out.readline().strip()

    def set(self, name: str, value: float) -> None:
        self.inp.write(f"set {name} {value}\n")
        self.inp.flush()

    def asked(self) -> int:
        """Requests about fal jobs answered so far (status polls and result reads)."""
        self.inp.write("counts\n")
        self.inp.flush()
        return int(json.loads(self.out.readline())["polls"].get("fal", 0))

    def close(self) -> None:
        self.inp.close()
        self.proc.wait(timeout=30)


def watched(proc: subprocess.Popen[bytes]) -> tuple[int, float, int, float]:
    """(exit code, peak RSS MiB from os.wait4, most threads seen in /proc, CPU seconds) of a
    child, waited on while a thread samples its thread count."""
    most = [0]
    done = threading.Event()  # (not proc.poll(): it would reap the child before os.wait4)

    def sample() -> None:
        while not done.is_set():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("Threads:"):
                        most[0] = max(most[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join(timeout=1)
    cpu = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, most[0], cpu


def imggen_wait(gw: Gateway, jobs: int) -> dict[str, Any]:
    """N jobs submitted (`batch --no-wait`), then collected by one `imggen jobs wait`."""
    with tempfile.TemporaryDirectory(prefix="imggen-polls-") as folder:
        here = Path(folder)
        (here / "m.jsonl").write_text(
            "".join(
                json.dumps({"prompt": f"tile {i}", "output": f"out/{i:05d}.png", "size": "512"})
                + "\n"
                for i in range(jobs)
            )
        )
        env = dict(os.environ)
        env.update(
            IMGGEN_CONFIG=str(here / "none.toml"),
            IMGGEN_PROFILE="fal",
            IMGGEN_BASE_URL=gw.url + "/fal",
            IMGGEN_API_KEY=KEY,
            IMGGEN_MODEL="fal-ai/flux/schnell",
            IMGGEN_NO_LOG="1",
            IMGGEN_STATE_DIR=str(here / "state"),
        )
        argv = [*imggen(), "batch", "m.jsonl", "--no-wait", "-j", "32", "-q"]
        submit = subprocess.run(argv, env=env, cwd=here, capture_output=True, check=False)
        if submit.returncode:
            raise SystemExit(submit.stderr.decode()[-2000:])
        before, began = gw.asked(), time.perf_counter()
        proc = subprocess.Popen(
            [*imggen(), "jobs", "wait", "-q"],
            env=env,
            cwd=here,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        code, rss, threads, cpu = watched(proc)
        wall = time.perf_counter() - began
        saved = len(list((here / "out").glob("*.png")))
    return {
        "code": code,
        "saved": saved,
        "asked": gw.asked() - before,
        "rss": rss,
        "threads": threads,
        "cpu": cpu,
        "wall": wall,
    }


def baseline_wait(gw: Gateway, jobs: int) -> dict[str, Any]:
    """The same number of fresh jobs, waited on as fal.subscribe does, one thread each."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BASELINE, gw.url, KEY, str(jobs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()
    before, began = gw.asked(), time.perf_counter()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    code, rss, threads, cpu = watched(proc)  # type: ignore[arg-type]
    wall = time.perf_counter() - began
    return {
        "code": code,
        "saved": jobs if code == 0 else 0,
        "asked": gw.asked() - before,
        "rss": rss,
        "threads": threads,
        "cpu": cpu,
        "wall": wall,
        "errors": proc.stdout.readline().strip(),  # failed requests it asked again
    }


def gateway_runs(sizes: list[int], queue: float) -> bool:
    """Each size waited on by imggen and by the baseline; the figures, and whether imggen
    collected every job with bounded threads."""
    gw = Gateway()
    ok = True
    print(
        f"each job queued {queue:.0f} s, then running 2 s; 'asked': status polls and result "
        "reads the gateway answered, a job"
    )
    print(
        f"{'jobs':>6} {'waiter':<10}{'asked/job':>10}{'peak RSS MiB':>14}{'threads':>9}"
        f"{'CPU s':>8}{'wall s':>8}"
    )
    try:
        gw.set("queue_seconds", queue)
        gw.set("run_seconds", 2.0)
        for n in sizes:
            mine = imggen_wait(gw, n)
            base = baseline_wait(gw, n)
            for name, r in (("imggen", mine), ("baseline", base)):
                print(
                    f"{n:>6} {name:<10}{r['asked'] / n:>10.1f}{r['rss']:>14.1f}"
                    f"{r['threads']:>9}{r['cpu']:>8.1f}{r['wall']:>8.1f}"
                )
            print(
                f"{n:>6} {'ratio':<10}{mine['asked'] / max(1, base['asked']):>10.2f}"
                f"{mine['rss'] / base['rss']:>14.2f}{mine['threads'] / base['threads']:>9.2f}"
                f"{mine['cpu'] / max(0.01, base['cpu']):>8.2f}"
                f"{mine['wall'] / base['wall']:>8.2f}"
            )
            if base["errors"] not in ("", "0"):
                print(f"       (the baseline met {base['errors']} failed requests, asked again)")
            ok = ok and mine["code"] == 0 and mine["saved"] == n and mine["threads"] <= 24
    finally:
        gw.close()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gateway", default="", help="job counts to wait on via the gateway: 200,1000")
    ap.add_argument("--queue", type=float, default=20.0, help="seconds each job sits queued")
    args = ap.parse_args()
    if args.gateway:
        sizes = [int(n) for n in args.gateway.split(",")]
        return 0 if gateway_runs(sizes, args.queue) else 1
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
