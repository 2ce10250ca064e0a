"""`imggen generate` through CliRunner and a MockTransport: output rules, stdin prompts, --json,
--dry-run, --param, fan-out on chat gateways, provenance, and the key never leaking."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.files import imagefile
from imggen.files.provenance import read_provenance
from imggen.testing import make_jpeg_header
from tests.conftest import NO_BACKOFF, SENTINEL_KEY, MockGateway, Result, b64_png, png_bytes

Run = Callable[..., Result]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMAGES_URL = "https://gw.test/api/v1/images/generations"
CHAT_URL = "https://knox.test/v1/chat/completions"
CONFIG = {
    "default_profile": "t",
    "profiles": {
        "t": {
            "preset": "turing",
            "base_url": "https://gw.test/api/v1",
            "model": "turing/gpt-image-2",
            "api_key_env": "TURING_API_KEY",
        },
        "k": {
            "preset": "knox",
            "base_url": "https://knox.test/v1",
            "model": "google/gemini-2.5-flash-image",
            "api_key_env": "KNOX_API_KEY",
        },
    },
}
USAGE = {"input_tokens": 50, "output_tokens": 1568, "total_tokens": 1618}


def images_reply(data: bytes | None = None, count: int = 1) -> dict[str, Any]:
    """seed 002: images/generations answers data[].b64_json."""
    b64 = base64.b64encode(data).decode() if data is not None else b64_png()
    return {"created": 1, "data": [{"b64_json": b64}] * count, "usage": USAGE}


def chat_reply(data: bytes | None = None) -> dict[str, Any]:
    """seeds 001/003: message.images[].image_url.url as a data URL."""
    url = "data:image/png;base64," + base64.b64encode(data or png_bytes()).decode()
    return {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "",
                    "images": [{"type": "image_url", "image_url": {"url": url}}],
                }
            }
        ]
    }


@pytest.fixture(autouse=True)
def setup(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TURING_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KNOX_API_KEY", SENTINEL_KEY)
    return write_config(CONFIG)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def ok(r: Result) -> Result:
    assert r.exit_code == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r


# -- stdout: paths, JSON or bytes -------------------------------------------------------------


def test_paths_on_stdout_one_per_line(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    gateway.queue(images_reply(count=2))
    r = ok(run("generate", "a red fox", "-n", "2"))
    assert r.stdout == f"{tmp_path / 'a-red-fox-1.png'}\n{tmp_path / 'a-red-fox-2.png'}\n"
    assert files(tmp_path) == ["a-red-fox-1.png", "a-red-fox-2.png", "config/config.toml"]
    (request,) = gateway.requests
    assert (request.method, str(request.url)) == ("POST", IMAGES_URL)
    assert request.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert gateway.bodies() == [{"model": "turing/gpt-image-2", "prompt": "a red fox", "n": 2}]


def test_json_is_one_document(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    gateway.queue(images_reply())
    r = ok(run("generate", "a red fox", "-o", "fox.png", "--json"))
    doc = json.loads(r.stdout)
    path = tmp_path / "fox.png"
    assert doc == {
        "paths": [str(path)],
        "images": [
            {
                "path": str(path),
                "mime": "image/png",
                "bytes": path.stat().st_size,
                "width": 8,
                "height": 8,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "content_credentials": False,
                "signed": False,
                "sidecar": False,
            }
        ],
        "profile": "t",
        "model": "turing/gpt-image-2",
        "dialect": "images",
        "requested": {"aspect": None, "size": None, "pixels": None},
        "text": "",
        "usage": [USAGE],
        "cost": None,
        "currency": None,
        "estimate": {
            "per_image": None,
            "total": None,
            "count": 1,
            "currency": None,
            "basis": "no list price known for turing/gpt-image-2",
            "estimate": True,
        },
        "retries": 0,
        "response_shapes": ["data[].b64_json"],
        "warnings": [],
        "partials": [],
        "error": None,
    }
    assert r.stdout.count("\n") == 1


def test_json_reports_the_cost_the_gateway_sent(run: Run, gateway: MockGateway) -> None:
    # OpenRouter's usage.cost, one reply per image on a chat gateway: summed across replies
    reply = chat_reply()
    reply["usage"] = {"total_tokens": 1300, "cost": 0.039}
    gateway.queue(reply, reply)
    r = ok(run("generate", "a red fox", "-p", "k", "-n", "2", "-o", "fox.png", "--json"))
    doc = json.loads(r.stdout)
    assert (doc["cost"], doc["currency"]) == (0.078, None)


def test_stdout_dash_writes_raw_image_bytes(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    gateway.queue(images_reply())
    r = ok(run("generate", "a red fox", "-o", "-"))
    assert r.stdout_bytes.startswith(PNG_MAGIC)
    assert imagefile.sniff(r.stdout_bytes[:64]) == "image/png"
    assert files(tmp_path) == ["config/config.toml"]


def test_stdout_dash_with_two_images_is_refused_before_request(
    run: Run, gateway: MockGateway
) -> None:
    r = run("generate", "a red fox", "-o", "-", "-n", "2")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines()[0] == (
        "error: -o - writes one image to stdout; use -n 1 or a file name"
    )
    assert gateway.requests == []


def test_stdout_dash_with_json_is_refused_before_request(run: Run, gateway: MockGateway) -> None:
    r = run("generate", "a red fox", "-o", "-", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout) == {
        "paths": [],
        "images": [],
        "error": {
            "class": "UsageError",
            "message": "-o - and --json both write to stdout",
            "exit_code": 2,
        },
    }
    assert r.stderr == (
        "error: -o - and --json both write to stdout\n"
        "hint: save to a file with -o, or drop --json\n"
    )
    assert gateway.requests == []


def test_failure_with_json_is_still_one_document(run: Run, gateway: MockGateway) -> None:
    gateway.queue(httpx.Response(401, json={"error": {"message": "invalid key"}}))
    r = run("generate", "a red fox", "-o", "x.png", "--json")
    assert r.exit_code == 3
    doc = json.loads(r.stdout)
    assert (doc["paths"], doc["error"]) == (
        [],
        {
            "class": "AuthFailed",
            "message": "the gateway rejected the API key (HTTP 401): invalid key",
            "exit_code": 3,
        },
    )


# -- file naming ------------------------------------------------------------------------------


def test_numbered_files_for_count(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    gateway.queue(images_reply(count=3))
    r = ok(run("generate", "a red fox", "-o", "out.png", "-n", "3"))
    assert r.stdout.splitlines() == [str(tmp_path / f"out-{i}.png") for i in (1, 2, 3)]


def test_folder_gets_generated_names_never_clobbering(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    (tmp_path / "pics").mkdir()
    gateway.queue(images_reply(), images_reply())
    first = ok(run("generate", "Sunset over the sea!", "-o", "pics"))
    second = ok(run("generate", "Sunset over the sea!", "-o", "pics/"))
    assert first.stdout == f"{tmp_path / 'pics' / 'sunset-over-the-sea.png'}\n"
    assert second.stdout == f"{tmp_path / 'pics' / 'sunset-over-the-sea-2.png'}\n"
    assert files(tmp_path / "pics") == ["sunset-over-the-sea-2.png", "sunset-over-the-sea.png"]


def test_existing_file_refused_before_request(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    (tmp_path / "fox.png").write_bytes(b"old")
    gateway.queue(images_reply())
    r = run("generate", "a red fox", "-o", "fox.png")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: {tmp_path / 'fox.png'} exists; imggen never overwrites without --force\n"
        "hint: pass --force, or choose another -o\n"
    )
    assert gateway.requests == []
    assert (tmp_path / "fox.png").read_bytes() == b"old"


def test_force_overwrites(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    (tmp_path / "fox.png").write_bytes(b"old")
    gateway.queue(images_reply())
    r = ok(run("generate", "a red fox", "-o", "fox.png", "--force"))
    assert r.stdout == f"{tmp_path / 'fox.png'}\n"
    assert (tmp_path / "fox.png").read_bytes().startswith(PNG_MAGIC)


def test_exact_name_with_wrong_real_type_warns(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(images_reply(make_jpeg_header(8, 8)))
    r = ok(run("generate", "a red fox", "-o", "fox.png"))
    assert r.stdout == f"{tmp_path / 'fox.png'}\n"
    assert r.stderr == (
        f"warning: {tmp_path / 'fox.png'} holds image/jpeg data, not what its extension says\n"
    )
    assert (tmp_path / "fox.png").read_bytes()[:2] == b"\xff\xd8"


def test_name_without_extension_gets_the_real_one(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(images_reply(make_jpeg_header(8, 8)))
    r = ok(run("generate", "a red fox", "-o", "fox"))
    assert (r.stdout, r.stderr) == (f"{tmp_path / 'fox.jpg'}\n", "")
    assert files(tmp_path) == ["config/config.toml", "fox.jpg", "fox.jpg.json"]


def test_jpeg_gets_a_sidecar_with_provenance(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(images_reply(make_jpeg_header(8, 8)))
    ok(run("generate", "a red fox", "-o", "fox", "--format", "jpeg", "--quality", "high"))
    sidecar = (tmp_path / "fox.jpg.json").read_text()
    record = json.loads(sidecar)
    assert read_provenance(tmp_path / "fox.jpg") == record
    assert {k: record[k] for k in ("prompt", "model", "profile", "dialect", "params")} == {
        "prompt": "a red fox",
        "model": "turing/gpt-image-2",
        "profile": "t",
        "dialect": "images",
        "params": {"count": 1, "format": "jpeg", "quality": "high"},
    }
    assert SENTINEL_KEY not in sidecar


def test_png_carries_standard_text_keys_viewers_show(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    """Besides imggen's record, Software and Description (the prompt, stored there once: the
    record leaves it out): the keys `identify -verbose`, exiftool and image viewers show."""
    from imggen import __version__

    gateway.queue(images_reply())
    ok(run("generate", "a red fox at dawn", "-o", "fox.png"))
    text = imagefile.read_png_text(tmp_path / "fox.png")
    assert text["Software"] == f"imggen {__version__}"
    assert text["Description"] == "a red fox at dawn"
    record = json.loads(text["imggen"])
    assert "prompt" not in record and record["model"] == "turing/gpt-image-2"
    assert read_provenance(tmp_path / "fox.png") == {**record, "prompt": "a red fox at dawn"}
    identify = shutil.which("identify")
    if identify:  # ImageMagick, where installed, shows them too
        shown = subprocess.run(
            [identify, "-verbose", str(tmp_path / "fox.png")],
            capture_output=True, timeout=60, check=True,
        ).stdout.decode("utf-8", "replace")  # fmt: skip
        assert "Software: imggen" in shown and "Description: a red fox at dawn" in shown


def test_png_provenance_has_prompt_model_profile_params_and_no_key(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(images_reply())
    ok(
        run(
            "generate", "a red fox", "-o", "fox.png", "--size", "1024x1024",
            "--param", "moderation=low",
        )
    )  # fmt: skip
    record = read_provenance(tmp_path / "fox.png")
    assert record is not None
    assert sorted(record) == [
        "created", "dialect", "imggen", "index", "inputs", "mask", "model", "params", "profile",
        "prompt", "refs", "request",
    ]  # fmt: skip
    assert {k: record[k] for k in ("prompt", "model", "profile", "params", "index", "mask")} == {
        "prompt": "a red fox",
        "model": "turing/gpt-image-2",
        "profile": "t",
        "params": {"count": 1, "size": "1024x1024", "params": {"moderation": "low"}},
        "index": 1,
        "mask": None,
    }
    assert SENTINEL_KEY.encode() not in (tmp_path / "fox.png").read_bytes()


def test_saved_images_follow_the_umask_not_0600(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    gateway.queue(images_reply(make_jpeg_header(8, 8)))
    old = os.umask(0o022)
    try:
        ok(run("generate", "a red fox", "-o", "fox"))
    finally:
        os.umask(old)
    assert (tmp_path / "fox.jpg").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "fox.jpg.json").stat().st_mode & 0o777 == 0o644


# -- fan-out on chat gateways ----------------------------------------------------------------


def test_count_on_a_chat_gateway_sends_parallel_requests(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    # Each reply waits until all three requests are in flight: only parallel sends pass.
    barrier = threading.Barrier(3, timeout=10)

    def together(request: httpx.Request) -> httpx.Response:
        barrier.wait()
        return httpx.Response(200, json=chat_reply())

    gateway.queue(together, together, together)
    r = ok(run("generate", "a red fox", "-p", "k", "-n", "3", "-o", "fox.png"))
    assert r.stdout.splitlines() == [str(tmp_path / f"fox-{i}.png") for i in (1, 2, 3)]
    assert [str(q.url) for q in gateway.requests] == [CHAT_URL] * 3
    assert gateway.bodies()[0] == {
        "model": "google/gemini-2.5-flash-image",
        "messages": [{"role": "user", "content": "a red fox"}],
        "modalities": ["image", "text"],
        "stream": True,
    }


def test_one_failed_request_of_three_keeps_the_others(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    refused = httpx.Response(400, json={"error": {"message": "bad things"}})
    gateway.queue(chat_reply(), refused, chat_reply())
    r = run("generate", "a red fox", "-p", "k", "-n", "3", "-o", "fox.png")
    assert r.exit_code == 4
    assert r.stdout.splitlines() == [str(tmp_path / "fox-1.png"), str(tmp_path / "fox-2.png")]
    assert r.stderr.splitlines()[-2:] == [
        "error: the gateway refused the request (HTTP 400): bad things",
        "hint: check the options and --param fields against its message; it is not retried",
    ]
    assert files(tmp_path) == ["config/config.toml", "fox-1.png", "fox-2.png"]
    assert len(gateway.requests) == 3


def test_partial_failure_with_json_still_one_document(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    refused = httpx.Response(400, json={"error": {"message": "bad things"}})
    gateway.queue(chat_reply(), refused)
    r = run("generate", "a red fox", "-p", "k", "-n", "2", "-o", "fox.png", "--json")
    assert r.exit_code == 4
    doc = json.loads(r.stdout)
    assert doc["paths"] == [str(tmp_path / "fox-1.png")]
    assert doc["error"] == {
        "class": "GatewayRefused",
        "message": "the gateway refused the request (HTTP 400): bad things",
        "exit_code": 4,
    }


# -- prompts from stdin -----------------------------------------------------------------------


def test_prompt_dash_reads_stdin(run: Run, gateway: MockGateway) -> None:
    gateway.queue(images_reply())
    ok(run("generate", "-", "-o", "x.png", input="a fox from stdin\n"))
    assert gateway.bodies()[0]["prompt"] == "a fox from stdin"


def test_no_prompt_with_piped_stdin_reads_stdin(run: Run, gateway: MockGateway) -> None:
    gateway.queue(images_reply())
    ok(run("generate", "-o", "x.png", input="piped fox"))
    assert gateway.bodies()[0]["prompt"] == "piped fox"


def test_no_prompt_at_a_terminal_is_exit_2(run: Run, gateway: MockGateway) -> None:
    r = run("generate", tty=True)
    assert r.exit_code == 2
    assert r.stderr == (
        'error: no prompt given\nhint: imggen generate "a red fox" (or pipe it on stdin)\n'
    )
    assert gateway.requests == []


def test_empty_stdin_prompt_is_exit_2(run: Run, gateway: MockGateway) -> None:
    r = run("generate", "-", input="  \n")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "error: no prompt given"


# -- dry run ------------------------------------------------------------------------------------


def test_dry_run_prints_the_request_and_sends_nothing(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    r = ok(
        run(
            "generate", "a red fox", "--size", "1536x1024", "--quality", "high", "--dry-run",
            "--param", "moderation=low",
        )
    )  # fmt: skip
    assert r.stdout == (
        "POST https://gw.test/api/v1/images/generations\n"
        "Authorization: Bearer <redacted>\n"
        "Accept: application/json\n"
        "Content-Type: application/json\n"
        "\n"
        "{\n"
        '  "model": "turing/gpt-image-2",\n'
        '  "prompt": "a red fox",\n'
        '  "size": "1536x1024",\n'
        '  "quality": "high",\n'
        '  "n": 1,\n'
        '  "moderation": "low"\n'
        "}\n"
    )
    assert "cost: unknown (no list price known for turing/gpt-image-2)" in r.stderr
    assert gateway.requests == []
    assert files(tmp_path) == ["config/config.toml"]


def test_dry_run_needs_no_key(run: Run, gateway: MockGateway, monkeypatch) -> None:
    monkeypatch.delenv("TURING_API_KEY")
    r = ok(run("generate", "a red fox", "--dry-run", "--json"))
    doc = json.loads(r.stdout)
    assert doc == {
        "model": "turing/gpt-image-2",
        "dialect": "images",
        "stream": False,
        "requests": [
            {
                "method": "POST",
                "url": IMAGES_URL,
                "headers": {
                    "Authorization": "Bearer <redacted>",
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                },
                "json": {"model": "turing/gpt-image-2", "prompt": "a red fox", "n": 1},
            }
        ],
        "outputs": [str(Path.cwd() / "a-red-fox.png")],
        "images": 1,
        "estimate": {
            "per_image": None,
            "total": None,
            "count": 1,
            "currency": None,
            "basis": "no list price known for turing/gpt-image-2",
            "estimate": True,
        },
    }
    assert gateway.requests == []


def test_dry_run_on_chat_shows_fan_out_once(run: Run, gateway: MockGateway) -> None:
    r = ok(run("generate", "a fox", "-p", "k", "-n", "2", "-a", "16:9", "--dry-run"))
    assert r.stdout.splitlines()[:5] == [
        "# 2 images sent 2 times, 1 image each, at most 2 at once",
        f"POST {CHAT_URL}",
        "Authorization: Bearer <redacted>",
        "Accept: text/event-stream",
        "Content-Type: application/json",
    ]
    assert json.loads(r.stdout.split("\n\n", 1)[1]) == {
        "model": "google/gemini-2.5-flash-image",
        "messages": [{"role": "user", "content": "a fox"}],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},
        "stream": True,
    }
    assert gateway.requests == []


# -- --param, size checks, environment-only runs -------------------------------------------------


def test_param_dotted_keys_nest_and_json_values_parse(run: Run, gateway: MockGateway) -> None:
    gateway.queue(images_reply())
    ok(
        run(
            "generate", "a fox", "-o", "x.png",
            "--param", "moderation=low",
            "--param", "extra.a.b=1",
            "--param", "extra.a.c=[1, 2]",
            "--param", 'extra.d={"e": true}',
            "--param", "output_compression=80", "--format", "jpeg",
            "--param", "note=not json",
            "--param", 'quoted="42"',
        )
    )  # fmt: skip
    assert gateway.bodies() == [
        {
            "model": "turing/gpt-image-2",
            "prompt": "a fox",
            "n": 1,
            "moderation": "low",
            "extra": {"a": {"b": 1, "c": [1, 2]}, "d": {"e": True}},
            "output_compression": 80,
            "output_format": "jpeg",
            "note": "not json",
            "quoted": "42",
        }
    ]


def test_param_merges_into_image_config_on_chat(run: Run, gateway: MockGateway) -> None:
    gateway.queue(chat_reply())
    ok(
        run(
            "generate", "a fox", "-p", "k", "-a", "16:9", "-o", "x.png", "--no-stream",
            "--param", "image_config.image_size=1K",
        )
    )  # fmt: skip
    assert gateway.bodies()[0]["image_config"] == {"aspect_ratio": "16:9", "image_size": "1K"}
    assert "stream" not in gateway.bodies()[0]


def test_gateway_ignoring_size_is_warned(run: Run, gateway: MockGateway, tmp_path: Path) -> None:
    gateway.queue(images_reply())  # an 8x8 image
    r = ok(run("generate", "a fox", "-s", "1024x1024", "-o", "fox.png"))
    assert gateway.bodies()[0]["size"] == "1024x1024"
    assert r.stderr == (
        f"warning: asked for 1024x1024 but the gateway returned 8x8 ({tmp_path / 'fox.png'}): "
        "it did not honour the size/aspect asked\n"
    )


def test_environment_only_run(
    run: Run, gateway: MockGateway, clean_environ: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_environ.unlink()
    monkeypatch.setenv("IMGGEN_BASE_URL", "https://env.test/api/v1")
    monkeypatch.setenv("IMGGEN_API_KEY", "k-env")
    monkeypatch.setenv("IMGGEN_MODEL", "turing/gpt-image-2")
    gateway.queue(images_reply())
    r = ok(run("generate", "a fox", "-o", "fox.png", "--json"))
    assert json.loads(r.stdout)["profile"] == "env"
    (request,) = gateway.requests
    assert str(request.url) == "https://env.test/api/v1/images/generations"
    assert request.headers["authorization"] == "Bearer k-env"
    assert not clean_environ.exists()


def test_bare_preset_as_profile_with_its_key_variable(
    run: Run, gateway: MockGateway, clean_environ: Path
) -> None:
    clean_environ.unlink()
    gateway.queue(images_reply())
    ok(run("generate", "a fox", "-p", "turing", "-o", "fox.png"))
    (request,) = gateway.requests
    assert str(request.url) == "https://live-turing.cn.llm.tcljd.com/api/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {SENTINEL_KEY}"


def test_profile_defaults_apply_and_flags_win(
    run: Run, gateway: MockGateway, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    profile = {**CONFIG["profiles"]["t"], "quality": "low", "output": "out/", "params": {"x": 1}}
    write_config({"profiles": {"t": profile}})
    gateway.queue(images_reply(), images_reply())
    ok(run("generate", "a fox"))
    ok(run("generate", "a fox", "--quality", "high", "--param", "x=2", "-o", "b.png"))
    assert [(b["quality"], b["x"]) for b in gateway.bodies()] == [("low", 1), ("high", 2)]
    assert files(tmp_path) == ["b.png", "config/config.toml", "out/a-fox.png"]


# -- the key never leaks ----------------------------------------------------------------------


def _echo_key(status: int) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": f"Incorrect API key provided: {SENTINEL_KEY}"}}
    )


SCENARIOS: dict[str, tuple[list[str], Callable[[], list[Any]], int]] = {
    "success": (["-o", "ok.png"], lambda: [images_reply()], 0),
    "success verbose": (["-o", "v.png", "-v"], lambda: [images_reply()], 0),
    "success json": (["-o", "ok.jpg", "--json"], lambda: [images_reply()], 0),
    "jpeg with sidecar": (["-o", "side"], lambda: [images_reply(make_jpeg_header(8, 8))], 0),
    "stdout": (["-o", "-"], lambda: [images_reply()], 0),
    "dry run": (["--dry-run"], list, 0),
    "dry run json": (["--dry-run", "--json"], list, 0),
    "401 echoing the key": (["-o", "a.png"], lambda: [_echo_key(401)], 3),
    "401 echoing the key, json": (["-o", "a.png", "--json"], lambda: [_echo_key(401)], 3),
    "400 echoing the key, verbose": (["-o", "a.png", "-v"], lambda: [_echo_key(400)], 4),
    "retries exhausted": (["-o", "a.png", "--retries", "2"], lambda: [_echo_key(503)] * 3, 5),
    "retries exhausted, json": (["-o", "a.png", "--json"], lambda: [_echo_key(502)] * 3, 5),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sentinel_key_never_appears_in_output_or_files(
    run: Run, gateway: MockGateway, tmp_path: Path, scenario: str
) -> None:
    args, replies, code = SCENARIOS[scenario]
    gateway.queue(*replies())
    r = run("generate", "a fox", *args, limits=NO_BACKOFF)
    assert r.exit_code == code, r.stderr
    assert "Traceback" not in r.stderr
    assert SENTINEL_KEY.encode() not in r.stdout_bytes
    assert SENTINEL_KEY not in r.stderr
    for request in gateway.requests:  # it was sent, but only where it belongs
        assert request.url.host == "gw.test"
        assert request.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert SENTINEL_KEY.encode() not in path.read_bytes(), path
    if code >= 3 and "json" not in scenario:
        assert "Incorrect API key provided: ***" in r.stderr


def test_json_error_document_for_refusals_before_any_request(
    run: Run, gateway: MockGateway, write_config
) -> None:
    write_config(
        {
            "profiles": {
                "t": {"preset": "turing", "base_url": "https://gw.test/api/v1", "api_key": "k"}
            }
        }
    )
    r = run("generate", "a fox", "-s", "4000x2000", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"] == {
        "class": "SizeRefused",
        "message": (
            "turing/gpt-image-2 cannot make 4000x2000: the long side must be at most 3840 px"
        ),
        "exit_code": 2,
    }
    assert gateway.requests == []


def test_one_expired_link_keeps_the_image_that_did_arrive(
    run: Run, gateway: MockGateway, tmp_path: Path
) -> None:
    """SPEC: with -n > 1 the images that arrived are saved and listed; the exit code is the
    failure's."""
    urls = {"data": [{"url": "https://cdn.test/a.png"}, {"url": "https://cdn.test/b.png"}]}
    gateway.queue(
        urls,
        httpx.Response(200, headers={"content-type": "image/png"}, content=png_bytes()),
        httpx.Response(404),
    )
    r = run("generate", "two", "-n", "2", "-o", "pair.png")
    assert r.exit_code == 5
    assert r.stdout == f"{tmp_path / 'pair-1.png'}\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["pair-1.png"]
    assert "expired" in r.stderr


def test_json_keeps_the_models_words_when_no_image_came(run: Run, gateway: MockGateway) -> None:
    words = {"choices": [{"message": {"role": "assistant", "content": "I cannot draw that."}}]}
    gateway.queue(words)
    r = run("generate", "x", "-p", "k", "--no-stream", "--json")
    assert r.exit_code == 6
    doc = json.loads(r.stdout)
    assert doc["text"] == "I cannot draw that."
    assert doc["error"]["class"] == "NoImage"


def test_a_tier_without_an_aspect_is_still_checked(tmp_path: Path) -> None:
    """gemini-3 asked for 4K (about 16.8 megapixels) that answers 1024x1024 is reported."""
    from imggen import sizes
    from imggen.job import SavedImage
    from imggen.run import core, verify

    outcome = core.Outcome("p", "m", "openrouter")
    res = sizes.resolve("gemini-3", "m", None, "4K")
    saved = SavedImage(str(tmp_path / "a.png"), "image/png", 1, (1024, 1024), "0")
    verify.pixels(saved, res, "gemini-3", outcome)
    assert outcome.warnings == [
        f"asked for the 4K tier (about 16.8 megapixels) but the gateway returned 1024x1024 "
        f"({tmp_path / 'a.png'})"
    ]
    outcome.warnings.clear()
    big = SavedImage(str(tmp_path / "b.png"), "image/png", 1, (5504, 3072), "0")
    verify.pixels(big, res, "gemini-3", outcome)
    assert outcome.warnings == []
