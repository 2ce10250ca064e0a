"""`imggen doctor` against the loopback fake: a run per preset, a wrong key (3), an unreachable
URL (5), no spending without --generate or a yes at a terminal, broken streams, ignored sizes."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imggen import doctor
from imggen.dialects.presets import PRESETS
from imggen.env import Env
from imggen.testing import FakeGateway, Fault
from tests.conftest import SENTINEL_KEY, Result

Invoke = Callable[..., Result]
BASE_PATH = {"turing": "/api/v1", "openroute": "/api/v1", "openrouter": "/api/v1"}
GENERATE_PATHS = ("/chat/completions", "/images/generations")


@pytest.fixture
def loop(fake: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """imggen through CliRunner against the fake; doctor's temp folder inside tmp_path."""
    from imggen.cli.app import app

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def invoke(*args: str, input: str | None = None, tty: bool = False, **environ: str) -> Result:
        env = Env(
            environ={**os.environ, **environ},
            transport=None,
            stdin_isatty=tty,
            stderr_isatty=tty,
        )
        r = CliRunner().invoke(app, list(args), obj=env, input=input, catch_exceptions=True)
        assert SENTINEL_KEY not in r.stdout + r.stderr
        assert list(scratch.iterdir()) == []  # the test image was deleted
        return Result(r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception)

    return invoke


def setup(fake: FakeGateway, preset: str) -> dict[str, str]:
    """Environment for a preset pointed at the fake, whose listing names the catalog."""
    fake.models = [
        {"id": m.id, "output_modalities": ["image", "text"]} for m in PRESETS[preset].models
    ]
    if not PRESETS[preset].models_api:
        fake.models_endpoint = False  # seed 000: Trinity has no GET /v1/models
    return {
        "IMGGEN_BASE_URL": fake.url + BASE_PATH.get(preset, "/v1"),
        PRESETS[preset].key_env: SENTINEL_KEY,
    }


def statuses(r: Result) -> dict[str, str]:
    doc = json.loads(r.stdout)
    return {c["check"]: c["status"] for c in doc["checks"]}


def details(r: Result) -> dict[str, str]:
    return {c["check"]: c["detail"] for c in json.loads(r.stdout)["checks"]}


ALL_OK = dict.fromkeys(doctor.CHECKS + doctor.GENERATION_CHECKS, "ok")
NO_STREAM = {**ALL_OK, "streaming": "skip"}
PER_PRESET: dict[str, tuple[dict[str, str], str, str]] = {
    # preset: (statuses, response_shape detail, size detail)
    "trinity": (
        NO_STREAM,
        "message.images: OpenRouter-style chat: images beside the message",
        "asked 16:9 1K (no exact pixels are published for it); got 1376x768: honoured",
    ),
    "knox": (
        ALL_OK,
        "delta.images: OpenRouter-style chat, streamed",
        "asked 16:9 1K = 1344x768; got 1344x768: honoured",
    ),
    "turing": (
        NO_STREAM,
        "data[].b64_json: images API, base64",
        "asked 16:9 1K = 1376x768; got 1376x768: honoured",
    ),
    "openroute": (
        ALL_OK,
        "delta.images: OpenRouter-style chat, streamed",
        "asked 16:9 1K = 1344x768; got 1344x768: honoured",
    ),
    "xty": (
        NO_STREAM,
        "message.content (markdown image in text): image links inside the reply text",
        "asked 16:9 512 (no exact pixels are published for it); got 1344x768: honoured",
    ),
    "openrouter": (
        ALL_OK,
        "delta.images: OpenRouter-style chat, streamed",
        "asked 16:9 1K = 1344x768; got 1344x768: honoured",
    ),
    "openai": (
        NO_STREAM,
        "data[].b64_json: images API, base64",
        "asked 3:2 1K = 1536x1024; got 1536x1024: honoured",
    ),
}


@pytest.mark.parametrize("preset", list(PER_PRESET))
def test_doctor_generate_passes_on_each_preset(
    loop: Invoke, fake: FakeGateway, preset: str
) -> None:
    r = loop("doctor", "-p", preset, "--generate", "--json", **setup(fake, preset))
    assert r.exit_code == 0, r.stdout + r.stderr
    want, shape, size = PER_PRESET[preset]
    assert statuses(r) == want
    d = details(r)
    assert (d["response_shape"], d["size"]) == (shape, size)
    generations = [q for q in fake.requests if q.path.endswith(GENERATE_PATHS)]
    assert len(generations) == 1
    assert r.stderr == ""


def test_trinity_key_is_checked_by_the_generation(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("doctor", "-p", "trinity", "--generate", "--json", **setup(fake, "trinity"))
    d = details(r)
    assert d["key"] == (
        "accepted by the generation; it came from the environment variable TRINITY_API_KEY (preset)"
    )
    assert d["models_api"] == (
        "absent (the gateway refused the request (HTTP 404): Not found: /v1/models "
        "(not_found)); Trinity has no models API; `imggen models` shows the built-in catalog"
    )
    doc = json.loads(r.stdout)
    assert doc["request"] == {"model": "hunyuan-image", "aspect": "16:9", "size": "1K",
                              "stream": False}  # fmt: skip
    assert doc["config"]["key_from"] == "environment variable TRINITY_API_KEY (preset)"


def test_table_off_a_terminal_is_tsv(loop: Invoke, fake: FakeGateway) -> None:
    env = setup(fake, "knox")
    r = loop("doctor", "-p", "knox", **env)
    assert r.exit_code == 0, r.stderr
    url = env["IMGGEN_BASE_URL"]
    assert r.stdout.splitlines() == [
        "CHECK\tRESULT\tDETAIL",
        "config\tok\tprofile knox (built-in preset, not in the config file); file (none); "
        f"preset knox; {url} (IMGGEN_BASE_URL); model google/gemini-2.5-flash-image "
        "(preset knox, openrouter dialect); key from environment variable KNOX_API_KEY (preset), "
        "sent as Authorization: Bearer",
        f"reachable\tok\t{url} answered GET /models?output_modalities=image",
        "key\tok\taccepted by GET /models?output_modalities=image; it came from the environment "
        "variable KNOX_API_KEY (preset)",
        "models api\tok\tGET /models?output_modalities=image: 3 models, 3 with image output",
        "generation\tskip\tskipped: it costs one image; run `imggen doctor --generate` to spend it",
        "response shape\tskip\tskipped: needs the generation",
        "streaming\tskip\tskipped: needs the generation",
        "size\tskip\tskipped: needs the generation",
    ]


def test_without_generate_off_a_tty_nothing_is_spent(loop: Invoke, fake: FakeGateway) -> None:
    r = loop("doctor", "-p", "trinity", "--json", **setup(fake, "trinity"))
    assert r.exit_code == 0
    assert statuses(r) == {
        "config": "ok",
        "reachable": "ok",
        "key": "skip",
        "models_api": "ok",
        "generation": "skip",
        "response_shape": "skip",
        "streaming": "skip",
        "size": "skip",
    }
    assert details(r)["key"] == (
        "not checked without --generate: the gateway has no models API to ask"
    )
    assert [q.path for q in fake.requests] == ["/v1/models"]


@pytest.mark.parametrize(("answer", "generated"), [("y\n", 1), ("n\n", 0)])
def test_a_terminal_is_asked_before_spending(
    loop: Invoke, fake: FakeGateway, answer: str, generated: int
) -> None:
    r = loop("doctor", "-p", "knox", "-q", input=answer, tty=True, **setup(fake, "knox"))
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith(
        "Generate one 16:9 1K image with google/gemini-2.5-flash-image to test the rest? "
        "It is billed. [y/N]:"
    )
    assert len([q for q in fake.requests if q.path.endswith(GENERATE_PATHS)]) == generated


def test_wrong_key_is_exit_3(loop: Invoke, fake: FakeGateway) -> None:
    env = {**setup(fake, "turing"), "TURING_API_KEY": "sk-wrong"}
    r = loop("doctor", "-p", "turing", "--generate", "--json", **env)
    assert r.exit_code == 3
    assert statuses(r) == {
        "config": "ok",
        "reachable": "ok",
        "key": "fail",
        "models_api": "skip",
        "generation": "skip",
        "response_shape": "skip",
        "streaming": "skip",
        "size": "skip",
    }
    assert r.stderr.splitlines() == [
        "error: key: the gateway rejected the API key (HTTP 401): Incorrect API key provided. "
        "(invalid_api_key)",
        "hint: check the key: it came from $TURING_API_KEY (the variable the turing preset reads)",
    ]
    assert not [q for q in fake.requests if q.path.endswith(GENERATE_PATHS)]


def test_wrong_key_on_trinity_fails_at_the_generation(loop: Invoke, fake: FakeGateway) -> None:
    env = {**setup(fake, "trinity"), "TRINITY_API_KEY": "sk-wrong"}
    r = loop("doctor", "-p", "trinity", "--generate", "--json", **env)
    assert r.exit_code == 3
    assert statuses(r)["key"] == "fail"
    assert statuses(r)["generation"] == "skip"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_url_is_exit_5(loop: Invoke) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    r = loop("doctor", "-p", "knox", "--json", IMGGEN_BASE_URL=url, KNOX_API_KEY=SENTINEL_KEY)
    assert r.exit_code == 5
    s = statuses(r)
    assert (s["config"], s["reachable"], s["key"], s["generation"]) == (
        "ok",
        "fail",
        "skip",
        "skip",
    )
    assert details(r)["reachable"].startswith("could not connect to 127.0.0.1:")
    assert r.stderr.splitlines()[-1] == "hint: check the network and base_url, then try again"


def test_missing_key_is_exit_3_and_sends_nothing(loop: Invoke, fake: FakeGateway) -> None:
    env = setup(fake, "knox")
    del env["KNOX_API_KEY"]
    r = loop("doctor", "-p", "knox", "--generate", "--json", **env)
    assert r.exit_code == 3
    assert statuses(r)["config"] == "fail"
    assert details(r)["reachable"] == "not checked without a key"
    assert fake.requests == []


def test_no_profile_is_exit_3(loop: Invoke) -> None:
    r = loop("doctor", "--json")
    assert r.exit_code == 3
    assert details(r)["config"] == "no profile is configured"
    assert json.loads(r.stdout)["profile"] is None


def test_stream_broken_after_it_delivered_is_not_paid_for_twice(
    loop: Invoke, fake: FakeGateway
) -> None:
    """The stream sent an event, then broke: the image was likely billed, so doctor does not
    spend a second one unstreamed (the consent was for one image)."""
    env = setup(fake, "knox")
    fake.faults += [Fault("truncate_sse"), Fault("truncate_sse")]
    r = loop("doctor", "-p", "knox", "--generate", "--json", **env)
    assert r.exit_code == 5
    assert statuses(r)["generation"] == "fail"
    assert (
        "the stream had" in details(r)["generation"]
        or "before the image" in details(r)["generation"]
    )
    chats = [q.json.get("stream", False) for q in fake.requests_to("/chat/completions")]
    assert chats == [True]


def test_stream_failing_before_any_event_is_tried_unstreamed(
    loop: Invoke, fake: FakeGateway
) -> None:
    """A stream refused before it started (nothing billed) is worth one unstreamed try, to
    tell whether the stream or the gateway is at fault."""
    env = setup(fake, "knox")
    fake.faults.append(
        Fault("status", status=400, body="stream not supported", path="/chat/completions")
    )
    r = loop("doctor", "-p", "knox", "--generate", "--json", **env)
    assert r.exit_code == 4  # the refused stream's own code
    assert statuses(r)["streaming"] == "fail"
    assert statuses(r)["generation"] == "ok"
    chats = [q.json.get("stream", False) for q in fake.requests_to("/chat/completions")]
    assert chats == [True, False]


def test_ignored_size_is_a_warning(loop: Invoke, fake: FakeGateway) -> None:
    env = setup(fake, "turing")
    fake.honour_size = False
    r = loop("doctor", "-p", "turing", "--generate", "--json", **env)
    assert r.exit_code == 0
    assert statuses(r)["size"] == "warn"
    assert details(r)["size"] == "asked 16:9 1K = 1376x768; got 64x64: not honoured"


def test_models_api_failure_is_exit_5_but_generation_still_runs(
    loop: Invoke, fake: FakeGateway
) -> None:
    env = setup(fake, "openroute")
    fake.faults += [Fault("status", status=502, path="/models")] * 2
    r = loop("doctor", "-p", "openroute", "--generate", "--json", **env)
    assert r.exit_code == 5
    s = statuses(r)
    assert (s["reachable"], s["models_api"], s["key"], s["generation"]) == (
        "ok",
        "fail",
        "ok",
        "ok",
    )


def test_model_missing_from_listing_is_a_warning(loop: Invoke, fake: FakeGateway) -> None:
    env = setup(fake, "knox")
    r = loop("doctor", "-p", "knox", "-m", "google/unlisted-image", "--json", **env)
    assert r.exit_code == 0
    assert details(r)["models_api"] == (
        "GET /models?output_modalities=image: 3 models, 3 with image output; "
        "the profile's model google/unlisted-image is not listed"
    )


@pytest.mark.parametrize(
    ("rule", "want"),
    [
        ("gemini-2.5", ("16:9", "1K")),
        ("gemini-3.1", ("16:9", "512")),
        ("gpt-image-1", ("3:2", "1K")),
        ("gpt-image-2", ("16:9", "1K")),
        ("any", ("16:9", "1K")),
    ],
)
def test_pick_request_is_cheap_and_not_square(rule: str, want: Any) -> None:
    assert doctor.pick_request(rule) == want
