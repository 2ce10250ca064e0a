"""How a key is sent (imggen.wire.auth): every way a preset or profile may name, sent by the
real client through httpx.MockTransport, only to the base URL, refreshed once when a token
from api_key_cmd expired, and shown redacted by --dry-run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from imggen.errors import AuthFailed, ConfigError
from imggen.profiles import settings
from imggen.wire import auth
from imggen.wire.client import Client
from tests.conftest import SENTINEL_KEY
from tests.dialects import fixture
from tests.test_client import CALL, CHAT, NO_BACKOFF, Recorder, image_response, ok_json

BASE = "https://gw.example/v1"


@pytest.fixture
def spill(tmp_path: Path) -> Any:
    made = iter(range(100))

    def new() -> tuple[Path, Any]:
        path = tmp_path / f"spill-{next(made)}.part"
        return path, path.open("wb")

    return new


@pytest.mark.parametrize(
    ("spec", "header", "value"),
    [
        ("bearer", "authorization", f"Bearer {SENTINEL_KEY}"),
        ("api-key", "api-key", SENTINEL_KEY),
        ("x-goog-api-key", "x-goog-api-key", SENTINEL_KEY),
        ("x-key", "x-key", SENTINEL_KEY),
        ("key", "authorization", f"Key {SENTINEL_KEY}"),
        ("header:X-Api-Token", "x-api-token", SENTINEL_KEY),
    ],
)
def test_each_way_sends_the_key_to_the_base_url_only(
    spec: str, header: str, value: str, spill: Any
) -> None:
    rec = Recorder(ok_json(fixture("trinity_url.json")), image_response())
    way = auth.parse(spec)
    with Client(
        BASE, SENTINEL_KEY, transport=httpx.MockTransport(rec), limits=NO_BACKOFF, auth=way
    ) as client:
        reply = client.send(CALL, CHAT, spill)
        client.download(reply.images[0].value, spill)
    api, download = rec.requests
    assert api.headers[header] == value
    assert str(api.url) == f"{BASE}/chat/completions"
    others = {"authorization", "api-key", "x-goog-api-key", "x-key", "x-api-token"} - {header}
    assert not others & set(api.headers)
    assert SENTINEL_KEY not in str(download.headers) and SENTINEL_KEY not in str(download.url)


def test_query_parameter_auth_puts_the_key_in_the_url_of_api_calls_only(spill: Any) -> None:
    rec = Recorder(ok_json(fixture("trinity_url.json")), image_response(), ok_json({"data": []}))
    way = auth.parse("query:key")
    with Client(
        BASE + "/", SENTINEL_KEY, transport=httpx.MockTransport(rec), limits=NO_BACKOFF, auth=way
    ) as client:
        reply = client.send(CALL, CHAT, spill)
        client.download(reply.images[0].value, spill)
        client.get_json("/models?page=2")
    api, download, listing = rec.requests
    assert str(api.url) == f"{BASE}/chat/completions?key={SENTINEL_KEY}"
    assert "authorization" not in api.headers
    assert SENTINEL_KEY not in str(download.url)
    assert str(listing.url) == f"{BASE}/models?page=2&key={SENTINEL_KEY}"


def test_a_rejected_token_is_fetched_again_once(spill: Any) -> None:
    seen: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] != "Bearer fresh-token-2":
            return httpx.Response(401, json={"error": {"message": "token expired"}})
        return ok_json()

    tokens = iter(["fresh-token-2", "never-asked"])
    with Client(
        BASE,
        "old-token-1",
        transport=httpx.MockTransport(gateway),
        limits=NO_BACKOFF,
        refresh=lambda: next(tokens),
    ) as client:
        reply = client.send(CALL, CHAT, spill)
    assert reply.images
    assert seen == ["Bearer old-token-1", "Bearer fresh-token-2"]


def test_a_token_rejected_twice_is_an_auth_failure(spill: Any) -> None:
    rec = Recorder(*[httpx.Response(401, json={"error": {"message": "no"}})] * 3)
    fetched: list[int] = []

    def refresh() -> str:
        fetched.append(1)
        return f"token-{len(fetched)}"

    client = Client(
        BASE, "token-0", transport=httpx.MockTransport(rec), limits=NO_BACKOFF, refresh=refresh
    )
    with client, pytest.raises(AuthFailed):
        client.send(CALL, CHAT, spill)
    assert fetched == [1]
    assert len(rec.requests) == 2


def test_without_a_refresh_a_401_is_final(spill: Any) -> None:
    rec = Recorder(httpx.Response(401, json={"error": {"message": "no"}}))
    with make_client(rec) as client, pytest.raises(AuthFailed):
        client.send(CALL, CHAT, spill)
    assert len(rec.requests) == 1


def make_client(rec: Recorder) -> Client:
    return Client(BASE, SENTINEL_KEY, transport=httpx.MockTransport(rec), limits=NO_BACKOFF)


@pytest.mark.parametrize("bad", ["basic", "header:", "query:a b", "header:x:y", ""])
def test_unknown_ways_are_refused_naming_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match="header:NAME, query:NAME"):
        auth.parse(bad)


def test_shown_forms_never_hold_the_key() -> None:
    assert auth.parse("key").shown_headers() == {"Authorization": "Key <redacted>"}
    assert (
        auth.parse("query:key").shown_url("https://g/v1/x") == "https://g/v1/x?key=%3Credacted%3E"
    )
    assert auth.parse("x-goog-api-key").describe() == "x-goog-api-key header"
    assert auth.parse("bearer").describe() == "Authorization: Bearer"


# -- settings: profile > preset > Bearer ------------------------------------------------------


def write(path: Path, profile: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps({"profiles": {"p": profile}}))
    path.chmod(0o600)
    return path


def test_a_profile_names_how_its_key_is_sent(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        {"base_url": "https://g/v1", "model": "m", "api_key_env": "K", "auth": "x-goog-api-key"},
    )
    s = settings.resolve(profile="p", environ={"IMGGEN_CONFIG": str(cfg), "K": "k-123456789"})
    assert s.auth == auth.parse("x-goog-api-key")
    assert s.sources["auth"] == "profile p"
    assert s.refresh is None  # a key from the environment cannot change


def test_a_bad_auth_is_a_config_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", {"base_url": "https://g/v1", "model": "m", "auth": "basic"})
    with pytest.raises(ConfigError, match="not a way imggen knows"):
        settings.resolve(profile="p", environ={"IMGGEN_CONFIG": str(cfg)}, need_key=False)


def test_a_key_from_a_command_can_be_fetched_again(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = (
        "import pathlib,sys; p=pathlib.Path(sys.argv[1]); "
        "n=int(p.read_text()) if p.exists() else 0; p.write_text(str(n+1)); print(f'tok-{n}')"
    )
    cfg = write(
        tmp_path / "c.toml",
        {
            "base_url": "https://g/v1",
            "model": "m",
            "api_key_cmd": [sys.executable, "-c", script, str(counter)],
        },
    )
    s = settings.resolve(profile="p", environ={"IMGGEN_CONFIG": str(cfg)})
    assert s.api_key == "tok-0"
    assert s.refresh is not None
    assert s.refresh() == "tok-1"


def test_dry_run_shows_the_profiles_way_redacted(run: Any, write_config: Any) -> None:
    write_config(
        {
            "profiles": {
                "p": {"base_url": "https://g.example/v1", "model": "gpt-image-1", "auth": "api-key"}
            }
        }
    )
    r = run("generate", "a fox", "-p", "p", "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["requests"][0]["headers"]["api-key"] == "<redacted>"
    assert "Authorization" not in doc["requests"][0]["headers"]


def test_a_403_is_not_an_expired_token(spill: Any) -> None:
    rec = Recorder(httpx.Response(403, json={"error": {"message": "not allowed"}}))
    fetched: list[int] = []
    client = Client(
        BASE,
        "token-0",
        transport=httpx.MockTransport(rec),
        limits=NO_BACKOFF,
        refresh=lambda: fetched.append(1) or "token-1",
    )
    with client, pytest.raises(AuthFailed):
        client.send(CALL, CHAT, spill)
    assert fetched == [] and len(rec.requests) == 1
