"""issue 14 end to end: the installed imggen against hostile loopback gateways, bounded in
memory (RLIMIT_AS) and time. Nothing leaked, nothing lost, nothing unbounded."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from imggen.env import Env
from imggen.files.provenance import read_provenance
from imggen.files.scratch import HOST
from imggen.limits import Limits
from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e.hostile import Answer, Hostile, links_reply, run_bounded, send, serving

PNG = make_png(32, 32)


def test_a_hundred_links_for_one_image_cost_one_download(tmp_path: Path) -> None:
    with Hostile() as gw:
        urls = [f"{gw.url}/img/{i}.png" for i in range(100)]
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply(urls))
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-o", "one.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert gw.count("/img/") == 1
    assert "sent 100 images for 1 asked" in done.stderr.decode()


def test_an_expired_first_link_is_replaced_by_one_spare(tmp_path: Path) -> None:
    with Hostile() as gw:
        urls = [f"{gw.url}/gone/0.png"] + [f"{gw.url}/img/{i}.png" for i in range(1, 50)]
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply(urls))
        gw.routes["/gone/"] = serving(b"<Error>Request has expired</Error>", "application/xml")
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-o", "one.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert (gw.count("/gone/"), gw.count("/img/")) == (1, 1)


def test_a_signed_reference_url_is_saved_without_its_signature(tmp_path: Path) -> None:
    signed = "https://bucket.example/ref.png?X-Amz-Signature=deadbeef&token=s3cr3t#frag"
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-r", signed, "-o", "a.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    record = read_provenance(tmp_path / "a.png")
    assert record is not None
    assert record["refs"][0]["url"] == "https://bucket.example/ref.png"
    assert record["refs"][0]["name"] == "ref.png"
    data = (tmp_path / "a.png").read_bytes()
    assert b"deadbeef" not in data and b"s3cr3t" not in data
    assert SENTINEL_KEY.encode() not in data


def trickle(gw: Hostile, promised: int, step: float) -> Answer:
    """Headers promising `promised` bytes, then a byte every `step` s (step 0: nothing more)."""

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(promised))
        h.end_headers()
        h.wfile.write(b"{")
        h.wfile.flush()
        for _ in range(promised):
            if gw.stop.wait(step if step else 30.0) or not step:
                return
            h.wfile.write(b" ")
            h.wfile.flush()

    return answer


@pytest.mark.parametrize(("promised", "step"), [(10_000, 0.2), (100_000, 0.0)])
@pytest.mark.parametrize("route", ["/v1/chat/completions", "/img/"])
def test_the_default_deadline_ends_a_trickle_and_a_lying_length(
    tmp_path: Path, promised: int, step: float, route: str
) -> None:
    """No --timeout: the default overall limit (Limits.deadline; 600 s as shipped, 2 s here)
    ends a body trickling a byte at a time and one whose Content-Length promises too much."""
    from imggen.cli.app import app

    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes[route] = trickle(gw, promised, step)
        env = Env(
            environ={**os.environ, **gw.env()}, stderr_isatty=False, limits=Limits(deadline=2.0)
        )
        began = time.monotonic()
        r = CliRunner().invoke(app, ["generate", "x", "-o", "a.png"], obj=env)
        took = time.monotonic() - began
    assert r.exit_code == 5, r.stderr
    assert "time limit (--timeout) ran out" in r.stderr
    assert took < 10
    assert not list(tmp_path.glob("*.png"))


def test_the_shipped_time_limit_leaves_room_for_4k_and_sequential_images() -> None:
    from imggen.job import HttpCall
    from imggen.run import core

    limits, opts = Limits(), core.RunOptions()
    one = SimpleNamespace(calls=[HttpCall("POST", "/x", images=1)])
    ten = SimpleNamespace(calls=[HttpCall("POST", "/x", images=10)])
    # 4K at high quality takes 180-240 s at the gateways: one retry of such must fit
    assert core.time_limit(opts, limits, cast(Any, one)) >= 2 * 240 + 60
    # ten images made in turn by one request (Seedream's n) take about ten times one
    assert core.time_limit(opts, limits, cast(Any, ten)) >= 10 * 120
    assert core.time_limit(core.RunOptions(timeout=5.0), limits, cast(Any, ten)) == 5.0


# -- the world's faults: no exit 1, and a paid image is never lost ---------------------------

NOISE = make_png(160, 160, noise=True)  # ~77 KB that does not compress


def test_a_file_size_limit_below_the_image_is_said_and_leaves_nothing(tmp_path: Path) -> None:
    """No file anywhere may grow to the image's size (ulimit -f): exit 7 naming the cause,
    never "a bug", and no partial file left, in the output folder or the temp folder."""
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(NOISE)
        done, _ = run_bounded(
            ["generate", "x", "-o", "out/a.png"],
            gw.env(TMPDIR=str(tmp_path)),
            tmp_path,
            file_size=len(NOISE) // 2,
        )
    err = done.stderr.decode()
    assert done.returncode == 7, err
    assert "could not write" in err and "File too large" in err and "this is a bug" not in err
    assert not (tmp_path / "out" / "a.png").exists()
    left = [p.name for p in [*tmp_path.iterdir(), *(tmp_path / "out").iterdir()] if p.is_file()]
    assert left == []


def test_a_full_stdout_keeps_the_image(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(NOISE)
        env = gw.env(TMPDIR=str(tmp_path))  # where an image for stdout waits
        with open("/dev/full", "wb") as full:
            done, _ = run_bounded(["generate", "x", "-o", "-"], env, tmp_path, stdout=full)
    err = done.stderr.decode()
    assert done.returncode == 7, err
    assert "no space left to write stdout" in err
    kept = list(tmp_path.glob("imggen-stdout.unsaved-*.png"))
    assert len(kept) == 1 and str(kept[0]) in err
    image = kept[0].read_bytes()  # the image as saved: its record after IHDR (33 bytes)
    assert image.startswith(NOISE[:33]) and image.endswith(NOISE[33:])


def test_a_reader_that_stops_reading_stdout_is_said_not_a_bug(tmp_path: Path) -> None:
    pipe = ("bash", "-c", '"$@" | head -c 8 >/dev/null; exit "${PIPESTATUS[0]}"', "bash")
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(make_png(400, 400, noise=True))  # more than a pipe holds
        done, _ = run_bounded(["generate", "x", "-o", "-"], gw.env(), tmp_path, prefix=pipe)
    err = done.stderr.decode()
    assert done.returncode == 7, err
    assert err.startswith("error: stdout was closed before the whole image was written")
    assert "Traceback" not in err and "Exception ignored" not in err


def _small_disk() -> tuple[str, ...] | None:
    """A command prefix running imggen with ./disk a 192 KiB tmpfs, in a mount namespace of
    its own (root and util-linux's unshare); None where that cannot be had."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return None
    script = 'mkdir -p disk && mount -t tmpfs -o size=192k tmpfs disk && exec "$@"'
    return (unshare, "-m", "sh", "-c", script, "sh")


def test_a_disk_with_room_for_the_images_alone_saves_them(tmp_path: Path) -> None:
    """Saving needs no more room than the images: two 77 KB images on a 192 KiB disk."""
    prefix = _small_disk()
    if prefix is None:
        pytest.skip("needs root and unshare to mount a small disk")
    with Hostile() as gw:
        urls = [f"{gw.url}/img/a", f"{gw.url}/img/b"]
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply(urls))
        gw.routes["/img/"] = serving(NOISE)
        script = prefix[-2].replace('exec "$@"', '"$@" >/dev/null && ls -A disk')
        done, _ = run_bounded(
            ["generate", "x", "-o", "disk/a.png", "-n", "2"],
            gw.env(),
            tmp_path,
            prefix=(*prefix[:-2], script, "sh"),
        )
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(done.stdout.decode().split()) == ["a-1.png", "a-2.png"]


def test_a_full_disk_is_said_as_such_and_the_image_is_kept(tmp_path: Path) -> None:
    """The image outgrows the output's disk while it arrives: the rest goes to the temp
    folder's disk, and the image is kept there under a name printed with the error."""
    prefix = _small_disk()
    if prefix is None:
        pytest.skip("needs root and unshare to mount a small disk")
    big = make_png(300, 300, noise=True)  # ~270 KB, over the 192 KiB disk
    temp = tmp_path / "temp"
    temp.mkdir()
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(big)
        done, _ = run_bounded(
            ["generate", "x", "-o", "disk/a.png"],
            gw.env(TMPDIR=str(temp)),
            tmp_path,
            prefix=prefix,
        )
    err = done.stderr.decode().replace("\n", " ")
    assert done.returncode == 7, err
    assert "no space left to write" in err and "this is a bug" not in err
    # in the shared temp folder: a name no one can guess ahead, readable by its owner alone
    (kept,) = temp.iterdir()
    assert kept.name.startswith("a.unsaved-") and kept.name != "a.unsaved-1.png"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert f"kept as {kept}" in err
    assert kept.read_bytes()[:8] == big[:8] and len(kept.read_bytes()) > len(big)  # + record


def test_a_run_removes_the_part_files_of_runs_that_are_gone(tmp_path: Path) -> None:
    """After kill -9, .imggen-*.part files stayed forever; the next run writing that folder
    removes those whose owner is gone (or that are a day old), never a live run's."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".imggen-{HOST}-{dead.pid}-0badc0de-x1.part"
    old = out / ".imggen-0badc0de-x2.part"  # the name before pids were in it, two days old
    live = out / f".imggen-{HOST}-{os.getpid()}-0badc0de-x3.part"  # this test runs: kept
    # another machine's run writing the same folder (a shared volume): its pid means nothing
    elsewhere = out / f".imggen-ffffff-{dead.pid}-0badc0de-x4.part"
    for path in (stale, old, live, elsewhere):
        path.write_bytes(b"half an image")
    for path, age in ((stale, 120), (old, 2 * 86400), (live, 2 * 3600), (elsewhere, 2 * 3600)):
        os.utime(path, (time.time() - age, time.time() - age))
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-o", "out/a.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.png", live.name, elsewhere.name])
