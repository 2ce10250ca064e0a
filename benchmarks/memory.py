"""Peak memory and wall time of receiving a base64 image (issue 8), imggen next to the plain
recipe (`httpx.post().json()` + `base64.b64decode`), in one run against the in-process fake.

    python benchmarks/memory.py

Cases: images/generations `b64_json` and a chat reply with a data URL, each at 1024x1024 and
3840x2160 (random-noise PNGs, so base64 is ~1.3x the raw pixels). Each client runs as its own
process; its peak RSS comes from os.wait4. Target: imggen's 4K peak within 16 MiB of its 1K
peak, and its 4K wall time no worse than the plain recipe's.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


KEY = "bench-key"
# The fake runs in its own process: on Linux a child's ru_maxrss starts from its parent's
# high-water mark at fork, so the measuring process must stay small.
SERVER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from imggen.testing import FakeGateway
with FakeGateway(api_key=sys.argv[2]) as gw:
    gw.noise = True
    print(gw.url, flush=True)
    for line in sys.stdin:  # "W H" sets the image size; EOF stops the server
        w, h = map(int, line.split())
        gw.size = (w, h)
        print("ok", flush=True)
"""
PLAIN = r"""
import base64, json, sys, httpx
url, key, body, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
reply = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=300).json()
if "data" in reply:
    b64 = reply["data"][0]["b64_json"]
else:
    b64 = reply["choices"][0]["message"]["images"][0]["image_url"]["url"].split(",", 1)[1]
open(out, "wb").write(base64.b64decode(b64))
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


RUNS = 5  # each figure is the median of this many runs: the fake's own timing varies


def median_of(measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """Median wall time and median peak RSS over RUNS runs (imggen and plain alternate per
    case, so both see the same machine)."""
    samples = [measure() for _ in range(RUNS)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent)) or "imggen"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin and server.stdout
    url = server.stdout.readline().strip()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "IMGGEN_CONFIG": os.path.join(tmp, "none.toml")}
            # As installed: pip ships imggen's bytecode, so let an editable checkout cache its
            # own too (some machines set PYTHONDONTWRITEBYTECODE) and warm it once.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            subprocess.run([exe, "--help"], env=env, capture_output=True, check=False)
            measure_size(exe, url, env, tmp, 1024, 1024)
            for w, h in ((1024, 1024), (3840, 2160)):
                server.stdin.write(f"{w} {h}\n")
                server.stdin.flush()
                server.stdout.readline()
                rows.extend(measure_size(exe, url, env, tmp, w, h))
    finally:
        server.stdin.close()
        server.wait(30)
    print(
        f"{'case':<16} {'pixels':<10} {'PNG MB':>7} | {'imggen s':>8} {'RSS MiB':>8} | "
        f"{'plain s':>8} {'RSS MiB':>8}"
    )
    for name, px, size, iw, irss, pw, prss in rows:
        print(
            f"{name:<16} {px:<10} {size / 1e6:>7.1f} | {iw:>8.2f} {irss:>8.1f} | "
            f"{pw:>8.2f} {prss:>8.1f}"
        )
    for name in ("images b64_json", "chat data URL"):
        small, big = (r for r in rows if r[0] == name)
        print(
            f"{name}: 4K-1K peak RSS  imggen {big[4] - small[4]:+.1f} MiB, "
            f"plain {big[6] - small[6]:+.1f} MiB; 4K wall imggen/plain {big[3] / big[5]:.2f}"
        )


def measure_size(exe: str, url: str, env: dict[str, str], tmp: str, w: int, h: int) -> list:
    cases = {
        "images b64_json": (
            f"{url}/api/v1",
            "turing/gpt-image-2",
            "/images/generations",
            {"model": "turing/gpt-image-2", "prompt": "noise", "size": f"{w}x{h}"},
            ["-s", f"{w}x{h}"],
        ),
        "chat data URL": (
            f"{url}/v1",
            "google/gemini-3-pro-image-preview",
            "/chat/completions",
            {
                "model": "google/gemini-3-pro-image-preview",
                "messages": [{"role": "user", "content": "noise"}],
                "modalities": ["image", "text"],
            },
            ["--no-stream"],
        ),
    }
    rows = []
    for name, (base, model, path, body, extra) in cases.items():
        out = os.path.join(tmp, f"{name[:4]}-{w}.png")
        ienv = {**env, "IMGGEN_BASE_URL": base, "IMGGEN_API_KEY": KEY, "IMGGEN_MODEL": model}
        ours = [exe, "generate", "noise", "-o", out, "--force", "-q", *extra]
        iw, irss = median_of(functools.partial(run, ours, ienv))
        size = os.path.getsize(out)
        plain = [sys.executable, "-c", PLAIN, base + path, KEY, json.dumps(body), out + ".plain"]
        pw, prss = median_of(functools.partial(run, plain, env))
        rows.append((name, f"{w}x{h}", size, iw, irss, pw, prss))
    return rows


if __name__ == "__main__":
    main()
