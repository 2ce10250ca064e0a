"""The fake gateway as users get it: `python -m imggen.testing` from a shell, and the pytest
plugin's fixtures (imggen_gateway, imggen_env), in this suite and in a project of their own."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from imggen.testing import FakeGateway, Fault
from imggen.testing.__main__ import parse_fault
from imggen.testing.plugin import API_KEY, MODEL
from tests.conftest import imggen_exe

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "a red fox"}]}
STOP_WITHIN = 10.0  # seconds a signal may take to stop the server (2 shared cores)


MODULE = [sys.executable, "-m", "imggen.testing"]
SUBCOMMAND = [*imggen_exe(), "testing", "serve"]


class Served:
    """`python -m imggen.testing ARGS` (or another command) running; its first stdout line."""

    def __init__(self, *args: str, command: list[str] = MODULE) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.proc = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline().decode().strip()

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Send the signal; the exit code and all of stderr."""
        self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=STOP_WITHIN)
        return self.proc.returncode, err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=STOP_WITHIN)


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str, command: list[str] = MODULE) -> Served:
        started.append(Served(*args, command=command))
        return started[-1]

    yield start
    for served in started:  # nothing left running, whatever a test did
        served.kill()


def post(base_url: str, key: str = "any-key") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{base_url}/chat/completions", json=CHAT, headers=headers, timeout=10)


def get(url: str, key: str = "any-key") -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


# -- python -m imggen.testing ------------------------------------------------------------------


@pytest.mark.parametrize("command", [MODULE, SUBCOMMAND], ids=["module", "subcommand"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_prints_its_base_url_first_and_serves_until_stopped(
    serve: Callable[..., Served], signum: int, command: list[str]
) -> None:
    served = serve("--port", "0", "--quiet", command=command)
    base = served.first_line

    assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
    assert post(base).status_code == 200
    assert get(f"{base}/models").status_code == 200
    assert httpx.get(f"{base}/models", timeout=10).status_code == 401  # a key is required
    assert served.stop(signum) == (0, "")  # --quiet: not a word on stderr


def test_the_subcommand_takes_the_modules_options(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0", "--quiet", "--key", "k1", "--fault", "status:503",
                   command=SUBCOMMAND)  # fmt: skip
    assert post(served.first_line, "k1").status_code == 503
    assert post(served.first_line, "other").status_code == 401
    assert post(served.first_line, "k1").status_code == 200
    assert served.stop() == (0, "")
    done = subprocess.run(
        [*SUBCOMMAND, "--fault", "teapot"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "usage: imggen testing serve" in done.stderr


def test_logs_one_line_a_request_on_stderr(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0")
    post(served.first_line)
    code, err = served.stop()

    assert code == 0
    assert err.splitlines() == [
        f"fake gateway: serving {served.first_line} (takes any key, as Authorization: Bearer "
        "KEY); Ctrl-C or SIGTERM stops it",
        "fake gateway: POST /v1/chat/completions -> 200",
    ]


def test_alias_flag_serves_a_litellm_style_proxy(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0", "--quiet", "--alias", "company-image=gpt-image-1")
    base = served.first_line
    listed = get(f"{base}/models").json()["data"]
    # as the real proxy: /v1/models gives an alias no mode; /model_group/info (at the proxy's
    # root) gives its deployment's
    (alias,) = [m for m in listed if m["id"] == "company-image"]
    assert "mode" not in alias and alias["object"] == "model"
    root = base.removesuffix("/v1")
    groups = get(f"{root}/model_group/info").json()["data"]
    assert {
        "model_group": "company-image",
        "mode": "image_generation",
        "providers": ["openai"],
    } in (groups)
    body = {"model": "company-image", "prompt": "x", "output_format": "jpeg", "size": "512x512"}
    # answered by gpt-image-1's rules, output_format dropped on the way
    auth = {"Authorization": "Bearer any"}
    refused = httpx.post(f"{base}/images/generations", json=body, headers=auth, timeout=10)
    assert "Invalid size '512x512' for gpt-image-1" in refused.text
    body["size"] = "1024x1024"
    data = httpx.post(f"{base}/images/generations", json=body, headers=auth, timeout=10)
    data = data.json()["data"]
    assert base64.b64decode(data[0]["b64_json"]).startswith(b"\x89PNG")
    assert served.stop() == (0, "")


def test_key_flag_accepts_that_key_only(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0", "--quiet", "--key", "test-key")

    assert post(served.first_line, "wrong").status_code == 401
    assert post(served.first_line, "test-key").status_code == 200


def test_fault_flags_fail_the_next_requests_in_order(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0", "--quiet", "--fault", "status:429", "--fault", "html")
    first, second, third = (post(served.first_line) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (429, 502, 200)
    assert second.headers["content-type"] == "text/html"


def test_a_port_in_use_is_named_with_what_to_do(serve: Callable[..., Served]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        served = serve("--port", str(port))
        _, err = served.proc.communicate(timeout=STOP_WITHIN)

    assert served.proc.returncode == 1
    assert (served.first_line, err.decode().splitlines()) == (
        "",
        [
            f"error: cannot listen on 127.0.0.1: port {port} is in use",
            "hint: pass --port 0 for a free port, or stop what holds it",
        ],
    )


def test_an_unknown_fault_is_a_usage_error_listing_the_kinds() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "imggen.testing", "--fault", "teapot"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown fault 'teapot'; kinds: status, content_filter, html," in done.stderr


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("status", Fault("status")),
        ("status:503", Fault("status", status=503)),
        ("html:500", Fault("html", status=500)),
        ("expired", Fault("expired")),
        ("reset", Fault("reset")),
        ("slow", Fault("slow", seconds=0.1)),
        ("slow:0.5", Fault("slow", seconds=0.5)),
        ("stall", Fault("stall", seconds=5.0)),
        ("stall:2", Fault("stall", seconds=2.0)),
    ],
)
def test_parse_fault(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["status:x", "slow:fast", "reset:3", "nope"])
def test_parse_fault_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_fault(text)


# -- the pytest plugin -----------------------------------------------------------------------


def test_imggen_gateway_fixture_is_a_started_fake(imggen_gateway: FakeGateway) -> None:
    assert imggen_gateway.base_url == imggen_gateway.url + "/v1"
    assert post(imggen_gateway.base_url).status_code == 200
    assert [r.path for r in imggen_gateway.requests] == ["/v1/chat/completions"]


def test_imggen_env_points_the_installed_imggen_at_the_fake(
    imggen_env: FakeGateway, cli: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    done = cli("generate", "a red fox", "-o", "fox.png")

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == f"{tmp_path / 'fox.png'}\n"
    (request,) = imggen_env.requests_to("/chat/completions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.json["model"] == MODEL


@pytest.mark.imggen_gateway(api_key="sk-marked")
def test_the_marker_names_the_only_key(imggen_gateway: FakeGateway) -> None:
    assert post(imggen_gateway.base_url, "sk-marked").status_code == 200
    assert post(imggen_gateway.base_url, "any-key").status_code == 401


def test_imggen_env_gateway_takes_only_the_key_it_set(imggen_env: FakeGateway) -> None:
    assert os.environ["IMGGEN_API_KEY"] == API_KEY == imggen_env.api_key
    assert post(imggen_env.base_url, "other").status_code == 401


USER_TEST = """
import subprocess


def test_icon(imggen_env, tmp_path):
    subprocess.run(["imggen", "generate", "app icon", "-o", tmp_path / "icon.png"], check=True)
    assert (tmp_path / "icon.png").read_bytes()[:4] == b"\\x89PNG"
    assert len(imggen_env.requests_to("/chat/completions")) == 1


def test_faults(imggen_gateway):
    from imggen.testing import Fault

    imggen_gateway.faults.append(Fault("status", status=503))
    assert imggen_gateway.faults
"""


def test_a_users_project_gets_the_fixtures_from_the_entry_point(tmp_path: Path) -> None:
    """No conftest, no import: installing imggen is enough (pytest11 entry point)."""
    (tmp_path / "test_assets.py").write_text(textwrap.dedent(USER_TEST))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "IMGGEN_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_assets.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_deployment_and_refuse_safety_flags(serve: Callable[..., Served]) -> None:
    served = serve("--port", "0", "--quiet", "--key", "k", "--deployment", "prod=gpt-image-1")
    root = served.first_line.removesuffix("/v1")
    url = f"{root}/openai/deployments/prod/images/generations?api-version=2025-04-01-preview"
    body = {"prompt": "x", "size": "1024x1024"}
    made = httpx.post(url, json=body, headers={"api-key": "k"}, timeout=10)
    assert made.status_code == 200 and made.json()["data"][0]["b64_json"]
    bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer k"}, timeout=10)
    assert bearer.status_code == 401  # Azure's key goes in api-key
    other = url.replace("/prod/", "/my-images/")
    missing = httpx.post(other, json=body, headers={"api-key": "k"}, timeout=10)
    assert missing.json()["error"]["code"] == "DeploymentNotFound"
    assert served.stop() == (0, "")

    refusing = serve("--port", "0", "--quiet", "--refuse-safety")
    root = refusing.first_line.removesuffix("/v1")
    gemini = f"{root}/v1beta/models/gemini-2.5-flash-image:generateContent"
    reply = httpx.post(gemini, json={"contents": [{"parts": [{"text": "x"}]}]},
                       headers={"x-goog-api-key": "any"}, timeout=10)  # fmt: skip
    assert reply.json()["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
