"""The Python API: imggen.generate / imggen.edit against the offline gateway (the pytest
plugin's imggen_env fixture), errors as exceptions with the exit code, nothing printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import imggen
from imggen.errors import ConfigError, ExitCode, UsageError
from imggen.testing import FakeGateway, make_png


def test_generate_returns_saved_images_and_prints_nothing(
    imggen_env: FakeGateway, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = imggen.generate("a red fox", output=str(tmp_path / "fox.png"), count=2)
    assert result.paths == [tmp_path / "fox-1.png", tmp_path / "fox-2.png"]
    assert all(p.is_file() for p in result.paths)
    assert result.images[0].mime == "image/png" and len(result.images[0].sha256) == 64
    assert result.record["model"] == "google/gemini-2.5-flash-image"
    assert result.record["estimate"]["estimate"] is True
    assert capfd.readouterr() == ("", "")
    assert len(imggen_env.requests_to("/chat/completions")) == 2


def test_edit_takes_paths(imggen_env: FakeGateway, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(64, 64))
    result = imggen.edit(photo, "make it blue", output=str(tmp_path / "blue.png"))
    assert result.paths == [tmp_path / "blue.png"]


def test_errors_are_exceptions_with_the_exit_code(imggen_env: FakeGateway, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as bad:
        imggen.generate("a fox", aspcet="16:9")
    assert bad.value.exit_code == ExitCode.USAGE and "aspect" in (bad.value.hint or "")
    with pytest.raises(UsageError, match="aspect="):
        imggen.generate("a fox", aspect="wide")
    with pytest.raises(ConfigError) as unset:
        imggen.generate("a fox", environ={"IMGGEN_CONFIG": str(tmp_path / "none.toml")})
    assert int(unset.value.exit_code) == 3


def test_import_imggen_stays_light() -> None:
    code = (
        "import sys, imggen; "
        "heavy = [m for m in ('httpx', 'rich', 'typer', 'imggen.api', 'sqlite3', 'PIL') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
