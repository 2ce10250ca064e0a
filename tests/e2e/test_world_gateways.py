"""issue 25: what real gateways and proxies did to imggen, replayed on loopback: more partial
renders than asked, a 500 on streaming requests, a web page instead of an API."""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e.hostile import Hostile, run_bounded

PNG = make_png(64, 64, noise=True)


def openai_env(gw: Hostile) -> dict[str, str]:
    return {
        "IMGGEN_PROFILE": "openai",
        "IMGGEN_BASE_URL": f"{gw.url}/v1",
        "IMGGEN_API_KEY": SENTINEL_KEY,
        "IMGGEN_MODEL": "gpt-image-1",
    }


def sse(h: BaseHTTPRequestHandler, events: list[dict[str, object]]) -> None:
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def test_partials_n_saves_at_most_n_partial_renders(tmp_path: Path) -> None:
    b64 = base64.b64encode(PNG).decode()
    partial = {"type": "image_generation.partial_image", "b64_json": b64}
    done_event = {"type": "image_generation.completed", "b64_json": b64}
    with Hostile() as gw:
        gw.routes["/v1/images/generations"] = lambda h: sse(h, [partial] * 66 + [done_event])
        args = ["generate", "x", "--partials", "2", "--save-partials", "-o", "a.png"]
        done, _ = run_bounded(args, openai_env(gw), tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.partial-1.png",
        "a.partial-2.png",
        "a.png",
    ]
    assert err.count("more partial renders than the 2 asked") == 1, err
