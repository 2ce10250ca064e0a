"""How fast imggen receives an image (issue 15), as ratios to plain recipes measured in the same
run against the same loopback server:

- a 3840x2160 noise PNG as images-API `b64_json` (~33 MB body) next to
  `curl | jq -r .data[0].b64_json | base64 -d` (target <= 0.5x);
- a 4096x4096 noise PNG in one SSE event (~67 MB data URL, sent in 64 KiB chunks) next to the
  httpx recipe `iter_lines()` + `json.loads` + `base64.b64decode` (target <= 0.45x);
- what provenance costs: the b64_json case again with `--provenance off` (no marker, no record),
  its time as a ratio and the bytes the marker and record add (issue 21: no measurable change).

    python benchmarks/receive.py [--runs 5]

The server is a process of its own that sends prebuilt bodies (no JSON or PNG work per
request), so the figures are the clients'. Each figure is the median of --runs runs, the
clients taking turns; peak RSS is the child's (os.wait4), the measuring process staying small.
Without curl or jq on PATH that baseline is skipped, and the line says so.
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


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed: {err[-800:]}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def medians(cases: dict[str, Callable[[], tuple[float, float]]], runs: int) -> dict:
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(runs):  # take turns, so every client sees the same machine
        for name, measure in cases.items():
            samples[name].append(measure())
    return {
        name: (statistics.median(s[0] for s in got), statistics.median(s[1] for s in got))
        for name, got in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
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
            env = {
                **os.environ,
                "IMGGEN_CONFIG": os.path.join(tmp, "none.toml"),
                "IMGGEN_API_KEY": KEY,
            }
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
            subprocess.run([exe, "--help"], env=env, capture_output=True, check=False)
            images_env = {
                **env,
                "IMGGEN_BASE_URL": f"{url}/api/v1",
                "IMGGEN_MODEL": "turing/gpt-image-2",
            }
            sse_env = {
                **env,
                "IMGGEN_BASE_URL": f"{url}/v1",
                "IMGGEN_MODEL": "google/gemini-3-pro-image-preview",
            }
            out = os.path.join(tmp, "out")
            gen = [exe, "generate", "noise", "--force", "-q"]
            b64_cases = {
                "imggen": lambda: run([*gen, "-s", "3840x2160", "-o", out + "1.png"], images_env),
                "imggen --provenance off": lambda: run(
                    [*gen, "-s", "3840x2160", "--provenance", "off", "-o", out + "5.png"],
                    images_env,
                ),
            }
            if have_curl_jq:
                shell_env = {
                    **env,
                    "KEY": KEY,
                    "URL": f"{url}/api/v1/images/generations",
                    "OUT": out + "2.png",
                }
                b64_cases["curl | jq | base64 -d"] = lambda: run(["bash", "-c", CURL_JQ], shell_env)
            sse_cases = {
                "imggen": lambda: run([*gen, "-s", "4K", "--stream", "-o", out + "3.png"], sse_env),
                "httpx iter_lines + b64decode": lambda: run(
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
                ),
            }
            b64 = medians(b64_cases, args.runs)
            sse = medians(sse_cases, args.runs)
            sizes = [os.path.getsize(out + f"{i}.png") for i in (1, 3, 5)]
    finally:
        server.stdin.close()
        server.wait(30)
    print(f"medians of {args.runs} runs, one loopback server, clients taking turns")
    report(f"3840x2160 PNG as b64_json ({sizes[0] / 1e6:.1f} MB saved)", b64, 0.5)
    if not have_curl_jq:
        print("  curl | jq | base64 -d: skipped (curl, jq, base64 or bash not on PATH)")
    report(f"4096x4096 PNG in one SSE event ({sizes[1] / 1e6:.1f} MB saved)", sse, 0.45)
    print(f"provenance full adds {sizes[0] - sizes[2]:,} bytes to the 3840x2160 PNG")


def report(title: str, rows: dict[str, tuple[float, float]], target: float) -> None:
    print(title)
    ours = rows["imggen"]
    for name, (wall, rss) in rows.items():
        ratio = (
            ""
            if name == "imggen"
            else f"   imggen/this {ours[0] / wall:.2f}x"
            + ("" if name.startswith("imggen") else f" (target <= {target}x)")
        )
        print(f"  {name:<30} {wall:6.2f} s {rss:7.1f} MiB{ratio}")


if __name__ == "__main__":
    main()
