"""issue 25: gateway text reaches the terminal without control sequences (a title set, a
screen cleared, an OSC 8 link, a C1 CSI); stdout's JSON keeps the text, escaped."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.e2e.hostile import Hostile, run_bounded, send

EVIL = "A\x1b]0;owned\x07B\x1b[2JC\x9b2JD\x1b]8;;nowhere\x07link\x1b]8;;\x07E\u202eF"
SHOWN = "ABCDlinkEF"


def _no_controls(raw: bytes) -> None:
    for bad in (b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode()):
        assert bad not in raw, raw


def _clean(raw: bytes) -> None:
    _no_controls(raw)
    assert b"owned" not in raw and b"nowhere" not in raw, raw  # what the sequences hid


def _error(h: BaseHTTPRequestHandler) -> None:
    body = json.dumps({"error": {"message": f"bad request {EVIL}"}}).encode()
    h.send_response(400)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _text_only(h: BaseHTTPRequestHandler) -> None:
    message = {"role": "assistant", "content": f"I cannot draw that {EVIL}"}
    send(h, json.dumps({"choices": [{"message": message}]}).encode())


def test_a_gateway_error_is_shown_without_control_sequences(tmp_path: Path) -> None:
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = _error
        done, _ = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
    assert done.returncode == 4, done.stderr.decode()
    _clean(done.stderr)
    assert f"bad request {SHOWN}" in done.stderr.decode()


def test_a_models_text_reply_is_shown_clean_and_kept_escaped_in_json(tmp_path: Path) -> None:
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = _text_only
        done, _ = run_bounded(["generate", "x", "-o", "a.png"], gw.env(), tmp_path)
        as_json, _ = run_bounded(["generate", "x", "-o", "a.png", "--json"], gw.env(), tmp_path)
    assert done.returncode == 6, done.stderr.decode()
    _clean(done.stderr)
    assert SHOWN in done.stderr.decode()
    _no_controls(as_json.stdout)  # escaped: \u001b, \u009b, never the raw bytes
    doc = json.loads(as_json.stdout)
    assert EVIL in doc["text"]  # the reply as sent, for scripts


def test_model_ids_are_listed_without_control_sequences(tmp_path: Path) -> None:
    with Hostile() as gw:
        listed = {
            "data": [{"id": f"evil/{EVIL}", "architecture": {"output_modalities": ["image"]}}]
        }
        gw.routes["/v1/models"] = lambda h: send(h, json.dumps(listed).encode())
        env = {**gw.env(), "IMGGEN_PROFILE": "openrouter"}
        done, _ = run_bounded(["models", "--all", "--refresh"], env, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    _clean(done.stdout)
    _clean(done.stderr)
    assert f"evil/{SHOWN}" in done.stdout.decode()
