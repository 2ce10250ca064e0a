"""issue 25: files imggen writes besides images (results file, gallery) never follow a link it
did not make and never replace a file it did not make without --force; an output folder that
is a link out of the manifest's folder needs --outputs-anywhere."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imggen.files import owned
from imggen.testing import FakeGateway
from tests.e2e.test_hostile_batch import gw_env, jobs, prompts

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


def test_a_results_file_linked_to_bashrc_is_refused_before_anything_is_sent(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    bashrc = tmp_path / "bashrc"
    bashrc.write_text("export PATH=$PATH\n")
    m = jobs(tmp_path / "a.jsonl", {"prompt": "$(touch /tmp/pwned)", "output": "a.png"})
    (tmp_path / "a.results.jsonl").symlink_to(bashrc)

    done = cli("batch", str(m), env=gw_env(fake))

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "is a symbolic link" in err
    assert bashrc.read_text() == "export PATH=$PATH\n"
    assert not prompts(fake)
    forced = cli("batch", str(m), "--force", env=gw_env(fake))  # --force never follows it
    assert forced.returncode == 2 and bashrc.read_text() == "export PATH=$PATH\n"


def test_report_and_results_never_overwrite_the_manifest_or_a_strangers_file(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    m = tmp_path / "m.toml"
    m.write_text('[[jobs]]\nprompt = "a fox"\noutput = "fox.png"\n')
    notes = tmp_path / "notes.html"
    notes.write_text("<p>my notes</p>")

    for args in (["--report", str(m)], ["--results", str(m)], ["--report", str(notes)]):
        done = cli("batch", str(m), *args, env=gw_env(fake))
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert "not overwritten" in err
    assert m.read_text().startswith("[[jobs]]") and notes.read_text() == "<p>my notes</p>"
    assert not prompts(fake)
    assert "--force" in done.stderr.decode()

    ok = cli("batch", str(m), "--report", str(tmp_path / "g.html"), env=gw_env(fake))
    assert ok.returncode == 0, ok.stderr.decode()
    again = cli("batch", str(m), "--report", str(tmp_path / "g.html"), env=gw_env(fake))
    assert again.returncode == 0, again.stderr.decode()  # its own gallery and results: replaced
    forced = cli("batch", str(m), "--report", str(notes), "--force", env=gw_env(fake))
    assert forced.returncode == 0, forced.stderr.decode()
    assert "imggen batch" in notes.read_text()


def test_an_output_folder_linked_out_of_the_manifests_folder_needs_outputs_anywhere(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "art").symlink_to(elsewhere)
    m = jobs(project / "a.jsonl", {"prompt": "a fox", "output": "art/fox.png"})

    done = cli("batch", str(m), env=gw_env(fake))

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "leads outside the manifest's folder" in err and "--outputs-anywhere" in err
    assert not prompts(fake) and not list(elsewhere.iterdir())
    allowed = cli("batch", str(m), "--outputs-anywhere", env=gw_env(fake))
    assert allowed.returncode == 0, allowed.stderr.decode()
    assert (elsewhere / "fox.png").exists()


def test_a_results_file_on_a_device_is_written_not_refused(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    m = jobs(tmp_path / "a.jsonl", {"prompt": "a fox", "output": "fox.png"})
    done = cli("batch", str(m), "--results", "/dev/null", env=gw_env(fake))
    assert done.returncode == 0, done.stderr.decode()


# -- the helper itself ---------------------------------------------------------------------


def test_open_append_refuses_a_link_swapped_in_after_the_check(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "results.jsonl"
    link.symlink_to(target)
    with pytest.raises(owned.NotOurs):
        owned.open_append(link, "the results file")
    assert target.read_text() == "keep"


def test_replace_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "g.html"
    link.symlink_to(target)

    def new(folder: Path) -> tuple[Path, int]:
        path = folder / ".tmp-x"
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    owned.replace(link, b"page", mode=0o644, new=new)
    assert target.read_text() == "keep"
    assert not link.is_symlink() and link.read_bytes() == b"page"


def test_check_knows_its_own_files(tmp_path: Path) -> None:
    mine = tmp_path / "r.jsonl"
    mine.write_text(json.dumps({"job": 1, "status": "saved"}) + "\n")
    owned.check(mine, "results file", ours=lambda h: h.startswith(b'{"job": '))
    with pytest.raises(owned.NotOurs, match="not an imggen results file") as refused:
        owned.check(mine, "results file", ours=lambda h: False)
    assert refused.value.hint is not None and "--force" in refused.value.hint
    owned.check(mine, "results file", ours=lambda h: False, force=True)
    (tmp_path / "dir").mkdir()
    with pytest.raises(owned.NotOurs, match="not a file"):
        owned.check(tmp_path / "dir", "report", ours=lambda h: True, force=True)


def test_a_manifest_name_that_is_not_utf8_writes_its_report_after_paying(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    """The report crashed (exit 1) after every job was paid for."""
    name = os.fsdecode(b"assets-\xff.jsonl")
    m = jobs(tmp_path / name, {"prompt": "a fox", "output": "fox.png"})
    done = cli("batch", str(m), "--report", str(tmp_path / "g.html"), env=gw_env(fake))
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, err
    assert "internal error" not in err
    assert "imggen batch" in (tmp_path / "g.html").read_text(errors="replace")


def test_a_sidecar_imggen_did_not_make_is_not_replaced_without_force(
    fake: FakeGateway, cli: Cli, tmp_path: Path
) -> None:
    fake.image_format = "jpeg"
    (tmp_path / "a.jpg.json").write_text('{"mine": true}\n')
    done = cli("generate", "a fox", "-o", "a.jpg", env=gw_env(fake))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "a.jpg.json exists" in err and "--force" in err
    assert (tmp_path / "a.jpg.json").read_text() == '{"mine": true}\n'
    assert not prompts(fake)
    forced = cli("generate", "a fox", "-o", "a.jpg", "--force", env=gw_env(fake))
    assert forced.returncode == 0, forced.stderr.decode()
    assert '"mine"' not in (tmp_path / "a.jpg.json").read_text()
