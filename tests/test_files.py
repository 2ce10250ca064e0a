"""output: slug(), plan() for every -o form, check_targets(), save() and provenance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imggen.errors import ExitCode, FileExists, GatewayFailed, UsageError
from imggen.files.provenance import bare_url, read_provenance
from imggen.files.save import Landing, save
from imggen.files.scratch import Scratch
from imggen.files.targets import Target, plan, slug
from imggen.files.targets import check as check_targets
from imggen.job import ImageInput
from imggen.testing import make_jpeg_header, make_png


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a red fox", "a-red-fox"),
        ("Sunset over the Sea!", "sunset-over-the-sea"),
        ("  spaces   and\ttabs\n", "spaces-and-tabs"),
        ("snake_case stays", "snake_case-stays"),
        ("日落 海边", "日落-海边"),
        ("!!!", "image"),
        ("", "image"),
        ("word " * 20, "-".join(["word"] * 9)),  # 9 words = 44 chars; a 10th passes 48
        ("x" * 60, "image"),  # one word longer than the limit
    ],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_slug_limit_is_a_parameter() -> None:
    assert slug("one two three", limit=7) == "one-two"


def _plan(output_: str | None, count: int = 1, fmt: str | None = None, *, cwd: Path) -> list:
    return plan(output_, count, prompt="A red fox", model="turing/gpt-image-2", fmt=fmt, cwd=cwd)


@pytest.mark.parametrize(
    ("out", "count", "fmt", "expected"),
    [
        # None: generated names from the prompt in the current folder
        (None, 1, None, [("a-red-fox.png", False, True)]),
        (None, 2, "jpeg", [("a-red-fox-1.jpg", False, True), ("a-red-fox-2.jpg", False, True)]),
        # a folder (trailing slash, or one that exists)
        ("pics/", 1, None, [("pics/a-red-fox.png", False, True)]),
        ("existing", 1, "webp", [("existing/a-red-fox.webp", False, True)]),
        # a file with a known extension: exact
        ("out.png", 1, None, [("out.png", True, False)]),
        ("out.JPG", 1, None, [("out.JPG", True, False)]),
        (
            "out.png",
            3,
            None,
            [("out-1.png", True, False), ("out-2.png", True, False), ("out-3.png", True, False)],
        ),
        # no (known) extension: the format's is added, not exact
        ("out", 1, None, [("out.png", False, False)]),
        ("out", 1, "jpeg", [("out.jpg", False, False)]),
        ("v1.2", 1, None, [("v1.2.png", False, False)]),
        ("out", 2, None, [("out-1.png", False, False), ("out-2.png", False, False)]),
        # templates
        (
            "{slug}-{i}of{n}.png",
            2,
            None,
            [("a-red-fox-1of2.png", True, False), ("a-red-fox-2of2.png", True, False)],
        ),
        ("{model}", 1, None, [("turing-gpt-image-2.png", False, False)]),
        # a template without {i} still gives -1, -2 for several images
        (
            "{slug}.png",
            2,
            None,
            [("a-red-fox-1.png", True, False), ("a-red-fox-2.png", True, False)],
        ),
    ],
)
def test_plan(tmp_path: Path, out: str | None, count: int, fmt: str | None, expected: list) -> None:
    (tmp_path / "existing").mkdir()
    targets = _plan(out, count, fmt, cwd=tmp_path)
    got = [(str(t.path.relative_to(tmp_path)), t.exact, t.unique) for t in targets]
    assert got == expected


def test_plan_stdout_is_one_target_without_a_path(tmp_path: Path) -> None:
    assert _plan("-", cwd=tmp_path) == [Target(None)]


def test_plan_stdout_refuses_more_than_one_image(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        _plan("-", 2, cwd=tmp_path)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.message == "-o - writes one image to stdout; use -n 1 or a file name"


def test_plan_template_with_date_field(tmp_path: Path) -> None:
    (target,) = _plan("{date}.png", cwd=tmp_path)
    assert target.path is not None
    assert len(target.path.stem) == 8 and target.path.stem.isdigit()


def test_plan_bad_template_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        _plan("{nope}.png", cwd=tmp_path)
    assert info.value.message == "bad -o template '{nope}.png': no field {nope}"
    assert info.value.hint == "fields: {i} {n} {slug} {model} {date} {time}"


# -- check_targets -------------------------------------------------------------------------


def test_check_targets_refuses_an_existing_exact_file(tmp_path: Path) -> None:
    (tmp_path / "out.png").write_bytes(b"old")
    with pytest.raises(FileExists) as info:
        check_targets([Target(tmp_path / "out.png", exact=True)], force=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.message == (
        f"{tmp_path / 'out.png'} exists; imggen never overwrites without --force"
    )


@pytest.mark.parametrize(
    ("targets", "force"),
    [
        ([Target(Path("out.png"), exact=True)], True),  # --force
        ([Target(Path("out.png"), unique=True)], False),  # generated names pick a free one
        ([Target(None)], False),  # stdout
        ([Target(Path("new.png"), exact=True)], False),  # nothing there yet
    ],
)
def test_check_targets_passes(tmp_path: Path, targets: list[Target], force: bool) -> None:
    (tmp_path / "out.png").write_bytes(b"old")
    check_targets(
        [Target(tmp_path / t.path, t.exact, t.unique) if t.path else t for t in targets],
        force=force,
    )
    assert (tmp_path / "out.png").read_bytes() == b"old"


def test_check_targets_creates_missing_folders(tmp_path: Path) -> None:
    check_targets([Target(tmp_path / "a" / "b" / "out.png")], force=False)
    assert (tmp_path / "a" / "b").is_dir()


def test_check_targets_refuses_a_folder_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as info:
        check_targets([Target(tmp_path / "file" / "out.png")], force=False)
    assert info.value.message == (
        f"cannot save into {tmp_path / 'file'}: it is a file, not a folder"
    )


# -- what the filesystem would refuse after the request, refused before it ----------------------


def test_a_folder_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "file.png").write_text("x")
    with pytest.raises(UsageError) as info:
        check_targets([Target(tmp_path / "file.png" / "a" / "out.png")], force=False)
    assert info.value.message == (
        f"cannot save into {tmp_path / 'file.png' / 'a'}: {tmp_path / 'file.png'} is a file, "
        "not a folder"
    )


@pytest.mark.parametrize("folder", ["/proc", "/proc/self"])
def test_a_folder_that_takes_no_file_is_refused(folder: str) -> None:
    """access() says yes there as root; creating a file says no."""
    with pytest.raises(UsageError) as info:
        check_targets([Target(Path(folder) / "x.png", exact=True)], force=False)
    assert info.value.message == f"cannot write to folder {folder}: No such file or directory"


def test_the_writability_probe_leaves_nothing(tmp_path: Path) -> None:
    check_targets([Target(tmp_path / "x.png", exact=True)], force=False)
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_symlink_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "out.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(FileExists) as info:
        check_targets([Target(tmp_path / "out.png", exact=True)], force=False)
    assert info.value.message == (
        f"{tmp_path / 'out.png'} is a symlink to {tmp_path / 'gone.png'}, which does not exist"
    )
    assert (
        info.value.hint == "remove the link, or pass --force (it replaces the link, not its target)"
    )


def test_a_sibling_of_another_type_is_in_the_way_of_a_name_without_extension(
    tmp_path: Path,
) -> None:
    """`-o hero` becomes hero.jpg if a JPEG comes back: an existing hero.jpg is refused before
    the request, not after it."""
    (tmp_path / "hero.jpg").write_bytes(b"mine")
    (target,) = _plan("hero", cwd=tmp_path)
    with pytest.raises(FileExists) as info:
        check_targets([target], force=False)
    assert info.value.message == (
        f"{tmp_path / 'hero.jpg'} exists (the image takes the extension of its real type)"
    )
    assert info.value.hint == "pass --force, or name the file with its extension (-o hero.png)"


@pytest.mark.parametrize(
    ("out", "longest"),
    [("a" * 246 + ".png", 255), ("b" * 246, 256), ("c" * 247 + ".jpg", 256)],
)
def test_names_too_long_for_the_image_or_its_sidecar_are_refused(
    tmp_path: Path, out: str, longest: int
) -> None:
    """247 + ".jpg" fits, but its sidecar (".jpg.json") does not: refused before paying."""
    if longest <= 255:
        _plan(out, cwd=tmp_path)
        return
    with pytest.raises(UsageError) as info:
        _plan(out, cwd=tmp_path)
    assert info.value.message.startswith(f"the file name {(out if '.' in out else out + '.png')!r}")
    assert info.value.message.endswith(
        f"it would be {longest} bytes, and this filesystem takes at most 255"
    )


def test_a_nul_byte_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="NUL byte"):
        _plan("a\0b.png", cwd=tmp_path)


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (target,) = _plan("~/pics/x.png", cwd=tmp_path / "work")
    assert target.path == tmp_path / "home" / "pics" / "x.png"


@pytest.mark.parametrize("model", ["..", "../../etc/x", ".hidden", "a/../../b", "/abs"])
def test_a_template_field_cannot_leave_its_folder(tmp_path: Path, model: str) -> None:
    (target,) = plan("out/{model}.png", 1, prompt="p", model=model, fmt=None, cwd=tmp_path)
    assert target.path is not None
    assert target.path.parent == tmp_path / "out"
    assert not target.path.name.startswith(".")


@pytest.mark.parametrize("template", ["{slug!r}.png", "{slug.__class__}.png", "{0}.png"])
def test_template_fields_are_names_only(tmp_path: Path, template: str) -> None:
    with pytest.raises(UsageError, match="bad -o template"):
        plan(template, 1, prompt="p", model="m", fmt=None, cwd=tmp_path)


def test_a_template_with_a_format_spec_numbers_once(tmp_path: Path) -> None:
    targets = plan("x-{i:03d}.png", 2, prompt="p", model="m", fmt=None, cwd=tmp_path)
    assert [t.path.name for t in targets if t.path] == ["x-001.png", "x-002.png"]


def test_check_targets_second_of_three_exists(tmp_path: Path) -> None:
    targets = _plan("out.png", 3, cwd=tmp_path)
    (tmp_path / "out-2.png").write_bytes(b"old")
    with pytest.raises(FileExists) as info:
        check_targets(targets, force=False)
    assert str(tmp_path / "out-2.png") in info.value.message


# -- save ------------------------------------------------------------------------------------


def _scratch_file(tmp_path: Path, data: bytes) -> tuple[Scratch, Path]:
    scratch = Scratch()
    path, out = scratch.new(tmp_path)
    with out:
        out.write(data)
    return scratch, path


def test_save_png_places_file_with_provenance_and_leaves_no_temp(tmp_path: Path) -> None:
    scratch, src = _scratch_file(tmp_path, make_png(4, 3))
    saved = save(
        src,
        Target(tmp_path / "fox.png", exact=True),
        provenance={"prompt": "a fox", "model": "m"},
        force=False,
        scratch=scratch,
    )
    src.unlink()
    scratch.cleanup()
    assert (saved.path, saved.mime, saved.pixels) == (
        str(tmp_path / "fox.png"),
        "image/png",
        (4, 3),
    )
    assert read_provenance(tmp_path / "fox.png") == {"prompt": "a fox", "model": "m"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fox.png"]


def test_save_jpeg_gets_real_extension_and_sidecar(tmp_path: Path) -> None:
    scratch, src = _scratch_file(tmp_path, make_jpeg_header(4, 3))
    saved = save(
        src, Target(tmp_path / "fox.png"), provenance={"prompt": "p"}, force=False, scratch=scratch
    )
    src.unlink()
    scratch.cleanup()
    assert saved.path == str(tmp_path / "fox.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fox.jpg", "fox.jpg.json"]
    assert read_provenance(tmp_path / "fox.jpg") == {"prompt": "p"}


def test_save_exact_name_with_wrong_type_warns_and_keeps_name(tmp_path: Path) -> None:
    scratch, src = _scratch_file(tmp_path, make_jpeg_header(4, 3))
    warnings: list[str] = []
    saved = save(
        src,
        Target(tmp_path / "fox.png", exact=True),
        provenance={},
        force=False,
        scratch=scratch,
        warn=warnings.append,
    )
    assert saved.path == str(tmp_path / "fox.png")
    assert warnings == [
        f"{tmp_path / 'fox.png'} holds image/jpeg data, not what its extension says"
    ]


def test_save_unique_target_never_clobbers(tmp_path: Path) -> None:
    (tmp_path / "fox.png").write_bytes(b"old")
    scratch, src = _scratch_file(tmp_path, make_png(2, 2))
    saved = save(
        src, Target(tmp_path / "fox.png", unique=True), provenance={}, force=False, scratch=scratch
    )
    assert saved.path == str(tmp_path / "fox-2.png")
    assert (tmp_path / "fox.png").read_bytes() == b"old"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"<html><body>502</body></html>",
            "the gateway sent an HTML page where an image should be",
        ),
        (b'{"error": "x"}', "the gateway sent JSON where an image should be"),
        (b"", "the gateway sent nothing (0 bytes) where an image should be"),
        (make_png(4, 4)[:-20], "the gateway sent a truncated image"),
    ],
)
def test_save_refuses_what_is_not_a_whole_image(tmp_path: Path, data: bytes, message: str) -> None:
    scratch, src = _scratch_file(tmp_path, data)
    with pytest.raises(GatewayFailed) as info:
        save(src, Target(tmp_path / "x.png"), provenance={}, force=False, scratch=scratch)
    scratch.cleanup()
    assert info.value.message == message
    assert not (tmp_path / "x.png").exists()
    assert list(tmp_path.iterdir()) == []


def test_saved_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        scratch, src = _scratch_file(tmp_path, make_png(2, 2))
        save(src, Target(tmp_path / "a.png"), provenance={}, force=False, scratch=scratch)
    finally:
        os.umask(old)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644


def test_decode_base64_is_strict(tmp_path: Path) -> None:
    with pytest.raises(GatewayFailed) as info:
        landing = Landing([Target(tmp_path / "a.png")], record=lambda i: {}, scratch=Scratch())
        landing.decode_base64("iVBORw0KGgo!!!not-base64***")
    assert info.value.message == "the gateway sent invalid base64 image data"


def test_sidecar_of_another_image_is_never_rewritten(tmp_path: Path) -> None:
    """-o out (no extension) expects out.png; the gateway sends a JPEG and out.jpg exists:
    the refusal must leave out.jpg's own sidecar alone."""
    from imggen.testing import make_jpeg_header

    (tmp_path / "out.jpg").write_bytes(b"old image")
    (tmp_path / "out.jpg.json").write_text('{"request": "old"}\n')
    src = tmp_path / "new.part"
    src.write_bytes(make_jpeg_header(8, 8))
    target = plan("out", 1, prompt="p", model="m", fmt=None, cwd=tmp_path)[0]
    with pytest.raises(FileExists):
        save(src, target, provenance={"request": "new"}, force=False, scratch=Scratch())
    assert (tmp_path / "out.jpg.json").read_text() == '{"request": "old"}\n'


def test_png_with_chunks_out_of_order_is_the_gateways_fault(tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    broken = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"tEXt", b"k\x00v")
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + chunk(b"IEND", b"")
    )
    src = tmp_path / "in.part"
    src.write_bytes(broken)
    target = Target(tmp_path / "out.png", exact=True)
    with pytest.raises(GatewayFailed, match="malformed PNG"):
        save(src, target, provenance={}, force=False, scratch=Scratch())
    assert not (tmp_path / "out.png").exists()


def test_template_with_an_attribute_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="bad -o template"):
        plan("{slug.x}.png", 1, prompt="p", model="m", fmt=None, cwd=tmp_path)


@pytest.mark.parametrize(("name", "png"), [("hero.png", False), ("hero.jpg", True)])
def test_provenance_is_read_where_the_bytes_put_it(tmp_path: Path, name: str, png: bool) -> None:
    """An exact name whose real type differs keeps its record (batch re-runs rely on it)."""
    from imggen.testing import make_png, make_webp_header

    src = tmp_path / "in.part"
    src.write_bytes(make_png(4, 4) if png else make_webp_header(4, 4))
    target = Target(tmp_path / name, exact=True)
    save(src, target, provenance={"request": "r1"}, force=False, scratch=Scratch())
    assert read_provenance(tmp_path / name) == {"request": "r1"}


# -- bounded reading of the user's files --------------------------------------------------------


def test_bounded_read_refuses_devices_fifos_and_folders(tmp_path: Path) -> None:
    from imggen.files import bounded

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a plain open() would wait for ever
    for path, kind in [("/dev/zero", "a device"), (fifo, "a pipe (FIFO)"), (tmp_path, "a folder")]:
        with pytest.raises(bounded.NotRegular) as info:
            bounded.read(path, 1024)
        assert info.value.kind == kind


def test_bounded_read_checks_the_size_before_reading(tmp_path: Path) -> None:
    from imggen.files import bounded

    sparse = tmp_path / "huge.png"
    with sparse.open("wb") as f:
        f.truncate(10 * 1024**3)  # 10 GiB that take no disk: reading it would take minutes
    with pytest.raises(bounded.TooLarge) as info:
        bounded.read(sparse, 1024)
    assert info.value.size == 10 * 1024**3
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1024)
    assert bounded.read(small, 1024) == b"x" * 1024


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (
            "https://bucket.s3.amazonaws.com/a/ref.png?X-Amz-Signature=abc&X-Amz-Credential=k",
            "https://bucket.s3.amazonaws.com/a/ref.png",
        ),
        ("https://u:pw@cdn.example:8443/r.png#frag", "https://cdn.example:8443/r.png"),
        ("https://cdn.example/r.png?token=s3cr3t", "https://cdn.example/r.png"),
        (None, None),
    ],
)
def test_provenance_keeps_reference_urls_bare(url: str | None, kept: str | None) -> None:
    assert bare_url(url) == kept


def test_a_reference_name_drops_the_query_string() -> None:
    ref = ImageInput("x", url="https://cdn.example/ref.png?token=s3cr3t")
    assert ref.name == "ref.png"
