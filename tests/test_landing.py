"""files.save.Landing / files.incoming.Incoming: images written once, as they arrive, checked,
with provenance after IHDR, hashed on the way, then renamed into place."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

import pytest

from imggen.errors import GatewayFailed
from imggen.files.imagefile import read_png_text
from imggen.files.provenance import read_provenance
from imggen.files.save import Landing
from imggen.files.scratch import Scratch
from imggen.files.targets import Target
from imggen.limits import Limits
from imggen.testing import make_jpeg_header, make_png
from tests.e2e import leftovers, png_chunks


def landing(*targets: Target, limits: Limits = Limits()) -> Landing:
    return Landing(list(targets), record=lambda i: {"index": i}, scratch=Scratch(), limits=limits)


def receive(land: Landing, data: bytes, piece: int = 1000) -> Path:
    path, sink = land.open()
    with sink:
        for i in range(0, len(data), piece):
            sink.write(data[i : i + piece])
    return path


def test_a_png_lands_in_one_pass_with_its_record_after_ihdr(tmp_path: Path) -> None:
    png = make_png(64, 48, noise=True)
    land = landing(Target(tmp_path / "a.png"))
    path = receive(land, png)
    saved = land.land(path, 1)
    data = (tmp_path / "a.png").read_bytes()
    assert [kind for kind, _ in png_chunks(data)][:2] == [b"IHDR", b"iTXt"]
    assert read_provenance(tmp_path / "a.png") == {"index": 1}
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert saved.bytes == len(data) and saved.pixels == (64, 48)
    land.close()
    assert leftovers(tmp_path) == ["a.png"]


def test_the_gateways_own_record_is_replaced_not_repeated(tmp_path: Path) -> None:
    land = landing(Target(tmp_path / "first.png"))
    land.land(receive(land, make_png(8, 8)), 1)
    again = landing(Target(tmp_path / "again.png"))
    again.land(receive(again, (tmp_path / "first.png").read_bytes()), 1)
    data = (tmp_path / "again.png").read_bytes()
    assert data == (tmp_path / "first.png").read_bytes()  # the XMP, record and Software once
    assert json.loads(read_png_text(tmp_path / "again.png")["imggen"]) == {"index": 1}


def test_a_bad_crc_is_exit_5_and_leaves_no_file(tmp_path: Path) -> None:
    png = bytearray(make_png(32, 32, noise=True))
    png[60] ^= 0xFF  # inside IDAT
    land = landing(Target(tmp_path / "a.png"))
    path = receive(land, bytes(png))
    with pytest.raises(GatewayFailed, match="CRC of chunk IDAT") as info:
        land.land(path, 1)
    assert int(info.value.exit_code) == 5
    land.close()
    assert leftovers(tmp_path) == []


def test_a_jpeg_keeps_a_sidecar_and_a_cut_one_is_refused(tmp_path: Path) -> None:
    jpeg = make_jpeg_header(16, 16) + bytes(100) + b"\xff\xd9"
    land = landing(Target(tmp_path / "a"), Target(tmp_path / "b"))
    whole, cut = receive(land, jpeg), receive(land, jpeg[:30])
    placed, extra = land.assign([whole, cut])
    assert extra == [] and placed[0] == (whole, 1) and placed[1][1] is None
    land.land(whole, 1)
    assert json.loads((tmp_path / "a.jpg.json").read_text()) == {"index": 1}
    with pytest.raises(GatewayFailed, match="truncated"):
        land.land(cut, None)


def test_an_image_after_a_failed_one_takes_its_place_and_record(tmp_path: Path) -> None:
    land = landing(Target(tmp_path / "a.png"))
    bad = bytearray(make_png(8, 8))
    bad[40] ^= 1
    first, second = receive(land, bytes(bad)), receive(land, make_png(8, 8))
    placed, extra = land.assign([first, second])
    assert placed[0] == (second, 1) and extra == []
    land.land(second, 1)  # written as image 2, rewritten with image 1's record
    assert read_provenance(tmp_path / "a.png") == {"index": 1}


def test_the_decoded_image_cap_stops_the_reply_at_once(tmp_path: Path) -> None:
    land = landing(Target(tmp_path / "a.png"), limits=Limits(download_cap=4096))
    path, sink = land.open()
    sink.write(make_png(8, 8)[:33])
    with pytest.raises(GatewayFailed, match="over the 4,096-byte cap"):
        sink.write(bytes(8192))
    assert not path.exists()


def test_a_target_on_another_filesystem_is_reached_by_a_copy(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    with tempfile.TemporaryDirectory(dir=shm) as other:
        land = landing(Target(tmp_path / "a.png"), Target(Path(other) / "b.png"))
        one, two = receive(land, make_png(8, 8)), receive(land, make_png(9, 9))
        for path, index in land.assign([one, two])[0]:
            land.land(path, index)
        land.close()
        assert read_provenance(Path(other) / "b.png") == {"index": 2}
        assert os.listdir(other) == ["b.png"]
    assert leftovers(tmp_path) == ["a.png"]


def test_a_disk_that_fills_while_the_image_arrives_hands_it_to_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output folder's disk refuses more bytes mid-image: what was written moves to the
    temp folder and the rest follows it there; the image lands whole, nothing left behind."""
    from imggen.files import incoming

    out, temp = tmp_path / "out", tmp_path / "temp"
    out.mkdir()
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    real_write = os.write
    elsewhere: list[int] = []

    def write(fd: int, data: bytes) -> int:
        where = os.readlink(f"/proc/self/fd/{fd}")
        if where.startswith(str(out)) and os.fstat(fd).st_size:
            raise OSError(errno.ENOSPC, "No space left on device")
        if where.startswith(str(temp)):
            elsewhere.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(incoming.os, "write", write)
    png = make_png(600, 600, noise=True)  # ~1 MB: several batched writes
    land = landing(Target(out / "a.png"))
    path = receive(land, png, piece=65536)
    saved = land.land(path, 1)
    land.close()
    assert sum(elsewhere) == saved.bytes  # the first piece moved, then all the rest
    assert imagefile_pixels(out / "a.png") == (600, 600)
    assert saved.sha256 == hashlib.sha256((out / "a.png").read_bytes()).hexdigest()
    assert leftovers(out) == ["a.png"] and leftovers(temp) == []


def test_a_write_that_fails_once_the_image_arrived_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imggen.errors import DiskFull

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    land = landing(Target(tmp_path / "a.png"))
    path = receive(land, make_png(32, 32, noise=True))
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFull) as info:
        land.land(path, 1)
    land.discard(path)
    land.close()
    kept = tmp_path / "a.unsaved-1.png"
    assert f"kept as {kept}" in info.value.message
    assert read_provenance(kept) == {"index": 1}
    assert leftovers(tmp_path) == ["a.unsaved-1.png"]


def imagefile_pixels(path: Path) -> tuple[int, int] | None:
    from imggen.files.imagefile import dimensions

    with path.open("rb") as f:
        return dimensions(f)


def test_a_partial_render_gives_its_index_back_to_the_image_it_previews(tmp_path: Path) -> None:
    """A stream sends previews before the image, each written as an image is; once known as
    a preview it gives index 1 back, so the image is written with its own record, once."""
    land = landing(Target(tmp_path / "a.png"))
    preview = land.preview(receive(land, make_png(8, 8, noise=True)))
    final = receive(land, make_png(16, 16, noise=True))
    assert land.assign([final]) == ([(final, 1)], [])
    sink = land._sinks[final]
    assert sink.index == 1  # written with image 1's record: no second pass needed
    land.land(final, 1)
    land.discard(preview)
    land.close()
    assert read_provenance(tmp_path / "a.png") == {"index": 1}
    assert leftovers(tmp_path) == ["a.png"]


def test_a_streamed_preview_big_enough_to_spill_leaves_index_1_to_the_image(
    tmp_path: Path,
) -> None:
    """Through the SSE reader: a partial_image event of 100+ KB is written as it comes, as
    images are; the reader marks it a preview, and the completed image is written once, with
    image 1's record."""
    import base64
    from types import SimpleNamespace
    from typing import Any, cast

    from imggen.dialects import DIALECTS
    from imggen.run.streaming import Watched
    from imggen.wire.replies import read_sse

    def event(kind: str, png: bytes) -> bytes:
        body = {"type": kind, "b64_json": base64.b64encode(png).decode()}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    stream = event("image_generation.partial_image", make_png(200, 200, noise=True))
    stream += event("image_generation.completed", make_png(210, 200, noise=True))
    land = landing(Target(tmp_path / "a.png"))
    ui = cast(Any, SimpleNamespace(describe=lambda label: None))
    reader = Watched(DIALECTS["images"], ui, "gpt-image-1", 1, land.preview)
    chunks = [stream[i : i + 8192] for i in range(0, len(stream), 8192)]
    reply = read_sse(chunks, reader, land.open, [False], event_gap=60, redact=str)
    (preview,), (image,) = reply.partials, reply.images
    assert preview.kind == image.kind == "blob"  # both spilled, both written as they came
    final = image.value.path
    assert land.assign([final]) == ([(final, 1)], [])
    assert land._sinks[final].index == 1
    land.land(final, 1)
    land.close()
    assert read_provenance(tmp_path / "a.png") == {"index": 1}
    assert imagefile_pixels(tmp_path / "a.png") == (210, 200)


def test_an_image_kept_in_the_temp_folder_has_an_unguessable_name_and_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output disk fills (the image moves to $TMPDIR), then the final write fails too:
    the image kept in the shared temp folder is not `a.unsaved-1.png` (a name another user
    could lay a link at) and only its owner can read it."""
    from imggen.errors import DiskFull
    from imggen.files import incoming

    out, temp = tmp_path / "out", tmp_path / "temp"
    out.mkdir()
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(out)) and os.fstat(fd).st_size:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(incoming.os, "write", write)
    land = landing(Target(out / "a.png"))
    path = receive(land, make_png(300, 300, noise=True), piece=65536)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFull) as info:
        land.land(path, 1)
    land.discard(path)
    land.close()
    kept = [p for p in temp.iterdir() if ".unsaved-" in p.name]
    assert len(kept) == 1, list(temp.iterdir())
    assert kept[0].name != "a.unsaved-1.png" and len(kept[0].name) > len("a.unsaved-1.png") + 8
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert str(kept[0]) in info.value.message
