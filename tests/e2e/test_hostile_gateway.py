"""The offline gateway against hostile clients (issue 25), run as users run it
(`python -m imggen.testing`) under an address-space cap (RLIMIT_AS) and timeouts: a body
claiming 1.5 GB, a 60-byte request for 100000x100000 pixels, and a dozen large bodies leave it
answering, quick and small."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

MEMORY_CAP = 768 * 1024 * 1024  # the gateway's whole address space
KEY = "sk-test-hostile"
AUTH = {"Authorization": f"Bearer {KEY}"}
MiB = 1 << 20


class Child:
    def __init__(self) -> None:
        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imggen.testing", "--port", "0", "--quiet", "--key", KEY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=cap,
        )
        assert self.proc.stdout is not None
        self.base = self.proc.stdout.readline().decode().strip()
        assert self.base.startswith("http://127.0.0.1:"), self.proc.stderr

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1].split("/")[0])

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            line = next(x for x in status if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def alive_and_answering(self) -> bool:
        body = {"model": "gpt-image-1", "prompt": "x", "size": "1024x1024"}
        reply = httpx.post(f"{self.base}/images/generations", json=body, headers=AUTH, timeout=30)
        return self.proc.poll() is None and reply.status_code == 200


@pytest.fixture
def child() -> Iterator[Child]:
    started = Child()
    try:
        yield started
    finally:
        started.proc.terminate()
        try:
            started.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            started.proc.kill()
            started.proc.communicate(timeout=15)


def test_a_body_claiming_1_5_gb_is_refused_unread(child: Child) -> None:
    head = (
        b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1500000000\r\n\r\n"
    )
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", child.port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < 200 * MiB:  # keep sending until the gateway hangs up
                sock.sendall(b" " * MiB)
                sent += MiB
        except OSError:
            pass
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert time.monotonic() - began < 30 and sent < 200 * MiB
    assert child.rss_mib() < 150
    assert child.alive_and_answering()


def test_a_request_for_100000x100000_pixels_costs_nothing(child: Child) -> None:
    body = {"model": "doubao-seedream-4-5-251128", "prompt": "x", "size": "100000x100000"}
    began = time.monotonic()
    reply = httpx.post(f"{child.base}/images/generations", json=body, headers=AUTH, timeout=30)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_size"
    assert time.monotonic() - began < 5
    assert child.rss_mib() < 150
    assert child.alive_and_answering()


def test_a_dozen_large_bodies_are_not_all_kept(child: Child) -> None:
    content = "A" * (20 * MiB)
    body = json.dumps(
        {"model": "gpt-image-1", "prompt": content, "size": "1024x1024", "quality": "low"}
    ).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    with httpx.Client(timeout=60) as client:
        for _ in range(12):
            reply = client.post(f"{child.base}/images/generations", content=body, headers=headers)
            assert reply.status_code == 200, reply.text[:200]
    # kept whole: about RECORD_BYTES (32 MiB) of bodies; twelve would be 240 MiB
    assert child.rss_mib() < 200
    assert child.alive_and_answering()
