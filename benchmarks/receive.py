"""How fast imggen receives an image (issues 15 and 26), as ratios to plain recipes measured in
the same run against the same loopback server:

- a 3840x2160 noise PNG as images-API `b64_json` (~33 MB body) next to a bare one-pass script on
  the same libraries (httpx + pybase64, no CLI, no checks: target <= 1.3x, issue 26) and
  `curl | jq -r .data[0].b64_json | base64 -d` (target <= 0.5x);
- a 4096x4096 noise PNG in one SSE event (~67 MB data URL, sent in 64 KiB chunks) next to the
  same bare one-pass script and the httpx recipe `iter_lines()` + `json.loads` +
  `base64.b64decode` (target <= 0.45x);
- what provenance costs: the b64_json case again with `--provenance off` (no marker, no record),
  its time as a ratio and the bytes the marker and record add (issue 21: no measurable change).

    python benchmarks/receive.py [--runs 5] [--also OTHER/bin/imggen ...]

The server is a process of its own that sends prebuilt bodies (no JSON or PNG work per
request), so the figures are the clients'. Each figure is the median of --runs runs, the
clients taking turns; CPU is the child's user + system time and peak RSS its high-water mark
(os.wait4), the measuring process staying small. On a shared machine wall times swing with the
load while CPU times hold better, so both are shown, with the range of the per-turn wall ratios.
--also times another install (say main's, as "before") in the same turns. Without curl or jq on
PATH that baseline is skipped, and the line says so.
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
from collections.abc import Callable
from pathlib import Path

import stream_memory  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"

SERVER = r"""
import base64, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[1])
from imggen.testing import make_png

def data_url(w, h):
    return "data:image/png;base64," + base64.b64encode(make_png(w, h, noise=True)).decode()

b64 = base64.b64encode(make_png(3840, 2160, noise=True)).decode()
IMAGES = json.dumps({"created": 0, "data": [{"b64_json": b64}]}).encode()
del b64
event = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "",
         "images": [{"type": "image_url", "image_url": {"url": data_url(4096, 4096)}}]}}]}
SSE = b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
del event
PIECE = 64 * 1024

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        if self.path.endswith("/chat/completions"):
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            view = memoryview(SSE)
            for i in range(0, len(view), PIECE):
                piece = view[i : i + PIECE]
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(IMAGES)))
            self.end_headers()
            self.wfile.write(IMAGES)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
sys.stdin.read()  # EOF stops the server
server.shutdown()
"""

CURL_JQ = (
    'set -o pipefail; curl -sS --fail -H "Authorization: Bearer $KEY" '
    '-H \'Content-Type: application/json\' -d \'{"model":"m","prompt":"noise"}\' "$URL" '
    "| jq -r '.data[0].b64_json' | base64 -d > \"$OUT\""
)


# The floor imggen is held to (issue 26): the same libraries, one pass, nothing else. It streams
# the reply, finds the base64 run after MARKER and decodes it with pybase64 straight to OUT. Like
# imggen (wire/__init__.py) it keeps httpx from importing its command-line client where click is
# installed, so that the floor is the same with or without click.
BARE = r"""
import sys
sys.modules["httpx._main"] = None
import httpx, pybase64
url, key, out, marker = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
body = {"model": "m", "prompt": "noise", "stream": True}
headers = {"Authorization": f"Bearer {key}"}
with httpx.stream("POST", url, json=body, headers=headers, timeout=300) as resp:
    resp.raise_for_status()
    with open(out, "wb") as f:
        seen, left, done = b"", b"", False
        for piece in resp.iter_bytes(1 << 20):
            if done:
                continue
            if seen is not None:  # still looking for where the base64 starts
                seen += piece
                at = seen.find(marker)
                if at < 0:
                    seen = seen[-len(marker):]
                    continue
                piece, seen = seen[at + len(marker):], None
            end = piece.find(b'"')
            if end >= 0:
                piece, done = piece[:end], True
            piece = left + piece
            cut = len(piece) if done else len(piece) - len(piece) % 4
            f.write(pybase64.b64decode(piece[:cut], validate=True))
            left = piece[cut:]
"""


def run(argv: list[str], env: dict[str, str], out: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one child process that writes `out`, which
    is removed first: every client creates its file (replacing one frees the old file's blocks,
    ~20-40 ms for these sizes, in a rename for imggen and an O_TRUNC for the others)."""
    Path(out).unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed: {err[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB on Linux


Sample = tuple[float, float, float]


def turns(cases: dict[str, Callable[[], Sample]], runs: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {name: [] for name in cases}
    for measure in cases.values():
        measure()  # one warm-up each: the page cache and bytecode as a second run finds them
    for _ in range(runs):  # take turns, so every client sees the same machine
        for name, measure in cases.items():
            samples[name].append(measure())
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--also", action="append", default=[], metavar="IMGGEN", help="another install to time"
    )
    args = parser.parse_args()
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent)) or "imggen"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin and server.stdout
    url = server.stdout.readline().strip()
    have_curl_jq = all(shutil.which(tool) for tool in ("curl", "jq", "base64", "bash"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            b64_cases, sse_cases = cases(url, tmp, [exe, *args.also], have_curl_jq)
            b64 = turns(b64_cases, args.runs)
            sse = turns(sse_cases, args.runs)
            sizes = [os.path.getsize(os.path.join(tmp, f"out{i}.png")) for i in (1, 3, 5)]
    finally:
        server.stdin.close()
        server.wait(30)
    print(f"medians of {args.runs} runs, one loopback server, clients taking turns")
    report(f"3840x2160 PNG as b64_json ({sizes[0] / 1e6:.1f} MB saved)", b64, 0.5)
    if not have_curl_jq:
        print("  curl | jq | base64 -d: skipped (curl, jq, base64 or bash not on PATH)")
    report(f"4096x4096 PNG in one SSE event ({sizes[1] / 1e6:.1f} MB saved)", sse, 0.45)
    print(f"provenance full adds {sizes[0] - sizes[2]:,} bytes to the 3840x2160 PNG")


def cases(
    url: str, tmp: str, exes: list[str], have_curl_jq: bool
) -> tuple[dict[str, Callable[[], Sample]], dict[str, Callable[[], Sample]]]:
    """What each client runs, b64_json and SSE: imggen first, then the --also installs."""
    env = {
        **os.environ,
        "IMGGEN_CONFIG": os.path.join(tmp, "none.toml"),
        "IMGGEN_API_KEY": KEY,
        # the history is written as a user's would be, but in the run's own folder
        "IMGGEN_DATA_DIR": os.path.join(tmp, "data"),
        "IMGGEN_STATE_DIR": os.path.join(tmp, "state"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
    for exe in exes:
        subprocess.run([exe, "--help"], env=env, capture_output=True, check=False)
    images_env = {**env, "IMGGEN_BASE_URL": f"{url}/api/v1", "IMGGEN_MODEL": "turing/gpt-image-2"}
    sse_env = {**env, "IMGGEN_BASE_URL": f"{url}/v1", "IMGGEN_MODEL": stream_memory.MODEL}
    out = os.path.join(tmp, "out")

    def imggen(exe: str, *argv: str, e: dict[str, str] = images_env) -> Callable[[], Sample]:
        return lambda: run([exe, "generate", "noise", "-q", *argv], e, argv[-1])

    def bare(path: str, marker: str, name: str) -> Callable[[], Sample]:
        argv = [sys.executable, "-c", BARE, url + path, KEY, out + name, marker]
        return lambda: run(argv, env, out + name)

    b64 = {"imggen": imggen(exes[0], "-s", "3840x2160", "-o", out + "1.png")}
    sse = {"imggen": imggen(exes[0], "-s", "4K", "--stream", "-o", out + "3.png", e=sse_env)}
    for i, other in enumerate(exes[1:]):
        b64[other] = imggen(other, "-s", "3840x2160", "-o", out + f"b{i}.png")
        sse[other] = imggen(other, "-s", "4K", "--stream", "-o", out + f"s{i}.png", e=sse_env)
    b64[ONE_PASS] = bare("/api/v1/images/generations", '"b64_json": "', "6.png")
    b64["imggen --provenance off"] = imggen(
        exes[0], "-s", "3840x2160", "--provenance", "off", "-o", out + "5.png"
    )
    if have_curl_jq:
        shell = {**env, "KEY": KEY, "URL": f"{url}/api/v1/images/generations", "OUT": out + "2.png"}
        b64["curl | jq | base64 -d"] = lambda: run(["bash", "-c", CURL_JQ], shell, out + "2.png")
    sse[ONE_PASS] = bare("/v1/chat/completions", ";base64,", "7.png")
    sse["httpx iter_lines + b64decode"] = lambda: run(
        [
            sys.executable,
            "-c",
            stream_memory.PLAIN,  # the same recipe, the same request
            f"{url}/v1/chat/completions",
            KEY,
            stream_memory.MODEL,
            "4K",
            out + "4.png",
        ],
        env,
        out + "4.png",
    )
    return b64, sse


ONE_PASS = "httpx + pybase64, one pass"
TARGETS = {ONE_PASS: 1.3}  # issue 26; the recipes' targets are each section's own


def report(title: str, rows: dict[str, list[Sample]], target: float) -> None:
    """Medians, and imggen's ratio to each other client: wall and CPU of the medians, and the
    range of the per-turn wall ratios."""
    print(f"{title}\n  {'':<40} {'wall s':>6} {'CPU s':>6} {'MiB':>6}")
    ours = rows["imggen"]
    for name, got in rows.items():
        wall, cpu, rss = (statistics.median(s[i] for s in got) for i in range(3))
        line = f"  {name[-40:]:<40} {wall:6.2f} {cpu:6.2f} {rss:6.1f}"
        if name != "imggen":
            paired = sorted(a[0] / b[0] for a, b in zip(ours, got, strict=True))
            mine = [statistics.median(s[i] for s in ours) for i in range(2)]
            line += (
                f"   imggen/this {mine[0] / wall:.2f}x wall ({paired[0]:.2f}-{paired[-1]:.2f}),"
                f" {mine[1] / cpu:.2f}x CPU"
            )
            if not name.startswith(("imggen", "/")):
                line += f" (target <= {TARGETS.get(name, target)}x)"
        print(line)


if __name__ == "__main__":
    main()
