"""Wall time and peak memory of receiving a ~65 MB base64 data URL over SSE (issue 4): the
installed imggen next to the plain recipe (`httpx.stream().iter_lines()` + `json.loads` +
`base64.b64decode`), in one run against the in-process fake gateway.

    python benchmarks/stream_memory.py [--size 4K]

The image is a 4096x4096 random-noise PNG (Knox / OpenRouter style, `image_config.image_size`
"4K" on a Gemini 3 model, seed 001), ~50 MB raw and ~67 MB as base64 in one `delta.images`
event, sent in 64 KiB writes. Both clients run as their own processes. Peak RSS is the
child's VmHWM polled from /proc: os.wait4's ru_maxrss would start from this process's
high-water mark, which holds the fake's copies of the image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imggen.testing import FakeGateway, image_size_of  # noqa: E402

KEY = "bench-key"
MODEL = "google/gemini-3-pro-image-preview"
PLAIN = r"""
import base64, json, sys, httpx
url, key, model, size, out = sys.argv[1:6]
body = {
    "model": model,
    "messages": [{"role": "user", "content": "noise"}],
    "modalities": ["image", "text"],
    "image_config": {"image_size": size},
    "stream": True,
}
headers = {"Authorization": f"Bearer {key}"}
with httpx.stream("POST", url, json=body, headers=headers, timeout=300) as resp:
    for line in resp.iter_lines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices", []):
            for image in (choice.get("delta") or {}).get("images") or []:
                data_url = image["image_url"]["url"]
                with open(out, "wb") as f:
                    f.write(base64.b64decode(data_url.split(",", 1)[1]))
"""


def peak_kib(pid: int) -> int:
    """VmHWM of a live process in KiB, 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], peak_kib(proc.pid))
            done.wait(0.005)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, err = proc.communicate(timeout=600)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="4K", help="image_size tier: 1K, 2K or 4K [4K]")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        raise SystemExit("needs Linux /proc to read a child's peak RSS")
    exe = shutil.which("imggen", path=str(Path(sys.executable).parent)) or "imggen"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeGateway(api_key=KEY) as fake:
        fake.noise = True
        env = {
            **os.environ,
            "IMGGEN_CONFIG": os.path.join(tmp, "none.toml"),
            "IMGGEN_BASE_URL": f"{fake.url}/v1",
            "IMGGEN_API_KEY": KEY,
            "IMGGEN_MODEL": MODEL,
        }
        # As installed: pip ships imggen's bytecode; let an editable checkout cache its own.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([exe, "--help"], env=env, capture_output=True, check=False)
        ours = os.path.join(tmp, "imggen.png")
        cmd = [exe, "generate", "noise", "-s", args.size, "-o", ours, "-q", "--stream"]
        rows.append(("imggen (SSE, spilled to disk)", *measure(cmd, env), ours))
        theirs = os.path.join(tmp, "plain.png")
        url = f"{fake.url}/v1/chat/completions"
        cmd = [sys.executable, "-c", PLAIN, url, KEY, MODEL, args.size, theirs]
        rows.append(("httpx iter_lines + b64decode", *measure(cmd, env), theirs))
        sizes = [image_size_of(Path(path).read_bytes()) for *_, path in rows]
        raw = os.path.getsize(theirs)
    print(
        f"image: {sizes[0][1]}x{sizes[0][2]} noise PNG, {raw / 1e6:.1f} MB, "
        f"~{raw * 4 / 3 / 1e6:.1f} MB as base64 in one SSE event"
    )
    print(f"{'client':<32} {'wall s':>8} {'peak RSS MiB':>13}")
    for name, wall, rss, _ in rows:
        print(f"{name:<32} {wall:>8.2f} {rss:>13.1f}")
    (_, iw, irss, _), (_, pw, prss, _) = rows
    print(f"imggen / plain: wall {iw / pw:.2f}x, peak RSS {irss / prss:.2f}x")
    assert all(s == sizes[0] for s in sizes), sizes


if __name__ == "__main__":
    main()
