"""The pytest plugin (registered as `imggen` in the pytest11 entry points): the fake gateway as
fixtures, so a project's tests can run its image pipeline with no key and no bill.

    def test_icons_are_made(imggen_env, tmp_path):
        subprocess.run(["imggen", "generate", "app icon", "-o", tmp_path / "icon.png"], check=True)
        assert (tmp_path / "icon.png").exists()
        assert len(imggen_env.requests_to("/chat/completions")) == 1

- ``imggen_gateway``: a started FakeGateway on 127.0.0.1 for one test, stopped afterwards. It
  takes any key but requires one (``Authorization: Bearer ...``);
  ``@pytest.mark.imggen_gateway(api_key="k")`` (or setting ``.api_key``) makes it take only
  that one; ``.faults`` makes requests fail.
- ``imggen_env``: the same gateway, with ``IMGGEN_BASE_URL``, ``IMGGEN_API_KEY`` and
  ``IMGGEN_MODEL`` set for the test and ``IMGGEN_CONFIG`` (and ``IMGGEN_STATE_DIR``, the job
  ledger) pointing at an empty folder, so imggen (in the test's process or a subprocess it
  starts) reaches the fake and nothing else; ``IMGGEN_DATA_DIR`` too, so the images a test
  makes stay out of the user's history. The gateway then takes only the key it set (the
  marker's, else ``test-key``).

Disable it with ``pytest -p no:imggen``. Only pytest is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from imggen.testing.server import FakeGateway

MODEL = "google/gemini-2.5-flash-image"  # a chat model the fake answers with one image
API_KEY = "test-key"
# Settings that would send imggen elsewhere than the fake, or pick a profile it has not got.
CLEARED = ("IMGGEN_PROFILE", "IMGGEN_DIALECT")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "imggen_gateway(api_key=KEY): the only key the imggen_gateway fixture takes"
    )


@pytest.fixture
def imggen_gateway(request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    """A FakeGateway serving on 127.0.0.1 for the length of one test."""
    from imggen.testing.server import FakeGateway

    marker = request.node.get_closest_marker("imggen_gateway")
    with FakeGateway(api_key=marker.kwargs.get("api_key") if marker else None) as gateway:
        yield gateway


@pytest.fixture
def imggen_env(
    imggen_gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> FakeGateway:
    """The gateway, with the environment pointing imggen at it (undone after the test)."""
    config = Path(tmp_path_factory.mktemp("imggen-config")) / "config.toml"
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMGGEN_CONFIG", str(config))
    monkeypatch.setenv("IMGGEN_DATA_DIR", str(config.parent / "data"))
    monkeypatch.setenv("IMGGEN_STATE_DIR", str(config.parent / "state"))  # the job ledger
    monkeypatch.setenv("IMGGEN_BASE_URL", imggen_gateway.base_url)
    if imggen_gateway.api_key is None:
        imggen_gateway.api_key = API_KEY
    monkeypatch.setenv("IMGGEN_API_KEY", imggen_gateway.api_key)
    monkeypatch.setenv("IMGGEN_MODEL", MODEL)
    return imggen_gateway
